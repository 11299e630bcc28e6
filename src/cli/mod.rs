//! The thin program: parse arguments, call the library, print, and map the
//! outcome to an exit code in one place (`run`). Errors are printed here only.

pub mod args;
mod offline;
mod remote;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use crate::config::{self, LoadedConfig};
use crate::error::{Error, Result};
use args::{Cli, Command};

/// What a successful command tells `run` about the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 2 (changes present, with --detailed-exitcode).
    Changes,
    /// Exit with this code (e.g. `run --wait` passes the container's exit code on).
    Code(i32),
}

/// Global state every command gets.
pub struct Globals {
    pub conf: Option<PathBuf>,
    pub region: Option<String>,
    pub quiet: bool,
    pub verbose: u8,
    pub cwd: PathBuf,
}

impl Globals {
    /// Loads and validates the config (offline: no AWS source for plugins).
    pub fn load_config_offline(&self) -> Result<LoadedConfig> {
        let path = config::find_config(self.conf.as_deref(), &self.cwd)?;
        let env = |k: &str| std::env::var(k).ok();
        Ok(config::load(&config::LoadRequest {
            path: &path,
            cwd: &self.cwd,
            env: &env,
            remote: None,
            ext_vars: &[],
        })?)
    }

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
    let color = match &cli.command {
        Command::Diff { compat, .. } | Command::Apply { compat, .. } if compat.no_color => {
            args::ColorChoice::Never
        }
        _ => cli.color,
    };
    crate::output::setup_color(color);
    let globals = match std::env::current_dir() {
        Ok(cwd) => Globals {
            conf: cli.conf.clone(),
            region: cli.region.clone(),
            quiet: cli.quiet,
            verbose: cli.verbose,
            cwd,
        },
        Err(e) => {
            eprintln!("error: cannot read the working directory: {e}");
            return 1;
        }
    };
    match dispatch(&globals, cli.command) {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::Changes) => 2,
        Ok(Outcome::Code(c)) => c,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            let style = console::Style::new().red().bold().for_stderr();
            eprintln!("{} {e}", style.apply_to("error:"));
            e.exit_code()
        }
    }
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes data to stdout (the product); a closed pipe is not an error worth noise.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to stdout", e))
}

fn dispatch(g: &Globals, command: Command) -> Result<Outcome> {
    match command {
        Command::Validate { next } => offline::validate(g, next),
        Command::Render { json } => offline::render(g, json),
        Command::Schema { plan } => offline::schema(plan),
        Command::Completion { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "ecsched", &mut buf);
            print_stdout(&String::from_utf8_lossy(&buf))?;
            Ok(Outcome::Done)
        }
        Command::Dump { cluster, role } => remote::dump(g, cluster.as_deref(), role.as_deref()),
        Command::Diff {
            selection,
            prune,
            unified,
            detailed_exitcode,
            ..
        } => remote::diff(g, &selection, prune, unified, detailed_exitcode),
        Command::Plan {
            selection,
            prune,
            out,
            detailed_exitcode,
            json,
            show_sensitive,
        } => remote::plan(
            g,
            &selection,
            prune,
            out.as_deref(),
            detailed_exitcode,
            json,
            show_sensitive,
        ),
        Command::Apply {
            plan_file: Some(path),
            selection,
            prune,
            ..
        } => {
            if selection.all
                || !selection.rules.is_empty()
                || !selection.schedules.is_empty()
                || prune
            {
                return Err(Error::Usage(
                    "apply PLANFILE takes no selection: the plan file fixes what is applied"
                        .to_string(),
                ));
            }
            remote::apply_file(g, &path)
        }
        Command::Apply {
            plan_file: None,
            selection,
            prune,
            dry_run,
            auto_approve,
            unified,
            ..
        } => remote::apply_direct(g, &selection, prune, dry_run, auto_approve, unified),
        Command::Show {
            plan_file,
            json,
            show_sensitive,
        } => remote::show(&plan_file, json, show_sensitive),
        Command::Run {
            rule,
            schedule,
            wait,
            timeout,
            dry_run,
        } => remote::run(
            g,
            rule.as_deref(),
            schedule.as_deref(),
            wait,
            &timeout,
            dry_run,
        ),
        Command::Delete {
            rule,
            schedule,
            auto_approve,
            force,
        } => remote::delete(g, rule.as_deref(), schedule.as_deref(), auto_approve, force),
    }
}
