//! `Aws` as the executor's [`Backend`], and the one reader of live state:
//! [`Aws::read`] serves `plan` (everything on the cluster plus what the config
//! declares), the drift check of `apply PLANFILE` (exactly the touched
//! resources) and the read-back after each write (one resource), with the same
//! records and fingerprints whichever way a resource was read. Converts the AWS
//! layer's records into the planner's `LiveResource`s.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Aws, AwsError, LiveRule, LiveSchedule};
use crate::apply::{Backend, Progress};
use crate::model::{Address, Owner, arn};
use crate::plan::{LiveRead, LiveResource, ReadScope, Resource, Skipped};

fn from_rule(l: LiveRule) -> LiveResource {
    LiveResource {
        resource: Resource::Rule(l.rule),
        tracking_id: l.tracking_id,
        plan_id: l.plan_id,
        fingerprint: l.fingerprint,
        foreign_targets: l.foreign_targets,
    }
}

fn from_schedule(l: LiveSchedule) -> LiveResource {
    LiveResource {
        resource: Resource::Schedule(l.schedule),
        tracking_id: l.group_tracking_id,
        plan_id: None,
        fingerprint: l.fingerprint,
        foreign_targets: Vec::new(),
    }
}

/// The AWS layer's record of a rule, rebuilt from a `LiveResource` read
/// earlier (no second read): its targets are exactly our ECS targets.
fn to_live_rule(aws: &Aws, l: &LiveResource) -> Option<LiveRule> {
    let Resource::Rule(rule) = &l.resource else {
        return None;
    };
    Some(LiveRule {
        arn: arn::rule(&rule.name, &rule.event_bus, aws.context()),
        rule: rule.clone(),
        tracking_id: l.tracking_id.clone(),
        plan_id: l.plan_id.clone(),
        foreign_targets: l.foreign_targets.clone(),
        fingerprint: l.fingerprint.clone(),
    })
}

/// Adds up the progress of reads running side by side.
struct Combined<'a> {
    progress: Progress<'a>,
    done: [AtomicUsize; 2],
    total: [AtomicUsize; 2],
}

impl Combined<'_> {
    fn report(&self, part: usize, done: usize, total: usize) {
        self.done[part].store(done, Ordering::Relaxed);
        self.total[part].store(total, Ordering::Relaxed);
        let sum = |v: &[AtomicUsize; 2]| v.iter().map(|x| x.load(Ordering::Relaxed)).sum();
        (self.progress)(sum(&self.done), sum(&self.total));
    }
}

impl Aws {
    /// Reads the live state of `scope`: rules and schedules side by side, each
    /// with one listing per API when `scope.list`, then per-resource reads in
    /// parallel under the flow control.
    pub async fn read(
        &self,
        scope: &ReadScope,
        progress: Progress<'_>,
    ) -> Result<LiveRead, AwsError> {
        let mut rule_names = Vec::new();
        let mut schedule_names = Vec::new();
        for a in &scope.addresses {
            match a {
                Address::Rule { event_bus, name } => {
                    rule_names.push((event_bus.clone(), name.clone()))
                }
                Address::Schedule { group, name } => {
                    schedule_names.push((group.clone(), name.clone()))
                }
            }
        }
        let combined = Combined {
            progress,
            done: Default::default(),
            total: Default::default(),
        };
        let rules_progress = |d: usize, t: usize| combined.report(0, d, t);
        let schedules_progress = |d: usize, t: usize| combined.report(1, d, t);
        let mut out = LiveRead::default();
        if scope.list {
            let (rules, schedules) = tokio::try_join!(
                self.rules.read_rules(
                    &scope.cluster_arn,
                    &scope.buses,
                    &rule_names,
                    &rules_progress
                ),
                self.schedules.read_schedules(
                    &scope.cluster_arn,
                    &schedule_names,
                    &schedules_progress
                )
            )?;
            out.resources.extend(rules.rules.into_iter().map(from_rule));
            out.resources
                .extend(schedules.schedules.into_iter().map(from_schedule));
            out.groups = schedules
                .groups
                .into_iter()
                .map(|(group, exists)| crate::plan::GroupSeen { group, exists })
                .collect();
            out.skipped
                .extend(rules.skipped.into_iter().map(|s| Skipped {
                    what: format!("rule {}", s.name),
                    reason: s.reason,
                }));
            out.skipped
                .extend(schedules.skipped.into_iter().map(|s| Skipped {
                    what: format!("schedule {}", s.name),
                    reason: s.reason,
                }));
        } else {
            let (rules, schedules) = tokio::try_join!(
                async {
                    if rule_names.is_empty() {
                        Ok(Vec::new())
                    } else {
                        self.rules
                            .read_named_rules(&scope.cluster_arn, &rule_names, &rules_progress)
                            .await
                    }
                },
                async {
                    if schedule_names.is_empty() {
                        Ok(Vec::new())
                    } else {
                        self.schedules
                            .read_named_schedules(
                                &schedule_names,
                                scope.owners,
                                &schedules_progress,
                            )
                            .await
                    }
                }
            )?;
            out.resources.extend(rules.into_iter().map(from_rule));
            out.resources
                .extend(schedules.into_iter().map(from_schedule));
        }
        Ok(out)
    }
}

impl Backend for Aws {
    type Error = AwsError;

    async fn read(&self, scope: &ReadScope, progress: Progress<'_>) -> Result<LiveRead, AwsError> {
        Aws::read(self, scope, progress).await
    }

    async fn put(
        &self,
        after: &Resource,
        owner: &Owner,
        live: Option<&LiveResource>,
    ) -> Result<(), AwsError> {
        match after {
            Resource::Rule(rule) => {
                let live_rule = live.and_then(|l| to_live_rule(self, l));
                self.rules.put_rule(rule, owner, live_rule.as_ref()).await
            }
            Resource::Schedule(s) => {
                self.schedules
                    .put_schedule(s, &owner.tracking_id, live.is_some())
                    .await
            }
        }
    }

    async fn delete(&self, live: &LiveResource) -> Result<(), AwsError> {
        match &live.resource {
            Resource::Rule(_) => match to_live_rule(self, live) {
                Some(l) => self.rules.delete_rule(&l).await,
                None => Ok(()),
            },
            Resource::Schedule(s) => self.schedules.delete_schedule(&s.group, &s.name).await,
        }
    }
}
