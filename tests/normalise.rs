//! No perpetual diffs (SPEC §4): desired and live state are compared as normalised models.
//! Each case creates the live rule exactly as ecsched would (`ecsched apply --all` with a
//! baseline config), then diffs a config that states the same thing differently: it must
//! report no changes (exit 0 under `--detailed-exitcode`). Each case also checks that the
//! `dump` of that live state plans to no changes. ecschedule shows perpetual diffs for most of
//! these cases.
//!
//! The cases are one table ([`no_perpetual_diff!`]), one `#[test]` per row, run by [`run`].
//! In configs, `ACCOUNT` stands for the test's account id.

use aws_sdk_eventbridge::types as eb;

use crate::emulator::{Emulator, emulator};
use crate::fixtures::{create_cluster, register_task_definition, snapshot};
use crate::test::Output;
use crate::workflow::ecsched;

/// What `diff` says when nothing differs.
const NO_CHANGES: &str = "No changes. Live state matches the configuration.\n";

/// A cluster `app` and task definition `job` (3 revisions, container `app`) in a fresh
/// account.
fn fixtures() -> Option<Emulator> {
    let em = emulator()?;
    em.block_on(async {
        create_cluster(&em, "app").await;
        for _ in 0..3 {
            register_task_definition(&em, "job", "app").await;
        }
    });
    Some(em)
}

/// Applies `baseline` with `ecsched apply --all`; returns the run (its tempdir holds
/// `ecsched.yaml`).
#[track_caller]
fn apply_baseline(em: &Emulator, baseline: &Job) -> Output {
    let out = ecsched(em)
        .config("ecsched.yaml", &baseline.yaml(em))
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    // Sanity: the baseline itself plans to no changes.
    out.test()
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout("")
        .stderr(NO_CHANGES)
        .success()
}

/// `diff --all --detailed-exitcode` with `variant` must report no changes, and so must the
/// `dump` of the live state.
#[track_caller]
fn assert_no_changes(em: &Emulator, after_baseline: Output, case: &str, variant: &Job) {
    let out = after_baseline
        .test()
        .config("variant.yaml", &variant.yaml(em))
        .args(["-c", "variant.yaml", "diff", "--all", "--detailed-exitcode"])
        .stdout("")
        .stderr(NO_CHANGES)
        .status(0);
    let out = out
        .test()
        .args([
            "-c",
            "variant.yaml",
            "plan",
            "--all",
            "--prune",
            "--detailed-exitcode",
        ])
        .stdout(NO_CHANGES)
        .stderr("")
        .status(0);
    let dumped = out
        .test()
        .args(["dump", "--cluster", "app"])
        .stderr("")
        .success();
    std::fs::write(dumped.path("dumped.yaml"), &dumped.stdout).expect("writing the dump");
    let dump_text = dumped.stdout.clone();
    let out = dumped
        .test()
        .args(["-c", "dumped.yaml", "diff", "--all", "--detailed-exitcode"])
        .status(0);
    assert!(
        out.stdout.is_empty() && out.stderr == NO_CHANGES,
        "{case}: the dump of the live state must plan to no changes\n--- dump ---\n{}\n--- diff stdout ---\n{}\n--- diff stderr ---\n{}",
        dump_text,
        out.stdout,
        out.stderr
    );
}

/// The config of the one rule `job` each case is about. The default ([`JOB`]) is
///
/// ```yaml
/// region: ap-northeast-3
/// cluster: app
/// rules:
/// - name: job
///   scheduleExpression: cron(0 1 * * ? *)
///   taskDefinition: job
///   launch_type: FARGATE
/// ```
#[derive(Clone, Copy)]
struct Job {
    /// The top-level `cluster:`.
    cluster: &'static str,
    /// Top-level keys after `cluster:` (YAML lines, see [`crate::test::unindent`]).
    top: &'static str,
    /// The rule's `taskDefinition:`.
    task_definition: &'static str,
    /// The rule's keys after `launch_type:` (YAML lines, see [`crate::test::unindent`]).
    rule: &'static str,
}

const JOB: Job = Job {
    cluster: "app",
    top: "",
    task_definition: "job",
    rule: "",
};

impl Job {
    /// The config text, `ACCOUNT` replaced by `em`'s account id.
    fn yaml(&self, em: &Emulator) -> String {
        let mut text = format!("region: ap-northeast-3\ncluster: {}\n", self.cluster);
        text.push_str(&crate::test::unindent(self.top));
        text.push_str("rules:\n- name: job\n  scheduleExpression: cron(0 1 * * ? *)\n");
        text.push_str(&format!("  taskDefinition: {}\n", self.task_definition));
        text.push_str("  launch_type: FARGATE\n");
        for line in crate::test::unindent(self.rule).lines() {
            text.push_str(&format!("  {line}\n"));
        }
        text.replace("ACCOUNT", &em.account_id)
    }
}

/// One row of the table.
struct Case {
    /// What the variant states differently (named when the dump check fails).
    what: &'static str,
    /// Applied first with `apply --all`: the live rule as ecsched writes it.
    baseline: Job,
    /// Runs once the baseline is applied: checks how ecsched wrote a field, or rewrites the live
    /// rule as another tool would.
    live: Option<fn(&Emulator)>,
    /// The same thing stated another way: must plan to no changes, and so must the dump.
    variant: Job,
}

/// Defaults of a row: `JOB` for both configs, no live step.
const CASE: Case = Case {
    what: "",
    baseline: JOB,
    live: None,
    variant: JOB,
};

/// The runner: fresh account, baseline applied, live step, then [`assert_no_changes`].
#[track_caller]
fn run(case: Case) {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, &case.baseline);
    if let Some(live) = case.live {
        live(&em);
    }
    assert_no_changes(&em, out, case.what, &case.variant);
}

/// Asserts a field of the live rule `job`'s target; `ACCOUNT` in `expected` stands for the
/// account id.
#[track_caller]
fn assert_live_target(
    em: &Emulator,
    field: fn(&eb::Target) -> Option<&str>,
    expected: &str,
    why: &str,
) {
    let live = em.block_on(snapshot(em, "job")).expect("rule job");
    assert_eq!(
        field(&live.targets[0]),
        Some(expected.replace("ACCOUNT", &em.account_id).as_str()),
        "{why}"
    );
}

/// Rewrites the live Input of rule `job` with the environment in another order (and other
/// spacing), as another tool or the console could write it; keeps everything else (the
/// tracking tag too).
fn reorder_live_environment(em: &Emulator) {
    em.block_on(async {
        let live = snapshot(em, "job").await.expect("rule job");
        let target = &live.targets[0];
        let input = target.input().expect("Input");
        assert!(
            input.find("ALPHA") < input.find("CHARLIE"),
            "ecsched writes the environment sorted: {input}"
        );
        let reordered = eb::Target::builder()
            .id(target.id())
            .arn(target.arn())
            .set_role_arn(target.role_arn().map(str::to_string))
            .set_ecs_parameters(target.ecs_parameters().cloned())
            .set_retry_policy(target.retry_policy().cloned())
            .input(
                r#"{"containerOverrides": [{"name": "app", "command": ["run", "nightly"], "environment": [{"name": "CHARLIE", "value": "3"}, {"name": "ALPHA", "value": "1"}, {"name": "BRAVO", "value": "2"}]}]}"#,
            )
            .build()
            .expect("target");
        crate::fixtures::put_targets(em, "job", vec![reordered]).await;
    });
}

/// The table: `name { field: value, … }` per row, fields of [`Case`] (the rest from
/// [`CASE`]); each row becomes `#[test] fn name`, so a failure names its case.
macro_rules! no_perpetual_diff {
    ($($name:ident { $($field:ident: $value:expr),* $(,)? })*) => {
        $(
            #[test]
            fn $name() {
                let mut case = CASE;
                $(case.$field = $value;)*
                run(case);
            }
        )*
    };
}

/// The network configuration ecsched writes for one subnet and one security group.
const NETWORK: &str = "
    network_configuration:
      aws_vpc_configuration:
        subnets:
        - subnet-0384aa261cd82d385
        security_groups:
        - sg-0168b19957a56f367
        assign_public_ip: DISABLED
    ";

no_perpetual_diff! {
    explicit_task_count_one {
        what: "taskCount: 1",
        variant: Job { rule: "taskCount: 1", ..JOB },
    }
    default_role_as_full_arn {
        what: "role as ARN",
        variant: Job { rule: "role: arn:aws:iam::ACCOUNT:role/ecsEventsRole", ..JOB },
    }
    default_event_bus_as_arn {
        what: "eventBusName as the default bus ARN",
        variant: Job {
            rule: "eventBusName: arn:aws:events:ap-northeast-3:ACCOUNT:event-bus/default",
            ..JOB
        },
    }
    role_name_with_path_vs_arn {
        what: "role path as ARN",
        baseline: Job { rule: "role: service-role/scheduler", ..JOB },
        live: Some(|em| assert_live_target(
            em,
            eb::Target::role_arn,
            "arn:aws:iam::ACCOUNT:role/service-role/scheduler",
            "a role name with a path resolves to the role ARN with that path",
        )),
        variant: Job { rule: "role: arn:aws:iam::ACCOUNT:role/service-role/scheduler", ..JOB },
    }
    top_level_role_vs_per_rule_arn {
        what: "top-level role vs rule role ARN",
        baseline: Job { top: "role: service-role/scheduler\n", ..JOB },
        variant: Job { rule: "role: arn:aws:iam::ACCOUNT:role/service-role/scheduler", ..JOB },
    }
    task_definition_as_full_arn_vs_family {
        what: "task definition ARN",
        variant: Job {
            task_definition: "arn:aws:ecs:ap-northeast-3:ACCOUNT:task-definition/job",
            ..JOB
        },
    }
    task_definition_revision_form_vs_arn {
        what: "family:3 as ARN",
        baseline: Job { task_definition: "job:3", ..JOB },
        live: Some(|em| assert_live_target(
            em,
            |t| t.ecs_parameters().map(eb::EcsParameters::task_definition_arn),
            "arn:aws:ecs:ap-northeast-3:ACCOUNT:task-definition/job:3",
            "family:3 pins revision 3",
        )),
        variant: Job {
            task_definition: "arn:aws:ecs:ap-northeast-3:ACCOUNT:task-definition/job:3",
            ..JOB
        },
    }
    dead_letter_queue_by_name_vs_arn {
        what: "DLQ ARN",
        baseline: Job {
            rule: "
                dead_letter_config:
                  sqs: job-dlq
                ",
            ..JOB
        },
        live: Some(|em| assert_live_target(
            em,
            |t| t.dead_letter_config().and_then(|d| d.arn()),
            "arn:aws:sqs:ap-northeast-3:ACCOUNT:job-dlq",
            "a DLQ name resolves to the queue ARN",
        )),
        variant: Job {
            rule: "
                dead_letter_config:
                  sqs: arn:aws:sqs:ap-northeast-3:ACCOUNT:job-dlq
                ",
            ..JOB
        },
    }
    environment_order_in_config_and_in_live_input {
        what: "environment order",
        baseline: Job {
            rule: r#"
                containerOverrides:
                - name: app
                  command: [run, nightly]
                  environment:
                    ALPHA: "1"
                    BRAVO: "2"
                    CHARLIE: "3"
                "#,
            ..JOB
        },
        live: Some(reorder_live_environment),
        variant: Job {
            rule: r#"
                containerOverrides:
                - name: app
                  command: [run, nightly]
                  environment:
                    CHARLIE: "3"
                    BRAVO: "2"
                    ALPHA: "1"
                "#,
            ..JOB
        },
    }
    assign_public_ip_omitted_vs_disabled {
        what: "assign_public_ip omitted",
        baseline: Job { rule: NETWORK, ..JOB },
        variant: Job {
            rule: "
                network_configuration:
                  aws_vpc_configuration:
                    subnets:
                    - subnet-0384aa261cd82d385
                    security_groups:
                    - sg-0168b19957a56f367
                ",
            ..JOB
        },
    }
    security_groups_omitted_vs_empty_list {
        what: "security_groups: []",
        baseline: Job {
            rule: "
                network_configuration:
                  aws_vpc_configuration:
                    subnets:
                    - subnet-0384aa261cd82d385
                ",
            ..JOB
        },
        variant: Job {
            rule: "
                network_configuration:
                  aws_vpc_configuration:
                    subnets:
                    - subnet-0384aa261cd82d385
                    security_groups: []
                    assign_public_ip: DISABLED
                ",
            ..JOB
        },
    }
    retry_policy_defaults_stated_vs_omitted {
        what: "retryPolicy defaults",
        variant: Job {
            rule: "
                retryPolicy:
                  maximumRetryAttempts: 185
                  maximumEventAgeInSeconds: 86400
                ",
            ..JOB
        },
    }
    empty_command_override_vs_none {
        what: "command: []",
        baseline: Job {
            rule: "
                containerOverrides:
                - name: app
                  environment:
                    MODE: nightly
                ",
            ..JOB
        },
        variant: Job {
            rule: "
                containerOverrides:
                - name: app
                  command: []
                  environment:
                    MODE: nightly
                ",
            ..JOB
        },
    }
    cluster_given_as_arn {
        what: "cluster ARN",
        variant: Job { cluster: "arn:aws:ecs:ap-northeast-3:ACCOUNT:cluster/app", ..JOB },
    }
    explicit_disabled_false {
        what: "disabled: false",
        variant: Job { rule: "disabled: false", ..JOB },
    }
    empty_propagate_tags {
        what: "propagateTags: \"\"",
        variant: Job { rule: "propagateTags: \"\"", ..JOB },
    }
}
