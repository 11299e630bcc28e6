//! `Aws::read_rules` / `read_rule` against the emulator: what is listed, what is skipped and
//! why, the conversion to the model (the seed post's rule reads back as the post shows),
//! fingerprints, and how many API calls a read makes.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types as eb;
use ecsched::model::{
    AwsVpc, ContainerOverride, EcsTarget, RetryPolicy, Rule, State, Target, TaskOverrides,
};

use crate::aws_support::{connect, quiet};
use crate::emulator::emulator;
use crate::fixtures::{cluster_arn, minimal_ecs_target, put_rule, put_targets, seed_dev_target};

/// The seed post's rule, as the post's `dump` shows it, in model form.
fn seed_rule_model(account: &str) -> Rule {
    Rule {
        name: "t3-kato-dev".into(),
        event_bus: "default".into(),
        description: String::new(),
        schedule_expression: "cron(0 10 * * ? *)".into(),
        state: State::Enabled,
        role_arn: None,
        event_pattern: None,
        tags: BTreeMap::new(),
        targets: vec![Target {
            id: "t3-kato-dev".into(),
            ecs: EcsTarget {
                cluster_arn: format!("arn:aws:ecs:ap-northeast-3:{account}:cluster/t3-kato-dev"),
                role_arn: format!("arn:aws:iam::{account}:role/ecsEventsRole"),
                task_definition_arn: format!(
                    "arn:aws:ecs:ap-northeast-3:{account}:task-definition/t3-kato-dev"
                ),
                task_count: 1,
                launch_type: Some("FARGATE".into()),
                network: Some(AwsVpc {
                    subnets: vec![
                        "subnet-0384aa261cd82d385".into(),
                        "subnet-0f638c3b58f4e91cb".into(),
                    ],
                    security_groups: vec!["sg-0168b19957a56f367".into()],
                    assign_public_ip: "DISABLED".into(),
                }),
                enable_ecs_managed_tags: true,
                enable_execute_command: false,
                overrides: TaskOverrides {
                    extra: None,
                    containers: vec![ContainerOverride {
                        extra: None,
                        name: "nginx".into(),
                        command: Some(vec!["nginx".into(), "-v".into()]),
                        ..ContainerOverride::default()
                    }],
                    ..TaskOverrides::default()
                },
                ..EcsTarget::default()
            },
            dead_letter_arn: None,
            retry_policy: RetryPolicy::default(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_rule_reads_back_as_the_post_shows() {
    let Some(em) = emulator() else { return };
    put_rule(&em, "t3-kato-dev", "cron(0 10 * * ? *)", &[]).await;
    put_targets(&em, "t3-kato-dev", vec![seed_dev_target(&em)]).await;

    let aws = connect(&em).await;
    let ctx = aws.context();
    assert_eq!(ctx.account_id, em.account_id);
    assert_eq!(ctx.partition, "aws");
    assert_eq!(ctx.region, "ap-northeast-3");

    let cluster = cluster_arn(&em, "t3-kato-dev");
    let live = aws.read_rules(&cluster, &[], &[], &quiet).await.unwrap();
    assert_eq!(live.skipped, []);
    assert_eq!(live.rules.len(), 1);
    let rule = &live.rules[0];
    assert_eq!(rule.rule, seed_rule_model(&em.account_id));
    assert_eq!(
        rule.arn,
        format!(
            "arn:aws:events:ap-northeast-3:{}:rule/t3-kato-dev",
            em.account_id
        )
    );
    assert_eq!(rule.tracking_id, None);
    assert_eq!(rule.foreign_targets, Vec::<String>::new());

    let again = aws
        .read_rule(&cluster, "default", "t3-kato-dev")
        .await
        .unwrap();
    assert_eq!(
        again.as_ref(),
        Some(rule),
        "read_rule sees exactly what read_rules saw"
    );
    assert_eq!(
        aws.read_rule(&cluster, "default", "t3-kato").await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_with_three_ecs_targets_reads_them_all_sorted() {
    let Some(em) = emulator() else { return };
    let cluster = cluster_arn(&em, "c1");
    put_rule(&em, "three", "rate(1 hour)", &[]).await;
    put_targets(
        &em,
        "three",
        vec![
            minimal_ecs_target(&em, "c", "c1", "app-c"),
            minimal_ecs_target(&em, "a", "c1", "app-a"),
            minimal_ecs_target(&em, "b", "c1", "app-b"),
        ],
    )
    .await;
    let aws = connect(&em).await;
    let live = aws.read_rules(&cluster, &[], &[], &quiet).await.unwrap();
    assert_eq!(live.rules.len(), 1);
    let targets = &live.rules[0].rule.targets;
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(
        targets[2]
            .ecs
            .task_definition_arn
            .ends_with("task-definition/app-c")
    );
    assert_eq!(targets[0].ecs.task_count, 1);
    assert_eq!(targets[0].ecs.network, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_that_are_not_ours_are_skipped_with_reasons() {
    let Some(em) = emulator() else { return };
    let events = em.eventbridge();
    let ours = cluster_arn(&em, "c1");
    let other = cluster_arn(&em, "other");

    put_rule(&em, "other-cluster", "rate(5 minutes)", &[]).await;
    put_targets(
        &em,
        "other-cluster",
        vec![minimal_ecs_target(&em, "t", "other", "app")],
    )
    .await;

    // An event-pattern rule that even runs a task on our cluster: never ecsched's.
    events
        .put_rule()
        .name("on-upload")
        .event_pattern(r#"{"source":["aws.s3"]}"#)
        .send()
        .await
        .unwrap();
    put_targets(
        &em,
        "on-upload",
        vec![minimal_ecs_target(&em, "t", "c1", "app")],
    )
    .await;

    put_rule(&em, "no-targets", "rate(1 day)", &[]).await;

    // SQS and ECS on one rule: the SQS target is kept as foreign.
    put_rule(&em, "mixed", "rate(1 hour)", &[]).await;
    put_targets(
        &em,
        "mixed",
        vec![
            eb::Target::builder()
                .id("queue")
                .arn(format!("arn:aws:sqs:ap-northeast-3:{}:q", em.account_id))
                .build()
                .unwrap(),
            minimal_ecs_target(&em, "task", "c1", "app"),
        ],
    )
    .await;

    let aws = connect(&em).await;
    let live = aws.read_rules(&ours, &[], &[], &quiet).await.unwrap();
    let names: Vec<&str> = live.rules.iter().map(|r| r.rule.name.as_str()).collect();
    assert_eq!(names, ["mixed"]);
    let mixed = &live.rules[0];
    assert_eq!(mixed.rule.targets.len(), 1);
    assert_eq!(mixed.rule.targets[0].id, "task");
    assert_eq!(
        mixed.foreign_targets,
        [format!(
            "queue (arn:aws:sqs:ap-northeast-3:{}:q)",
            em.account_id
        )]
    );

    let skipped: Vec<(&str, &str)> = live
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    let not_ours = format!("no target on cluster {ours}");
    assert_eq!(
        skipped,
        [
            ("no-targets", not_ours.as_str()),
            (
                "on-upload",
                "event-pattern rule (ecsched manages scheduled rules only)"
            ),
            ("other-cluster", not_ours.as_str()),
        ]
    );

    // Named rules are read whatever they target, so a plan can say what it overwrites.
    let named = aws
        .read_rules(
            &ours,
            &[],
            &[
                ("default".to_string(), "other-cluster".to_string()),
                ("default".to_string(), "on-upload".to_string()),
                ("default".to_string(), "no-targets".to_string()),
            ],
            &quiet,
        )
        .await
        .unwrap();
    let names: Vec<&str> = named.rules.iter().map(|r| r.rule.name.as_str()).collect();
    assert_eq!(names, ["mixed", "no-targets", "on-upload", "other-cluster"]);
    let other_rule = &named.rules[3];
    assert!(other_rule.rule.targets.is_empty());
    assert_eq!(other_rule.foreign_targets, [format!("t ({other})")]);
    let pattern = &named.rules[2];
    assert_eq!(pattern.rule.schedule_expression, "");
    assert_eq!(pattern.rule.targets.len(), 1);
    assert_eq!(named.skipped, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprint_changes_with_any_field_and_is_stable_otherwise() {
    let Some(em) = emulator() else { return };
    let events = em.eventbridge();
    let cluster = cluster_arn(&em, "t3-kato-dev");
    put_rule(&em, "fp", "cron(0 10 * * ? *)", &[]).await;
    put_targets(&em, "fp", vec![seed_dev_target(&em)]).await;
    let aws = connect(&em).await;

    let read = || async {
        aws.read_rule(&cluster, "default", "fp")
            .await
            .unwrap()
            .unwrap()
    };
    let base = read().await;
    assert_eq!(base.fingerprint.len(), 64);
    assert_eq!(
        read().await.fingerprint,
        base.fingerprint,
        "stable across reads"
    );
    let listed = aws.read_rules(&cluster, &[], &[], &quiet).await.unwrap();
    assert_eq!(
        listed.rules[0].fingerprint, base.fingerprint,
        "same as read_rules"
    );

    let mut seen = vec![base.fingerprint.clone()];
    let mut expect_new = |fp: String, what: &str| {
        assert!(
            !seen.contains(&fp),
            "fingerprint did not change after {what}"
        );
        seen.push(fp);
    };

    // The rule's own RoleArn (modelled as `ruleRole` since issue 8: a write keeps it).
    events
        .put_rule()
        .name("fp")
        .schedule_expression("cron(0 10 * * ? *)")
        .role_arn(format!("arn:aws:iam::{}:role/other", em.account_id))
        .send()
        .await
        .unwrap();
    let now = read().await;
    assert_eq!(
        now.rule.role_arn,
        Some(format!("arn:aws:iam::{}:role/other", em.account_id))
    );
    expect_new(now.fingerprint, "RoleArn");

    // A modelled rule field.
    events
        .put_rule()
        .name("fp")
        .schedule_expression("cron(0 10 * * ? *)")
        .description("changed")
        .send()
        .await
        .unwrap();
    expect_new(read().await.fingerprint, "Description");

    // A target field.
    let mut target = seed_dev_target(&em);
    target.input =
        Some(r#"{"containerOverrides":[{"name":"nginx","command":["nginx","-V"]}]}"#.into());
    put_targets(&em, "fp", vec![target]).await;
    expect_new(read().await.fingerprint, "Input");

    // A tag.
    events
        .tag_resource()
        .resource_arn(&base.arn)
        .tags(eb::Tag::builder().key("team").value("a").build().unwrap())
        .send()
        .await
        .unwrap();
    let tagged = read().await;
    assert_eq!(tagged.rule.tags.get("team").map(String::as_str), Some("a"));
    expect_new(tagged.fingerprint, "a tag");

    // A foreign target.
    put_targets(
        &em,
        "fp",
        vec![
            eb::Target::builder()
                .id("queue")
                .arn(format!("arn:aws:sqs:ap-northeast-3:{}:q", em.account_id))
                .build()
                .unwrap(),
        ],
    )
    .await;
    expect_new(read().await.fingerprint, "a foreign target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_rules_makes_one_listing_per_page_and_two_reads_per_rule_of_ours() {
    let Some(em) = emulator() else { return };
    let ours = cluster_arn(&em, "c1");
    let (total, mine) = (120, 40);
    for i in 0..total {
        let name = format!("r{i:03}");
        put_rule(&em, &name, "rate(1 hour)", &[]).await;
        let cluster = if i % 3 == 0 { "c1" } else { "other" };
        put_targets(
            &em,
            &name,
            vec![minimal_ecs_target(&em, "t", cluster, "app")],
        )
        .await;
    }

    let aws = connect(&em).await;
    let before = aws.api_calls();
    let progress = std::sync::Mutex::new(Vec::new());
    let live = aws
        .read_rules(&ours, &[], &[], &|d, n| {
            progress.lock().unwrap().push((d, n))
        })
        .await
        .unwrap();
    let calls = aws.api_calls() - before;
    assert_eq!(live.rules.len(), mine);
    assert_eq!(live.skipped.len(), total - mine);
    // ListRules: 2 pages of 100; ListRuleNamesByTarget: 1 page; 2 reads per rule of ours.
    let expected = 2 + 1 + 2 * mine as u64;
    eprintln!("read_rules over {total} rules ({mine} ours): {calls} API calls");
    assert_eq!(calls, expected);
    let progress = progress.into_inner().unwrap();
    assert_eq!(progress.len(), mine + 1);
    assert_eq!(progress.last(), Some(&(mine, mine)));
}
