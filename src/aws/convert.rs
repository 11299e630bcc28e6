//! SDK types ↔ model types, both ways, for EventBridge targets, Scheduler
//! schedules and ECS RunTask parameters. Reading normalises exactly as
//! `model::desired` does for the config (task count 1, `DISABLED` public IP, no
//! security groups, retry policy 185 / 86400, timezone `UTC`, …) so that equal
//! intent compares equal; writing omits what is empty. The Input JSON goes through
//! `model::input`. Pure: no I/O, and no SDK type leaves `aws`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_eventbridge::error::BuildError;
use chrono::{DateTime, Utc};

use crate::model::{
    AwsVpc, CapacityProviderItem, ContainerOverride, EcsTarget, PlacementConstraint,
    PlacementStrategy, RetryPolicy, Schedule, State, Target, TaskOverrides, TypedValue, input,
};

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

fn non_empty_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Conversions of the ECS parameter parts that EventBridge, Scheduler and ECS
/// spell identically (each crate has its own copy of these types).
macro_rules! ecs_parts_from_model {
    ($sdk:ident) => {
        pub(crate) fn network(n: &AwsVpc) -> Result<t::NetworkConfiguration, BuildError> {
            let vpc = t::AwsVpcConfiguration::builder()
                .set_subnets(Some(n.subnets.clone()))
                .set_security_groups(non_empty_vec(n.security_groups.clone()))
                .set_assign_public_ip(
                    non_empty(Some(&n.assign_public_ip))
                        .map(|a| t::AssignPublicIp::from(a.as_str())),
                )
                .build()?;
            Ok(t::NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build())
        }

        pub(crate) fn capacity(
            v: &[CapacityProviderItem],
        ) -> Result<Option<Vec<t::CapacityProviderStrategyItem>>, BuildError> {
            let items = v
                .iter()
                .map(|c| {
                    t::CapacityProviderStrategyItem::builder()
                        .capacity_provider(&c.capacity_provider)
                        .base(c.base)
                        .weight(c.weight)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(non_empty_vec(items))
        }

        pub(crate) fn constraints(
            v: &[PlacementConstraint],
        ) -> Option<Vec<t::PlacementConstraint>> {
            non_empty_vec(
                v.iter()
                    .map(|p| {
                        t::PlacementConstraint::builder()
                            .set_type(
                                non_empty(Some(&p.kind))
                                    .map(|k| t::PlacementConstraintType::from(k.as_str())),
                            )
                            .set_expression(p.expression.clone())
                            .build()
                    })
                    .collect(),
            )
        }

        pub(crate) fn strategy(v: &[PlacementStrategy]) -> Option<Vec<t::PlacementStrategy>> {
            non_empty_vec(
                v.iter()
                    .map(|p| {
                        t::PlacementStrategy::builder()
                            .set_type(
                                non_empty(Some(&p.kind))
                                    .map(|k| t::PlacementStrategyType::from(k.as_str())),
                            )
                            .set_field(p.field.clone())
                            .build()
                    })
                    .collect(),
            )
        }

        pub(crate) fn launch_type(e: &EcsTarget) -> Option<t::LaunchType> {
            non_empty(e.launch_type.as_deref()).map(|l| t::LaunchType::from(l.as_str()))
        }

        pub(crate) fn propagate_tags(e: &EcsTarget) -> Option<t::PropagateTags> {
            non_empty(e.propagate_tags.as_deref()).map(|p| t::PropagateTags::from(p.as_str()))
        }
    };
}

macro_rules! ecs_parts_to_model {
    ($sdk:ident) => {
        pub(crate) fn network_to_model(n: Option<&t::NetworkConfiguration>) -> Option<AwsVpc> {
            let v = n?.awsvpc_configuration()?;
            Some(AwsVpc {
                subnets: v.subnets().to_vec(),
                security_groups: v.security_groups().to_vec(),
                assign_public_ip: v
                    .assign_public_ip()
                    .map(|a| a.as_str())
                    .filter(|a| !a.is_empty())
                    .unwrap_or("DISABLED")
                    .to_string(),
            })
        }

        pub(crate) fn capacity_to_model(
            v: &[t::CapacityProviderStrategyItem],
        ) -> Vec<CapacityProviderItem> {
            v.iter()
                .map(|c| CapacityProviderItem {
                    capacity_provider: c.capacity_provider().to_string(),
                    base: c.base(),
                    weight: c.weight(),
                })
                .collect()
        }

        pub(crate) fn constraints_to_model(
            v: &[t::PlacementConstraint],
        ) -> Vec<PlacementConstraint> {
            v.iter()
                .map(|p| PlacementConstraint {
                    kind: p
                        .r#type()
                        .map(|k| k.as_str().to_string())
                        .unwrap_or_default(),
                    expression: non_empty(p.expression()),
                })
                .collect()
        }

        pub(crate) fn strategy_to_model(v: &[t::PlacementStrategy]) -> Vec<PlacementStrategy> {
            v.iter()
                .map(|p| PlacementStrategy {
                    kind: p
                        .r#type()
                        .map(|k| k.as_str().to_string())
                        .unwrap_or_default(),
                    field: non_empty(p.field()),
                })
                .collect()
        }
    };
}

fn retry_to_model(attempts: Option<i32>, age: Option<i32>) -> RetryPolicy {
    let d = RetryPolicy::default();
    RetryPolicy {
        maximum_retry_attempts: attempts.unwrap_or(d.maximum_retry_attempts),
        maximum_event_age_in_seconds: age.unwrap_or(d.maximum_event_age_in_seconds),
    }
}

/// A target as read from AWS: one of ours, or something ecsched keeps its hands off.
#[derive(Debug)]
pub(crate) enum ReadTarget {
    Ours(Box<Target>),
    /// `"<id> (<arn>)"`, with the reason when the target is on our cluster.
    Foreign(String),
}

/// EventBridge rule targets.
pub(crate) mod eb {
    use super::*;
    use aws_sdk_eventbridge::types as t;

    ecs_parts_from_model!(aws_sdk_eventbridge);
    ecs_parts_to_model!(aws_sdk_eventbridge);

    /// Classifies and converts one target of a rule. Only ECS targets on
    /// `cluster_arn` that ecsched can represent completely are `Ours`; an ECS
    /// target on our cluster using InputPath/InputTransformer or an Input that is
    /// not a task override is `Foreign` with the reason, so that it is neither
    /// silently rewritten nor removed.
    pub(crate) fn target_to_model(x: &t::Target, cluster_arn: &str) -> ReadTarget {
        let foreign = |why: &str| {
            if why.is_empty() {
                ReadTarget::Foreign(format!("{} ({})", x.id(), x.arn()))
            } else {
                ReadTarget::Foreign(format!("{} ({}; {why})", x.id(), x.arn()))
            }
        };
        if x.arn() != cluster_arn {
            return foreign("");
        }
        let Some(p) = x.ecs_parameters() else {
            return foreign("no EcsParameters");
        };
        if x.input_path().is_some() || x.input_transformer().is_some() {
            return foreign("uses InputPath/InputTransformer, which ecsched does not manage");
        }
        let overrides = match input::parse(x.input()) {
            Ok(o) => o,
            Err(e) => return foreign(&e),
        };
        let ecs = EcsTarget {
            cluster_arn: x.arn().to_string(),
            role_arn: x.role_arn().unwrap_or_default().to_string(),
            task_definition_arn: p.task_definition_arn().to_string(),
            task_count: p.task_count().unwrap_or(1),
            launch_type: non_empty(p.launch_type().map(|l| l.as_str())),
            platform_version: non_empty(p.platform_version()),
            group: non_empty(p.group()),
            capacity_provider_strategy: capacity_to_model(p.capacity_provider_strategy()),
            network: network_to_model(p.network_configuration()),
            propagate_tags: non_empty(p.propagate_tags().map(|l| l.as_str())),
            enable_ecs_managed_tags: p.enable_ecs_managed_tags(),
            enable_execute_command: p.enable_execute_command(),
            placement_constraints: constraints_to_model(p.placement_constraints()),
            placement_strategy: strategy_to_model(p.placement_strategy()),
            task_tags: p
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            reference_id: non_empty(p.reference_id()),
            overrides,
        };
        let retry = x.retry_policy();
        ReadTarget::Ours(Box::new(Target {
            id: x.id().to_string(),
            ecs,
            dead_letter_arn: non_empty(x.dead_letter_config().and_then(|d| d.arn())),
            retry_policy: retry_to_model(
                retry.and_then(|r| r.maximum_retry_attempts()),
                retry.and_then(|r| r.maximum_event_age_in_seconds()),
            ),
        }))
    }

    /// The PutTargets entry for a model target.
    pub(crate) fn target_from_model(x: &Target) -> Result<t::Target, BuildError> {
        let e = &x.ecs;
        let tags = e
            .task_tags
            .iter()
            .map(|(k, v)| t::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()?;
        let params = t::EcsParameters::builder()
            .task_definition_arn(&e.task_definition_arn)
            .task_count(e.task_count)
            .set_launch_type(launch_type(e))
            .set_platform_version(non_empty(e.platform_version.as_deref()))
            .set_group(non_empty(e.group.as_deref()))
            .set_capacity_provider_strategy(capacity(&e.capacity_provider_strategy)?)
            .set_network_configuration(e.network.as_ref().map(network).transpose()?)
            .set_propagate_tags(propagate_tags(e))
            .enable_ecs_managed_tags(e.enable_ecs_managed_tags)
            .enable_execute_command(e.enable_execute_command)
            .set_placement_constraints(constraints(&e.placement_constraints))
            .set_placement_strategy(strategy(&e.placement_strategy))
            .set_reference_id(non_empty(e.reference_id.as_deref()))
            .set_tags(non_empty_vec(tags))
            .build()?;
        t::Target::builder()
            .id(&x.id)
            .arn(&e.cluster_arn)
            .set_role_arn(non_empty(Some(&e.role_arn)))
            .set_input(input::encode(&e.overrides))
            .ecs_parameters(params)
            .set_dead_letter_config(
                x.dead_letter_arn
                    .as_ref()
                    .map(|a| t::DeadLetterConfig::builder().arn(a).build()),
            )
            .retry_policy(
                t::RetryPolicy::builder()
                    .maximum_retry_attempts(x.retry_policy.maximum_retry_attempts)
                    .maximum_event_age_in_seconds(x.retry_policy.maximum_event_age_in_seconds)
                    .build(),
            )
            .build()
    }

    /// A rule's state from its wire string (absent or unknown: enabled).
    pub(crate) fn state_str(s: Option<&str>) -> State {
        match s {
            Some("DISABLED") => State::Disabled,
            Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => {
                State::EnabledWithAllCloudtrailManagementEvents
            }
            _ => State::Enabled,
        }
    }

    pub(crate) fn state_from_model(s: State) -> t::RuleState {
        t::RuleState::from(s.as_aws())
    }
}

/// Formats a Scheduler timestamp as the model's RFC 3339 UTC string.
pub(crate) fn date_to_model(d: &aws_smithy_types::DateTime) -> Option<String> {
    DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Parses the model's RFC 3339 date for the Scheduler API.
pub(crate) fn date_from_model(s: &str) -> Option<aws_smithy_types::DateTime> {
    let d = DateTime::parse_from_rfc3339(s).ok()?;
    Some(aws_smithy_types::DateTime::from_secs(d.timestamp()))
}

/// EventBridge Scheduler schedules.
pub(crate) mod sch {
    use super::*;
    use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
    use aws_sdk_scheduler::types as t;

    ecs_parts_from_model!(aws_sdk_scheduler);
    ecs_parts_to_model!(aws_sdk_scheduler);

    /// Scheduler spells ECS task tags as a list of `{"key": K, "value": V}` maps;
    /// a map without `key` is read as `{K: V, …}` pairs, to be lenient.
    fn tags_to_model(v: &[HashMap<String, String>]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for m in v {
            match m.get("key") {
                Some(k) => {
                    out.insert(k.clone(), m.get("value").cloned().unwrap_or_default());
                }
                None => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
            }
        }
        out
    }

    fn tags_from_model(v: &BTreeMap<String, String>) -> Option<Vec<HashMap<String, String>>> {
        non_empty_vec(
            v.iter()
                .map(|(k, v)| {
                    HashMap::from([
                        ("key".to_string(), k.clone()),
                        ("value".to_string(), v.clone()),
                    ])
                })
                .collect(),
        )
    }

    /// GetSchedule output → model. `Err` carries the reason when the target's
    /// Input is not an ECS task override (the caller reports it; ecsched leaves
    /// such a schedule alone). A non-ECS target becomes an `EcsTarget` holding
    /// only its ARN and role, so a plan shows what it would overwrite.
    pub(crate) fn schedule_to_model(
        out: &GetScheduleOutput,
        group: &str,
        name: &str,
    ) -> Result<Schedule, String> {
        let x = out.target();
        let overrides = match x.and_then(|x| x.ecs_parameters()) {
            Some(_) => input::parse(x.and_then(|x| x.input()))?,
            None => TaskOverrides::default(),
        };
        let ecs = match x {
            None => EcsTarget {
                task_count: 1,
                ..EcsTarget::default()
            },
            Some(x) => match x.ecs_parameters() {
                None => EcsTarget {
                    cluster_arn: x.arn().to_string(),
                    role_arn: x.role_arn().to_string(),
                    task_count: 1,
                    ..EcsTarget::default()
                },
                Some(p) => EcsTarget {
                    cluster_arn: x.arn().to_string(),
                    role_arn: x.role_arn().to_string(),
                    task_definition_arn: p.task_definition_arn().to_string(),
                    task_count: p.task_count().unwrap_or(1),
                    launch_type: non_empty(p.launch_type().map(|l| l.as_str())),
                    platform_version: non_empty(p.platform_version()),
                    group: non_empty(p.group()),
                    capacity_provider_strategy: capacity_to_model(p.capacity_provider_strategy()),
                    network: network_to_model(p.network_configuration()),
                    propagate_tags: non_empty(p.propagate_tags().map(|l| l.as_str())),
                    enable_ecs_managed_tags: p.enable_ecs_managed_tags().unwrap_or(false),
                    enable_execute_command: p.enable_execute_command().unwrap_or(false),
                    placement_constraints: constraints_to_model(p.placement_constraints()),
                    placement_strategy: strategy_to_model(p.placement_strategy()),
                    task_tags: tags_to_model(p.tags()),
                    reference_id: non_empty(p.reference_id()),
                    overrides,
                },
            },
        };
        let retry = x.and_then(|x| x.retry_policy());
        let window = out.flexible_time_window();
        Ok(Schedule {
            name: out.name().unwrap_or(name).to_string(),
            group: out.group_name().unwrap_or(group).to_string(),
            description: out.description().unwrap_or_default().to_string(),
            schedule_expression: out.schedule_expression().unwrap_or_default().to_string(),
            timezone: non_empty(out.schedule_expression_timezone())
                .unwrap_or_else(|| crate::model::defaults::TIMEZONE.to_string()),
            start_date: out.start_date().and_then(date_to_model),
            end_date: out.end_date().and_then(date_to_model),
            state: match out.state() {
                Some(t::ScheduleState::Disabled) => State::Disabled,
                _ => State::Enabled,
            },
            flexible_window_minutes: match window.map(|w| &w.mode) {
                Some(t::FlexibleTimeWindowMode::Flexible) => Some(
                    window
                        .and_then(|w| w.maximum_window_in_minutes())
                        .unwrap_or(0),
                ),
                _ => None,
            },
            action_after_completion: non_empty(out.action_after_completion().map(|a| a.as_str()))
                .unwrap_or_else(|| "NONE".to_string()),
            kms_key_arn: non_empty(out.kms_key_arn()),
            ecs,
            dead_letter_arn: non_empty(
                x.and_then(|x| x.dead_letter_config()).and_then(|d| d.arn()),
            ),
            retry_policy: retry_to_model(
                retry.and_then(|r| r.maximum_retry_attempts()),
                retry.and_then(|r| r.maximum_event_age_in_seconds()),
            ),
        })
    }

    /// The schedule's target for CreateSchedule/UpdateSchedule.
    pub(crate) fn target_from_model(s: &Schedule) -> Result<t::Target, BuildError> {
        let e = &s.ecs;
        let params = t::EcsParameters::builder()
            .task_definition_arn(&e.task_definition_arn)
            .task_count(e.task_count)
            .set_launch_type(launch_type(e))
            .set_platform_version(non_empty(e.platform_version.as_deref()))
            .set_group(non_empty(e.group.as_deref()))
            .set_capacity_provider_strategy(capacity(&e.capacity_provider_strategy)?)
            .set_network_configuration(e.network.as_ref().map(network).transpose()?)
            .set_propagate_tags(propagate_tags(e))
            .set_enable_ecs_managed_tags(e.enable_ecs_managed_tags.then_some(true))
            .set_enable_execute_command(e.enable_execute_command.then_some(true))
            .set_placement_constraints(constraints(&e.placement_constraints))
            .set_placement_strategy(strategy(&e.placement_strategy))
            .set_reference_id(non_empty(e.reference_id.as_deref()))
            .set_tags(tags_from_model(&e.task_tags))
            .build()?;
        t::Target::builder()
            .arn(&e.cluster_arn)
            .role_arn(&e.role_arn)
            .set_input(input::encode(&e.overrides))
            .ecs_parameters(params)
            .set_dead_letter_config(
                s.dead_letter_arn
                    .as_ref()
                    .map(|a| t::DeadLetterConfig::builder().arn(a).build()),
            )
            .retry_policy(
                t::RetryPolicy::builder()
                    .maximum_retry_attempts(s.retry_policy.maximum_retry_attempts)
                    .maximum_event_age_in_seconds(s.retry_policy.maximum_event_age_in_seconds)
                    .build(),
            )
            .build()
    }

    pub(crate) fn window_from_model(s: &Schedule) -> Result<t::FlexibleTimeWindow, BuildError> {
        match s.flexible_window_minutes {
            None => t::FlexibleTimeWindow::builder()
                .mode(t::FlexibleTimeWindowMode::Off)
                .build(),
            Some(m) => t::FlexibleTimeWindow::builder()
                .mode(t::FlexibleTimeWindowMode::Flexible)
                .set_maximum_window_in_minutes((m > 0).then_some(m))
                .build(),
        }
    }

    pub(crate) fn state_from_model(s: State) -> t::ScheduleState {
        t::ScheduleState::from(s.as_aws())
    }

    pub(crate) fn action_from_model(s: &Schedule) -> Option<t::ActionAfterCompletion> {
        non_empty(Some(&s.action_after_completion))
            .map(|a| t::ActionAfterCompletion::from(a.as_str()))
    }
}

/// ECS RunTask parameters.
pub(crate) mod ecs {
    use super::*;
    use aws_sdk_ecs::types as t;

    ecs_parts_from_model!(aws_sdk_ecs);

    pub(crate) fn tags(e: &EcsTarget) -> Option<Vec<t::Tag>> {
        non_empty_vec(
            e.task_tags
                .iter()
                .map(|(k, v)| t::Tag::builder().key(k).value(v).build())
                .collect(),
        )
    }

    fn typed_files(v: &[TypedValue]) -> Result<Option<Vec<t::EnvironmentFile>>, BuildError> {
        let v = v
            .iter()
            .map(|x| {
                t::EnvironmentFile::builder()
                    .r#type(t::EnvironmentFileType::from(x.kind.as_str()))
                    .value(&x.value)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(non_empty_vec(v))
    }

    fn typed_resources(
        v: &[TypedValue],
    ) -> Result<Option<Vec<t::ResourceRequirement>>, BuildError> {
        let v = v
            .iter()
            .map(|x| {
                t::ResourceRequirement::builder()
                    .r#type(t::ResourceType::from(x.kind.as_str()))
                    .value(&x.value)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(non_empty_vec(v))
    }

    fn container(c: &ContainerOverride) -> Result<t::ContainerOverride, BuildError> {
        Ok(t::ContainerOverride::builder()
            .name(&c.name)
            .set_command(c.command.clone().filter(|v| !v.is_empty()))
            .set_environment(non_empty_vec(
                c.environment
                    .iter()
                    .map(|(k, v)| t::KeyValuePair::builder().name(k).value(v).build())
                    .collect(),
            ))
            .set_environment_files(typed_files(&c.environment_files)?)
            .set_resource_requirements(typed_resources(&c.resource_requirements)?)
            .set_cpu(c.cpu)
            .set_memory(c.memory)
            .set_memory_reservation(c.memory_reservation)
            .build())
    }

    /// The RunTask `overrides` for the target's task override; `None` when empty.
    pub(crate) fn overrides(o: &TaskOverrides) -> Result<Option<t::TaskOverride>, BuildError> {
        if *o == TaskOverrides::default() {
            return Ok(None);
        }
        let containers = o
            .containers
            .iter()
            .map(container)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(
            t::TaskOverride::builder()
                .set_container_overrides(non_empty_vec(containers))
                .set_cpu(o.cpu.clone())
                .set_memory(o.memory.clone())
                .set_task_role_arn(o.task_role_arn.clone())
                .set_execution_role_arn(o.execution_role_arn.clone())
                .set_ephemeral_storage(
                    o.ephemeral_storage_gib
                        .map(|g| t::EphemeralStorage::builder().size_in_gib(g).build()),
                )
                .build(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContainerOverride;

    const CLUSTER: &str = "arn:aws:ecs:ap-northeast-3:123456789012:cluster/c1";

    /// An `EcsTarget` with every field set.
    pub(crate) fn full_ecs(cluster: &str) -> EcsTarget {
        EcsTarget {
            cluster_arn: cluster.to_string(),
            role_arn: "arn:aws:iam::123456789012:role/ecsEventsRole".into(),
            task_definition_arn: "arn:aws:ecs:ap-northeast-3:123456789012:task-definition/app:3"
                .into(),
            task_count: 2,
            launch_type: Some("FARGATE".into()),
            platform_version: Some("1.4.0".into()),
            group: Some("batch".into()),
            capacity_provider_strategy: vec![],
            network: Some(AwsVpc {
                subnets: vec!["subnet-1".into(), "subnet-2".into()],
                security_groups: vec!["sg-1".into()],
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
            task_tags: BTreeMap::from([("team".into(), "data".into())]),
            reference_id: Some("ref-1".into()),
            overrides: TaskOverrides {
                extra: None,
                cpu: Some("512".into()),
                memory: Some("1024".into()),
                task_role_arn: Some("arn:aws:iam::123456789012:role/task".into()),
                execution_role_arn: Some("arn:aws:iam::123456789012:role/exec".into()),
                ephemeral_storage_gib: Some(30),
                containers: vec![ContainerOverride {
                    extra: None,
                    name: "app".into(),
                    command: Some(vec!["run".into(), "--fast".into()]),
                    environment: BTreeMap::from([
                        ("A".into(), "1".into()),
                        ("B".into(), "2".into()),
                    ]),
                    environment_files: vec![TypedValue {
                        kind: "s3".into(),
                        value: "arn:aws:s3:::b/env".into(),
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

    fn full_target() -> Target {
        Target {
            id: "t1".into(),
            ecs: full_ecs(CLUSTER),
            dead_letter_arn: Some("arn:aws:sqs:ap-northeast-3:123456789012:dlq".into()),
            retry_policy: RetryPolicy {
                maximum_retry_attempts: 3,
                maximum_event_age_in_seconds: 600,
            },
        }
    }

    #[test]
    fn eventbridge_target_round_trips_every_field() {
        let model = full_target();
        let sdk = eb::target_from_model(&model).unwrap();
        match eb::target_to_model(&sdk, CLUSTER) {
            ReadTarget::Ours(back) => assert_eq!(*back, model),
            ReadTarget::Foreign(f) => panic!("foreign: {f}"),
        }
        let mut cps = full_target();
        cps.ecs.launch_type = None;
        cps.ecs.capacity_provider_strategy = vec![CapacityProviderItem {
            capacity_provider: "FARGATE_SPOT".into(),
            base: 1,
            weight: 2,
        }];
        let sdk = eb::target_from_model(&cps).unwrap();
        assert!(sdk.ecs_parameters().unwrap().launch_type().is_none());
        match eb::target_to_model(&sdk, CLUSTER) {
            ReadTarget::Ours(back) => assert_eq!(*back, cps),
            ReadTarget::Foreign(f) => panic!("foreign: {f}"),
        }
    }

    #[test]
    fn eventbridge_minimal_target_normalises_like_the_config_side() {
        use aws_sdk_eventbridge::types as t;
        let sdk = t::Target::builder()
            .id("seed")
            .arn(CLUSTER)
            .role_arn("arn:aws:iam::123456789012:role/ecsEventsRole")
            .input(r#"{"containerOverrides": [{"name": "nginx", "command": ["nginx", "-v"]}]}"#)
            .ecs_parameters(
                t::EcsParameters::builder()
                    .task_definition_arn("arn:td")
                    .network_configuration(
                        t::NetworkConfiguration::builder()
                            .awsvpc_configuration(
                                t::AwsVpcConfiguration::builder()
                                    .subnets("subnet-1")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let ReadTarget::Ours(m) = eb::target_to_model(&sdk, CLUSTER) else {
            panic!("not ours")
        };
        assert_eq!(m.ecs.task_count, 1);
        assert_eq!(m.retry_policy, RetryPolicy::default());
        let net = m.ecs.network.unwrap();
        assert_eq!(net.assign_public_ip, "DISABLED");
        assert!(net.security_groups.is_empty());
        assert_eq!(m.ecs.overrides.containers[0].name, "nginx");
        assert_eq!(m.dead_letter_arn, None);
    }

    #[test]
    fn eventbridge_foreign_targets_are_classified_with_reasons() {
        use aws_sdk_eventbridge::types as t;
        let other = t::Target::builder()
            .id("q")
            .arn("arn:aws:sqs:ap-northeast-3:123456789012:q")
            .build()
            .unwrap();
        match eb::target_to_model(&other, CLUSTER) {
            ReadTarget::Foreign(f) => {
                assert_eq!(f, "q (arn:aws:sqs:ap-northeast-3:123456789012:q)")
            }
            ReadTarget::Ours(_) => panic!(),
        }
        let mut bad = eb::target_from_model(&full_target()).unwrap();
        bad.input = Some("not json".into());
        match eb::target_to_model(&bad, CLUSTER) {
            ReadTarget::Foreign(f) => assert!(f.contains("not an ECS task override"), "{f}"),
            ReadTarget::Ours(_) => panic!(),
        }
        let mut transformed = eb::target_from_model(&full_target()).unwrap();
        transformed.input_path = Some("$.detail".into());
        assert!(matches!(
            eb::target_to_model(&transformed, CLUSTER),
            ReadTarget::Foreign(_)
        ));
    }

    fn full_schedule() -> Schedule {
        Schedule {
            name: "s1".into(),
            group: "g1".into(),
            description: "desc".into(),
            schedule_expression: "cron(0 10 * * ? *)".into(),
            timezone: "Asia/Tokyo".into(),
            start_date: Some("2030-01-01T00:00:00Z".into()),
            end_date: Some("2031-01-01T00:00:00Z".into()),
            state: State::Disabled,
            flexible_window_minutes: Some(15),
            action_after_completion: "NONE".into(),
            kms_key_arn: Some("arn:aws:kms:ap-northeast-3:123456789012:key/k".into()),
            ecs: full_ecs(CLUSTER),
            dead_letter_arn: Some("arn:aws:sqs:ap-northeast-3:123456789012:dlq".into()),
            retry_policy: RetryPolicy {
                maximum_retry_attempts: 5,
                maximum_event_age_in_seconds: 3600,
            },
        }
    }

    /// What GetSchedule would return for a CreateSchedule of `s`.
    fn as_get_output(
        s: &Schedule,
    ) -> aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput {
        use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
        GetScheduleOutput::builder()
            .name(&s.name)
            .group_name(&s.group)
            .description(&s.description)
            .schedule_expression(&s.schedule_expression)
            .schedule_expression_timezone(&s.timezone)
            .set_start_date(s.start_date.as_deref().and_then(date_from_model))
            .set_end_date(s.end_date.as_deref().and_then(date_from_model))
            .state(sch::state_from_model(s.state))
            .flexible_time_window(sch::window_from_model(s).unwrap())
            .set_action_after_completion(sch::action_from_model(s))
            .set_kms_key_arn(s.kms_key_arn.clone())
            .target(sch::target_from_model(s).unwrap())
            .build()
    }

    #[test]
    fn schedule_round_trips_every_field() {
        let s = full_schedule();
        assert_eq!(
            sch::schedule_to_model(&as_get_output(&s), "g1", "s1"),
            Ok(s)
        );
    }

    #[test]
    fn schedule_defaults_normalise() {
        use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
        use aws_sdk_scheduler::types as t;
        let out = GetScheduleOutput::builder()
            .name("s")
            .group_name("default")
            .schedule_expression("rate(1 hour)")
            .flexible_time_window(
                t::FlexibleTimeWindow::builder()
                    .mode(t::FlexibleTimeWindowMode::Off)
                    .build()
                    .unwrap(),
            )
            .target(
                t::Target::builder()
                    .arn(CLUSTER)
                    .role_arn("arn:role")
                    .ecs_parameters(
                        t::EcsParameters::builder()
                            .task_definition_arn("arn:td")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build();
        let s = sch::schedule_to_model(&out, "default", "s").unwrap();
        assert_eq!(s.timezone, "UTC");
        assert_eq!(s.flexible_window_minutes, None);
        assert_eq!(s.action_after_completion, "NONE");
        assert_eq!(s.state, State::Enabled);
        assert_eq!(s.ecs.task_count, 1);
        assert_eq!(s.retry_policy, RetryPolicy::default());
        assert_eq!(s.description, "");
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let d = date_from_model("2026-03-01T09:00:00+09:00").unwrap();
        assert_eq!(date_to_model(&d).unwrap(), "2026-03-01T00:00:00Z");
        assert!(date_from_model("yesterday").is_none());
    }

    #[test]
    fn run_task_overrides_carry_every_field_and_empty_is_none() {
        assert!(ecs::overrides(&TaskOverrides::default()).unwrap().is_none());
        let o = ecs::overrides(&full_ecs(CLUSTER).overrides)
            .unwrap()
            .unwrap();
        assert_eq!(o.cpu(), Some("512"));
        assert_eq!(o.ephemeral_storage().unwrap().size_in_gib(), 30);
        let c = &o.container_overrides()[0];
        assert_eq!(c.name(), Some("app"));
        assert_eq!(c.environment().len(), 2);
        assert_eq!(c.environment_files()[0].value(), "arn:aws:s3:::b/env");
        assert_eq!(c.resource_requirements()[0].value(), "1");
        assert_eq!(c.memory_reservation(), Some(256));
    }
}
