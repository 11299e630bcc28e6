//! The commands that never call AWS: `validate`, `render`, `schema`.

use chrono::{DateTime, Utc};

use super::{Globals, Outcome, print_stdout};
use crate::config::{defaults, raw::config_schema};
use crate::error::{Error, Result};
use crate::expr;

/// `ECSCHED_NOW` (RFC 3339) pins "now" for reproducible `--next` output.
fn now() -> Result<DateTime<Utc>> {
    match std::env::var("ECSCHED_NOW") {
        Ok(s) => DateTime::parse_from_rfc3339(&s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| Error::Usage(format!("ECSCHED_NOW=\"{s}\" is not an RFC 3339 time: {e}"))),
        Err(_) => Ok(Utc::now()),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn validate(g: &Globals, next: Option<usize>) -> Result<Outcome> {
    let cfg = g.load_config_offline()?;
    let rules = cfg.raw.rules.as_deref().unwrap_or_default();
    let schedules = cfg.raw.schedules.as_deref().unwrap_or_default();
    g.info(format!(
        "{}: valid ({}, {})",
        cfg.display,
        plural(rules.len(), "rule"),
        plural(schedules.len(), "schedule")
    ));
    let Some(n) = next else {
        return Ok(Outcome::Done);
    };
    let now = now()?;
    let mut out = String::new();
    for r in rules {
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
    for s in schedules {
        let Ok(e) = expr::parse_scheduler_expression(s.schedule_expression.trim()) else {
            continue;
        };
        let tz_name = s.timezone.as_deref().unwrap_or("UTC");
        let tz = expr::parse_timezone(tz_name).unwrap_or(chrono_tz::UTC);
        let group = s
            .schedule_group
            .as_deref()
            .unwrap_or(crate::model::DEFAULT_SCHEDULE_GROUP);
        out.push_str(&format!("schedule {group}/{}: {} ({tz_name})\n", s.name, e));
        // Scheduler fires only between startDate and endDate.
        let bound = |d: &Option<String>| {
            d.as_deref()
                .and_then(crate::model::desired::normalize_date)
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
    print_stdout(&out)?;
    Ok(Outcome::Done)
}

pub fn render(g: &Globals, json: bool) -> Result<Outcome> {
    let cfg = g.load_config_offline()?;
    let filled = defaults::fill(&cfg.raw);
    let text = if json {
        serde_json::to_string_pretty(&filled).map_err(|e| Error::Other(e.to_string()))? + "\n"
    } else {
        serde_saphyr::to_string(&filled).map_err(|e| Error::Other(e.to_string()))?
    };
    print_stdout(&text)?;
    Ok(Outcome::Done)
}

pub fn schema(plan: bool) -> Result<Outcome> {
    let schema = if plan {
        crate::plan::view::plan_schema()
    } else {
        config_schema()
    };
    let text = serde_json::to_string_pretty(&schema).map_err(|e| Error::Other(e.to_string()))?;
    print_stdout(&(text + "\n"))?;
    Ok(Outcome::Done)
}
