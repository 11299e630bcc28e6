//! Plans: the change set computed by a pure function from desired and live
//! state (`diff`), the payload bound into a plan file (`file`), fingerprints,
//! and the views of a plan (human text, JSON). Never imports `aws`; no I/O
//! except reading/writing plan files in `file`.

pub mod claim;
pub mod diff;
pub mod fields;
pub mod file;
pub mod markdown;
pub mod view;

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Address, DEFAULT_EVENT_BUS, DesiredState, Rule, Schedule, fire};

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// A rule or a schedule, in normalised form. (Not boxed: plans hold few of
/// them and the size difference does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Resource {
    Rule(Rule),
    Schedule(Schedule),
}

impl Resource {
    pub fn address(&self) -> Address {
        match self {
            Resource::Rule(r) => r.address(),
            Resource::Schedule(s) => s.address(),
        }
    }

    /// What decides when it fires.
    pub fn fire_spec(&self) -> fire::FireSpec {
        match self {
            Resource::Rule(r) => fire::FireSpec::of_rule(r),
            Resource::Schedule(s) => fire::FireSpec::of_schedule(s),
        }
    }
}

impl ResourceChange {
    /// The next fire times before and after this change, from `now`; `None`
    /// when its firing cannot change (tag-only adoptions, other fields only).
    pub fn fire_preview(&self, now: chrono::DateTime<chrono::Utc>) -> Option<fire::Preview> {
        if self.tag_only {
            return None;
        }
        let before = self.before.as_ref().map(Resource::fire_spec);
        let after = self.after.as_ref().map(Resource::fire_spec);
        fire::preview(before.as_ref(), after.as_ref(), now, fire::PREVIEW_COUNT)
    }
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    pub before: Option<Resource>,
    pub after: Option<Resource>,
    /// The live rule lacks the tracking tag: applying adopts it (tags it).
    /// Reported before it is overwritten.
    pub adopts_unmanaged: bool,
    /// The live resource is managed for this other trackingId (a rule's tag,
    /// a schedule's group tag): applying takes it over, which is refused unless
    /// the plan was made with `--takeover`.
    pub takeover_from: Option<String>,
    /// Only the tracking tag is missing; nothing else differs.
    pub tag_only: bool,
    /// Free-form remarks shown with the change (foreign targets kept, ...).
    pub notes: Vec<String>,
}

/// The fingerprint of one resource's live state: `None` means absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fingerprint {
    pub address: Address,
    pub digest: Option<String>,
}

/// What the plan was made for (`--all` / `--rule` / `--schedule`, `--prune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct PlanSelection {
    pub all: bool,
    pub rules: Vec<String>,
    pub schedules: Vec<String>,
    pub prune: bool,
}

/// Everything a saved plan binds (the bincode payload of a plan file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Random id of this plan (hex). Apply tags every rule it writes with it
    /// (`ecsched:plan-id`), so a plan that was applied is recognised and refused.
    pub plan_id: String,
    pub tool_version: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub account_id: String,
    pub partition: String,
    pub region: String,
    pub cluster_arn: String,
    pub tracking_id: String,
    pub config_path: String,
    /// SHA-256 (hex) of the rendered config.
    pub config_digest: String,
    pub selection: PlanSelection,
    pub changes: Vec<ResourceChange>,
    /// Live fingerprints of every resource the plan touches (creates: absent).
    pub fingerprints: Vec<Fingerprint>,
    /// Managed resources seen when planning with --prune (sorted).
    pub managed_seen: Vec<Address>,
    /// Consent to take over resources managed for another trackingId
    /// (`--takeover`); without it, a plan with a takeover is refused.
    pub takeover: bool,
    /// What the plan saw on the cluster and leaves alone, and why (`--all`).
    pub left_alone: Vec<LeftAlone>,
    /// The lock location (`s3://BUCKET/KEY`) `apply` takes for this plan: the
    /// config's `lock:` or `--lock` at plan time.
    pub lock: Option<String>,
}

/// A resource the plan sees and does not touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeftAlone {
    pub address: Address,
    pub reason: LeftAloneReason,
}

/// Why a resource is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LeftAloneReason {
    /// Managed for this trackingId but no longer declared: `--prune` deletes it.
    WouldPrune,
    /// Managed and undeclared, but it also has targets ecsched does not manage.
    ForeignTargets { targets: String },
    /// A rule without the tracking tag (made by hand, or by another tool).
    Unmanaged,
    /// A rule managed for another trackingId (another config).
    OtherTrackingId { tracking_id: String },
    /// A schedule in the `default` group, which ecsched never manages.
    DefaultGroup,
    /// A schedule in a group ecsched did not create (`claim-group` claims it).
    UnmanagedGroup { group: String },
    /// A schedule in a group managed for another trackingId.
    GroupOfOther { group: String, tracking_id: String },
}

impl LeftAloneReason {
    /// True for managed resources that `--prune` would delete.
    pub fn would_prune(&self) -> bool {
        matches!(self, LeftAloneReason::WouldPrune)
    }

    /// A stable code for machines (`show --json`).
    pub fn code(&self) -> &'static str {
        match self {
            LeftAloneReason::WouldPrune => "would_prune",
            LeftAloneReason::ForeignTargets { .. } => "foreign_targets",
            LeftAloneReason::Unmanaged => "unmanaged",
            LeftAloneReason::OtherTrackingId { .. } => "other_tracking_id",
            LeftAloneReason::DefaultGroup => "default_group",
            LeftAloneReason::UnmanagedGroup { .. } => "unmanaged_group",
            LeftAloneReason::GroupOfOther { .. } => "group_of_other",
        }
    }
}

impl Plan {
    /// What the plan leaves alone: first what `--prune` would delete, then
    /// the rest, each by address.
    pub fn left_alone_sorted(&self) -> Vec<&LeftAlone> {
        let mut all: Vec<&LeftAlone> = self.left_alone.iter().collect();
        all.sort_by_key(|l| (!l.reason.would_prune(), l.address.clone()));
        all
    }
}

impl std::fmt::Display for LeftAloneReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeftAloneReason::WouldPrune => {
                f.write_str("managed, no longer in the config: would be deleted with --prune")
            }
            LeftAloneReason::ForeignTargets { targets } => write!(
                f,
                "managed, no longer in the config, but it also has targets ecsched does not manage ({targets}): never pruned"
            ),
            LeftAloneReason::Unmanaged => {
                f.write_str("not managed by ecsched (no ecschedule:tracking-id tag)")
            }
            LeftAloneReason::OtherTrackingId { tracking_id } => {
                write!(f, "managed for another trackingId (\"{tracking_id}\")")
            }
            LeftAloneReason::DefaultGroup => {
                f.write_str("in the default schedule group, which ecsched never manages")
            }
            LeftAloneReason::UnmanagedGroup { group } => write!(
                f,
                "in schedule group \"{group}\", which ecsched did not create (ecsched claim-group {group} makes it managed)"
            ),
            LeftAloneReason::GroupOfOther { group, tracking_id } => write!(
                f,
                "in schedule group \"{group}\", managed for another trackingId (\"{tracking_id}\")"
            ),
        }
    }
}

/// One live resource as the planner and the executor see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveResource {
    pub resource: Resource,
    /// The tracking tag of the rule (or of a schedule's group).
    pub tracking_id: Option<String>,
    /// The `ecsched:plan-id` tag of a rule: the plan that wrote it last.
    pub plan_id: Option<String>,
    /// Digest of everything the read returned, modelled or not.
    pub fingerprint: String,
    /// Targets ecsched does not manage on this rule (kept untouched).
    pub foreign_targets: Vec<String>,
}

/// Something seen on the account that is not ecsched's business, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `rule NAME` or `schedule GROUP/NAME`.
    pub what: String,
    pub reason: String,
}

/// The result of reading live state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveRead {
    pub resources: Vec<LiveResource>,
    pub skipped: Vec<Skipped>,
    /// Declared schedule groups in which no live schedule was read: whether
    /// each exists and who manages it (what a create there would meet).
    pub groups: Vec<GroupSeen>,
}

/// A schedule group as a plan read found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSeen {
    pub group: String,
    /// `None`: the group does not exist; `Some(tracking)`: it does, tagged
    /// for that trackingId (or untagged).
    pub exists: Option<Option<String>>,
}

/// What to read from AWS: for a plan, everything on the cluster plus what the
/// config declares; for checking a plan, exactly the resources it touches
/// (plus everything on the cluster when it prunes, to compare the managed set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadScope {
    pub cluster_arn: String,
    /// List everything that targets the cluster (on `buses`, and in Scheduler).
    pub list: bool,
    /// Event buses to list (always including the default bus).
    pub buses: Vec<String>,
    /// Resources to read whatever they target.
    pub addresses: Vec<Address>,
    /// Read who owns each schedule (its group's tags). Off only for the
    /// read-back after a write, which compares the definition: a write never
    /// changes a group's tags, and the tag APIs have a low quota.
    pub owners: bool,
}

impl ReadScope {
    fn buses<'a>(addresses: impl IntoIterator<Item = &'a Address>) -> Vec<String> {
        let mut buses: Vec<String> = addresses
            .into_iter()
            .filter_map(|a| match a {
                Address::Rule { event_bus, .. } => Some(event_bus.clone()),
                Address::Schedule { .. } => None,
            })
            .collect();
        buses.push(DEFAULT_EVENT_BUS.to_string());
        buses.sort();
        buses.dedup();
        buses
    }

    /// For planning `desired`.
    pub fn for_desired(desired: &DesiredState) -> ReadScope {
        let addresses: Vec<Address> = desired
            .rules
            .iter()
            .map(Rule::address)
            .chain(desired.schedules.iter().map(Schedule::address))
            .collect();
        ReadScope {
            cluster_arn: desired.cluster_arn.clone(),
            list: true,
            buses: ReadScope::buses(&addresses),
            addresses,
            owners: true,
        }
    }

    /// Everything on the cluster, nothing named (`dump`, the managed set).
    pub fn cluster(cluster_arn: &str) -> ReadScope {
        ReadScope {
            cluster_arn: cluster_arn.to_string(),
            list: true,
            buses: vec![DEFAULT_EVENT_BUS.to_string()],
            addresses: Vec::new(),
            owners: true,
        }
    }

    /// For checking `plan`: the touched resources; with prune also everything
    /// on the cluster.
    pub fn for_plan(plan: &Plan) -> ReadScope {
        let addresses: Vec<Address> = plan
            .fingerprints
            .iter()
            .map(|f| f.address.clone())
            .collect();
        ReadScope {
            cluster_arn: plan.cluster_arn.clone(),
            list: plan.selection.prune,
            buses: ReadScope::buses(addresses.iter().chain(&plan.managed_seen)),
            addresses,
            owners: true,
        }
    }

    /// Exactly these resources.
    pub fn only(cluster_arn: &str, addresses: Vec<Address>) -> ReadScope {
        ReadScope {
            cluster_arn: cluster_arn.to_string(),
            list: false,
            buses: ReadScope::buses(&addresses),
            addresses,
            owners: true,
        }
    }

    /// The same scope without schedule owners (see `owners`).
    pub fn definitions_only(mut self) -> ReadScope {
        self.owners = false;
        self
    }
}

impl Plan {
    /// The account, partition and region the plan was made for.
    pub fn context(&self) -> crate::model::AccountContext {
        crate::model::AccountContext {
            account_id: self.account_id.clone(),
            partition: self.partition.clone(),
            region: self.region.clone(),
        }
    }

    /// The changes that take over another trackingId's resources.
    pub fn takeovers(&self) -> Vec<&ResourceChange> {
        self.changes
            .iter()
            .filter(|c| c.takeover_from.is_some())
            .collect()
    }

    /// (add, change, destroy), not counting tag-only adoptions.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |a: Action| {
            self.changes
                .iter()
                .filter(|c| c.action == a && !c.tag_only)
                .count()
        };
        (n(Action::Create), n(Action::Update), n(Action::Delete))
    }

    /// Resources identical to the config that only lack the tracking tag.
    pub fn tag_only_count(&self) -> usize {
        self.changes.iter().filter(|c| c.tag_only).count()
    }

    /// True when a resource definition changes. A config that `dump` produced
    /// has none, even when apply will still add the tracking tag.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| !c.tag_only)
    }

    /// True when applying would write anything (tag-only adoptions included).
    pub fn has_work(&self) -> bool {
        !self.changes.is_empty()
    }

    /// What makes the plan's changes disagree with its own views or its
    /// fingerprints, so that applying it could write what `show` does not
    /// show (a plan file edited by hand, or a planner bug). The planner never
    /// makes such a plan; `apply` refuses one. Empty when consistent.
    pub fn inconsistencies(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for c in &self.changes {
            let a = &c.address;
            if !seen.insert(a) {
                out.push(format!("{a} is changed twice"));
            }
            let digest = self.fingerprints.iter().find(|f| &f.address == a);
            let shape_ok = match c.action {
                Action::Create => {
                    c.before.is_none()
                        && c.after.is_some()
                        && digest.is_some_and(|f| f.digest.is_none())
                }
                Action::Update => {
                    c.before.is_some()
                        && c.after.is_some()
                        && digest.is_some_and(|f| f.digest.is_some())
                }
                Action::Delete => {
                    c.before.is_some()
                        && c.after.is_none()
                        && digest.is_some_and(|f| f.digest.is_some())
                }
            };
            if !shape_ok {
                out.push(format!(
                    "{a}: its {} does not match its before/after states or its fingerprint",
                    c.action.as_str()
                ));
            }
            let resource_address =
                |r: &Option<Resource>| r.as_ref().is_none_or(|r| &r.address() == a);
            if !resource_address(&c.before) || !resource_address(&c.after) {
                out.push(format!("{a}: its states are of another resource"));
            }
            if c.tag_only && (c.action != Action::Update || c.before != c.after) {
                out.push(format!(
                    "{a} is marked tag-only (shown as no change) but its states differ"
                ));
            }
        }
        out
    }

    /// The time fire-time previews count from: `now` when given (`--now`,
    /// `ECSCHED_NOW`), else the plan time, so that `show` is reproducible.
    /// `None` when neither is readable (no preview then).
    pub fn preview_time(
        &self,
        now: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        now.or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&self.created_at)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        })
    }
}
