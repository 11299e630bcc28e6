//! Schedule expression syntax for EventBridge rules and EventBridge Scheduler:
//! parsing and validating `cron(...)`, `rate(...)` and `at(...)` expressions and
//! IANA timezone names, and computing the next fire times of a schedule.
//! Pure computation only: no I/O, no clock reads, no AWS calls, no imports from
//! the rest of the crate. Crate-level (not in `config`) because `config`
//! validates expressions and `plan` needs next fire times without importing
//! `config`.

use std::fmt;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// First year accepted in a cron year field (and first year searched for fire times).
const MIN_YEAR: i32 = 1970;
/// Last year accepted in a cron year field; fire-time searches stop after it.
const MAX_YEAR: i32 = 2199;

const RULE_FORMS: &str = "cron(...) or rate(...)";
const SCHEDULER_FORMS: &str = "cron(...), rate(...) or at(...)";

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpr {
    /// `cron(minutes hours day-of-month month day-of-week year)`
    Cron(CronExpr),
    /// `rate(value unit)`
    Rate(RateExpr),
    /// `at(yyyy-mm-ddThh:mm:ss)`, a local time in the schedule's timezone (Scheduler only).
    At(NaiveDateTime),
}

/// A parsed and validated six-field EventBridge cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    /// The six fields as written, joined by single spaces (used for display).
    text: String,
    /// Bit `m` set when minute `m` matches.
    minutes: u64,
    /// Bit `h` set when hour `h` matches.
    hours: u64,
    /// Bit `m - 1` set when month `m` matches.
    months: u64,
    /// Bit `y - 1970` set when year `y` matches.
    years: Bits,
    days: DaySpec,
}

/// A parsed `rate(value unit)` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateExpr {
    pub value: u32,
    pub unit: RateUnit,
}

/// Unit of a rate expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

/// Why a schedule expression or timezone was rejected. Each message names the
/// offending text and the cause in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// Not recognisable as any supported form (also: empty, surrounding whitespace).
    #[error("invalid schedule expression \"{expr}\": {reason}")]
    Invalid { expr: String, reason: String },
    /// An `at(...)` expression given where only EventBridge rules are allowed.
    #[error(
        "invalid schedule expression \"{expr}\": one-time at() schedules are only supported by EventBridge Scheduler (schedules:), not by rules"
    )]
    AtInRule { expr: String },
    #[error("invalid cron expression \"{expr}\": {reason}")]
    Cron { expr: String, reason: String },
    #[error("invalid rate expression \"{expr}\": {reason}")]
    Rate { expr: String, reason: String },
    #[error("invalid at expression \"{expr}\": {reason}")]
    At { expr: String, reason: String },
    #[error(
        "unknown timezone \"{name}\" (expected an IANA name such as \"Asia/Tokyo\" or \"UTC\")"
    )]
    UnknownTimezone { name: String },
}

/// EventBridge rules accept cron(...) and rate(...) only.
pub fn parse_rule_expression(s: &str) -> Result<ScheduleExpr, ExprError> {
    parse_expression(s, false)
}

/// EventBridge Scheduler accepts cron(...), rate(...) and at(yyyy-mm-ddThh:mm:ss).
pub fn parse_scheduler_expression(s: &str) -> Result<ScheduleExpr, ExprError> {
    parse_expression(s, true)
}

/// IANA timezone name -> Tz; the error message names the bad value.
pub fn parse_timezone(s: &str) -> Result<Tz, ExprError> {
    s.parse::<Tz>().map_err(|_| ExprError::UnknownTimezone {
        name: s.to_string(),
    })
}

impl ScheduleExpr {
    /// Next `n` fire times strictly after `after`, evaluated in `tz` (EventBridge rules
    /// always use UTC; Scheduler uses the schedule's timezone).
    ///
    /// - Cron: local times that do not exist (DST gap) are skipped; ambiguous local
    ///   times (DST overlap) fire once, at the earliest instant. The search stops
    ///   after year 2199, so fewer than `n` times may be returned.
    /// - Rate: `after` is taken as the start: after+interval, after+2*interval, …
    /// - At: the single instant (interpreted in `tz`) if it is after `after`.
    pub fn next_fire_times(&self, after: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DateTime<Tz>> {
        if n == 0 {
            return Vec::new();
        }
        match self {
            ScheduleExpr::Cron(cron) => cron.next_fire_times(after, tz, n),
            ScheduleExpr::Rate(rate) => rate.next_fire_times(after, tz, n),
            ScheduleExpr::At(local) => match resolve_local(tz, local) {
                Some(t) if t.with_timezone(&Utc) > after => vec![t],
                _ => Vec::new(),
            },
        }
    }
}

impl fmt::Display for ScheduleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleExpr::Cron(c) => c.fmt(f),
            ScheduleExpr::Rate(r) => r.fmt(f),
            ScheduleExpr::At(t) => write!(f, "at({})", t.format("%Y-%m-%dT%H:%M:%S")),
        }
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cron({})", self.text)
    }
}

impl fmt::Display for RateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.value == 1 {
            self.unit.singular()
        } else {
            self.unit.plural()
        };
        write!(f, "rate({} {})", self.value, unit)
    }
}

impl RateUnit {
    /// `minute`, `hour` or `day`.
    pub fn singular(self) -> &'static str {
        match self {
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }

    /// `minutes`, `hours` or `days`.
    pub fn plural(self) -> &'static str {
        match self {
            RateUnit::Minute => "minutes",
            RateUnit::Hour => "hours",
            RateUnit::Day => "days",
        }
    }

    fn seconds(self) -> i64 {
        match self {
            RateUnit::Minute => 60,
            RateUnit::Hour => 3_600,
            RateUnit::Day => 86_400,
        }
    }
}

impl RateExpr {
    /// The fixed interval between two invocations (a day is always 24 hours).
    pub fn interval(&self) -> TimeDelta {
        TimeDelta::try_seconds(i64::from(self.value) * self.unit.seconds())
            .unwrap_or(TimeDelta::MAX)
    }

    fn next_fire_times(&self, after: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DateTime<Tz>> {
        let step = self.interval();
        let mut out = Vec::with_capacity(n.min(64));
        let mut t = after;
        while out.len() < n {
            t = match t.checked_add_signed(step) {
                Some(next) => next,
                None => break,
            };
            let local = t.with_timezone(&tz);
            if local.year() > MAX_YEAR {
                break;
            }
            out.push(local);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Top-level parsing
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    Cron,
    Rate,
    At,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Kind::Cron => "cron",
            Kind::Rate => "rate",
            Kind::At => "at",
        }
    }

    fn error(self, expr: &str, reason: String) -> ExprError {
        let expr = expr.to_string();
        match self {
            Kind::Cron => ExprError::Cron { expr, reason },
            Kind::Rate => ExprError::Rate { expr, reason },
            Kind::At => ExprError::At { expr, reason },
        }
    }
}

fn parse_expression(s: &str, allow_at: bool) -> Result<ScheduleExpr, ExprError> {
    let expected = if allow_at {
        SCHEDULER_FORMS
    } else {
        RULE_FORMS
    };
    let invalid = |reason: String| ExprError::Invalid {
        expr: s.to_string(),
        reason,
    };
    if s.trim().is_empty() {
        return Err(invalid(format!(
            "the expression is empty; expected {expected}"
        )));
    }
    if s.trim() != s {
        return Err(invalid(format!(
            "remove the leading or trailing whitespace; expected {expected}"
        )));
    }
    let kinds = [Kind::Cron, Kind::Rate, Kind::At];
    for kind in kinds {
        let Some(rest) = s
            .strip_prefix(kind.keyword())
            .and_then(|r| r.strip_prefix('('))
        else {
            continue;
        };
        if matches!(kind, Kind::At) && !allow_at {
            return Err(ExprError::AtInRule {
                expr: s.to_string(),
            });
        }
        let body = parenthesised_body(s, kind, rest)?;
        return match kind {
            Kind::Cron => parse_cron(s, body).map(ScheduleExpr::Cron),
            Kind::Rate => parse_rate(s, body).map(ScheduleExpr::Rate),
            Kind::At => parse_at(s, body).map(ScheduleExpr::At),
        };
    }
    let lower = s.to_ascii_lowercase();
    for kind in kinds {
        if matches!(kind, Kind::At) && !allow_at {
            continue;
        }
        if lower.starts_with(&format!("{}(", kind.keyword())) {
            return Err(invalid(format!(
                "the keyword must be written in lowercase as {}(...)",
                kind.keyword()
            )));
        }
    }
    Err(invalid(format!("expected {expected}")))
}

/// Checks the closing parenthesis and the absence of padding spaces, returning the
/// text between the parentheses.
fn parenthesised_body<'a>(expr: &str, kind: Kind, rest: &'a str) -> Result<&'a str, ExprError> {
    let Some(body) = rest.strip_suffix(')') else {
        return Err(kind.error(expr, "missing closing parenthesis \")\"".to_string()));
    };
    if body.contains('(') || body.contains(')') {
        return Err(kind.error(
            expr,
            "unexpected parenthesis inside the expression".to_string(),
        ));
    }
    if !body.trim().is_empty() && body.trim() != body {
        return Err(kind.error(
            expr,
            format!(
                "spaces just inside the parentheses are not allowed; write \"{}({})\"",
                kind.keyword(),
                body.trim()
            ),
        ));
    }
    if body.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(kind.error(
            expr,
            "fields must be separated by spaces, not tabs or line breaks".to_string(),
        ));
    }
    Ok(body)
}

fn parse_rate(expr: &str, body: &str) -> Result<RateExpr, ExprError> {
    let err = |reason: String| Kind::Rate.error(expr, reason);
    let parts: Vec<&str> = body.split(' ').filter(|p| !p.is_empty()).collect();
    let [value, unit] = parts.as_slice() else {
        return Err(err(format!(
            "expected a value and a unit such as rate(5 minutes), found {} field{}",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        )));
    };
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "value \"{value}\" is not a positive whole number"
        )));
    }
    let value: u32 = value
        .parse()
        .map_err(|_| err(format!("value {value} is too large")))?;
    if value == 0 {
        return Err(err(
            "value must be a positive whole number, found 0".to_string()
        ));
    }
    let (unit_kind, plural) = match *unit {
        "minute" => (RateUnit::Minute, false),
        "minutes" => (RateUnit::Minute, true),
        "hour" => (RateUnit::Hour, false),
        "hours" => (RateUnit::Hour, true),
        "day" => (RateUnit::Day, false),
        "days" => (RateUnit::Day, true),
        other => {
            return Err(err(format!(
                "unknown unit \"{other}\"; expected minute, minutes, hour, hours, day or days"
            )));
        }
    };
    if value == 1 && plural {
        let s = unit_kind.singular();
        return Err(err(format!(
            "a value of 1 requires the singular unit \"{s}\"; write rate(1 {s})"
        )));
    }
    if value != 1 && !plural {
        let p = unit_kind.plural();
        return Err(err(format!(
            "a value of {value} requires the plural unit \"{p}\"; write rate({value} {p})"
        )));
    }
    Ok(RateExpr {
        value,
        unit: unit_kind,
    })
}

fn parse_at(expr: &str, body: &str) -> Result<NaiveDateTime, ExprError> {
    let err = |reason: String| Kind::At.error(expr, reason);
    let shape_ok = body.len() == 19
        && body.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(err(
            "expected the form at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-01-02T03:04:05)".to_string(),
        ));
    }
    let num = |range: std::ops::Range<usize>| -> u32 {
        body.get(range)
            .and_then(|t| t.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    let year = i32::try_from(num(0..4)).unwrap_or(i32::MAX);
    NaiveDate::from_ymd_opt(year, num(5..7), num(8..10))
        .and_then(|d| d.and_hms_opt(num(11..13), num(14..16), num(17..19)))
        .ok_or_else(|| err(format!("\"{body}\" is not a valid date and time")))
}

// ---------------------------------------------------------------------------
// Cron parsing
// ---------------------------------------------------------------------------

/// A small fixed-size bit set (indices 0..256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bits([u64; 4]);

impl Bits {
    fn set(&mut self, i: u32) {
        if let Some(word) = self.0.get_mut((i / 64) as usize) {
            *word |= 1u64 << (i % 64);
        }
    }

    fn has(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|word| word & (1u64 << (i % 64)) != 0)
    }

    /// The first 64 bits (enough for every field except the year).
    fn low(&self) -> u64 {
        self.0[0]
    }
}

fn has_bit(mask: u64, i: u32) -> bool {
    i < 64 && mask & (1u64 << i) != 0
}

/// Day-of-month restriction (day-of-week is `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayOfMonth {
    /// Bit `d - 1` set when day `d` matches.
    Days(u64),
    /// `L`: last day of the month.
    Last,
    /// `LW`: last weekday (Mon-Fri) of the month.
    LastWeekday,
    /// `nW`: weekday nearest to day n, within the month.
    NearestWeekday(u32),
}

/// Day-of-week restriction (day-of-month is `?`). Weekdays are 1 = SUN .. 7 = SAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayOfWeek {
    /// Bit `w - 1` set when weekday `w` matches.
    Days(u64),
    /// `xL`: last weekday x of the month.
    LastOfMonth(u32),
    /// `x#n`: n-th weekday x of the month.
    Nth { weekday: u32, nth: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DaySpec {
    Month(DayOfMonth),
    Week(DayOfWeek),
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    max_step: u32,
}

const MINUTES: FieldSpec = FieldSpec {
    name: "minutes",
    min: 0,
    max: 59,
    names: &[],
    max_step: 59,
};
const HOURS: FieldSpec = FieldSpec {
    name: "hours",
    min: 0,
    max: 23,
    names: &[],
    max_step: 23,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    max_step: 31,
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    max_step: 12,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    max_step: 7,
};
const YEAR: FieldSpec = FieldSpec {
    name: "year",
    min: MIN_YEAR as u32,
    max: MAX_YEAR as u32,
    names: &[],
    max_step: (MAX_YEAR - MIN_YEAR) as u32,
};

fn parse_cron(expr: &str, body: &str) -> Result<CronExpr, ExprError> {
    let err = |reason: String| Kind::Cron.error(expr, reason);
    let fields: Vec<&str> = body.split(' ').filter(|f| !f.is_empty()).collect();
    let [min_f, hour_f, dom_f, month_f, dow_f, year_f] = fields.as_slice() else {
        return Err(err(format!(
            "expected 6 fields (minutes hours day-of-month month day-of-week year), found {}",
            fields.len()
        )));
    };
    let minutes = parse_list(&MINUTES, min_f).map_err(err)?.low();
    let hours = parse_list(&HOURS, hour_f).map_err(err)?.low();
    let dom = parse_day_of_month(dom_f).map_err(err)?;
    let months = parse_list(&MONTH, month_f).map_err(err)?.low();
    let dow = parse_day_of_week(dow_f).map_err(err)?;
    let years = parse_list(&YEAR, year_f).map_err(err)?;
    let days = match (dom, dow) {
        (Some(d), None) => DaySpec::Month(d),
        (None, Some(w)) => DaySpec::Week(w),
        (Some(_), Some(_)) => {
            return Err(err(
                "day-of-month and day-of-week cannot both be specified; use ? in one of them"
                    .to_string(),
            ));
        }
        (None, None) => {
            return Err(err(
                "day-of-month and day-of-week cannot both be ?; specify one of them and use ? in the other"
                    .to_string(),
            ));
        }
    };
    Ok(CronExpr {
        text: fields.join(" "),
        minutes,
        hours,
        months,
        years,
        days,
    })
}

/// Parses one value (number or name) of a field.
fn parse_value(spec: &FieldSpec, tok: &str) -> Result<u32, String> {
    let name = spec.name;
    if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        return match tok.parse::<u32>() {
            Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
            _ => Err(format!(
                "{name} value {tok} is out of range {}-{}",
                spec.min, spec.max
            )),
        };
    }
    let upper = tok.to_ascii_uppercase();
    if let Some(i) = spec.names.iter().position(|n| *n == upper) {
        return Ok(spec.min + i as u32);
    }
    let cause = if upper.contains('?') {
        "? can only be used in day-of-month or day-of-week".to_string()
    } else if upper.contains('#') {
        "# can only be used in day-of-week".to_string()
    } else if is_special(&upper) && upper.contains('W') {
        "W can only be used in day-of-month".to_string()
    } else if is_special(&upper) {
        "L can only be used in day-of-month or day-of-week".to_string()
    } else {
        match (spec.names.first(), spec.names.last()) {
            (Some(first), Some(last)) => format!(
                "expected a number {}-{} or a name {first}-{last}",
                spec.min, spec.max
            ),
            _ => format!("expected a number {}-{}", spec.min, spec.max),
        }
    };
    Err(format!("{name} value \"{tok}\" is invalid: {cause}"))
}

/// True for tokens shaped like `L`, `LW`, `5L` or `15W` (digits then L/W).
fn is_special(upper: &str) -> bool {
    let stem = upper.trim_end_matches(['L', 'W']);
    stem.len() < upper.len() && stem.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a list of `*`, values, ranges and increments into a bit set indexed by
/// `value - spec.min`.
fn parse_list(spec: &FieldSpec, text: &str) -> Result<Bits, String> {
    let name = spec.name;
    let mut bits = Bits::default();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("{name} field \"{text}\" has an empty list item"));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(parse_step(spec, item, step)?)),
            None => (item, None),
        };
        let (lo, hi) = if base == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = base.split_once('-') {
            if a.is_empty() || b.is_empty() {
                return Err(format!(
                    "{name} range \"{base}\" is incomplete; expected start-end"
                ));
            }
            let lo = parse_value(spec, a)?;
            let hi = parse_value(spec, b)?;
            if lo > hi {
                return Err(format!(
                    "{name} range \"{base}\" is invalid: the start is after the end"
                ));
            }
            (lo, hi)
        } else if base.is_empty() {
            return Err(format!(
                "{name} value \"{item}\" is invalid: missing start before \"/\""
            ));
        } else {
            let v = parse_value(spec, base)?;
            if step.is_some() {
                (v, spec.max)
            } else {
                (v, v)
            }
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits.set(v - spec.min);
            v += step;
        }
    }
    Ok(bits)
}

fn parse_step(spec: &FieldSpec, item: &str, step: &str) -> Result<u32, String> {
    let parsed = if !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) {
        step.parse::<u32>().ok()
    } else {
        None
    };
    match parsed {
        Some(v) if (1..=spec.max_step).contains(&v) => Ok(v),
        _ => Err(format!(
            "{} increment \"{step}\" in \"{item}\" is invalid: expected a number 1-{}",
            spec.name, spec.max_step
        )),
    }
}

/// `None` means `?`.
fn parse_day_of_month(text: &str) -> Result<Option<DayOfMonth>, String> {
    if text == "?" {
        return Ok(None);
    }
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "L" => return Ok(Some(DayOfMonth::Last)),
        "LW" => return Ok(Some(DayOfMonth::LastWeekday)),
        _ => {}
    }
    if let Some(day) = upper.strip_suffix('W')
        && !day.is_empty()
        && day.bytes().all(|b| b.is_ascii_digit())
    {
        return parse_value(&DAY_OF_MONTH, day).map(|d| Some(DayOfMonth::NearestWeekday(d)));
    }
    if upper.contains('?') {
        return Err(format!(
            "day-of-month value \"{text}\" is invalid: ? must be used on its own"
        ));
    }
    if upper.contains('L') || upper.contains('W') {
        return Err(format!(
            "day-of-month value \"{text}\" is invalid: L and W can only be used on their own as L, LW or nW (e.g. 15W)"
        ));
    }
    parse_list(&DAY_OF_MONTH, text).map(|b| Some(DayOfMonth::Days(b.low())))
}

/// `None` means `?`.
fn parse_day_of_week(text: &str) -> Result<Option<DayOfWeek>, String> {
    if text == "?" {
        return Ok(None);
    }
    let upper = text.to_ascii_uppercase();
    let is_plain = |t: &str| !t.is_empty() && !t.contains([',', '-', '/', '*', '#', 'L', '?']);
    if upper == "L" {
        return Ok(Some(DayOfWeek::Days(1u64 << (7 - DAY_OF_WEEK.min))));
    }
    if let Some(day) = upper.strip_suffix('L')
        && is_plain(day)
    {
        return parse_value(&DAY_OF_WEEK, day).map(|w| Some(DayOfWeek::LastOfMonth(w)));
    }
    if let Some((day, nth)) = upper.split_once('#')
        && is_plain(day)
        && !nth.contains([',', '-', '/', '*', '#', 'L'])
    {
        let weekday = parse_value(&DAY_OF_WEEK, day)?;
        return match nth.parse::<u32>() {
            Ok(n) if (1..=5).contains(&n) && nth.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(DayOfWeek::Nth { weekday, nth: n }))
            }
            _ => Err(format!(
                "day-of-week value \"{text}\" is invalid: the number after # must be 1-5"
            )),
        };
    }
    if upper.contains('?') {
        return Err(format!(
            "day-of-week value \"{text}\" is invalid: ? must be used on its own"
        ));
    }
    if upper.contains('L') {
        return Err(format!(
            "day-of-week value \"{text}\" is invalid: L can only be used on its own or after a single day (e.g. 6L = last Friday of the month)"
        ));
    }
    if upper.contains('#') {
        return Err(format!(
            "day-of-week value \"{text}\" is invalid: # must be written as day#n (e.g. 2#1 = first Monday of the month), not in lists, ranges or increments"
        ));
    }
    parse_list(&DAY_OF_WEEK, text).map(|b| Some(DayOfWeek::Days(b.low())))
}

// ---------------------------------------------------------------------------
// Fire times
// ---------------------------------------------------------------------------

/// Maps a local time to an instant: ambiguous times resolve to the earliest
/// instant; non-existent times (DST gap) give `None`.
fn resolve_local(tz: Tz, local: &NaiveDateTime) -> Option<DateTime<Tz>> {
    match tz.from_local_datetime(local) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(earliest, _) => Some(earliest),
        LocalResult::None => None,
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl CronExpr {
    /// Bit `d` set for each day `d` of the given month that matches the day fields.
    fn day_mask(&self, year: i32, month: u32) -> u32 {
        let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
            return 0;
        };
        let dim = days_in_month(year, month);
        // Weekday (1 = SUN .. 7 = SAT) of day d.
        let first_wd = first.weekday().num_days_from_sunday();
        let weekday = |d: u32| (first_wd + d - 1) % 7 + 1;
        let one = |d: u32| 1u32 << d;
        match self.days {
            DaySpec::Month(DayOfMonth::Days(bits)) => (1..=dim)
                .filter(|&d| has_bit(bits, d - 1))
                .fold(0, |m, d| m | one(d)),
            DaySpec::Month(DayOfMonth::Last) => one(dim),
            DaySpec::Month(DayOfMonth::LastWeekday) => match weekday(dim) {
                7 => one(dim - 1),
                1 => one(dim - 2),
                _ => one(dim),
            },
            DaySpec::Month(DayOfMonth::NearestWeekday(n)) => {
                if n > dim {
                    return 0;
                }
                match weekday(n) {
                    7 if n == 1 => one(3),
                    7 => one(n - 1),
                    1 if n == dim => one(n - 2),
                    1 => one(n + 1),
                    _ => one(n),
                }
            }
            DaySpec::Week(DayOfWeek::Days(bits)) => (1..=dim)
                .filter(|&d| has_bit(bits, weekday(d) - 1))
                .fold(0, |m, d| m | one(d)),
            DaySpec::Week(DayOfWeek::LastOfMonth(w)) => one(dim - (weekday(dim) + 7 - w) % 7),
            DaySpec::Week(DayOfWeek::Nth { weekday: w, nth }) => {
                let d = 1 + (w + 7 - weekday(1)) % 7 + 7 * (nth - 1);
                if d <= dim { one(d) } else { 0 }
            }
        }
    }

    fn next_fire_times(&self, after: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(n.min(64));
        // Candidates are enumerated in local wall-clock order starting at the local
        // minute of `after`; with earliest-instant resolution this order is also
        // instant order, and no earlier wall-clock time can map after `after`.
        let local = after.with_timezone(&tz).naive_local();
        let start_day = (local.year(), local.month(), local.day());
        let start_time = (local.hour(), local.minute());
        for year in local.year().max(MIN_YEAR)..=MAX_YEAR {
            if !self.years.has((year - MIN_YEAR) as u32) {
                continue;
            }
            for month in 1..=12u32 {
                if (year, month) < (start_day.0, start_day.1) || !has_bit(self.months, month - 1) {
                    continue;
                }
                let mask = self.day_mask(year, month);
                for day in 1..=31u32 {
                    if mask & (1u32 << day) == 0 || (year, month, day) < start_day {
                        continue;
                    }
                    let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else {
                        continue;
                    };
                    let floor = if (year, month, day) == start_day {
                        start_time
                    } else {
                        (0, 0)
                    };
                    for hour in floor.0..24 {
                        if !has_bit(self.hours, hour) {
                            continue;
                        }
                        let first_minute = if hour == floor.0 { floor.1 } else { 0 };
                        for minute in first_minute..60 {
                            if !has_bit(self.minutes, minute) {
                                continue;
                            }
                            let Some(naive) = date.and_hms_opt(hour, minute, 0) else {
                                continue;
                            };
                            let Some(t) = resolve_local(tz, &naive) else {
                                continue;
                            };
                            if t.with_timezone(&Utc) > after {
                                out.push(t);
                                if out.len() >= n {
                                    return out;
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid RFC 3339 in test")
            .with_timezone(&Utc)
    }

    fn cron(s: &str) -> ScheduleExpr {
        parse_rule_expression(s).unwrap_or_else(|e| panic!("{s} should parse: {e}"))
    }

    /// Next fire times formatted as RFC 3339 with the local offset.
    fn next(expr: &str, after: &str, tz: &str, n: usize) -> Vec<String> {
        let tz = parse_timezone(tz).expect("valid tz in test");
        parse_scheduler_expression(expr)
            .unwrap_or_else(|e| panic!("{expr} should parse: {e}"))
            .next_fire_times(utc(after), tz, n)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect()
    }

    fn rule_err(s: &str) -> String {
        match parse_rule_expression(s) {
            Ok(e) => panic!("{s} should be rejected, parsed as {e}"),
            Err(e) => e.to_string(),
        }
    }

    fn sched_err(s: &str) -> String {
        match parse_scheduler_expression(s) {
            Ok(e) => panic!("{s} should be rejected, parsed as {e}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn aws_doc_examples_parse_and_round_trip() {
        for s in [
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 LW * ? *)",
            "cron(0 0 15W * ? *)",
            "cron(0 0 ? * 6L *)",
            "cron(*/5 * * * ? *)",
            "cron(5-30/5 * * * ? *)",
            "cron(0 12 ? jan,Jul mon-fri 2026-2030)",
            "cron(0 0 1,15 */2 ? 2026/2)",
            "cron(0 0 ? * L *)",
            "cron(0 0 ? * FRIL *)",
            "cron(0 0 ? * * *)",
        ] {
            let parsed = cron(s);
            assert!(matches!(parsed, ScheduleExpr::Cron(_)), "{s}");
            assert_eq!(parsed.to_string(), s);
            assert_eq!(parse_scheduler_expression(s), Ok(parsed));
        }
    }

    #[test]
    fn display_collapses_multiple_spaces() {
        assert_eq!(
            cron("cron(0  10 *   * ? *)").to_string(),
            "cron(0 10 * * ? *)"
        );
    }

    #[test]
    fn invalid_cron_messages() {
        let cases = [
            (
                "cron(0 10 * * * *)",
                "invalid cron expression \"cron(0 10 * * * *)\": day-of-month and day-of-week cannot both be specified; use ? in one of them",
            ),
            (
                "cron(0 10 ? * ? *)",
                "invalid cron expression \"cron(0 10 ? * ? *)\": day-of-month and day-of-week cannot both be ?; specify one of them and use ? in the other",
            ),
            (
                "cron(99 10 * * ? *)",
                "invalid cron expression \"cron(99 10 * * ? *)\": minutes value 99 is out of range 0-59",
            ),
            (
                "cron(0 10 * * ?)",
                "invalid cron expression \"cron(0 10 * * ?)\": expected 6 fields (minutes hours day-of-month month day-of-week year), found 5",
            ),
            (
                "cron()",
                "invalid cron expression \"cron()\": expected 6 fields (minutes hours day-of-month month day-of-week year), found 0",
            ),
            (
                "cron( 0 10 * * ? * )",
                "invalid cron expression \"cron( 0 10 * * ? * )\": spaces just inside the parentheses are not allowed; write \"cron(0 10 * * ? *)\"",
            ),
            (
                "cron(0 10 * * ? *",
                "invalid cron expression \"cron(0 10 * * ? *\": missing closing parenthesis \")\"",
            ),
            (
                "cron(0 24 * * ? *)",
                "invalid cron expression \"cron(0 24 * * ? *)\": hours value 24 is out of range 0-23",
            ),
            (
                "cron(0 10 0 * ? *)",
                "invalid cron expression \"cron(0 10 0 * ? *)\": day-of-month value 0 is out of range 1-31",
            ),
            (
                "cron(0 10 * 13 ? *)",
                "invalid cron expression \"cron(0 10 * 13 ? *)\": month value 13 is out of range 1-12",
            ),
            (
                "cron(0 10 * FOO ? *)",
                "invalid cron expression \"cron(0 10 * FOO ? *)\": month value \"FOO\" is invalid: expected a number 1-12 or a name JAN-DEC",
            ),
            (
                "cron(0 10 ? * 8 *)",
                "invalid cron expression \"cron(0 10 ? * 8 *)\": day-of-week value 8 is out of range 1-7",
            ),
            (
                "cron(0 10 ? * MON-FUN *)",
                "invalid cron expression \"cron(0 10 ? * MON-FUN *)\": day-of-week value \"FUN\" is invalid: expected a number 1-7 or a name SUN-SAT",
            ),
            (
                "cron(0 10 * * ? 1969)",
                "invalid cron expression \"cron(0 10 * * ? 1969)\": year value 1969 is out of range 1970-2199",
            ),
            (
                "cron(0 10 * * ? 2200)",
                "invalid cron expression \"cron(0 10 * * ? 2200)\": year value 2200 is out of range 1970-2199",
            ),
            (
                "cron(0/0 * * * ? *)",
                "invalid cron expression \"cron(0/0 * * * ? *)\": minutes increment \"0\" in \"0/0\" is invalid: expected a number 1-59",
            ),
            (
                "cron(30-10 * * * ? *)",
                "invalid cron expression \"cron(30-10 * * * ? *)\": minutes range \"30-10\" is invalid: the start is after the end",
            ),
            (
                "cron(5- * * * ? *)",
                "invalid cron expression \"cron(5- * * * ? *)\": minutes range \"5-\" is incomplete; expected start-end",
            ),
            (
                "cron(0,,5 10 * * ? *)",
                "invalid cron expression \"cron(0,,5 10 * * ? *)\": minutes field \"0,,5\" has an empty list item",
            ),
            (
                "cron(x 10 * * ? *)",
                "invalid cron expression \"cron(x 10 * * ? *)\": minutes value \"x\" is invalid: expected a number 0-59",
            ),
            (
                "cron(0 L * * ? *)",
                "invalid cron expression \"cron(0 L * * ? *)\": hours value \"L\" is invalid: L can only be used in day-of-month or day-of-week",
            ),
            (
                "cron(? 10 * * ? *)",
                "invalid cron expression \"cron(? 10 * * ? *)\": minutes value \"?\" is invalid: ? can only be used in day-of-month or day-of-week",
            ),
            (
                "cron(0 10 ? * 2W *)",
                "invalid cron expression \"cron(0 10 ? * 2W *)\": day-of-week value \"2W\" is invalid: W can only be used in day-of-month",
            ),
            (
                "cron(0 10 1#2 * ? *)",
                "invalid cron expression \"cron(0 10 1#2 * ? *)\": day-of-month value \"1#2\" is invalid: # can only be used in day-of-week",
            ),
            (
                "cron(0 10 ? * 2#6 *)",
                "invalid cron expression \"cron(0 10 ? * 2#6 *)\": day-of-week value \"2#6\" is invalid: the number after # must be 1-5",
            ),
            (
                "cron(0 10 ? * 8#1 *)",
                "invalid cron expression \"cron(0 10 ? * 8#1 *)\": day-of-week value 8 is out of range 1-7",
            ),
            (
                "cron(0 10 ? * 1,2#1 *)",
                "invalid cron expression \"cron(0 10 ? * 1,2#1 *)\": day-of-week value \"1,2#1\" is invalid: # must be written as day#n (e.g. 2#1 = first Monday of the month), not in lists, ranges or increments",
            ),
            (
                "cron(0 10 ? * 1-6L *)",
                "invalid cron expression \"cron(0 10 ? * 1-6L *)\": day-of-week value \"1-6L\" is invalid: L can only be used on its own or after a single day (e.g. 6L = last Friday of the month)",
            ),
            (
                "cron(0 10 1,L * ? *)",
                "invalid cron expression \"cron(0 10 1,L * ? *)\": day-of-month value \"1,L\" is invalid: L and W can only be used on their own as L, LW or nW (e.g. 15W)",
            ),
            (
                "cron(0 10 32W * ? *)",
                "invalid cron expression \"cron(0 10 32W * ? *)\": day-of-month value 32 is out of range 1-31",
            ),
            (
                "cron(0 10 ?,1 * ? *)",
                "invalid cron expression \"cron(0 10 ?,1 * ? *)\": day-of-month value \"?,1\" is invalid: ? must be used on its own",
            ),
            (
                "cron(0\t10 * * ? *)",
                "invalid cron expression \"cron(0\t10 * * ? *)\": fields must be separated by spaces, not tabs or line breaks",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(rule_err(input), expected, "input: {input}");
            assert_eq!(sched_err(input), expected, "input: {input}");
        }
    }

    #[test]
    fn invalid_forms() {
        assert_eq!(
            rule_err("every 5 minutes"),
            "invalid schedule expression \"every 5 minutes\": expected cron(...) or rate(...)"
        );
        assert_eq!(
            sched_err("every 5 minutes"),
            "invalid schedule expression \"every 5 minutes\": expected cron(...), rate(...) or at(...)"
        );
        assert_eq!(
            rule_err(""),
            "invalid schedule expression \"\": the expression is empty; expected cron(...) or rate(...)"
        );
        assert_eq!(
            sched_err("  "),
            "invalid schedule expression \"  \": the expression is empty; expected cron(...), rate(...) or at(...)"
        );
        assert_eq!(
            rule_err(" rate(5 minutes)"),
            "invalid schedule expression \" rate(5 minutes)\": remove the leading or trailing whitespace; expected cron(...) or rate(...)"
        );
        assert_eq!(
            rule_err("CRON(0 10 * * ? *)"),
            "invalid schedule expression \"CRON(0 10 * * ? *)\": the keyword must be written in lowercase as cron(...)"
        );
        assert_eq!(
            rule_err("cron (0 10 * * ? *)"),
            "invalid schedule expression \"cron (0 10 * * ? *)\": expected cron(...) or rate(...)"
        );
    }

    #[test]
    fn rate_expressions() {
        for (s, value, unit) in [
            ("rate(1 minute)", 1, RateUnit::Minute),
            ("rate(5 minutes)", 5, RateUnit::Minute),
            ("rate(1 hour)", 1, RateUnit::Hour),
            ("rate(12 hours)", 12, RateUnit::Hour),
            ("rate(1 day)", 1, RateUnit::Day),
            ("rate(7 days)", 7, RateUnit::Day),
        ] {
            let parsed = parse_rule_expression(s);
            assert_eq!(
                parsed,
                Ok(ScheduleExpr::Rate(RateExpr { value, unit })),
                "{s}"
            );
            assert_eq!(parsed.map(|p| p.to_string()), Ok(s.to_string()));
        }
        let cases = [
            (
                "rate(1 minutes)",
                "invalid rate expression \"rate(1 minutes)\": a value of 1 requires the singular unit \"minute\"; write rate(1 minute)",
            ),
            (
                "rate(5 minute)",
                "invalid rate expression \"rate(5 minute)\": a value of 5 requires the plural unit \"minutes\"; write rate(5 minutes)",
            ),
            (
                "rate(1 days)",
                "invalid rate expression \"rate(1 days)\": a value of 1 requires the singular unit \"day\"; write rate(1 day)",
            ),
            (
                "rate(2 hour)",
                "invalid rate expression \"rate(2 hour)\": a value of 2 requires the plural unit \"hours\"; write rate(2 hours)",
            ),
            (
                "rate(0 minutes)",
                "invalid rate expression \"rate(0 minutes)\": value must be a positive whole number, found 0",
            ),
            (
                "rate(+5 minutes)",
                "invalid rate expression \"rate(+5 minutes)\": value \"+5\" is not a positive whole number",
            ),
            (
                "rate(1.5 hours)",
                "invalid rate expression \"rate(1.5 hours)\": value \"1.5\" is not a positive whole number",
            ),
            (
                "rate(99999999999 minutes)",
                "invalid rate expression \"rate(99999999999 minutes)\": value 99999999999 is too large",
            ),
            (
                "rate(5 weeks)",
                "invalid rate expression \"rate(5 weeks)\": unknown unit \"weeks\"; expected minute, minutes, hour, hours, day or days",
            ),
            (
                "rate(5)",
                "invalid rate expression \"rate(5)\": expected a value and a unit such as rate(5 minutes), found 1 field",
            ),
            (
                "rate( 5 minutes)",
                "invalid rate expression \"rate( 5 minutes)\": spaces just inside the parentheses are not allowed; write \"rate(5 minutes)\"",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(rule_err(input), expected, "input: {input}");
        }
    }

    #[test]
    fn at_expressions() {
        let parsed = parse_scheduler_expression("at(2026-01-02T03:04:05)");
        let expected = NaiveDate::from_ymd_opt(2026, 1, 2)
            .and_then(|d| d.and_hms_opt(3, 4, 5))
            .expect("valid date");
        assert_eq!(parsed, Ok(ScheduleExpr::At(expected)));
        assert_eq!(
            parsed.map(|p| p.to_string()),
            Ok("at(2026-01-02T03:04:05)".to_string())
        );
        assert_eq!(
            rule_err("at(2026-01-02T03:04:05)"),
            "invalid schedule expression \"at(2026-01-02T03:04:05)\": one-time at() schedules are only supported by EventBridge Scheduler (schedules:), not by rules"
        );
        assert_eq!(
            sched_err("at(2026-01-02 03:04:05)"),
            "invalid at expression \"at(2026-01-02 03:04:05)\": expected the form at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-01-02T03:04:05)"
        );
        assert_eq!(
            sched_err("at(2026-01-02T03:04)"),
            "invalid at expression \"at(2026-01-02T03:04)\": expected the form at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-01-02T03:04:05)"
        );
        assert_eq!(
            sched_err("at(2026-02-30T00:00:00)"),
            "invalid at expression \"at(2026-02-30T00:00:00)\": \"2026-02-30T00:00:00\" is not a valid date and time"
        );
        assert_eq!(
            sched_err("at(2026-01-01T23:59:60)"),
            "invalid at expression \"at(2026-01-01T23:59:60)\": \"2026-01-01T23:59:60\" is not a valid date and time"
        );
    }

    #[test]
    fn timezones() {
        assert_eq!(parse_timezone("Asia/Tokyo"), Ok(chrono_tz::Asia::Tokyo));
        assert_eq!(parse_timezone("UTC"), Ok(chrono_tz::UTC));
        assert_eq!(
            parse_timezone("Mars/Olympus").map_err(|e| e.to_string()),
            Err("unknown timezone \"Mars/Olympus\" (expected an IANA name such as \"Asia/Tokyo\" or \"UTC\")".to_string())
        );
    }

    #[test]
    fn next_daily_utc() {
        assert_eq!(
            next("cron(0 10 * * ? *)", "2026-11-28T17:00:00Z", "UTC", 3),
            [
                "2026-11-29T10:00:00+00:00",
                "2026-11-30T10:00:00+00:00",
                "2026-12-01T10:00:00+00:00"
            ]
        );
        // Strictly after: a fire time equal to `after` is not returned.
        assert_eq!(
            next("cron(0 10 * * ? *)", "2026-11-29T10:00:00Z", "UTC", 1),
            ["2026-11-30T10:00:00+00:00"]
        );
        assert_eq!(
            next("cron(0 10 * * ? *)", "2026-11-29T09:59:59Z", "UTC", 1),
            ["2026-11-29T10:00:00+00:00"]
        );
    }

    #[test]
    fn next_in_tokyo() {
        // 17:00Z = 02:00 JST on the 29th.
        assert_eq!(
            next(
                "cron(0 10 * * ? *)",
                "2026-11-28T17:00:00Z",
                "Asia/Tokyo",
                2
            ),
            ["2026-11-29T10:00:00+09:00", "2026-11-30T10:00:00+09:00"]
        );
        // Friday 2026-11-27 18:30 JST; weekdays only, 18:00 local.
        assert_eq!(
            next(
                "cron(0 18 ? * MON-FRI *)",
                "2026-11-27T09:30:00Z",
                "Asia/Tokyo",
                2
            ),
            ["2026-11-30T18:00:00+09:00", "2026-12-01T18:00:00+09:00"]
        );
    }

    #[test]
    fn increments_and_ranges() {
        assert_eq!(
            next("cron(0/15 * * * ? *)", "2026-01-01T00:07:00Z", "UTC", 3),
            [
                "2026-01-01T00:15:00+00:00",
                "2026-01-01T00:30:00+00:00",
                "2026-01-01T00:45:00+00:00"
            ]
        );
        // Friday 2026-01-02 17:50Z: 17:55 then Monday 08:00.
        assert_eq!(
            next(
                "cron(0/5 8-17 ? * MON-FRI *)",
                "2026-01-02T17:50:00Z",
                "UTC",
                3
            ),
            [
                "2026-01-02T17:55:00+00:00",
                "2026-01-05T08:00:00+00:00",
                "2026-01-05T08:05:00+00:00"
            ]
        );
        assert_eq!(
            next("cron(5-30/10 0 1 * ? *)", "2026-01-01T00:00:00Z", "UTC", 4),
            [
                "2026-01-01T00:05:00+00:00",
                "2026-01-01T00:15:00+00:00",
                "2026-01-01T00:25:00+00:00",
                "2026-02-01T00:05:00+00:00"
            ]
        );
    }

    #[test]
    fn dst_spring_forward_skips_missing_time() {
        // New York: 2026-03-08 02:00 EST -> 03:00 EDT; 02:30 does not exist that day.
        assert_eq!(
            next(
                "cron(30 2 * * ? *)",
                "2026-03-06T12:00:00Z",
                "America/New_York",
                3
            ),
            [
                "2026-03-07T02:30:00-05:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00"
            ]
        );
        assert_eq!(
            next(
                "cron(0 10 * * ? *)",
                "2026-03-07T16:00:00Z",
                "America/New_York",
                2
            ),
            ["2026-03-08T10:00:00-04:00", "2026-03-09T10:00:00-04:00"]
        );
    }

    #[test]
    fn dst_fall_back_fires_once() {
        // New York: 2026-11-01 02:00 EDT -> 01:00 EST; 01:xx occurs twice.
        assert_eq!(
            next(
                "cron(30 1 * * ? *)",
                "2026-10-31T12:00:00Z",
                "America/New_York",
                2
            ),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
        );
        assert_eq!(
            next(
                "cron(0/30 * * * ? *)",
                "2026-11-01T04:50:00Z",
                "America/New_York",
                3
            ),
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T02:00:00-05:00"
            ]
        );
        // `after` inside the repeated hour (01:10 EST): 01:30 already fired as EDT.
        assert_eq!(
            next(
                "cron(0/30 * * * ? *)",
                "2026-11-01T06:10:00Z",
                "America/New_York",
                1
            ),
            ["2026-11-01T02:00:00-05:00"]
        );
    }

    #[test]
    fn last_day_of_month() {
        assert_eq!(
            next("cron(0 0 L * ? *)", "2028-01-15T00:00:00Z", "UTC", 3),
            [
                "2028-01-31T00:00:00+00:00",
                "2028-02-29T00:00:00+00:00",
                "2028-03-31T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn last_weekday_of_month() {
        // 2026-01-31 is a Saturday, 2026-02-28 a Saturday, 2026-03-31 a Tuesday,
        // 2026-05-31 a Sunday.
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2026-01-01T00:00:00Z", "UTC", 5),
            [
                "2026-01-30T00:00:00+00:00",
                "2026-02-27T00:00:00+00:00",
                "2026-03-31T00:00:00+00:00",
                "2026-04-30T00:00:00+00:00",
                "2026-05-29T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn nearest_weekday() {
        // 2026: Aug 15 is a Saturday (-> Fri 14), Nov 15 a Sunday (-> Mon 16),
        // Sep 15 a Tuesday.
        assert_eq!(
            next("cron(0 0 15W * ? *)", "2026-08-01T00:00:00Z", "UTC", 4),
            [
                "2026-08-14T00:00:00+00:00",
                "2026-09-15T00:00:00+00:00",
                "2026-10-15T00:00:00+00:00",
                "2026-11-16T00:00:00+00:00"
            ]
        );
        // 2026-08-01 is a Saturday: does not cross into July, so Monday the 3rd.
        assert_eq!(
            next("cron(0 0 1W 8 ? *)", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-08-03T00:00:00+00:00"]
        );
        // 2026-05-31 is a Sunday: does not cross into June, so Friday the 29th.
        assert_eq!(
            next("cron(0 0 31W 5 ? *)", "2026-01-01T00:00:00Z", "UTC", 1),
            ["2026-05-29T00:00:00+00:00"]
        );
        // 31W never fires in 30-day months.
        assert_eq!(
            next("cron(0 0 31W 4 ? 2026)", "2026-01-01T00:00:00Z", "UTC", 1),
            Vec::<String>::new()
        );
    }

    #[test]
    fn last_weekday_x_of_month() {
        // Last Fridays of 2026: Jan 30, Feb 27, Mar 27.
        assert_eq!(
            next("cron(0 0 ? * 6L *)", "2026-01-01T00:00:00Z", "UTC", 3),
            [
                "2026-01-30T00:00:00+00:00",
                "2026-02-27T00:00:00+00:00",
                "2026-03-27T00:00:00+00:00"
            ]
        );
        // L alone in day-of-week = Saturday (7). 2026-01-03 is a Saturday.
        assert_eq!(
            next("cron(0 0 ? * L *)", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2026-01-03T00:00:00+00:00", "2026-01-10T00:00:00+00:00"]
        );
    }

    #[test]
    fn nth_weekday_of_month() {
        // First Mondays of 2026: Jan 5, Feb 2, Mar 2.
        assert_eq!(
            next("cron(0 9 ? * 2#1 *)", "2026-01-01T00:00:00Z", "UTC", 3),
            [
                "2026-01-05T09:00:00+00:00",
                "2026-02-02T09:00:00+00:00",
                "2026-03-02T09:00:00+00:00"
            ]
        );
        // Second Tuesdays: Jan 13, Feb 10.
        assert_eq!(
            next("cron(0 9 ? * TUE#2 *)", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2026-01-13T09:00:00+00:00", "2026-02-10T09:00:00+00:00"]
        );
        // Fifth Friday only exists in some months: 2026-01-30, 2026-05-29.
        assert_eq!(
            next("cron(0 9 ? * 6#5 *)", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2026-01-30T09:00:00+00:00", "2026-05-29T09:00:00+00:00"]
        );
    }

    #[test]
    fn year_field_and_search_limit() {
        assert_eq!(
            next(
                "cron(0 12 1 1 ? 2030,2032)",
                "2026-01-01T00:00:00Z",
                "UTC",
                3
            ),
            ["2030-01-01T12:00:00+00:00", "2032-01-01T12:00:00+00:00"]
        );
        assert_eq!(
            next("cron(0 0 1 1 ? *)", "2198-06-01T00:00:00Z", "UTC", 3),
            ["2199-01-01T00:00:00+00:00"]
        );
        // Never matches: the search ends at 2199 instead of looping forever.
        assert_eq!(
            next("cron(0 0 30 2 ? *)", "2026-01-01T00:00:00Z", "UTC", 3),
            Vec::<String>::new()
        );
        assert_eq!(
            next("cron(0 0 * * ? *)", "2026-01-01T00:00:00Z", "UTC", 0),
            Vec::<String>::new()
        );
        // Leap day only.
        assert_eq!(
            next("cron(0 0 29 FEB ? *)", "2026-01-01T00:00:00Z", "UTC", 2),
            ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]
        );
    }

    #[test]
    fn rate_fire_times() {
        assert_eq!(
            next("rate(5 minutes)", "2026-01-01T00:00:30Z", "UTC", 3),
            [
                "2026-01-01T00:05:30+00:00",
                "2026-01-01T00:10:30+00:00",
                "2026-01-01T00:15:30+00:00"
            ]
        );
        // A day is 24 hours even across a DST change.
        assert_eq!(
            next("rate(1 day)", "2026-03-07T15:00:00Z", "America/New_York", 2),
            ["2026-03-08T11:00:00-04:00", "2026-03-09T11:00:00-04:00"]
        );
        assert_eq!(
            next("rate(2 hours)", "2026-01-01T00:00:00Z", "Asia/Tokyo", 1),
            ["2026-01-01T11:00:00+09:00"]
        );
    }

    #[test]
    fn at_fire_times() {
        assert_eq!(
            next(
                "at(2026-01-02T03:04:05)",
                "2026-01-01T00:00:00Z",
                "Asia/Tokyo",
                3
            ),
            ["2026-01-02T03:04:05+09:00"]
        );
        assert_eq!(
            next("at(2026-01-02T03:04:05)", "2026-01-02T03:04:05Z", "UTC", 3),
            Vec::<String>::new()
        );
        // Ambiguous local time: earliest instant.
        assert_eq!(
            next(
                "at(2026-11-01T01:30:00)",
                "2026-01-01T00:00:00Z",
                "America/New_York",
                1
            ),
            ["2026-11-01T01:30:00-04:00"]
        );
        // Non-existent local time: never fires.
        assert_eq!(
            next(
                "at(2026-03-08T02:30:00)",
                "2026-01-01T00:00:00Z",
                "America/New_York",
                1
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn many_schedules_sanity() {
        // Not a timed assertion: exercises 2,000 parses and searches so that a
        // pathological slowdown shows up as a slow test run.
        let exprs = [
            "cron(0 10 * * ? *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 0 LW * ? *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 0 29 2 ? *)",
            "cron(0 0 31 2 ? *)",
            "cron(59 23 31 12 ? 2199)",
            "rate(7 days)",
        ];
        let tz = parse_timezone("America/New_York").expect("valid tz");
        let after = utc("2026-11-28T17:00:00Z");
        let mut total = 0;
        for i in 0..2_000 {
            let e = parse_scheduler_expression(exprs[i % exprs.len()]).expect("valid expr");
            total += e.next_fire_times(after, tz, 3).len();
        }
        assert!(total > 0);
    }
}
