//! The thin program: parse arguments (and the settings that come from the
//! environment, once), call the library, print, and map the outcome to an exit
//! code in one place (`run`). Errors are printed here only.

pub mod args;
mod commands;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::aws::AwsOptions;
use crate::error::{Error, Result};
use crate::ops::Settings;
use args::{Cli, ColorChoice, Command};

/// What a successful command tells `run` about the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 2 (changes present, with --detailed-exitcode).
    Changes,
    /// Exit with this code (`run --wait` passes the container's exit code on).
    Code(i32),
    /// Stopped by this signal: exit 128 + its number.
    Interrupted(i32),
}

/// Everything a command needs besides its own flags.
pub struct Globals {
    pub settings: Settings,
    pub quiet: bool,
    pub verbose: u8,
    pub plan_key: Option<Vec<u8>>,
    pub sensitive_patterns: Vec<String>,
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

impl Globals {
    /// A line of progress or information on stderr, unless --quiet.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
}

/// Runs ecsched with these arguments; returns the process exit code.
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let args = args::normalize_go_flags(args.into_iter().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = e.print();
            return code;
        }
    };
    let no_color = match &cli.command {
        Command::Diff(a) => a.compat.no_color,
        Command::Apply(a) => a.compat.no_color,
        _ => false,
    };
    crate::output::setup_color(match cli.color {
        _ if no_color => Some(false),
        ColorChoice::Always => Some(true),
        ColorChoice::Never => Some(false),
        ColorChoice::Auto => None,
    });
    let verbose = cli.verbose;
    match runtime().and_then(|rt| rt.block_on(main(cli))) {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::Changes) => 2,
        Ok(Outcome::Code(c)) => c,
        Ok(Outcome::Interrupted(signal)) => 128 + signal,
        Err(e) if e.is_broken_pipe() => 0,
        Err(e) => {
            let style = console::Style::new().red().bold().for_stderr();
            eprintln!("{} {e}", style.apply_to("error:"));
            if verbose > 0 {
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    eprintln!("  caused by: {s}");
                    source = s.source();
                }
            }
            e.exit_code()
        }
    }
}

/// One runtime for every command (reading S3/SSM for templates needs its
/// multi-thread flavour).
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}

async fn main(cli: Cli) -> Result<Outcome> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading the working directory", e))?;
    let g = globals(&cli, cwd)?;
    commands::dispatch(&g, cli.command).await
}

fn globals(cli: &Cli, cwd: PathBuf) -> Result<Globals> {
    use crate::config::jsonnet::{ExtVar, ExtVarKind};
    let s = &cli.settings;
    let env = |k: &str| std::env::var(k).ok();
    let ext_vars = cli
        .ext_str
        .iter()
        .map(|a| (ExtVarKind::Str, a))
        .chain(cli.ext_code.iter().map(|a| (ExtVarKind::Code, a)))
        .map(|(kind, a)| ExtVar::parse(kind, a, &env))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Usage(e.to_string()))?;
    Ok(Globals {
        settings: Settings {
            conf: cli.conf.clone(),
            cwd,
            aws: AwsOptions {
                region: cli.region.clone(),
                concurrency: s.concurrency,
                rate_limit: s.rate_limit,
                max_attempts: s.max_attempts,
                test_account: s.test_account_id.clone().filter(|a| !a.is_empty()),
                endpoint: None,
            },
            ext_vars,
            lock: s.lock.clone().filter(|l| !l.is_empty()),
            lock_timeout: s.lock_timeout,
        },
        quiet: cli.quiet,
        verbose: cli.verbose,
        plan_key: crate::plan::file::key_from_value(s.plan_key.clone()),
        sensitive_patterns: s.sensitive_patterns.clone(),
        now: s.now,
    })
}
