//! The real binary through the fault proxy (`fault_proxy.rs`) in front of the emulator:
//! throttling and 5xx on reads are retried, a dropped connection on a write is retried, a
//! non-retryable write failure mid-apply stops the apply with an exact report and a re-run
//! converges (directly and through a saved plan), exhausted retries fail clearly, and a config
//! that does not validate makes no request at all.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::ContainerDefinition;

use crate::emulator::{Emulator, emulator};
use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::test::{Output, Test};

/// Three rules (written in this order by apply) and no schedules.
const THREE_RULES: &str = "
    region: ap-northeast-3
    cluster: faults
    rules:
    - name: alpha
      scheduleExpression: cron(0 1 * * ? *)
      taskDefinition: app
    - name: bravo
      scheduleExpression: cron(0 2 * * ? *)
      taskDefinition: app
    - name: charlie
      scheduleExpression: cron(0 3 * * ? *)
      taskDefinition: app
";

/// Two rules and a schedule in a group of its own.
const RULES_AND_SCHEDULE: &str = "
    region: ap-northeast-3
    cluster: faults
    rules:
    - name: alpha
      scheduleExpression: cron(0 1 * * ? *)
      taskDefinition: app
    - name: bravo
      scheduleExpression: rate(5 minutes)
      taskDefinition: app
    schedules:
    - name: nightly
      group: faults
      scheduleExpression: cron(0 4 * * ? *)
      timezone: Asia/Tokyo
      taskDefinition: app
      launch_type: FARGATE
      network_configuration:
        aws_vpc_configuration:
          subnets: [subnet-0384aa261cd82d385]
";

const NO_CHANGES: &str = "No changes. Live state matches the configuration.\n";

/// One test's emulator account (task definition `app` registered) and a proxy in front of it.
struct Setup {
    em: Emulator,
    proxy: FaultProxy,
}

fn setup() -> Option<Setup> {
    let em = emulator()?;
    em.block_on(async {
        em.ecs()
            .register_task_definition()
            .family("app")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("nginx")
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .expect("RegisterTaskDefinition");
    });
    let proxy = FaultProxy::start(&em.endpoint).expect("starting the fault proxy");
    Some(Setup { em, proxy })
}

impl Setup {
    /// The same account, reached through the proxy.
    fn proxied(&self) -> Emulator {
        Emulator {
            endpoint: self.proxy.endpoint(),
            ..self.em.clone()
        }
    }

    /// `ecsched` in a fresh tempdir holding `config` as `ecsched.yaml`, straight to the emulator.
    fn direct(&self, config: &str) -> Test {
        Test::new()
            .emulator(&self.em)
            .config("ecsched.yaml", config)
    }

    /// `ecsched` in a fresh tempdir holding `config`, through the proxy.
    fn through_proxy(&self, config: &str) -> Test {
        Test::new()
            .emulator(&self.proxied())
            .config("ecsched.yaml", config)
    }

    /// Applies `config` without faults, straight to the emulator.
    fn apply_directly(&self, config: &str) -> Output {
        self.direct(config)
            .args(["apply", "--all", "--auto-approve"])
            .success()
    }

    /// Names of the rules in the account (default bus), straight from the emulator.
    fn rule_names(&self) -> Vec<String> {
        self.em.block_on(async {
            let out = self
                .em
                .eventbridge()
                .list_rules()
                .send()
                .await
                .expect("ListRules");
            let mut names: Vec<String> = out
                .rules()
                .iter()
                .filter_map(|r| r.name().map(str::to_owned))
                .collect();
            names.sort();
            names
        })
    }

    /// Target ids of `rule`, straight from the emulator.
    fn target_ids(&self, rule: &str) -> Vec<String> {
        self.em.block_on(async {
            let out = self
                .em
                .eventbridge()
                .list_targets_by_rule()
                .rule(rule)
                .send()
                .await
                .expect("ListTargetsByRule");
            out.targets().iter().map(|t| t.id().to_owned()).collect()
        })
    }
}

/// `diff --all --detailed-exitcode` straight to the emulator: exit 0, nothing to change.
#[track_caller]
fn assert_converged(out: Output, em: &Emulator) -> Output {
    out.test()
        .emulator(em)
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout("")
        .stderr(NO_CHANGES)
        .success()
}

#[test]
fn throttled_reads_are_retried_and_diff_succeeds() {
    let Some(s) = setup() else { return };
    let out = s.apply_directly(THREE_RULES);
    s.proxy
        .rule(Rule::operation("ListRules", Fault::Throttle).first(3))
        .rule(Rule::operation("ListTargetsByRule", Fault::Throttle).first(3));

    out.test()
        .emulator(&s.proxied())
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout("")
        .stderr(NO_CHANGES)
        .success();

    let stats = s.proxy.stats();
    let list = stats.op("ListRules");
    assert_eq!((list.injected, list.forwarded), (3, 1), "{stats:#?}");
    let targets = stats.op("ListTargetsByRule");
    assert_eq!((targets.injected, targets.forwarded), (3, 3), "{stats:#?}");
    assert_eq!(stats.total().upstream_5xx, 0, "{stats:#?}");
}

#[test]
fn server_errors_on_reads_are_retried_and_diff_succeeds() {
    let Some(s) = setup() else { return };
    let out = s.apply_directly(RULES_AND_SCHEDULE);
    s.proxy
        .rule(Rule::operation("ListRules", Fault::Status(503)).first(2))
        .rule(Rule::operation("ListTargetsByRule", Fault::Status(500)).first(2))
        .rule(Rule::operation("ListTagsForResource", Fault::Status(503)).first(1))
        // Scheduler is a REST API: ListSchedules is `GET /schedules`, GetSchedule
        // `GET /schedules/NAME`.
        .rule(Rule::operation("GET /schedules", Fault::Status(503)).first(1))
        .rule(Rule::rest("GET", "/schedules/", Fault::Status(500)).first(1));

    out.test()
        .emulator(&s.proxied())
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout("")
        .stderr(NO_CHANGES)
        .success();

    let stats = s.proxy.stats();
    for (op, injected) in [
        ("ListRules", 2),
        ("ListTargetsByRule", 2),
        ("ListTagsForResource", 1),
        ("GET /schedules", 1),
        ("GET /schedules/*", 1),
    ] {
        assert_eq!(stats.op(op).injected, injected, "{op}: {stats:#?}");
    }
    assert_eq!(stats.total().upstream_5xx, 0, "{stats:#?}");
}

#[test]
fn dropped_connection_on_put_targets_is_retried_and_apply_succeeds() {
    let Some(s) = setup() else { return };
    s.proxy
        .rule(Rule::operation("PutTargets", Fault::Drop).first(1))
        .rule(Rule::operation("ListTargetsByRule", Fault::Drop).first(1));

    let out = s
        .through_proxy(THREE_RULES)
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 3 of 3 changes applied.")
        .success();

    let stats = s.proxy.stats();
    let put = stats.op("PutTargets");
    assert_eq!((put.injected, put.forwarded), (1, 3), "{stats:#?}");
    assert_eq!(stats.op("ListTargetsByRule").injected, 1, "{stats:#?}");
    assert_converged(out, &s.em);
    for rule in ["alpha", "bravo", "charlie"] {
        assert_eq!(s.target_ids(rule).len(), 1, "{rule}");
    }
}

/// PutTargets of `bravo` (the 2nd rule) always fails with a non-retryable error.
fn fail_bravo_put_targets(proxy: &FaultProxy) {
    proxy.rule(
        Rule::operation(
            "PutTargets",
            Fault::validation("Parameter EcsParameters is not valid (injected)."),
        )
        .body_contains(r#""Rule":"bravo""#),
    );
}

/// What apply reports when bravo's PutTargets fails: alpha applied, bravo failed with the AWS
/// error (after its PutRule), charlie not attempted.
const BRAVO_FAILED: [&str; 4] = [
    "  ✓ rule.alpha created\n",
    "  ✗ rule.bravo create FAILED: PutTargets for rule \"bravo\" failed: ValidationException: \
     Parameter EcsParameters is not valid (injected).; rule \"bravo\" is partly written: PutRule \
     succeeded before that\n",
    "  - rule.charlie create: not applied\n",
    "Apply failed: 1 of 3 changes applied.\n",
];

/// Runs `test` (an apply, one call at a time so that the order is fixed) and checks the report:
/// [`BRAVO_FAILED`] in that order, exit 1.
#[track_caller]
fn expect_bravo_failed(test: Test) -> Output {
    let mut test = test
        .env("ECSCHED_CONCURRENCY", "1")
        .stderr_contains("Re-run plan and apply to converge");
    for line in BRAVO_FAILED {
        test = test.stderr_contains(line);
    }
    let out = test.failure();
    let report = &out.stderr[out.stderr.find(BRAVO_FAILED[0]).unwrap_or(0)..];
    assert!(
        report.contains(&BRAVO_FAILED.concat()),
        "the report lines are not together and in order:\n{}",
        out.stderr
    );
    out
}

/// After bravo's failure: alpha whole, bravo's rule without targets, no charlie; the
/// failing PutTargets was sent once (not retried) and charlie's never.
#[track_caller]
fn assert_stopped_at_bravo(s: &Setup) {
    assert_eq!(s.rule_names(), ["alpha", "bravo"]);
    assert_eq!(s.target_ids("alpha").len(), 1);
    assert_eq!(s.target_ids("bravo"), Vec::<String>::new());
    let stats = s.proxy.stats();
    let put = stats.op("PutTargets");
    assert_eq!((put.forwarded, put.injected), (1, 1), "{stats:#?}");
    assert_eq!(stats.op("PutRule").seen, 2, "{stats:#?}");
}

#[test]
fn failed_write_mid_apply_reports_exactly_and_a_rerun_converges() {
    let Some(s) = setup() else { return };
    fail_bravo_put_targets(&s.proxy);

    let out = expect_bravo_failed(s.through_proxy(THREE_RULES).args([
        "apply",
        "--all",
        "--auto-approve",
    ]));
    assert_stopped_at_bravo(&s);

    // The fault is gone: plan shows what is left, apply finishes it, diff is clean.
    s.proxy.clear_rules();
    let out = out
        .test()
        .emulator(&s.proxied())
        .args(["plan", "--all", "--detailed-exitcode"])
        .stdout_contains("~ rule.bravo will be updated")
        .stdout_contains("+ rule.charlie will be created")
        .stdout_contains("Plan: 1 to add, 1 to change, 0 to destroy.")
        .status(2);
    assert!(!out.stdout.contains("rule.alpha"), "{}", out.stdout);
    let out = out
        .test()
        .emulator(&s.proxied())
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 2 of 2 changes applied.")
        .success();
    assert_converged(out, &s.em);
    assert_eq!(s.rule_names(), ["alpha", "bravo", "charlie"]);
    assert_eq!(s.target_ids("bravo").len(), 1);
}

#[test]
fn failed_write_from_a_saved_plan_reports_exactly_and_a_new_plan_converges() {
    let Some(s) = setup() else { return };
    let out = s
        .direct(THREE_RULES)
        .args(["plan", "--all", "--out", "changes.plan"])
        .stdout_contains("Plan: 3 to add, 0 to change, 0 to destroy.")
        .success();
    fail_bravo_put_targets(&s.proxy);

    let out = expect_bravo_failed(
        out.test()
            .emulator(&s.proxied())
            .args(["apply", "changes.plan"]),
    );
    assert_stopped_at_bravo(&s);

    // The old plan no longer matches live state: refused whole, nothing written.
    s.proxy.clear_rules();
    s.proxy.reset_stats();
    let out = out
        .test()
        .emulator(&s.proxied())
        .args(["apply", "changes.plan"])
        // bravo too: PutRule created it with its tags before PutTargets failed.
        .stderr_contains(
            "was already applied (in whole or in part): rule.alpha, rule.bravo already carry",
        )
        .status(3);
    let stats = s.proxy.stats();
    for write in ["PutRule", "PutTargets", "TagResource"] {
        assert_eq!(stats.op(write).seen, 0, "{write}: {stats:#?}");
    }

    let out = out
        .test()
        .emulator(&s.proxied())
        .args(["plan", "--all", "--out", "changes.plan"])
        .stdout_contains("Plan: 1 to add, 1 to change, 0 to destroy.")
        .success();
    let out = out
        .test()
        .emulator(&s.proxied())
        .args(["apply", "changes.plan"])
        .stderr_contains("Apply complete: 2 of 2 changes applied.")
        .success();
    assert_converged(out, &s.em);
}

/// Persistent 503 on ListRules: ecsched retries, then diff fails naming the call and the error.
/// `AWS_MAX_ATTEMPTS=2` is honoured: ecsched reads it (a positive integer) into
/// `AwsOptions::max_attempts` (default 8), the attempts of its own retries (the SDK's are off),
/// so ListRules is tried exactly twice, one jittered backoff (under 1 s) apart.
#[test]
fn exhausted_retries_fail_clearly_and_promptly() {
    let Some(s) = setup() else { return };
    let out = s.apply_directly(THREE_RULES);
    s.proxy
        .rule(Rule::operation("ListRules", Fault::Status(503)));

    let started = Instant::now();
    out.test()
        .emulator(&s.proxied())
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["diff", "--all"])
        .stdout("")
        .stderr(
            "error: ListRules for event bus \"default\" failed: ServiceUnavailable: injected HTTP \
             503\n",
        )
        .timeout(Duration::from_secs(110))
        .failure();
    let elapsed = started.elapsed();

    let stats = s.proxy.stats();
    let list = stats.op("ListRules");
    assert_eq!(list.forwarded, 0, "{stats:#?}");
    assert_eq!(
        list.seen, 2,
        "ListRules attempts: expected 2 (AWS_MAX_ATTEMPTS): {stats:#?}"
    );
    // Nothing that needs the listing was attempted (ListRuleNamesByTarget and the schedule
    // listing run alongside it).
    for op in stats.operations.keys() {
        assert!(
            [
                "GetCallerIdentity",
                "DescribeTaskDefinition",
                "ListRules",
                "ListRuleNamesByTarget",
                "GET /schedules"
            ]
            .iter()
            .any(|o| op.ends_with(o)),
            "{op} was called: {stats:#?}"
        );
    }
    assert!(
        elapsed < Duration::from_secs(100),
        "giving up took {elapsed:?}"
    );
}

#[test]
fn invalid_config_makes_no_request() {
    let Some(s) = setup() else { return };
    let bad = THREE_RULES.replace("cron(0 2 * * ? *)", "cron(0 2 * * *)");
    for args in [
        &["apply", "--all", "--auto-approve"][..],
        &["plan", "--all", "--out", "x.plan"],
        &["diff", "--all"],
    ] {
        let out = s
            .through_proxy(&bad)
            .args(args)
            .stdout("")
            .stderr_contains("rule \"bravo\": invalid cron expression \"cron(0 2 * * *)\"")
            .failure();
        assert!(!out.path("x.plan").exists());
    }
    let stats = s.proxy.stats();
    assert_eq!(stats.total().seen, 0, "{stats:#?}");
}

/// Twenty rules written in parallel, a non-retryable failure injected on one: the report lists
/// every rule exactly once, and exactly as live state shows it (applied ones exist with their
/// target, the failed one is partly written, rules "not applied" were never written); a re-run
/// converges.
#[test]
fn a_failure_among_parallel_writes_is_reported_exactly_and_a_rerun_converges() {
    let Some(s) = setup() else { return };
    let mut config = String::from("region: ap-northeast-3\ncluster: faults\nrules:\n");
    for i in 0..20 {
        config.push_str(&format!(
            "- name: r{i:02}\n  scheduleExpression: cron({i} 1 * * ? *)\n  taskDefinition: app\n"
        ));
    }
    s.proxy
        .rule(Rule::any(Fault::Latency(Duration::from_millis(20))))
        .rule(
            Rule::operation(
                "PutTargets",
                Fault::validation("Parameter EcsParameters is not valid (injected)."),
            )
            .body_contains(r#""Rule":"r07""#),
        );
    let out = s
        .through_proxy(&config)
        .env("ECSCHED_CONCURRENCY", "8")
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("  ✗ rule.r07 create FAILED: PutTargets for rule \"r07\" failed")
        .failure();
    let live = s.rule_names();
    let mut applied = 0;
    for i in 0..20 {
        let name = format!("r{i:02}");
        let address = format!("rule.{name}");
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains(&format!("{address} ")))
            .collect();
        assert_eq!(lines.len(), 1, "{address} reported once: {}", out.stderr);
        let line = lines[0];
        if line.starts_with("  ✓") {
            applied += 1;
            assert!(live.contains(&name), "{address} applied but absent");
            assert_eq!(s.target_ids(&name).len(), 1, "{address} has its target");
        } else if line.starts_with("  -") {
            assert!(!live.contains(&name), "{address} not applied but written");
        } else {
            assert_eq!(name, "r07", "{line}");
            assert!(s.target_ids(&name).is_empty(), "r07 is partly written");
        }
    }
    assert!(
        out.stderr
            .contains(&format!("Apply failed: {applied} of 20 changes applied.\n")),
        "{}",
        out.stderr
    );
    assert!(
        applied < 19,
        "no write started after the failure: {applied}"
    );

    s.proxy.clear_rules();
    let out = out
        .test()
        .emulator(&s.proxied())
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains(&format!(
            "Apply complete: {} of {} changes applied.",
            20 - applied,
            20 - applied
        ))
        .success();
    assert_converged(out, &s.em);
    assert_eq!(s.rule_names().len(), 20);
}
