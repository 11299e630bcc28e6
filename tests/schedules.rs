//! EventBridge Scheduler schedules end to end, with the real binary against the emulator:
//! apply → dump → no changes → edit → plan → plan file → apply, a stale plan refused after an
//! out-of-band UpdateSchedule, prune ownership by tracking-tagged groups, `delete --schedule`,
//! `run --schedule`; offline: `validate --next` in the schedule's timezone and the boundary cases
//! of schedule validation that `config_errors.rs` does not cover.
//!
//! Fixture note: moto answers CreateSchedule into a missing group with HTTP 500 (not the
//! ResourceNotFoundException of AWS), so fixtures create every non-default group explicitly
//! before creating schedules in it through the SDK.

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;
use aws_sdk_scheduler::primitives::DateTime;
use aws_sdk_scheduler::types as sch;

use crate::config_errors::AwsTripwire;
use crate::emulator::{Emulator, emulator};
use crate::fixtures::{
    cluster_arn, create_cluster, default_subnets, register_task_definition, role_arn,
    task_definition_arn,
};
use crate::test::Test;
use crate::workflow::{SEED_REGION, ecsched, lines_starting};

/// The tag that marks a schedule group (and so its schedules) as managed for a trackingId.
const TRACKING_TAG: &str = "ecschedule:tracking-id";

// ---- fixtures ---------------------------------------------------------------------------------

fn group_arn(em: &Emulator, group: &str) -> String {
    format!(
        "arn:aws:scheduler:{}:{}:schedule-group/{group}",
        em.region, em.account_id
    )
}

/// `aws scheduler create-schedule-group --name NAME [--tags …]`.
pub async fn create_group(em: &Emulator, name: &str, tags: &[(&str, &str)]) {
    let tags: Vec<sch::Tag> = tags
        .iter()
        .map(|(k, v)| sch::Tag::builder().key(*k).value(*v).build().expect("tag"))
        .collect();
    em.scheduler()
        .create_schedule_group()
        .name(name)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateScheduleGroup {name}: {e:?}"));
}

/// A schedule made by hand: `rate(1 day)` running `family` on `cluster`, as ecsched would write
/// it for a config naming only `scheduleExpression` and `taskDefinition`. The group must exist
/// (see the module note).
pub async fn create_schedule(em: &Emulator, group: &str, name: &str, cluster: &str, family: &str) {
    let target = sch::Target::builder()
        .arn(cluster_arn(em, cluster))
        .role_arn(role_arn(em, "ecsEventsRole"))
        .ecs_parameters(
            sch::EcsParameters::builder()
                .task_definition_arn(task_definition_arn(em, family))
                .task_count(1)
                .build()
                .expect("ecs parameters"),
        )
        .build()
        .expect("target");
    em.scheduler()
        .create_schedule()
        .group_name(group)
        .name(name)
        .schedule_expression("rate(1 day)")
        .flexible_time_window(
            sch::FlexibleTimeWindow::builder()
                .mode(sch::FlexibleTimeWindowMode::Off)
                .build()
                .expect("flexible time window"),
        )
        .target(target)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSchedule {group}/{name}: {e:?}"));
}

/// Everything about a schedule that a write could change (GetSchedule without the request id).
#[derive(Debug, Clone, PartialEq)]
struct ScheduleSnapshot {
    expression: Option<String>,
    timezone: Option<String>,
    description: Option<String>,
    state: Option<sch::ScheduleState>,
    start_date: Option<DateTime>,
    end_date: Option<DateTime>,
    window: Option<sch::FlexibleTimeWindow>,
    action_after_completion: Option<sch::ActionAfterCompletion>,
    kms_key_arn: Option<String>,
    target: Option<sch::Target>,
    last_modification_date: Option<DateTime>,
}

/// GetSchedule `group/name`; `None` when it does not exist.
async fn schedule(em: &Emulator, group: &str, name: &str) -> Option<ScheduleSnapshot> {
    match em
        .scheduler()
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
    {
        Ok(s) => Some(ScheduleSnapshot {
            expression: s.schedule_expression().map(str::to_owned),
            timezone: s.schedule_expression_timezone().map(str::to_owned),
            description: s.description().map(str::to_owned),
            state: s.state().cloned(),
            start_date: s.start_date().copied(),
            end_date: s.end_date().copied(),
            window: s.flexible_time_window().cloned(),
            action_after_completion: s.action_after_completion().cloned(),
            kms_key_arn: s.kms_key_arn().map(str::to_owned),
            target: s.target().cloned(),
            last_modification_date: s.last_modification_date().copied(),
        }),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("GetSchedule {group}/{name}: {e:?}"),
    }
}

/// Like [`schedule`], for a schedule that must exist.
#[track_caller]
fn existing(em: &Emulator, group: &str, name: &str) -> ScheduleSnapshot {
    em.block_on(schedule(em, group, name))
        .unwrap_or_else(|| panic!("schedule {group}/{name} should exist"))
}

/// `GROUP/NAME` of every schedule of the account, sorted.
pub async fn schedule_names(em: &Emulator) -> Vec<String> {
    let pages: Vec<_> = em
        .scheduler()
        .list_schedules()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListSchedules");
    let mut names: Vec<String> = pages
        .iter()
        .flat_map(|p| p.schedules())
        .map(|s| {
            format!(
                "{}/{}",
                s.group_name().unwrap_or("default"),
                s.name().unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    names
}

/// The tags of a schedule group.
pub async fn group_tags(em: &Emulator, group: &str) -> BTreeMap<String, String> {
    em.scheduler()
        .list_tags_for_resource()
        .resource_arn(group_arn(em, group))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTagsForResource {group}: {e:?}"))
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

pub fn tracking(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(TRACKING_TAG.to_owned(), value.to_owned())])
}

/// Lines that open a resource in plan/diff text (`+ …`, `~ …`, `- …` at column 0).
fn resource_headers(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("+ ") || l.starts_with("~ ") || l.starts_with("- "))
        .collect()
}

/// Cluster `app` with task definitions `job-a` and `job-b` (container `app`).
pub async fn app_cluster(em: &Emulator) {
    create_cluster(em, "app").await;
    register_task_definition(em, "job-a", "app").await;
    register_task_definition(em, "job-b", "app").await;
}

// ---- 1. apply → dump → no changes → edit → plan file → stale plan ----------------------------

/// Three rules and three schedules in two groups, with most schedule fields set.
const MIXED_CONFIG: &str = "\
region: ap-northeast-3
cluster: app
rules:
- name: r1
  scheduleExpression: cron(0 1 * * ? *)
  taskDefinition: job-a
  launch_type: FARGATE
- name: r2
  scheduleExpression: rate(1 hour)
  taskDefinition: job-b
- name: r3
  scheduleExpression: cron(30 2 * * ? *)
  taskDefinition: job-a
  retryPolicy:
    maximumRetryAttempts: 3
schedules:
- name: s1
  group: nightly
  scheduleExpression: cron(0 3 * * ? *)
  timezone: Asia/Tokyo
  taskDefinition: job-a
  launch_type: FARGATE
  taskGroup: batch
  flexibleTimeWindow:
    mode: FLEXIBLE
    maximumWindowInMinutes: 15
  containerOverrides:
  - name: app
    command: [echo, hi]
    environment:
      MODE: nightly
  network_configuration:
    aws_vpc_configuration:
      subnets: [subnet-0a]
      security_groups: [sg-0a]
- name: s2
  group: nightly
  scheduleExpression: rate(6 hours)
  taskDefinition: job-b
  retryPolicy:
    maximumRetryAttempts: 5
    maximumEventAgeInSeconds: 3600
  startDate: 2030-01-01T09:00:00+09:00
  endDate: 2031-01-01T00:00:00Z
  state: DISABLED
  dead_letter_config:
    sqs: jobs-dlq
- name: s3
  group: hourly
  description: one-off
  scheduleExpression: at(2030-06-01T12:00:00)
  timezone: Europe/Paris
  taskDefinition: job-b
  actionAfterCompletion: DELETE
";

/// What `dump` prints for `MIXED_CONFIG` once applied (schedules sorted by group, then name;
/// defaults left out; the startDate in UTC).
const MIXED_DUMP: &str = "\
region: ap-northeast-3
cluster: app
rules:
- name: r1
  scheduleExpression: cron(0 1 * * ? *)
  taskDefinition: job-a
  launch_type: FARGATE
- name: r2
  scheduleExpression: rate(1 hour)
  taskDefinition: job-b
- name: r3
  scheduleExpression: cron(30 2 * * ? *)
  taskDefinition: job-a
  retryPolicy:
    maximumRetryAttempts: 3
schedules:
- name: s3
  group: hourly
  description: one-off
  scheduleExpression: at(2030-06-01T12:00:00)
  timezone: Europe/Paris
  actionAfterCompletion: DELETE
  taskDefinition: job-b
- name: s1
  group: nightly
  taskGroup: batch
  scheduleExpression: cron(0 3 * * ? *)
  timezone: Asia/Tokyo
  flexibleTimeWindow:
    mode: FLEXIBLE
    maximumWindowInMinutes: 15
  taskDefinition: job-a
  containerOverrides:
  - name: app
    command: [echo, hi]
    environment:
      MODE: nightly
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - subnet-0a
      security_groups:
      - sg-0a
      assign_public_ip: DISABLED
- name: s2
  group: nightly
  scheduleExpression: rate(6 hours)
  startDate: \"2030-01-01T00:00:00Z\"
  endDate: \"2031-01-01T00:00:00Z\"
  state: DISABLED
  taskDefinition: job-b
  dead_letter_config:
    sqs: jobs-dlq
  retryPolicy:
    maximumRetryAttempts: 5
    maximumEventAgeInSeconds: 3600
";

#[test]
fn schedules_round_trip_through_dump_plan_file_and_refuse_a_stale_plan() {
    let Some(em) = emulator() else { return };
    em.block_on(app_cluster(&em));

    // Apply the config: 3 rules, 3 schedules, two groups created with the tracking tag.
    let out = ecsched(&em)
        .config("ecsched.yaml", MIXED_CONFIG)
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("  ✓ schedule.hourly/s3 created\n")
        .stderr_contains("  ✓ schedule.nightly/s1 created\n")
        .stderr_contains("  ✓ schedule.nightly/s2 created\n")
        .stderr_contains("Apply complete: 6 of 6 changes applied.\n")
        .success();
    assert_eq!(
        em.block_on(schedule_names(&em)),
        ["hourly/s3", "nightly/s1", "nightly/s2"]
    );
    for group in ["hourly", "nightly"] {
        assert_eq!(
            em.block_on(group_tags(&em, group)),
            tracking("app"),
            "ecsched creates missing groups with the tracking tag (trackingId = cluster)"
        );
    }
    let s1 = existing(&em, "nightly", "s1");
    assert_eq!(s1.timezone.as_deref(), Some("Asia/Tokyo"));
    assert_eq!(
        s1.window,
        Some(
            sch::FlexibleTimeWindow::builder()
                .mode(sch::FlexibleTimeWindowMode::Flexible)
                .maximum_window_in_minutes(15)
                .build()
                .expect("window")
        )
    );
    let ecs_params = s1
        .target
        .as_ref()
        .and_then(|t| t.ecs_parameters())
        .expect("EcsParameters of s1");
    assert_eq!(
        ecs_params.group(),
        Some("batch"),
        "taskGroup is the ECS group"
    );
    let s2 = existing(&em, "nightly", "s2");
    assert_eq!(s2.state, Some(sch::ScheduleState::Disabled));
    assert_eq!(
        s2.start_date.map(|d| d.secs()),
        Some(1_893_456_000),
        "startDate 2030-01-01T09:00:00+09:00 is 2030-01-01T00:00:00Z"
    );
    assert_eq!(
        s2.target.as_ref().and_then(|t| t.dead_letter_config()),
        Some(
            &sch::DeadLetterConfig::builder()
                .arn(format!(
                    "arn:aws:sqs:{}:{}:jobs-dlq",
                    em.region, em.account_id
                ))
                .build()
        )
    );
    let s3 = existing(&em, "hourly", "s3");
    assert_eq!(
        s3.action_after_completion,
        Some(sch::ActionAfterCompletion::Delete)
    );

    // Import what was applied: the dump loads back and plans to no changes.
    let out = out
        .test()
        .args(["dump", "--cluster", "app", "--region", SEED_REGION])
        .stdout(MIXED_DUMP)
        .success();
    std::fs::write(out.path("ecsched.yaml"), &out.stdout).expect("writing the dump");
    let out = out
        .test()
        .args(["diff", "--all", "--detailed-exitcode"])
        .stdout("")
        .stderr("No changes. Live state matches the configuration.\n")
        .success();

    // Edit one schedule's timezone and another one's retry policy: exactly those two changes.
    let yaml = out.read("ecsched.yaml");
    for wanted in ["timezone: Asia/Tokyo", "maximumRetryAttempts: 5"] {
        assert_eq!(yaml.matches(wanted).count(), 1, "{wanted} once in:\n{yaml}");
    }
    let edited = yaml
        .replace("timezone: Asia/Tokyo", "timezone: America/New_York")
        .replace("maximumRetryAttempts: 5", "maximumRetryAttempts: 2");
    std::fs::write(out.path("ecsched.yaml"), edited).expect("editing the config");
    let out = out
        .test()
        .args(["plan", "--all"])
        .stdout_contains("Plan: 0 to add, 2 to change, 0 to destroy.\n")
        .success();
    assert_eq!(
        resource_headers(&out.stdout),
        [
            "~ schedule.nightly/s1 will be updated in place",
            "~ schedule.nightly/s2 will be updated in place",
        ],
        "plan must change exactly s1 and s2:\n{}",
        out.stdout
    );
    assert_eq!(
        lines_starting(&out.stdout, "  - "),
        ["  - timezone: Asia/Tokyo", "  -   maximumRetryAttempts: 5"],
        "removed lines:\n{}",
        out.stdout
    );
    assert_eq!(
        lines_starting(&out.stdout, "  + "),
        [
            "  + timezone: America/New_York",
            "  +   maximumRetryAttempts: 2"
        ],
        "added lines:\n{}",
        out.stdout
    );

    // The gated flow: save the plan, apply it.
    let out = out
        .test()
        .args(["plan", "-all", "-out", "plan.bin"])
        .stderr("Saved the plan to plan.bin. Apply it with: ecsched apply plan.bin\n")
        .success();
    let out = out
        .test()
        .args(["apply", "plan.bin"])
        .stdout("")
        // Written in parallel: each result line as it happens, in any order.
        .stderr_regex(
            "(  ✓ schedule.nightly/s1 updated\n  ✓ schedule.nightly/s2 updated\n\
             |  ✓ schedule.nightly/s2 updated\n  ✓ schedule.nightly/s1 updated\n)\
             Apply complete: 2 of 2 changes applied.\n",
        )
        .success();
    assert_eq!(
        existing(&em, "nightly", "s1").timezone.as_deref(),
        Some("America/New_York")
    );
    let retry = existing(&em, "nightly", "s2")
        .target
        .and_then(|t| t.retry_policy().cloned())
        .expect("retry policy of s2");
    assert_eq!(
        (
            retry.maximum_retry_attempts(),
            retry.maximum_event_age_in_seconds()
        ),
        (Some(2), Some(3600))
    );
    assert_eq!(
        existing(&em, "hourly", "s3"),
        s3,
        "s3 was not in the plan and must not be written"
    );
    let out = out
        .test()
        .args(["diff", "--all", "--detailed-exitcode"])
        .stderr("No changes. Live state matches the configuration.\n")
        .success();

    // A stale plan: planned, then s2 is changed behind ecsched's back (UpdateSchedule is a
    // full replace: send back everything but the description).
    let yaml = out.read("ecsched.yaml");
    std::fs::write(
        out.path("ecsched.yaml"),
        yaml.replacen("maximumRetryAttempts: 2", "maximumRetryAttempts: 7", 1),
    )
    .expect("editing the config");
    let out = out
        .test()
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains("~ schedule.nightly/s2 will be updated in place\n")
        .success();
    em.block_on(async {
        let s = em
            .scheduler()
            .get_schedule()
            .group_name("nightly")
            .name("s2")
            .send()
            .await
            .expect("GetSchedule nightly/s2");
        em.scheduler()
            .update_schedule()
            .group_name("nightly")
            .name("s2")
            .set_schedule_expression(s.schedule_expression().map(str::to_owned))
            .set_schedule_expression_timezone(s.schedule_expression_timezone().map(str::to_owned))
            .set_start_date(s.start_date().copied())
            .set_end_date(s.end_date().copied())
            .description("edited by hand")
            .set_state(s.state().cloned())
            .set_flexible_time_window(s.flexible_time_window().cloned())
            .set_action_after_completion(s.action_after_completion().cloned())
            .set_kms_key_arn(s.kms_key_arn().map(str::to_owned))
            .set_target(s.target().cloned())
            .send()
            .await
            .expect("UpdateSchedule nightly/s2");
    });
    let by_hand = existing(&em, "nightly", "s2");
    assert_eq!(by_hand.description.as_deref(), Some("edited by hand"));
    out.test()
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(
            "error: the saved plan plan.bin is stale: live state changed since it was made; \
             nothing was written\n  schedule.nightly/s2 changed since the plan was made: description\n\
             Run plan again.\n",
        )
        .status(3);
    assert_eq!(
        existing(&em, "nightly", "s2"),
        by_hand,
        "a refused apply must not write: s2 stays as modified by hand"
    );
}

// ---- 2. prune ownership -----------------------------------------------------------------------

#[test]
fn prune_deletes_only_schedules_in_groups_managed_for_this_tracking_id() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        // A group made by hand (no tag) and one managed by another config.
        create_group(&em, "by-hand", &[]).await;
        create_group(&em, "theirs", &[(TRACKING_TAG, "other-team")]).await;
        create_schedule(&em, "by-hand", "manual", "app", "job-a").await;
        create_schedule(&em, "theirs", "their-job", "app", "job-a").await;
        create_schedule(&em, "default", "legacy", "app", "job-a").await;
    });

    // ecsched creates group `ours` (tagged) and a schedule in the existing untagged group.
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: keep
              group: ours
              scheduleExpression: rate(1 hour)
              taskDefinition: job-a
            - name: orphan
              group: ours
              scheduleExpression: rate(2 hours)
              taskDefinition: job-b
            - name: declared
              group: by-hand
              scheduleExpression: rate(3 hours)
              taskDefinition: job-a
            ",
        )
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 3 of 3 changes applied.\n")
        .success();
    assert_eq!(em.block_on(group_tags(&em, "ours")), tracking("app"));
    assert_eq!(
        em.block_on(group_tags(&em, "by-hand")),
        BTreeMap::new(),
        "ecsched must never tag a group it did not create"
    );
    assert_eq!(
        em.block_on(group_tags(&em, "theirs")),
        tracking("other-team")
    );
    let untouchable = [
        "by-hand/declared",
        "by-hand/manual",
        "default/legacy",
        "theirs/their-job",
    ];
    let snapshot = |em: &Emulator| -> Vec<ScheduleSnapshot> {
        untouchable
            .iter()
            .map(|a| {
                let (group, name) = a.split_once('/').expect("GROUP/NAME");
                existing(em, group, name)
            })
            .collect()
    };
    let before = snapshot(&em);

    // The config keeps only `keep`: prune plans exactly one delete (managed `ours/orphan`).
    std::fs::write(
        out.path("ecsched.yaml"),
        "region: ap-northeast-3\ncluster: app\nschedules:\n- name: keep\n  group: ours\n  \
         scheduleExpression: rate(1 hour)\n  taskDefinition: job-a\n",
    )
    .expect("writing the config");
    let out = out
        .test()
        .args(["plan", "--all", "--prune", "-out", "prune.bin"])
        .stdout_contains("Plan: 0 to add, 0 to change, 1 to destroy.\n")
        .success();
    assert_eq!(
        resource_headers(&out.stdout),
        ["- schedule.ours/orphan will be destroyed"],
        "prune must plan to delete only ours/orphan:\n{}",
        out.stdout
    );
    let out = out
        .test()
        .args(["apply", "prune.bin"])
        .stderr_contains("  ✓ schedule.ours/orphan deleted\n")
        .stderr_contains("Apply complete: 1 of 1 changes applied.\n")
        .success();
    assert_eq!(
        em.block_on(schedule_names(&em)),
        [
            "by-hand/declared",
            "by-hand/manual",
            "default/legacy",
            "ours/keep",
            "theirs/their-job"
        ],
        "prune must delete only ours/orphan"
    );
    assert_eq!(
        snapshot(&em),
        before,
        "schedules outside groups managed for trackingId app must not be touched"
    );
    assert_eq!(
        em.block_on(group_tags(&em, "by-hand")),
        BTreeMap::new(),
        "still untagged"
    );

    // In sync now, prune included; what prune cannot touch is said out loud (by-hand/declared
    // was created by ecsched, but in a group it did not create: claim-group makes it prunable).
    out.test()
        .args(["diff", "--all", "--prune", "--detailed-exitcode"])
        .stdout(
            "
            Left alone (4; counted in neither add, change nor destroy):
              schedule.by-hand/declared: in schedule group \"by-hand\", which ecsched did not create (ecsched claim-group by-hand makes it managed)
              schedule.by-hand/manual: in schedule group \"by-hand\", which ecsched did not create (ecsched claim-group by-hand makes it managed)
              schedule.default/legacy: in the default schedule group, which ecsched never manages
              schedule.theirs/their-job: in schedule group \"theirs\", managed for another trackingId (\"other-team\")

            ",
        )
        .stderr("No changes. Live state matches the configuration.\n")
        .success();
}

/// A declared schedule in a group managed for another trackingId belongs to another config:
/// the plan shows a takeover (a change, exit 2), apply refuses it without --takeover and writes
/// nothing, and with --takeover updates it and reports success; the group keeps its owner.
#[test]
fn a_schedule_in_a_group_of_another_tracking_id_is_a_takeover_that_needs_consent() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        create_group(&em, "theirs", &[(TRACKING_TAG, "other-team")]).await;
        create_schedule(&em, "theirs", "shared", "app", "job-a").await;
    });
    let before = existing(&em, "theirs", "shared");
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: shared
              group: theirs
              scheduleExpression: rate(2 days)
              taskDefinition: job-a
            ",
        )
        .args(["plan", "--all", "--detailed-exitcode", "-out", "plan.bin"])
        .stdout_contains(
            "~ schedule.theirs/shared will be TAKEN OVER from trackingId \"other-team\" and updated in place\n",
        )
        .stdout_contains("apply refuses this plan unless it is made with --takeover.")
        .status(2);
    let out = out
        .test()
        .args(["apply", "plan.bin"])
        .stderr_contains("would take over schedule.theirs/shared from another trackingId")
        .status(3);
    let out = out
        .test()
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("would take over schedule.theirs/shared from another trackingId")
        .failure();
    assert_eq!(existing(&em, "theirs", "shared"), before, "nothing written");
    out.test()
        .args(["apply", "--all", "--auto-approve", "--takeover"])
        .stderr_contains("  ✓ schedule.theirs/shared updated\n")
        .stderr_contains("Apply complete: 1 of 1 changes applied.\n")
        .success();
    assert_eq!(
        existing(&em, "theirs", "shared").expression.as_deref(),
        Some("rate(2 days)")
    );
    assert_eq!(
        em.block_on(group_tags(&em, "theirs")),
        tracking("other-team"),
        "the group keeps its owner"
    );
}

/// A schedule created in a group that another trackingId manages would silently become
/// theirs, and the plan shows a plain create (the schedule does not exist yet): apply writes
/// nothing for it, whether the group was theirs when planned or became theirs since.
#[test]
fn a_new_schedule_is_never_created_in_a_group_of_another_tracking_id() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        create_group(&em, "theirs", &[(TRACKING_TAG, "other-team")]).await;
    });
    let schedule_in = |group: &str| {
        format!(
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: mine
              group: {group}
              scheduleExpression: rate(1 hour)
              taskDefinition: job-a
            "
        )
    };
    let out = ecsched(&em)
        .config("ecsched.yaml", &schedule_in("theirs"))
        .args(["apply", "--all", "--auto-approve"])
        .stdout_contains("+ schedule.theirs/mine will be created")
        .stdout_contains(
            "  ! its schedule group \"theirs\" is managed for trackingId \"other-team\": apply \
             refuses to create a schedule in it (declare another group)\n",
        )
        .stderr_contains(
            "schedule group \"theirs\" is managed for trackingId \"other-team\", not \"app\": \
             a schedule created in it would become theirs",
        )
        .failure();

    // Planned while the group did not exist; another config creates it before the apply.
    let out = out
        .test()
        .config("ecsched.yaml", &schedule_in("racing"))
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains("+ schedule.racing/mine will be created")
        .stdout_contains(
            "  ! creates its schedule group \"racing\", tagged for trackingId \"app\"\n",
        )
        .success();
    em.block_on(create_group(&em, "racing", &[(TRACKING_TAG, "other-team")]));
    out.test()
        .args(["apply", "plan.bin"])
        .stderr_contains("schedule group \"racing\" is managed for trackingId \"other-team\"")
        .failure();
    assert_eq!(em.block_on(schedule_names(&em)), Vec::<String>::new());
    assert_eq!(
        em.block_on(group_tags(&em, "racing")),
        tracking("other-team")
    );
}

/// trackingId after planning makes its schedules prunable, so the plan is stale.
#[test]
fn saved_prune_plan_is_refused_when_a_group_becomes_managed() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        create_group(&em, "by-hand", &[]).await;
        create_schedule(&em, "by-hand", "manual", "app", "job-a").await;
    });
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: keep
              group: ours
              scheduleExpression: rate(1 hour)
              taskDefinition: job-a
            ",
        )
        .args(["apply", "--all", "--prune", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.\n")
        .success();
    let out = out
        .test()
        .args(["plan", "--all", "--prune", "-out", "plan.bin"])
        .stdout_contains("No changes.")
        .success();
    em.block_on(async {
        em.scheduler()
            .tag_resource()
            .resource_arn(group_arn(&em, "by-hand"))
            .tags(
                sch::Tag::builder()
                    .key(TRACKING_TAG)
                    .value("app")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("TagResource by-hand");
    });
    let manual = existing(&em, "by-hand", "manual");
    out.test()
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(
            "error: the saved plan plan.bin is stale: live state changed since it was made; \
             nothing was written\n  schedule.by-hand/manual is now managed for this trackingId \
             but was not when planned\nRun plan again.\n",
        )
        .status(3);
    assert_eq!(existing(&em, "by-hand", "manual"), manual);
}

// ---- 3. delete --schedule ---------------------------------------------------------------------

#[test]
fn delete_schedule_removes_a_managed_schedule_and_refuses_unmanaged_ones() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        create_group(&em, "by-hand", &[]).await;
        create_schedule(&em, "by-hand", "manual", "app", "job-a").await;
    });
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: nightly
              group: jobs
              scheduleExpression: cron(0 1 * * ? *)
              taskDefinition: job-a
            - name: manual
              group: by-hand
              scheduleExpression: rate(1 day)
              taskDefinition: job-a
            - name: plain
              scheduleExpression: rate(1 day)
              taskDefinition: job-b
            ",
        )
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("  ✓ schedule.jobs/nightly created\n")
        .stderr_contains("  ✓ schedule.default/plain created\n")
        .success();

    // Managed (its group `jobs` was created by ecsched with the tag): deleted.
    let out = out
        .test()
        .args(["delete", "--schedule", "nightly", "--auto-approve"])
        .stdout_contains("- schedule.jobs/nightly will be destroyed\n")
        .stderr_contains("  ✓ schedule.jobs/nightly deleted\n")
        .success();
    assert_eq!(
        em.block_on(schedule(&em, "jobs", "nightly")),
        None,
        "delete --schedule nightly should delete it"
    );
    assert_eq!(
        em.block_on(group_tags(&em, "jobs")),
        tracking("app"),
        "ecsched never deletes a group"
    );

    // In an untagged group, and in `default` (never managed): refused, exit 1, untouched.
    let manual = existing(&em, "by-hand", "manual");
    let plain = existing(&em, "default", "plain");
    let out = out
        .test()
        .args(["delete", "--schedule", "manual", "--auto-approve"])
        .stdout("")
        .stderr_contains("schedule.by-hand/manual is not managed for trackingId \"app\"")
        .stderr_contains("pass --force to delete it anyway")
        .failure();
    let out = out
        .test()
        .args(["delete", "--schedule", "plain", "--auto-approve"])
        .stdout("")
        .stderr_contains("schedule.default/plain is not managed for trackingId \"app\"")
        .failure();
    assert_eq!(existing(&em, "by-hand", "manual"), manual);
    assert_eq!(existing(&em, "default", "plain"), plain);

    // --force deletes it anyway; deleting what is gone is an error, not a silent success.
    let out = out
        .test()
        .args([
            "delete",
            "--schedule",
            "manual",
            "--auto-approve",
            "--force",
        ])
        .stderr_contains("  ✓ schedule.by-hand/manual deleted\n")
        .success();
    out.test()
        .args(["delete", "--schedule", "nightly", "--auto-approve"])
        .stderr_contains("schedule.jobs/nightly does not exist")
        .failure();
    assert_eq!(em.block_on(schedule_names(&em)), ["default/plain"]);
}

/// `delete --rule NAME` works for a rule the config no longer declares; `delete --schedule NAME`
/// must find a managed schedule's group the same way instead of assuming `default`.
#[test]
fn delete_schedule_finds_a_managed_schedule_the_config_no_longer_declares() {
    let Some(em) = emulator() else { return };
    em.block_on(app_cluster(&em));
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: nightly
              group: jobs
              scheduleExpression: cron(0 1 * * ? *)
              taskDefinition: job-a
            - name: weekly
              group: jobs
              scheduleExpression: cron(0 1 ? * MON *)
              taskDefinition: job-a
            ",
        )
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 2 of 2 changes applied.\n")
        .success();
    std::fs::write(
        out.path("ecsched.yaml"),
        "region: ap-northeast-3\ncluster: app\nschedules:\n- name: nightly\n  group: jobs\n  \
         scheduleExpression: cron(0 1 * * ? *)\n  taskDefinition: job-a\n",
    )
    .expect("writing the config");
    out.test()
        .args(["delete", "--schedule", "weekly", "--auto-approve"])
        .stdout_contains("- schedule.jobs/weekly will be destroyed\n")
        .stderr_contains("  ✓ schedule.jobs/weekly deleted\n")
        .success();
    assert_eq!(em.block_on(schedule_names(&em)), ["jobs/nightly"]);
}

// ---- 4. run --schedule ------------------------------------------------------------------------

#[test]
fn run_schedule_starts_the_task_with_the_schedule_parameters() {
    let Some(em) = emulator() else { return };
    let subnet = default_subnets(&em).remove(0);
    em.block_on(app_cluster(&em));
    let config = format!(
        "\
region: ap-northeast-3
cluster: app
schedules:
- name: report
  group: jobs
  scheduleExpression: cron(0 9 * * ? *)
  timezone: Asia/Tokyo
  taskDefinition: job-a
  taskGroup: reports
  launch_type: FARGATE
  containerOverrides:
  - name: app
    command: [report, --daily]
    environment:
      MODE: daily
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - {subnet}
      security_groups:
      - sg-12345678
      assign_public_ip: DISABLED
"
    );
    let out = ecsched(&em)
        .config("ecsched.yaml", &config)
        .args(["run", "--schedule", "report"])
        .stdout("")
        .success();
    let task_arn = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("started task "))
        .unwrap_or_else(|| panic!("no `started task` line on stderr:\n{}", out.stderr))
        .to_owned();
    assert_eq!(
        out.stderr,
        format!("running the schedule \"report\"\nstarted task {task_arn}\n")
    );
    let described = em
        .block_on(
            em.ecs()
                .describe_tasks()
                .cluster("app")
                .tasks(&task_arn)
                .send(),
        )
        .expect("DescribeTasks");
    assert_eq!(described.tasks().len(), 1, "{described:?}");
    let task = &described.tasks()[0];
    assert_eq!(task.started_by(), Some("ecsched"), "{task:?}");
    assert_eq!(
        task.group(),
        Some("reports"),
        "taskGroup → ECS group: {task:?}"
    );
    assert_eq!(
        task.launch_type(),
        Some(&ecs::LaunchType::Fargate),
        "{task:?}"
    );
    assert_eq!(
        task.task_definition_arn(),
        Some(format!("{}:1", task_definition_arn(&em, "job-a")).as_str())
    );
    let overrides = task.overrides().expect("task overrides");
    let container = &overrides.container_overrides()[0];
    assert_eq!(container.name(), Some("app"));
    assert_eq!(container.command(), ["report", "--daily"]);
    assert_eq!(container.environment()[0].name(), Some("MODE"));
    assert_eq!(container.environment()[0].value(), Some("daily"));
    // run does not need (or touch) the schedule itself.
    assert!(em.block_on(schedule_names(&em)).is_empty());
}

/// `run --rule` and `plan --schedule` suggest the closest name; `run --schedule` should too.
#[test]
fn run_unknown_schedule_suggests_the_closest_name() {
    let Some(em) = emulator() else { return };
    em.block_on(app_cluster(&em));
    ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            schedules:
            - name: report
              scheduleExpression: rate(1 day)
              taskDefinition: job-a
            ",
        )
        .args(["run", "--schedule", "reprot"])
        .stdout("")
        .stderr_contains("no schedule named \"reprot\"")
        .stderr_contains("did you mean `report`?")
        .failure();
}

// ---- 5. validate (offline) --------------------------------------------------------------------

/// `validate` with AWS pointed at a tripwire: it must not make any call.
fn offline(config: &str) -> (AwsTripwire, Test) {
    let tripwire = AwsTripwire::new();
    let test = tripwire.arm(Test::new()).config("ecsched.yaml", config);
    (tripwire, test)
}

#[test]
fn validate_next_prints_fire_times_in_the_schedule_timezone() {
    let (tripwire, test) = offline(
        "
        region: ap-northeast-3
        cluster: app
        schedules:
        - name: tokyo
          group: nightly
          scheduleExpression: cron(0 9 * * ? *)
          timezone: Asia/Tokyo
          taskDefinition: job-a
        - name: new-york
          scheduleExpression: cron(30 8 * * ? *)
          timezone: America/New_York
          taskDefinition: job-a
        - name: once
          scheduleExpression: at(2026-03-10T03:00:00)
          timezone: Asia/Tokyo
          taskDefinition: job-a
        - name: past
          scheduleExpression: at(2020-01-01T00:00:00)
          taskDefinition: job-a
        - name: paused
          scheduleExpression: rate(1 hour)
          state: DISABLED
          taskDefinition: job-a
        rules:
        - name: off
          scheduleExpression: rate(1 day)
          disabled: true
          taskDefinition: job-a
        ",
    );
    // Saturday 2026-03-07 21:00 in Tokyo; New York switches to EDT on Sunday 2026-03-08.
    test.env("ECSCHED_NOW", "2026-03-07T12:00:00Z")
        .args(["-c", "ecsched.yaml", "validate", "--next", "3"])
        .stdout(
            "
            rule off: rate(1 day) (UTC)
              (disabled: does not fire)
            schedule nightly/tokyo: cron(0 9 * * ? *) (Asia/Tokyo)
              2026-03-08T09:00:00+09:00  (2026-03-08T00:00:00Z)
              2026-03-09T09:00:00+09:00  (2026-03-09T00:00:00Z)
              2026-03-10T09:00:00+09:00  (2026-03-10T00:00:00Z)
            schedule default/new-york: cron(30 8 * * ? *) (America/New_York)
              2026-03-07T08:30:00-05:00  (2026-03-07T13:30:00Z)
              2026-03-08T08:30:00-04:00  (2026-03-08T12:30:00Z)
              2026-03-09T08:30:00-04:00  (2026-03-09T12:30:00Z)
            schedule default/once: at(2026-03-10T03:00:00) (Asia/Tokyo)
              2026-03-10T03:00:00+09:00  (2026-03-09T18:00:00Z)
            schedule default/past: at(2020-01-01T00:00:00) (UTC)
              (no future fire time)
            schedule default/paused: rate(1 hour) (UTC)
              (disabled: does not fire)
            ",
        )
        .stderr("ecsched.yaml: valid (1 rule, 5 schedules)\n")
        .success();
    tripwire.assert_untouched("validate --next");
}

/// Scheduler never fires before startDate or after endDate, so `--next` must not list such times.
#[test]
fn validate_next_keeps_fire_times_between_start_and_end_date() {
    let (tripwire, test) = offline(
        "
        region: ap-northeast-3
        cluster: app
        schedules:
        - name: window
          scheduleExpression: cron(0 9 * * ? *)
          startDate: 2026-03-10T00:00:00Z
          endDate: 2026-03-12T00:00:00Z
          taskDefinition: job-a
        - name: ended
          scheduleExpression: cron(0 9 * * ? *)
          endDate: 2026-03-01T00:00:00Z
          taskDefinition: job-a
        ",
    );
    test.env("ECSCHED_NOW", "2026-03-07T12:00:00Z")
        .args(["-c", "ecsched.yaml", "validate", "--next", "3"])
        .stdout(
            "
            schedule default/window: cron(0 9 * * ? *) (UTC)
              2026-03-10T09:00:00+00:00  (2026-03-10T09:00:00Z)
              2026-03-11T09:00:00+00:00  (2026-03-11T09:00:00Z)
            schedule default/ended: cron(0 9 * * ? *) (UTC)
              (no future fire time)
            ",
        )
        .stderr("ecsched.yaml: valid (0 rules, 2 schedules)\n")
        .success();
    tripwire.assert_untouched("validate --next");
}

/// The boundaries next to `testdata/invalid/` (bad-at-schedule, bad-timezone, end-before-start,
/// flexible-window-missing-minutes): equal dates, also across offsets; impossible at() dates;
/// a timezone in the wrong case; the window's range and mode. All reported at once.
#[test]
fn validate_rejects_schedule_boundary_cases_all_at_once() {
    let (tripwire, test) = offline(
        "
        region: ap-northeast-3
        cluster: app
        schedules:
        - name: same-dates
          scheduleExpression: rate(1 hour)
          startDate: 2026-12-01T00:00:00Z
          endDate: 2026-12-01T00:00:00Z
          taskDefinition: job-a
        - name: same-instant
          scheduleExpression: rate(1 hour)
          startDate: 2026-12-01T09:00:00+09:00
          endDate: 2026-12-01T00:00:00Z
          taskDefinition: job-a
        - name: feb-30
          scheduleExpression: at(2026-02-30T00:00:00)
          taskDefinition: job-a
        - name: hour-25
          scheduleExpression: at(2026-12-01T25:00:00)
          taskDefinition: job-a
        - name: at-with-zone
          scheduleExpression: at(2026-12-01T00:00:00Z)
          taskDefinition: job-a
        - name: lower-case-zone
          scheduleExpression: rate(1 hour)
          timezone: asia/tokyo
          taskDefinition: job-a
        - name: window-zero
          scheduleExpression: rate(1 hour)
          flexibleTimeWindow:
            mode: FLEXIBLE
            maximumWindowInMinutes: 0
          taskDefinition: job-a
        - name: window-too-long
          scheduleExpression: rate(1 hour)
          flexibleTimeWindow:
            mode: FLEXIBLE
            maximumWindowInMinutes: 1441
          taskDefinition: job-a
        - name: off-with-minutes
          scheduleExpression: rate(1 hour)
          flexibleTimeWindow:
            mode: \"OFF\"
            maximumWindowInMinutes: 10
          taskDefinition: job-a
        ",
    );
    test.args(["-c", "ecsched.yaml", "validate"])
        .stdout("")
        .stderr(
            "
            error: ecsched.yaml:7:12: schedule \"same-dates\": endDate must be after startDate
            ecsched.yaml:12:12: schedule \"same-instant\": endDate must be after startDate
            ecsched.yaml:15:23: schedule \"feb-30\": invalid at expression \"at(2026-02-30T00:00:00)\": \"2026-02-30T00:00:00\" is not a valid date and time
            ecsched.yaml:18:23: schedule \"hour-25\": invalid at expression \"at(2026-12-01T25:00:00)\": \"2026-12-01T25:00:00\" is not a valid date and time
            ecsched.yaml:21:23: schedule \"at-with-zone\": invalid at expression \"at(2026-12-01T00:00:00Z)\": expected the form at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-01-02T03:04:05)
            ecsched.yaml:25:13: schedule \"lower-case-zone\": unknown timezone \"asia/tokyo\" (expected an IANA name such as \"Asia/Tokyo\" or \"UTC\")
            ecsched.yaml:31:29: schedule \"window-zero\": maximumWindowInMinutes must be between 1 and 1440
            ecsched.yaml:37:29: schedule \"window-too-long\": maximumWindowInMinutes must be between 1 and 1440
            ecsched.yaml:43:29: schedule \"off-with-minutes\": maximumWindowInMinutes is only allowed with mode FLEXIBLE
            9 problems in ecsched.yaml
            ",
        )
        .failure();
    tripwire.assert_untouched("validate");
}
