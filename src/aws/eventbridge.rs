//! EventBridge rules and their targets: listing, reading, writing, deleting.
//! Owns the two read strategies — a listing per bus (ListRules +
//! ListRuleNamesByTarget) for everything on a cluster, or DescribeRule per named
//! rule — which give the same record and the same fingerprint; then targets and
//! tags per rule, in parallel. Owns the order of writes within a rule
//! (PutRule, with the tags when it creates the rule → PutTargets →
//! RemoveTargets → tags). Never passes `Limit` to
//! ListTargetsByRule (moto loops forever on it; AWS caps rules at five targets
//! anyway) and never touches targets that are not ours.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput;
use aws_sdk_eventbridge::types as t;
use tokio::task::JoinSet;

use super::convert::{self, ReadTarget};
use super::error::{AwsError, AwsResult};
use super::fingerprint::{Fingerprint, sorted};
use super::gate::{Gate, Op};
use super::live::{LiveRule, LiveRules, SkippedRule};
use super::paginate::PageTokens;
use crate::model::{
    AccountContext, DEFAULT_EVENT_BUS, Owner, PLAN_ID_TAG, Rule, TRACKING_TAG, arn,
};

/// AWS allows this many targets per rule.
const MAX_TARGETS_PER_RULE: usize = 5;
/// Page size of ListRules / ListRuleNamesByTarget (the API maximum).
const PAGE_SIZE: i32 = 100;

/// The rule itself, as ListRules and DescribeRule both report it (DescribeRule
/// has more, e.g. CreatedBy, which is left out so that both reads fingerprint
/// alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleEntry {
    name: String,
    arn: Option<String>,
    event_bus_name: Option<String>,
    description: Option<String>,
    schedule_expression: Option<String>,
    event_pattern: Option<String>,
    state: Option<String>,
    role_arn: Option<String>,
    managed_by: Option<String>,
}

impl RuleEntry {
    fn from_listed(r: &t::Rule) -> RuleEntry {
        RuleEntry {
            name: r.name().unwrap_or_default().to_string(),
            arn: r.arn().map(str::to_string),
            event_bus_name: r.event_bus_name().map(str::to_string),
            description: r.description().map(str::to_string),
            schedule_expression: r.schedule_expression().map(str::to_string),
            event_pattern: r.event_pattern().map(str::to_string),
            state: r.state().map(|s| s.as_str().to_string()),
            role_arn: r.role_arn().map(str::to_string),
            managed_by: r.managed_by().map(str::to_string),
        }
    }

    fn from_described(r: &DescribeRuleOutput) -> RuleEntry {
        RuleEntry {
            name: r.name().unwrap_or_default().to_string(),
            arn: r.arn().map(str::to_string),
            event_bus_name: r.event_bus_name().map(str::to_string),
            description: r.description().map(str::to_string),
            schedule_expression: r.schedule_expression().map(str::to_string),
            event_pattern: r.event_pattern().map(str::to_string),
            state: r.state().map(|s| s.as_str().to_string()),
            role_arn: r.role_arn().map(str::to_string),
            managed_by: r.managed_by().map(str::to_string),
        }
    }

    fn is_scheduled(&self) -> bool {
        self.schedule_expression
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    }
}

/// A rule as read from AWS, before conversion.
#[derive(Debug)]
pub(crate) struct RawRule {
    entry: RuleEntry,
    arn: String,
    bus: String,
    targets: Vec<t::Target>,
    tags: Vec<t::Tag>,
}

/// EventBridge operations (cheap to clone: the client and the gate are shared).
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    client: Client,
    gate: Arc<Gate>,
    ctx: AccountContext,
}

fn resource(bus: &str, name: &str) -> String {
    if bus == DEFAULT_EVENT_BUS {
        format!("rule \"{name}\"")
    } else {
        format!("rule \"{name}\" on event bus \"{bus}\"")
    }
}

fn not_found<E: aws_sdk_eventbridge::error::ProvideErrorMetadata>(
    e: &aws_sdk_eventbridge::error::SdkError<E, aws_sdk_eventbridge::config::http::HttpResponse>,
) -> bool {
    e.as_service_error()
        .and_then(aws_sdk_eventbridge::error::ProvideErrorMetadata::code)
        == Some("ResourceNotFoundException")
}

impl Rules {
    pub(crate) fn new(client: Client, gate: Arc<Gate>, ctx: AccountContext) -> Rules {
        Rules { client, gate, ctx }
    }

    // ---- primitive calls ------------------------------------------------------------

    /// Every rule on `bus` (whose name starts with `prefix`), deduplicated by name.
    pub(crate) async fn list_rules(
        &self,
        bus: &str,
        prefix: Option<&str>,
    ) -> AwsResult<Vec<t::Rule>> {
        let mut out: Vec<t::Rule> = Vec::new();
        let mut names = HashSet::new();
        let mut pages = PageTokens::default();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_rules()
                .event_bus_name(bus)
                .set_name_prefix(prefix.map(str::to_string))
                .limit(PAGE_SIZE)
                .set_next_token(token.take());
            let page = self
                .gate
                .call(Op::events("ListRules"), || req.clone().send())
                .await
                .map_err(|e| AwsError::api("ListRules", format!("event bus \"{bus}\""), e))?;
            for r in page.rules() {
                if names.insert(r.name().unwrap_or_default().to_string()) {
                    out.push(r.clone());
                }
            }
            match pages.next(page.next_token()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// DescribeRule; `None` when the rule does not exist.
    async fn describe_rule(&self, bus: &str, name: &str) -> AwsResult<Option<RuleEntry>> {
        let req = self.client.describe_rule().name(name).event_bus_name(bus);
        match self
            .gate
            .call(Op::events("DescribeRule"), || req.clone().send())
            .await
        {
            Ok(out) => Ok(Some(RuleEntry::from_described(&out))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(AwsError::api("DescribeRule", resource(bus, name), e)),
        }
    }

    /// Names of the rules on `bus` with a target whose ARN is `target_arn`.
    pub(crate) async fn rule_names_by_target(
        &self,
        bus: &str,
        target_arn: &str,
    ) -> AwsResult<HashSet<String>> {
        let mut out = HashSet::new();
        let mut pages = PageTokens::default();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_rule_names_by_target()
                .target_arn(target_arn)
                .event_bus_name(bus)
                .limit(PAGE_SIZE)
                .set_next_token(token.take());
            let page = self
                .gate
                .call(Op::events("ListRuleNamesByTarget"), || req.clone().send())
                .await
                .map_err(|e| {
                    AwsError::api(
                        "ListRuleNamesByTarget",
                        format!("target {target_arn} on event bus \"{bus}\""),
                        e,
                    )
                })?;
            out.extend(page.rule_names().iter().cloned());
            match pages.next(page.next_token()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// The targets of a rule, deduplicated by id; `None` when the rule is gone.
    pub(crate) async fn list_targets(
        &self,
        bus: &str,
        name: &str,
    ) -> AwsResult<Option<Vec<t::Target>>> {
        let mut out: Vec<t::Target> = Vec::new();
        let mut ids = HashSet::new();
        let mut pages = PageTokens::default();
        let mut token: Option<String> = None;
        loop {
            // No Limit: see the module doc.
            let req = self
                .client
                .list_targets_by_rule()
                .rule(name)
                .event_bus_name(bus)
                .set_next_token(token.take());
            let page = match self
                .gate
                .call(Op::events("ListTargetsByRule"), || req.clone().send())
                .await
            {
                Ok(p) => p,
                Err(e) if not_found(&e) => return Ok(None),
                Err(e) => return Err(AwsError::api("ListTargetsByRule", resource(bus, name), e)),
            };
            for x in page.targets() {
                if ids.insert(x.id().to_string()) {
                    out.push(x.clone());
                }
            }
            match pages.next(page.next_token()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(Some(out))
    }

    /// Tags of a rule; `None` when the rule is gone.
    async fn list_tags(&self, rule_arn: &str, res: &str) -> AwsResult<Option<Vec<t::Tag>>> {
        let req = self.client.list_tags_for_resource().resource_arn(rule_arn);
        match self
            .gate
            .call(Op::events("ListTagsForResource"), || req.clone().send())
            .await
        {
            Ok(out) => Ok(Some(out.tags().to_vec())),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(AwsError::api("ListTagsForResource", res, e)),
        }
    }

    /// Targets and tags of a listed rule, read concurrently; `None` when it is gone.
    async fn read_details(&self, entry: RuleEntry, bus: String) -> AwsResult<Option<RawRule>> {
        let rule_arn = entry
            .arn
            .clone()
            .unwrap_or_else(|| arn::rule(&entry.name, &bus, &self.ctx));
        let res = resource(&bus, &entry.name);
        let (targets, tags) = tokio::try_join!(
            self.list_targets(&bus, &entry.name),
            self.list_tags(&rule_arn, &res)
        )?;
        Ok(match (targets, tags) {
            (Some(targets), Some(tags)) => Some(RawRule {
                entry,
                arn: rule_arn,
                bus,
                targets,
                tags,
            }),
            _ => None,
        })
    }

    /// DescribeRule, targets and tags of a named rule, all three at once (a
    /// missing rule answers each with "not found"); `None` when it is absent.
    async fn read_named(&self, bus: String, name: String) -> AwsResult<Option<RawRule>> {
        let rule_arn = arn::rule(&name, &bus, &self.ctx);
        let res = resource(&bus, &name);
        let (entry, targets, tags) = tokio::try_join!(
            self.describe_rule(&bus, &name),
            self.list_targets(&bus, &name),
            self.list_tags(&rule_arn, &res)
        )?;
        Ok(match (entry, targets, tags) {
            (Some(entry), Some(targets), Some(tags)) => Some(RawRule {
                arn: entry.arn.clone().unwrap_or(rule_arn),
                entry,
                bus,
                targets,
                tags,
            }),
            _ => None,
        })
    }

    // ---- reads ------------------------------------------------------------------------

    /// Everything on the cluster (listing per bus) plus the named rules.
    pub(crate) async fn read_rules(
        &self,
        cluster_arn: &str,
        buses: &[String],
        names: &[(String, String)],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<LiveRules> {
        let mut bus_list: Vec<&str> = buses.iter().map(String::as_str).collect();
        if bus_list.is_empty() {
            bus_list.push(DEFAULT_EVENT_BUS);
        }
        bus_list.sort_unstable();
        bus_list.dedup();
        let wanted: HashSet<(&str, &str)> = names
            .iter()
            .map(|(bus, name)| (bus.as_str(), name.as_str()))
            .collect();

        let mut skipped = Vec::new();
        let mut jobs: Vec<(RuleEntry, String, bool)> = Vec::new();
        for bus in bus_list {
            let (entries, ours) = tokio::try_join!(
                self.list_rules(bus, None),
                self.rule_names_by_target(bus, cluster_arn)
            )?;
            for entry in entries {
                let entry = RuleEntry::from_listed(&entry);
                let name = entry.name.clone();
                let named = wanted.contains(&(bus, name.as_str()));
                if !named && !entry.is_scheduled() {
                    skipped.push(SkippedRule {
                        name,
                        reason: "event-pattern rule (ecsched manages scheduled rules only)"
                            .to_string(),
                    });
                } else if !named && !ours.contains(&name) {
                    skipped.push(SkippedRule {
                        name,
                        reason: format!("no target on cluster {cluster_arn}"),
                    });
                } else {
                    jobs.push((entry, bus.to_string(), named));
                }
            }
        }

        let total = jobs.len();
        progress(0, total);
        let mut set = JoinSet::new();
        for (entry, bus, named) in jobs {
            let me = self.clone();
            set.spawn(async move {
                let name = entry.name.clone();
                me.read_details(entry, bus)
                    .await
                    .map(|raw| (name, named, raw))
            });
        }
        let mut rules = Vec::new();
        let mut done = 0;
        while let Some(joined) = set.join_next().await {
            let (name, named, raw) =
                joined.map_err(|e| AwsError::Runtime(format!("reading rules stopped: {e}")))??;
            done += 1;
            progress(done, total);
            let Some(raw) = raw else {
                if !named {
                    skipped.push(SkippedRule {
                        name,
                        reason: "deleted while being read".to_string(),
                    });
                }
                continue;
            };
            if !named {
                if raw.targets.is_empty() {
                    skipped.push(SkippedRule {
                        name,
                        reason: "no targets".to_string(),
                    });
                    continue;
                }
                if !raw.targets.iter().any(|x| x.arn() == cluster_arn) {
                    let arns: Vec<&str> = raw.targets.iter().map(t::Target::arn).collect();
                    skipped.push(SkippedRule {
                        name,
                        reason: format!(
                            "targets only other clusters or services ({})",
                            arns.join(", ")
                        ),
                    });
                    continue;
                }
            }
            rules.push(live_rule(raw, cluster_arn));
        }
        rules.sort_by(|a, b| {
            (&a.rule.event_bus, &a.rule.name).cmp(&(&b.rule.event_bus, &b.rule.name))
        });
        skipped.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(LiveRules { rules, skipped })
    }

    /// Exactly the named rules (`(bus, name)`), in parallel, without listing:
    /// DescribeRule + ListTargetsByRule + ListTagsForResource each (the cheapest
    /// read of one rule). Absent rules are simply missing from the result.
    pub(crate) async fn read_named_rules(
        &self,
        cluster_arn: &str,
        names: &[(String, String)],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<Vec<LiveRule>> {
        let total = names.len();
        progress(0, total);
        let mut set = JoinSet::new();
        for (bus, name) in names {
            let me = self.clone();
            let (bus, name) = (bus.clone(), name.clone());
            set.spawn(async move { me.read_named(bus, name).await });
        }
        let mut rules = Vec::new();
        let mut done = 0;
        while let Some(joined) = set.join_next().await {
            let raw =
                joined.map_err(|e| AwsError::Runtime(format!("reading rules stopped: {e}")))??;
            done += 1;
            progress(done, total);
            if let Some(raw) = raw {
                rules.push(live_rule(raw, cluster_arn));
            }
        }
        rules.sort_by(|a, b| {
            (&a.rule.event_bus, &a.rule.name).cmp(&(&b.rule.event_bus, &b.rule.name))
        });
        Ok(rules)
    }

    /// One rule, exactly as `read_rules` reads it (same record, same
    /// fingerprint). `None` when it does not exist.
    pub(crate) async fn read_rule(
        &self,
        cluster_arn: &str,
        bus: &str,
        name: &str,
    ) -> AwsResult<Option<LiveRule>> {
        let raw = self.read_named(bus.to_string(), name.to_string()).await?;
        Ok(raw.map(|raw| live_rule(raw, cluster_arn)))
    }

    // ---- writes -----------------------------------------------------------------------

    /// Removes targets by id; `Ok(false)` when the rule does not exist.
    async fn remove_targets(&self, bus: &str, name: &str, ids: Vec<String>) -> AwsResult<bool> {
        let res = resource(bus, name);
        let req = self
            .client
            .remove_targets()
            .rule(name)
            .event_bus_name(bus)
            .set_ids(Some(ids));
        let out = match self
            .gate
            .call(Op::events("RemoveTargets"), || req.clone().send())
            .await
        {
            Ok(out) => out,
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(AwsError::api("RemoveTargets", &res, e)),
        };
        if out.failed_entry_count() > 0 {
            let details: Vec<String> = out
                .failed_entries()
                .iter()
                .map(|f| entry_failure(f.target_id(), f.error_code(), f.error_message()))
                .collect();
            return Err(AwsError::Rejected {
                operation: "RemoveTargets",
                resource: res,
                details: details.join("; "),
            });
        }
        Ok(true)
    }

    /// Writes a rule so that it reads back as `rule` with `owner`'s tags, writing
    /// only what differs from `live` (PutRule replaces the whole rule: it is sent
    /// only when the rule itself differs).
    pub(crate) async fn put_rule(
        &self,
        rule: &Rule,
        owner: &Owner,
        live: Option<&LiveRule>,
    ) -> AwsResult<()> {
        let (bus, name) = (rule.event_bus.as_str(), rule.name.as_str());
        let res = resource(bus, name);
        let mut done: Vec<String> = Vec::new();

        // What PutRule writes: the rule without its targets and tags (so a
        // field added to `Rule` is never silently left unwritten).
        let definition = |r: &Rule| Rule {
            tags: BTreeMap::new(),
            targets: Vec::new(),
            ..r.clone()
        };
        let rule_unchanged = live.is_some_and(|l| definition(&l.rule) == definition(rule));
        let targets_unchanged = live.is_some_and(|l| l.rule.targets == rule.targets);

        // User tags plus ours. A new rule is created with them, so it is never
        // seen without its owner (a run killed after PutRule leaves a rule that
        // is still ours, not one the next plan would show as an adoption).
        let mut wanted: BTreeMap<String, String> = rule.tags.clone();
        wanted.remove(TRACKING_TAG);
        wanted.remove(PLAN_ID_TAG);
        wanted.insert(TRACKING_TAG.to_string(), owner.tracking_id.clone());
        if let Some(id) = &owner.plan_id {
            wanted.insert(PLAN_ID_TAG.to_string(), id.clone());
        }
        let tags = wanted
            .iter()
            .map(|(k, v)| t::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::InvalidRequest {
                operation: "PutRule",
                resource: res.clone(),
                message: e.to_string(),
            })?;

        // 1. The rule itself. PutRule replaces it: fields left out are cleared
        //    (tags given to PutRule count only when it creates the rule).
        let mut put_arn = None;
        if !rule_unchanged {
            let req = self
                .client
                .put_rule()
                .name(name)
                .event_bus_name(bus)
                .set_description(Some(rule.description.clone()).filter(|d| !d.is_empty()))
                .schedule_expression(&rule.schedule_expression)
                .set_role_arn(rule.role_arn.clone())
                .set_event_pattern(rule.event_pattern.clone())
                .state(convert::eb::state_from_model(rule.state))
                .set_tags(live.is_none().then(|| tags.clone()));
            let out = self
                .gate
                .call(Op::events("PutRule"), || req.clone().send())
                .await
                .map_err(|e| AwsError::api("PutRule", &res, e))?;
            done.push("PutRule".to_string());
            put_arn = out.rule_arn().map(str::to_string);
        }
        let rule_arn = put_arn
            .or_else(|| live.map(|l| l.arn.clone()))
            .unwrap_or_else(|| arn::rule(name, bus, &self.ctx));

        // 2. Targets: put all, remove our ECS targets that are no longer declared.
        let declared: HashSet<&str> = rule.targets.iter().map(|x| x.id.as_str()).collect();
        let stale: Vec<String> = live
            .map(|l| {
                l.rule
                    .targets
                    .iter()
                    .filter(|x| !declared.contains(x.id.as_str()))
                    .map(|x| x.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        let foreign = live.map_or(0, |l| l.foreign_targets.len());
        // Putting first would briefly exceed AWS's limit: remove first then.
        let remove_first =
            !stale.is_empty() && declared.len() + stale.len() + foreign > MAX_TARGETS_PER_RULE;
        if remove_first {
            self.remove_targets(bus, name, stale.clone())
                .await
                .map_err(|e| e.after(&res, &done))?;
            done.push("RemoveTargets".to_string());
        }
        if !rule.targets.is_empty() && !targets_unchanged {
            let targets = rule
                .targets
                .iter()
                .map(convert::eb::target_from_model)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    AwsError::InvalidRequest {
                        operation: "PutTargets",
                        resource: res.clone(),
                        message: e.to_string(),
                    }
                    .after(&res, &done)
                })?;
            let req = self
                .client
                .put_targets()
                .rule(name)
                .event_bus_name(bus)
                .set_targets(Some(targets));
            let out = self
                .gate
                .call(Op::events("PutTargets"), || req.clone().send())
                .await
                .map_err(|e| AwsError::api("PutTargets", &res, e).after(&res, &done))?;
            if out.failed_entry_count() > 0 {
                let details: Vec<String> = out
                    .failed_entries()
                    .iter()
                    .map(|f| entry_failure(f.target_id(), f.error_code(), f.error_message()))
                    .collect();
                return Err(AwsError::Rejected {
                    operation: "PutTargets",
                    resource: res.clone(),
                    details: details.join("; "),
                }
                .after(&res, &done));
            }
            done.push("PutTargets".to_string());
        }
        if !remove_first && !stale.is_empty() {
            self.remove_targets(bus, name, stale)
                .await
                .map_err(|e| e.after(&res, &done))?;
            done.push("RemoveTargets".to_string());
        }

        // 3. Tags (a new rule got them with PutRule): user tags plus ours,
        //    only when something differs; then the user tags the rule no
        //    longer declares are removed.
        let current: Option<BTreeMap<String, String>> = live.map(|l| {
            let mut m = l.rule.tags.clone();
            if let Some(id) = &l.tracking_id {
                m.insert(TRACKING_TAG.to_string(), id.clone());
            }
            if let Some(id) = &l.plan_id {
                m.insert(PLAN_ID_TAG.to_string(), id.clone());
            }
            m
        });
        let differs = current
            .as_ref()
            .is_some_and(|cur| wanted.iter().any(|(k, v)| cur.get(k) != Some(v)));
        if differs {
            let req = self
                .client
                .tag_resource()
                .resource_arn(&rule_arn)
                .set_tags(Some(tags));
            self.gate
                .call(Op::events("TagResource"), || req.clone().send())
                .await
                .map_err(|e| AwsError::api("TagResource", &res, e).after(&res, &done))?;
            done.push("TagResource".to_string());
        }
        if let Some(l) = live {
            let removed: Vec<String> = l
                .rule
                .tags
                .keys()
                .filter(|k| !rule.tags.contains_key(k.as_str()))
                .cloned()
                .collect();
            if !removed.is_empty() {
                let req = self
                    .client
                    .untag_resource()
                    .resource_arn(&rule_arn)
                    .set_tag_keys(Some(removed));
                self.gate
                    .call(Op::events("UntagResource"), || req.clone().send())
                    .await
                    .map_err(|e| AwsError::api("UntagResource", &res, e).after(&res, &done))?;
            }
        }
        Ok(())
    }

    pub(crate) async fn delete_rule(&self, live: &LiveRule) -> AwsResult<()> {
        let (bus, name) = (live.rule.event_bus.as_str(), live.rule.name.as_str());
        let res = resource(bus, name);
        if !live.foreign_targets.is_empty() {
            return Err(AwsError::ForeignTargets {
                resource: res,
                targets: live.foreign_targets.join(", "),
            });
        }
        let mut done = Vec::new();
        let ids: Vec<String> = live.rule.targets.iter().map(|x| x.id.clone()).collect();
        if !ids.is_empty() {
            if !self.remove_targets(bus, name, ids).await? {
                return Ok(()); // already gone
            }
            done.push("RemoveTargets".to_string());
        }
        let req = self.client.delete_rule().name(name).event_bus_name(bus);
        match self
            .gate
            .call(Op::events("DeleteRule"), || req.clone().send())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(AwsError::api("DeleteRule", &res, e).after(&res, &done)),
        }
    }
}

fn entry_failure(id: Option<&str>, code: Option<&str>, message: Option<&str>) -> String {
    let mut s = format!("target {}", id.unwrap_or("?"));
    if let Some(c) = code {
        s.push_str(&format!(": {c}"));
    }
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        s.push_str(&format!(" ({m})"));
    }
    s
}

/// Hashes a target canonically: its `HashMap`s in key order (their `Debug` order
/// is random), and the fields the SDK's `Debug` redacts explicitly, so that
/// changing them changes the fingerprint too.
fn hash_target(f: &mut Fingerprint, x: &t::Target) {
    let mut x = x.clone();
    let paths = x
        .input_transformer
        .as_mut()
        .and_then(|i| i.input_paths_map.take());
    let (headers, query) = x
        .http_parameters
        .as_mut()
        .map(|h| (h.header_parameters.take(), h.query_string_parameters.take()))
        .unwrap_or_default();
    f.field("target", &x);
    f.field("input_paths_map", &paths.as_ref().map(sorted));
    f.field("http.header_parameters", &headers.as_ref().map(sorted));
    f.field("http.query_string_parameters", &query.as_ref().map(sorted));
    if let Some(a) = x.app_sync_parameters() {
        f.field("app_sync.graph_ql_operation", &a.graph_ql_operation());
    }
    if let Some(r) = x.redshift_data_parameters() {
        f.field("redshift.sql", &r.sql());
        f.field("redshift.sqls", &r.sqls());
    }
}

/// Converts a raw read, computing its fingerprint.
fn live_rule(raw: RawRule, cluster_arn: &str) -> LiveRule {
    let RawRule {
        entry,
        arn,
        bus,
        mut targets,
        mut tags,
    } = raw;
    targets.sort_by(|a, b| a.id().cmp(b.id()));
    tags.sort_by(|a, b| (a.key(), a.value()).cmp(&(b.key(), b.value())));

    let mut f = Fingerprint::new("eventbridge-rule");
    f.field("rule", &entry);
    for x in &targets {
        hash_target(&mut f, x);
    }
    for tag in &tags {
        f.text("tag", &format!("{}={}", tag.key(), tag.value()));
    }

    let mut ours = Vec::new();
    let mut foreign_targets = Vec::new();
    for x in &targets {
        match convert::eb::target_to_model(x, cluster_arn) {
            ReadTarget::Ours(target) => ours.push(*target),
            ReadTarget::Foreign(desc) => foreign_targets.push(desc),
        }
    }
    let tag = |key: &str| {
        tags.iter()
            .find(|tag| tag.key() == key)
            .map(|tag| tag.value().to_string())
    };
    let tracking_id = tag(TRACKING_TAG);
    let plan_id = tag(PLAN_ID_TAG);
    let user_tags: BTreeMap<String, String> = tags
        .iter()
        .filter(|tag| tag.key() != TRACKING_TAG && tag.key() != PLAN_ID_TAG)
        .map(|tag| (tag.key().to_string(), tag.value().to_string()))
        .collect();
    let event_bus = entry
        .event_bus_name
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or(bus);
    LiveRule {
        arn,
        rule: Rule {
            name: entry.name.clone(),
            event_bus,
            description: entry.description.clone().unwrap_or_default(),
            schedule_expression: entry.schedule_expression.clone().unwrap_or_default(),
            state: convert::eb::state_str(entry.state.as_deref()),
            role_arn: entry.role_arn.clone().filter(|r| !r.is_empty()),
            event_pattern: entry.event_pattern.clone().filter(|p| !p.is_empty()),
            tags: user_tags,
            targets: ours,
        },
        tracking_id,
        plan_id,
        foreign_targets,
        fingerprint: f.finish(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aws_sdk_eventbridge::operation::list_rule_names_by_target::ListRuleNamesByTargetOutput;
    use aws_sdk_eventbridge::operation::list_rules::ListRulesOutput;
    use aws_sdk_eventbridge::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_eventbridge::operation::list_targets_by_rule::ListTargetsByRuleOutput;
    use aws_sdk_eventbridge::operation::put_rule::PutRuleOutput;
    use aws_sdk_eventbridge::operation::put_targets::PutTargetsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::model::{EcsTarget, RetryPolicy, State, Target};

    const CLUSTER: &str = "arn:aws:ecs:ap-northeast-3:123456789012:cluster/c1";

    fn ctx() -> AccountContext {
        AccountContext {
            account_id: "123456789012".into(),
            partition: "aws".into(),
            region: "ap-northeast-3".into(),
        }
    }

    fn rules(client: Client) -> Rules {
        Rules::new(client, Arc::new(Gate::unlimited()), ctx())
    }

    fn rules_with_attempts(client: Client, max_attempts: u32) -> Rules {
        let gate = Gate::new(
            crate::aws::gate::GateOptions {
                concurrency: 8,
                rate_cap: Some(0.0),
                max_attempts,
            },
            "ap-northeast-3",
        );
        Rules::new(client, Arc::new(gate), ctx())
    }

    fn owner() -> Owner {
        Owner {
            tracking_id: "c1".into(),
            plan_id: Some("p1".into()),
        }
    }

    fn ecs_target(id: &str, cluster: &str) -> t::Target {
        t::Target::builder()
            .id(id)
            .arn(cluster)
            .role_arn("arn:aws:iam::123456789012:role/ecsEventsRole")
            .ecs_parameters(
                t::EcsParameters::builder()
                    .task_definition_arn(
                        "arn:aws:ecs:ap-northeast-3:123456789012:task-definition/app",
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn entry(name: &str, expr: Option<&str>) -> t::Rule {
        t::Rule::builder()
            .name(name)
            .arn(format!(
                "arn:aws:events:ap-northeast-3:123456789012:rule/{name}"
            ))
            .set_schedule_expression(expr.map(str::to_string))
            .set_event_pattern(expr.is_none().then(|| r#"{"source":["x"]}"#.to_string()))
            .state(t::RuleState::Enabled)
            .event_bus_name("default")
            .build()
    }

    #[tokio::test]
    async fn list_targets_stops_when_the_token_repeats() {
        // moto's bug: the same page and the same token forever.
        let page = mock!(Client::list_targets_by_rule).then_output(|| {
            ListTargetsByRuleOutput::builder()
                .targets(ecs_target("t1", CLUSTER))
                .targets(ecs_target("t2", CLUSTER))
                .next_token("same")
                .build()
        });
        let r = rules(mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&page]
        ));
        let targets = r.list_targets("default", "r").await.unwrap().unwrap();
        let ids: Vec<&str> = targets.iter().map(t::Target::id).collect();
        assert_eq!(ids, ["t1", "t2"]);
        assert_eq!(page.num_calls(), 2);
    }

    #[tokio::test]
    async fn list_rules_follows_tokens_and_stops_on_a_repeat() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let page = mock!(Client::list_rules).then_compute_output(move |req| {
            log.lock()
                .unwrap()
                .push((req.limit(), req.next_token().map(str::to_string)));
            match req.next_token() {
                None => ListRulesOutput::builder()
                    .rules(entry("a", Some("rate(1 hour)")))
                    .next_token("p2")
                    .build(),
                // page 2 points back at itself
                Some(_) => ListRulesOutput::builder()
                    .rules(entry("b", Some("rate(1 hour)")))
                    .next_token("p2")
                    .build(),
            }
        });
        let r = rules(mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&page]
        ));
        let all = r.list_rules("default", None).await.unwrap();
        let names: Vec<&str> = all.iter().filter_map(t::Rule::name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            *seen.lock().unwrap(),
            [(Some(100), None), (Some(100), Some("p2".to_string()))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_and_5xx_are_retried_by_the_gate() {
        let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        let flaky = mock!(Client::list_rules)
            .sequence()
            .http_status(400, Some(throttled.to_string()))
            .times(2)
            .http_status(503, None)
            .output(|| {
                ListRulesOutput::builder()
                    .rules(entry("a", Some("rate(1 hour)")))
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&flaky], |b| b
            .retry_config(crate::aws::sdk::retry_config()));
        let all = rules_with_attempts(client, 8)
            .list_rules("default", None)
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(flaky.num_calls(), 4);

        // With attempts exhausted the error names the operation and the code.
        let always = mock!(Client::list_rules)
            .sequence()
            .http_status(400, Some(throttled.to_string()))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&always], |b| b
            .retry_config(crate::aws::sdk::retry_config()));
        let err = rules_with_attempts(client, 3)
            .list_rules("default", None)
            .await
            .unwrap_err();
        assert_eq!(always.num_calls(), 3);
        assert_eq!(err.code(), Some("ThrottlingException"));
        assert_eq!(
            err.to_string(),
            "ListRules for event bus \"default\" failed: ThrottlingException: Rate exceeded"
        );

        // A validation error is not retried.
        let invalid = r#"{"__type":"ValidationException","message":"bad"}"#;
        let once = mock!(Client::list_rules)
            .sequence()
            .http_status(400, Some(invalid.to_string()))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&once], |b| b
            .retry_config(crate::aws::sdk::retry_config()));
        let err = rules_with_attempts(client, 8)
            .list_rules("default", None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"));
        assert_eq!(once.num_calls(), 1);
    }

    #[tokio::test]
    async fn describe_and_listing_give_the_same_record_and_fingerprint() {
        let listed = entry("nightly", Some("cron(0 10 * * ? *)"));
        let list = mock!(Client::list_rules).then_output({
            let listed = listed.clone();
            move || ListRulesOutput::builder().rules(listed.clone()).build()
        });
        let by_target = mock!(Client::list_rule_names_by_target).then_output(|| {
            ListRuleNamesByTargetOutput::builder()
                .rule_names("nightly")
                .build()
        });
        let describe = mock!(Client::describe_rule).then_output(|| {
            aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput::builder()
                .name("nightly")
                .arn("arn:aws:events:ap-northeast-3:123456789012:rule/nightly")
                .schedule_expression("cron(0 10 * * ? *)")
                .state(t::RuleState::Enabled)
                .event_bus_name("default")
                .created_by("123456789012")
                .build()
        });
        let targets = mock!(Client::list_targets_by_rule).then_output(|| {
            ListTargetsByRuleOutput::builder()
                .targets(ecs_target("nightly", CLUSTER))
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    t::Tag::builder()
                        .key(TRACKING_TAG)
                        .value("c1")
                        .build()
                        .unwrap(),
                )
                .tags(
                    t::Tag::builder()
                        .key(PLAN_ID_TAG)
                        .value("p0")
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let client = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&list, &by_target, &describe, &targets, &tags]
        );
        let r = rules(client);
        let listed = r.read_rules(CLUSTER, &[], &[], &|_, _| {}).await.unwrap();
        let named = r
            .read_named_rules(CLUSTER, &[("default".into(), "nightly".into())], &|_, _| {})
            .await
            .unwrap();
        assert_eq!(listed.rules, named);
        assert_eq!(describe.num_calls(), 1);
        assert_eq!(named[0].plan_id.as_deref(), Some("p0"));
        assert!(
            named[0].rule.tags.is_empty(),
            "ownership tags are not user tags"
        );
    }

    #[tokio::test]
    async fn read_rules_reads_only_candidates_and_explains_the_rest() {
        let list = mock!(Client::list_rules).then_output(|| {
            ListRulesOutput::builder()
                .rules(entry("ours", Some("cron(0 10 * * ? *)")))
                .rules(entry("pattern", None))
                .rules(entry("elsewhere", Some("rate(1 hour)")))
                .rules(entry("named", Some("rate(1 hour)")))
                .build()
        });
        let by_target = mock!(Client::list_rule_names_by_target).then_output(|| {
            ListRuleNamesByTargetOutput::builder()
                .rule_names("ours")
                .rule_names("pattern")
                .build()
        });
        let targets = mock!(Client::list_targets_by_rule).then_compute_output(|req| {
            let b = ListTargetsByRuleOutput::builder();
            match req.rule() {
                Some("ours") => b
                    .targets(ecs_target("b", CLUSTER))
                    .targets(ecs_target("a", CLUSTER))
                    .targets(
                        t::Target::builder()
                            .id("q")
                            .arn("arn:aws:sqs:ap-northeast-3:123456789012:q")
                            .build()
                            .unwrap(),
                    )
                    .build(),
                _ => b
                    .targets(ecs_target(
                        "x",
                        "arn:aws:ecs:ap-northeast-3:123456789012:cluster/other",
                    ))
                    .build(),
            }
        });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    t::Tag::builder()
                        .key(TRACKING_TAG)
                        .value("c1")
                        .build()
                        .unwrap(),
                )
                .tags(t::Tag::builder().key("team").value("data").build().unwrap())
                .build()
        });
        let client = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&list, &by_target, &targets, &tags]
        );
        let progress = Mutex::new(Vec::new());
        let live = rules(client)
            .read_rules(
                CLUSTER,
                &[],
                &[("default".into(), "named".into())],
                &|d, n| progress.lock().unwrap().push((d, n)),
            )
            .await
            .unwrap();
        assert_eq!(targets.num_calls(), 2, "only ours and named are read");
        assert_eq!(tags.num_calls(), 2);
        let names: Vec<&str> = live.rules.iter().map(|r| r.rule.name.as_str()).collect();
        assert_eq!(names, ["named", "ours"]);
        let ours = &live.rules[1];
        let ids: Vec<&str> = ours.rule.targets.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(
            ours.foreign_targets,
            ["q (arn:aws:sqs:ap-northeast-3:123456789012:q)"]
        );
        assert_eq!(ours.tracking_id.as_deref(), Some("c1"));
        assert_eq!(
            ours.rule.tags,
            BTreeMap::from([("team".into(), "data".into())])
        );
        assert!(live.rules[0].rule.targets.is_empty());
        assert_eq!(live.rules[0].foreign_targets.len(), 1);
        let skipped: Vec<(&str, &str)> = live
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("elsewhere", &*format!("no target on cluster {CLUSTER}")),
                (
                    "pattern",
                    "event-pattern rule (ecsched manages scheduled rules only)"
                ),
            ]
        );
        let p = progress.into_inner().unwrap();
        assert_eq!(p.first(), Some(&(0, 2)));
        assert_eq!(p.last(), Some(&(2, 2)));
    }

    fn model_rule() -> Rule {
        Rule {
            name: "nightly".into(),
            event_bus: "default".into(),
            description: String::new(),
            schedule_expression: "cron(0 10 * * ? *)".into(),
            state: State::Enabled,
            role_arn: None,
            event_pattern: None,
            tags: BTreeMap::new(),
            targets: vec![Target {
                id: "t1".into(),
                ecs: EcsTarget {
                    cluster_arn: CLUSTER.into(),
                    role_arn: "arn:aws:iam::123456789012:role/ecsEventsRole".into(),
                    task_definition_arn: "arn:td".into(),
                    task_count: 1,
                    ..EcsTarget::default()
                },
                dead_letter_arn: None,
                retry_policy: RetryPolicy::default(),
            }],
        }
    }

    #[tokio::test]
    async fn put_rule_reports_rejected_targets_and_what_was_already_written() {
        let put = mock!(Client::put_rule).then_output(|| {
            PutRuleOutput::builder()
                .rule_arn("arn:aws:events:ap-northeast-3:123456789012:rule/nightly")
                .build()
        });
        let targets = mock!(Client::put_targets).then_output(|| {
            PutTargetsOutput::builder()
                .failed_entry_count(1)
                .failed_entries(
                    t::PutTargetsResultEntry::builder()
                        .target_id("t1")
                        .error_code("ValidationException")
                        .error_message("bad role")
                        .build(),
                )
                .build()
        });
        let tag = mock!(Client::tag_resource).then_output(|| {
            aws_sdk_eventbridge::operation::tag_resource::TagResourceOutput::builder().build()
        });
        let client = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&put, &targets, &tag]
        );
        let err = rules(client)
            .put_rule(&model_rule(), &owner(), None)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "PutTargets for rule \"nightly\" was rejected: target t1: ValidationException (bad role); \
             rule \"nightly\" is partly written: PutRule succeeded before that"
        );
        assert_eq!(tag.num_calls(), 0, "a create is tagged by PutRule itself");
    }

    #[tokio::test]
    async fn put_rule_creates_a_rule_with_its_tags_and_an_update_sends_none() {
        let has =
            |tags: &[t::Tag], k: &str, v: &str| tags.iter().any(|x| x.key() == k && x.value() == v);
        // Create: the tags ride on PutRule, so the rule never exists without its owner.
        let put = mock!(Client::put_rule)
            .match_requests(move |req| {
                has(req.tags(), TRACKING_TAG, "c1") && has(req.tags(), PLAN_ID_TAG, "p1")
            })
            .then_output(|| PutRuleOutput::builder().build());
        let targets = mock!(Client::put_targets)
            .then_output(|| PutTargetsOutput::builder().failed_entry_count(0).build());
        let tag = mock!(Client::tag_resource).then_output(|| {
            aws_sdk_eventbridge::operation::tag_resource::TagResourceOutput::builder().build()
        });
        let client = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&put, &targets, &tag]
        );
        rules(client)
            .put_rule(&model_rule(), &owner(), None)
            .await
            .unwrap();
        assert_eq!((put.num_calls(), tag.num_calls()), (1, 0));

        // Update of an owned rule: PutRule carries no tags (AWS ignores them there).
        let put = mock!(Client::put_rule)
            .match_requests(|req| req.tags().is_empty())
            .then_output(|| PutRuleOutput::builder().build());
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&put]);
        let desired = model_rule();
        let mut live_rule = desired.clone();
        live_rule.description = "before".into();
        let live = LiveRule {
            rule: live_rule,
            arn: "arn:aws:events:ap-northeast-3:123456789012:rule/nightly".into(),
            tracking_id: Some("c1".into()),
            plan_id: Some("p1".into()),
            foreign_targets: vec![],
            fingerprint: String::new(),
        };
        rules(client)
            .put_rule(&desired, &owner(), Some(&live))
            .await
            .unwrap();
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn put_rule_removes_only_our_undeclared_targets_and_skips_unchanged_parts() {
        let put = mock!(Client::put_rule).then_output(|| PutRuleOutput::builder().build());
        let targets = mock!(Client::put_targets)
            .match_requests(|req| req.targets().len() == 1 && req.targets()[0].id() == "t1")
            .then_output(|| PutTargetsOutput::builder().failed_entry_count(0).build());
        let remove = mock!(Client::remove_targets)
            .match_requests(|req| req.ids() == ["old"])
            .then_output(|| {
                aws_sdk_eventbridge::operation::remove_targets::RemoveTargetsOutput::builder()
                    .failed_entry_count(0)
                    .build()
            });
        let untag = mock!(Client::untag_resource)
            .match_requests(|req| req.tag_keys() == ["gone"])
            .then_output(|| {
                aws_sdk_eventbridge::operation::untag_resource::UntagResourceOutput::builder()
                    .build()
            });
        let client = mock_client!(
            aws_sdk_eventbridge,
            RuleMode::MatchAny,
            [&put, &targets, &remove, &untag]
        );
        let desired = model_rule();
        let mut live_rule = desired.clone();
        let mut old = desired.targets[0].clone();
        old.id = "old".into();
        live_rule.targets.push(old);
        live_rule.tags.insert("gone".into(), "x".into());
        let live = LiveRule {
            rule: live_rule,
            arn: "arn:aws:events:ap-northeast-3:123456789012:rule/nightly".into(),
            tracking_id: Some("c1".into()),
            plan_id: Some("p1".into()),
            foreign_targets: vec!["q (arn:aws:sqs:ap-northeast-3:123456789012:q)".into()],
            fingerprint: String::new(),
        };
        rules(client)
            .put_rule(&desired, &owner(), Some(&live))
            .await
            .unwrap();
        assert_eq!(
            put.num_calls(),
            0,
            "the rule itself is unchanged: no PutRule"
        );
        assert_eq!(targets.num_calls(), 1);
        assert_eq!(remove.num_calls(), 1);
        assert_eq!(untag.num_calls(), 1);
    }

    #[test]
    fn fingerprint_does_not_depend_on_hash_map_order() {
        let raw = || {
            let mut paths = std::collections::HashMap::new();
            for i in 0..32 {
                paths.insert(format!("k{i}"), format!("$.detail.v{i}"));
            }
            let transformer = t::InputTransformer::builder()
                .set_input_paths_map(Some(paths))
                .input_template("<k1>")
                .build()
                .unwrap();
            RawRule {
                entry: RuleEntry::from_listed(&entry("r", Some("rate(1 hour)"))),
                arn: "arn".into(),
                bus: "default".into(),
                targets: vec![
                    t::Target::builder()
                        .id("lambda")
                        .arn("arn:aws:lambda:ap-northeast-3:123456789012:function:f")
                        .input_transformer(transformer)
                        .build()
                        .unwrap(),
                ],
                tags: vec![],
            }
        };
        let first = live_rule(raw(), CLUSTER).fingerprint;
        for _ in 0..10 {
            assert_eq!(live_rule(raw(), CLUSTER).fingerprint, first);
        }
    }

    #[tokio::test]
    async fn delete_rule_refuses_foreign_targets() {
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, &[]);
        let live = LiveRule {
            rule: model_rule(),
            arn: String::new(),
            tracking_id: None,
            plan_id: None,
            foreign_targets: vec!["q (arn:aws:sqs:ap-northeast-3:123456789012:q)".into()],
            fingerprint: String::new(),
        };
        let err = rules(client).delete_rule(&live).await.unwrap_err();
        assert!(matches!(err, AwsError::ForeignTargets { .. }), "{err}");
    }
}
