//! No perpetual diffs (SPEC §4): desired and live state are compared as normalised models.
//! Each test creates the live rule exactly as ecsched would (`ecsched apply --all` with a
//! baseline config), then diffs a config that states the same thing differently: it must
//! report no changes (exit 0 under `--detailed-exitcode`). Each test also checks that the
//! `dump` of that live state plans to no changes. ecschedule shows perpetual diffs for most of
//! these cases.
//!
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

fn config(em: &Emulator, text: &str) -> String {
    crate::test::unindent(text).replace("ACCOUNT", &em.account_id)
}

/// Applies `baseline` with `ecsched apply --all`; returns the run (its tempdir holds
/// `ecsched.yaml`).
#[track_caller]
fn apply_baseline(em: &Emulator, baseline: &str) -> Output {
    let out = ecsched(em)
        .config("ecsched.yaml", &config(em, baseline))
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
fn assert_no_changes(em: &Emulator, after_baseline: Output, case: &str, variant: &str) {
    let out = after_baseline
        .test()
        .config("variant.yaml", &config(em, variant))
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

const BASE: &str = r#"
    region: ap-northeast-3
    cluster: app
    rules:
    - name: job
      scheduleExpression: cron(0 1 * * ? *)
      taskDefinition: job
      launch_type: FARGATE
    "#;

#[test]
fn explicit_task_count_one() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "taskCount: 1",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          taskCount: 1
        "#,
    );
}

#[test]
fn default_role_as_full_arn() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "role as ARN",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          role: arn:aws:iam::ACCOUNT:role/ecsEventsRole
        "#,
    );
}

#[test]
fn role_name_with_path_vs_arn() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          role: service-role/scheduler
        "#,
    );
    let live = em.block_on(snapshot(&em, "job")).expect("rule job");
    assert_eq!(
        live.targets[0].role_arn(),
        Some(format!("arn:aws:iam::{}:role/service-role/scheduler", em.account_id).as_str()),
        "a role name with a path resolves to the role ARN with that path"
    );
    assert_no_changes(
        &em,
        out,
        "role path as ARN",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          role: arn:aws:iam::ACCOUNT:role/service-role/scheduler
        "#,
    );
}

#[test]
fn top_level_role_vs_per_rule_arn() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        role: service-role/scheduler
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
        "#,
    );
    assert_no_changes(
        &em,
        out,
        "top-level role vs rule role ARN",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          role: arn:aws:iam::ACCOUNT:role/service-role/scheduler
        "#,
    );
}

#[test]
fn task_definition_as_full_arn_vs_family() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "task definition ARN",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: arn:aws:ecs:ap-northeast-3:ACCOUNT:task-definition/job
          launch_type: FARGATE
        "#,
    );
}

#[test]
fn task_definition_revision_form_vs_arn() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job:3
          launch_type: FARGATE
        "#,
    );
    let live = em.block_on(snapshot(&em, "job")).expect("rule job");
    assert_eq!(
        live.targets[0]
            .ecs_parameters()
            .map(eb::EcsParameters::task_definition_arn),
        Some(
            format!(
                "arn:aws:ecs:ap-northeast-3:{}:task-definition/job:3",
                em.account_id
            )
            .as_str()
        ),
        "family:3 pins revision 3"
    );
    assert_no_changes(
        &em,
        out,
        "family:3 as ARN",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: arn:aws:ecs:ap-northeast-3:ACCOUNT:task-definition/job:3
          launch_type: FARGATE
        "#,
    );
}

#[test]
fn dead_letter_queue_by_name_vs_arn() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          dead_letter_config:
            sqs: job-dlq
        "#,
    );
    let live = em.block_on(snapshot(&em, "job")).expect("rule job");
    assert_eq!(
        live.targets[0].dead_letter_config().and_then(|d| d.arn()),
        Some(format!("arn:aws:sqs:ap-northeast-3:{}:job-dlq", em.account_id).as_str()),
        "a DLQ name resolves to the queue ARN"
    );
    assert_no_changes(
        &em,
        out,
        "DLQ ARN",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          dead_letter_config:
            sqs: arn:aws:sqs:ap-northeast-3:ACCOUNT:job-dlq
        "#,
    );
}

#[test]
fn environment_order_in_config_and_in_live_input() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          containerOverrides:
          - name: app
            command: [run, nightly]
            environment:
              ALPHA: "1"
              BRAVO: "2"
              CHARLIE: "3"
        "#,
    );
    // Rewrite the live Input with the environment in another order (and other spacing), as
    // another tool or the console could write it; keep everything else (the tracking tag too).
    em.block_on(async {
        let live = snapshot(&em, "job").await.expect("rule job");
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
        crate::fixtures::put_targets(&em, "job", vec![reordered]).await;
    });
    assert_no_changes(
        &em,
        out,
        "environment order",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          containerOverrides:
          - name: app
            command: [run, nightly]
            environment:
              CHARLIE: "3"
              BRAVO: "2"
              ALPHA: "1"
        "#,
    );
}

const NETWORK_BASE: &str = r#"
    region: ap-northeast-3
    cluster: app
    rules:
    - name: job
      scheduleExpression: cron(0 1 * * ? *)
      taskDefinition: job
      launch_type: FARGATE
      network_configuration:
        aws_vpc_configuration:
          subnets:
          - subnet-0384aa261cd82d385
          security_groups:
          - sg-0168b19957a56f367
          assign_public_ip: DISABLED
    "#;

#[test]
fn assign_public_ip_omitted_vs_disabled() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, NETWORK_BASE);
    assert_no_changes(
        &em,
        out,
        "assign_public_ip omitted",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          network_configuration:
            aws_vpc_configuration:
              subnets:
              - subnet-0384aa261cd82d385
              security_groups:
              - sg-0168b19957a56f367
        "#,
    );
}

#[test]
fn security_groups_omitted_vs_empty_list() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          network_configuration:
            aws_vpc_configuration:
              subnets:
              - subnet-0384aa261cd82d385
        "#,
    );
    assert_no_changes(
        &em,
        out,
        "security_groups: []",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          network_configuration:
            aws_vpc_configuration:
              subnets:
              - subnet-0384aa261cd82d385
              security_groups: []
              assign_public_ip: DISABLED
        "#,
    );
}

#[test]
fn retry_policy_defaults_stated_vs_omitted() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "retryPolicy defaults",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          retryPolicy:
            maximumRetryAttempts: 185
            maximumEventAgeInSeconds: 86400
        "#,
    );
}

#[test]
fn empty_command_override_vs_none() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(
        &em,
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          containerOverrides:
          - name: app
            environment:
              MODE: nightly
        "#,
    );
    assert_no_changes(
        &em,
        out,
        "command: []",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          containerOverrides:
          - name: app
            command: []
            environment:
              MODE: nightly
        "#,
    );
}

#[test]
fn cluster_given_as_arn() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "cluster ARN",
        r#"
        region: ap-northeast-3
        cluster: arn:aws:ecs:ap-northeast-3:ACCOUNT:cluster/app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
        "#,
    );
}

#[test]
fn explicit_disabled_false() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "disabled: false",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          disabled: false
        "#,
    );
}

#[test]
fn empty_propagate_tags() {
    let Some(em) = fixtures() else { return };
    let out = apply_baseline(&em, BASE);
    assert_no_changes(
        &em,
        out,
        "propagateTags: \"\"",
        r#"
        region: ap-northeast-3
        cluster: app
        rules:
        - name: job
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          launch_type: FARGATE
          propagateTags: ""
        "#,
    );
}
