//! `Aws` writes against the emulator: put_rule → read_rule round-trips the model exactly,
//! targets and tags follow the model (foreign targets untouched), delete_rule, and the
//! Scheduler schedule life cycle (group creation, create, update, delete).

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types as eb;
use ecsched::aws::{Aws, AwsError, LiveRule};
use ecsched::model::{
    AwsVpc, CapacityProviderItem, ContainerOverride, EcsTarget, Owner, PlacementConstraint,
    PlacementStrategy, RetryPolicy, Rule, Schedule, State, Target, TaskOverrides, TypedValue,
};

use crate::aws_support::{connect, quiet};
use crate::emulator::{Emulator, emulator};
use crate::fixtures::cluster_arn;

/// An ECS target with every field set (launch type, no capacity provider strategy).
fn full_ecs(em: &Emulator, cluster: &str) -> EcsTarget {
    let acct = &em.account_id;
    EcsTarget {
        cluster_arn: cluster.to_string(),
        role_arn: format!("arn:aws:iam::{acct}:role/ecsEventsRole"),
        task_definition_arn: format!("arn:aws:ecs:ap-northeast-3:{acct}:task-definition/app:3"),
        task_count: 2,
        launch_type: Some("FARGATE".into()),
        platform_version: Some("1.4.0".into()),
        group: Some("batch".into()),
        capacity_provider_strategy: vec![],
        network: Some(AwsVpc {
            subnets: vec!["subnet-1".into(), "subnet-2".into()],
            security_groups: vec!["sg-1".into(), "sg-2".into()],
            assign_public_ip: "ENABLED".into(),
        }),
        propagate_tags: Some("TASK_DEFINITION".into()),
        enable_ecs_managed_tags: true,
        enable_execute_command: true,
        placement_constraints: vec![PlacementConstraint {
            kind: "memberOf".into(),
            expression: Some("attribute:ecs.instance-type =~ t3.*".into()),
        }],
        placement_strategy: vec![PlacementStrategy {
            kind: "spread".into(),
            field: Some("attribute:ecs.availability-zone".into()),
        }],
        task_tags: BTreeMap::from([("team".into(), "data".into()), ("cost".into(), "42".into())]),
        reference_id: Some("ref-1".into()),
        overrides: TaskOverrides {
            extra: None,
            cpu: Some("512".into()),
            memory: Some("1024".into()),
            task_role_arn: Some(format!("arn:aws:iam::{acct}:role/task")),
            execution_role_arn: Some(format!("arn:aws:iam::{acct}:role/exec")),
            ephemeral_storage_gib: Some(30),
            containers: vec![ContainerOverride {
                extra: None,
                name: "app".into(),
                command: Some(vec!["run".into(), "--fast".into()]),
                environment: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "2".into())]),
                environment_files: vec![TypedValue {
                    kind: "s3".into(),
                    value: "arn:aws:s3:::bucket/app.env".into(),
                }],
                resource_requirements: vec![TypedValue {
                    kind: "GPU".into(),
                    value: "1".into(),
                }],
                cpu: Some(256),
                memory: Some(512),
                memory_reservation: Some(256),
            }],
        },
    }
}

fn full_rule(em: &Emulator, name: &str, cluster: &str) -> Rule {
    Rule {
        name: name.into(),
        event_bus: "default".into(),
        description: "every field set".into(),
        schedule_expression: "cron(0 10 * * ? *)".into(),
        state: State::Disabled,
        role_arn: None,
        event_pattern: None,
        tags: BTreeMap::from([("env".into(), "dev".into()), ("owner".into(), "me".into())]),
        targets: vec![Target {
            id: "main".into(),
            ecs: full_ecs(em, cluster),
            dead_letter_arn: Some(format!("arn:aws:sqs:ap-northeast-3:{}:dlq", em.account_id)),
            retry_policy: RetryPolicy {
                maximum_retry_attempts: 3,
                maximum_event_age_in_seconds: 600,
            },
        }],
    }
}

/// Ownership tags as `apply` writes them.
fn owner(tracking_id: &str) -> Owner {
    Owner {
        tracking_id: tracking_id.to_string(),
        plan_id: Some("plan-1".to_string()),
    }
}

async fn read(aws: &Aws, cluster: &str, name: &str) -> Option<LiveRule> {
    aws.read_rule(cluster, "default", name).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_rule_then_read_rule_round_trips_every_field() {
    let Some(em) = emulator() else { return };
    let aws = connect(&em).await;
    let cluster = cluster_arn(&em, "c1");

    let rule = full_rule(&em, "full", &cluster);
    assert_eq!(read(&aws, &cluster, "full").await, None);
    aws.put_rule(&rule, &owner("my-tracking"), None)
        .await
        .unwrap();
    let live = read(&aws, &cluster, "full").await.expect("created");
    assert_eq!(live.rule, rule);
    assert_eq!(live.tracking_id.as_deref(), Some("my-tracking"));
    assert_eq!(live.foreign_targets, Vec::<String>::new());

    // Capacity provider strategy excludes a launch type: a rule of its own.
    let mut cps = full_rule(&em, "cps", &cluster);
    let ecs = &mut cps.targets[0].ecs;
    ecs.launch_type = None;
    ecs.capacity_provider_strategy = vec![
        CapacityProviderItem {
            capacity_provider: "FARGATE".into(),
            base: 1,
            weight: 1,
        },
        CapacityProviderItem {
            capacity_provider: "FARGATE_SPOT".into(),
            base: 0,
            weight: 3,
        },
    ];
    aws.put_rule(&cps, &owner("my-tracking"), None)
        .await
        .unwrap();
    assert_eq!(
        read(&aws, &cluster, "cps").await.expect("created").rule,
        cps
    );

    // Several targets, in any order, come back sorted by id.
    let mut multi = full_rule(&em, "multi", &cluster);
    let mut second = multi.targets[0].clone();
    second.id = "a-second".into();
    second.ecs.task_count = 1;
    second.ecs.overrides = TaskOverrides::default();
    multi.targets.push(second);
    aws.put_rule(&multi, &owner("my-tracking"), None)
        .await
        .unwrap();
    multi.targets.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        read(&aws, &cluster, "multi").await.expect("created").rule,
        multi
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_rule_updates_targets_and_tags_and_leaves_foreign_targets_alone() {
    let Some(em) = emulator() else { return };
    let aws = connect(&em).await;
    let events = em.eventbridge();
    let cluster = cluster_arn(&em, "c1");

    let mut rule = full_rule(&em, "upd", &cluster);
    let mut extra = rule.targets[0].clone();
    extra.id = "extra".into();
    rule.targets.push(extra);
    aws.put_rule(&rule, &owner("t1"), None).await.unwrap();
    // Someone adds an SQS target and a tag of their own by hand.
    let queue = format!("arn:aws:sqs:ap-northeast-3:{}:q", em.account_id);
    events
        .put_targets()
        .rule("upd")
        .targets(
            eb::Target::builder()
                .id("queue")
                .arn(&queue)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let live = read(&aws, &cluster, "upd").await.unwrap();
    assert_eq!(live.foreign_targets, [format!("queue ({queue})")]);

    // The config drops the `extra` target and the `owner` tag, changes the schedule.
    let mut next = full_rule(&em, "upd", &cluster);
    next.schedule_expression = "cron(0 20 * * ? *)".into();
    next.state = State::Enabled;
    next.tags.remove("owner");
    aws.put_rule(&next, &owner("t1"), Some(&live))
        .await
        .unwrap();
    let after = read(&aws, &cluster, "upd").await.unwrap();
    assert_eq!(after.rule, next);
    assert_eq!(
        after.foreign_targets,
        [format!("queue ({queue})")],
        "untouched"
    );
    assert_eq!(after.tracking_id.as_deref(), Some("t1"));
    assert_ne!(after.fingerprint, live.fingerprint);

    let kept = after;

    // delete_rule refuses while a foreign target is there …
    let err = aws.delete_rule(&kept).await.unwrap_err();
    assert!(matches!(err, AwsError::ForeignTargets { .. }), "{err}");
    assert!(err.to_string().contains("queue"), "{err}");
    assert!(read(&aws, &cluster, "upd").await.is_some());
    // … and deletes once it is gone.
    events
        .remove_targets()
        .rule("upd")
        .ids("queue")
        .send()
        .await
        .unwrap();
    let live = read(&aws, &cluster, "upd").await.unwrap();
    aws.delete_rule(&live).await.unwrap();
    assert_eq!(read(&aws, &cluster, "upd").await, None);
    // Deleting again converges.
    aws.delete_rule(&live).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_rule_reports_a_failed_step_and_what_succeeded_before() {
    let Some(em) = emulator() else { return };
    let aws = connect(&em).await;
    let cluster = cluster_arn(&em, "c1");
    let mut rule = full_rule(&em, "bad-target", &cluster);
    // moto rejects only ARNs that are not ARNs at all.
    rule.targets[0].ecs.cluster_arn = "garbage".into();
    let err = aws.put_rule(&rule, &owner("t1"), None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("PutTargets for rule \"bad-target\" failed: ValidationException"),
        "{text}"
    );
    assert!(
        text.ends_with("rule \"bad-target\" is partly written: PutRule succeeded before that"),
        "{text}"
    );
    assert_eq!(err.code(), Some("ValidationException"));
}

fn full_schedule(em: &Emulator, group: &str, name: &str, cluster: &str) -> Schedule {
    Schedule {
        name: name.into(),
        group: group.into(),
        description: "every field set".into(),
        schedule_expression: "cron(0 10 * * ? *)".into(),
        timezone: "Asia/Tokyo".into(),
        start_date: Some("2030-01-01T00:00:00Z".into()),
        end_date: Some("2031-06-30T12:00:00Z".into()),
        state: State::Enabled,
        flexible_window_minutes: Some(15),
        action_after_completion: "NONE".into(),
        kms_key_arn: Some(format!(
            "arn:aws:kms:ap-northeast-3:{}:key/0000",
            em.account_id
        )),
        ecs: full_ecs(em, cluster),
        dead_letter_arn: Some(format!("arn:aws:sqs:ap-northeast-3:{}:dlq", em.account_id)),
        retry_policy: RetryPolicy {
            maximum_retry_attempts: 5,
            maximum_event_age_in_seconds: 3600,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_round_trip_through_create_read_update_delete() {
    let Some(em) = emulator() else { return };
    let aws = connect(&em).await;
    let cluster = cluster_arn(&em, "c1");

    let s = full_schedule(&em, "nightly-jobs", "report", &cluster);
    assert_eq!(
        aws.read_schedule("nightly-jobs", "report").await.unwrap(),
        None
    );
    aws.put_schedule(&s, "my-tracking", false).await.unwrap();

    // The group was created with the tracking tag.
    let tags = em
        .scheduler()
        .list_tags_for_resource()
        .resource_arn(format!(
            "arn:aws:scheduler:ap-northeast-3:{}:schedule-group/nightly-jobs",
            em.account_id
        ))
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "ecschedule:tracking-id" && t.value() == "my-tracking")
    );

    // A schedule in the default group with defaults, and one targeting something else.
    let mut plain = full_schedule(&em, "default", "plain", &cluster);
    plain.timezone = "UTC".into();
    plain.start_date = None;
    plain.end_date = None;
    plain.flexible_window_minutes = None;
    plain.kms_key_arn = None;
    plain.dead_letter_arn = None;
    plain.retry_policy = RetryPolicy::default();
    plain.description = String::new();
    aws.put_schedule(&plain, "my-tracking", false)
        .await
        .unwrap();
    let elsewhere = full_schedule(&em, "default", "elsewhere", &cluster_arn(&em, "other"));
    aws.put_schedule(&elsewhere, "my-tracking", false)
        .await
        .unwrap();

    let before = aws.api_calls();
    let live = aws.read_schedules(&cluster, &[], &quiet).await.unwrap();
    // 1 ListSchedules page + 2 GetSchedule + 1 ListTagsForResource (nightly-jobs; never default).
    assert_eq!(aws.api_calls() - before, 4);
    let got: Vec<&Schedule> = live.schedules.iter().map(|l| &l.schedule).collect();
    assert_eq!(got, [&plain, &s]);
    assert_eq!(live.schedules[0].group_tracking_id, None);
    assert_eq!(
        live.schedules[1].group_tracking_id.as_deref(),
        Some("my-tracking")
    );
    assert_eq!(live.skipped.len(), 1);
    assert_eq!(live.skipped[0].name, "default/elsewhere");
    assert_eq!(
        live.skipped[0].reason,
        format!("targets {}", cluster_arn(&em, "other"))
    );

    // Named: read even though it targets another cluster.
    let named = aws
        .read_schedules(&cluster, &[("default".into(), "elsewhere".into())], &quiet)
        .await
        .unwrap();
    assert_eq!(named.schedules.len(), 3);
    assert_eq!(named.skipped, []);

    // read_schedule agrees with read_schedules, fingerprint included.
    let one = aws
        .read_schedule("nightly-jobs", "report")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one, live.schedules[1]);

    // Update: a full replace (the KMS key goes away), and the fingerprint moves.
    let mut changed = s.clone();
    changed.schedule_expression = "rate(2 hours)".into();
    changed.state = State::Disabled;
    changed.kms_key_arn = None;
    changed.flexible_window_minutes = None;
    changed.ecs.overrides.containers[0]
        .environment
        .insert("C".into(), "3".into());
    aws.put_schedule(&changed, "my-tracking", true)
        .await
        .unwrap();
    let after = aws
        .read_schedule("nightly-jobs", "report")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.schedule, changed);
    assert_ne!(after.fingerprint, one.fingerprint);

    // Creating what exists is an error naming the schedule; deleting converges.
    let err = aws
        .put_schedule(&s, "my-tracking", false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "CreateSchedule for schedule \"nightly-jobs/report\" failed: ConflictException"
        ),
        "{err}"
    );
    aws.delete_schedule("nightly-jobs", "report").await.unwrap();
    assert_eq!(
        aws.read_schedule("nightly-jobs", "report").await.unwrap(),
        None
    );
    aws.delete_schedule("nightly-jobs", "report").await.unwrap();
}
