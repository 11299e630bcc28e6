//! The plan → apply contract (issue 8): what a reviewer approves is exactly what gets written.
//! One test per hole: `--dry-run` never writes, `dump` escapes template syntax found in live
//! values, live settings ecsched does not model survive a write, a takeover needs consent, a
//! signal stops an apply cleanly (no half-written rule, a report, 128 + signal), and a plan that
//! was applied is refused even after a revert by hand.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types as eb;

use crate::emulator::{Emulator, emulator};
use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::fixtures::{
    create_cluster, ecs_target, put_rule, put_targets, register_task_definition, role_arn,
    rule_names, snapshot,
};
use crate::workflow::ecsched;

/// A fresh account with cluster `app` and task definition `job`.
fn fixtures() -> Option<Emulator> {
    let em = emulator()?;
    em.block_on(async {
        create_cluster(&em, "app").await;
        register_task_definition(&em, "job", "app").await;
    });
    Some(em)
}

fn config(rules: &[(&str, &str)]) -> String {
    let mut out = String::from("region: ap-northeast-3\ncluster: app\nrules:\n");
    for (name, expr) in rules {
        out.push_str(&format!(
            "- name: {name}\n  scheduleExpression: {expr}\n  taskDefinition: job\n  launch_type: FARGATE\n"
        ));
    }
    out
}

fn expression(em: &Emulator, name: &str) -> Option<String> {
    em.block_on(snapshot(em, name))
        .and_then(|s| s.rule.schedule_expression().map(str::to_string))
}

// ---- row 1: --dry-run writes nothing, for every command that takes it -------------------------

#[test]
fn dry_run_writes_nothing_in_any_command() {
    let Some(em) = fixtures() else { return };
    let out = ecsched(&em)
        .config("ecsched.yaml", &config(&[("nightly", "cron(0 1 * * ? *)")]))
        .args(["apply", "--all", "--auto-approve"])
        .success();
    std::fs::write(
        out.path("ecsched.yaml"),
        config(&[("nightly", "cron(0 2 * * ? *)")]),
    )
    .expect("config");
    let mut out = out
        .test()
        .args(["plan", "--all", "-out", "p.bin"])
        .stdout_contains("~ rule.nightly will be updated in place")
        .success();
    let before = em.block_on(snapshot(&em, "nightly"));
    for args in [
        &["apply", "--dry-run", "p.bin"][..],
        &["apply", "p.bin", "--dry-run"],
        &["apply", "-dry-run", "p.bin"],
        &["apply", "--all", "--dry-run"],
        &["apply", "-all", "-dry-run", "-prune"],
    ] {
        out = out.test().args(args).stderr_contains("Dry run").success();
        assert_eq!(
            em.block_on(snapshot(&em, "nightly")),
            before,
            "{args:?} wrote to AWS"
        );
    }
    // run --dry-run starts no task.
    let out = out
        .test()
        .args(["run", "--rule", "nightly", "-dry-run"])
        .stderr_contains("running the rule \"nightly\" (dry-run)")
        .success();
    let tasks = em.block_on(async {
        em.ecs()
            .list_tasks()
            .cluster("app")
            .send()
            .await
            .expect("ListTasks")
            .task_arns()
            .to_vec()
    });
    assert!(tasks.is_empty(), "run --dry-run started {tasks:?}");
    // The plan was not consumed: it still applies.
    out.test()
        .args(["apply", "p.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    assert_eq!(
        expression(&em, "nightly").as_deref(),
        Some("cron(0 2 * * ? *)")
    );
}

// ---- row 2: dump escapes template syntax of live values ----------------------------------------

#[test]
fn dump_escapes_template_syntax_so_live_values_load_back_as_themselves() {
    let Some(em) = fixtures() else { return };
    let secret_description = "{{ env `AWS_SECRET_ACCESS_KEY` }} nightly";
    let command = "{{ must_env `NOT_SET_ANYWHERE` }}";
    em.block_on(async {
        em.eventbridge()
            .put_rule()
            .name("templated")
            .schedule_expression("cron(0 3 * * ? *)")
            .description(secret_description)
            .send()
            .await
            .expect("PutRule");
        let mut target = ecs_target(&em, "templated", "app", "job");
        target.input = Some(format!(
            r#"{{"containerOverrides":[{{"name":"app","command":["{command}"]}}]}}"#
        ));
        put_targets(&em, "templated", vec![target]).await;
    });
    let out = ecsched(&em)
        .args(["dump", "--cluster", "app", "--region", "ap-northeast-3"])
        .success();
    assert!(
        !out.stdout.contains("{{ env"),
        "template syntax must be escaped:\n{}",
        out.stdout
    );
    std::fs::write(out.path("x.yaml"), &out.stdout).expect("dump");
    // Loads back offline without NOT_SET_ANYWHERE, and renders the live values exactly.
    let out = out
        .test()
        .args(["-c", "x.yaml", "render", "--json"])
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t-from-env")
        .success();
    assert!(out.stdout.contains(secret_description), "{}", out.stdout);
    assert!(!out.stdout.contains("s3cr3t-from-env"), "{}", out.stdout);
    assert!(out.stdout.contains(command), "{}", out.stdout);
    // Plans to no changes and applies (the tag only) without writing the secret.
    let out = out
        .test()
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t-from-env")
        .args(["-c", "x.yaml", "diff", "--all", "--detailed-exitcode"])
        .stderr_contains("No changes.")
        .success();
    out.test()
        .env("AWS_SECRET_ACCESS_KEY", "s3cr3t-from-env")
        .args(["-c", "x.yaml", "apply", "--all", "--auto-approve"])
        .success();
    let live = em.block_on(snapshot(&em, "templated")).expect("rule");
    assert_eq!(live.rule.description(), Some(secret_description));
    let input = live.targets[0].input().unwrap_or_default();
    assert!(input.contains(command), "{input}");
}

// ---- row 3: live settings ecsched does not model are kept -------------------------------------

#[test]
fn a_write_keeps_the_rule_role_and_input_keys_ecsched_does_not_model() {
    let Some(em) = fixtures() else { return };
    let rule_role = role_arn(&em, "rule-role");
    let extra =
        r#""inferenceAcceleratorOverrides":[{"deviceName":"d1","deviceType":"eia2.medium"}]"#;
    em.block_on(async {
        em.eventbridge()
            .put_rule()
            .name("roled")
            .schedule_expression("cron(0 4 * * ? *)")
            .role_arn(&rule_role)
            .send()
            .await
            .expect("PutRule");
        let mut target = ecs_target(&em, "roled", "app", "job");
        target.input = Some(format!(
            r#"{{"containerOverrides":[{{"name":"app","command":["run"],"gpu":"1"}}],{extra}}}"#
        ));
        put_targets(&em, "roled", vec![target]).await;
    });
    let out = ecsched(&em)
        .args(["dump", "--cluster", "app", "--region", "ap-northeast-3"])
        .stdout_contains("  ruleRole: rule-role\n")
        .success();
    // Only the cron changes.
    let edited = out.stdout.replace("cron(0 4 * * ? *)", "cron(0 5 * * ? *)");
    std::fs::write(out.path("ecsched.yaml"), edited).expect("config");
    let out = out
        .test()
        .args(["plan", "--all"])
        .stdout_contains("  - scheduleExpression: cron(0 4 * * ? *)\n")
        .stdout_contains("  + scheduleExpression: cron(0 5 * * ? *)\n")
        .stdout_contains("live settings ecsched does not model are kept as they are")
        .success();
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.contains("ruleRole") && !l.starts_with("    ")),
        "the role is unchanged (context only):\n{}",
        out.stdout
    );
    out.test()
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    let live = em.block_on(snapshot(&em, "roled")).expect("rule");
    assert_eq!(live.rule.schedule_expression(), Some("cron(0 5 * * ? *)"));
    assert_eq!(
        live.rule.role_arn(),
        Some(rule_role.as_str()),
        "RoleArn kept"
    );
    let input: serde_json::Value =
        serde_json::from_str(live.targets[0].input().unwrap_or("{}")).expect("Input JSON");
    assert_eq!(
        input["inferenceAcceleratorOverrides"][0]["deviceName"], "d1",
        "unknown Input key kept: {input}"
    );
    assert_eq!(input["containerOverrides"][0]["gpu"], "1", "{input}");
}

// ---- row 4: a takeover is a change that needs consent ------------------------------------------

#[test]
fn a_rule_of_another_tracking_id_is_never_taken_over_silently() {
    let Some(em) = fixtures() else { return };
    em.block_on(async {
        put_rule(
            &em,
            "shared",
            "cron(0 6 * * ? *)",
            &[("ecschedule:tracking-id", "someone-else")],
        )
        .await;
        put_targets(&em, "shared", vec![ecs_target(&em, "shared", "app", "job")]).await;
    });
    let before = em.block_on(snapshot(&em, "shared"));
    // Identical definition: still a change (exit 2), shown prominently.
    let out = ecsched(&em)
        .config("ecsched.yaml", &config(&[("shared", "cron(0 6 * * ? *)")]))
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout_contains(
            "~ rule.shared will be TAKEN OVER from trackingId \"someone-else\" and updated in place",
        )
        .status(2);
    let out = out
        .test()
        .args(["plan", "--all", "-out", "p.bin"])
        .stdout_contains("apply refuses this plan unless it is made with --takeover")
        .success();
    let out = out
        .test()
        .args(["apply", "p.bin"])
        .stderr_contains("p.bin would take over rule.shared from another trackingId")
        .status(3);
    let out = out
        .test()
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("would take over rule.shared from another trackingId")
        .failure();
    assert_eq!(
        em.block_on(snapshot(&em, "shared")),
        before,
        "nothing written"
    );
    let out = out
        .test()
        .args(["plan", "--all", "--takeover", "-out", "p.bin"])
        .success();
    out.test()
        .args(["apply", "p.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    let after = em.block_on(snapshot(&em, "shared")).expect("rule");
    assert_eq!(
        after.tags.get("ecschedule:tracking-id").map(String::as_str),
        Some("app")
    );
}

// ---- row 6: signals ------------------------------------------------------------------------------

/// Spawns the binary in `dir` with the emulator's environment pointing at `endpoint`; returns
/// the child with piped stderr.
fn spawn(
    em: &Emulator,
    endpoint: &str,
    dir: &std::path::Path,
    args: &[&str],
) -> std::process::Child {
    let mut cmd = Command::new(crate::ECSCHED);
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in em.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint);
    cmd.spawn().expect("spawning ecsched")
}

fn kill(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Reads stderr until a line satisfies `until` (then sends `signal`), then the rest; returns
/// everything read and the exit code.
fn run_and_signal(
    mut child: std::process::Child,
    signal: &str,
    until: impl Fn(&str) -> bool,
) -> (String, Option<i32>) {
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let mut sent = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("reading stderr");
        if !sent && until(&line) {
            kill(&child, signal);
            sent = true;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().expect("waiting for ecsched");
    assert!(sent, "the signal was never sent:\n{seen}");
    (seen, status.code())
}

/// 50 rules applied through a proxy that slows every call down: a signal after the first
/// result stops new writes, lets the calls in flight finish, reports, and exits 128 + signal;
/// every rule is either whole (rule and target) or absent.
fn signal_during_apply(signal: &str, code: i32) {
    let Some(em) = fixtures() else { return };
    let proxy = FaultProxy::start(&em.endpoint).expect("proxy");
    proxy.rule(Rule::any(Fault::Latency(Duration::from_millis(40))));
    let names: Vec<String> = (0..50).map(|i| format!("r{i:02}")).collect();
    let rules: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "cron(0 7 * * ? *)"))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ecsched.yaml"), config(&rules)).expect("config");
    let child = spawn(
        &em,
        &proxy.endpoint(),
        dir.path(),
        &["--concurrency", "4", "apply", "--all", "--auto-approve"],
    );
    let (stderr, status) = run_and_signal(child, signal, |l| l.starts_with("  ✓"));
    assert_eq!(status, Some(code), "{stderr}");
    assert!(
        stderr.contains("Apply interrupted: "),
        "a report is printed:\n{stderr}"
    );
    let live = em.block_on(rule_names(&em));
    assert!(live.len() < 50, "the apply stopped early");
    for name in &names {
        let applied = stderr.contains(&format!("  ✓ rule.{name} created"));
        let not_applied = stderr.contains(&format!("  - rule.{name} create: not applied"));
        assert!(
            applied ^ not_applied,
            "{name} reported exactly once:\n{stderr}"
        );
        match em.block_on(snapshot(&em, name)) {
            Some(s) => {
                assert!(applied, "{name} written but reported not applied");
                assert_eq!(s.targets.len(), 1, "{name} is half-written");
            }
            None => assert!(not_applied, "{name} reported applied but absent"),
        }
    }
}

#[test]
fn sigterm_during_an_apply_stops_cleanly_with_143() {
    signal_during_apply("TERM", 143);
}

#[test]
fn sighup_during_an_apply_stops_cleanly_with_129() {
    signal_during_apply("HUP", 129);
}

#[test]
fn sigint_during_the_drift_check_writes_nothing_and_exits_130() {
    let Some(em) = fixtures() else { return };
    let out = ecsched(&em)
        .config("ecsched.yaml", &config(&[("slow", "cron(0 8 * * ? *)")]))
        .args(["apply", "--all", "--auto-approve"])
        .success();
    std::fs::write(
        out.path("ecsched.yaml"),
        config(&[("slow", "cron(0 9 * * ? *)")]),
    )
    .expect("config");
    let out = out
        .test()
        .args(["plan", "--all", "-out", "p.bin"])
        .success();
    // The drift check's reads take 3 s each: the signal arrives while they are in flight.
    let proxy = FaultProxy::start(&em.endpoint).expect("proxy");
    proxy.rule(Rule::operation(
        "DescribeRule",
        Fault::Latency(Duration::from_secs(3)),
    ));
    let started = Instant::now();
    let mut child = spawn(&em, &proxy.endpoint(), &out.path(""), &["apply", "p.bin"]);
    std::thread::sleep(Duration::from_millis(1500));
    kill(&child, "INT");
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(
        expression(&em, "slow").as_deref(),
        Some("cron(0 8 * * ? *)")
    );
    assert_eq!(proxy.stats().op("PutRule").seen, 0);
}

/// On a terminal, `apply --all` writes only after "yes"; `--quiet` hides information but
/// never answers the question.
#[test]
fn on_a_terminal_apply_writes_only_after_yes_quiet_included() {
    let Some(em) = fixtures() else { return };
    let yaml = config(&[("asked", "cron(0 6 * * ? *)")]);
    let question = "Do you want to perform these actions? Only 'yes' will be accepted: ";
    for (quiet, answer) in [(false, "no"), (true, "no"), (true, "")] {
        let args: &[&str] = if quiet {
            &["-q", "apply", "--all"]
        } else {
            &["apply", "--all"]
        };
        ecsched(&em)
            .config("ecsched.yaml", &yaml)
            .args(args)
            .on_terminal()
            .stdin(format!("{answer}\n"))
            .stdout_contains("+ rule.asked will be created\r\n")
            .stdout_contains(question)
            .success();
        assert_eq!(
            expression(&em, "asked"),
            None,
            "{quiet} {answer:?}: nothing written"
        );
    }
    ecsched(&em)
        .config("ecsched.yaml", &yaml)
        .args(["apply", "--all"])
        .on_terminal()
        .stdin("yes\n")
        .stdout_contains(question)
        .stdout_contains("Apply complete: 1 of 1 changes applied.\r\n")
        .success();
    assert_eq!(
        expression(&em, "asked").as_deref(),
        Some("cron(0 6 * * ? *)")
    );
}

/// A rule's third state (ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS), set by hand, is never
/// folded into ENABLED unseen: the plan shows the change to ENABLED, `dump` says it cannot
/// express it, and only an apply writes ENABLED.
#[test]
fn a_state_the_config_cannot_say_is_shown_as_a_change() {
    let Some(em) = fixtures() else { return };
    const TRAIL: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";
    let state = |em: &Emulator| {
        em.block_on(snapshot(em, "trail"))
            .and_then(|s| s.rule.state().map(|x| x.as_str().to_string()))
    };
    let out = ecsched(&em)
        .config("ecsched.yaml", &config(&[("trail", "cron(0 1 * * ? *)")]))
        .args(["apply", "--all", "--auto-approve"])
        .success();
    em.block_on(async {
        em.eventbridge()
            .put_rule()
            .name("trail")
            .schedule_expression("cron(0 1 * * ? *)")
            .state(eb::RuleState::from(TRAIL))
            .send()
            .await
            .expect("PutRule by hand");
    });
    assert_eq!(state(&em).as_deref(), Some(TRAIL));
    let out = out
        .test()
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout_contains("~ rule.trail will be updated in place\n")
        .stdout_contains(&format!(
            "  ! its live state {TRAIL} becomes ENABLED (a config says enabled or disabled only)\n"
        ))
        .status(2);
    let out = out
        .test()
        .args(["-c", "ecsched.yaml", "dump"])
        .stderr_contains(&format!(
            "note: rule.trail is {TRAIL}, which a config cannot say; it is dumped as enabled"
        ))
        .success();
    assert_eq!(state(&em).as_deref(), Some(TRAIL), "nothing written yet");
    out.test()
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success()
        .test()
        .args(["diff", "--all", "--detailed-exitcode"])
        .success();
    assert_eq!(state(&em).as_deref(), Some("ENABLED"));
}

// ---- row 7: a plan that was applied is refused, even after a revert by hand --------------------

#[test]
fn a_plan_applied_once_is_refused_after_the_rule_is_reverted_by_hand() {
    let Some(em) = fixtures() else { return };
    let out = ecsched(&em)
        .config("ecsched.yaml", &config(&[("nightly", "cron(0 1 * * ? *)")]))
        .args(["apply", "--all", "--auto-approve"])
        .success();
    std::fs::write(
        out.path("ecsched.yaml"),
        config(&[("nightly", "cron(0 2 * * ? *)")]),
    )
    .expect("config");
    let out = out
        .test()
        .args(["plan", "--all", "-out", "p.bin"])
        .success();
    let out = out
        .test()
        .args(["apply", "p.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    // Reverted by hand to the planned-from definition (tags stay with the rule).
    em.block_on(async {
        em.eventbridge()
            .put_rule()
            .name("nightly")
            .schedule_expression("cron(0 1 * * ? *)")
            .state(eb::RuleState::Enabled)
            .send()
            .await
            .expect("PutRule by hand");
    });
    out.test()
        .args(["apply", "p.bin"])
        .stderr_contains("was already applied (in whole or in part): rule.nightly already carries")
        .status(3);
    assert_eq!(
        expression(&em, "nightly").as_deref(),
        Some("cron(0 1 * * ? *)"),
        "refused: nothing written"
    );
}

// ---- row 5: concurrent applies -----------------------------------------------------------------

/// A bucket for the lock in the test's account and region; returns `s3://BUCKET/KEY`.
fn lock_location(em: &Emulator) -> String {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let bucket = format!("locks-{}", em.account_id);
    em.block_on(async {
        em.s3()
            .create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(em.region.as_str()))
                    .build(),
            )
            .send()
            .await
            .expect("CreateBucket");
    });
    format!("s3://{bucket}/ecsched/app.lock")
}

/// Applies the rule `shared` at cron A, then makes two plans from that state: B and C.
fn two_plans(em: &Emulator, extra: &str) -> crate::test::Output {
    let first = format!("{extra}{}", config(&[("shared", "cron(0 1 * * ? *)")]));
    let out = ecsched(em)
        .config("ecsched.yaml", &first)
        .args(["apply", "--all", "--auto-approve"])
        .success();
    for (file, expr) in [
        ("b.bin", "cron(0 2 * * ? *)"),
        ("c.bin", "cron(0 3 * * ? *)"),
    ] {
        std::fs::write(
            out.path("ecsched.yaml"),
            format!("{extra}{}", config(&[("shared", expr)])),
        )
        .expect("config");
        crate::test::Test::new()
            .emulator(em)
            .config(
                "ecsched.yaml",
                &format!("{extra}{}", config(&[("shared", expr)])),
            )
            .args([
                "plan",
                "--all",
                "-out",
                &out.path(file).display().to_string(),
            ])
            .success();
    }
    out
}

/// Runs `apply FILE` for each file at the same time through `endpoint`; returns (exit code,
/// stderr) per file.
fn concurrent_applies(
    em: &Emulator,
    dir: &std::path::Path,
    runs: &[(&str, String, &[&str])],
) -> Vec<(Option<i32>, String)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(file, endpoint, extra)| {
                scope.spawn(move || {
                    let mut args: Vec<&str> = extra.to_vec();
                    args.extend(["apply", file]);
                    let mut child = spawn(em, endpoint, dir, &args);
                    let mut stderr = String::new();
                    std::io::Read::read_to_string(
                        &mut child.stderr.take().expect("stderr"),
                        &mut stderr,
                    )
                    .expect("stderr");
                    (child.wait().expect("wait").code(), stderr)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("apply thread"))
            .collect()
    })
}

#[test]
fn with_a_lock_two_concurrent_applies_end_with_exactly_one_success() {
    let Some(em) = fixtures() else { return };
    let lock = lock_location(&em);
    let out = two_plans(&em, &format!("lock: {lock}\n"));
    // Every call takes a while, so the two runs overlap.
    let proxy = FaultProxy::start(&em.endpoint).expect("proxy");
    proxy.rule(Rule::any(Fault::Latency(Duration::from_millis(150))));
    let wait: &[&str] = &["--lock-timeout", "60s"];
    let results = concurrent_applies(
        &em,
        &out.path(""),
        &[
            ("b.bin", proxy.endpoint(), wait),
            ("c.bin", proxy.endpoint(), wait),
        ],
    );
    let ok: Vec<usize> = (0..2).filter(|i| results[*i].0 == Some(0)).collect();
    assert_eq!(ok.len(), 1, "exactly one success: {results:#?}");
    let (winner, loser) = (ok[0], 1 - ok[0]);
    assert_eq!(
        results[loser].0,
        Some(3),
        "the other is refused as stale: {results:#?}"
    );
    assert!(
        results[loser].1.contains("is stale"),
        "{}",
        results[loser].1
    );
    let expected = ["cron(0 2 * * ? *)", "cron(0 3 * * ? *)"][winner];
    assert_eq!(expression(&em, "shared").as_deref(), Some(expected));
    // The lock is released: a later apply takes it at once.
    assert!(
        results[winner].1.contains("Released the lock"),
        "{}",
        results[winner].1
    );
    // The same plan twice at once: one applies it, the other is refused.
    let out = two_plans(&em, &format!("lock: {lock}\n"));
    let results = concurrent_applies(
        &em,
        &out.path(""),
        &[
            ("b.bin", proxy.endpoint(), wait),
            ("b.bin", proxy.endpoint(), wait),
        ],
    );
    let codes: Vec<Option<i32>> = results.iter().map(|r| r.0).collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(3)),
        "one success, one refusal: {results:#?}"
    );
    assert_eq!(
        expression(&em, "shared").as_deref(),
        Some("cron(0 2 * * ? *)")
    );
}

/// A fresh lock, and `p.bin`: the plan that creates rule `name` at `expr` under it.
fn plan_under_lock(em: &Emulator, name: &str, expr: &str) -> (String, crate::test::Output) {
    let lock = lock_location(em);
    let out = ecsched(em)
        .config(
            "ecsched.yaml",
            &format!("lock: {lock}\n{}", config(&[(name, expr)])),
        )
        .args(["plan", "--all", "-out", "p.bin"])
        .stdout_contains(&format!("+ rule.{name} will be created"))
        .success();
    (lock, out)
}

/// Under a lock, a plan is applied at most once even when what it created was deleted by
/// hand (no plan-id tag left to find): the applied-plan record in S3 refuses it, and
/// `apply PLAN --dry-run` says so too instead of "still applies cleanly".
#[test]
fn with_a_lock_an_applied_plan_is_refused_even_after_its_rule_is_deleted_dry_run_included() {
    let Some(em) = fixtures() else { return };
    let (lock, out) = plan_under_lock(&em, "fresh", "cron(0 4 * * ? *)");
    let out = out
        .test()
        .args(["apply", "p.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    em.block_on(async {
        let eb = em.eventbridge();
        let ids: Vec<String> = eb
            .list_targets_by_rule()
            .rule("fresh")
            .send()
            .await
            .expect("ListTargetsByRule")
            .targets()
            .iter()
            .map(|t| t.id().to_string())
            .collect();
        eb.remove_targets()
            .rule("fresh")
            .set_ids(Some(ids))
            .send()
            .await
            .expect("RemoveTargets");
        eb.delete_rule()
            .name("fresh")
            .send()
            .await
            .expect("DeleteRule");
    });
    let record = format!("it is recorded in {lock}.plans/");
    let out = out
        .test()
        .args(["apply", "p.bin", "--dry-run"])
        .stdout("")
        .stderr_contains("the saved plan p.bin was already applied")
        .stderr_contains(&record)
        .status(3);
    out.test()
        .args(["apply", "p.bin"])
        .stderr_contains("the saved plan p.bin was already applied")
        .stderr_contains(&record)
        .status(3);
    assert_eq!(expression(&em, "fresh"), None, "refused: nothing written");
}

/// A signal that comes while the plan is being recorded as applied (after the lock and the
/// drift check, before the first write) stops the apply with nothing written, and the
/// record is withdrawn: the same plan still applies afterwards.
#[test]
fn a_signal_before_the_first_write_leaves_the_plan_applicable() {
    let Some(em) = fixtures() else { return };
    let (lock, out) = plan_under_lock(&em, "later", "cron(0 5 * * ? *)");
    // The applied-plan record's PutObject takes 5 s: the signal arrives while it is in flight.
    let records = format!("/{}.plans/", lock.trim_start_matches("s3://"));
    let proxy = FaultProxy::start(&em.endpoint).expect("proxy");
    proxy.rule(Rule::rest(
        "PUT",
        &records,
        Fault::Latency(Duration::from_secs(5)),
    ));
    let child = spawn(&em, &proxy.endpoint(), &out.path(""), &["apply", "p.bin"]);
    let (stderr, status) = run_and_signal(child, "INT", |line| {
        let took = line.starts_with("Took the lock");
        if took {
            // After the drift check, the record's PutObject (the second, after the lock's)
            // reaches the proxy, which holds it 5 s: signal then.
            let bucket = lock
                .trim_start_matches("s3://")
                .split('/')
                .next()
                .unwrap_or("");
            let put = format!("PUT /{bucket}/*");
            let deadline = Instant::now() + Duration::from_secs(60);
            while proxy.stats().op(&put).seen < 2 {
                assert!(Instant::now() < deadline, "the record was never written");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        took
    });
    assert_eq!(status, Some(130), "{stderr}");
    assert!(
        stderr.contains("Nothing was written: the plan is not recorded as applied."),
        "{stderr}"
    );
    assert!(stderr.contains("Released the lock"), "{stderr}");
    assert_eq!(expression(&em, "later"), None, "nothing written");
    out.test()
        .args(["apply", "p.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    assert_eq!(
        expression(&em, "later").as_deref(),
        Some("cron(0 5 * * ? *)")
    );
}

#[test]
fn a_lock_held_by_another_run_names_the_holder_and_unlock_breaks_it() {
    let Some(em) = fixtures() else { return };
    let lock = lock_location(&em);
    let out = two_plans(&em, &format!("lock: {lock}\n"));
    // A run that dies while holding the lock (SIGKILL: no cleanup possible).
    let proxy = FaultProxy::start(&em.endpoint).expect("proxy");
    proxy.rule(Rule::operation(
        "PutRule",
        Fault::Latency(Duration::from_secs(30)),
    ));
    let mut child = spawn(&em, &proxy.endpoint(), &out.path(""), &["apply", "b.bin"]);
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let took = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("Took the lock"))
        .expect("the run takes the lock");
    kill(&child, "KILL");
    let _ = child.wait();
    let id = took
        .split("(id ")
        .nth(1)
        .and_then(|s| s.strip_suffix(")."))
        .expect("lock id in the message")
        .to_string();
    // The next run fails at once (no wait), naming the holder and how to break the lock.
    let out = out
        .test()
        .args(["apply", "c.bin"])
        .stderr_contains(&format!("held with id {id}"))
        .stderr_contains(&format!("ecsched unlock {id}"))
        .failure();
    assert_eq!(
        expression(&em, "shared").as_deref(),
        Some("cron(0 1 * * ? *)")
    );
    let out = out.test().args(["unlock", "wrong-id"]).failure();
    let out = out
        .test()
        .args(["unlock", &id])
        .stderr_contains("Broke the lock")
        .success();
    out.test()
        .args(["apply", "c.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    assert_eq!(
        expression(&em, "shared").as_deref(),
        Some("cron(0 3 * * ? *)")
    );
}

/// Without a lock, a write that another run overwrites before it is read back is reported as a
/// concurrent change (exit 1), never "✓": run A writes first and reads back late; run B, which
/// checked the plan before A wrote, writes after A.
#[test]
fn without_a_lock_a_lost_write_is_reported_as_a_concurrent_change() {
    let Some(em) = fixtures() else { return };
    let out = two_plans(&em, "");
    let a = FaultProxy::start(&em.endpoint).expect("proxy a");
    a.rule(Rule::operation(
        "PutRule",
        Fault::Latency(Duration::from_millis(500)),
    ))
    // The 2nd DescribeRule is the read-back: it comes late.
    .rule(Rule::operation("DescribeRule", Fault::Latency(Duration::from_secs(3))).every_nth(2));
    let b = FaultProxy::start(&em.endpoint).expect("proxy b");
    b.rule(Rule::operation(
        "PutRule",
        Fault::Latency(Duration::from_millis(1500)),
    ));
    let none: &[&str] = &[];
    let results = concurrent_applies(
        &em,
        &out.path(""),
        &[("b.bin", a.endpoint(), none), ("c.bin", b.endpoint(), none)],
    );
    assert_eq!(
        results[1].0,
        Some(0),
        "B wrote last and reads back its own: {results:#?}"
    );
    assert_eq!(results[0].0, Some(1), "A's write was lost: {results:#?}");
    assert!(
        results[0].1.contains("concurrent change"),
        "{}",
        results[0].1
    );
    assert!(
        !results[0].1.contains("  ✓ rule.shared"),
        "{}",
        results[0].1
    );
    assert_eq!(
        expression(&em, "shared").as_deref(),
        Some("cron(0 3 * * ? *)")
    );
}

// ---- issue 12: exit codes and one home for defaults --------------------------------------------

#[test]
fn a_plan_file_that_cannot_be_read_is_an_error_not_a_refusal() {
    crate::test::Test::new()
        .args(["apply", "missing.bin"])
        .env("AWS_REGION", "ap-northeast-3")
        .stderr_contains("missing.bin")
        .status(1);
    crate::test::Test::new()
        .file("garbage.bin", "not a plan")
        .args(["show", "garbage.bin"])
        .stderr_contains("not an ecsched plan file")
        .status(3);
}

/// `render` shows exactly what `plan` compares: the rendered config (every default explicit:
/// roles, task counts, retry policies of every target, Scheduler's defaults) plans to no changes
/// against the apply of the original.
#[test]
fn render_and_plan_agree_on_defaults() {
    let Some(em) = fixtures() else { return };
    let original = "
        region: ap-northeast-3
        cluster: app
        rules:
        - name: multi
          scheduleExpression: rate(1 day)
          targets:
          - targetId: first
            taskDefinition: job
            launch_type: FARGATE
          - targetId: second
            taskDefinition: job
            launch_type: FARGATE
            retryPolicy:
              maximumRetryAttempts: 3
        schedules:
        - name: sched
          group: jobs
          scheduleExpression: rate(2 days)
          taskDefinition: job
          launch_type: FARGATE
          network_configuration:
            aws_vpc_configuration:
              subnets: [subnet-0384aa261cd82d385]
    ";
    let out = ecsched(&em)
        .config("ecsched.yaml", original)
        .args(["apply", "--all", "--auto-approve"])
        .success();
    let out = out
        .test()
        .args(["render"])
        .stdout_contains("maximumRetryAttempts: 185")
        .stdout_contains("maximumEventAgeInSeconds: 86400")
        .stdout_contains("timezone: UTC")
        .success();
    std::fs::write(out.path("rendered.yaml"), &out.stdout).expect("rendered");
    out.test()
        .args([
            "-c",
            "rendered.yaml",
            "diff",
            "--all",
            "--detailed-exitcode",
        ])
        .stdout("")
        .stderr("No changes. Live state matches the configuration.\n")
        .success();
}
