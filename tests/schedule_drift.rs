//! `apply PLANFILE` refuses a plan whose touched EventBridge Scheduler schedule changed live
//! since it was made: exit 3, "stale" on stderr, and nothing written. One case per field of a
//! schedule and its ECS target (each changed through GetSchedule + a full-replace
//! UpdateSchedule), plus the schedule's group losing or changing its tracking tag, the schedule
//! or its group deleted, and a schedule the plan would create made by hand in the meantime.
//!
//! Every case runs in an account of its own, a few at a time in threads. After a refusal the
//! whole Scheduler state of the account (groups, their tags, every schedule with timestamps)
//! must equal the state right after the live change.
//!
//! Emulator notes: moto's UpdateSchedule ignores ActionAfterCompletion, so that field is
//! changed by deleting and re-creating the schedule; and CreateSchedule into a missing group
//! gives HTTP 500, so hand-made schedules get their group created first.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use aws_sdk_scheduler::primitives::DateTime;
use aws_sdk_scheduler::types as sch;
use serde_json::Value;

use crate::emulator::{Emulator, emulator, run_cases_in_accounts};
use crate::fixtures::{
    cluster_arn, create_cluster, register_task_definition, role_arn, task_definition_arn,
};
use crate::test::Output;
use crate::workflow::ecsched;

/// The tag that marks a schedule group (and so its schedules) as managed for a trackingId.
const TRACKING_TAG: &str = "ecschedule:tracking-id";

/// The baseline schedule's group and name.
const GROUP: &str = "jobs";
const NAME: &str = "nightly";

// ---- config ------------------------------------------------------------------------------------

/// A schedule with every field set to a non-default value (`actionAfterCompletion: NONE`
/// because DELETE is for one-time schedules). `group: None` leaves it in `default`.
fn schedule_yaml(em: &Emulator, name: &str, group: Option<&str>, description: &str) -> String {
    let group = group.map_or(String::new(), |g| format!("  group: {g}\n"));
    let account = &em.account_id;
    format!(
        "\
- name: {name}
{group}  description: {description}
  scheduleExpression: cron(0 1 * * ? *)
  timezone: Asia/Tokyo
  startDate: 2030-01-01T00:00:00Z
  endDate: 2031-01-01T00:00:00Z
  state: DISABLED
  flexibleTimeWindow:
    mode: FLEXIBLE
    maximumWindowInMinutes: 15
  actionAfterCompletion: NONE
  kmsKeyArn: arn:aws:kms:ap-northeast-3:{account}:key/11111111-2222-3333-4444-555555555555
  taskDefinition: job
  taskCount: 2
  launch_type: FARGATE
  platform_version: 1.4.0
  taskGroup: batch
  role: ecsEventsRole
  propagateTags: TASK_DEFINITION
  enableECSManagedTags: true
  enableExecuteCommand: true
  referenceId: ref-1
  taskTags:
    team: data
    tier: batch
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
      LEVEL: debug
      MODE: nightly
    cpu: 128
    memory: 256
  taskOverride:
    cpu: \"512\"
    memory: \"1024\"
    taskRoleArn: arn:aws:iam::{account}:role/jobTask
    executionRoleArn: arn:aws:iam::{account}:role/jobExecution
    ephemeralStorage:
      sizeInGiB: 30
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
"
    )
}

fn config(schedules: &[String]) -> String {
    format!(
        "region: ap-northeast-3\ncluster: app\nschedules:\n{}",
        schedules.concat()
    )
}

/// The baseline: `jobs/nightly` with the given description.
fn baseline(em: &Emulator, description: &str) -> String {
    config(&[schedule_yaml(em, NAME, Some(GROUP), description)])
}

// ---- live state --------------------------------------------------------------------------------

/// Everything GetSchedule returns but the request id.
#[derive(Debug, Clone, PartialEq)]
struct Sched {
    arn: Option<String>,
    description: Option<String>,
    expression: Option<String>,
    timezone: Option<String>,
    start_date: Option<DateTime>,
    end_date: Option<DateTime>,
    state: Option<sch::ScheduleState>,
    window: Option<sch::FlexibleTimeWindow>,
    action_after_completion: Option<sch::ActionAfterCompletion>,
    kms_key_arn: Option<String>,
    target: Option<sch::Target>,
    creation_date: Option<DateTime>,
    last_modification_date: Option<DateTime>,
}

/// The whole Scheduler state of an account: every group with its tags (`default` has none),
/// every schedule by `GROUP/NAME`.
#[derive(Debug, Clone, PartialEq, Default)]
struct World {
    groups: BTreeMap<String, BTreeMap<String, String>>,
    schedules: BTreeMap<String, Sched>,
}

impl World {
    /// Without the timestamps: what a live change is meant to change.
    fn contents(&self) -> World {
        let mut w = self.clone();
        for s in w.schedules.values_mut() {
            s.creation_date = None;
            s.last_modification_date = None;
        }
        w
    }
}

fn group_arn(em: &Emulator, group: &str) -> String {
    format!(
        "arn:aws:scheduler:{}:{}:schedule-group/{group}",
        em.region, em.account_id
    )
}

/// GetSchedule `group/name`; `None` when it (or its group) does not exist.
async fn get(em: &Emulator, group: &str, name: &str) -> Option<Sched> {
    match em
        .scheduler()
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
    {
        Ok(s) => Some(Sched {
            arn: s.arn().map(str::to_owned),
            description: s.description().map(str::to_owned),
            expression: s.schedule_expression().map(str::to_owned),
            timezone: s.schedule_expression_timezone().map(str::to_owned),
            start_date: s.start_date().copied(),
            end_date: s.end_date().copied(),
            state: s.state().cloned(),
            window: s.flexible_time_window().cloned(),
            action_after_completion: s.action_after_completion().cloned(),
            kms_key_arn: s.kms_key_arn().map(str::to_owned),
            target: s.target().cloned(),
            creation_date: s.creation_date().copied(),
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

async fn world(em: &Emulator) -> World {
    let client = em.scheduler();
    let group_pages: Vec<_> = client
        .list_schedule_groups()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListScheduleGroups");
    let mut w = World::default();
    for group in group_pages.iter().flat_map(|p| p.schedule_groups()) {
        let name = group.name().unwrap_or_default().to_owned();
        let tags = if name == "default" {
            BTreeMap::new()
        } else {
            client
                .list_tags_for_resource()
                .resource_arn(group_arn(em, &name))
                .send()
                .await
                .unwrap_or_else(|e| panic!("ListTagsForResource {name}: {e:?}"))
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()
        };
        w.groups.insert(name, tags);
    }
    let pages: Vec<_> = client
        .list_schedules()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("ListSchedules");
    for s in pages.iter().flat_map(|p| p.schedules()) {
        let group = s.group_name().unwrap_or("default");
        let name = s.name().unwrap_or_default();
        if let Some(live) = get(em, group, name).await {
            w.schedules.insert(format!("{group}/{name}"), live);
        }
    }
    w
}

/// UpdateSchedule with every field of `s` (it is a full replace).
async fn update(em: &Emulator, group: &str, name: &str, s: &Sched) {
    em.scheduler()
        .update_schedule()
        .group_name(group)
        .name(name)
        .set_description(s.description.clone())
        .set_schedule_expression(s.expression.clone())
        .set_schedule_expression_timezone(s.timezone.clone())
        .set_start_date(s.start_date)
        .set_end_date(s.end_date)
        .set_state(s.state.clone())
        .set_flexible_time_window(s.window.clone())
        .set_action_after_completion(s.action_after_completion.clone())
        .set_kms_key_arn(s.kms_key_arn.clone())
        .set_target(s.target.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateSchedule {group}/{name}: {e:?}"));
}

/// CreateSchedule with every field of `s`; the group must exist.
async fn create(em: &Emulator, group: &str, name: &str, s: &Sched) {
    em.scheduler()
        .create_schedule()
        .group_name(group)
        .name(name)
        .set_description(s.description.clone())
        .set_schedule_expression(s.expression.clone())
        .set_schedule_expression_timezone(s.timezone.clone())
        .set_start_date(s.start_date)
        .set_end_date(s.end_date)
        .set_state(s.state.clone())
        .set_flexible_time_window(s.window.clone())
        .set_action_after_completion(s.action_after_completion.clone())
        .set_kms_key_arn(s.kms_key_arn.clone())
        .set_target(s.target.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSchedule {group}/{name}: {e:?}"));
}

async fn delete(em: &Emulator, group: &str, name: &str) {
    em.scheduler()
        .delete_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteSchedule {group}/{name}: {e:?}"));
}

/// A schedule made by hand, as a console user would: `rate(1 day)` running `job` on `app`.
fn hand_made(em: &Emulator) -> Sched {
    Sched {
        arn: None,
        description: Some("made by hand".into()),
        expression: Some("rate(1 day)".into()),
        timezone: None,
        start_date: None,
        end_date: None,
        state: None,
        window: Some(
            sch::FlexibleTimeWindow::builder()
                .mode(sch::FlexibleTimeWindowMode::Off)
                .build()
                .expect("flexible time window"),
        ),
        action_after_completion: None,
        kms_key_arn: None,
        target: Some(
            sch::Target::builder()
                .arn(cluster_arn(em, "app"))
                .role_arn(role_arn(em, "ecsEventsRole"))
                .ecs_parameters(
                    sch::EcsParameters::builder()
                        .task_definition_arn(task_definition_arn(em, "job"))
                        .task_count(1)
                        .build()
                        .expect("ecs parameters"),
                )
                .build()
                .expect("target"),
        ),
        creation_date: None,
        last_modification_date: None,
    }
}

// ---- mutations ---------------------------------------------------------------------------------

type Edit = fn(&mut Sched, &Emulator);

/// One live change made between `plan -out` and `apply`.
enum Mutation {
    /// GetSchedule, this edit, UpdateSchedule with every field.
    Update(Edit),
    /// GetSchedule, this edit, DeleteSchedule + CreateSchedule with every field (for what
    /// moto's UpdateSchedule does not store).
    Recreate(Edit),
    TagGroup(&'static str, &'static str),
    UntagGroup(&'static str),
    DeleteSchedule,
    DeleteGroup,
}

fn target(s: &mut Sched) -> &mut sch::Target {
    s.target.as_mut().expect("the schedule has a target")
}

fn params(s: &mut Sched) -> &mut sch::EcsParameters {
    target(s)
        .ecs_parameters
        .as_mut()
        .expect("the target has EcsParameters")
}

fn vpc(s: &mut Sched) -> &mut sch::AwsVpcConfiguration {
    params(s)
        .network_configuration
        .as_mut()
        .and_then(|n| n.awsvpc_configuration.as_mut())
        .expect("the target has an awsvpc configuration")
}

/// Edits the target Input (the ECS task override JSON) and writes it back compactly.
fn input(s: &mut Sched, edit: impl FnOnce(&mut Value)) {
    let text = target(s).input.clone().expect("the target has an Input");
    let mut value: Value = serde_json::from_str(&text).expect("the Input is JSON");
    edit(&mut value);
    target(s).input = Some(value.to_string());
}

/// `input(s, …)` setting the JSON pointer `at` to `to`.
fn set_input(s: &mut Sched, at: &str, to: Value) {
    input(s, |v| {
        let shown = v.to_string();
        *v.pointer_mut(at)
            .unwrap_or_else(|| panic!("{at} in the Input: {shown}")) = to;
    });
}

fn date(text: &str) -> DateTime {
    DateTime::from_str(
        text,
        aws_sdk_scheduler::primitives::DateTimeFormat::DateTime,
    )
    .expect("an RFC 3339 date")
}

fn task_tags(pairs: &[(&str, &str)]) -> Option<Vec<std::collections::HashMap<String, String>>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| {
                std::collections::HashMap::from([
                    ("key".to_owned(), (*k).to_owned()),
                    ("value".to_owned(), (*v).to_owned()),
                ])
            })
            .collect(),
    )
}

fn drift_cases() -> Vec<(&'static str, Mutation)> {
    use Mutation::*;
    vec![
        // The schedule itself.
        (
            "description",
            Update(|s, _| s.description = Some("changed by hand".into())),
        ),
        ("description-removed", Update(|s, _| s.description = None)),
        (
            "schedule-expression",
            Update(|s, _| s.expression = Some("cron(0 2 * * ? *)".into())),
        ),
        (
            "timezone",
            Update(|s, _| s.timezone = Some("Europe/Paris".into())),
        ),
        (
            "start-date",
            Update(|s, _| s.start_date = Some(date("2030-02-01T00:00:00Z"))),
        ),
        ("start-date-removed", Update(|s, _| s.start_date = None)),
        (
            "end-date",
            Update(|s, _| s.end_date = Some(date("2031-06-01T00:00:00Z"))),
        ),
        ("end-date-removed", Update(|s, _| s.end_date = None)),
        (
            "state",
            Update(|s, _| s.state = Some(sch::ScheduleState::Enabled)),
        ),
        (
            "flexible-window-minutes",
            Update(|s, _| {
                s.window.as_mut().expect("window").maximum_window_in_minutes = Some(30);
            }),
        ),
        (
            "flexible-window-off",
            Update(|s, _| {
                s.window = Some(
                    sch::FlexibleTimeWindow::builder()
                        .mode(sch::FlexibleTimeWindowMode::Off)
                        .build()
                        .expect("window"),
                );
            }),
        ),
        (
            "action-after-completion",
            Recreate(|s, _| s.action_after_completion = Some(sch::ActionAfterCompletion::Delete)),
        ),
        (
            "kms-key-arn",
            Update(|s, em| {
                s.kms_key_arn = Some(format!(
                    "arn:aws:kms:ap-northeast-3:{}:key/99999999-2222-3333-4444-555555555555",
                    em.account_id
                ));
            }),
        ),
        ("kms-key-arn-removed", Update(|s, _| s.kms_key_arn = None)),
        // The target.
        (
            "target-cluster",
            Update(|s, em| target(s).arn = cluster_arn(em, "other")),
        ),
        (
            "target-role-arn",
            Update(|s, em| target(s).role_arn = role_arn(em, "otherRole")),
        ),
        (
            "target-replaced-by-sqs",
            Update(|s, em| {
                s.target = Some(
                    sch::Target::builder()
                        .arn(format!("arn:aws:sqs:ap-northeast-3:{}:jobs", em.account_id))
                        .role_arn(role_arn(em, "ecsEventsRole"))
                        .input("{}")
                        .build()
                        .expect("sqs target"),
                );
            }),
        ),
        (
            "dead-letter-queue",
            Update(|s, em| {
                target(s).dead_letter_config = Some(
                    sch::DeadLetterConfig::builder()
                        .arn(format!(
                            "arn:aws:sqs:ap-northeast-3:{}:other-dlq",
                            em.account_id
                        ))
                        .build(),
                );
            }),
        ),
        (
            "dead-letter-queue-removed",
            Update(|s, _| target(s).dead_letter_config = None),
        ),
        (
            "retry-attempts",
            Update(|s, _| {
                target(s)
                    .retry_policy
                    .as_mut()
                    .expect("retry policy")
                    .maximum_retry_attempts = Some(11);
            }),
        ),
        (
            "retry-event-age",
            Update(|s, _| {
                target(s)
                    .retry_policy
                    .as_mut()
                    .expect("retry policy")
                    .maximum_event_age_in_seconds = Some(7200);
            }),
        ),
        // The target Input: container and task overrides.
        (
            "input-environment-value",
            Update(|s, _| {
                input(s, |v| {
                    for e in v["containerOverrides"][0]["environment"]
                        .as_array_mut()
                        .expect("environment")
                    {
                        if e["name"] == "MODE" {
                            e["value"] = "hourly".into();
                        }
                    }
                });
            }),
        ),
        (
            "input-environment-added",
            Update(|s, _| {
                input(s, |v| {
                    v["containerOverrides"][0]["environment"]
                        .as_array_mut()
                        .expect("environment")
                        .push(serde_json::json!({"name": "EXTRA", "value": "1"}));
                });
            }),
        ),
        (
            "input-environment-reordered",
            Update(|s, _| {
                input(s, |v| {
                    v["containerOverrides"][0]["environment"]
                        .as_array_mut()
                        .expect("environment")
                        .reverse();
                });
            }),
        ),
        (
            "input-command",
            Update(|s, _| {
                set_input(
                    s,
                    "/containerOverrides/0/command",
                    serde_json::json!(["run", "hourly"]),
                );
            }),
        ),
        (
            "input-container-cpu",
            Update(|s, _| set_input(s, "/containerOverrides/0/cpu", 256.into())),
        ),
        (
            "input-container-memory",
            Update(|s, _| set_input(s, "/containerOverrides/0/memory", 512.into())),
        ),
        (
            "input-container-name",
            Update(|s, _| set_input(s, "/containerOverrides/0/name", "sidecar".into())),
        ),
        (
            "input-task-cpu",
            Update(|s, _| set_input(s, "/cpu", "1024".into())),
        ),
        (
            "input-task-memory",
            Update(|s, _| set_input(s, "/memory", "2048".into())),
        ),
        (
            "input-task-role",
            Update(|s, em| set_input(s, "/taskRoleArn", role_arn(em, "otherTask").into())),
        ),
        (
            "input-execution-role",
            Update(|s, em| {
                set_input(
                    s,
                    "/executionRoleArn",
                    role_arn(em, "otherExecution").into(),
                );
            }),
        ),
        (
            "input-ephemeral-storage",
            Update(|s, _| set_input(s, "/ephemeralStorage/sizeInGiB", 40.into())),
        ),
        (
            "input-reformatted",
            Update(|s, _| {
                let text = target(s).input.clone().expect("Input");
                let value: Value = serde_json::from_str(&text).expect("JSON");
                target(s).input = Some(serde_json::to_string_pretty(&value).expect("pretty JSON"));
            }),
        ),
        ("input-removed", Update(|s, _| target(s).input = None)),
        // The target's EcsParameters.
        (
            "task-definition",
            Update(|s, em| {
                params(s).task_definition_arn = format!("{}:7", task_definition_arn(em, "job"));
            }),
        ),
        ("task-count", Update(|s, _| params(s).task_count = Some(3))),
        (
            "launch-type",
            Update(|s, _| params(s).launch_type = Some(sch::LaunchType::Ec2)),
        ),
        (
            "capacity-provider-strategy",
            Update(|s, _| {
                let p = params(s);
                p.launch_type = None;
                p.capacity_provider_strategy = Some(vec![
                    sch::CapacityProviderStrategyItem::builder()
                        .capacity_provider("FARGATE_SPOT")
                        .weight(1)
                        .build()
                        .expect("strategy item"),
                ]);
            }),
        ),
        (
            "platform-version",
            Update(|s, _| params(s).platform_version = Some("LATEST".into())),
        ),
        (
            "subnets",
            Update(|s, _| vpc(s).subnets.push("subnet-bbbb2222".into())),
        ),
        (
            "security-groups",
            Update(|s, _| vpc(s).security_groups = Some(vec!["sg-bbbb2222".into()])),
        ),
        (
            "assign-public-ip",
            Update(|s, _| vpc(s).assign_public_ip = Some(sch::AssignPublicIp::Disabled)),
        ),
        (
            "network-removed",
            Update(|s, _| params(s).network_configuration = None),
        ),
        (
            "task-group",
            Update(|s, _| params(s).group = Some("other".into())),
        ),
        ("task-group-removed", Update(|s, _| params(s).group = None)),
        (
            "propagate-tags-removed",
            Update(|s, _| params(s).propagate_tags = None),
        ),
        (
            "enable-ecs-managed-tags",
            Update(|s, _| params(s).enable_ecs_managed_tags = Some(false)),
        ),
        (
            "enable-execute-command",
            Update(|s, _| params(s).enable_execute_command = Some(false)),
        ),
        (
            "placement-constraints",
            Update(|s, _| {
                params(s).placement_constraints = Some(vec![
                    sch::PlacementConstraint::builder()
                        .r#type(sch::PlacementConstraintType::MemberOf)
                        .expression("attribute:ecs.os-type == windows")
                        .build(),
                ]);
            }),
        ),
        (
            "placement-constraints-removed",
            Update(|s, _| params(s).placement_constraints = None),
        ),
        (
            "placement-strategy",
            Update(|s, _| {
                params(s).placement_strategy = Some(vec![
                    sch::PlacementStrategy::builder()
                        .r#type(sch::PlacementStrategyType::Binpack)
                        .field("memory")
                        .build(),
                ]);
            }),
        ),
        (
            "placement-strategy-removed",
            Update(|s, _| params(s).placement_strategy = None),
        ),
        (
            "reference-id",
            Update(|s, _| params(s).reference_id = Some("ref-2".into())),
        ),
        (
            "task-tag-value",
            Update(|s, _| params(s).tags = task_tags(&[("team", "other"), ("tier", "batch")])),
        ),
        (
            "task-tag-added",
            Update(|s, _| {
                params(s).tags = task_tags(&[("team", "data"), ("tier", "batch"), ("x", "1")]);
            }),
        ),
        ("task-tags-removed", Update(|s, _| params(s).tags = None)),
        // Around the schedule.
        (
            "group-tracking-tag-changed",
            TagGroup(TRACKING_TAG, "other-team"),
        ),
        ("group-tracking-tag-removed", UntagGroup(TRACKING_TAG)),
        ("schedule-deleted", DeleteSchedule),
        ("group-deleted", DeleteGroup),
    ]
}

async fn mutate(em: &Emulator, mutation: &Mutation) {
    let client = em.scheduler();
    match mutation {
        Mutation::Update(edit) => {
            let mut s = get(em, GROUP, NAME).await.expect("the schedule exists");
            edit(&mut s, em);
            update(em, GROUP, NAME, &s).await;
        }
        Mutation::Recreate(edit) => {
            let mut s = get(em, GROUP, NAME).await.expect("the schedule exists");
            edit(&mut s, em);
            delete(em, GROUP, NAME).await;
            create(em, GROUP, NAME, &s).await;
        }
        Mutation::TagGroup(k, v) => {
            client
                .tag_resource()
                .resource_arn(group_arn(em, GROUP))
                .tags(sch::Tag::builder().key(*k).value(*v).build().expect("tag"))
                .send()
                .await
                .expect("TagResource");
        }
        Mutation::UntagGroup(k) => {
            client
                .untag_resource()
                .resource_arn(group_arn(em, GROUP))
                .tag_keys(*k)
                .send()
                .await
                .expect("UntagResource");
        }
        Mutation::DeleteSchedule => delete(em, GROUP, NAME).await,
        Mutation::DeleteGroup => {
            client
                .delete_schedule_group()
                .name(GROUP)
                .send()
                .await
                .expect("DeleteScheduleGroup");
        }
    }
}

// ---- cases -------------------------------------------------------------------------------------

/// A fresh account with cluster `app` and task definition `job` (container `app`).
fn fixtures(em: &Emulator) {
    em.block_on(async {
        create_cluster(em, "app").await;
        register_task_definition(em, "job", "app").await;
    });
}

/// `apply plan.bin` must be refused with exit 3, "stale" and `detail` for `address` on stderr,
/// and leave the account exactly as `expected`. Returns what went wrong.
fn expect_refusal(
    em: &Emulator,
    out: Output,
    address: &str,
    detail: &str,
    expected: &World,
) -> Result<(), String> {
    let refused = catch_unwind(AssertUnwindSafe(|| {
        out.test()
            .args(["apply", "plan.bin"])
            .stdout("")
            .stderr_contains("is stale")
            .stderr_contains(&format!("{address} {detail}"))
            .status(3)
    }));
    let mut problems = Vec::new();
    if refused.is_err() {
        problems.push(format!(
            "apply was not refused with exit 3, \"stale\" and \"{address} {detail}\" (details \
             above)"
        ));
    }
    let after = em.block_on(world(em));
    if after != *expected {
        problems.push(format!(
            "apply wrote to AWS although the plan was stale:\nexpected: {expected:#?}\nafter:    \
             {after:#?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// ecsched writes the baseline, a plan changes its description, the mutation changes the live
/// schedule (or its group), and `apply plan.bin` must refuse and write nothing.
fn drift_case(em: &Emulator, mutation: &Mutation) -> Result<(), String> {
    fixtures(em);
    let out = ecsched(em)
        .config("ecsched.yaml", &baseline(em, "baseline"))
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains(&format!("  ✓ schedule.{GROUP}/{NAME} created\n"))
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    let before = em.block_on(world(em));
    if before.groups.get(GROUP).and_then(|t| t.get(TRACKING_TAG)) != Some(&"app".to_owned()) {
        return Err(format!(
            "ecsched did not create group {GROUP} with the tracking tag: {before:#?}"
        ));
    }

    std::fs::write(out.path("ecsched.yaml"), baseline(em, "planned"))
        .expect("writing the changed config");
    let out = out
        .test()
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains(&format!(
            "~ schedule.{GROUP}/{NAME} will be updated in place"
        ))
        .stdout_contains("Plan: 0 to add, 1 to change, 0 to destroy.")
        .success();

    em.block_on(mutate(em, mutation));
    let mutated = em.block_on(world(em));
    if mutated.contents() == before.contents() {
        return Err(format!(
            "the mutation changed nothing but timestamps (test bug or emulator limitation): \
             {mutated:#?}"
        ));
    }
    let address = format!("schedule.{GROUP}/{NAME}");
    let detail = match mutation {
        Mutation::DeleteSchedule | Mutation::DeleteGroup => "existed when planned, now is gone",
        _ => "changed since the plan was made",
    };
    expect_refusal(em, out, &address, detail, &mutated)
}

/// Where a schedule the plan creates is made by hand between plan and apply.
#[derive(Clone, Copy)]
enum Created {
    /// A second schedule, `jobs/weekly`, in the group ecsched already created.
    SecondInManaged,
    /// `jobs/nightly` with its group `jobs` (untagged), neither existing when planned.
    WithItsGroup,
    /// `default/nightly`.
    InDefault,
}

fn created_case(em: &Emulator, case: Created) -> Result<(), String> {
    fixtures(em);
    let (group, name, text) = match case {
        Created::SecondInManaged => (
            GROUP,
            "weekly",
            config(&[
                schedule_yaml(em, NAME, Some(GROUP), "baseline"),
                schedule_yaml(em, "weekly", Some(GROUP), "weekly"),
            ]),
        ),
        Created::WithItsGroup => (GROUP, NAME, baseline(em, "baseline")),
        Created::InDefault => (
            "default",
            NAME,
            config(&[schedule_yaml(em, NAME, None, "baseline")]),
        ),
    };
    let mut test = ecsched(em).config("ecsched.yaml", &text);
    if matches!(case, Created::SecondInManaged) {
        let out = test
            .config("ecsched.yaml", &baseline(em, "baseline"))
            .args(["apply", "--all", "--auto-approve"])
            .stderr_contains("Apply complete: 1 of 1 changes applied.")
            .success();
        std::fs::write(out.path("ecsched.yaml"), &text).expect("writing the config");
        test = out.test();
    }
    let out = test
        .args(["plan", "--all", "-out", "plan.bin"])
        .stdout_contains(&format!("+ schedule.{group}/{name} will be created"))
        .stdout_contains("Plan: 1 to add, 0 to change, 0 to destroy.")
        .success();

    em.block_on(async {
        if matches!(case, Created::WithItsGroup) {
            em.scheduler()
                .create_schedule_group()
                .name(group)
                .send()
                .await
                .expect("CreateScheduleGroup");
        }
        create(em, group, name, &hand_made(em)).await;
    });
    let made = em.block_on(world(em));
    expect_refusal(
        em,
        out,
        &format!("schedule.{group}/{name}"),
        "was absent when planned, now exists",
        &made,
    )
}

enum Case {
    Drift(Mutation),
    Created(Created),
}

fn cases() -> Vec<(&'static str, Case)> {
    let mut cases: Vec<_> = drift_cases()
        .into_iter()
        .map(|(name, m)| (name, Case::Drift(m)))
        .collect();
    cases.extend([
        (
            "created-in-its-managed-group",
            Case::Created(Created::SecondInManaged),
        ),
        (
            "created-with-its-group",
            Case::Created(Created::WithItsGroup),
        ),
        (
            "created-in-default-group",
            Case::Created(Created::InDefault),
        ),
    ]);
    cases
}

#[test]
fn any_live_change_to_a_touched_schedule_refuses_the_plan() {
    let Some(em) = emulator() else { return };
    let cases = cases();
    // Cases are independent (one account each): run several at a time.
    let failures = run_cases_in_accounts(&em, &cases, 8, |account, case| match case {
        Case::Drift(m) => drift_case(account, m),
        Case::Created(c) => created_case(account, *c),
    });
    assert!(
        failures.is_empty(),
        "live changes between plan and apply that were not refused cleanly:\n{}",
        failures.join("\n")
    );
}

/// The mutations copy GetSchedule into UpdateSchedule field by field: with no edit, that must
/// reproduce the schedule ecsched wrote (only LastModificationDate moves), or the cases above
/// would test the copy instead of the field.
#[test]
fn a_full_copy_update_reproduces_the_schedule() {
    let Some(em) = emulator() else { return };
    fixtures(&em);
    ecsched(&em)
        .config("ecsched.yaml", &baseline(&em, "baseline"))
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.")
        .success();
    let before = em.block_on(world(&em));
    em.block_on(mutate(&em, &Mutation::Update(|_, _| {})));
    let after = em.block_on(world(&em));
    let mut expected = before.clone();
    for (key, s) in &mut expected.schedules {
        s.last_modification_date = after.schedules[key].last_modification_date;
    }
    assert_eq!(after, expected);
    assert_eq!(
        after.schedules.len(),
        1,
        "one schedule in the account: {after:#?}"
    );
}
