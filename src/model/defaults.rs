//! The one home of every default ecsched applies to a config: ecschedule's
//! (role `ecsEventsRole`, taskCount 1, target id = rule name, trackingId =
//! cluster) and AWS's (retry policy 185 / 86400, Scheduler's `UTC`, `OFF`
//! window, `NONE` after completion, public IP `DISABLED`). `desired` builds the
//! model with these functions and [`fill`] writes them into the config for
//! `render`, so `render` shows exactly what `plan` compares.

use crate::config::raw::{
    ActionAfterCompletion, AssignPublicIp, FlexibleTimeWindowMode, RawConfig,
    RawFlexibleTimeWindow, RawNetworkConfiguration, RawRetryPolicy, ScheduleState,
};

use super::{DEFAULT_EVENT_BUS, DEFAULT_ROLE, DEFAULT_SCHEDULE_GROUP, RetryPolicy};

/// Scheduler's default timezone.
pub const TIMEZONE: &str = "UTC";
/// A schedule's state unless `state:` says otherwise.
pub const SCHEDULE_STATE: ScheduleState = ScheduleState::Enabled;
/// What Scheduler does after a schedule's last run unless told.
pub const ACTION_AFTER_COMPLETION: ActionAfterCompletion = ActionAfterCompletion::None;
/// A schedule's flexible time window unless `flexibleTimeWindow:` is given.
pub const WINDOW_MODE: FlexibleTimeWindowMode = FlexibleTimeWindowMode::Off;
/// `assignPublicIp` of an awsvpc configuration unless given (AWS's default).
pub const ASSIGN_PUBLIC_IP: AssignPublicIp = AssignPublicIp::Disabled;

/// The id of a rule's target: explicit, else the rule's name for the first
/// target (ecschedule's default) and `NAME-2`, `NAME-3`, … for the others.
pub fn target_id(rule_name: &str, index: usize, explicit: Option<&str>) -> String {
    match explicit.filter(|s| !s.is_empty()) {
        Some(id) => id.to_string(),
        None if index == 0 => rule_name.to_string(),
        None => format!("{rule_name}-{}", index + 1),
    }
}

/// The task count: at least 1, default 1.
pub fn task_count(value: Option<i64>) -> i64 {
    value.map_or(1, |c| c.max(1))
}

/// The role of a target: its own, else the config's top-level role, else
/// `ecsEventsRole`.
pub fn role(own: Option<&str>, top_level: Option<&str>) -> String {
    own.filter(|s| !s.is_empty())
        .or_else(|| top_level.filter(|s| !s.is_empty()))
        .unwrap_or(DEFAULT_ROLE)
        .to_string()
}

/// The retry policy with AWS's defaults for what is not given.
pub fn retry_policy(r: Option<&RawRetryPolicy>) -> (i64, i64) {
    let d = RetryPolicy::default();
    (
        r.and_then(|r| r.maximum_retry_attempts)
            .unwrap_or(i64::from(d.maximum_retry_attempts)),
        r.and_then(|r| r.maximum_event_age_in_seconds)
            .unwrap_or(i64::from(d.maximum_event_age_in_seconds)),
    )
}

fn filled_retry(r: &Option<RawRetryPolicy>) -> Option<RawRetryPolicy> {
    let (attempts, age) = retry_policy(r.as_ref());
    Some(RawRetryPolicy {
        maximum_retry_attempts: Some(attempts),
        maximum_event_age_in_seconds: Some(age),
    })
}

fn fill_network(n: &mut Option<RawNetworkConfiguration>) {
    if let Some(n) = n {
        let v = &mut n.aws_vpc_configuration;
        v.assign_public_ip.get_or_insert(ASSIGN_PUBLIC_IP);
        v.security_groups.get_or_insert_with(Vec::new);
    }
}

/// Replaces, in place, every container environment value whose name
/// `is_sensitive` says is secret-looking with [`super::SENSITIVE_MASK`]
/// (`render` without `--show-sensitive`).
pub fn mask_environment(raw: &mut RawConfig, is_sensitive: &dyn Fn(&str) -> bool) {
    let mask = |overrides: &mut Option<Vec<crate::config::raw::RawContainerOverride>>| {
        for c in overrides.iter_mut().flatten() {
            for (k, v) in c.environment.iter_mut().flatten() {
                if is_sensitive(k) {
                    *v = super::SENSITIVE_MASK.to_string();
                }
            }
        }
    };
    for r in raw.rules.iter_mut().flatten() {
        mask(&mut r.container_overrides);
        for t in r.targets.iter_mut().flatten() {
            mask(&mut t.container_overrides);
        }
    }
    for s in raw.schedules.iter_mut().flatten() {
        mask(&mut s.container_overrides);
    }
}

/// Returns a copy of `raw` with every default made explicit (what `render`
/// prints). Names are left as written: ARN resolution needs the account.
pub fn fill(raw: &RawConfig) -> RawConfig {
    let mut out = raw.clone();
    let top_role = raw.role.as_deref();
    out.role = Some(role(None, top_role));
    out.tracking_id = Some(super::desired::tracking_id(raw)).filter(|t| !t.is_empty());
    for r in out.rules.iter_mut().flatten() {
        r.disabled.get_or_insert(false);
        r.description.get_or_insert_with(String::new);
        r.event_bus_name
            .get_or_insert_with(|| DEFAULT_EVENT_BUS.to_string());
        let name = r.name.clone();
        match &mut r.targets {
            Some(targets) => {
                for (i, t) in targets.iter_mut().enumerate() {
                    t.target_id = Some(target_id(&name, i, t.target_id.as_deref()));
                    t.role = Some(role(t.role.as_deref(), top_role));
                    t.task_count = Some(task_count(t.task_count));
                    t.retry_policy = filled_retry(&t.retry_policy);
                    fill_network(&mut t.network_configuration);
                }
            }
            None => {
                r.target_id = Some(target_id(&name, 0, r.target_id.as_deref()));
                r.role = Some(role(r.role.as_deref(), top_role));
                r.task_count = Some(task_count(r.task_count));
                r.retry_policy = filled_retry(&r.retry_policy);
                fill_network(&mut r.network_configuration);
            }
        }
    }
    for s in out.schedules.iter_mut().flatten() {
        s.schedule_group
            .get_or_insert_with(|| DEFAULT_SCHEDULE_GROUP.to_string());
        s.timezone.get_or_insert_with(|| TIMEZONE.to_string());
        s.state.get_or_insert(SCHEDULE_STATE);
        s.action_after_completion
            .get_or_insert(ACTION_AFTER_COMPLETION);
        s.flexible_time_window.get_or_insert(RawFlexibleTimeWindow {
            mode: WINDOW_MODE,
            maximum_window_in_minutes: None,
        });
        s.role = Some(role(s.role.as_deref(), top_role));
        s.task_count = Some(task_count(s.task_count));
        s.retry_policy = filled_retry(&s.retry_policy);
        fill_network(&mut s.network_configuration);
    }
    // A config declaring nothing says so (`rules: []`), as the seed's delete
    // file does, rather than leaving the reader to guess.
    if out.rules.as_ref().is_none_or(Vec::is_empty)
        && out.schedules.as_ref().is_none_or(Vec::is_empty)
    {
        out.rules = Some(Vec::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ids() {
        assert_eq!(target_id("r", 0, None), "r");
        assert_eq!(target_id("r", 1, None), "r-2");
        assert_eq!(target_id("r", 1, Some("x")), "x");
        assert_eq!(target_id("r", 0, Some("")), "r");
    }

    #[test]
    fn fill_makes_every_default_explicit() {
        let doc = crate::config::yaml::parse(
            "cluster: c\nrules:\n- name: r\n  scheduleExpression: rate(1 day)\n  targets:\n  - taskDefinition: a\n  - taskDefinition: b\n    retryPolicy: {maximumRetryAttempts: 3}\n",
        )
        .unwrap();
        let raw: RawConfig = serde_json::from_value(doc.value).unwrap();
        let filled = fill(&raw);
        let targets = filled.rules.as_ref().unwrap()[0].targets.as_ref().unwrap();
        assert_eq!(targets[0].target_id.as_deref(), Some("r"));
        assert_eq!(targets[1].target_id.as_deref(), Some("r-2"));
        assert_eq!(
            targets[1].retry_policy,
            Some(RawRetryPolicy {
                maximum_retry_attempts: Some(3),
                maximum_event_age_in_seconds: Some(86_400)
            })
        );
        assert_eq!(targets[0].role.as_deref(), Some("ecsEventsRole"));
        assert_eq!(filled.tracking_id.as_deref(), Some("c"));
    }
}
