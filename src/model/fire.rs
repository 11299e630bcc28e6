//! Next fire times of rules and schedules (SPEC §5 review views, `validate
//! --next`): from the expression, in the schedule's timezone, within its start
//! and end dates; the before → after preview of a change and its text. Pure:
//! "now" is passed in; never reads the clock.

use chrono::{DateTime, Timelike, Utc};

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
        if r.disabled == Some(true) {
            out.push_str("  (disabled: does not fire)\n");
            continue;
        }
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
        if s.state == Some(crate::config::raw::ScheduleState::Disabled) {
            out.push_str("  (disabled: does not fire)\n");
            continue;
        }
        // Scheduler fires only between startDate and endDate.
        let bound = |d: &Option<String>| {
            d.as_deref()
                .and_then(super::desired::normalize_date)
                .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        let times = times_between(&e, tz, bound(&s.start_date), bound(&s.end_date), now, n);
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

/// What decides when a rule or schedule fires (the fields a fire-time preview
/// compares): a change to any of them can change the firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireSpec {
    pub expression: String,
    /// IANA name; rules always fire in UTC.
    pub timezone: String,
    /// RFC 3339 (Scheduler only).
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub enabled: bool,
    /// EventBridge rule (cron/rate only) rather than Scheduler schedule.
    pub rule: bool,
}

impl FireSpec {
    pub fn of_rule(r: &super::Rule) -> FireSpec {
        FireSpec {
            expression: r.schedule_expression.clone(),
            timezone: "UTC".to_string(),
            start_date: None,
            end_date: None,
            enabled: r.state != super::State::Disabled,
            rule: true,
        }
    }

    pub fn of_schedule(s: &super::Schedule) -> FireSpec {
        FireSpec {
            expression: s.schedule_expression.clone(),
            timezone: s.timezone.clone(),
            start_date: s.start_date.clone(),
            end_date: s.end_date.clone(),
            enabled: s.state == super::State::Enabled,
            rule: false,
        }
    }
}

/// Why a definition never fires (from "now" on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Never {
    Disabled,
    /// Its end date has passed.
    Ended {
        end_date: String,
    },
    /// A one-time `at()` whose time has passed.
    AtPassed,
    /// No fire time between now (or the start date) and the end date.
    NoTimeLeft,
    /// The expression or timezone does not parse (validation should have caught it).
    Unreadable {
        reason: String,
    },
}

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Never::Disabled => f.write_str("disabled"),
            Never::Ended { end_date } => write!(f, "ended {end_date}"),
            Never::AtPassed => f.write_str("its at() time has passed"),
            Never::NoTimeLeft => f.write_str("no fire time before its end date"),
            Never::Unreadable { reason } => write!(f, "cannot be computed: {reason}"),
        }
    }
}

/// The next fire times of one definition, in its timezone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// IANA name the times are shown in.
    pub timezone: String,
    /// Empty exactly when `never` is set.
    pub times: Vec<DateTime<chrono_tz::Tz>>,
    pub never: Option<Never>,
}

/// Next fire times before and after a change; a side is `None` when the
/// resource does not exist on that side (created: no before; deleted: no after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub before: Option<Firing>,
    pub after: Option<Firing>,
}

/// How many fire times a preview shows per side.
pub const PREVIEW_COUNT: usize = 3;

fn parse_date(d: &Option<String>) -> Option<DateTime<Utc>> {
    d.as_deref()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Fire times of `e` in `tz` after `now`, within `start`..=`end` (Scheduler
/// fires only between its start and end dates; a rate starts at the start date).
fn times_between(
    e: &expr::ScheduleExpr,
    tz: chrono_tz::Tz,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<chrono_tz::Tz>> {
    let from = match (start, e) {
        (Some(st), expr::ScheduleExpr::Rate(r)) if st > now => st - r.interval(),
        (Some(st), _) if st > now => st - chrono::TimeDelta::seconds(1),
        _ => now,
    };
    e.next_fire_times(from, tz, n)
        .into_iter()
        .filter(|t| end.is_none_or(|end| t.with_timezone(&Utc) <= end))
        .collect()
}

/// The next `n` fire times of `spec` after `now`, or why it never fires.
pub fn firing(spec: &FireSpec, now: DateTime<Utc>, n: usize) -> Firing {
    let never = |why: Never| Firing {
        timezone: spec.timezone.clone(),
        times: Vec::new(),
        never: Some(why),
    };
    if !spec.enabled {
        return never(Never::Disabled);
    }
    let parsed = if spec.rule {
        expr::parse_rule_expression(&spec.expression)
    } else {
        expr::parse_scheduler_expression(&spec.expression)
    };
    let (e, tz) = match (parsed, expr::parse_timezone(&spec.timezone)) {
        (Ok(e), Ok(tz)) => (e, tz),
        (Err(err), _) | (_, Err(err)) => {
            return never(Never::Unreadable {
                reason: err.to_string(),
            });
        }
    };
    let end = parse_date(&spec.end_date);
    if let Some(end) = end
        && end <= now
    {
        return never(Never::Ended {
            end_date: end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
    }
    let times = times_between(&e, tz, parse_date(&spec.start_date), end, now, n);
    if times.is_empty() {
        return never(match e {
            expr::ScheduleExpr::At(_) => Never::AtPassed,
            _ => Never::NoTimeLeft,
        });
    }
    Firing {
        timezone: spec.timezone.clone(),
        times,
        never: None,
    }
}

/// The fire-time preview of a change from `before` to `after` (either absent
/// for a create or a delete); `None` when the firing cannot change (the same
/// expression, timezone, dates and state on both sides, or nothing at all).
pub fn preview(
    before: Option<&FireSpec>,
    after: Option<&FireSpec>,
    now: DateTime<Utc>,
    n: usize,
) -> Option<Preview> {
    match (before, after) {
        (None, None) => None,
        (Some(b), Some(a)) if b == a => None,
        _ => Some(Preview {
            before: before.map(|b| firing(b, now, n)),
            after: after.map(|a| firing(a, now, n)),
        }),
    }
}

/// One fire time for people: `2026-12-02 10:00 JST`, then the UTC time when
/// the timezone is not UTC (`= 01:00 UTC`, with the date when it differs).
pub fn format_time(t: &DateTime<chrono_tz::Tz>) -> String {
    let clock = |secs: u32| if secs == 0 { "%H:%M" } else { "%H:%M:%S" };
    let fmt = format!("%Y-%m-%d {} %Z", clock(t.second()));
    let local = t.format(&fmt).to_string();
    if t.timezone() == chrono_tz::UTC {
        return local;
    }
    let utc = t.with_timezone(&Utc);
    let utc_fmt = if utc.date_naive() == t.date_naive() {
        format!("{} UTC", clock(utc.second()))
    } else {
        format!("%Y-%m-%d {} UTC", clock(utc.second()))
    };
    format!("{local} = {}", utc.format(&utc_fmt))
}

/// One side of a preview for people: the times joined with `, `, or
/// `never (why)`.
pub fn format_firing(f: &Firing) -> String {
    match &f.never {
        Some(why) => format!("never ({why})"),
        None => f
            .times
            .iter()
            .map(format_time)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// RFC 3339 in the definition's timezone (`2026-12-02T10:00:00+09:00`).
pub fn rfc3339(t: &DateTime<chrono_tz::Tz>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn schedule(expression: &str, timezone: &str) -> FireSpec {
        FireSpec {
            expression: expression.into(),
            timezone: timezone.into(),
            start_date: None,
            end_date: None,
            enabled: true,
            rule: false,
        }
    }

    fn rule(expression: &str) -> FireSpec {
        FireSpec {
            rule: true,
            ..schedule(expression, "UTC")
        }
    }

    /// (before, after) as people read them.
    fn sides(p: &Preview) -> (Option<String>, Option<String>) {
        (
            p.before.as_ref().map(format_firing),
            p.after.as_ref().map(format_firing),
        )
    }

    fn text(
        before: Option<&FireSpec>,
        after: Option<&FireSpec>,
        now: &str,
    ) -> (Option<String>, Option<String>) {
        sides(&preview(before, after, at(now), PREVIEW_COUNT).expect("a preview"))
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn cron_change_in_asia_tokyo() {
        // 2026-12-01 21:00 JST.
        let before = schedule("cron(0 10 * * ? *)", "Asia/Tokyo");
        let after = schedule("cron(0 20 * * ? *)", "Asia/Tokyo");
        assert_eq!(
            text(Some(&before), Some(&after), "2026-12-01T12:00:00Z"),
            (
                s(
                    "2026-12-02 10:00 JST = 01:00 UTC, 2026-12-03 10:00 JST = 01:00 UTC, 2026-12-04 10:00 JST = 01:00 UTC"
                ),
                s(
                    "2026-12-02 20:00 JST = 11:00 UTC, 2026-12-03 20:00 JST = 11:00 UTC, 2026-12-04 20:00 JST = 11:00 UTC"
                ),
            )
        );
        let p = preview(Some(&before), Some(&after), at("2026-12-01T12:00:00Z"), 3).unwrap();
        let times: Vec<String> = p.after.unwrap().times.iter().map(rfc3339).collect();
        assert_eq!(
            times,
            [
                "2026-12-02T20:00:00+09:00",
                "2026-12-03T20:00:00+09:00",
                "2026-12-04T20:00:00+09:00"
            ]
        );
    }

    #[test]
    fn timezone_change_only() {
        let before = schedule("cron(0 9 * * ? *)", "UTC");
        let after = schedule("cron(0 9 * * ? *)", "Asia/Tokyo");
        assert_eq!(
            text(Some(&before), Some(&after), "2026-12-01T12:00:00Z"),
            (
                s("2026-12-02 09:00 UTC, 2026-12-03 09:00 UTC, 2026-12-04 09:00 UTC"),
                s(
                    "2026-12-02 09:00 JST = 00:00 UTC, 2026-12-03 09:00 JST = 00:00 UTC, 2026-12-04 09:00 JST = 00:00 UTC"
                ),
            )
        );
        // Before 09:00 JST the UTC date differs from the local one.
        let tokyo = schedule("cron(0 8 * * ? *)", "Asia/Tokyo");
        assert_eq!(
            text(Some(&before), Some(&tokyo), "2026-12-01T12:00:00Z").1,
            s(
                "2026-12-02 08:00 JST = 2026-12-01 23:00 UTC, 2026-12-03 08:00 JST = 2026-12-02 23:00 UTC, 2026-12-04 08:00 JST = 2026-12-03 23:00 UTC"
            )
        );
    }

    #[test]
    fn rate_change_counts_from_now() {
        assert_eq!(
            text(
                Some(&rule("rate(1 hour)")),
                Some(&rule("rate(2 hours)")),
                "2026-12-01T12:00:00Z"
            ),
            (
                s("2026-12-01 13:00 UTC, 2026-12-01 14:00 UTC, 2026-12-01 15:00 UTC"),
                s("2026-12-01 14:00 UTC, 2026-12-01 16:00 UTC, 2026-12-01 18:00 UTC"),
            )
        );
    }

    #[test]
    fn disabled_to_enabled() {
        let before = FireSpec {
            enabled: false,
            ..rule("cron(0 10 * * ? *)")
        };
        let after = rule("cron(0 10 * * ? *)");
        assert_eq!(
            text(Some(&before), Some(&after), "2026-12-01T12:00:00Z"),
            (
                s("never (disabled)"),
                s("2026-12-02 10:00 UTC, 2026-12-03 10:00 UTC, 2026-12-04 10:00 UTC"),
            )
        );
    }

    #[test]
    fn at_in_the_past_never_fires() {
        let create = schedule("at(2020-01-01T00:00:00)", "Asia/Tokyo");
        assert_eq!(
            text(None, Some(&create), "2026-12-01T12:00:00Z"),
            (None, s("never (its at() time has passed)"))
        );
        // A future one fires once, at its local time.
        let once = schedule("at(2026-12-24T18:30:00)", "Asia/Tokyo");
        assert_eq!(
            text(None, Some(&once), "2026-12-01T12:00:00Z"),
            (None, s("2026-12-24 18:30 JST = 09:30 UTC"))
        );
    }

    #[test]
    fn dst_change_in_new_york() {
        // Saturday 2026-03-07 12:00 UTC; EDT starts Sunday 2026-03-08 at 02:00 local.
        let before = schedule("cron(30 8 * * ? *)", "America/New_York");
        let after = schedule("cron(0 9 * * ? *)", "America/New_York");
        assert_eq!(
            text(Some(&before), Some(&after), "2026-03-07T12:00:00Z"),
            (
                s(
                    "2026-03-07 08:30 EST = 13:30 UTC, 2026-03-08 08:30 EDT = 12:30 UTC, 2026-03-09 08:30 EDT = 12:30 UTC"
                ),
                s(
                    "2026-03-07 09:00 EST = 14:00 UTC, 2026-03-08 09:00 EDT = 13:00 UTC, 2026-03-09 09:00 EDT = 13:00 UTC"
                ),
            )
        );
    }

    #[test]
    fn start_date_in_the_future() {
        let before = schedule("cron(0 9 * * ? *)", "UTC");
        let after = FireSpec {
            start_date: Some("2026-12-10T00:00:00Z".into()),
            ..before.clone()
        };
        assert_eq!(
            text(Some(&before), Some(&after), "2026-12-01T12:00:00Z"),
            (
                s("2026-12-02 09:00 UTC, 2026-12-03 09:00 UTC, 2026-12-04 09:00 UTC"),
                s("2026-12-10 09:00 UTC, 2026-12-11 09:00 UTC, 2026-12-12 09:00 UTC"),
            )
        );
        // A rate starts at its start date.
        let rate = FireSpec {
            start_date: Some("2026-12-10T00:00:00Z".into()),
            ..schedule("rate(6 hours)", "UTC")
        };
        assert_eq!(
            text(None, Some(&rate), "2026-12-01T12:00:00Z").1,
            s("2026-12-10 00:00 UTC, 2026-12-10 06:00 UTC, 2026-12-10 12:00 UTC")
        );
    }

    #[test]
    fn ended_and_bounded_schedules() {
        let ended = FireSpec {
            end_date: Some("2026-03-01T00:00:00Z".into()),
            ..schedule("cron(0 9 * * ? *)", "UTC")
        };
        assert_eq!(
            text(Some(&ended), None, "2026-12-01T12:00:00Z"),
            (s("never (ended 2026-03-01T00:00:00Z)"), None)
        );
        let window = FireSpec {
            end_date: Some("2026-12-03T00:00:00Z".into()),
            ..schedule("cron(0 9 * * ? *)", "UTC")
        };
        assert_eq!(
            text(None, Some(&window), "2026-12-01T12:00:00Z").1,
            s("2026-12-02 09:00 UTC")
        );
    }

    #[test]
    fn no_preview_when_the_firing_cannot_change() {
        let a = rule("cron(0 10 * * ? *)");
        assert_eq!(
            preview(Some(&a), Some(&a.clone()), at("2026-12-01T12:00:00Z"), 3),
            None
        );
        assert_eq!(preview(None, None, at("2026-12-01T12:00:00Z"), 3), None);
        // Deletes show only before.
        assert_eq!(
            text(Some(&a), None, "2026-12-01T12:00:00Z"),
            (
                s("2026-12-02 10:00 UTC, 2026-12-03 10:00 UTC, 2026-12-04 10:00 UTC"),
                None
            )
        );
    }
}
