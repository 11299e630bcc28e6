//! Views of a plan: the human text (`+`/`~`/`-`, changed lines with context,
//! the `Plan: X to add, Y to change, Z to destroy.` summary), unified diffs for
//! `diff -u`, and the versioned JSON document of `show --json`, shaped like
//! `terraform show -json`. Secret-looking environment values are masked here.

use console::Style;
use schemars::JsonSchema;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::{Action, Plan, Resource, ResourceChange};
use crate::model::{AccountContext, DEFAULT_ROLE, dump};

/// Version of the JSON document; bump the major on incompatible changes.
pub const JSON_FORMAT_VERSION: &str = "1.0";

const MASK: &str = "(sensitive value)";

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

    fn mask_target(&self, e: &mut crate::model::EcsTarget) {
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
        match &mut r {
            Resource::Rule(rule) => {
                for t in &mut rule.targets {
                    self.mask_target(&mut t.ecs);
                }
            }
            Resource::Schedule(s) => self.mask_target(&mut s.ecs),
        }
        r
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
    let y = |r: &Option<Resource>| {
        r.as_ref()
            .map(|r| resource_yaml(&m.apply(r), ctx))
            .unwrap_or_default()
    };
    let before = y(&c.before);
    let mut after = y(&c.after);
    if c.tag_only {
        after = before.clone();
    }
    (before, after)
}

fn header(c: &ResourceChange) -> (String, Style) {
    match c.action {
        Action::Create => (
            format!("+ {} will be created", c.address),
            Style::new().green(),
        ),
        Action::Delete => (
            format!("- {} will be destroyed", c.address),
            Style::new().red(),
        ),
        Action::Update if c.takeover_from.is_some() => (
            format!(
                "~ {} will be TAKEN OVER from trackingId \"{}\" and updated in place",
                c.address,
                c.takeover_from.as_deref().unwrap_or_default()
            ),
            Style::new().magenta(),
        ),
        Action::Update if c.tag_only => (
            format!(
                "~ {} will be tagged ecschedule:tracking-id (no other change)",
                c.address
            ),
            Style::new().yellow(),
        ),
        Action::Update => (
            format!("~ {} will be updated in place", c.address),
            Style::new().yellow(),
        ),
    }
}

/// Human text of one change: header, notes, changed lines with 3 lines of context.
pub fn change_text(c: &ResourceChange, ctx: &AccountContext, m: &Masking) -> String {
    let (head, style) = header(c);
    let mut out = format!("{}\n", style.apply_to(head).bold());
    for n in &c.notes {
        out.push_str(&format!("  ! {n}\n"));
    }
    let (before, after) = sides(c, ctx, m);
    let diff = TextDiff::from_lines(&before, &after);
    let red = Style::new().red();
    let green = Style::new().green();
    for (i, group) in diff.grouped_ops(3).iter().enumerate() {
        if i > 0 {
            out.push_str("    ...\n");
        }
        for op in group {
            for change in diff.iter_inline_changes(op) {
                let (sign, st) = match change.tag() {
                    ChangeTag::Delete => ("-", Some(&red)),
                    ChangeTag::Insert => ("+", Some(&green)),
                    ChangeTag::Equal => (" ", None),
                };
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
                    Some(s) => out.push_str(&format!("  {} {line}\n", s.apply_to(sign))),
                    None => out.push_str(&format!("  {sign} {line}\n")),
                }
            }
        }
    }
    out
}

/// `diff -u` text for one change (plain; no colour unless asked).
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
    let text = TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string();
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

/// The whole human view of a plan.
pub fn plan_text(plan: &Plan, m: &Masking) -> String {
    let ctx = plan_context(plan);
    let mut out = String::new();
    for c in &plan.changes {
        out.push_str(&change_text(c, &ctx, m));
        out.push('\n');
    }
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

pub fn plan_context(plan: &Plan) -> AccountContext {
    AccountContext {
        account_id: plan.account_id.clone(),
        partition: plan.partition.clone(),
        region: plan.region.clone(),
    }
}

/// The `show --json` document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanJson {
    /// Version of this document's format (`1.0`).
    pub format_version: String,
    pub ecsched_version: String,
    /// Random id of the plan; `apply` tags every rule it writes with it (`ecsched:plan-id`).
    pub plan_id: String,
    /// When the plan was made (RFC 3339 UTC).
    pub timestamp: String,
    pub account_id: String,
    pub partition: String,
    pub region: String,
    pub cluster_arn: String,
    pub tracking_id: String,
    pub config: ConfigJson,
    pub selection: super::PlanSelection,
    pub resource_changes: Vec<ResourceChangeJson>,
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
    /// The live resource is managed for this other trackingId: applying takes it
    /// over (refused unless the plan was made with `--takeover`).
    pub takeover_from: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeJson {
    /// `["create"]`, `["update"]` or `["delete"]`.
    pub actions: Vec<String>,
    /// Normalised live state (null for creates).
    pub before: Option<Resource>,
    /// Normalised desired state (null for deletes).
    pub after: Option<Resource>,
}

pub fn plan_json(plan: &Plan, m: &Masking) -> PlanJson {
    let (add, change, destroy) = plan.counts();
    PlanJson {
        format_version: JSON_FORMAT_VERSION.to_string(),
        ecsched_version: plan.tool_version.clone(),
        plan_id: plan.plan_id.clone(),
        timestamp: plan.created_at.clone(),
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
            .map(|c| ResourceChangeJson {
                address: c.address.to_string(),
                kind: format!("ecsched_{}", c.address.kind()),
                name: c.address.name().to_string(),
                change: ChangeJson {
                    actions: vec![c.action.as_str().to_string()],
                    before: c.before.as_ref().map(|r| m.apply(r)),
                    after: c.after.as_ref().map(|r| m.apply(r)),
                },
                adopts_unmanaged: c.adopts_unmanaged,
                takeover_from: c.takeover_from.clone(),
                notes: c.notes.clone(),
            })
            .collect(),
        summary: SummaryJson {
            add,
            change,
            destroy,
            tag_only: plan.tag_only_count(),
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
