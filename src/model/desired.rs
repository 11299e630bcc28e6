//! Builds the desired state from a validated config: defaults filled in
//! (ecschedule's: role `ecsEventsRole`, taskCount 1, target id = rule name,
//! trackingId = cluster) and every name resolved to an ARN. Assumes
//! `config::validate` passed; whatever it cannot express is reported, not guessed.

use super::{
    AccountContext, AwsVpc, CapacityProviderItem, ContainerOverride, DesiredState, EcsTarget,
    PlacementConstraint, PlacementStrategy, RetryPolicy, Rule, Schedule, State, Target,
    TaskOverrides, TypedValue, arn,
};
pub use crate::config::fields::normalize_date;
pub(crate) use crate::config::fields::{TargetFields, target_fields};
use crate::config::raw::{
    ActionAfterCompletion, AssignPublicIp, FlexibleTimeWindowMode, LaunchType, RawConfig,
    RawRetryPolicy, RawRule, RawSchedule, RawTarget, RawTypedValue, ScheduleState,
};

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

fn i32_of(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn typed(v: &Option<Vec<RawTypedValue>>) -> Vec<TypedValue> {
    v.iter()
        .flatten()
        .map(|t| TypedValue {
            kind: t.kind.clone(),
            value: t.value.clone(),
        })
        .collect()
}

pub(crate) fn retry_policy(r: &Option<RawRetryPolicy>) -> RetryPolicy {
    let (attempts, age) = super::defaults::retry_policy(r.as_ref());
    RetryPolicy {
        maximum_retry_attempts: i32_of(attempts),
        maximum_event_age_in_seconds: i32_of(age),
    }
}

pub(crate) fn launch_type_str(l: LaunchType) -> &'static str {
    match l {
        LaunchType::Fargate => "FARGATE",
        LaunchType::Ec2 => "EC2",
        LaunchType::External => "EXTERNAL",
    }
}

/// Builds the ECS target; `default_role` is the top-level role (or `ecsEventsRole`).
pub(crate) fn ecs_target(
    f: &TargetFields<'_>,
    cluster_arn: &str,
    default_role: &str,
    ctx: &AccountContext,
) -> EcsTarget {
    let role = super::defaults::role(f.role.as_deref(), Some(default_role));
    let overrides = TaskOverrides {
        cpu: f.task_override.as_ref().and_then(|t| non_empty(&t.cpu)),
        memory: f.task_override.as_ref().and_then(|t| non_empty(&t.memory)),
        task_role_arn: f
            .task_override
            .as_ref()
            .and_then(|t| non_empty(&t.task_role_arn)),
        execution_role_arn: f
            .task_override
            .as_ref()
            .and_then(|t| non_empty(&t.execution_role_arn)),
        ephemeral_storage_gib: f
            .task_override
            .as_ref()
            .and_then(|t| t.ephemeral_storage.as_ref())
            .map(|e| i32_of(e.size_in_gib)),
        containers: f
            .container_overrides
            .iter()
            .flatten()
            .map(|c| ContainerOverride {
                name: c.name.clone(),
                command: c.command.clone().filter(|v| !v.is_empty()),
                environment: c.environment.clone().unwrap_or_default(),
                environment_files: typed(&c.environment_files),
                resource_requirements: typed(&c.resource_requirements),
                cpu: c.cpu.map(i32_of),
                memory: c.memory.map(i32_of),
                memory_reservation: c.memory_reservation.map(i32_of),
                extra: None,
            })
            .collect(),
        extra: None,
    };
    EcsTarget {
        cluster_arn: cluster_arn.to_string(),
        role_arn: arn::role(&role, ctx),
        task_definition_arn: f
            .task_definition
            .as_deref()
            .map(|t| arn::task_definition(t, ctx))
            .unwrap_or_default(),
        task_count: i32_of(super::defaults::task_count(f.task_count)),
        launch_type: f.launch_type.map(|l| launch_type_str(l).to_string()),
        platform_version: non_empty(f.platform_version),
        group: non_empty(f.group),
        capacity_provider_strategy: f
            .capacity_provider_strategy
            .iter()
            .flatten()
            .map(|c| CapacityProviderItem {
                capacity_provider: c.capacity_provider.clone(),
                base: c.base.map_or(0, i32_of),
                weight: c.weight.map_or(0, i32_of),
            })
            .collect(),
        network: f.network_configuration.as_ref().map(|n| {
            let v = &n.aws_vpc_configuration;
            AwsVpc {
                subnets: v.subnets.clone(),
                security_groups: v.security_groups.clone().unwrap_or_default(),
                assign_public_ip: match v
                    .assign_public_ip
                    .unwrap_or(super::defaults::ASSIGN_PUBLIC_IP)
                {
                    AssignPublicIp::Enabled => "ENABLED",
                    AssignPublicIp::Disabled => "DISABLED",
                }
                .to_string(),
            }
        }),
        propagate_tags: non_empty(f.propagate_tags),
        enable_ecs_managed_tags: f.enable_ecs_managed_tags.unwrap_or(false),
        enable_execute_command: f.enable_execute_command.unwrap_or(false),
        placement_constraints: f
            .placement_constraints
            .iter()
            .flatten()
            .map(|p| PlacementConstraint {
                kind: p.kind.clone(),
                expression: non_empty(&p.expression),
            })
            .collect(),
        placement_strategy: f
            .placement_strategy
            .iter()
            .flatten()
            .map(|p| PlacementStrategy {
                kind: p.kind.clone(),
                field: non_empty(&p.field),
            })
            .collect(),
        task_tags: f.task_tags.clone().unwrap_or_default(),
        reference_id: non_empty(f.reference_id),
        overrides,
    }
}

fn rule(r: &RawRule, cluster_arn: &str, default_role: &str, ctx: &AccountContext) -> Rule {
    let inline = target_fields!(r);
    let mut targets: Vec<Target> = match &r.targets {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, t): (usize, &RawTarget)| {
                let f = target_fields!(t);
                let id = super::defaults::target_id(&r.name, i, t.target_id.as_deref());
                target(id, &f, cluster_arn, default_role, ctx)
            })
            .collect(),
        None => vec![target(
            super::defaults::target_id(&r.name, 0, r.target_id.as_deref()),
            &inline,
            cluster_arn,
            default_role,
            ctx,
        )],
    };
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    Rule {
        name: r.name.clone(),
        event_bus: non_empty(&r.event_bus_name)
            .map(|bus| arn::event_bus(&bus, ctx))
            .unwrap_or_else(|| super::DEFAULT_EVENT_BUS.to_string()),
        description: r.description.clone().unwrap_or_default(),
        schedule_expression: r.schedule_expression.trim().to_string(),
        state: if r.disabled.unwrap_or(false) {
            State::Disabled
        } else {
            State::Enabled
        },
        role_arn: non_empty(&r.rule_role).map(|role| arn::role(&role, ctx)),
        event_pattern: None,
        tags: r.tags.clone().unwrap_or_default(),
        targets,
    }
}

fn target(
    id: String,
    f: &TargetFields<'_>,
    cluster_arn: &str,
    default_role: &str,
    ctx: &AccountContext,
) -> Target {
    Target {
        id,
        ecs: ecs_target(f, cluster_arn, default_role, ctx),
        dead_letter_arn: f.dead_letter_config.as_ref().map(|d| arn::sqs(&d.sqs, ctx)),
        retry_policy: retry_policy(f.retry_policy),
    }
}

fn schedule(
    s: &RawSchedule,
    cluster_arn: &str,
    default_role: &str,
    ctx: &AccountContext,
) -> Schedule {
    let f = target_fields!(s);
    let mode = s
        .flexible_time_window
        .as_ref()
        .map_or(super::defaults::WINDOW_MODE, |w| w.mode);
    let window = match mode {
        FlexibleTimeWindowMode::Off => None,
        FlexibleTimeWindowMode::Flexible => Some(
            s.flexible_time_window
                .as_ref()
                .and_then(|w| w.maximum_window_in_minutes)
                .map_or(0, i32_of),
        ),
    };
    Schedule {
        name: s.name.clone(),
        group: non_empty(&s.schedule_group)
            .unwrap_or_else(|| super::DEFAULT_SCHEDULE_GROUP.to_string()),
        description: s.description.clone().unwrap_or_default(),
        schedule_expression: s.schedule_expression.trim().to_string(),
        timezone: non_empty(&s.timezone).unwrap_or_else(|| super::defaults::TIMEZONE.to_string()),
        start_date: s.start_date.as_deref().and_then(normalize_date),
        end_date: s.end_date.as_deref().and_then(normalize_date),
        state: match s.state.unwrap_or(super::defaults::SCHEDULE_STATE) {
            ScheduleState::Enabled => State::Enabled,
            ScheduleState::Disabled => State::Disabled,
        },
        flexible_window_minutes: window,
        action_after_completion: match s
            .action_after_completion
            .unwrap_or(super::defaults::ACTION_AFTER_COMPLETION)
        {
            ActionAfterCompletion::None => "NONE",
            ActionAfterCompletion::Delete => "DELETE",
        }
        .to_string(),
        kms_key_arn: non_empty(&s.kms_key_arn),
        ecs: ecs_target(&f, cluster_arn, default_role, ctx),
        dead_letter_arn: s.dead_letter_config.as_ref().map(|d| arn::sqs(&d.sqs, ctx)),
        retry_policy: retry_policy(&s.retry_policy),
    }
}

/// The trackingId in effect: explicit, else the cluster (ecschedule's
/// default). A cluster given as an ARN counts by its name, so that `cluster: x`
/// and `cluster: arn:...:cluster/x` manage the same resources.
pub fn tracking_id(raw: &RawConfig) -> String {
    raw.tracking_id
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            raw.cluster
                .as_deref()
                .map(|c| match c.split_once(":cluster/") {
                    Some((_, name)) if c.starts_with("arn:") => name.to_string(),
                    _ => c.to_string(),
                })
        })
        .unwrap_or_default()
}

/// Builds the desired state. `ctx.region` must be the config's region.
pub fn build(raw: &RawConfig, ctx: &AccountContext) -> DesiredState {
    let cluster_arn = arn::cluster(raw.cluster.as_deref().unwrap_or_default(), ctx);
    let default_role = super::defaults::role(None, raw.role.as_deref());
    let mut rules: Vec<Rule> = raw
        .rules
        .iter()
        .flatten()
        .map(|r| rule(r, &cluster_arn, &default_role, ctx))
        .collect();
    rules.sort_by_key(|r| r.address());
    let mut schedules: Vec<Schedule> = raw
        .schedules
        .iter()
        .flatten()
        .map(|s| schedule(s, &cluster_arn, &default_role, ctx))
        .collect();
    schedules.sort_by_key(|s| s.address());
    DesiredState {
        context: ctx.clone(),
        cluster_arn,
        tracking_id: tracking_id(raw),
        rules,
        schedules,
    }
}
