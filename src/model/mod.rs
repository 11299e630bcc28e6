//! The one normalised representation of rules, schedules and their ECS targets,
//! used for BOTH desired state (from the config) and live state (from AWS), so
//! that comparing them is plain equality: defaults filled in, names resolved to
//! ARNs one way (`arn`), environment sorted, Input JSON parsed. Pure: no I/O, no
//! SDK types. These types go into plan files (bincode): no `serde_json::Value`,
//! no `flatten`, no `skip_serializing_if`, no untagged enums.

pub mod arn;
pub mod defaults;
pub mod desired;
pub mod dump;
pub mod fire;
pub mod input;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The tag that marks a rule as managed, shared with ecschedule (defined in config).
pub use crate::config::raw::TRACKING_TAG;
/// The tag naming the plan that wrote a rule last: a plan whose id a touched
/// rule already carries was applied, and is refused.
pub const PLAN_ID_TAG: &str = "ecsched:plan-id";

/// The tags ecsched writes on every rule it writes: ownership and the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Value of `ecschedule:tracking-id`.
    pub tracking_id: String,
    /// Value of `ecsched:plan-id`.
    pub plan_id: Option<String>,
}
/// What a secret-looking value reads in output (human, JSON, Markdown, `render`).
pub const SENSITIVE_MASK: &str = "(sensitive value)";
/// Default IAM role name for targets (ecschedule's default).
pub const DEFAULT_ROLE: &str = "ecsEventsRole";
/// Default event bus (defined in config).
pub use crate::config::raw::DEFAULT_EVENT_BUS;
/// Default Scheduler group.
pub const DEFAULT_SCHEDULE_GROUP: &str = "default";
/// EventBridge's retry defaults (also Scheduler's).
pub const DEFAULT_RETRY_ATTEMPTS: i32 = 185;
pub const DEFAULT_EVENT_AGE_SECONDS: i32 = 86_400;

/// Who and where: resolves names to ARNs with the right partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountContext {
    pub account_id: String,
    pub partition: String,
    pub region: String,
}

/// Enabled/disabled state of a rule or schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum State {
    #[default]
    Enabled,
    Disabled,
    /// A rule's third state (it also matches CloudTrail management events).
    /// Only ever read from AWS: a config can say enabled or disabled, so the
    /// plan shows the change to ENABLED rather than writing it unseen.
    EnabledWithAllCloudtrailManagementEvents,
}

impl State {
    pub fn as_aws(self) -> &'static str {
        match self {
            State::Enabled => "ENABLED",
            State::Disabled => "DISABLED",
            State::EnabledWithAllCloudtrailManagementEvents => {
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
            }
        }
    }

    /// The state a config can write: enabled or disabled.
    pub fn is_expressible(self) -> bool {
        self != State::EnabledWithAllCloudtrailManagementEvents
    }
}

/// An EventBridge rule with its ECS targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Rule {
    pub name: String,
    pub event_bus: String,
    pub description: String,
    pub schedule_expression: String,
    pub state: State,
    /// The rule's own IAM role (PutRule's RoleArn), as an ARN.
    pub role_arn: Option<String>,
    /// An event pattern next to the schedule: not configurable, kept as it is
    /// live (PutRule would clear it otherwise).
    pub event_pattern: Option<String>,
    /// User tags; the tracking tag is not part of the model (it is ownership, handled apart).
    pub tags: BTreeMap<String, String>,
    /// Sorted by id.
    pub targets: Vec<Target>,
}

/// One ECS target of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    pub id: String,
    pub ecs: EcsTarget,
    pub dead_letter_arn: Option<String>,
    pub retry_policy: RetryPolicy,
}

/// EventBridge Scheduler schedule with its (single) ECS target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    pub name: String,
    pub group: String,
    pub description: String,
    pub schedule_expression: String,
    pub timezone: String,
    /// RFC 3339 in UTC (`2026-01-01T00:00:00Z`), normalised.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub state: State,
    pub flexible_window_minutes: Option<i32>,
    /// `NONE` or `DELETE`.
    pub action_after_completion: String,
    pub kms_key_arn: Option<String>,
    pub ecs: EcsTarget,
    pub dead_letter_arn: Option<String>,
    pub retry_policy: RetryPolicy,
}

/// Retry policy with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetryPolicy {
    pub maximum_retry_attempts: i32,
    pub maximum_event_age_in_seconds: i32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            maximum_retry_attempts: DEFAULT_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds: DEFAULT_EVENT_AGE_SECONDS,
        }
    }
}

/// ECS parameters of a target (EventBridge and Scheduler share the shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct EcsTarget {
    pub cluster_arn: String,
    pub role_arn: String,
    pub task_definition_arn: String,
    pub task_count: i32,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub group: Option<String>,
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    pub network: Option<AwsVpc>,
    pub propagate_tags: Option<String>,
    pub enable_ecs_managed_tags: bool,
    pub enable_execute_command: bool,
    pub placement_constraints: Vec<PlacementConstraint>,
    pub placement_strategy: Vec<PlacementStrategy>,
    pub task_tags: BTreeMap<String, String>,
    pub reference_id: Option<String>,
    pub overrides: TaskOverrides,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CapacityProviderItem {
    pub capacity_provider: String,
    pub base: i32,
    pub weight: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AwsVpc {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED` (the API default).
    pub assign_public_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlacementConstraint {
    pub kind: String,
    pub expression: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlacementStrategy {
    pub kind: String,
    pub field: Option<String>,
}

/// The task override carried in the target's Input JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct TaskOverrides {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub ephemeral_storage_gib: Option<i32>,
    pub containers: Vec<ContainerOverride>,
    /// Keys of the live Input that ecsched does not model, as a canonical JSON
    /// object: kept as they are on write (never silently dropped).
    pub extra: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct ContainerOverride {
    pub name: String,
    /// `None` when no command override (an empty list means the same).
    pub command: Option<Vec<String>>,
    /// Sorted by name: order is never a difference.
    pub environment: BTreeMap<String, String>,
    pub environment_files: Vec<TypedValue>,
    pub resource_requirements: Vec<TypedValue>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    /// Keys of this container override ecsched does not model (canonical JSON
    /// object), kept on write.
    pub extra: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TypedValue {
    pub kind: String,
    pub value: String,
}

/// Address of a resource in plans and messages: `rule.NAME` or `schedule.GROUP/NAME`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Address {
    Rule { event_bus: String, name: String },
    Schedule { group: String, name: String },
}

impl Address {
    pub fn rule(name: &str) -> Address {
        Address::Rule {
            event_bus: DEFAULT_EVENT_BUS.to_string(),
            name: name.to_string(),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Address::Rule { name, .. } | Address::Schedule { name, .. } => name,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Address::Rule { .. } => "rule",
            Address::Schedule { .. } => "schedule",
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Rule { event_bus, name } if event_bus == DEFAULT_EVENT_BUS => {
                write!(f, "rule.{name}")
            }
            Address::Rule { event_bus, name } => write!(f, "rule.{event_bus}/{name}"),
            Address::Schedule { group, name } => write!(f, "schedule.{group}/{name}"),
        }
    }
}

impl Rule {
    pub fn address(&self) -> Address {
        Address::Rule {
            event_bus: self.event_bus.clone(),
            name: self.name.clone(),
        }
    }
}

impl Schedule {
    pub fn address(&self) -> Address {
        Address::Schedule {
            group: self.group.clone(),
            name: self.name.clone(),
        }
    }
}

/// The desired state built from a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredState {
    pub context: AccountContext,
    pub cluster_arn: String,
    pub tracking_id: String,
    pub rules: Vec<Rule>,
    pub schedules: Vec<Schedule>,
}
