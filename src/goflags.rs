//! ecschedule's command lines are parsed by Go's `flag` package: long flags
//! with one dash or two (`-conf x`, `--all`), `-name=value`, booleans as
//! `-all=true`, and the argument after a flag that takes a value is always its
//! value. This turns such arguments into the spellings clap accepts, given the
//! flag names; it knows no flag itself and does no I/O.

use std::ffi::OsString;

/// Go's `strconv.ParseBool`, which `flag` uses for `-all=true`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Rewrites Go `flag` spellings of the long flags `longs` (name, whether it
/// takes a value) into clap's: `-conf x` and `--conf x` become `--conf=x` (the
/// next argument is the value even when it starts with `-`, as in Go), `-all`
/// becomes `--all`, `-all=true` `--all`, `-all=false` nothing (any other value
/// is left for clap to refuse). Single-letter flags with one dash (`-u`, `-c`),
/// unknown names and everything after `--` pass through.
pub fn normalize(args: Vec<OsString>, longs: &[(String, bool)]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    out.extend(args.next());
    while let Some(arg) = args.next() {
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        let body = match s.strip_prefix("--") {
            Some(b) => b,
            None => match s.strip_prefix('-') {
                // `-u` and other single letters are clap's short flags.
                Some(b) if b.len() > 1 => b,
                _ => "",
            },
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(_, takes_value)) = longs.iter().find(|(l, _)| !name.is_empty() && l == name)
        else {
            out.push(arg);
            continue;
        };
        let flag = format!("--{name}");
        match (takes_value, value) {
            (true, Some(v)) => out.push(format!("{flag}={v}").into()),
            (true, None) => match args.next() {
                Some(v) => {
                    let mut joined = OsString::from(format!("{flag}="));
                    joined.push(v);
                    out.push(joined);
                }
                None => out.push(flag.into()),
            },
            (false, None) => out.push(flag.into()),
            (false, Some(v)) => match go_bool(v) {
                Some(true) => out.push(flag.into()),
                Some(false) => {}
                // clap says the switch takes no value.
                None => out.push(format!("{flag}={v}").into()),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        let longs: Vec<(String, bool)> = [
            ("conf", true),
            ("ext-str", true),
            ("ext-code", true),
            ("rule", true),
            ("parallel", true),
            ("all", false),
            ("prune", false),
            ("dry-run", false),
            ("u", false),
            ("version", false),
            ("help", false),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
        normalize(args.iter().map(OsString::from).collect(), &longs)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn values_and_booleans() {
        // As in Go, the argument after a flag that takes a value is its value.
        assert_eq!(
            norm(&["e", "run", "--rule", "-x", "-dry-run"]),
            ["e", "run", "--rule=-x", "--dry-run"]
        );
        assert_eq!(
            norm(&["e", "diff", "-rule", "-all", "-parallel=4"]),
            ["e", "diff", "--rule=-all", "--parallel=4"]
        );
        assert_eq!(
            norm(&["e", "-conf", "diff", "diff", "-parallel", "0"]),
            ["e", "--conf=diff", "diff", "--parallel=0"]
        );
        assert_eq!(
            norm(&["e", "-ext-str", "KEY", "--ext-code=B=1", "render"]),
            ["e", "--ext-str=KEY", "--ext-code=B=1", "render"]
        );
        // Go booleans: -x=true, -x=false, and --u for -u.
        assert_eq!(
            norm(&[
                "e",
                "apply",
                "-all=true",
                "-prune=false",
                "-u=1",
                "--u",
                "-dry-run=T"
            ]),
            ["e", "apply", "--all", "--u", "--u", "--dry-run"]
        );
        assert_eq!(
            norm(&["e", "apply", "-all=yes"]),
            ["e", "apply", "--all=yes"]
        );
        // Short flags, unknown names and everything after -- pass through.
        assert_eq!(
            norm(&["e", "-c", "f", "-u", "-x", "--", "-all"]),
            ["e", "-c", "f", "-u", "-x", "--", "-all"]
        );
        assert_eq!(norm(&["e", "-conf"]), ["e", "--conf"]);
    }
}
