//! The fluent `Test` builder: set up a tempdir, run the real `ecsched` binary in a hermetic
//! environment, compare stdout/stderr/status and print a readable diff on mismatch.
//! `Output::test()` continues in the same tempdir (plan → apply chains).
//! Never touches the test process's own environment or working directory.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use regex::Regex;
use tempfile::TempDir;

use crate::ECSCHED;
use crate::emulator::Emulator;

/// How long one run of the binary may take before it is killed and the test fails.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// One expectation on stdout or stderr.
#[derive(Clone, Debug)]
enum Expect {
    /// The whole stream, exactly.
    Exact(String),
    Contains(String),
    /// The whole stream matches the pattern (as written, and compiled by [`whole_match`]).
    Pattern(String, Regex),
}

#[must_use]
pub struct Test {
    tempdir: TempDir,
    /// Always `ECSCHED`, except in the harness's own tests.
    program: PathBuf,
    args: Vec<OsString>,
    /// Set by `.emulator()`; applied before `env` so the test's own `.env()` always wins.
    emulator_env: BTreeMap<OsString, OsString>,
    env: BTreeMap<OsString, Option<OsString>>,
    current_dir: PathBuf,
    stdin: Option<Vec<u8>>,
    /// Run under `script(1)`: stdin, stdout and stderr are one terminal.
    terminal: bool,
    stdout: Vec<Expect>,
    stderr: Vec<Expect>,
    files: Vec<(PathBuf, String)>,
    timeout: Duration,
}

impl Test {
    pub fn new() -> Self {
        let tempdir = tempfile::Builder::new()
            .prefix("ecsched-test-")
            .tempdir()
            .expect("creating a tempdir");
        Self::with_tempdir(tempdir)
    }

    fn with_tempdir(tempdir: TempDir) -> Self {
        Self {
            tempdir,
            program: PathBuf::from(ECSCHED),
            args: Vec::new(),
            emulator_env: BTreeMap::new(),
            env: BTreeMap::new(),
            current_dir: PathBuf::new(),
            stdin: None,
            terminal: false,
            stdout: Vec::new(),
            stderr: Vec::new(),
            files: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The tempdir the binary runs in (its `HOME` too).
    pub fn path(&self) -> &Path {
        self.tempdir.path()
    }

    /// Writes a config file (any relative path) into the tempdir; see [`unindent`].
    pub fn config(self, name: &str, text: &str) -> Self {
        self.file(name, text)
    }

    /// Writes `text` (passed through [`unindent`]) to `path`, relative to the tempdir, creating
    /// parent directories.
    pub fn file(self, path: impl AsRef<Path>, text: &str) -> Self {
        let path = self.tempdir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        std::fs::write(&path, unindent(text))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets a variable for the binary; overrides the harness defaults and `.emulator()`.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Removes a variable the harness would set (e.g. `NO_COLOR`).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Runs the binary in `rel` (relative to the tempdir) instead of the tempdir itself.
    pub fn current_dir(mut self, rel: impl AsRef<Path>) -> Self {
        self.current_dir = rel.as_ref().to_owned();
        self
    }

    /// Text fed to the binary's stdin (default: empty, so prompts never hang).
    pub fn stdin(mut self, text: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(text.as_ref().to_owned());
        self
    }

    /// Runs the binary on a pseudo-terminal (util-linux `script -q -e`), so that it
    /// asks its questions; `.stdin()` is what the user types. The terminal merges
    /// stderr into stdout, with `\r\n` line ends, and echoes the input.
    pub fn on_terminal(mut self) -> Self {
        self.terminal = true;
        self
    }

    /// Points the binary at the emulator as `emulator`'s account and region: sets
    /// `AWS_ENDPOINT_URL`, fake credentials (`testing`), `AWS_REGION` and `ECSCHED_TEST_ACCOUNT_ID`.
    /// `.env()` overrides any of them, in any order.
    pub fn emulator(mut self, emulator: &Emulator) -> Self {
        self.emulator_env = emulator
            .env()
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect();
        self
    }

    /// Expects exactly this stdout (passed through [`unindent`]).
    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout.push(Expect::Exact(unindent(text)));
        self
    }

    /// Expects exactly this stderr (passed through [`unindent`]).
    pub fn stderr(mut self, text: &str) -> Self {
        self.stderr.push(Expect::Exact(unindent(text)));
        self
    }

    pub fn stdout_contains(mut self, text: &str) -> Self {
        self.stdout.push(Expect::Contains(text.to_owned()));
        self
    }

    pub fn stderr_contains(mut self, text: &str) -> Self {
        self.stderr.push(Expect::Contains(text.to_owned()));
        self
    }

    /// Expects the whole stdout to match `pattern` (see [`whole_match`]).
    #[track_caller]
    pub fn stdout_regex(mut self, pattern: &str) -> Self {
        let regex = whole_match(pattern);
        self.stdout.push(Expect::Pattern(pattern.to_owned(), regex));
        self
    }

    /// Expects the whole stderr to match `pattern` (see [`whole_match`]).
    #[track_caller]
    pub fn stderr_regex(mut self, pattern: &str) -> Self {
        let regex = whole_match(pattern);
        self.stderr.push(Expect::Pattern(pattern.to_owned(), regex));
        self
    }

    /// Expects `path` (relative to the tempdir) to hold exactly `text` (passed through
    /// [`unindent`]) after the run.
    pub fn expect_file(mut self, path: impl AsRef<Path>, text: &str) -> Self {
        self.files.push((path.as_ref().to_owned(), unindent(text)));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the binary and expects exit status 0.
    #[track_caller]
    pub fn success(self) -> Output {
        self.status(0)
    }

    /// Runs the binary and expects exit status 1.
    #[track_caller]
    pub fn failure(self) -> Output {
        self.status(1)
    }

    /// Runs the binary and expects exit status `expected`.
    #[track_caller]
    pub fn status(self, expected: i32) -> Output {
        let run = self.run();
        let mut report = String::new();

        if run.status != Some(expected) {
            let _ = writeln!(
                report,
                "status: expected {expected}, got {}",
                describe_status(run.status)
            );
        }
        check_stream(&mut report, "stdout", &self.stdout, &run.stdout);
        check_stream(&mut report, "stderr", &self.stderr, &run.stderr);
        for (path, expected) in &self.files {
            let full = self.tempdir.path().join(path);
            match std::fs::read_to_string(&full) {
                Ok(actual) if actual == *expected => {}
                Ok(actual) => {
                    let _ = writeln!(report, "file {} differs:", path.display());
                    report.push_str(&diff(expected, &actual));
                }
                Err(e) => {
                    let _ = writeln!(report, "file {}: cannot read: {e}", path.display());
                }
            }
        }

        if !report.is_empty() {
            let mut message = format!("{}\n{report}", self.command_line());
            // Without an exact expectation the stream was not shown yet: show it in full.
            for (name, expects, actual) in [
                ("stdout", &self.stdout, &run.stdout),
                ("stderr", &self.stderr, &run.stderr),
            ] {
                if !expects.iter().any(|e| matches!(e, Expect::Exact(_))) {
                    let _ = writeln!(message, "--- actual {name} ---\n{actual}--- end {name} ---");
                }
            }
            eprintln!("{message}");
            panic!("ecsched run did not meet expectations (details above)");
        }

        let Test {
            tempdir,
            emulator_env,
            ..
        } = self;
        Output {
            stdout: run.stdout,
            stderr: run.stderr,
            status: run.status.unwrap_or(-1),
            tempdir,
            emulator_env,
        }
    }

    /// The command as a shell-ish line, for failure reports.
    fn command_line(&self) -> String {
        let mut line = format!("command: ecsched (in {})", self.run_dir().display());
        for arg in &self.args {
            let _ = write!(line, " {:?}", arg.to_string_lossy());
        }
        line
    }

    fn run_dir(&self) -> PathBuf {
        if self.current_dir.as_os_str().is_empty() {
            self.tempdir.path().to_owned()
        } else {
            self.tempdir.path().join(&self.current_dir)
        }
    }

    /// The hermetic environment: nothing inherited but `PATH` (and a coverage profile path).
    fn command(&self) -> Command {
        let home = self.tempdir.path();
        let mut command = if self.terminal {
            let quote = |s: &OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
            let line: Vec<String> = std::iter::once(self.program.as_os_str())
                .chain(self.args.iter().map(OsString::as_os_str))
                .map(quote)
                .collect();
            let mut c = Command::new("script");
            c.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"]);
            c
        } else {
            let mut c = Command::new(&self.program);
            c.args(&self.args);
            c
        };
        command.env_clear();
        for key in ["PATH", "LLVM_PROFILE_FILE"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        command
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join(".aws/config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
            // Never probe the EC2 instance metadata service (a non-loopback address).
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC");
        command.envs(&self.emulator_env);
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
            .current_dir(self.run_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    #[track_caller]
    fn run(&self) -> Run {
        let mut child = self
            .command()
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.program.display()));

        let stdin = self.stdin.clone().unwrap_or_default();
        let mut pipe = child.stdin.take().expect("piped stdin");
        // The writer may fail with EPIPE if the binary exits without reading; that is fine.
        let writer = thread::spawn(move || {
            let _ = pipe.write_all(&stdin);
        });
        let stdout = read_in_background(child.stdout.take().expect("piped stdout"));
        let stderr = read_in_background(child.stderr.take().expect("piped stderr"));

        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // Not joined: a grandchild may still hold the pipe open.
                    let stderr = stderr.snapshot();
                    panic!(
                        "{}\ntimed out after {:?}; stderr so far:\n{stderr}",
                        self.command_line(),
                        self.timeout
                    );
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("waiting for {}: {e}", self.program.display()),
            }
        };
        let _ = writer.join();
        Run {
            status: status.code(),
            stdout: stdout.finish(),
            stderr: stderr.finish(),
        }
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

struct Run {
    /// `None` when killed by a signal.
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A pipe drained by a thread into a buffer that can be looked at before the pipe closes.
struct Reader {
    buffer: Arc<Mutex<Vec<u8>>>,
    thread: thread::JoinHandle<()>,
}

impl Reader {
    /// Everything, once the pipe is closed.
    fn finish(self) -> String {
        let Reader { buffer, thread } = self;
        let _ = thread.join();
        let bytes = buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// What has arrived so far.
    fn snapshot(&self) -> String {
        let bytes = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> Reader {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    let thread = thread::spawn(move || {
        let mut chunk = [0; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(&chunk[..n]);
        }
    });
    Reader { buffer, thread }
}

fn describe_status(status: Option<i32>) -> String {
    status.map_or_else(|| "death by signal".to_owned(), |code| code.to_string())
}

fn check_stream(report: &mut String, name: &str, expects: &[Expect], actual: &str) {
    for expect in expects {
        match expect {
            Expect::Exact(expected) if expected != actual => {
                let _ = writeln!(report, "{name} differs (- expected, + actual):");
                report.push_str(&diff(expected, actual));
            }
            Expect::Contains(needle) if !actual.contains(needle.as_str()) => {
                let _ = writeln!(report, "{name} does not contain {needle:?}");
            }
            Expect::Pattern(pattern, regex) if !regex.is_match(actual) => {
                let _ = writeln!(report, "{name} does not match the pattern {pattern:?}");
            }
            _ => {}
        }
    }
}

/// A line diff with `-` for expected and `+` for actual; line ends are made visible, so
/// whitespace-only differences show up.
fn diff(expected: &str, actual: &str) -> String {
    let mut out = String::new();
    for change in similar::TextDiff::from_lines(expected, actual).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let line = change.value();
        let (text, end) = match line.strip_suffix('\n') {
            Some(text) => (text, "⏎"),
            None => (line, "␄"),
        };
        let _ = writeln!(out, "{sign} {text}{end}");
    }
    out
}

/// The result of a run that met its expectations.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
    pub tempdir: TempDir,
    emulator_env: BTreeMap<OsString, OsString>,
}

impl Output {
    /// A new `Test` in the same tempdir, keeping the emulator settings (same account), but no
    /// arguments, `.env()` values or expectations.
    pub fn test(self) -> Test {
        let mut test = Test::with_tempdir(self.tempdir);
        test.emulator_env = self.emulator_env;
        test
    }

    /// `rel` inside the tempdir.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.tempdir.path().join(rel)
    }

    /// Contents of `rel` inside the tempdir.
    #[track_caller]
    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        let path = self.path(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }
}

/// Lets tests write indented multi-line literals.
///
/// Text starting with a newline loses that newline, the common indentation of its non-blank
/// lines, and the trailing spaces after its last newline:
/// `"\n    a:\n      b\n  "` becomes `"a:\n  b\n"`. Any other text is returned unchanged.
pub fn unindent(text: &str) -> String {
    let Some(body) = text.strip_prefix('\n') else {
        return text.to_owned();
    };
    let body = match body.rfind('\n') {
        Some(i) if body[i + 1..].trim().is_empty() => &body[..=i],
        _ => body,
    };
    let indent = body
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
        } else {
            out.push_str(&line[indent..]);
        }
    }
    out
}

/// Compiles `pattern` (the `regex` crate's syntax) so that it must match the whole text: as if
/// written `\A(?:pattern)\z`. Otherwise nothing is implied: `.` does not match `\n` unless the
/// pattern sets `(?s)`, and `\d`, `\w`, `\s` are Unicode-aware (write `[0-9]` for ASCII digits).
/// A bad pattern panics at the test line that wrote it.
#[track_caller]
pub fn whole_match(pattern: &str) -> Regex {
    // Checked alone first: wrapping an unbalanced pattern such as `a)|(b` could make it valid.
    if let Err(e) = Regex::new(pattern) {
        panic!("bad pattern {pattern:?}: {e}");
    }
    Regex::new(&format!(r"\A(?:{pattern})\z"))
        .unwrap_or_else(|e| panic!("bad pattern {pattern:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::DEFAULT_REGION;

    /// The harness run against `sh -c script` instead of ecsched.
    fn sh(script: &str) -> Test {
        Test {
            program: PathBuf::from("/bin/sh"),
            ..Test::new()
        }
        .args(["-c", script])
    }

    fn fake_emulator() -> Emulator {
        Emulator {
            endpoint: "http://127.0.0.1:9".to_owned(),
            account_id: "111111111111".to_owned(),
            region: DEFAULT_REGION.to_owned(),
        }
    }

    #[test]
    fn child_environment_is_hermetic_and_test_env_wins() {
        let output = sh("env | sort")
            .emulator(&fake_emulator())
            .env("AWS_REGION", "eu-west-1")
            .env("EXTRA", "1")
            .env_remove("TZ")
            .success();
        let home = output.tempdir.path().display().to_string();
        let mut expected: Vec<String> = [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_CONFIG_FILE", &format!("{home}/.aws/config")),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                &format!("{home}/.aws/credentials"),
            ),
            ("ECSCHED_TEST_ACCOUNT_ID", "111111111111"),
            ("EXTRA", "1"),
            ("HOME", &home),
            ("NO_COLOR", "1"),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
        // Variables sh itself adds, and the inherited ones.
        let ignored = [
            "PATH=",
            "PWD=",
            "SHLVL=",
            "_=",
            "OLDPWD=",
            "LLVM_PROFILE_FILE=",
        ];
        let actual: Vec<String> = output
            .stdout
            .lines()
            .filter(|line| !ignored.iter().any(|p| line.starts_with(p)))
            .map(str::to_owned)
            .collect();
        expected.sort();
        assert_eq!(actual, expected);
    }

    #[test]
    fn stdin_current_dir_and_files_reach_the_child() {
        sh("cat; cat config.yml; echo done > out.txt; echo oops >&2; exit 3")
            .file(
                "sub/config.yml",
                "
                  a:
                    b: 1
                ",
            )
            .current_dir("sub")
            .stdin("from stdin\n")
            .stdout("from stdin\na:\n  b: 1\n")
            .stdout_contains("b: 1")
            .stdout_regex(r"(?s)from \w+\n.*")
            .stderr("oops\n")
            .expect_file("sub/out.txt", "done\n")
            .status(3);
    }

    #[test]
    fn output_test_continues_in_the_same_tempdir() {
        let first = sh("echo planned > plan.txt")
            .emulator(&fake_emulator())
            .success();
        let dir = first.tempdir.path().to_owned();
        let mut second = first.test();
        second.program = PathBuf::from("/bin/sh");
        let second = second
            .args(["-c", "cat plan.txt; echo $ECSCHED_TEST_ACCOUNT_ID"])
            .stdout("planned\n111111111111\n")
            .success();
        assert_eq!(second.tempdir.path(), dir);
    }

    #[test]
    #[should_panic(expected = "did not meet expectations")]
    fn mismatch_panics() {
        sh("echo actual").stdout("expected\n").success();
    }

    #[test]
    #[should_panic(expected = "timed out")]
    fn hung_child_is_killed() {
        sh("sleep 5").timeout(Duration::from_millis(200)).success();
    }

    #[test]
    fn unindent_strips_common_indentation_of_leading_newline_literals() {
        assert_eq!(unindent("\n    a:\n      b\n\n    c\n  "), "a:\n  b\n\nc\n");
        assert_eq!(unindent("\n  x"), "x");
        assert_eq!(unindent("verbatim\n  text\n"), "verbatim\n  text\n");
        assert_eq!(unindent(""), "");
    }

    #[test]
    fn pattern_matches_the_whole_text() {
        let matches = |pattern: &str, text: &str| whole_match(pattern).is_match(text);
        assert!(matches(r"ecsched \d+\.\d+\.\d+\n", "ecsched 0.1.0\n"));
        assert!(
            !matches(r"ecsched \d+", "ecsched 0.1.0\n"),
            "anchored at the end"
        );
        assert!(!matches(r"\d+\n", "x1\n"), "anchored at the start");
        assert!(
            !matches(r"1\n", "1\n\n"),
            "no line anchors: the end is the end"
        );
        assert!(matches("(?s).*rule/[a-z-]+ .*", "x\narn:rule/my-rule ok"));
        assert!(
            !matches(".*rule/[a-z-]+ .*", "x\narn:rule/my-rule ok"),
            "`.` stops at newlines unless (?s)"
        );
        assert!(matches(r"[^\n]*\n{2}done", "line\n\ndone"));
        assert!(matches(r"a{2,3}b?c{1,}", "aaacc"));
        assert!(!matches(r"a{2,3}", "aaaa"));
        assert!(matches(r"\[x\]\s\w+", "[x] word_9"));
        assert!(matches("[]a]+", "]a]"));
        assert!(matches("[a-]+", "-a-"));
        assert!(
            !matches("a|b", "ab"),
            "an alternation is anchored as a whole"
        );
        assert!(
            matches("a|ab", "ab"),
            "any alternative that covers the whole text"
        );
        assert!(matches(&regex::escape("1.0 (x) [y]*+?"), "1.0 (x) [y]*+?"));
        assert!(!matches(&regex::escape("1.0"), "100"));
    }

    #[test]
    #[should_panic(expected = "bad pattern")]
    fn pattern_rejects_bad_syntax() {
        // Valid once wrapped as `(?:a)|(b)`: must still be refused.
        whole_match("a)|(b");
    }

    #[test]
    fn diff_marks_expected_and_actual_lines() {
        assert_eq!(
            diff("a\nb\n", "a\nc"),
            "  a⏎\n- b⏎\n+ c␄\n",
            "the missing final newline must be visible"
        );
    }
}
