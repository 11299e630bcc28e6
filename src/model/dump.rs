//! Model → config, the reverse of `desired`: used by `dump` and to show
//! resources in config terms in diffs. Writes ecschedule's spelling, shortens
//! ARNs that are in this account/region, and omits every value that equals the
//! default, so that the output loads back and plans to no changes.

use std::collections::BTreeMap;

use super::{AccountContext, EcsTarget, Rule, Schedule, State, arn};
use crate::config::raw::{
    ActionAfterCompletion, AssignPublicIp, FlexibleTimeWindowMode, LaunchType,
    RawAwsVpcConfiguration, RawCapacityProviderStrategyItem, RawContainerOverride,
    RawDeadLetterConfig, RawEphemeralStorage, RawFlexibleTimeWindow, RawNetworkConfiguration,
    RawPlacementConstraint, RawPlacementStrategy, RawRetryPolicy, RawRule, RawSchedule, RawTarget,
    RawTaskOverride, RawTypedValue, ScheduleState,
};

fn some_if<T>(cond: bool, v: T) -> Option<T> {
    cond.then_some(v)
}

fn non_empty_map(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    some_if(!m.is_empty(), m.clone())
}

fn launch_type(s: &str) -> Option<LaunchType> {
    match s {
        "FARGATE" => Some(LaunchType::Fargate),
        "EC2" => Some(LaunchType::Ec2),
        "EXTERNAL" => Some(LaunchType::External),
        _ => None,
    }
}

/// The ECS fields of a target, in config form. `default_role` is the role
/// that is implied when `role` is omitted (the top-level role or ecsEventsRole).
struct Fields {
    task_definition: Option<String>,
    task_count: Option<i64>,
    task_override: Option<RawTaskOverride>,
    container_overrides: Option<Vec<RawContainerOverride>>,
    role: Option<String>,
    group: Option<String>,
    capacity_provider_strategy: Option<Vec<RawCapacityProviderStrategyItem>>,
    launch_type: Option<LaunchType>,
    platform_version: Option<String>,
    network_configuration: Option<RawNetworkConfiguration>,
    propagate_tags: Option<String>,
    placement_constraints: Option<Vec<RawPlacementConstraint>>,
    placement_strategy: Option<Vec<RawPlacementStrategy>>,
    enable_ecs_managed_tags: Option<bool>,
    enable_execute_command: Option<bool>,
    task_tags: Option<BTreeMap<String, String>>,
    reference_id: Option<String>,
}

fn fields(e: &EcsTarget, default_role: &str, ctx: &AccountContext) -> Fields {
    let o = &e.overrides;
    let task_override = RawTaskOverride {
        cpu: o.cpu.clone(),
        memory: o.memory.clone(),
        task_role_arn: o.task_role_arn.clone(),
        execution_role_arn: o.execution_role_arn.clone(),
        ephemeral_storage: o.ephemeral_storage_gib.map(|g| RawEphemeralStorage {
            size_in_gib: i64::from(g),
        }),
    };
    let typed = |v: &[super::TypedValue]| {
        some_if(
            !v.is_empty(),
            v.iter()
                .map(|t| RawTypedValue {
                    kind: t.kind.clone(),
                    value: t.value.clone(),
                })
                .collect(),
        )
    };
    let role = arn::shorten_role(&e.role_arn, ctx);
    let default_role_arn = arn::role(default_role, ctx);
    Fields {
        task_definition: Some(arn::shorten_task_definition(&e.task_definition_arn, ctx)),
        task_count: some_if(e.task_count != 1, i64::from(e.task_count)),
        task_override: some_if(task_override != RawTaskOverride::default(), task_override),
        container_overrides: some_if(
            !o.containers.is_empty(),
            o.containers
                .iter()
                .map(|c| RawContainerOverride {
                    name: c.name.clone(),
                    command: c.command.clone(),
                    environment: non_empty_map(&c.environment),
                    environment_files: typed(&c.environment_files),
                    resource_requirements: typed(&c.resource_requirements),
                    cpu: c.cpu.map(i64::from),
                    memory: c.memory.map(i64::from),
                    memory_reservation: c.memory_reservation.map(i64::from),
                })
                .collect(),
        ),
        role: some_if(e.role_arn != default_role_arn, role),
        group: e.group.clone(),
        capacity_provider_strategy: some_if(
            !e.capacity_provider_strategy.is_empty(),
            e.capacity_provider_strategy
                .iter()
                .map(|c| RawCapacityProviderStrategyItem {
                    capacity_provider: c.capacity_provider.clone(),
                    base: some_if(c.base != 0, i64::from(c.base)),
                    weight: some_if(c.weight != 0, i64::from(c.weight)),
                })
                .collect(),
        ),
        launch_type: e.launch_type.as_deref().and_then(launch_type),
        platform_version: e.platform_version.clone(),
        network_configuration: e.network.as_ref().map(|n| RawNetworkConfiguration {
            aws_vpc_configuration: RawAwsVpcConfiguration {
                subnets: n.subnets.clone(),
                security_groups: some_if(!n.security_groups.is_empty(), n.security_groups.clone()),
                assign_public_ip: Some(if n.assign_public_ip == "ENABLED" {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                }),
            },
        }),
        propagate_tags: e.propagate_tags.clone(),
        placement_constraints: some_if(
            !e.placement_constraints.is_empty(),
            e.placement_constraints
                .iter()
                .map(|p| RawPlacementConstraint {
                    kind: p.kind.clone(),
                    expression: p.expression.clone(),
                })
                .collect(),
        ),
        placement_strategy: some_if(
            !e.placement_strategy.is_empty(),
            e.placement_strategy
                .iter()
                .map(|p| RawPlacementStrategy {
                    kind: p.kind.clone(),
                    field: p.field.clone(),
                })
                .collect(),
        ),
        enable_ecs_managed_tags: some_if(e.enable_ecs_managed_tags, true),
        enable_execute_command: some_if(e.enable_execute_command, true),
        task_tags: non_empty_map(&e.task_tags),
        reference_id: e.reference_id.clone(),
    }
}

fn retry(r: &super::RetryPolicy) -> Option<RawRetryPolicy> {
    let d = super::RetryPolicy::default();
    some_if(
        *r != d,
        RawRetryPolicy {
            maximum_retry_attempts: some_if(
                r.maximum_retry_attempts != d.maximum_retry_attempts,
                i64::from(r.maximum_retry_attempts),
            ),
            maximum_event_age_in_seconds: some_if(
                r.maximum_event_age_in_seconds != d.maximum_event_age_in_seconds,
                i64::from(r.maximum_event_age_in_seconds),
            ),
        },
    )
}

fn dlq(a: &Option<String>, ctx: &AccountContext) -> Option<RawDeadLetterConfig> {
    a.as_ref().map(|a| RawDeadLetterConfig {
        sqs: arn::shorten_sqs(a, ctx),
    })
}

macro_rules! with_fields {
    ($base:expr, $f:expr) => {{
        let f = $f;
        let mut x = $base;
        x.task_definition = f.task_definition;
        x.task_count = f.task_count;
        x.task_override = f.task_override;
        x.container_overrides = f.container_overrides;
        x.role = f.role;
        x.group = f.group;
        x.capacity_provider_strategy = f.capacity_provider_strategy;
        x.launch_type = f.launch_type;
        x.platform_version = f.platform_version;
        x.network_configuration = f.network_configuration;
        x.propagate_tags = f.propagate_tags;
        x.placement_constraints = f.placement_constraints;
        x.placement_strategy = f.placement_strategy;
        x.enable_ecs_managed_tags = f.enable_ecs_managed_tags;
        x.enable_execute_command = f.enable_execute_command;
        x.task_tags = f.task_tags;
        x.reference_id = f.reference_id;
        x
    }};
}

/// A rule in config form. One target is written inline (ecschedule's form),
/// several go to `targets:`.
pub fn rule(r: &Rule, default_role: &str, ctx: &AccountContext) -> RawRule {
    let base = RawRule {
        name: r.name.clone(),
        description: some_if(!r.description.is_empty(), r.description.clone()),
        schedule_expression: r.schedule_expression.clone(),
        disabled: some_if(r.state == State::Disabled, true),
        event_bus_name: some_if(r.event_bus != super::DEFAULT_EVENT_BUS, r.event_bus.clone()),
        tags: non_empty_map(&r.tags),
        rule_role: r.role_arn.as_deref().map(|a| arn::shorten_role(a, ctx)),
        ..RawRule::default()
    };
    match r.targets.as_slice() {
        [t] => {
            let mut out = with_fields!(base, fields(&t.ecs, default_role, ctx));
            out.target_id = some_if(t.id != r.name, t.id.clone());
            out.dead_letter_config = dlq(&t.dead_letter_arn, ctx);
            out.retry_policy = retry(&t.retry_policy);
            out
        }
        targets => {
            let mut out = base;
            out.targets = Some(
                targets
                    .iter()
                    .map(|t| {
                        let base = RawTarget {
                            target_id: Some(t.id.clone()),
                            ..RawTarget::default()
                        };
                        let mut x = with_fields!(base, fields(&t.ecs, default_role, ctx));
                        x.dead_letter_config = dlq(&t.dead_letter_arn, ctx);
                        x.retry_policy = retry(&t.retry_policy);
                        x
                    })
                    .collect(),
            );
            out
        }
    }
}

/// A schedule in config form.
pub fn schedule(s: &Schedule, default_role: &str, ctx: &AccountContext) -> RawSchedule {
    let base = RawSchedule {
        name: s.name.clone(),
        schedule_group: some_if(s.group != super::DEFAULT_SCHEDULE_GROUP, s.group.clone()),
        description: some_if(!s.description.is_empty(), s.description.clone()),
        schedule_expression: s.schedule_expression.clone(),
        timezone: some_if(s.timezone != super::defaults::TIMEZONE, s.timezone.clone()),
        start_date: s.start_date.clone(),
        end_date: s.end_date.clone(),
        state: some_if(s.state == State::Disabled, ScheduleState::Disabled),
        flexible_time_window: s.flexible_window_minutes.map(|m| RawFlexibleTimeWindow {
            mode: FlexibleTimeWindowMode::Flexible,
            maximum_window_in_minutes: Some(i64::from(m)),
        }),
        action_after_completion: some_if(
            s.action_after_completion == "DELETE",
            ActionAfterCompletion::Delete,
        ),
        kms_key_arn: s.kms_key_arn.clone(),
        ..RawSchedule::default()
    };
    let mut out = with_fields!(base, fields(&s.ecs, default_role, ctx));
    out.dead_letter_config = dlq(&s.dead_letter_arn, ctx);
    out.retry_policy = retry(&s.retry_policy);
    out
}

/// The top of a dumped config (what is not a rule or a schedule).
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// `--role`, else the loaded config's role; omitted when neither.
    pub role: Option<String>,
    pub region: String,
    pub cluster: String,
    /// The trackingId of a loaded config (`dump -conf`), else omitted.
    pub tracking_id: Option<String>,
    /// Plugins of a loaded config, carried over.
    pub plugins: Option<Vec<crate::config::raw::RawPlugin>>,
    /// The lock location of a loaded config, carried over.
    pub lock: Option<String>,
}

/// Every string of `raw` (values and map keys) escaped for the template pass
/// (`config::template::escape`), so that live values containing `{{` load back
/// as themselves instead of being run as templates. Fails closed: a config
/// that cannot be escaped is an error, never printed unescaped.
fn escape_templates(
    raw: crate::config::raw::RawConfig,
) -> Result<crate::config::raw::RawConfig, serde_json::Error> {
    fn walk(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        let esc = |s: String| {
            if s.contains("{{") {
                crate::config::template::escape(&s)
            } else {
                s
            }
        };
        match v {
            Value::String(s) => Value::String(esc(s)),
            Value::Array(a) => Value::Array(a.into_iter().map(walk).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (esc(k), walk(v))).collect())
            }
            other => other,
        }
    }
    serde_json::from_value(walk(serde_json::to_value(&raw)?))
}

/// The whole config `dump` prints: rules sorted by name (those with at least
/// one ECS target of ours), then schedules, with template syntax in live values
/// escaped. Loads back and plans to no changes.
pub fn config(
    header: Header,
    rules: &[Rule],
    schedules: &[Schedule],
    ctx: &AccountContext,
) -> Result<crate::config::raw::RawConfig, serde_json::Error> {
    let default_role = super::defaults::role(None, header.role.as_deref());
    let mut out_rules: Vec<RawRule> = rules
        .iter()
        .filter(|r| !r.targets.is_empty())
        .map(|r| rule(r, &default_role, ctx))
        .collect();
    out_rules.sort_by(|a, b| a.name.cmp(&b.name));
    let out_schedules: Vec<RawSchedule> = schedules
        .iter()
        .map(|s| schedule(s, &default_role, ctx))
        .collect();
    escape_templates(crate::config::raw::RawConfig {
        role: header.role,
        region: Some(header.region),
        cluster: Some(header.cluster),
        tracking_id: header.tracking_id,
        rules: Some(out_rules),
        schedules: (!out_schedules.is_empty()).then_some(out_schedules),
        plugins: header.plugins,
        lock: header.lock,
    })
}
