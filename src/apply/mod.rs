//! Executes a verified change set: checks the live fingerprints of every
//! touched resource first (a stale plan is refused whole, with zero writes),
//! then writes in SPEC §6 order (creates/updates before deletes), re-checking
//! each resource right before its write and verifying it after. Stops at the
//! first failure and reports exactly what was and was not applied.

pub mod backend;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use backend::Backend;

use crate::error::{Error, Result};
use crate::model::Address;
use crate::plan::diff::LiveResource;
use crate::plan::{Action, Plan, ResourceChange};

/// Why a plan is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub address: Address,
    pub detail: String,
}

/// Compares the plan's fingerprints with a fresh read of exactly the touched
/// resources, and (with prune) the set of managed resources.
pub async fn check_drift<B: Backend>(
    backend: &B,
    plan: &Plan,
    managed_now: Option<&[Address]>,
) -> Result<Vec<Drift>> {
    let mut drift = Vec::new();
    for fp in &plan.fingerprints {
        let live = backend.read_one(&plan.cluster_arn, &fp.address).await?;
        let now = live.as_ref().map(|l| l.fingerprint.clone());
        if now != fp.digest {
            let detail = match (&fp.digest, &now) {
                (None, Some(_)) => "was absent when planned, now exists".to_string(),
                (Some(_), None) => "existed when planned, now is gone".to_string(),
                _ => "changed since the plan was made".to_string(),
            };
            drift.push(Drift {
                address: fp.address.clone(),
                detail,
            });
        }
    }
    if let Some(now) = managed_now {
        let then: BTreeSet<&Address> = plan.managed_seen.iter().collect();
        let now: BTreeSet<&Address> = now.iter().collect();
        for a in now.difference(&then) {
            if drift.iter().any(|d| &d.address == *a) {
                continue;
            }
            drift.push(Drift {
                address: (*a).clone(),
                detail: "is now managed for this trackingId but was not when planned".to_string(),
            });
        }
        for a in then.difference(&now) {
            if !drift.iter().any(|d| &d.address == *a) {
                drift.push(Drift {
                    address: (*a).clone(),
                    detail: "was managed when planned, is not now".to_string(),
                });
            }
        }
    }
    Ok(drift)
}

/// The outcome of one resource's write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Failed(String),
    NotAttempted,
}

/// Per-resource results of an apply.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<(ResourceChange, Outcome)>,
    pub interrupted: bool,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.results
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed(_)))
    }

    /// The line that reports one resource's result.
    pub fn line(c: &ResourceChange, o: &Outcome) -> String {
        let verb = c.action.as_str();
        match o {
            Outcome::Applied => format!("  ✓ {} {verb}d", c.address),
            Outcome::Failed(e) => format!("  ✗ {} {verb} FAILED: {e}", c.address),
            Outcome::NotAttempted => format!("  - {} {verb}: not applied", c.address),
        }
    }

    /// What was not attempted, then the summary line. (Applied and failed
    /// resources were reported as they happened, with `line`.)
    pub fn closing_text(&self) -> String {
        let mut out = String::new();
        for (c, o) in &self.results {
            if *o == Outcome::NotAttempted {
                out.push_str(&Report::line(c, o));
                out.push('\n');
            }
        }
        let applied = self
            .results
            .iter()
            .filter(|(_, o)| *o == Outcome::Applied)
            .count();
        out.push_str(&format!(
            "Apply {}: {applied} of {} changes applied.\n",
            if self.failed() {
                "failed"
            } else if self.interrupted {
                "interrupted"
            } else {
                "complete"
            },
            self.results.len()
        ));
        out
    }
}

/// SPEC §6 order: creates and updates (rules, then schedules), then deletes.
pub fn ordered(changes: &[ResourceChange]) -> Vec<ResourceChange> {
    let rank = |c: &ResourceChange| {
        let kind = match c.address {
            Address::Rule { .. } => 0,
            Address::Schedule { .. } => 1,
        };
        match c.action {
            Action::Create | Action::Update => kind,
            Action::Delete => 2 + kind,
        }
    };
    let mut v = changes.to_vec();
    v.sort_by_key(|c| (rank(c), c.address.clone()));
    v
}

/// Applies `plan` (already verified) and returns the report. `interrupted`
/// is set by a Ctrl-C handler: the write in flight finishes, then it stops.
pub async fn execute<B: Backend>(
    backend: &B,
    plan: &Plan,
    interrupted: Arc<AtomicBool>,
    on_result: &dyn Fn(&ResourceChange, &Outcome),
) -> Result<Report> {
    let mut report = Report::default();
    let mut stop = false;
    for change in ordered(&plan.changes) {
        if stop || interrupted.load(Ordering::SeqCst) {
            report.interrupted |= interrupted.load(Ordering::SeqCst);
            report.results.push((change, Outcome::NotAttempted));
            continue;
        }
        let outcome = apply_one(backend, plan, &change).await;
        let outcome = match outcome {
            Ok(()) => Outcome::Applied,
            Err(e) => {
                stop = true;
                Outcome::Failed(e.to_string())
            }
        };
        on_result(&change, &outcome);
        report.results.push((change, outcome));
    }
    Ok(report)
}

async fn apply_one<B: Backend>(backend: &B, plan: &Plan, change: &ResourceChange) -> Result<()> {
    let expected = plan
        .fingerprints
        .iter()
        .find(|f| f.address == change.address)
        .map(|f| f.digest.clone());
    let live: Option<LiveResource> = backend.read_one(&plan.cluster_arn, &change.address).await?;
    if let Some(expected) = expected
        && live.as_ref().map(|l| l.fingerprint.clone()) != expected
    {
        return Err(Error::PlanRefused(format!(
            "{} changed right before it was to be written; nothing written for it",
            change.address
        )));
    }
    // `after` carries the live tags where the config declares none (see
    // plan::diff), so managing tags always writes exactly the planned set.
    let manage_tags = true;
    match change.action {
        Action::Create | Action::Update => {
            let Some(after) = &change.after else {
                return Err(Error::Other(format!(
                    "{}: plan has no desired state",
                    change.address
                )));
            };
            backend
                .put(after, &plan.tracking_id, live.as_ref(), manage_tags)
                .await?;
            let now = backend.read_one(&plan.cluster_arn, &change.address).await?;
            match now {
                // A written rule carries our tracking tag; a schedule's
                // ownership is its group's tag, which ecsched never changes.
                Some(n)
                    if *after == n.resource
                        && (matches!(change.address, Address::Schedule { .. })
                            || n.tracking_id.as_deref() == Some(plan.tracking_id.as_str())) =>
                {
                    Ok(())
                }
                Some(_) => Err(Error::Aws(format!(
                    "{} was written but reads back different from the plan",
                    change.address
                ))),
                None => Err(Error::Aws(format!(
                    "{} was written but cannot be read back",
                    change.address
                ))),
            }
        }
        Action::Delete => {
            let Some(l) = live else {
                return Ok(());
            };
            backend.delete(&l).await?;
            match backend.read_one(&plan.cluster_arn, &change.address).await? {
                None => Ok(()),
                Some(_) => Err(Error::Aws(format!(
                    "{} still exists after deleting it",
                    change.address
                ))),
            }
        }
    }
}
