//! Everything printed for humans: colour decisions, progress, message styles.
//! Only `output` and `cli` write to stdout or stderr.

use std::io::IsTerminal;

use crate::cli::args::ColorChoice;

/// Decides once whether stdout/stderr get ANSI colours.
pub fn setup_color(choice: ColorChoice) {
    let no_color = std::env::var_os("NO_COLOR").is_some();
    let (out, err) = match choice {
        ColorChoice::Always => (true, true),
        ColorChoice::Never => (false, false),
        ColorChoice::Auto if no_color => (false, false),
        ColorChoice::Auto => (
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

/// A progress bar on stderr for reads/applies of more than a few items; hidden
/// when stderr is not a terminal (indicatif's draw target checks) or with --quiet.
pub fn progress_bar(quiet: bool, message: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}
