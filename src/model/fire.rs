//! Next fire times of rules and schedules (SPEC §5 review views, `validate
//! --next`): from the expression, in the schedule's timezone, within its start
//! and end dates. Pure: "now" is passed in.

use chrono::{DateTime, Utc};

use crate::config::raw::RawConfig;
use crate::expr;

/// The `validate --next N` listing: each rule (in UTC) and schedule (in its
/// timezone, within its start and end dates) with its next `n` fire times.
pub fn listing(raw: &RawConfig, now: DateTime<Utc>, n: usize) -> String {
    let mut out = String::new();
    for r in raw.rules.iter().flatten() {
        // Validation passed, so the expression parses.
        let Ok(e) = expr::parse_rule_expression(r.schedule_expression.trim()) else {
            continue;
        };
        out.push_str(&format!("rule {}: {} (UTC)\n", r.name, e));
        for t in e.next_fire_times(now, chrono_tz::UTC, n) {
            out.push_str(&format!(
                "  {}\n",
                t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
    }
    for s in raw.schedules.iter().flatten() {
        let Ok(e) = expr::parse_scheduler_expression(s.schedule_expression.trim()) else {
            continue;
        };
        let tz_name = s.timezone.as_deref().unwrap_or(super::defaults::TIMEZONE);
        let tz = expr::parse_timezone(tz_name).unwrap_or(chrono_tz::UTC);
        let group = s
            .schedule_group
            .as_deref()
            .unwrap_or(super::DEFAULT_SCHEDULE_GROUP);
        out.push_str(&format!("schedule {group}/{}: {} ({tz_name})\n", s.name, e));
        // Scheduler fires only between startDate and endDate.
        let bound = |d: &Option<String>| {
            d.as_deref()
                .and_then(super::desired::normalize_date)
                .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        let (start, end) = (bound(&s.start_date), bound(&s.end_date));
        // Fire times at or after startDate: search from just before it.
        let from = match start {
            Some(st) if st > now => st - chrono::TimeDelta::seconds(1),
            _ => now,
        };
        let times: Vec<_> = e
            .next_fire_times(from, tz, n)
            .into_iter()
            .filter(|t| end.is_none_or(|end| t.with_timezone(&Utc) <= end))
            .collect();
        if times.is_empty() {
            out.push_str("  (no future fire time)\n");
        }
        for t in times {
            out.push_str(&format!(
                "  {}  ({})\n",
                t.format("%Y-%m-%dT%H:%M:%S%:z"),
                t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
    }
    out
}
