//! Terminal presentation shared by the commands: the colour decision (made
//! once), progress bars on stderr (only on a terminal), the confirmation
//! question, and the apply's progress (`ApplyBars`, which implements
//! `ops::ApplyEvents`). Only `output` and `cli` write to stdout or stderr.

use std::io::IsTerminal;

/// Decides once whether stdout/stderr get ANSI colours: `Some` forces the
/// choice; `None` (auto) colours a terminal unless `NO_COLOR` (any value) or
/// ecschedule's `ECSCHEDULE_COLOR=false|0` is set.
pub fn setup_color(forced: Option<bool>) {
    let no_color = std::env::var_os("NO_COLOR").is_some()
        || std::env::var("ECSCHEDULE_COLOR").is_ok_and(|v| v == "false" || v == "0");
    let (out, err) = match forced {
        Some(on) => (on, on),
        None if no_color => (false, false),
        None => (
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

fn style() -> Option<indicatif::ProgressStyle> {
    indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, ETA {eta}, {elapsed})",
    )
    .ok()
    .map(|s| s.progress_chars("=> "))
}

/// A bar that draws nothing.
pub fn hidden_bar() -> indicatif::ProgressBar {
    indicatif::ProgressBar::hidden()
}

/// A progress bar on stderr; hidden when stderr is not a terminal or with --quiet.
pub fn progress_bar(quiet: bool, message: &str) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return hidden_bar();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Some(style) = style() {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}

/// Turns a hidden bar into a visible one of `len` steps (on a terminal only).
pub fn show_bar(bar: &indicatif::ProgressBar, quiet: bool, message: &str, len: usize) {
    if quiet || !std::io::stderr().is_terminal() {
        return;
    }
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Some(style) = style() {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar.set_length(len as u64);
}

/// Progress callback body: `done` of `total`.
pub fn set_progress(bar: &indicatif::ProgressBar, done: usize, total: usize) {
    bar.set_length(total as u64);
    bar.set_position(done as u64);
}

/// Writes data to stdout (the product); a closed pipe is reported as
/// `ErrorKind::BrokenPipe`, which the CLI turns into a quiet exit.
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// True when a question can be asked: stdin and stderr on a terminal.
/// (`--quiet` hides information, it never answers a question.)
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question` on the terminal; only "yes" is a yes. Without a terminal
/// the answer is yes: ecschedule proceeds there, and CI runs the seed's
/// commands unchanged.
pub fn confirm(question: &str) -> std::io::Result<bool> {
    use std::io::{BufRead, Write};
    if !interactive() {
        return Ok(true);
    }
    eprint!("{question} Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// The two bars of an apply: checking live state, then applying (shown only
/// for more than three changes); lines printed through them do not tear.
pub struct ApplyBars {
    quiet: bool,
    read: indicatif::ProgressBar,
    apply: indicatif::ProgressBar,
}

impl ApplyBars {
    pub fn new(quiet: bool) -> ApplyBars {
        ApplyBars {
            quiet,
            read: progress_bar(quiet, "checking live state"),
            apply: hidden_bar(),
        }
    }

    fn line(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    pub fn finish(&self) {
        self.read.finish_and_clear();
        self.apply.finish_and_clear();
    }
}

impl crate::ops::ApplyEvents for ApplyBars {
    fn reading(&self, done: usize, total: usize) {
        set_progress(&self.read, done, total);
    }

    fn started(&self, changes: usize) {
        self.read.finish_and_clear();
        if changes > 3 {
            show_bar(&self.apply, self.quiet, "applying", changes);
        }
    }

    fn result(&self, change: &crate::plan::ResourceChange, outcome: &crate::apply::Outcome) {
        self.apply.inc(1);
        self.apply
            .suspend(|| self.line(&crate::apply::Report::line(change, outcome)));
    }

    fn info(&self, line: &str) {
        self.read.suspend(|| self.line(line));
    }
}
