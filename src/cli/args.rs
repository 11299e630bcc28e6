//! The command line, as clap derive types, plus the rewrite that lets
//! ecschedule's Go-style single-dash long flags (`-conf`, `-all`, `-out`) through.
//! clap is used nowhere else.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::plan::PlanSelection;

#[derive(Debug, Parser)]
#[command(
    name = "ecsched",
    version,
    about = "Manage Amazon ECS scheduled tasks (EventBridge rules and Scheduler schedules) as code",
    after_help = "Exit codes: 0 success or no changes, 1 error, 2 changes present (--detailed-exitcode), \
                  3 saved plan refused, 130/143/129 interrupted (SIGINT/SIGTERM/SIGHUP)."
)]
pub struct Cli {
    /// Config file (default: ecsched.yaml, else ecschedule.yaml, in the working directory).
    #[arg(
        short,
        long,
        global = true,
        value_name = "FILE",
        env = "ECSCHED_CONFIG"
    )]
    pub conf: Option<PathBuf>,
    /// AWS region (default: the config's region, then the AWS environment/profile).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// When to use colours (NO_COLOR is honoured).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only data and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail on stderr (skipped resources and why; -vv: API call counts).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Jsonnet std.extVar as a string: KEY=VALUE, or KEY to read $KEY (repeatable).
    #[arg(long, global = true, value_name = "KEY[=VALUE]")]
    pub ext_str: Vec<String>,
    /// Jsonnet std.extVar as code: KEY=CODE, or KEY to read $KEY (repeatable).
    #[arg(long, global = true, value_name = "KEY[=CODE]")]
    pub ext_code: Vec<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings that usually come from the environment (each read here, once).
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// AWS API calls in flight at most.
    #[arg(long, global = true, value_name = "N", env = "ECSCHED_CONCURRENCY",
          default_value_t = crate::aws::DEFAULT_CONCURRENCY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub concurrency: usize,
    /// Cap on each API operation's request rate (requests/s; default: its published quota; 0: none).
    #[arg(
        long,
        global = true,
        value_name = "PER_SEC",
        env = "ECSCHED_RATE_LIMIT"
    )]
    pub rate_limit: Option<f64>,
    /// Attempts per AWS call, retries included.
    #[arg(long, global = true, value_name = "N", env = "AWS_MAX_ATTEMPTS",
          default_value_t = crate::aws::DEFAULT_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Key that signs and encrypts saved plans (plan -out) and is required to read them (prefer the variable).
    #[arg(
        long,
        global = true,
        value_name = "KEY",
        env = "ECSCHED_PLAN_KEY",
        hide_env_values = true
    )]
    pub plan_key: Option<std::ffi::OsString>,
    /// Comma-separated globs of environment names masked in output [default: *PASSWORD*,*SECRET*,*TOKEN*,*KEY*].
    #[arg(
        long,
        global = true,
        value_name = "GLOBS",
        env = "ECSCHED_SENSITIVE_PATTERNS",
        value_delimiter = ','
    )]
    pub sensitive_patterns: Vec<String>,
    /// "Now" for fire-time previews (RFC 3339; reproducible output).
    #[arg(long, global = true, value_name = "TIME", env = "ECSCHED_NOW", value_parser = parse_time)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Lock object s3://BUCKET/KEY taken by apply and delete (overrides the config's lock:).
    #[arg(long, global = true, value_name = "S3_URL", env = "ECSCHED_LOCK")]
    pub lock: Option<String>,
    /// How long to wait for a lock held by another run (e.g. 30s, 5m).
    #[arg(long, global = true, value_name = "DURATION", env = "ECSCHED_LOCK_TIMEOUT",
          default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Test only: the moto emulator account to act as.
    #[arg(long, global = true, hide = true, env = "ECSCHED_TEST_ACCOUNT_ID")]
    pub test_account_id: Option<String>,
}

/// `90s`, `30m`, `2h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let bad = || format!("\"{s}\" is not a duration such as 90s, 30m or 2h");
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs(secs))
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Which resources a command works on.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Every rule and schedule in the config.
    #[arg(long)]
    pub all: bool,
    /// A rule by name (repeatable).
    #[arg(long = "rule", value_name = "NAME")]
    pub rules: Vec<String>,
    /// A schedule by name (repeatable).
    #[arg(long = "schedule", value_name = "NAME")]
    pub schedules: Vec<String>,
    /// Delete (diff: show) managed resources the config no longer declares; needs --all.
    #[arg(long)]
    pub prune: bool,
}

impl Selection {
    /// As the planner's selection (checked there).
    pub fn plan_selection(&self) -> PlanSelection {
        PlanSelection {
            all: self.all,
            rules: self.rules.clone(),
            schedules: self.schedules.clone(),
            prune: self.prune,
        }
    }
}

/// One rule or schedule (`run`, `delete`).
#[derive(Debug, Clone, Args)]
pub struct OneTarget {
    /// The rule.
    #[arg(long, value_name = "NAME")]
    pub rule: Option<String>,
    /// The schedule ([GROUP/]NAME).
    #[arg(long, value_name = "NAME")]
    pub schedule: Option<String>,
}

/// The pull-request comment view (`--markdown`).
#[derive(Debug, Clone, Args)]
pub struct MarkdownArgs {
    /// Print a Markdown document for a pull-request comment.
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Size limit of the Markdown document, in characters (GitHub rejects comments over 65,536).
    #[arg(long, value_name = "N", requires = "markdown",
          default_value_t = crate::plan::markdown::DEFAULT_MAX_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub max_size: u64,
}

/// Flags ecschedule had that ecsched accepts for compatibility.
#[derive(Debug, Clone, Default, Args)]
pub struct CompatFlags {
    /// Same as --color never (ecschedule compatibility).
    #[arg(long)]
    pub no_color: bool,
    /// ecschedule's worker count; ignored: ecsched always works in parallel (see --concurrency).
    #[arg(long, value_name = "N", value_parser = parse_parallel)]
    pub parallel: Option<usize>,
}

/// ecschedule's check and message for `-parallel`.
fn parse_parallel(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("-parallel must be at least 1".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render and check the config (no AWS calls unless --remote); --next N prints fire times.
    Validate(ValidateArgs),
    /// Print the config after templates (reading tfstate in S3 and SSM if used), with defaults filled in.
    Render(RenderArgs),
    /// Print the JSON Schema of the config (or of `show --json` with --plan).
    Schema(SchemaArgs),
    /// Print YAML of every rule and schedule that targets a cluster.
    Dump(DumpArgs),
    /// Show the difference between the config and AWS.
    Diff(DiffArgs),
    /// Compute the change set; with -out, save it as a plan file.
    Plan(PlanArgs),
    /// Apply a saved plan file, or plan and apply in one step.
    Apply(ApplyArgs),
    /// Show a saved plan file.
    Show(ShowArgs),
    /// Tag an existing Scheduler group for this trackingId so its schedules become managed.
    ClaimGroup(ClaimGroupArgs),
    /// Run a rule's or schedule's task now, with the parameters the schedule uses.
    Run(RunArgs),
    /// Remove one managed rule or schedule.
    Delete(DeleteArgs),
    /// Break a lock left by a run that died (the id is in the "lock held" message).
    Unlock(UnlockArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print the next N fire times of every rule and schedule.
    #[arg(long, value_name = "N")]
    pub next: Option<usize>,
    /// Also make the templates' lookups in AWS (tfstate in S3, ssm) and check their values.
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
    /// Do not mask secret-looking environment values.
    #[arg(long)]
    pub show_sensitive: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of the plan JSON document.
    #[arg(long)]
    pub plan: bool,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// ECS cluster name or ARN (default: the config's cluster).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Top-level role to write (default: the config's role).
    #[arg(long)]
    pub role: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Unified diff on stdout.
    #[arg(short, long, alias = "u")]
    pub unified: bool,
    /// Exit 2 when there are changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Accepted for ecschedule compatibility; ignored: validation always runs.
    #[arg(long)]
    pub validate: bool,
    #[command(flatten)]
    pub compat: CompatFlags,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Write the plan file here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Print the plan as JSON (the `show --json` document).
    #[arg(long)]
    pub json: bool,
    /// Allow taking over resources managed for another trackingId (recorded in the plan).
    #[arg(long)]
    pub takeover: bool,
    /// Do not mask secret-looking environment values.
    #[arg(long)]
    pub show_sensitive: bool,
    #[command(flatten)]
    pub markdown: MarkdownArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan file written by `plan -out` (it fixes what is applied: no selection).
    #[arg(value_name = "PLANFILE", conflicts_with_all = ["all", "rules", "schedules", "prune"])]
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub selection: Selection,
    /// Show what would change (with a plan file: check it and show what it would apply); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation on a terminal.
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow taking over resources managed for another trackingId.
    #[arg(long)]
    pub takeover: bool,
    /// Unified diff format (ecschedule compatibility).
    #[arg(short, long, alias = "u")]
    pub unified: bool,
    #[command(flatten)]
    pub compat: CompatFlags,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan file.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: PathBuf,
    /// The versioned JSON document (schemas/plan.schema.json).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Do not mask secret-looking environment values.
    #[arg(long)]
    pub show_sensitive: bool,
    #[command(flatten)]
    pub markdown: MarkdownArgs,
}

#[derive(Debug, Args)]
pub struct ClaimGroupArgs {
    /// The schedule group (never `default`).
    #[arg(value_name = "GROUP")]
    pub group: String,
    /// Do not ask for confirmation on a terminal.
    #[arg(long)]
    pub auto_approve: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: OneTarget,
    /// Wait until the task stops; exit with the essential container's exit code.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this long (e.g. 30m, 90s).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Print what would be run; start nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: OneTarget,
    /// Do not ask for confirmation on a terminal.
    #[arg(long)]
    pub auto_approve: bool,
    /// Delete even if it is not managed for this trackingId.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The id of the lock to break.
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: String,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Every long flag name (aliases included) any command accepts, and whether it takes a value.
fn long_flags() -> Vec<(String, bool)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, bool)>) {
        for a in cmd.get_arguments() {
            let takes_value = a.get_action().takes_values();
            for name in a
                .get_long()
                .into_iter()
                .chain(a.get_all_aliases().unwrap_or_default())
            {
                out.push((name.to_string(), takes_value));
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out = vec![("help".to_string(), false), ("version".to_string(), false)];
    walk(&Cli::command(), &mut out);
    out
}

/// Lets Go `flag` spellings of our long flags through (see [`crate::goflags`]).
pub fn normalize_go_flags(args: Vec<OsString>) -> Vec<OsString> {
    crate::goflags::normalize(args, &long_flags())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_go_flags(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_style_flags_become_long_flags() {
        assert_eq!(
            norm(&["ecsched", "-conf", "x.yaml", "diff", "-all", "-u"]),
            ["ecsched", "--conf=x.yaml", "diff", "--all", "-u"]
        );
        assert_eq!(
            norm(&["ecsched", "plan", "-all", "-prune", "-out", "plan.bin"]),
            ["ecsched", "plan", "--all", "--prune", "--out=plan.bin"]
        );
        assert_eq!(
            norm(&["e", "apply", "-dry-run", "-rule=x"]),
            ["e", "apply", "--dry-run", "--rule=x"]
        );
        assert_eq!(
            norm(&["e", "-c", "f", "validate", "-q"]),
            ["e", "-c", "f", "validate", "-q"]
        );
        assert_eq!(norm(&["e", "-version"]), ["e", "--version"]);
        assert_eq!(norm(&["e", "-help"]), ["e", "--help"]);
    }

    #[test]
    fn every_long_flag_is_either_a_switch_or_takes_a_value() {
        let flags = long_flags();
        for (name, takes_value) in &flags {
            assert!(
                flags.iter().all(|(n, t)| n != name || t == takes_value),
                "--{name} takes a value in one command and not in another"
            );
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
