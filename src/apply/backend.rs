//! The small trait the core depends on to read and write live state, and its
//! implementation over `aws::Aws`. Converts the aws layer's live records into
//! the planner's `LiveResource`s; no SDK type passes through here.

use crate::aws::{Aws, LiveRule, LiveSchedule};
use crate::error::{Error, Result};
use crate::model::{Address, DesiredState};
use crate::plan::Resource;
use crate::plan::diff::LiveResource;

/// What the executor needs from AWS (reading everything for a plan is
/// `read_all`, a plain function: only `Aws` does it).
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// Re-reads one resource (None when absent).
    async fn read_one(&self, cluster_arn: &str, address: &Address) -> Result<Option<LiveResource>>;
    /// Creates or updates a resource.
    async fn put(
        &self,
        after: &Resource,
        tracking_id: &str,
        live: Option<&LiveResource>,
        manage_tags: bool,
    ) -> Result<()>;
    /// Deletes a resource.
    async fn delete(&self, live: &LiveResource) -> Result<()>;
}

pub fn from_rule(l: LiveRule) -> LiveResource {
    LiveResource {
        resource: Resource::Rule(l.rule),
        tracking_id: l.tracking_id,
        fingerprint: l.fingerprint,
        foreign_targets: l.foreign_targets,
    }
}

pub fn from_schedule(l: LiveSchedule) -> LiveResource {
    LiveResource {
        resource: Resource::Schedule(l.schedule),
        tracking_id: l.group_tracking_id,
        fingerprint: l.fingerprint,
        foreign_targets: Vec::new(),
    }
}

fn aws_err(e: impl std::fmt::Display) -> Error {
    Error::Aws(e.to_string())
}

/// Progress callback used while reading (a bar on a terminal).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Reads rules and schedules for `desired`, reporting progress.
pub async fn read_all(
    aws: &Aws,
    desired: &DesiredState,
    progress: Progress<'_>,
) -> Result<(Vec<LiveResource>, Vec<String>)> {
    let mut buses: Vec<String> = desired.rules.iter().map(|r| r.event_bus.clone()).collect();
    buses.push(crate::model::DEFAULT_EVENT_BUS.to_string());
    buses.sort();
    buses.dedup();
    let names: Vec<String> = desired.rules.iter().map(|r| r.name.clone()).collect();
    let rules = aws
        .read_rules(&desired.cluster_arn, &buses, &names, progress)
        .await
        .map_err(aws_err)?;
    let snames: Vec<(String, String)> = desired
        .schedules
        .iter()
        .map(|s| (s.group.clone(), s.name.clone()))
        .collect();
    let schedules = aws
        .read_schedules(&desired.cluster_arn, &snames, progress)
        .await
        .map_err(aws_err)?;
    let mut notes: Vec<String> = rules
        .skipped
        .iter()
        .map(|s| format!("rule {}: skipped: {}", s.name, s.reason))
        .collect();
    notes.extend(
        schedules
            .skipped
            .iter()
            .map(|s| format!("schedule {}: skipped: {}", s.name, s.reason)),
    );
    let live = rules
        .rules
        .into_iter()
        .map(from_rule)
        .chain(schedules.schedules.into_iter().map(from_schedule))
        .collect();
    Ok((live, notes))
}

async fn live_rule(aws: &Aws, cluster_arn: &str, address: &Address) -> Result<Option<LiveRule>> {
    match address {
        Address::Rule { event_bus, name } => aws
            .read_rule(cluster_arn, event_bus, name)
            .await
            .map_err(aws_err),
        Address::Schedule { .. } => Ok(None),
    }
}

/// The aws layer's record of a rule, rebuilt from what the executor read
/// right before the write (no second read): its targets are exactly our ECS
/// targets on the cluster, as `read_rule` returned them.
fn to_live_rule(aws: &Aws, l: &LiveResource) -> Option<LiveRule> {
    let Resource::Rule(rule) = &l.resource else {
        return None;
    };
    Some(LiveRule {
        arn: crate::model::arn::rule(&rule.name, &rule.event_bus, aws.context()),
        rule: rule.clone(),
        tracking_id: l.tracking_id.clone(),
        foreign_targets: l.foreign_targets.clone(),
        fingerprint: l.fingerprint.clone(),
    })
}

impl Backend for Aws {
    async fn read_one(&self, cluster_arn: &str, address: &Address) -> Result<Option<LiveResource>> {
        match address {
            Address::Rule { .. } => Ok(live_rule(self, cluster_arn, address).await?.map(from_rule)),
            Address::Schedule { group, name } => Ok(self
                .read_schedule(cluster_arn, group, name)
                .await
                .map_err(aws_err)?
                .map(from_schedule)),
        }
    }

    async fn put(
        &self,
        after: &Resource,
        tracking_id: &str,
        live: Option<&LiveResource>,
        manage_tags: bool,
    ) -> Result<()> {
        match after {
            Resource::Rule(rule) => {
                let live_rule = live.and_then(|l| to_live_rule(self, l));
                self.put_rule(rule, tracking_id, live_rule.as_ref(), manage_tags)
                    .await
                    .map_err(aws_err)
            }
            Resource::Schedule(s) => self
                .put_schedule(s, tracking_id, live.is_some())
                .await
                .map_err(aws_err),
        }
    }

    async fn delete(&self, live: &LiveResource) -> Result<()> {
        match &live.resource {
            Resource::Rule(_) => match to_live_rule(self, live) {
                Some(l) => self.delete_rule(&l).await.map_err(aws_err),
                None => Ok(()),
            },
            Resource::Schedule(s) => self
                .delete_schedule(&s.group, &s.name)
                .await
                .map_err(aws_err),
        }
    }
}
