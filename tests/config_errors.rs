//! `ecsched validate` on every bad config in `testdata/invalid/`: exit code 1, nothing on stdout,
//! and on stderr exactly the message kept next to the config as `NAME.stderr` (all problems of a
//! file at once, each with file:line:column, the rule/schedule and the cause). A tripwire
//! endpoint proves that no AWS call is made. Needs no emulator.
//!
//! To add a case: write `NAME.yaml` (or `.json`) with one problem, run
//! `ecsched -c NAME.yaml validate 2> NAME.stderr` in `testdata/invalid/`, read the message
//! critically, and add a line to `cases!` below (a test checks that none is forgotten).
//! In a `.stderr` file, `$DIR` stands for the absolute path of `testdata/invalid`.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::test::Test;

/// The bad configs and their expected messages.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/invalid");

/// A local TCP endpoint that counts (and drops) every connection made to it. Pointed to by
/// `AWS_ENDPOINT_URL`, it proves that a command made no AWS call at all: an SDK call would
/// connect here and fail fast, instead of leaving the machine or hanging.
///
/// The count is exact, not timed: a client's `connect` returns only once the kernel has
/// completed the handshake and queued the connection on the listener, so when the command
/// has exited, every connection it made is either counted by the accept thread or still in
/// the listener's queue, where [`AwsTripwire::assert_untouched`] drains it.
pub struct AwsTripwire {
    pub endpoint: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// Accepts (and drops) connections until `stop`; hands the listener back.
    thread: Option<thread::JoinHandle<TcpListener>>,
}

impl AwsTripwire {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        listener
            .set_nonblocking(true)
            .expect("making the listener non-blocking");
        let endpoint = format!(
            "http://{}",
            listener.local_addr().expect("the listener's address")
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = thread::spawn({
            let hits = Arc::clone(&hits);
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            hits.fetch_add(1, Ordering::SeqCst);
                            drop(stream);
                        }
                        // Nothing queued (or a transient error): poll again shortly.
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
                listener
            }
        });
        Self {
            endpoint,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// `test` with AWS pointed at the tripwire: endpoint, fake credentials and a region, so an
    /// SDK call would really be attempted (not stop early for want of credentials).
    pub fn arm(&self, test: Test) -> Test {
        test.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "ap-northeast-3")
    }

    /// Stops the accept thread and counts what it had not accepted yet.
    fn connections(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let mut hits = 0;
        if let Some(listener) = self.thread.take().and_then(|t| t.join().ok()) {
            loop {
                match listener.accept() {
                    Ok(_) => hits += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("draining the tripwire's queue: {e}"),
                }
            }
        }
        hits + self.hits.load(Ordering::SeqCst)
    }

    /// Panics if anything connected since [`AwsTripwire::new`]. Call it once the command has
    /// exited (`Test::failure` and the like return only then).
    #[track_caller]
    pub fn assert_untouched(mut self, what: &str) {
        let hits = self.connections();
        assert_eq!(
            hits, 0,
            "{what}: ecsched connected to the AWS endpoint {hits} time(s); it must make no AWS call"
        );
    }
}

impl Default for AwsTripwire {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for AwsTripwire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The tripwire itself: a connection made right before the check is counted, with no sleep
/// or timing involved, whether the accept thread took it or it was still queued.
#[test]
fn the_tripwire_counts_every_connection_made_before_the_check() {
    for made in [0, 1, 3] {
        let mut tripwire = AwsTripwire::new();
        let address = tripwire.endpoint.trim_start_matches("http://").to_owned();
        for _ in 0..made {
            drop(TcpStream::connect(&address).expect("connecting to the tripwire"));
        }
        assert_eq!(tripwire.connections(), made);
    }
}

/// `ecsched -c FILE validate` in `testdata/invalid/`, with a fixed environment.
#[track_caller]
fn check(file: &str) {
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a file name");
    let expected_path = Path::new(DIR).join(format!("{stem}.stderr"));
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", expected_path.display()))
        .replace("$DIR", DIR);
    let tripwire = AwsTripwire::new();
    // An absolute `current_dir` replaces the tempdir (`Path::join`), so the file is named in
    // messages exactly as given with `-c`.
    tripwire
        .arm(Test::new())
        .current_dir(DIR)
        .env("ENV", "prod")
        .env("AWS_DEFAULT_REGION", "ap-northeast-3")
        .args(["-c", file, "validate"])
        .stdout("")
        .stderr(&expected)
        .timeout(Duration::from_secs(60))
        .failure();
    tripwire.assert_untouched(file);
}

macro_rules! cases {
    ($($test:ident => $file:literal,)*) => {
        /// Every case, for the completeness check.
        const CASES: &[&str] = &[$($file),*];
        $(
            #[test]
            fn $test() {
                check($file);
            }
        )*
    };
}

cases! {
    // YAML syntax and structure
    malformed_yaml => "malformed-yaml.yaml",
    duplicate_key => "duplicate-key.yaml",
    wrong_type_taskcount => "wrong-type-taskcount.yaml",
    bool_as_yes => "bool-as-yes.yaml",
    unknown_key_typo => "unknown-key-typo.yaml",
    unknown_top_level_key => "unknown-top-level-key.yaml",
    unknown_nested_key => "unknown-nested-key.yaml",
    bad_assign_public_ip => "bad-assign-public-ip.yaml",
    missing_rule_name => "missing-rule-name.yaml",
    missing_schedule_expression => "missing-schedule-expression.yaml",
    several_schema_problems => "several-schema-problems.yaml",
    wrong_type_and_typo_json => "wrong-type-and-typo.json",
    commented_out_rules => "commented-out-rules.yaml",
    multiple_documents => "multiple-documents.yaml",
    task_count_overflow => "task-count-overflow.yaml",
    // files that are not files (a symbolic link to /dev/zero; see also the tests below)
    config_is_a_device => "config-is-a-device.yaml",
    tfstate_is_a_device => "tfstate-is-a-device.yaml",
    // templates and plugins
    missing_env => "missing-env.yaml",
    unknown_template_function => "unknown-template-function.yaml",
    must_env_bare_word => "must-env-bare-word.yaml",
    go_template_range => "go-template-range.yaml",
    unclosed_template_action => "unclosed-template-action.yaml",
    unknown_plugin => "unknown-plugin.yaml",
    tfstate_without_plugin => "tfstate-without-plugin.yaml",
    missing_tfstate_address => "missing-tfstate-address.yaml",
    unreadable_tfstate => "unreadable-tfstate.yaml",
    tfstate_bad_version => "tfstate-bad-version.yaml",
    // schedule expressions, dates, timezones
    bad_cron_fields => "bad-cron-fields.yaml",
    bad_cron_both_days => "bad-cron-both-days.yaml",
    bad_cron_range => "bad-cron-range.yaml",
    cron_spaces_in_parens => "cron-spaces-in-parens.yaml",
    rate_plural => "rate-plural.yaml",
    rate_singular => "rate-singular.yaml",
    rate_zero => "rate-zero.yaml",
    at_in_rule => "at-in-rule.yaml",
    bad_at_schedule => "bad-at-schedule.yaml",
    bad_timezone => "bad-timezone.yaml",
    bad_start_date => "bad-start-date.yaml",
    end_before_start => "end-before-start.yaml",
    flexible_window_missing_minutes => "flexible-window-missing-minutes.yaml",
    // names, ARNs, regions
    name_too_long => "name-too-long.yaml",
    bad_rule_name_chars => "bad-rule-name-chars.yaml",
    duplicate_rule => "duplicate-rule.yaml",
    duplicate_rule_bus_spelling => "duplicate-rule-bus-spelling.yaml",
    duplicate_schedule => "duplicate-schedule.yaml",
    duplicate_target_id => "duplicate-target-id.yaml",
    bad_task_definition_arn => "bad-task-definition-arn.yaml",
    task_definition_in_another_region => "task-definition-in-another-region.yaml",
    bad_role_arn => "bad-role-arn.yaml",
    bad_kms_key_arn => "bad-kms-key-arn.yaml",
    bad_region => "bad-region.yaml",
    unknown_region => "unknown-region.yaml",
    region_typo => "region-typo.yaml",
    missing_cluster => "missing-cluster.yaml",
    missing_cluster_without_rules => "missing-cluster-without-rules.yaml",
    empty_cluster => "empty-cluster.yaml",
    tracking_id_too_long => "tracking-id-too-long.yaml",
    schedule_on_custom_bus => "schedule-on-custom-bus.yaml",
    per_rule_cluster_mismatch => "per-rule-cluster-mismatch.yaml",
    // targets and AWS limits
    missing_task_definition => "missing-task-definition.yaml",
    launch_type_and_capacity_provider => "launch-type-and-capacity-provider.yaml",
    platform_version_with_ec2 => "platform-version-with-ec2.yaml",
    six_targets => "six-targets.yaml",
    targets_and_inline => "targets-and-inline.yaml",
    task_count_too_high => "task-count-too-high.yaml",
    task_count_zero => "task-count-zero.yaml",
    empty_subnets => "empty-subnets.yaml",
    retry_policy_out_of_range => "retry-policy-out-of-range.yaml",
    tracking_tag_in_tags => "tracking-tag-in-tags.yaml",
    bad_propagate_tags => "bad-propagate-tags.yaml",
    // all problems at once
    several_problems => "several-problems.yaml",
}

/// Bad inputs that cannot be kept in `testdata/invalid/`: a config or tfstate file over the
/// size limit (sparse, so it costs no disk) and a named pipe (which, opened, would block
/// until something writes to it). Each is refused before it is read.
#[cfg(unix)]
#[test]
fn oversized_files_and_fifos_are_refused_unread() {
    const LIMIT: u64 = 64 * 1024 * 1024;
    let sparse = |path: &Path, len: u64| {
        std::fs::File::create(path)
            .and_then(|f| f.set_len(len))
            .expect("making a sparse file");
    };
    let too_large = "it is larger than 64 MiB, the limit for a file ecsched reads";

    let tripwire = AwsTripwire::new();
    let test = tripwire.arm(Test::new());
    sparse(&test.path().join("big.yaml"), LIMIT + 1);
    test.args(["-c", "big.yaml", "validate"])
        .stdout("")
        .stderr(&format!(
            "error: cannot read config file big.yaml: {too_large}\n"
        ))
        .failure();
    tripwire.assert_untouched("a config over the limit");

    let tripwire = AwsTripwire::new();
    let test = tripwire.arm(Test::new()).config(
        "ecsched.yaml",
        "
        region: ap-northeast-3
        cluster: app
        rules:
        - name: r
          scheduleExpression: rate(1 day)
          taskDefinition: job:{{ tfstate `output.revision` }}
        plugins:
        - name: tfstate
          config:
            path: big.tfstate
        ",
    );
    sparse(&test.path().join("big.tfstate"), LIMIT + 1);
    test.args(["-c", "ecsched.yaml", "validate"])
        .stdout("")
        .stderr(&format!(
            "error: ecsched.yaml:8:3: tfstate big.tfstate: cannot read the file: {too_large}\n"
        ))
        .failure();
    tripwire.assert_untouched("a tfstate over the limit");

    let tripwire = AwsTripwire::new();
    let test = tripwire.arm(Test::new());
    let made = std::process::Command::new("mkfifo")
        .arg(test.path().join("pipe.yaml"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    test.args(["-c", "pipe.yaml", "validate"])
        .stdout("")
        .stderr("error: cannot read config file pipe.yaml: it is a named pipe (FIFO), not a regular file\n")
        .timeout(Duration::from_secs(60))
        .failure();
    tripwire.assert_untouched("a FIFO as config");
}

#[test]
fn every_invalid_config_has_a_case_and_an_expected_stderr() {
    let mut configs = Vec::new();
    let mut expectations = Vec::new();
    for entry in std::fs::read_dir(DIR).expect("listing testdata/invalid") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name")
            .to_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml" | "json") => configs.push(name),
            Some("stderr") => expectations.push(name),
            _ => {}
        }
    }
    configs.sort();
    let mut cases: Vec<String> = CASES.iter().map(ToString::to_string).collect();
    cases.sort();
    assert_eq!(
        configs, cases,
        "every config in testdata/invalid needs a line in cases!, and every case a file"
    );
    let mut stems: Vec<String> = cases
        .iter()
        .map(|c| c.rsplit_once('.').map_or(c.as_str(), |(s, _)| s).to_owned() + ".stderr")
        .collect();
    stems.sort();
    expectations.sort();
    assert_eq!(
        expectations, stems,
        "every case needs exactly one NAME.stderr next to it"
    );
}
