//! `apply PLANFILE` refuses, with exit code 3 and without writing anything, a plan made for
//! another account or region, a plan whose signature does not check out, a corrupted file, and
//! a plan whose touched resources changed live since it was made (one case per field of a rule
//! and its target). A plan made with `ECSCHED_PLAN_KEY` holds no readable text (`strings`), and
//! `show`/`apply` need the key to read it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use aws_sdk_eventbridge::types as eb;
use ecsched::plan::file::HEADER_LEN;

use crate::emulator::{Emulator, emulator, run_cases_in_accounts};
use crate::fixtures::{
    RuleSnapshot, create_cluster, register_task_definition, rule_names, snapshot,
};
use crate::test::{Output, unindent};
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

const CONFIG: &str = "
    region: ap-northeast-3
    cluster: app
    rules:
    - name: nightly
      scheduleExpression: cron(0 1 * * ? *)
      taskDefinition: job
      launch_type: FARGATE
    ";

/// `plan --all -out plan.bin` of CONFIG (a create of rule.nightly), with `env`.
#[track_caller]
fn make_plan(em: &Emulator, env: &[(&str, &str)]) -> Output {
    let mut test = ecsched(em)
        .config("ecsched.yaml", CONFIG)
        .args(["plan", "--all", "-out", "plan.bin"]);
    for (k, v) in env {
        test = test.env(k, v);
    }
    test.stdout_contains("+ rule.nightly will be created")
        .success()
}

#[test]
fn plan_for_another_account_is_refused() {
    let Some(a) = fixtures() else { return };
    let b = a.other_account();
    let out = make_plan(&a, &[]);
    let out = out
        .test()
        .env("ECSCHED_TEST_ACCOUNT_ID", &b.account_id)
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(&format!(
            "error: plan.bin was made for account {} (aws) in ap-northeast-3, but the credentials \
             are for account {} (aws) in ap-northeast-3\n",
            a.account_id, b.account_id
        ))
        .status(3);
    assert!(
        a.block_on(rule_names(&b)).is_empty(),
        "nothing may be written in account B"
    );
    assert!(
        a.block_on(rule_names(&a)).is_empty(),
        "nothing may be written in account A"
    );
    // The same file in the right account applies: the refusal was about the account only.
    out.test()
        .args(["apply", "plan.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    assert_eq!(a.block_on(rule_names(&a)), ["nightly"]);
}

#[test]
fn plan_for_another_region_is_refused_with_an_explicit_region() {
    let Some(em) = fixtures() else { return };
    let oregon = em.in_region("us-west-2");
    let out = make_plan(&em, &[]);
    // `--region us-west-2 apply plan.bin`: the plan was made for ap-northeast-3.
    out.test()
        .args(["--region", "us-west-2", "apply", "plan.bin"])
        .stdout("")
        .stderr_contains("ap-northeast-3")
        .stderr_contains("us-west-2")
        .status(3);
    assert!(
        em.block_on(rule_names(&oregon)).is_empty(),
        "nothing may be written in us-west-2"
    );
    assert!(
        em.block_on(rule_names(&em)).is_empty(),
        "nothing may be written in ap-northeast-3 either"
    );
}

#[test]
fn plan_for_another_region_is_refused_with_the_environment_region() {
    let Some(em) = fixtures() else { return };
    let oregon = em.in_region("us-west-2");
    let out = make_plan(&em, &[]);
    // The apply job's AWS environment is for us-west-2; the plan was made for ap-northeast-3.
    out.test()
        .env("AWS_REGION", "us-west-2")
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr_contains("ap-northeast-3")
        .stderr_contains("us-west-2")
        .status(3);
    assert!(
        em.block_on(rule_names(&oregon)).is_empty(),
        "nothing may be written in us-west-2"
    );
    assert!(
        em.block_on(rule_names(&em)).is_empty(),
        "nothing may be written in ap-northeast-3 either"
    );
}

#[test]
fn signed_plans_need_the_same_key() {
    let Some(em) = fixtures() else { return };
    let out = make_plan(&em, &[("ECSCHED_PLAN_KEY", "key-one")]);
    assert!(
        out.stderr.contains("(signed and encrypted)"),
        "plan should say the file is signed and encrypted: {}",
        out.stderr
    );
    let out = out
        .test()
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(
            "error: the plan file is signed and encrypted, but ECSCHED_PLAN_KEY is not set: set \
             it to the key the plan was made with to verify and decrypt it\n",
        )
        .status(3);
    let out = out
        .test()
        .env("ECSCHED_PLAN_KEY", "key-two")
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(
            "error: the plan file was signed and encrypted with another key: ECSCHED_PLAN_KEY is \
             not the key the plan was made with\n",
        )
        .status(3);
    assert!(
        em.block_on(rule_names(&em)).is_empty(),
        "refused plans must not write"
    );
    // An unsigned plan is refused where a key is set.
    let unsigned = make_plan(&em, &[]);
    unsigned
        .test()
        .env("ECSCHED_PLAN_KEY", "key-one")
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr_contains("the plan file is not signed, but ECSCHED_PLAN_KEY is set")
        .status(3);
    assert!(em.block_on(rule_names(&em)).is_empty());
    // With the right key it applies.
    out.test()
        .env("ECSCHED_PLAN_KEY", "key-one")
        .args(["apply", "plan.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    assert_eq!(em.block_on(rule_names(&em)), ["nightly"]);
}

/// An empty `ECSCHED_PLAN_KEY` is the usual shape of a CI secret that is missing: it never
/// means "no key" (which would write and accept unsigned plans without a word).
#[test]
fn an_empty_plan_key_is_an_error_for_plan_and_apply() {
    let Some(em) = fixtures() else { return };
    const EMPTY: &str = "error: ECSCHED_PLAN_KEY is set but empty (a CI secret that is missing?): \
                         set it to the plan key, or unset it to work without one\n";
    let out = ecsched(&em)
        .config("ecsched.yaml", CONFIG)
        .env("ECSCHED_PLAN_KEY", "")
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains("+ rule.nightly will be created")
        .stderr_contains(EMPTY)
        .failure();
    assert!(!out.path("plan.bin").exists(), "no plan file written");
    let out = make_plan(&em, &[]);
    out.test()
        .env("ECSCHED_PLAN_KEY", "")
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(EMPTY)
        .failure();
    assert!(em.block_on(rule_names(&em)).is_empty(), "nothing written");
}

#[test]
fn a_flipped_byte_anywhere_is_refused() {
    let Some(em) = fixtures() else { return };
    let mut out = make_plan(&em, &[]);
    let original = std::fs::read(out.path("plan.bin")).expect("reading plan.bin");
    assert!(
        original.len() > HEADER_LEN,
        "plan.bin is too short: {} bytes",
        original.len()
    );
    // Every header field (magic, version, encoding, protection, key id, nonce, length, hash,
    // signature) and payload bytes at the start, the middle and the end.
    let last = original.len() - 1;
    let offsets = [
        0,
        7,
        8,
        10,
        12,
        13,
        20,
        21,
        44,
        45,
        52,
        53,
        84,
        85,
        116,
        117,
        118,
        original.len() / 2,
        last,
    ];
    for at in offsets {
        for (name, signed) in [("unsigned", false), ("signed", true)] {
            let mut bytes = if signed {
                let signed_out = make_plan(&em, &[("ECSCHED_PLAN_KEY", "k")]);
                std::fs::read(signed_out.path("plan.bin")).expect("reading the signed plan")
            } else {
                original.clone()
            };
            if at >= bytes.len() {
                continue;
            }
            bytes[at] ^= 0x01;
            let file = format!("flipped-{name}-{at}.bin");
            std::fs::write(out.path(&file), &bytes).expect("writing the corrupted plan");
            let mut test = out.test().args(["apply", &file]).stdout("");
            if signed {
                test = test.env("ECSCHED_PLAN_KEY", "k");
            }
            let run = test.status(3);
            assert!(
                run.stderr.starts_with("error: "),
                "{name} plan with byte {at} flipped: {}",
                run.stderr
            );
            out = run;
        }
        if at >= HEADER_LEN {
            // `show` must refuse the corrupted file too.
            out = out
                .test()
                .args(["show", &format!("flipped-unsigned-{at}.bin")])
                .stdout("")
                .status(3);
        }
    }
    assert!(
        em.block_on(rule_names(&em)).is_empty(),
        "corrupted plans must not write"
    );
    out.test()
        .args(["apply", "plan.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
}

// ---- encrypted plans ---------------------------------------------------------------------------

/// A rule with a secret among its container's environment values.
const SECRET_CONFIG: &str = "
    region: ap-northeast-3
    cluster: app
    rules:
    - name: nightly-finance-report
      description: reports for the finance team
      scheduleExpression: cron(0 1 * * ? *)
      taskDefinition: job
      launch_type: FARGATE
      containerOverrides:
      - name: app
        command: [run-report, --since=1d]
        environment:
          DB_PASSWORD: hunter2-sw0rdfish
          REPORT_BUCKET: s3-finance-reports
    ";

/// What `strings` prints: the runs of at least `min` printable ASCII bytes.
fn printable_runs(bytes: &[u8], min: usize) -> Vec<String> {
    bytes
        .split(|b| !(b.is_ascii_graphic() || *b == b' '))
        .filter(|run| run.len() >= min)
        .map(|run| String::from_utf8_lossy(run).into_owned())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// With `ECSCHED_PLAN_KEY`, `plan -out` encrypts: no text of the plan (the secret, the config's
/// strings, the account) is in the file; `show` and `apply` without the key refuse it clearly
/// (exit 3), with another key too; with the key `show` works and `apply` applies it.
#[test]
fn keyed_plans_are_encrypted_and_need_the_key() {
    let Some(em) = fixtures() else { return };
    let key = ("ECSCHED_PLAN_KEY", "k3y-for-the-plan-pipeline");
    let created = "+ rule.nightly-finance-report will be created";
    // The same plan without a key: what `strings` finds when the file is not encrypted.
    let out = ecsched(&em)
        .config("ecsched.yaml", SECRET_CONFIG)
        .args(["plan", "--all", "-out", "clear.bin"])
        .stdout_contains(created)
        .success();
    let out = out
        .test()
        .env(key.0, key.1)
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains(created)
        .stderr_contains("Saved the plan to plan.bin (signed and encrypted).")
        .success();
    let clear = std::fs::read(out.path("clear.bin")).expect("reading clear.bin");
    let keyed = std::fs::read(out.path("plan.bin")).expect("reading plan.bin");

    let needles = [
        "hunter2",
        "sw0rdfish",
        "DB_PASSWORD",
        "REPORT_BUCKET",
        "s3-finance-reports",
        "nightly-finance-report",
        "finance team",
        "run-report",
        "cron(0 1",
        "ap-northeast-3",
        "ecsched.yaml",
        em.account_id.as_str(),
    ];
    for needle in needles {
        assert!(
            contains(&clear, needle.as_bytes()),
            "test bug: {needle:?} is not in the unencrypted plan"
        );
        assert!(
            !contains(&keyed, needle.as_bytes()),
            "{needle:?} is readable in the encrypted plan file"
        );
    }
    // Every string of the unencrypted plan but the magic is absent from the encrypted one.
    let runs: Vec<String> = printable_runs(&clear, 6)
        .into_iter()
        .filter(|run| run != "ECSPLAN")
        .collect();
    assert!(runs.len() > 10, "test bug: {runs:?}");
    for run in &runs {
        assert!(
            !contains(&keyed, run.as_bytes()),
            "{run:?} is readable in the encrypted plan file"
        );
    }

    // Without the key: refused, clearly, for show (text and JSON) and apply.
    let needs_key = "error: the plan file is signed and encrypted, but ECSCHED_PLAN_KEY is not \
                     set: set it to the key the plan was made with to verify and decrypt it\n";
    let mut out = out;
    for args in [
        &["show", "plan.bin"][..],
        &["show", "--json", "plan.bin"],
        &["apply", "plan.bin"],
    ] {
        out = out.test().args(args).stdout("").stderr(needs_key).status(3);
    }
    let out = out
        .test()
        .env(key.0, "another-key")
        .args(["show", "plan.bin"])
        .stdout("")
        .stderr(
            "error: the plan file was signed and encrypted with another key: ECSCHED_PLAN_KEY is \
             not the key the plan was made with\n",
        )
        .status(3);
    assert!(
        em.block_on(rule_names(&em)).is_empty(),
        "refused plans must not write"
    );

    // With the key: show works (secret masked unless asked for), apply applies.
    let out = out
        .test()
        .env(key.0, key.1)
        .args(["show", "plan.bin"])
        .stdout_contains("Plan plan.bin made ")
        .stdout_contains(created)
        .success();
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
    let out = out
        .test()
        .env(key.0, key.1)
        .args(["show", "--show-sensitive", "plan.bin"])
        .stdout_contains("hunter2-sw0rdfish")
        .success();
    out.test()
        .env(key.0, key.1)
        .args(["apply", "plan.bin"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    assert_eq!(em.block_on(rule_names(&em)), ["nightly-finance-report"]);
    let live = em
        .block_on(snapshot(&em, "nightly-finance-report"))
        .expect("the rule exists");
    assert!(
        live.targets[0]
            .input()
            .is_some_and(|input| input.contains("hunter2-sw0rdfish")),
        "the decrypted plan wrote the secret: {live:?}"
    );
}

// ---- live drift, one case per field ------------------------------------------------------------

/// Every field of a rule and its target set to a non-default value.
fn full_rule(name: &str, description: &str) -> String {
    format!(
        "
        - name: {name}
          description: {description}
          scheduleExpression: cron(0 1 * * ? *)
          taskDefinition: job
          taskCount: 2
          launch_type: FARGATE
          platform_version: 1.4.0
          group: nightly
          role: ecsEventsRole
          propagateTags: TASK_DEFINITION
          enableECSManagedTags: true
          enableExecuteCommand: true
          referenceId: ref-1
          taskTags:
            team: data
          placementConstraints:
          - type: memberOf
            expression: attribute:ecs.os-type == linux
          placementStrategy:
          - type: spread
            field: attribute:ecs.availability-zone
          containerOverrides:
          - name: app
            command: [run, nightly]
            environment:
              MODE: nightly
          network_configuration:
            aws_vpc_configuration:
              subnets:
              - subnet-aaaa1111
              security_groups:
              - sg-aaaa1111
              assign_public_ip: ENABLED
          dead_letter_config:
            sqs: job-dlq
          retryPolicy:
            maximumRetryAttempts: 10
            maximumEventAgeInSeconds: 3600
          tags:
            owner: data-team
        "
    )
}

fn full_config(names: &[&str], description: &str) -> String {
    let mut text = "region: ap-northeast-3\ncluster: app\nrules:\n".to_string();
    for name in names {
        text.push_str(&unindent(&full_rule(name, description)));
    }
    text
}

type ParamsEdit = fn(eb::builders::EcsParametersBuilder) -> eb::builders::EcsParametersBuilder;
type TargetEdit = fn(eb::builders::TargetBuilder, &Emulator) -> eb::builders::TargetBuilder;

/// One live change made between `plan -out` and `apply`.
enum Mutation {
    /// PutRule with the rule's fields, then this change.
    Rule(fn(RuleFields) -> RuleFields),
    /// PutTargets with the live target rebuilt field by field, with this change to its
    /// EcsParameters.
    Params(ParamsEdit),
    /// The same, with this change to the target itself.
    Target(TargetEdit),
    DisableRule,
    TagRule(&'static str, &'static str),
    UntagRule(&'static str),
    AddSqsTarget,
    RemoveTarget,
    DeleteRule,
}

/// What PutRule sends (it replaces the rule: every field must be given again).
#[derive(Clone)]
struct RuleFields {
    description: Option<String>,
    schedule: String,
    state: eb::RuleState,
    role_arn: Option<String>,
}

fn network(subnets: &[&str], sgs: &[&str], public: eb::AssignPublicIp) -> eb::NetworkConfiguration {
    eb::NetworkConfiguration::builder()
        .awsvpc_configuration(
            eb::AwsVpcConfiguration::builder()
                .set_subnets(Some(subnets.iter().map(|s| s.to_string()).collect()))
                .set_security_groups(Some(sgs.iter().map(|s| s.to_string()).collect()))
                .assign_public_ip(public)
                .build()
                .expect("awsvpc configuration"),
        )
        .build()
}

fn cases() -> Vec<(&'static str, Mutation)> {
    use Mutation::*;
    vec![
        (
            "description",
            Rule(|r| RuleFields {
                description: Some("changed by hand".into()),
                ..r
            }),
        ),
        (
            "description-removed",
            Rule(|r| RuleFields {
                description: None,
                ..r
            }),
        ),
        (
            "schedule-expression",
            Rule(|r| RuleFields {
                schedule: "cron(0 2 * * ? *)".into(),
                ..r
            }),
        ),
        ("state", DisableRule),
        (
            "rule-role-arn",
            Rule(|r| RuleFields {
                role_arn: Some("arn:aws:iam::123456789012:role/x".into()),
                ..r
            }),
        ),
        ("tag-value", TagRule("owner", "someone-else")),
        ("tag-added", TagRule("cost-center", "42")),
        ("tag-removed", UntagRule("owner")),
        (
            "tracking-tag",
            TagRule("ecschedule:tracking-id", "other-team"),
        ),
        (
            "task-definition",
            Params(|p| {
                p.task_definition_arn(
                    "arn:aws:ecs:ap-northeast-3:123456789012:task-definition/job:1",
                )
            }),
        ),
        ("task-count", Params(|p| p.task_count(3))),
        (
            "launch-type",
            Params(|p| p.launch_type(eb::LaunchType::Ec2)),
        ),
        (
            "capacity-provider-strategy",
            Params(|p| {
                p.set_launch_type(None).capacity_provider_strategy(
                    eb::CapacityProviderStrategyItem::builder()
                        .capacity_provider("FARGATE_SPOT")
                        .weight(1)
                        .build()
                        .expect("strategy item"),
                )
            }),
        ),
        (
            "subnets",
            Params(|p| {
                p.network_configuration(network(
                    &["subnet-aaaa1111", "subnet-bbbb2222"],
                    &["sg-aaaa1111"],
                    eb::AssignPublicIp::Enabled,
                ))
            }),
        ),
        (
            "security-groups",
            Params(|p| {
                p.network_configuration(network(
                    &["subnet-aaaa1111"],
                    &["sg-bbbb2222"],
                    eb::AssignPublicIp::Enabled,
                ))
            }),
        ),
        (
            "assign-public-ip",
            Params(|p| {
                p.network_configuration(network(
                    &["subnet-aaaa1111"],
                    &["sg-aaaa1111"],
                    eb::AssignPublicIp::Disabled,
                ))
            }),
        ),
        (
            "network-removed",
            Params(|p| p.set_network_configuration(None)),
        ),
        ("platform-version", Params(|p| p.platform_version("LATEST"))),
        ("group", Params(|p| p.group("other"))),
        ("propagate-tags", Params(|p| p.set_propagate_tags(None))),
        (
            "enable-ecs-managed-tags",
            Params(|p| p.enable_ecs_managed_tags(false)),
        ),
        (
            "enable-execute-command",
            Params(|p| p.enable_execute_command(false)),
        ),
        (
            "placement-constraints",
            Params(|p| {
                p.set_placement_constraints(Some(vec![
                    eb::PlacementConstraint::builder()
                        .r#type(eb::PlacementConstraintType::MemberOf)
                        .expression("attribute:ecs.os-type == windows")
                        .build(),
                ]))
            }),
        ),
        (
            "placement-strategy",
            Params(|p| {
                p.set_placement_strategy(Some(vec![
                    eb::PlacementStrategy::builder()
                        .r#type(eb::PlacementStrategyType::Binpack)
                        .field("memory")
                        .build(),
                ]))
            }),
        ),
        ("reference-id", Params(|p| p.reference_id("ref-2"))),
        (
            "task-tags",
            Params(|p| {
                p.set_tags(Some(vec![
                    eb::Tag::builder()
                        .key("team")
                        .value("other")
                        .build()
                        .expect("tag"),
                ]))
            }),
        ),
        (
            "input",
            Target(|t, _| {
                t.input(r#"{"containerOverrides":[{"name":"app","command":["run","hourly"],"environment":[{"name":"MODE","value":"nightly"}]}]}"#)
            }),
        ),
        ("input-removed", Target(|t, _| t.set_input(None))),
        (
            "role-arn",
            Target(|t, em| t.role_arn(format!("arn:aws:iam::{}:role/otherRole", em.account_id))),
        ),
        (
            "dead-letter-queue",
            Target(|t, em| {
                t.dead_letter_config(
                    eb::DeadLetterConfig::builder()
                        .arn(format!(
                            "arn:aws:sqs:ap-northeast-3:{}:other-dlq",
                            em.account_id
                        ))
                        .build(),
                )
            }),
        ),
        (
            "retry-policy",
            Target(|t, _| {
                t.retry_policy(
                    eb::RetryPolicy::builder()
                        .maximum_retry_attempts(11)
                        .maximum_event_age_in_seconds(3600)
                        .build(),
                )
            }),
        ),
        ("foreign-target-added", AddSqsTarget),
        ("target-removed", RemoveTarget),
        ("rule-deleted", DeleteRule),
    ]
}

fn rule_fields(s: &RuleSnapshot) -> RuleFields {
    RuleFields {
        description: s.rule.description().map(str::to_string),
        schedule: s.rule.schedule_expression().expect("schedule").to_string(),
        state: s.rule.state().cloned().expect("state"),
        role_arn: s.rule.role_arn().map(str::to_string),
    }
}

fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// The live target rebuilt field by field, with `params` and `target` edits applied.
fn rebuild(t: &eb::Target, em: &Emulator, params: ParamsEdit, target: TargetEdit) -> eb::Target {
    let p = t.ecs_parameters().expect("EcsParameters");
    let builder = eb::EcsParameters::builder()
        .task_definition_arn(p.task_definition_arn())
        .set_task_count(p.task_count())
        .set_launch_type(p.launch_type().cloned())
        .set_network_configuration(p.network_configuration().cloned())
        .set_platform_version(p.platform_version().map(str::to_string))
        .set_group(p.group().map(str::to_string))
        .set_capacity_provider_strategy(non_empty(p.capacity_provider_strategy()))
        .enable_ecs_managed_tags(p.enable_ecs_managed_tags())
        .enable_execute_command(p.enable_execute_command())
        .set_placement_constraints(non_empty(p.placement_constraints()))
        .set_placement_strategy(non_empty(p.placement_strategy()))
        .set_propagate_tags(p.propagate_tags().cloned())
        .set_reference_id(p.reference_id().map(str::to_string))
        .set_tags(non_empty(p.tags()));
    let builder = eb::Target::builder()
        .id(t.id())
        .arn(t.arn())
        .set_role_arn(t.role_arn().map(str::to_string))
        .set_input(t.input().map(str::to_string))
        .set_input_path(t.input_path().map(str::to_string))
        .ecs_parameters(params(builder).build().expect("EcsParameters"))
        .set_dead_letter_config(t.dead_letter_config().cloned())
        .set_retry_policy(t.retry_policy().cloned());
    target(builder, em).build().expect("target")
}

async fn mutate(em: &Emulator, name: &str, m: &Mutation) {
    let events = em.eventbridge();
    let live = snapshot(em, name).await.expect("the rule exists");
    let put_target = |t: eb::Target| crate::fixtures::put_targets(em, name, vec![t]);
    match m {
        Mutation::Rule(edit) => {
            let r = edit(rule_fields(&live));
            events
                .put_rule()
                .name(name)
                .set_description(r.description)
                .schedule_expression(r.schedule)
                .state(r.state)
                .set_role_arn(r.role_arn)
                .send()
                .await
                .expect("PutRule");
        }
        Mutation::Params(edit) => put_target(rebuild(&live.targets[0], em, *edit, |t, _| t)).await,
        Mutation::Target(edit) => put_target(rebuild(&live.targets[0], em, |p| p, *edit)).await,
        Mutation::DisableRule => {
            events
                .disable_rule()
                .name(name)
                .send()
                .await
                .expect("DisableRule");
        }
        Mutation::TagRule(k, v) => {
            events
                .tag_resource()
                .resource_arn(live.rule.arn().expect("arn"))
                .tags(eb::Tag::builder().key(*k).value(*v).build().expect("tag"))
                .send()
                .await
                .expect("TagResource");
        }
        Mutation::UntagRule(k) => {
            events
                .untag_resource()
                .resource_arn(live.rule.arn().expect("arn"))
                .tag_keys(*k)
                .send()
                .await
                .expect("UntagResource");
        }
        Mutation::AddSqsTarget => {
            put_target(
                eb::Target::builder()
                    .id("queue")
                    .arn(format!("arn:aws:sqs:ap-northeast-3:{}:jobs", em.account_id))
                    .build()
                    .expect("sqs target"),
            )
            .await;
        }
        Mutation::RemoveTarget | Mutation::DeleteRule => {
            events
                .remove_targets()
                .rule(name)
                .ids(live.targets[0].id())
                .send()
                .await
                .expect("RemoveTargets");
            if matches!(m, Mutation::DeleteRule) {
                events
                    .delete_rule()
                    .name(name)
                    .send()
                    .await
                    .expect("DeleteRule");
            }
        }
    }
}

/// One case in its own account: ecsched writes the rule, a plan updates its description,
/// the mutation changes the live rule, and `apply plan.bin` must refuse (exit 3) and write
/// nothing. Returns what went wrong.
fn drift_case(em: &Emulator, mutation: &Mutation) -> Result<(), String> {
    em.block_on(async {
        create_cluster(em, "app").await;
        register_task_definition(em, "job", "app").await;
    });
    let name = "nightly";
    let out = ecsched(em)
        .config("ecsched.yaml", &full_config(&[name], "baseline"))
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    let before = em
        .block_on(snapshot(em, name))
        .ok_or("ecsched apply did not create the rule")?;
    // Rebuilding the target from its read must reproduce it exactly, or the case would test
    // the rebuild instead of the field.
    if before.targets.len() != 1
        || rebuild(&before.targets[0], em, |p| p, |t, _| t) != before.targets[0]
    {
        return Err(format!(
            "rebuild() does not reproduce the live target: {before:?}"
        ));
    }

    std::fs::write(out.path("ecsched.yaml"), full_config(&[name], "planned"))
        .expect("writing the changed config");
    let out = out
        .test()
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains(&format!("~ rule.{name} will be updated in place"))
        .stdout_contains("Plan: 0 to add, 1 to change, 0 to destroy.")
        .success();

    em.block_on(mutate(em, name, mutation));
    let mutated = em.block_on(snapshot(em, name));
    if mutated.as_ref() == Some(&before) {
        return Err("the mutation did not change anything (test bug)".into());
    }
    let expected = if matches!(mutation, Mutation::DeleteRule) {
        format!("rule.{name} existed when planned, now is gone")
    } else {
        format!("rule.{name} changed since the plan was made")
    };
    let refused = catch_unwind(AssertUnwindSafe(|| {
        out.test()
            .args(["apply", "plan.bin"])
            .stdout("")
            .stderr_contains(&expected)
            .status(3)
    }));
    let mut problems = Vec::new();
    if refused.is_err() {
        problems.push(format!(
            "apply was not refused with exit 3 and \"{expected}\" (details above)"
        ));
    }
    let after = em.block_on(snapshot(em, name));
    if after != mutated {
        problems.push(format!(
            "apply wrote to AWS although the plan was stale:\nmutated: {mutated:?}\nafter:   {after:?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[test]
fn any_live_change_to_a_touched_rule_refuses_the_plan() {
    let Some(em) = emulator() else { return };
    let cases = cases();
    // Cases are independent (one account each): run a few at a time.
    let failures = run_cases_in_accounts(&em, &cases, 6, |account, mutation| {
        drift_case(account, mutation)
    });
    assert!(
        failures.is_empty(),
        "live changes between plan and apply that were not refused cleanly:\n{}",
        failures.join("\n")
    );
}
