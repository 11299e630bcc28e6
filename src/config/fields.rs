//! The ECS-target fields shared by a rule's inline target, its `targets:`
//! entries and a schedule, borrowed out of the raw structs as one
//! [`TargetFields`] (built by [`target_fields!`]), and the date normalisation
//! that both `validate` and `model` apply. Config owns them; `model` imports
//! them from here (model may import config, never the reverse). No I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::raw::{
    LaunchType, RawCapacityProviderStrategyItem, RawContainerOverride, RawDeadLetterConfig,
    RawNetworkConfiguration, RawPlacementConstraint, RawPlacementStrategy, RawRetryPolicy,
    RawTaskOverride,
};

/// The ECS-target part common to rules, `targets:` entries and schedules.
pub(crate) struct TargetFields<'a> {
    pub task_definition: &'a Option<String>,
    pub task_count: Option<i64>,
    pub task_override: &'a Option<RawTaskOverride>,
    pub container_overrides: &'a Option<Vec<RawContainerOverride>>,
    pub role: &'a Option<String>,
    pub group: &'a Option<String>,
    pub capacity_provider_strategy: &'a Option<Vec<RawCapacityProviderStrategyItem>>,
    pub launch_type: Option<LaunchType>,
    pub platform_version: &'a Option<String>,
    pub network_configuration: &'a Option<RawNetworkConfiguration>,
    pub dead_letter_config: &'a Option<RawDeadLetterConfig>,
    pub propagate_tags: &'a Option<String>,
    pub retry_policy: &'a Option<RawRetryPolicy>,
    pub placement_constraints: &'a Option<Vec<RawPlacementConstraint>>,
    pub placement_strategy: &'a Option<Vec<RawPlacementStrategy>>,
    pub enable_ecs_managed_tags: Option<bool>,
    pub enable_execute_command: Option<bool>,
    pub task_tags: &'a Option<BTreeMap<String, String>>,
    pub reference_id: &'a Option<String>,
}

/// Borrows the target fields of a `RawRule`, `RawTarget` or `RawSchedule`.
macro_rules! target_fields {
    ($x:expr) => {
        $crate::config::fields::TargetFields {
            task_definition: &$x.task_definition,
            task_count: $x.task_count,
            task_override: &$x.task_override,
            container_overrides: &$x.container_overrides,
            role: &$x.role,
            group: &$x.group,
            capacity_provider_strategy: &$x.capacity_provider_strategy,
            launch_type: $x.launch_type,
            platform_version: &$x.platform_version,
            network_configuration: &$x.network_configuration,
            dead_letter_config: &$x.dead_letter_config,
            propagate_tags: &$x.propagate_tags,
            retry_policy: &$x.retry_policy,
            placement_constraints: &$x.placement_constraints,
            placement_strategy: &$x.placement_strategy,
            enable_ecs_managed_tags: $x.enable_ecs_managed_tags,
            enable_execute_command: $x.enable_execute_command,
            task_tags: &$x.task_tags,
            reference_id: &$x.reference_id,
        }
    };
}
pub(crate) use target_fields;

impl TargetFields<'_> {
    /// True when no target field at all is set (a rule using only `targets:`).
    pub fn is_empty(&self) -> bool {
        self.task_definition.is_none()
            && self.task_count.is_none()
            && self.task_override.is_none()
            && self.container_overrides.is_none()
            && self.group.is_none()
            && self.capacity_provider_strategy.is_none()
            && self.launch_type.is_none()
            && self.platform_version.is_none()
            && self.network_configuration.is_none()
            && self.dead_letter_config.is_none()
            && self.propagate_tags.is_none()
            && self.retry_policy.is_none()
            && self.placement_constraints.is_none()
            && self.placement_strategy.is_none()
            && self.enable_ecs_managed_tags.is_none()
            && self.enable_execute_command.is_none()
            && self.task_tags.is_none()
            && self.reference_id.is_none()
    }
}

/// Normalises an ISO 8601 date to RFC 3339 UTC; a value without offset is UTC.
pub fn normalize_date(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(
            d.with_timezone(&Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        );
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|d| d.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
}
