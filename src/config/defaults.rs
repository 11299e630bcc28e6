//! Fills ecschedule's (and Scheduler's) defaults into a raw config, for
//! `render`: what you see is what ecsched will compare and send. Names are
//! left as written; ARN resolution needs the account and happens in `model`.

use super::raw::{
    ActionAfterCompletion, FlexibleTimeWindowMode, RawConfig, RawFlexibleTimeWindow, ScheduleState,
};
use crate::model::{DEFAULT_ROLE, DEFAULT_SCHEDULE_GROUP, desired::tracking_id};

/// Returns a copy of `raw` with every default made explicit.
pub fn fill(raw: &RawConfig) -> RawConfig {
    let mut out = raw.clone();
    let role = raw
        .role
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| DEFAULT_ROLE.to_string());
    out.role = Some(role.clone());
    out.tracking_id = Some(tracking_id(raw)).filter(|t| !t.is_empty());
    for r in out.rules.iter_mut().flatten() {
        r.disabled.get_or_insert(false);
        r.description.get_or_insert_with(String::new);
        r.event_bus_name
            .get_or_insert_with(|| crate::model::DEFAULT_EVENT_BUS.to_string());
        match &mut r.targets {
            Some(targets) => {
                let name = r.name.clone();
                for (i, t) in targets.iter_mut().enumerate() {
                    if i == 0 {
                        t.target_id.get_or_insert_with(|| name.clone());
                    }
                    t.role.get_or_insert_with(|| role.clone());
                    t.task_count.get_or_insert(1);
                }
            }
            None => {
                r.target_id.get_or_insert_with(|| r.name.clone());
                r.role.get_or_insert_with(|| role.clone());
                r.task_count = Some(r.task_count.unwrap_or(1).max(1));
            }
        }
    }
    for s in out.schedules.iter_mut().flatten() {
        s.schedule_group
            .get_or_insert_with(|| DEFAULT_SCHEDULE_GROUP.to_string());
        s.timezone.get_or_insert_with(|| "UTC".to_string());
        s.state.get_or_insert(ScheduleState::Enabled);
        s.action_after_completion
            .get_or_insert(ActionAfterCompletion::None);
        s.flexible_time_window.get_or_insert(RawFlexibleTimeWindow {
            mode: FlexibleTimeWindowMode::Off,
            maximum_window_in_minutes: None,
        });
        s.role.get_or_insert_with(|| role.clone());
        s.task_count = Some(s.task_count.unwrap_or(1).max(1));
    }
    out
}
