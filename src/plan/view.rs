//! Views of a plan: the human text (`+`/`~`/`-`, changed lines with context,
//! the next fire times before → after, what the plan leaves alone, the
//! `Plan: X to add, Y to change, Z to destroy.` summary), unified diffs for
//! `diff -u`, and the versioned JSON document of `show --json`, shaped like
//! `terraform show -json`. Secret-looking environment values are masked here
//! (and only here: `markdown` and the CLI use these masks). Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use console::Style;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

use super::{Action, Plan, Resource, ResourceChange};
use crate::model::{AccountContext, DEFAULT_ROLE, EcsTarget, Rule, Schedule, dump, fire};

/// Version of the JSON document; bump the major on incompatible changes.
/// 2.0: `change.before`/`after` are flat attribute objects (no `{"Rule": …}`
/// wrapper); `before_sensitive`/`after_sensitive`, `fire_times`, `left_alone`.
pub const JSON_FORMAT_VERSION: &str = "2.0";

const MASK: &str = crate::model::SENSITIVE_MASK;
/// A masked value that differs from the one it replaces (on the after side).
const MASK_CHANGED: &str = "(sensitive value changed)";

/// `(target id, container name, variable name)` of an environment variable.
type EnvKey = (String, String, String);

/// The ECS targets of a resource with their ids (a schedule's is `""`).
fn targets(r: &Resource) -> Vec<(&str, &EcsTarget)> {
    match r {
        Resource::Rule(rule) => rule
            .targets
            .iter()
            .map(|t| (t.id.as_str(), &t.ecs))
            .collect(),
        Resource::Schedule(s) => vec![("", &s.ecs)],
    }
}

fn targets_mut(r: &mut Resource) -> Vec<(String, &mut EcsTarget)> {
    match r {
        Resource::Rule(rule) => rule
            .targets
            .iter_mut()
            .map(|t| (t.id.clone(), &mut t.ecs))
            .collect(),
        Resource::Schedule(s) => vec![(String::new(), &mut s.ecs)],
    }
}

/// Which environment variable names are masked (glob with `*`, case-insensitive).
#[derive(Debug, Clone)]
pub struct Masking {
    patterns: Vec<String>,
    pub show_sensitive: bool,
}

/// Environment names masked unless configured otherwise.
pub const DEFAULT_SENSITIVE_PATTERNS: [&str; 4] = ["*PASSWORD*", "*SECRET*", "*TOKEN*", "*KEY*"];

impl Masking {
    /// Masks names matching `patterns` (globs with `*`, case-insensitive; the
    /// defaults when empty), unless `show_sensitive`.
    pub fn new(patterns: &[String], show_sensitive: bool) -> Masking {
        let patterns: Vec<String> = patterns
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        Masking {
            patterns: if patterns.is_empty() {
                DEFAULT_SENSITIVE_PATTERNS.map(String::from).to_vec()
            } else {
                patterns
            },
            show_sensitive,
        }
    }

    pub fn is_sensitive(&self, name: &str) -> bool {
        let name = name.to_ascii_uppercase();
        self.patterns
            .iter()
            .any(|p| glob_match(&p.to_ascii_uppercase(), &name))
    }

    fn mask_target(&self, e: &mut EcsTarget) {
        if self.show_sensitive {
            return;
        }
        for c in &mut e.overrides.containers {
            for (k, v) in &mut c.environment {
                if self.is_sensitive(k) {
                    *v = MASK.to_string();
                }
            }
        }
    }

    /// A copy of the resource with secret-looking values masked.
    pub fn apply(&self, r: &Resource) -> Resource {
        let mut r = r.clone();
        for (_, ecs) in targets_mut(&mut r) {
            self.mask_target(ecs);
        }
        r
    }

    /// The secret-looking environment values of `r` (masked or not).
    fn sensitive_values<'a>(&self, r: &'a Resource) -> BTreeMap<EnvKey, &'a str> {
        let mut out = BTreeMap::new();
        for (id, ecs) in targets(r) {
            for c in &ecs.overrides.containers {
                for (k, v) in &c.environment {
                    if self.is_sensitive(k) {
                        out.insert((id.to_string(), c.name.clone(), k.clone()), v.as_str());
                    }
                }
            }
        }
        out
    }

    /// Both sides of a change with secret-looking values masked. A masked
    /// value that differs between the sides reads `(sensitive value changed)`
    /// on the after side: the change shows, the values do not.
    pub fn apply_change(&self, c: &ResourceChange) -> (Option<Resource>, Option<Resource>) {
        let before = c.before.as_ref().map(|r| self.apply(r));
        let mut after = c.after.as_ref().map(|r| self.apply(r));
        if self.show_sensitive || c.tag_only {
            return (before, after);
        }
        if let (Some(b), Some(a), Some(masked)) = (&c.before, &c.after, &mut after) {
            let old = self.sensitive_values(b);
            let changed: BTreeSet<EnvKey> = self
                .sensitive_values(a)
                .into_iter()
                .filter(|(k, v)| old.get(k).is_some_and(|o| o != v))
                .map(|(k, _)| k)
                .collect();
            for (id, ecs) in targets_mut(masked) {
                for c in &mut ecs.overrides.containers {
                    for (k, v) in &mut c.environment {
                        if changed.contains(&(id.clone(), c.name.clone(), k.clone())) {
                            *v = MASK_CHANGED.to_string();
                        }
                    }
                }
            }
        }
        (before, after)
    }

    /// `true` at every secret-looking value of `r`, in the shape of its JSON
    /// (as `terraform show -json` marks `after_sensitive`); `{}` when none.
    pub fn sensitive_marks(&self, r: &Resource) -> Value {
        let ecs_marks = |ecs: &EcsTarget| -> Option<Value> {
            let containers: Vec<Value> = ecs
                .overrides
                .containers
                .iter()
                .map(|c| {
                    let env: serde_json::Map<String, Value> = c
                        .environment
                        .keys()
                        .filter(|k| self.is_sensitive(k))
                        .map(|k| (k.clone(), Value::Bool(true)))
                        .collect();
                    if env.is_empty() {
                        json!({})
                    } else {
                        json!({ "environment": env })
                    }
                })
                .collect();
            containers
                .iter()
                .any(|c| c != &json!({}))
                .then(|| json!({ "overrides": { "containers": containers } }))
        };
        match r {
            Resource::Rule(rule) => {
                let marks: Vec<Value> = rule
                    .targets
                    .iter()
                    .map(|t| ecs_marks(&t.ecs).map_or_else(|| json!({}), |e| json!({ "ecs": e })))
                    .collect();
                if marks.iter().all(|m| m == &json!({})) {
                    json!({})
                } else {
                    json!({ "targets": marks })
                }
            }
            Resource::Schedule(s) => {
                ecs_marks(&s.ecs).map_or_else(|| json!({}), |e| json!({ "ecs": e }))
            }
        }
    }

    /// Names of the secret-looking environment variables anywhere in `plan`
    /// (whatever `show_sensitive` says), sorted: a plan file holding them in
    /// clear deserves a warning.
    pub fn sensitive_names(&self, plan: &Plan) -> Vec<String> {
        let names: BTreeSet<String> = plan
            .changes
            .iter()
            .flat_map(|c| c.before.iter().chain(&c.after))
            .flat_map(|r| self.sensitive_values(r).into_keys().map(|(_, _, k)| k))
            .collect();
        names.into_iter().collect()
    }

    /// True when `plan` holds secret-looking values.
    pub fn plan_has_sensitive(&self, plan: &Plan) -> bool {
        !self.sensitive_names(plan).is_empty()
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A resource as config-form YAML (what the user wrote / would write).
pub fn resource_yaml(r: &Resource, ctx: &AccountContext) -> String {
    let text = match r {
        Resource::Rule(rule) => serde_saphyr::to_string(&dump::rule(rule, DEFAULT_ROLE, ctx)),
        Resource::Schedule(s) => serde_saphyr::to_string(&dump::schedule(s, DEFAULT_ROLE, ctx)),
    };
    text.unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

fn sides(c: &ResourceChange, ctx: &AccountContext, m: &Masking) -> (String, String) {
    let (before, after) = m.apply_change(c);
    let y = |r: &Option<Resource>| {
        r.as_ref()
            .map(|r| resource_yaml(r, ctx))
            .unwrap_or_default()
    };
    let before = y(&before);
    let mut after = y(&after);
    if c.tag_only {
        after = before.clone();
    }
    (before, after)
}

/// The sign of a change (`+`, `~`, `-`) and what happens to it, e.g.
/// `will be created` (the header line is `SIGN ADDRESS WHAT`).
pub fn verb(c: &ResourceChange) -> (&'static str, String) {
    match c.action {
        Action::Create => ("+", "will be created".to_string()),
        Action::Delete => ("-", "will be destroyed".to_string()),
        Action::Update => match &c.takeover_from {
            Some(other) => (
                "~",
                format!("will be TAKEN OVER from trackingId \"{other}\" and updated in place"),
            ),
            None if c.tag_only => (
                "~",
                "will be tagged ecschedule:tracking-id (no other change)".to_string(),
            ),
            None => ("~", "will be updated in place".to_string()),
        },
    }
}

fn header(c: &ResourceChange) -> (String, Style) {
    let style = match c.action {
        Action::Create => Style::new().green(),
        Action::Delete => Style::new().red(),
        Action::Update if c.takeover_from.is_some() => Style::new().magenta(),
        Action::Update => Style::new().yellow(),
    };
    let (sign, what) = verb(c);
    (format!("{sign} {} {what}", c.address), style)
}

/// The changed lines of a change with 3 lines of context, one per line as
/// `SIGN TEXT` (sign `-`, `+` or a space), groups separated by `  ...`.
/// Colours (as the terminal allows) only with `color`.
pub fn diff_lines(c: &ResourceChange, ctx: &AccountContext, m: &Masking, color: bool) -> String {
    let (before, after) = sides(c, ctx, m);
    let diff = TextDiff::from_lines(&before, &after);
    let red = Style::new().red();
    let green = Style::new().green();
    let mut out = String::new();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push_str("  ...\n");
        }
        for op in group {
            for change in diff.iter_inline_changes(op) {
                let (sign, st) = match change.tag() {
                    ChangeTag::Delete => ("-", Some(&red)),
                    ChangeTag::Insert => ("+", Some(&green)),
                    ChangeTag::Equal => (" ", None),
                };
                let st = st.filter(|_| color);
                let mut line = String::new();
                for (emph, text) in change.iter_strings_lossy() {
                    let text = text.trim_end_matches('\n');
                    match st {
                        Some(s) if emph => {
                            line.push_str(&s.clone().bold().underlined().apply_to(text).to_string())
                        }
                        Some(s) => line.push_str(&s.apply_to(text).to_string()),
                        None => line.push_str(text),
                    }
                }
                match st {
                    Some(s) => out.push_str(&format!("{} {line}\n", s.apply_to(sign))),
                    None => out.push_str(&format!("{sign} {line}\n")),
                }
            }
        }
    }
    out
}

/// The fire-time preview as lines (`fires before: …`, `fires after:  …`).
pub fn fire_lines(p: &fire::Preview) -> Vec<String> {
    let both = p.before.is_some() && p.after.is_some();
    let mut out = Vec::new();
    if let Some(b) = &p.before {
        out.push(format!("fires before: {}", fire::format_firing(b)));
    }
    if let Some(a) = &p.after {
        let label = if both {
            "fires after: "
        } else {
            "fires after:"
        };
        out.push(format!("{label} {}", fire::format_firing(a)));
    }
    out
}

/// Human text of one change: header, notes, changed lines with 3 lines of
/// context, and (from `now`) the next fire times before → after.
pub fn change_text(
    c: &ResourceChange,
    ctx: &AccountContext,
    m: &Masking,
    now: Option<DateTime<Utc>>,
) -> String {
    let (head, style) = header(c);
    let mut out = format!("{}\n", style.apply_to(head).bold());
    for n in &c.notes {
        out.push_str(&format!("  ! {n}\n"));
    }
    for line in diff_lines(c, ctx, m, true).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if let Some(p) = now.and_then(|t| c.fire_preview(t)) {
        for line in fire_lines(&p) {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// `diff -u` text for one change (plain; no colour unless asked). Always ends
/// with a newline (or is empty).
pub fn unified_text(c: &ResourceChange, ctx: &AccountContext, m: &Masking, color: bool) -> String {
    let (before, after) = sides(c, ctx, m);
    let old = if c.before.is_some() {
        format!("a/{}", c.address)
    } else {
        "null".to_string()
    };
    let new = if c.after.is_some() {
        format!("b/{}", c.address)
    } else {
        "null".to_string()
    };
    let mut text = TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !color {
        return text;
    }
    text.lines()
        .map(|l| {
            if l.starts_with("---") || l.starts_with("+++") {
                Style::new().cyan().apply_to(l).to_string()
            } else if l.starts_with('-') {
                Style::new().red().apply_to(l).to_string()
            } else if l.starts_with('+') {
                Style::new().green().apply_to(l).to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// `Plan: X to add, Y to change, Z to destroy.` or `No changes.`
pub fn summary(plan: &Plan) -> String {
    let (a, c, d) = plan.counts();
    let tags = match plan.tag_only_count() {
        0 => String::new(),
        1 => " apply will add the ecschedule:tracking-id tag to 1 resource that lacks it."
            .to_string(),
        n => {
            format!(" apply will add the ecschedule:tracking-id tag to {n} resources that lack it.")
        }
    };
    let takeovers = plan.takeovers().len();
    let takeover = match (takeovers, plan.takeover) {
        (0, _) => String::new(),
        (n, true) => {
            format!(" {n} of the changes take over resources of another trackingId (--takeover).")
        }
        (n, false) => format!(
            " {n} of the changes would take over resources of another trackingId: apply refuses this plan unless it is made with --takeover."
        ),
    };
    if a + c + d == 0 {
        format!("No changes. Live state matches the configuration.{tags}")
    } else {
        format!("Plan: {a} to add, {c} to change, {d} to destroy.{tags}{takeover}")
    }
}

/// What `diff` and direct `apply` print: `(stdout, stderr)`. The changes go to
/// stdout (a pure unified diff with `unified`); what is left alone and the
/// summary line go to stdout with `summary_on_stdout` (apply), else to stderr
/// (diff, and always with `unified`, so the diff pipes cleanly).
pub fn changes_output(
    plan: &Plan,
    m: &Masking,
    now: Option<DateTime<Utc>>,
    unified: bool,
    summary_on_stdout: bool,
) -> (String, String) {
    if !unified && summary_on_stdout {
        return (plan_text(plan, m, now), String::new());
    }
    let ctx = plan.context();
    let now = plan.preview_time(now);
    let text: String = plan
        .changes
        .iter()
        .map(|c| match unified {
            true => unified_text(c, &ctx, m, console::colors_enabled()),
            false => change_text(c, &ctx, m, now) + "\n",
        })
        .collect();
    let left_alone = left_alone_text(plan);
    match unified {
        true => (text, format!("{left_alone}{}", summary(plan))),
        false => (text + &left_alone, summary(plan)),
    }
}

/// The "left alone" list: what the plan sees and does not touch, with why
/// (first what `--prune` would delete). Empty when nothing is left alone.
pub fn left_alone_text(plan: &Plan) -> String {
    let all = plan.left_alone_sorted();
    if all.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "Left alone ({}; counted in neither add, change nor destroy):\n",
        all.len()
    );
    for l in all {
        out.push_str(&format!("  {}: {}\n", l.address, l.reason));
    }
    out.push('\n');
    out
}

/// The line `show` prints above a saved plan: where it comes from.
pub fn show_header(plan: &Plan, file: &str) -> String {
    format!(
        "Plan {file} made {} by ecsched {} for account {} in {} ({}), config {}\n\n",
        plan.created_at,
        plan.tool_version,
        plan.account_id,
        plan.region,
        plan.partition,
        plan.config_path,
    )
}

/// The whole human view of a plan: the changes (fire times from `now`, else
/// the plan time), what it leaves alone, the summary.
pub fn plan_text(plan: &Plan, m: &Masking, now: Option<DateTime<Utc>>) -> String {
    let ctx = plan.context();
    let now = plan.preview_time(now);
    let mut out = String::new();
    for c in &plan.changes {
        out.push_str(&change_text(c, &ctx, m, now));
        out.push('\n');
    }
    out.push_str(&left_alone_text(plan));
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

/// The `show --json` document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanJson {
    /// Version of this document's format (`2.0`).
    pub format_version: String,
    pub ecsched_version: String,
    /// Random id of the plan; `apply` tags every rule it writes with it (`ecsched:plan-id`).
    pub plan_id: String,
    /// When the plan was made (RFC 3339 UTC).
    pub timestamp: String,
    /// The time the `fire_times` count from (RFC 3339 UTC): the plan time
    /// unless `--now`/`ECSCHED_NOW` says otherwise; null when unknown.
    pub fire_times_from: Option<String>,
    pub account_id: String,
    pub partition: String,
    pub region: String,
    pub cluster_arn: String,
    pub tracking_id: String,
    pub config: ConfigJson,
    pub selection: super::PlanSelection,
    pub resource_changes: Vec<ResourceChangeJson>,
    /// What the plan sees and does not touch, and why (with `--all`); in
    /// neither add, change nor destroy.
    pub left_alone: Vec<LeftAloneJson>,
    pub summary: SummaryJson,
    /// Fingerprints of the live state the plan was computed against (absent = null).
    pub fingerprints: Vec<FingerprintJson>,
    /// True when applying would change something.
    pub applyable: bool,
    /// Always true: ecsched plans are never partial.
    pub complete: bool,
    pub errored: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigJson {
    pub path: String,
    /// SHA-256 of the rendered config.
    pub digest: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SummaryJson {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    /// Resources identical to the config that apply only tags with the tracking tag.
    pub tag_only: usize,
    /// Changes that take over resources managed for another trackingId.
    pub takeover: usize,
    /// Resources left alone (see `left_alone`).
    pub left_alone: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FingerprintJson {
    pub address: String,
    pub digest: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ResourceChangeJson {
    /// `rule.NAME`, `rule.BUS/NAME` or `schedule.GROUP/NAME`.
    pub address: String,
    /// `ecsched_rule` or `ecsched_schedule`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub change: ChangeJson,
    /// The live rule has no tracking tag and will be adopted (tagged).
    pub adopts_unmanaged: bool,
    /// Only the tracking tag is added; nothing else changes.
    pub tag_only: bool,
    /// The live resource is managed for this other trackingId: applying takes it
    /// over (refused unless the plan was made with `--takeover`).
    pub takeover_from: Option<String>,
    pub notes: Vec<String>,
    /// The next fire times under the old and the new definition, when the
    /// change can change them (null otherwise).
    pub fire_times: Option<FireTimesJson>,
}

/// A rule's or a schedule's attributes, flat (the kind is the change's `type`).
#[allow(clippy::large_enum_variant)] // a view of few resources, as `Resource`
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ResourceJson {
    Rule(Rule),
    Schedule(Schedule),
}

impl From<Resource> for ResourceJson {
    fn from(r: Resource) -> ResourceJson {
        match r {
            Resource::Rule(r) => ResourceJson::Rule(r),
            Resource::Schedule(s) => ResourceJson::Schedule(s),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeJson {
    /// `["create"]`, `["update"]` or `["delete"]`.
    pub actions: Vec<String>,
    /// Normalised live state, flat (null for creates). Secret-looking values
    /// read `(sensitive value)`.
    pub before: Option<ResourceJson>,
    /// Normalised desired state, flat (null for deletes). A masked value that
    /// changes reads `(sensitive value changed)`.
    pub after: Option<ResourceJson>,
    /// `before`'s shape with `true` at each sensitive value (`false` for null).
    pub before_sensitive: Value,
    /// `after`'s shape with `true` at each sensitive value (`false` for null).
    pub after_sensitive: Value,
}

/// Next fire times (RFC 3339, in the definition's timezone) before and after
/// a change; a side is null when the resource does not exist on it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FireTimesJson {
    pub before: Option<Vec<String>>,
    pub after: Option<Vec<String>>,
    pub before_timezone: Option<String>,
    pub after_timezone: Option<String>,
    /// Why the old definition never fires (`disabled`, `ended …`, …), if so.
    pub before_never: Option<String>,
    /// Why the new definition never fires, if so.
    pub after_never: Option<String>,
}

impl FireTimesJson {
    pub fn new(p: &fire::Preview) -> FireTimesJson {
        let times = |f: &Option<fire::Firing>| {
            f.as_ref()
                .map(|f| f.times.iter().map(fire::rfc3339).collect())
        };
        let tz = |f: &Option<fire::Firing>| f.as_ref().map(|f| f.timezone.clone());
        let never = |f: &Option<fire::Firing>| {
            f.as_ref()
                .and_then(|f| f.never.as_ref())
                .map(ToString::to_string)
        };
        FireTimesJson {
            before: times(&p.before),
            after: times(&p.after),
            before_timezone: tz(&p.before),
            after_timezone: tz(&p.after),
            before_never: never(&p.before),
            after_never: never(&p.after),
        }
    }
}

/// A resource the plan leaves alone.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LeftAloneJson {
    pub address: String,
    /// `ecsched_rule` or `ecsched_schedule`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `would_prune`, `foreign_targets`, `unmanaged`, `other_tracking_id`,
    /// `default_group`, `unmanaged_group` or `group_of_other`.
    pub reason: String,
    /// The reason for people.
    pub message: String,
    /// Managed for this trackingId and undeclared: `--prune` deletes it.
    pub would_prune: bool,
    /// The schedule group, for the group reasons.
    pub group: Option<String>,
    /// The other trackingId, for `other_tracking_id` and `group_of_other`.
    pub tracking_id: Option<String>,
}

fn left_alone_json(l: &super::LeftAlone) -> LeftAloneJson {
    use super::LeftAloneReason as R;
    let (group, tracking_id) = match &l.reason {
        R::UnmanagedGroup { group } => (Some(group.clone()), None),
        R::GroupOfOther { group, tracking_id } => (Some(group.clone()), Some(tracking_id.clone())),
        R::OtherTrackingId { tracking_id } => (None, Some(tracking_id.clone())),
        R::DefaultGroup => (Some(crate::model::DEFAULT_SCHEDULE_GROUP.to_string()), None),
        R::WouldPrune | R::ForeignTargets { .. } | R::Unmanaged => (None, None),
    };
    LeftAloneJson {
        address: l.address.to_string(),
        kind: format!("ecsched_{}", l.address.kind()),
        name: l.address.name().to_string(),
        reason: l.reason.code().to_string(),
        message: l.reason.to_string(),
        would_prune: l.reason.would_prune(),
        group,
        tracking_id,
    }
}

/// The `show --json` document; fire times from `now`, else the plan time.
pub fn plan_json(plan: &Plan, m: &Masking, now: Option<DateTime<Utc>>) -> PlanJson {
    let (add, change, destroy) = plan.counts();
    let now = plan.preview_time(now);
    let marks = |r: &Option<Resource>| {
        r.as_ref()
            .map_or(Value::Bool(false), |r| m.sensitive_marks(r))
    };
    PlanJson {
        format_version: JSON_FORMAT_VERSION.to_string(),
        ecsched_version: plan.tool_version.clone(),
        plan_id: plan.plan_id.clone(),
        timestamp: plan.created_at.clone(),
        fire_times_from: now.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        account_id: plan.account_id.clone(),
        partition: plan.partition.clone(),
        region: plan.region.clone(),
        cluster_arn: plan.cluster_arn.clone(),
        tracking_id: plan.tracking_id.clone(),
        config: ConfigJson {
            path: plan.config_path.clone(),
            digest: plan.config_digest.clone(),
        },
        selection: plan.selection.clone(),
        resource_changes: plan
            .changes
            .iter()
            .map(|c| {
                let (before, after) = m.apply_change(c);
                ResourceChangeJson {
                    address: c.address.to_string(),
                    kind: format!("ecsched_{}", c.address.kind()),
                    name: c.address.name().to_string(),
                    change: ChangeJson {
                        actions: vec![c.action.as_str().to_string()],
                        before_sensitive: marks(&c.before),
                        after_sensitive: marks(&c.after),
                        before: before.map(ResourceJson::from),
                        after: after.map(ResourceJson::from),
                    },
                    adopts_unmanaged: c.adopts_unmanaged,
                    tag_only: c.tag_only,
                    takeover_from: c.takeover_from.clone(),
                    notes: c.notes.clone(),
                    fire_times: now
                        .and_then(|t| c.fire_preview(t))
                        .map(|p| FireTimesJson::new(&p)),
                }
            })
            .collect(),
        left_alone: plan
            .left_alone_sorted()
            .into_iter()
            .map(left_alone_json)
            .collect(),
        summary: SummaryJson {
            add,
            change,
            destroy,
            tag_only: plan.tag_only_count(),
            takeover: plan.takeovers().len(),
            left_alone: plan.left_alone.len(),
        },
        fingerprints: plan
            .fingerprints
            .iter()
            .map(|f| FingerprintJson {
                address: f.address.to_string(),
                digest: f.digest.clone(),
            })
            .collect(),
        applyable: plan.has_work(),
        complete: true,
        errored: false,
    }
}

/// JSON Schema of the `show --json` document (`schemas/plan.schema.json`).
pub fn plan_schema() -> serde_json::Value {
    serde_json::Value::from(schemars::schema_for!(PlanJson))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_patterns() {
        let m = Masking {
            patterns: vec!["*PASSWORD*".into(), "*KEY*".into(), "EXACT".into()],
            show_sensitive: false,
        };
        assert!(m.is_sensitive("db_password"));
        assert!(m.is_sensitive("API_KEY_ID"));
        assert!(m.is_sensitive("exact"));
        assert!(!m.is_sensitive("EXACTLY"));
        assert!(!m.is_sensitive("HOST"));
    }

    use crate::model::{ContainerOverride, RetryPolicy, State, Target, TaskOverrides};

    fn rule_with_env(env: &[(&str, &str)]) -> Rule {
        Rule {
            name: "db".into(),
            event_bus: "default".into(),
            description: String::new(),
            schedule_expression: "cron(0 10 * * ? *)".into(),
            state: State::Enabled,
            role_arn: None,
            event_pattern: None,
            tags: Default::default(),
            targets: vec![Target {
                id: "db".into(),
                ecs: EcsTarget {
                    task_count: 1,
                    task_definition_arn: "arn:aws:ecs:r:1:task-definition/job:1".into(),
                    overrides: TaskOverrides {
                        containers: vec![ContainerOverride {
                            name: "app".into(),
                            environment: env
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                            ..ContainerOverride::default()
                        }],
                        ..TaskOverrides::default()
                    },
                    ..EcsTarget::default()
                },
                dead_letter_arn: None,
                retry_policy: RetryPolicy::default(),
            }],
        }
    }

    fn password_change() -> Plan {
        let before = rule_with_env(&[("DB_PASSWORD", "hunter2"), ("MODE", "a")]);
        let after = rule_with_env(&[("DB_PASSWORD", "correct horse"), ("MODE", "a")]);
        Plan {
            plan_id: "p".into(),
            tool_version: "0.1.0".into(),
            created_at: "2026-12-01T12:00:00Z".into(),
            account_id: "123456789012".into(),
            partition: "aws".into(),
            region: "ap-northeast-1".into(),
            cluster_arn: "arn:aws:ecs:ap-northeast-1:123456789012:cluster/app".into(),
            tracking_id: "app".into(),
            config_path: "ecsched.yaml".into(),
            config_digest: String::new(),
            selection: Default::default(),
            changes: vec![ResourceChange {
                address: before.address(),
                action: Action::Update,
                before: Some(Resource::Rule(before)),
                after: Some(Resource::Rule(after)),
                adopts_unmanaged: false,
                takeover_from: None,
                tag_only: false,
                notes: vec![],
            }],
            fingerprints: vec![],
            managed_seen: vec![],
            takeover: false,
            left_alone: vec![],
            lock: None,
        }
    }

    #[test]
    fn a_changed_masked_value_shows_as_changed_without_its_value() {
        console::set_colors_enabled(false);
        let plan = password_change();
        let m = Masking::new(&[], false);
        let text = plan_text(&plan, &m, None);
        assert!(
            text.contains("  -     DB_PASSWORD: (sensitive value)\n  +     DB_PASSWORD: (sensitive value changed)\n"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("correct horse"),
            "{text}"
        );
        // The firing does not change: no fire times.
        assert!(!text.contains("fires"), "{text}");
        let ctx = plan.context();
        let u = unified_text(&plan.changes[0], &ctx, &m, false);
        assert!(
            u.contains(
                "-    DB_PASSWORD: (sensitive value)\n+    DB_PASSWORD: (sensitive value changed)\n"
            ),
            "{u}"
        );
        // With --show-sensitive the values themselves show.
        let shown = plan_text(&plan, &Masking::new(&[], true), None);
        assert!(shown.contains("correct horse"), "{shown}");
    }

    #[test]
    fn json_marks_sensitive_values_and_shows_that_they_changed() {
        let plan = password_change();
        let m = Masking::new(&[], false);
        let doc = serde_json::to_value(plan_json(&plan, &m, None)).unwrap();
        let change = &doc["resource_changes"][0]["change"];
        let env = |side: &str| {
            change[side]["targets"][0]["ecs"]["overrides"]["containers"][0]["environment"].clone()
        };
        assert_eq!(
            env("before"),
            json!({"DB_PASSWORD": "(sensitive value)", "MODE": "a"})
        );
        assert_eq!(
            env("after"),
            json!({"DB_PASSWORD": "(sensitive value changed)", "MODE": "a"})
        );
        assert_ne!(
            change["before"], change["after"],
            "a policy sees the change"
        );
        let marks = json!({"targets": [{"ecs": {"overrides": {"containers": [{"environment": {"DB_PASSWORD": true}}]}}}]});
        assert_eq!(change["before_sensitive"], marks);
        assert_eq!(change["after_sensitive"], marks);
        assert!(!doc.to_string().contains("hunter2"));
        // Flat attributes: no {"Rule": …} wrapper.
        assert_eq!(change["after"]["schedule_expression"], "cron(0 10 * * ? *)");
        assert_eq!(doc["format_version"], JSON_FORMAT_VERSION);
    }

    #[test]
    fn sensitive_names_of_a_plan() {
        let plan = password_change();
        assert_eq!(
            Masking::new(&[], false).sensitive_names(&plan),
            ["DB_PASSWORD"]
        );
        assert!(Masking::new(&[], true).plan_has_sensitive(&plan));
        assert!(!Masking::new(&["NOTHING".into()], false).plan_has_sensitive(&plan));
    }

    #[test]
    fn checked_in_plan_schema_is_current() {
        let want = serde_json::to_string_pretty(&plan_schema()).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/plan.schema.json");
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "schemas/plan.schema.json is stale: run `cargo run -- schema --plan > schemas/plan.schema.json`"
        );
    }
}
