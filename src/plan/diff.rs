//! The change set, computed by a pure function from the desired state and the
//! live state (as plan-local `LiveResource`s; this module never sees SDK types
//! and never calls AWS). Ownership rules: prune deletes only resources managed
//! for this trackingId; a same-named unmanaged resource is adopted, and said so.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{
    Action, Fingerprint, LeftAlone, LeftAloneReason, LiveResource, PlanSelection, Resource,
    ResourceChange,
};
use crate::model::{Address, DEFAULT_SCHEDULE_GROUP, DesiredState, Rule, Schedule};

/// Everything the planner decides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSet {
    pub changes: Vec<ResourceChange>,
    pub fingerprints: Vec<Fingerprint>,
    pub managed_seen: Vec<Address>,
    /// What the plan sees on the cluster and leaves alone (with `--all`).
    pub left_alone: Vec<LeftAlone>,
    /// Things the user should know that are not changes.
    pub warnings: Vec<String>,
}

/// A selection that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no rule named \"{name}\" in the config{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownRule { name: String, hint: Option<String> },
    #[error("no schedule named \"{name}\" in the config{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownSchedule { name: String, hint: Option<String> },
    #[error(
        "--prune needs --all: with a partial selection it would delete every other managed resource"
    )]
    PruneNeedsAll,
    #[error("nothing selected: pass --all, --rule NAME or --schedule NAME")]
    NothingSelected,
    #[error("--all cannot be combined with --rule/--schedule")]
    AllAndNames,
}

impl PlanSelection {
    /// The checks that need no config: the combination of flags. Run before
    /// anything else (no AWS call on a usage error).
    pub fn check(&self) -> Result<(), SelectError> {
        let partial = !self.rules.is_empty() || !self.schedules.is_empty();
        if self.all && partial {
            return Err(SelectError::AllAndNames);
        }
        if !self.all && !partial {
            return Err(SelectError::NothingSelected);
        }
        if self.prune && !self.all {
            return Err(SelectError::PruneNeedsAll);
        }
        Ok(())
    }
}

/// The rule named `name` in `desired`, or an error with a "did you mean".
pub fn find_rule<'a>(desired: &'a DesiredState, name: &str) -> Result<&'a Rule, SelectError> {
    desired
        .rules
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| SelectError::UnknownRule {
            name: name.to_string(),
            hint: crate::suggest::suggest(name, desired.rules.iter().map(|r| r.name.as_str())),
        })
}

/// The schedule named `name` in `desired`, or an error with a "did you mean".
pub fn find_schedule<'a>(
    desired: &'a DesiredState,
    name: &str,
) -> Result<&'a Schedule, SelectError> {
    desired
        .schedules
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| SelectError::UnknownSchedule {
            name: name.to_string(),
            hint: crate::suggest::suggest(name, desired.schedules.iter().map(|s| s.name.as_str())),
        })
}

/// What `selection` picks from `desired` (the one home of selection rules).
pub fn select<'a>(
    desired: &'a DesiredState,
    selection: &PlanSelection,
) -> Result<(Vec<&'a Rule>, Vec<&'a Schedule>), SelectError> {
    selection.check()?;
    if selection.all {
        return Ok((
            desired.rules.iter().collect(),
            desired.schedules.iter().collect(),
        ));
    }
    let mut rules = Vec::new();
    for name in &selection.rules {
        rules.push(find_rule(desired, name)?);
    }
    let mut schedules = Vec::new();
    for name in &selection.schedules {
        schedules.push(find_schedule(desired, name)?);
    }
    Ok((rules, schedules))
}

/// True when `live` is managed for `tracking_id`: a rule carrying the tag, or
/// a schedule in a (non-default) group carrying it.
pub fn is_managed(live: &LiveResource, tracking_id: &str) -> bool {
    if live.tracking_id.as_deref() != Some(tracking_id) {
        return false;
    }
    !matches!(live.resource.address(), Address::Schedule { group, .. } if group == DEFAULT_SCHEDULE_GROUP)
}

/// The resources managed for `tracking_id` among `live`, sorted: what prune may
/// delete, and what a pruning plan records to detect changes of ownership.
pub fn managed_set(live: &[LiveResource], tracking_id: &str) -> Vec<Address> {
    let set: BTreeSet<Address> = live
        .iter()
        .filter(|l| is_managed(l, tracking_id))
        .map(|l| l.resource.address())
        .collect();
    set.into_iter().collect()
}

/// Why a single resource cannot be deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteRefusal {
    #[error(
        "{address} is not managed for trackingId \"{tracking_id}\" ({why}); pass --force to delete it anyway"
    )]
    NotManaged {
        address: Address,
        tracking_id: String,
        why: String,
    },
    #[error("{address} has targets ecsched does not manage ({targets}); remove them first")]
    ForeignTargets { address: Address, targets: String },
}

/// The change that deletes one live resource (`delete --rule/--schedule`):
/// only a managed one unless `force`, never one with foreign targets.
pub fn delete_one(
    live: &LiveResource,
    tracking_id: &str,
    force: bool,
) -> Result<(ResourceChange, Fingerprint), DeleteRefusal> {
    let address = live.resource.address();
    if !is_managed(live, tracking_id) && !force {
        let whose = if matches!(address, Address::Schedule { .. }) {
            "its schedule group"
        } else {
            "it"
        };
        let why = match live.tracking_id.as_deref() {
            None => format!("{whose} has no ecschedule:tracking-id tag"),
            Some(t) if t == tracking_id => {
                format!("{whose} is the default group, which ecsched never manages")
            }
            Some(t) => format!("{whose} is managed for \"{t}\""),
        };
        return Err(DeleteRefusal::NotManaged {
            address,
            tracking_id: tracking_id.to_string(),
            why,
        });
    }
    if !live.foreign_targets.is_empty() {
        return Err(DeleteRefusal::ForeignTargets {
            address,
            targets: live.foreign_targets.join(", "),
        });
    }
    Ok((
        ResourceChange {
            address: address.clone(),
            action: Action::Delete,
            before: Some(live.resource.clone()),
            after: None,
            adopts_unmanaged: false,
            takeover_from: None,
            tag_only: false,
            notes: Vec::new(),
        },
        Fingerprint {
            address,
            digest: Some(live.fingerprint.clone()),
        },
    ))
}

/// Inputs of `compute`.
pub struct DiffInput<'a> {
    pub desired: &'a DesiredState,
    /// Rules whose config declares `tags:` (only then are tags compared).
    pub rules_with_tags: &'a HashSet<String>,
    pub live: &'a [LiveResource],
    /// Declared groups without live schedules (see [`super::GroupSeen`]).
    pub groups: &'a [super::GroupSeen],
    pub selection: &'a PlanSelection,
}

/// Keeps what the live resource has that the config cannot express (an event
/// pattern next to the schedule, Input keys ecsched does not model), so that a
/// write never drops it silently; returns what was kept, for the plan's notes.
fn keep_unmodelled(want: &mut Resource, have: &Resource) -> Vec<String> {
    fn keep_overrides(
        want: &mut crate::model::TaskOverrides,
        have: &crate::model::TaskOverrides,
        kept: &mut Vec<String>,
    ) {
        if want.extra.is_none() && have.extra.is_some() {
            want.extra = have.extra.clone();
            kept.push(format!(
                "Input {}",
                have.extra.as_deref().unwrap_or_default()
            ));
        }
        for c in &mut want.containers {
            if let Some(h) = have.containers.iter().find(|h| h.name == c.name)
                && c.extra.is_none()
                && h.extra.is_some()
            {
                c.extra = h.extra.clone();
                kept.push(format!(
                    "container {} override {}",
                    c.name,
                    h.extra.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    let mut kept = Vec::new();
    match (want, have) {
        (Resource::Rule(w), Resource::Rule(h)) => {
            if w.event_pattern.is_none() && h.event_pattern.is_some() {
                w.event_pattern = h.event_pattern.clone();
                kept.push("the rule's EventPattern".to_string());
            }
            for t in &mut w.targets {
                if let Some(ht) = h.targets.iter().find(|ht| ht.id == t.id) {
                    keep_overrides(&mut t.ecs.overrides, &ht.ecs.overrides, &mut kept);
                }
            }
        }
        (Resource::Schedule(w), Resource::Schedule(h)) => {
            keep_overrides(&mut w.ecs.overrides, &h.ecs.overrides, &mut kept);
        }
        _ => {}
    }
    kept
}

/// Why a live resource that is not declared is left alone.
fn unmanaged_reason(have: &LiveResource, tracking: &str) -> LeftAloneReason {
    let address = have.resource.address();
    match (&address, have.tracking_id.as_deref()) {
        (Address::Schedule { group, .. }, _) if group == DEFAULT_SCHEDULE_GROUP => {
            LeftAloneReason::DefaultGroup
        }
        (Address::Schedule { group, .. }, None) => LeftAloneReason::UnmanagedGroup {
            group: group.clone(),
        },
        (Address::Schedule { group, .. }, Some(other)) => LeftAloneReason::GroupOfOther {
            group: group.clone(),
            tracking_id: other.to_string(),
        },
        (Address::Rule { .. }, None) => LeftAloneReason::Unmanaged,
        (Address::Rule { .. }, Some(other)) if other != tracking => {
            LeftAloneReason::OtherTrackingId {
                tracking_id: other.to_string(),
            }
        }
        // Managed for us: only reached for managed resources that are kept.
        (Address::Rule { .. }, Some(_)) => LeftAloneReason::Unmanaged,
    }
}

/// What creating a schedule does to its (non-default) group, as the read
/// found it (a live schedule in it, else the group itself): nothing to say
/// when it is managed for this trackingId; otherwise that apply creates it
/// (tagged for this trackingId), that it is not managed, or that it is another
/// trackingId's — where apply refuses to create a schedule.
fn create_group_note(
    address: &Address,
    live: &BTreeMap<Address, &LiveResource>,
    groups: &[super::GroupSeen],
    tracking: &str,
) -> Option<String> {
    let Address::Schedule { group, .. } = address else {
        return None;
    };
    if group == DEFAULT_SCHEDULE_GROUP {
        return None;
    }
    let owner = live
        .iter()
        .find_map(|(a, l)| match a {
            Address::Schedule { group: g, .. } if g == group => Some(Some(l.tracking_id.clone())),
            _ => None,
        })
        .or_else(|| {
            groups
                .iter()
                .find(|g| g.group == *group)
                .map(|g| g.exists.clone())
        });
    match owner {
        Some(Some(Some(t))) if t == tracking => None,
        Some(Some(Some(other))) => Some(format!(
            "its schedule group \"{group}\" is managed for trackingId \"{other}\": apply refuses to create a schedule in it (declare another group)"
        )),
        Some(Some(None)) => Some(format!(
            "its schedule group \"{group}\" is not managed by ecsched: the schedule is created but never pruned (ecsched claim-group makes it managed)"
        )),
        Some(None) => Some(format!(
            "creates its schedule group \"{group}\", tagged for trackingId \"{tracking}\""
        )),
        // Not read (a plan made without the group read): what apply will do.
        None => Some(format!(
            "creates its schedule group \"{group}\" (tagged for trackingId \"{tracking}\") unless it exists; apply refuses a group managed for another trackingId"
        )),
    }
}

/// Computes the change set.
pub fn compute(input: &DiffInput<'_>) -> Result<ChangeSet, SelectError> {
    let (rules, schedules) = select(input.desired, input.selection)?;
    let tracking = &input.desired.tracking_id;
    let live: BTreeMap<Address, &LiveResource> = input
        .live
        .iter()
        .map(|l| (l.resource.address(), l))
        .collect();
    let mut out = ChangeSet::default();
    let mut desired_addresses = BTreeSet::new();

    let wanted: Vec<Resource> = rules
        .into_iter()
        .map(|r| Resource::Rule(r.clone()))
        .chain(schedules.into_iter().map(|s| Resource::Schedule(s.clone())))
        .collect();
    for mut want in wanted {
        let address = want.address();
        desired_addresses.insert(address.clone());
        let Some(have) = live.get(&address) else {
            out.fingerprints.push(Fingerprint {
                address: address.clone(),
                digest: None,
            });
            let notes = create_group_note(&address, &live, input.groups, tracking)
                .into_iter()
                .collect();
            out.changes.push(ResourceChange {
                address,
                action: Action::Create,
                before: None,
                after: Some(want),
                adopts_unmanaged: false,
                takeover_from: None,
                tag_only: false,
                notes,
            });
            continue;
        };
        // Tags are managed only where the config declares them.
        if let (Resource::Rule(w), Resource::Rule(h)) = (&mut want, &have.resource)
            && !input.rules_with_tags.contains(&w.name)
        {
            w.tags = h.tags.clone();
        }
        let kept = keep_unmodelled(&mut want, &have.resource);
        let is_rule = matches!(address, Address::Rule { .. });
        // A rule tagged for another trackingId, or a schedule in a group tagged
        // for one, belongs to another config: never taken over silently.
        let takeover_from = have
            .tracking_id
            .as_deref()
            .filter(|t| *t != tracking.as_str())
            .map(str::to_string);
        // Only rules carry the tracking tag. Scheduler cannot tag schedules;
        // ownership is the group's tag, set only on groups ecsched creates
        // (tagging an existing group would claim every schedule in it).
        let untagged_rule = is_rule && have.tracking_id.is_none();
        let same = want == have.resource;
        if same && !untagged_rule && takeover_from.is_none() {
            continue;
        }
        let mut notes = Vec::new();
        if !have.foreign_targets.is_empty() {
            notes.push(format!(
                "targets not managed by ecsched are kept: {}",
                have.foreign_targets.join(", ")
            ));
        }
        if !kept.is_empty() {
            notes.push(format!(
                "live settings ecsched does not model are kept as they are: {}",
                kept.join("; ")
            ));
        }
        // A state the config cannot write shows no line in the config-form diff.
        if let (Resource::Rule(w), Resource::Rule(h)) = (&want, &have.resource)
            && !h.state.is_expressible()
            && w.state != h.state
        {
            notes.push(format!(
                "its live state {} becomes {} (a config says enabled or disabled only)",
                h.state.as_aws(),
                w.state.as_aws()
            ));
        }
        match (&takeover_from, is_rule) {
            (Some(other), true) => notes.push(format!(
                "TAKEOVER: it is managed for trackingId \"{other}\"; applying takes it over for \"{tracking}\" (refused unless planned with --takeover)"
            )),
            (Some(other), false) => notes.push(format!(
                "TAKEOVER: its schedule group is managed for trackingId \"{other}\"; applying overwrites it for \"{tracking}\" (refused unless planned with --takeover)"
            )),
            (None, false) if !is_managed(have, tracking) => notes.push(
                "its schedule group is not managed by ecsched: the schedule is updated but never pruned (ecsched claim-group makes it managed)"
                    .to_string(),
            ),
            _ => {}
        }
        if untagged_rule {
            notes.push(
                "exists but is not managed by ecsched/ecschedule (no ecschedule:tracking-id tag): it will be adopted"
                    .to_string(),
            );
        }
        out.fingerprints.push(Fingerprint {
            address: address.clone(),
            digest: Some(have.fingerprint.clone()),
        });
        out.changes.push(ResourceChange {
            address,
            action: Action::Update,
            before: Some(have.resource.clone()),
            after: Some(want),
            adopts_unmanaged: untagged_rule,
            tag_only: same && takeover_from.is_none(),
            takeover_from,
            notes,
        });
    }

    if input.selection.prune {
        out.managed_seen = managed_set(input.live, tracking);
    }
    for (address, have) in &live {
        if desired_addresses.contains(address) {
            continue;
        }
        if !is_managed(have, tracking) {
            // Only on the cluster: what ecsched leaves alone, said out loud.
            if input.selection.all && target_count(have) > 0 {
                out.left_alone.push(LeftAlone {
                    address: address.clone(),
                    reason: unmanaged_reason(have, tracking),
                });
            }
            continue;
        }
        if !have.foreign_targets.is_empty() {
            if input.selection.all {
                out.left_alone.push(LeftAlone {
                    address: address.clone(),
                    reason: LeftAloneReason::ForeignTargets {
                        targets: have.foreign_targets.join(", "),
                    },
                });
            }
            continue;
        }
        if !input.selection.prune {
            if input.selection.all {
                out.left_alone.push(LeftAlone {
                    address: address.clone(),
                    reason: LeftAloneReason::WouldPrune,
                });
            }
            continue;
        }
        out.fingerprints.push(Fingerprint {
            address: address.clone(),
            digest: Some(have.fingerprint.clone()),
        });
        out.changes.push(ResourceChange {
            address: address.clone(),
            action: Action::Delete,
            before: Some(have.resource.clone()),
            after: None,
            adopts_unmanaged: false,
            takeover_from: None,
            tag_only: false,
            notes: Vec::new(),
        });
    }
    Ok(out)
}

/// ECS targets of ours on a live rule (1 for a schedule).
fn target_count(have: &LiveResource) -> usize {
    match &have.resource {
        Resource::Rule(r) => r.targets.len(),
        Resource::Schedule(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountContext, desired};

    fn ctx() -> AccountContext {
        AccountContext {
            account_id: "123456789012".into(),
            partition: "aws".into(),
            region: "ap-northeast-3".into(),
        }
    }

    /// The desired state of a config text (parsed as plain YAML: the planner's
    /// tests need no templates or validation).
    fn desired_from(text: &str) -> DesiredState {
        let doc: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        let raw = serde_json::from_value(doc).unwrap();
        desired::build(&raw, &ctx())
    }

    const CONFIG: &str = "cluster: c\nrules:\n- name: a\n  scheduleExpression: rate(1 day)\n  taskDefinition: td\n- name: b\n  scheduleExpression: rate(2 days)\n  taskDefinition: td\n";

    fn live_of(d: &DesiredState, name: &str, tracking: Option<&str>) -> LiveResource {
        let r = d.rules.iter().find(|r| r.name == name).unwrap().clone();
        LiveResource {
            resource: Resource::Rule(r),
            tracking_id: tracking.map(str::to_string),
            plan_id: None,
            fingerprint: format!("fp-{name}"),
            foreign_targets: vec![],
        }
    }

    fn run(
        d: &DesiredState,
        live: &[LiveResource],
        sel: PlanSelection,
    ) -> Result<ChangeSet, SelectError> {
        compute(&DiffInput {
            desired: d,
            rules_with_tags: &HashSet::new(),
            live,
            groups: &[],
            selection: &sel,
        })
    }

    fn all(prune: bool) -> PlanSelection {
        PlanSelection {
            all: true,
            prune,
            ..PlanSelection::default()
        }
    }

    #[test]
    fn in_sync_managed_rules_plan_no_changes() {
        let d = desired_from(CONFIG);
        let live = vec![live_of(&d, "a", Some("c")), live_of(&d, "b", Some("c"))];
        let cs = run(&d, &live, all(true)).unwrap();
        assert!(cs.changes.is_empty());
        assert_eq!(cs.managed_seen.len(), 2);
    }

    #[test]
    fn missing_rule_is_created_with_absent_fingerprint() {
        let d = desired_from(CONFIG);
        let live = vec![live_of(&d, "a", Some("c"))];
        let cs = run(&d, &live, all(false)).unwrap();
        assert_eq!(cs.changes.len(), 1);
        assert_eq!(cs.changes[0].action, Action::Create);
        assert_eq!(cs.fingerprints[0].digest, None);
    }

    #[test]
    fn changed_expression_is_an_update_with_fingerprint() {
        let d = desired_from(CONFIG);
        let mut l = live_of(&d, "a", Some("c"));
        if let Resource::Rule(r) = &mut l.resource {
            r.schedule_expression = "rate(3 days)".into();
        }
        let cs = run(&d, &[l, live_of(&d, "b", Some("c"))], all(false)).unwrap();
        assert_eq!(cs.changes.len(), 1);
        assert_eq!(cs.changes[0].action, Action::Update);
        assert!(!cs.changes[0].tag_only);
        assert_eq!(cs.fingerprints[0].digest.as_deref(), Some("fp-a"));
    }

    #[test]
    fn untagged_identical_rule_is_adopted_by_tagging() {
        let d = desired_from(CONFIG);
        let live = vec![live_of(&d, "a", None), live_of(&d, "b", Some("c"))];
        let cs = run(&d, &live, all(false)).unwrap();
        assert_eq!(cs.changes.len(), 1);
        assert!(cs.changes[0].tag_only && cs.changes[0].adopts_unmanaged);
    }

    #[test]
    fn prune_deletes_only_rules_managed_for_this_tracking_id() {
        let d = desired_from(
            "cluster: c\nrules:\n- name: a\n  scheduleExpression: rate(1 day)\n  taskDefinition: td\n",
        );
        let other = desired_from(CONFIG);
        let live = vec![live_of(&d, "a", Some("c")), live_of(&other, "b", Some("c"))];
        let mut neighbour = live_of(&other, "b", Some("other"));
        if let Resource::Rule(r) = &mut neighbour.resource {
            r.name = "n1".into();
        }
        let mut untagged = live_of(&other, "b", None);
        if let Resource::Rule(r) = &mut untagged.resource {
            r.name = "n2".into();
        }
        let mut live = live;
        live.push(neighbour);
        live.push(untagged);
        let cs = run(&d, &live, all(true)).unwrap();
        let deleted: Vec<String> = cs
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.address.to_string())
            .collect();
        assert_eq!(deleted, ["rule.b"]);
        // without --prune nothing is deleted
        let cs = run(&d, &live, all(false)).unwrap();
        assert!(cs.changes.is_empty());
    }

    #[test]
    fn prune_with_partial_selection_is_refused() {
        let d = desired_from(CONFIG);
        let sel = PlanSelection {
            rules: vec!["a".into()],
            prune: true,
            ..PlanSelection::default()
        };
        assert_eq!(run(&d, &[], sel), Err(SelectError::PruneNeedsAll));
    }

    #[test]
    fn unknown_rule_name_suggests() {
        let d = desired_from(CONFIG);
        let sel = PlanSelection {
            rules: vec!["aa".into()],
            ..PlanSelection::default()
        };
        let e = run(&d, &[], sel).unwrap_err().to_string();
        assert!(e.contains("no rule named \"aa\""), "{e}");
    }

    #[test]
    fn tags_are_compared_only_when_declared() {
        let d = desired_from(CONFIG);
        let mut l = live_of(&d, "a", Some("c"));
        if let Resource::Rule(r) = &mut l.resource {
            r.tags.insert("team".into(), "x".into());
        }
        let cs = run(&d, &[l.clone(), live_of(&d, "b", Some("c"))], all(false)).unwrap();
        assert!(cs.changes.is_empty());
        let with: HashSet<String> = ["a".to_string()].into();
        let cs = compute(&DiffInput {
            desired: &d,
            rules_with_tags: &with,
            live: &[l],
            groups: &[],
            selection: &PlanSelection {
                rules: vec!["a".into()],
                ..PlanSelection::default()
            },
        })
        .unwrap();
        assert_eq!(cs.changes.len(), 1);
    }

    #[test]
    fn a_rule_of_another_tracking_id_is_a_takeover_not_a_tag_only_change() {
        let d = desired_from(CONFIG);
        let live = vec![
            live_of(&d, "a", Some("someone-else")),
            live_of(&d, "b", Some("c")),
        ];
        let cs = run(&d, &live, all(false)).unwrap();
        assert_eq!(cs.changes.len(), 1);
        let c = &cs.changes[0];
        assert_eq!(c.takeover_from.as_deref(), Some("someone-else"));
        assert!(!c.tag_only, "a takeover is a change");
        assert!(!c.adopts_unmanaged);
        assert!(
            c.notes.iter().any(|n| n.starts_with("TAKEOVER")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn with_all_the_plan_lists_what_it_leaves_alone() {
        let d = desired_from(
            "cluster: c\nrules:\n- name: a\n  scheduleExpression: rate(1 day)\n  taskDefinition: td\n",
        );
        let other = desired_from(CONFIG);
        let mut hand = live_of(&other, "b", None);
        if let Resource::Rule(r) = &mut hand.resource {
            r.name = "by-hand".into();
        }
        let mut theirs = live_of(&other, "b", Some("other"));
        if let Resource::Rule(r) = &mut theirs.resource {
            r.name = "theirs".into();
        }
        let live = vec![
            live_of(&d, "a", Some("c")),
            live_of(&other, "b", Some("c")),
            hand,
            theirs,
        ];
        let reasons = |cs: &ChangeSet| -> Vec<(String, String)> {
            cs.left_alone
                .iter()
                .map(|l| (l.address.to_string(), l.reason.to_string()))
                .collect()
        };
        let cs = run(&d, &live, all(false)).unwrap();
        assert_eq!(
            reasons(&cs),
            [
                (
                    "rule.b".to_string(),
                    "managed, no longer in the config: would be deleted with --prune".to_string()
                ),
                (
                    "rule.by-hand".to_string(),
                    "not managed by ecsched (no ecschedule:tracking-id tag)".to_string()
                ),
                (
                    "rule.theirs".to_string(),
                    "managed for another trackingId (\"other\")".to_string()
                ),
            ]
        );
        // With --prune, b is deleted and no longer "left alone".
        let cs = run(&d, &live, all(true)).unwrap();
        assert_eq!(cs.left_alone.len(), 2);
        assert_eq!(cs.changes.len(), 1);
        // A partial selection lists nothing.
        let sel = PlanSelection {
            rules: vec!["a".into()],
            ..PlanSelection::default()
        };
        assert!(run(&d, &live, sel).unwrap().left_alone.is_empty());
    }

    #[test]
    fn a_schedule_create_says_what_happens_to_its_group() {
        let d = desired_from(
            "cluster: c\nschedules:\n\
             - name: new\n  group: g\n  scheduleExpression: rate(1 day)\n  taskDefinition: td\n\
             - name: plain\n  scheduleExpression: rate(1 day)\n  taskDefinition: td\n",
        );
        // A live schedule in group g owned as given (None: no group seen at all).
        let notes = |owner: Option<Option<&str>>| -> Vec<Vec<String>> {
            let live: Vec<LiveResource> = owner
                .map(|tracking| {
                    let mut s = d
                        .schedules
                        .iter()
                        .find(|s| s.name == "new")
                        .unwrap()
                        .clone();
                    s.name = "other".into();
                    LiveResource {
                        resource: Resource::Schedule(s),
                        tracking_id: tracking.map(str::to_string),
                        plan_id: None,
                        fingerprint: "fp".into(),
                        foreign_targets: vec![],
                    }
                })
                .into_iter()
                .collect();
            let sel = PlanSelection {
                schedules: vec!["new".into(), "plain".into()],
                ..PlanSelection::default()
            };
            run(&d, &live, sel)
                .unwrap()
                .changes
                .into_iter()
                .map(|c| c.notes)
                .collect()
        };
        // The default group never gets a note; a group of ours needs none.
        assert_eq!(notes(Some(Some("c"))), [Vec::<String>::new(), vec![]]);
        assert_eq!(
            notes(None)[0],
            [
                "creates its schedule group \"g\" (tagged for trackingId \"c\") unless it exists; \
              apply refuses a group managed for another trackingId"
            ]
        );
        assert!(notes(Some(Some("other")))[0][0].contains(
            "is managed for trackingId \"other\": apply refuses to create a schedule in it"
        ));
        assert!(notes(Some(None))[0][0].contains("is not managed by ecsched"));
        assert!(notes(None)[1].is_empty());
        // No live schedule in the group, but the group itself was read.
        let address = Address::Schedule {
            group: "g".into(),
            name: "new".into(),
        };
        let seen = |exists| {
            let groups = [crate::plan::GroupSeen {
                group: "g".into(),
                exists,
            }];
            create_group_note(&address, &BTreeMap::new(), &groups, "c")
        };
        assert_eq!(
            seen(None).as_deref(),
            Some("creates its schedule group \"g\", tagged for trackingId \"c\"")
        );
        assert_eq!(seen(Some(Some("c".into()))), None);
        assert!(
            seen(Some(Some("x".into())))
                .is_some_and(|n| n.contains("managed for trackingId \"x\": apply refuses"))
        );
        assert!(seen(Some(None)).is_some_and(|n| n.contains("is not managed by ecsched")));
    }
}
