//! Go compatibility: the few pieces of Go's behaviour that ecschedule's templates
//! (text/template, go-config, tfstate-lookup) expose and that ecsched must reproduce
//! byte for byte: how a value is printed into a template (`encoding/json` numbers and
//! escapes), `json_escape`, `fmt.Sprintf` for tfstate addresses, and which arguments a
//! function with a `string` parameter accepts. Pure functions, no I/O; used by the
//! template engine and the plugins.

use std::fmt::Write as _;

use serde_json::Value;

/// The text a template function inserts for a value, as tfstate-lookup's
/// `Object.String()`: strings raw; numbers, booleans, lists and maps
/// JSON-encoded the way Go's `encoding/json` does (map keys sorted,
/// `<`, `>`, `&` escaped).
#[must_use]
pub fn to_template_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            write_go_json(other, &mut out);
            out
        }
    }
}

/// JSON-escapes a string like Go's `json.Marshal` and drops the surrounding
/// quotes (go-config's `json_escape`).
pub fn go_json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A string as Go's `json.Marshal` writes it: [`go_json_escape`] in double quotes. This is
/// also a JSON string literal that handlebars reads back as exactly `s` (handlebars parses
/// literal parameters with serde_json), so the template translator uses it to pass string
/// literals through; go-config's `json_escape` is the same text without the quotes.
pub fn go_json_string(s: &str) -> String {
    format!("\"{}\"", go_json_escape(s))
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => out.push_str(&go_json_string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(&go_json_escape(k));
                out.push_str("\":");
                if let Some(item) = map.get(k) {
                    write_go_json(item, out);
                }
            }
            out.push('}');
        }
    }
}

/// Go decodes JSON numbers into float64 and encodes them back in `'f'`
/// format between 1e-6 and 1e21, `'e'` format otherwise.
pub fn go_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        format!("{f}")
    } else {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    }
}

/// Go's `fmt.Sprintf` for the verbs addresses use: `%s`, `%v`, `%d`, `%q`
/// and `%%` (flags and widths are accepted and ignored). A missing or extra
/// argument is an error rather than Go's `%!s(MISSING)` text.
pub fn go_sprintf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Skip flags, width and precision.
        while chars
            .peek()
            .is_some_and(|c| matches!(c, '+' | '-' | '#' | ' ' | '0'..='9' | '.'))
        {
            chars.next();
        }
        let Some(verb) = chars.next() else {
            return Err(format!("format \"{format}\" ends with a lone %"));
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            return Err(format!(
                "format \"{format}\" needs more than the {} argument(s) given",
                args.len()
            ));
        };
        next += 1;
        match verb {
            's' | 'v' => out.push_str(&to_template_string(arg)),
            'd' => match arg {
                Value::Number(n) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
                Value::String(s) if s.trim().parse::<i64>().is_ok() => out.push_str(s.trim()),
                other => {
                    return Err(format!(
                        "%d needs an integer, got {}",
                        to_template_string(other)
                    ));
                }
            },
            'q' => out.push_str(&go_json_string(&to_template_string(arg))),
            other => return Err(format!("unsupported verb %{other} in format \"{format}\"")),
        }
    }
    if next < args.len() {
        return Err(format!(
            "format \"{format}\" uses {next} argument(s) but {} were given",
            args.len()
        ));
    }
    Ok(out)
}

/// The argument conversion of every template function whose Go parameter is a `string`
/// (`must_env`, `env`, `tfstate`, `tfstatef`'s format, `ssm`'s name): Go's text/template
/// passes only a string there and stops with "expected string; found true" for a number
/// or boolean literal (or a function result of another type), so ecsched refuses them too
/// instead of quietly using their text. `position` is 1-based.
///
/// # Errors
/// The argument is not a string.
pub fn string_arg(func: &str, position: usize, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "{func}: argument {position} must be a quoted string, got {} (Go templates do not convert it)",
            to_template_string(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn to_template_string_matches_go() {
        assert_eq!(to_template_string(&json!("a<b")), "a<b");
        assert_eq!(to_template_string(&json!(30)), "30");
        assert_eq!(to_template_string(&json!(1.5)), "1.5");
        assert_eq!(to_template_string(&json!(1e21)), "1e+21");
        assert_eq!(to_template_string(&json!(true)), "true");
        assert_eq!(to_template_string(&json!(null)), "null");
        assert_eq!(
            to_template_string(&json!({"b": 1, "a": ["x<y", "q\"\n"]})),
            r#"{"a":["x\u003cy","q\"\n"],"b":1}"#
        );
        assert_eq!(go_json_escape("a&b\u{1}"), "a\\u0026b\\u0001");
    }

    #[test]
    fn sprintf_like_go() {
        assert_eq!(
            go_sprintf("aws_subnet.ecs['%s'].id", &[json!("web")]),
            Ok("aws_subnet.ecs['web'].id".to_owned())
        );
        assert_eq!(
            go_sprintf("a[%d].b %v %%", &[json!(2), json!(true)]),
            Ok("a[2].b true %".to_owned())
        );
        assert_eq!(
            go_sprintf("a[%q]", &[json!("k")]),
            Ok("a[\"k\"]".to_owned())
        );
        assert!(go_sprintf("%s %s", &[json!("x")]).is_err());
        assert!(go_sprintf("%s", &[json!("x"), json!("y")]).is_err());
        assert!(go_sprintf("%d", &[json!("x")]).is_err());
    }

    #[test]
    fn go_json_string_is_a_literal_that_reads_back_unchanged() {
        for s in [
            "plain",
            "a\"b\\c",
            "<&>",
            "tab\tnl\n\u{1}\u{8}\u{c}",
            "\u{2028}é",
            "}}{{",
        ] {
            let quoted = go_json_string(s);
            assert_eq!(
                serde_json::from_str::<String>(&quoted).ok().as_deref(),
                Some(s),
                "{quoted}"
            );
        }
        assert_eq!(go_json_string("a<b\n"), "\"a\\u003cb\\n\"");
    }

    #[test]
    fn string_parameters_take_strings_only_as_in_go() {
        assert_eq!(string_arg("must_env", 1, &json!("X")), Ok("X".to_owned()));
        // Go: `{{ must_env true }}` and `{{ tfstate 1 }}` fail with "expected string".
        assert_eq!(
            string_arg("must_env", 1, &json!(true)),
            Err("must_env: argument 1 must be a quoted string, got true (Go templates do not convert it)".to_owned())
        );
        assert!(string_arg("tfstate", 1, &json!(false)).is_err());
        assert!(string_arg("tfstate", 1, &json!(1)).is_err());
        assert!(string_arg("ssm", 1, &json!(null)).is_err());
    }
}
