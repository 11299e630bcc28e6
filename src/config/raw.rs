//! The config file as written: serde structs that mirror ecschedule's keys
//! (with their mixed camelCase / snake_case spelling) plus ecsched's additions.
//! These types are the source of `schemas/ecsched.schema.json`. They carry no
//! defaults and no resolution: `model` turns them into the normalised form.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The tag that marks a rule or schedule as managed by a config file (its value is the
/// file's `trackingId`), shared with ecschedule. `model` re-exports it.
pub const TRACKING_TAG: &str = "ecschedule:tracking-id";

/// The event bus a rule is on when it names none; the only one AWS runs scheduled rules on.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// An ecsched (or ecschedule) configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Default IAM role (name, `path/name` or ARN) for targets without their own `role`.
    /// Defaults to `ecsEventsRole`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// AWS region of the rules, schedules and cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ECS cluster name or ARN that every target runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Value of the `ecschedule:tracking-id` tag that marks resources managed by this file
    /// (prune only ever deletes resources carrying it). Defaults to the cluster.
    #[serde(
        rename = "trackingId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tracking_id: Option<String>,
    /// EventBridge rules with ECS targets ("scheduled tasks" in the ECS console).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RawRule>>,
    /// EventBridge Scheduler schedules with an ECS target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedules: Option<Vec<RawSchedule>>,
    /// Template plugins: `tfstate` and `ssm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<RawPlugin>>,
    /// `s3://BUCKET/KEY`: `apply` and `delete` take a lock object there first, so
    /// that concurrent runs are serialised (overridden by `--lock`/`ECSCHED_LOCK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
}

/// A template plugin declaration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    /// `tfstate` or `ssm` (case-insensitive).
    pub name: String,
    /// Plugin settings, e.g. `path` or `url` for tfstate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// Prefix for the functions the plugin registers (`first_tfstate`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub func_prefix: Option<String>,
}

/// Declares a struct carrying every ECS target field, shared by rules (inline
/// target, ecschedule's form), `targets:` entries and Scheduler schedules.
macro_rules! ecs_target_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// Task definition: `family`, `family:revision` or a full ARN.
            #[serde(rename = "taskDefinition", default, skip_serializing_if = "Option::is_none")]
            pub task_definition: Option<String>,
            /// Number of tasks to start (default 1).
            #[serde(rename = "taskCount", default, skip_serializing_if = "Option::is_none")]
            pub task_count: Option<i64>,
            /// Task-level overrides.
            #[serde(rename = "taskOverride", default, skip_serializing_if = "Option::is_none")]
            pub task_override: Option<RawTaskOverride>,
            /// Per-container overrides.
            #[serde(rename = "containerOverrides", default, skip_serializing_if = "Option::is_none")]
            pub container_overrides: Option<Vec<RawContainerOverride>>,
            /// IAM role that EventBridge uses to run the task: name, `path/name` or ARN.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub role: Option<String>,
            /// Capacity provider strategy (exclusive with `launch_type`).
            #[serde(rename = "capacityProviderStrategy", default, skip_serializing_if = "Option::is_none")]
            pub capacity_provider_strategy: Option<Vec<RawCapacityProviderStrategyItem>>,
            /// `FARGATE`, `EC2` or `EXTERNAL`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub launch_type: Option<LaunchType>,
            /// Fargate platform version, e.g. `LATEST` or `1.4.0`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub platform_version: Option<String>,
            /// awsvpc network configuration.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub network_configuration: Option<RawNetworkConfiguration>,
            /// Dead-letter queue.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dead_letter_config: Option<RawDeadLetterConfig>,
            /// `TASK_DEFINITION` to copy the task definition's tags to the task.
            #[serde(rename = "propagateTags", default, skip_serializing_if = "Option::is_none")]
            pub propagate_tags: Option<String>,
            /// Retry policy of the target.
            #[serde(rename = "retryPolicy", default, skip_serializing_if = "Option::is_none")]
            pub retry_policy: Option<RawRetryPolicy>,
            /// Task placement constraints.
            #[serde(rename = "placementConstraints", default, skip_serializing_if = "Option::is_none")]
            pub placement_constraints: Option<Vec<RawPlacementConstraint>>,
            /// Task placement strategy.
            #[serde(rename = "placementStrategy", default, skip_serializing_if = "Option::is_none")]
            pub placement_strategy: Option<Vec<RawPlacementStrategy>>,
            /// Turn on Amazon ECS managed tags for the task.
            #[serde(rename = "enableECSManagedTags", default, skip_serializing_if = "Option::is_none")]
            pub enable_ecs_managed_tags: Option<bool>,
            /// Turn on ECS Exec for the task.
            #[serde(rename = "enableExecuteCommand", default, skip_serializing_if = "Option::is_none")]
            pub enable_execute_command: Option<bool>,
            /// Tags applied to the task that is started.
            #[serde(rename = "taskTags", default, skip_serializing_if = "Option::is_none")]
            pub task_tags: Option<BTreeMap<String, String>>,
            /// Reference id attached to the task.
            #[serde(rename = "referenceId", default, skip_serializing_if = "Option::is_none")]
            pub reference_id: Option<String>,
        }
    };
}

ecs_target_struct! {
    /// An EventBridge rule. Its first (and, in ecschedule files, only) ECS target
    /// is written inline; several targets go in `targets:`.
    pub struct RawRule {
        /// Rule name (also the default target id).
        pub name: String,
        /// Rule description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub description: Option<String>,
        /// `cron(...)` or `rate(...)`.
        #[serde(rename = "scheduleExpression")]
        pub schedule_expression: String,
        /// Create the rule in state DISABLED.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disabled: Option<bool>,
        /// Event bus of the rule (default `default`).
        #[serde(rename = "eventBusName", default, skip_serializing_if = "Option::is_none")]
        pub event_bus_name: Option<String>,
        /// Tags of the rule (the `ecschedule:tracking-id` tag is managed by ecsched).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tags: Option<BTreeMap<String, String>>,
        /// IAM role of the rule itself (PutRule's RoleArn, used for targets on other
        /// event buses): name, `path/name` or ARN. Not the targets' `role`.
        #[serde(rename = "ruleRole", default, skip_serializing_if = "Option::is_none")]
        pub rule_role: Option<String>,
        /// ecschedule allows `region` per rule; it must equal the top-level region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub region: Option<String>,
        /// ecschedule allows `cluster` per rule; it must equal the top-level cluster.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cluster: Option<String>,
        /// ecschedule allows `trackingId` per rule; it must equal the top-level trackingId.
        #[serde(rename = "trackingId", default, skip_serializing_if = "Option::is_none")]
        pub tracking_id: Option<String>,
        /// ECS task group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// Id of the inline target (default: the rule name).
        #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
        pub target_id: Option<String>,
        /// Several ECS targets (at most 5); exclusive with the inline target fields.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub targets: Option<Vec<RawTarget>>,
    }
}

ecs_target_struct! {
    /// One entry of a rule's `targets:` list.
    pub struct RawTarget {
        /// ECS task group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// Target id, unique within the rule.
        #[serde(rename = "targetId", default, skip_serializing_if = "Option::is_none")]
        pub target_id: Option<String>,
    }
}

ecs_target_struct! {
    /// An EventBridge Scheduler schedule with an ECS target.
    pub struct RawSchedule {
        /// Schedule name, unique within its group.
        pub name: String,
        /// Schedule group (default `default`).
        #[serde(rename = "group", default, skip_serializing_if = "Option::is_none")]
        pub schedule_group: Option<String>,
        /// ECS task group (`group` names the schedule group here).
        #[serde(rename = "taskGroup", default, skip_serializing_if = "Option::is_none")]
        pub group: Option<String>,
        /// Schedule description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub description: Option<String>,
        /// `cron(...)`, `rate(...)` or `at(yyyy-mm-ddThh:mm:ss)`.
        #[serde(rename = "scheduleExpression")]
        pub schedule_expression: String,
        /// IANA timezone of the expression (default `UTC`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub timezone: Option<String>,
        /// First time the schedule may fire (ISO 8601, e.g. `2026-01-01T00:00:00Z`).
        #[serde(rename = "startDate", default, skip_serializing_if = "Option::is_none")]
        pub start_date: Option<String>,
        /// Last time the schedule may fire (ISO 8601).
        #[serde(rename = "endDate", default, skip_serializing_if = "Option::is_none")]
        pub end_date: Option<String>,
        /// `ENABLED` (default) or `DISABLED`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub state: Option<ScheduleState>,
        /// Flexible time window (default mode `OFF`).
        #[serde(rename = "flexibleTimeWindow", default, skip_serializing_if = "Option::is_none")]
        pub flexible_time_window: Option<RawFlexibleTimeWindow>,
        /// `NONE` (default) or `DELETE` (delete a one-time schedule after it ran).
        #[serde(rename = "actionAfterCompletion", default, skip_serializing_if = "Option::is_none")]
        pub action_after_completion: Option<ActionAfterCompletion>,
        /// Customer managed KMS key for the schedule's target input.
        #[serde(rename = "kmsKeyArn", default, skip_serializing_if = "Option::is_none")]
        pub kms_key_arn: Option<String>,
    }
}

/// Task-level overrides (ECS `TaskOverride`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTaskOverride {
    /// Task CPU units, as a string (`"256"`, `"1 vCPU"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory, as a string (`"512"`, `"1 GB"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Task role ARN override.
    #[serde(
        rename = "taskRoleArn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_role_arn: Option<String>,
    /// Execution role ARN override.
    #[serde(
        rename = "executionRoleArn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_role_arn: Option<String>,
    /// Ephemeral storage override.
    #[serde(
        rename = "ephemeralStorage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_storage: Option<RawEphemeralStorage>,
}

/// Ephemeral storage size for Fargate tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEphemeralStorage {
    /// Size in GiB (21-200).
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: i64,
}

/// Overrides for one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawContainerOverride {
    /// Container name in the task definition.
    pub name: String,
    /// Command override.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "flow_seq"
    )]
    pub command: Option<Vec<String>>,
    /// Environment variables (a map, as in ecschedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    /// Environment files (`type: s3`).
    #[serde(
        rename = "environmentFiles",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub environment_files: Option<Vec<RawTypedValue>>,
    /// Resource requirements (`type: GPU` or `InferenceAccelerator`).
    #[serde(
        rename = "resourceRequirements",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_requirements: Option<Vec<RawTypedValue>>,
    /// CPU units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Hard memory limit (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Soft memory limit (MiB).
    #[serde(
        rename = "memoryReservation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_reservation: Option<i64>,
}

/// A `{type, value}` pair (environment files, resource requirements).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTypedValue {
    /// The kind of value.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value.
    pub value: String,
}

/// One capacity provider strategy item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapacityProviderStrategyItem {
    /// Capacity provider name, e.g. `FARGATE_SPOT`.
    #[serde(rename = "capacityProvider")]
    pub capacity_provider: String,
    /// Minimum number of tasks on this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<i64>,
    /// Relative weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
}

/// `network_configuration` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetworkConfiguration {
    /// awsvpc settings.
    pub aws_vpc_configuration: RawAwsVpcConfiguration,
}

/// awsvpc subnets, security groups and public IP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAwsVpcConfiguration {
    /// Subnet ids (at most 16).
    pub subnets: Vec<String>,
    /// Security group ids (at most 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    /// `ENABLED` or `DISABLED` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<AssignPublicIp>,
}

/// Dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDeadLetterConfig {
    /// SQS queue name or ARN.
    pub sqs: String,
}

/// Retry policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryPolicy {
    /// Maximum retry attempts (0-185, default 185).
    #[serde(
        rename = "maximumRetryAttempts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub maximum_retry_attempts: Option<i64>,
    /// Maximum age of an event in seconds (60-86400, default 86400).
    #[serde(
        rename = "maximumEventAgeInSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub maximum_event_age_in_seconds: Option<i64>,
}

/// A task placement constraint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlacementConstraint {
    /// `distinctInstance` or `memberOf`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Cluster query language expression (for `memberOf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A task placement strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlacementStrategy {
    /// `random`, `spread` or `binpack`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Field the strategy applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Scheduler flexible time window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFlexibleTimeWindow {
    /// `OFF` or `FLEXIBLE`.
    pub mode: FlexibleTimeWindowMode,
    /// Window length in minutes (1-1440), required with `FLEXIBLE`.
    #[serde(
        rename = "maximumWindowInMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub maximum_window_in_minutes: Option<i64>,
}

/// ECS launch type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LaunchType {
    /// AWS Fargate.
    #[serde(rename = "FARGATE")]
    Fargate,
    /// EC2 container instances.
    #[serde(rename = "EC2")]
    Ec2,
    /// ECS Anywhere.
    #[serde(rename = "EXTERNAL")]
    External,
}

/// awsvpc public IP assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AssignPublicIp {
    /// Assign a public IP.
    #[serde(rename = "ENABLED")]
    Enabled,
    /// No public IP.
    #[serde(rename = "DISABLED")]
    Disabled,
}

/// Scheduler schedule state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScheduleState {
    /// The schedule fires.
    #[serde(rename = "ENABLED")]
    Enabled,
    /// The schedule is paused.
    #[serde(rename = "DISABLED")]
    Disabled,
}

/// Scheduler flexible time window mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FlexibleTimeWindowMode {
    /// Fire at the exact time.
    #[default]
    #[serde(rename = "OFF")]
    Off,
    /// Fire within `maximumWindowInMinutes`.
    #[serde(rename = "FLEXIBLE")]
    Flexible,
}

/// What Scheduler does after the last invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ActionAfterCompletion {
    /// Keep the schedule.
    #[serde(rename = "NONE")]
    None,
    /// Delete the schedule.
    #[serde(rename = "DELETE")]
    Delete,
}

/// Writes `command` as a YAML flow sequence (`[nginx, -v]`), as ecschedule does.
fn flow_seq<S: serde::Serializer>(v: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(serde_saphyr::FlowSeq).serialize(s)
}

/// The JSON Schema (draft 2020-12) of the config file, as checked in under `schemas/`.
///
/// Simplified for readable validation messages: a `null` value means "absent"
/// (ecsched drops null-valued keys before validating, as ecschedule's loader
/// treats them as unset), so the `null` alternatives schemars adds to optional
/// fields are removed, and enums are plain `enum` lists.
pub fn config_schema() -> serde_json::Value {
    let mut schema = serde_json::Value::from(schemars::schema_for!(RawConfig));
    simplify_schema(&mut schema);
    if let Some(m) = schema.as_object_mut() {
        m.insert("title".into(), "ecsched configuration".into());
    }
    schema
}

fn is_null_schema(v: &serde_json::Value) -> bool {
    v.get("type").and_then(serde_json::Value::as_str) == Some("null")
}

fn simplify_schema(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types[0].clone();
                    m.insert("type".into(), t);
                }
            }
            if m.get("default") == Some(&Value::Null) {
                m.remove("default");
            }
            if let Some(Value::Array(alts)) = m.get("anyOf") {
                let rest: Vec<Value> = alts
                    .iter()
                    .filter(|a| !is_null_schema(a))
                    .cloned()
                    .collect();
                m.remove("anyOf");
                if rest.len() == 1 {
                    if let Value::Object(inner) = &rest[0] {
                        for (k, x) in inner {
                            m.entry(k.clone()).or_insert_with(|| x.clone());
                        }
                    }
                } else {
                    m.insert("anyOf".into(), Value::Array(rest));
                }
            }
            if let Some(Value::Array(alts)) = m.get("oneOf")
                && !alts.is_empty()
                && alts.iter().all(|a| a.get("const").is_some())
            {
                let values: Vec<Value> = alts
                    .iter()
                    .filter_map(|a| a.get("const").cloned())
                    .collect();
                m.remove("oneOf");
                m.insert("type".into(), "string".into());
                m.insert("enum".into(), Value::Array(values));
            }
            for child in m.values_mut() {
                simplify_schema(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(simplify_schema),
        _ => {}
    }
}
