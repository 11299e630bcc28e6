//! Executes a plan against live state through the [`Backend`] trait: first
//! [`verify`] (refuse the whole plan, writing nothing, when it is not for this
//! account/region/version, was already applied, or anything it touches changed
//! since it was made), then [`execute`] (write in parallel, verify every write).
//! Owns the order of writes and the failure, interrupt and concurrency rules.
//! Never talks to AWS itself and never decides *what* to change (that is `plan`).
//!
//! # Rules of execution
//!
//! 1. **Verification reads once, in parallel.** The drift check reads exactly the
//!    touched resources through the same parallel reader as `plan` (with
//!    `--prune`, everything on the cluster, to compare the managed set). Any
//!    mismatch refuses the whole plan; nothing is written.
//! 2. **Order.** Creates and updates of all resources run first, in parallel
//!    (at most `concurrency` resources at a time); deletes run only after every
//!    create and update finished. Within a resource the backend keeps its own
//!    order (a rule: PutRule, then PutTargets, then tags; a schedule: its group
//!    exists before it is written). Removal of a rule is RemoveTargets, then
//!    DeleteRule.
//! 3. **Re-check before a write.** A resource is written on the strength of the
//!    verification read when that read is recent: less than
//!    [`ExecuteOptions::recheck_after`] old when the resource's write starts.
//!    Otherwise it is read again first, and a changed fingerprint fails that
//!    resource without writing it. (A recent read leaves the same unavoidable
//!    window as a re-read would, since AWS offers no compare-and-swap; the lock
//!    is what closes it between ecsched runs.)
//! 4. **Every write is read back.** A resource that reads back different from
//!    the plan (or without our tags) is reported as a concurrent change and
//!    fails the apply: never "applied". So an apply reads each API at most
//!    twice per touched resource: the verification and the read-back (which
//!    skips a schedule group's tags: a write never changes them).
//! 5. **Failure and interrupts.** After a failure, or once [`Stop`] is
//!    requested (SIGINT, SIGTERM, SIGHUP), no new resource is started; the
//!    resources in flight finish all their steps (none is left half-written by
//!    an interrupt), and the report lists what was applied, what failed and
//!    what was not attempted.

pub mod backend;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

pub use backend::{Backend, Progress};

use crate::model::{AccountContext, Address, Owner};
use crate::plan::diff::managed_set;
use crate::plan::{Action, LiveResource, Plan, ReadScope, ResourceChange, fields};

/// A request to stop, shared with the signal handlers: holds the signal number.
#[derive(Debug, Default)]
pub struct Stop {
    signal: AtomicI32,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Asks the running verification or apply to stop (the first signal wins).
    pub fn request(&self, signal: i32) {
        let _ = self
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The signal that asked to stop, if any.
    pub fn requested(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

/// One resource that changed since the plan was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub address: Address,
    pub detail: String,
}

/// Why a saved plan is refused before anything is written (exit 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{source_name} was made by ecsched {made_by}, this is {this}: plan again with this version"
    )]
    ToolVersion {
        source_name: String,
        made_by: String,
        this: String,
    },
    #[error(
        "{source_name} was made for account {} ({}) in {}, but the credentials are for account {} ({}) in {}",
        planned.account_id, planned.partition, planned.region, actual.account_id, actual.partition, actual.region
    )]
    Target {
        source_name: String,
        planned: Box<AccountContext>,
        actual: Box<AccountContext>,
    },
    #[error(
        "the saved plan {source_name} was already applied (in whole or in part): {} already carr{} its plan id {plan_id}; nothing was written. Run plan again.",
        addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        if addresses.len() == 1 { "ies" } else { "y" }
    )]
    AlreadyApplied {
        source_name: String,
        plan_id: String,
        addresses: Vec<Address>,
    },
    #[error(
        "{source_name} would take over {} from another trackingId and was not made with --takeover (pass --takeover to plan, or to apply without a plan file, to allow it); nothing was written",
        addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Takeover {
        source_name: String,
        addresses: Vec<Address>,
    },
    #[error(
        "the saved plan {source_name} was already applied: it is recorded in {record}{}; nothing was written. Run plan again.",
        if by.is_empty() { String::new() } else { format!(" ({by})") }
    )]
    Claimed {
        source_name: String,
        record: String,
        by: String,
    },
    #[error(
        "{source_name} is not a consistent plan: applying it could write what it does not show; nothing was written\n{}\nRun plan again.",
        problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    Inconsistent {
        source_name: String,
        problems: Vec<String>,
    },
    #[error(
        "the saved plan {source_name} is stale: live state changed since it was made; nothing was written\n{}\nRun plan again.",
        drift.iter().map(|d| format!("  {} {}", d.address, d.detail)).collect::<Vec<_>>().join("\n")
    )]
    Stale {
        source_name: String,
        drift: Vec<Drift>,
    },
}

/// Checks that `plan` was made by this version for this account, partition
/// and region (`ctx`). `source_name` names the plan in messages.
pub fn check_target(plan: &Plan, source_name: &str, ctx: &AccountContext) -> Result<(), Refusal> {
    if ctx.account_id != plan.account_id
        || ctx.partition != plan.partition
        || ctx.region != plan.region
    {
        return Err(Refusal::Target {
            source_name: source_name.to_string(),
            planned: Box::new(plan.context()),
            actual: Box::new(ctx.clone()),
        });
    }
    if plan.tool_version != env!("CARGO_PKG_VERSION") {
        return Err(Refusal::ToolVersion {
            source_name: source_name.to_string(),
            made_by: plan.tool_version.clone(),
            this: env!("CARGO_PKG_VERSION").to_string(),
        });
    }
    Ok(())
}

/// A plan that takes over resources of another trackingId needs consent
/// (`--takeover`, recorded in the plan).
pub fn check_consent(plan: &Plan, source_name: &str) -> Result<(), Refusal> {
    let takeovers = plan.takeovers();
    if takeovers.is_empty() || plan.takeover {
        return Ok(());
    }
    Err(Refusal::Takeover {
        source_name: source_name.to_string(),
        addresses: takeovers.iter().map(|c| c.address.clone()).collect(),
    })
}

/// The live state a plan was verified against, and when it was read.
#[derive(Debug, Clone)]
pub struct Verified {
    pub live: BTreeMap<Address, LiveResource>,
    pub read_at: Instant,
}

/// Compares a fresh read with the plan: resources already carrying this plan's
/// id, fingerprints that differ (naming the fields that changed), and with
/// prune a changed managed set.
pub fn compare(
    plan: &Plan,
    source_name: &str,
    live: &BTreeMap<Address, LiveResource>,
) -> Result<(), Refusal> {
    let applied: Vec<Address> = plan
        .fingerprints
        .iter()
        .filter(|f| {
            live.get(&f.address)
                .is_some_and(|l| l.plan_id.as_deref() == Some(plan.plan_id.as_str()))
        })
        .map(|f| f.address.clone())
        .collect();
    if !applied.is_empty() {
        return Err(Refusal::AlreadyApplied {
            source_name: source_name.to_string(),
            plan_id: plan.plan_id.clone(),
            addresses: applied,
        });
    }
    let mut drift = Vec::new();
    for fp in &plan.fingerprints {
        let now = live.get(&fp.address);
        let detail = match (&fp.digest, now) {
            (None, None) => continue,
            (Some(d), Some(l)) if *d == l.fingerprint => continue,
            (None, Some(_)) => "was absent when planned, now exists".to_string(),
            (Some(_), None) => "existed when planned, now is gone".to_string(),
            (Some(_), Some(l)) => {
                let before = plan
                    .changes
                    .iter()
                    .find(|c| c.address == fp.address)
                    .and_then(|c| c.before.as_ref());
                let paths = before
                    .map(|b| fields::changed(b, &l.resource))
                    .unwrap_or_default();
                if paths.is_empty() {
                    "changed since the plan was made (its tags, or a field ecsched does not model)"
                        .to_string()
                } else {
                    format!("changed since the plan was made: {}", paths.join(", "))
                }
            }
        };
        drift.push(Drift {
            address: fp.address.clone(),
            detail,
        });
    }
    if plan.selection.prune {
        let resources: Vec<LiveResource> = live.values().cloned().collect();
        let now: BTreeSet<Address> = managed_set(&resources, &plan.tracking_id)
            .into_iter()
            .collect();
        let then: BTreeSet<Address> = plan.managed_seen.iter().cloned().collect();
        for a in now.difference(&then) {
            if !drift.iter().any(|d| &d.address == a) {
                drift.push(Drift {
                    address: a.clone(),
                    detail: "is now managed for this trackingId but was not when planned"
                        .to_string(),
                });
            }
        }
        for a in then.difference(&now) {
            if !drift.iter().any(|d| &d.address == a) {
                drift.push(Drift {
                    address: a.clone(),
                    detail: "was managed when planned, is not now".to_string(),
                });
            }
        }
    }
    if drift.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Stale {
            source_name: source_name.to_string(),
            drift,
        })
    }
}

/// Why verification did not get to a verdict, or refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Read(E),
    #[error("interrupted while checking the plan against live state; nothing was written")]
    Interrupted(i32),
}

/// Reads exactly what `plan` touches (in parallel) and [`compare`]s it.
pub async fn verify<B: Backend>(
    backend: &B,
    plan: &Plan,
    source_name: &str,
    progress: Progress<'_>,
    stop: &Stop,
) -> Result<Verified, VerifyError<B::Error>> {
    let problems = plan.inconsistencies();
    if !problems.is_empty() {
        return Err(Refusal::Inconsistent {
            source_name: source_name.to_string(),
            problems,
        }
        .into());
    }
    check_consent(plan, source_name)?;
    if let Some(s) = stop.requested() {
        return Err(VerifyError::Interrupted(s));
    }
    let scope = ReadScope::for_plan(plan);
    // Taken before the read: a long read must not make its first answers look fresh.
    let read_at = Instant::now();
    let read = tokio::select! {
        r = backend.read(&scope, progress) => r.map_err(VerifyError::Read)?,
        s = wait_for_stop(stop) => return Err(VerifyError::Interrupted(s)),
    };
    let live: BTreeMap<Address, LiveResource> = read
        .resources
        .into_iter()
        .map(|l| (l.resource.address(), l))
        .collect();
    compare(plan, source_name, &live)?;
    Ok(Verified { live, read_at })
}

/// Resolves when a stop is requested, with its signal.
pub async fn wait_for_stop(stop: &Stop) -> i32 {
    loop {
        if let Some(s) = stop.requested() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How to execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// Resources written at the same time at most.
    pub concurrency: usize,
    /// A verification read older than this is repeated before a write.
    pub recheck_after: Duration,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            concurrency: 16,
            recheck_after: Duration::from_secs(60),
        }
    }
}

/// The outcome of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Failed(String),
    NotAttempted,
}

/// Per-resource results of an apply, in the plan's order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<(ResourceChange, Outcome)>,
    /// The signal that stopped the apply, if one did.
    pub interrupted: Option<i32>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.results
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed(_)))
    }

    pub fn count(&self, outcome: &Outcome) -> usize {
        self.results
            .iter()
            .filter(|(_, o)| std::mem::discriminant(o) == std::mem::discriminant(outcome))
            .count()
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
        out.push_str(&format!(
            "Apply {}: {} of {} changes applied.\n",
            if self.failed() {
                "failed"
            } else if self.interrupted.is_some() {
                "interrupted"
            } else {
                "complete"
            },
            self.count(&Outcome::Applied),
            self.results.len()
        ));
        out
    }
}

/// Applies a verified plan (see the module doc for the rules) and returns the
/// report; `on_result` is called as each resource finishes.
pub async fn execute<B: Backend>(
    backend: &B,
    plan: &Plan,
    verified: &Verified,
    opts: &ExecuteOptions,
    stop: &Stop,
    on_result: &(dyn Fn(&ResourceChange, &Outcome) + Sync),
) -> Report {
    let (writes, deletes): (Vec<&ResourceChange>, Vec<&ResourceChange>) = plan
        .changes
        .iter()
        .partition(|c| c.action != Action::Delete);
    let failed = AtomicBool::new(false);
    let mut outcomes: BTreeMap<Address, Outcome> = BTreeMap::new();
    for phase in [writes, deletes] {
        let mut pending = phase.into_iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < opts.concurrency.max(1)
                && !failed.load(Ordering::SeqCst)
                && stop.requested().is_none()
            {
                let Some(change) = pending.next() else { break };
                in_flight.push(async move {
                    (
                        change,
                        apply_one(backend, plan, verified, change, opts).await,
                    )
                });
            }
            let Some((change, outcome)) = in_flight.next().await else {
                break;
            };
            if matches!(outcome, Outcome::Failed(_)) {
                failed.store(true, Ordering::SeqCst);
            }
            on_result(change, &outcome);
            outcomes.insert(change.address.clone(), outcome);
        }
    }
    let results = plan
        .changes
        .iter()
        .map(|c| {
            let o = outcomes.remove(&c.address).unwrap_or(Outcome::NotAttempted);
            (c.clone(), o)
        })
        .collect();
    Report {
        results,
        interrupted: stop.requested(),
    }
}

/// Reads one resource: `None` when absent. `owners`: with the ownership tags
/// of a schedule's group (needed for its fingerprint, not for a read-back).
async fn read_one<B: Backend>(
    backend: &B,
    plan: &Plan,
    address: &Address,
    owners: bool,
) -> Result<Option<LiveResource>, B::Error> {
    let mut scope = ReadScope::only(&plan.cluster_arn, vec![address.clone()]);
    scope.owners = owners;
    let read = backend.read(&scope, &|_, _| {}).await?;
    Ok(read
        .resources
        .into_iter()
        .find(|l| l.resource.address() == *address))
}

async fn apply_one<B: Backend>(
    backend: &B,
    plan: &Plan,
    verified: &Verified,
    change: &ResourceChange,
    opts: &ExecuteOptions,
) -> Outcome {
    let expected = plan
        .fingerprints
        .iter()
        .find(|f| f.address == change.address)
        .map(|f| f.digest.clone());
    let live = if verified.read_at.elapsed() > opts.recheck_after {
        match read_one(backend, plan, &change.address, true).await {
            Ok(now) => {
                if let Some(expected) = &expected
                    && now.as_ref().map(|l| &l.fingerprint) != expected.as_ref()
                {
                    return Outcome::Failed(
                        "changed since the plan was checked; nothing was written for it"
                            .to_string(),
                    );
                }
                now
            }
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    } else {
        verified.live.get(&change.address).cloned()
    };
    let owner = Owner {
        tracking_id: plan.tracking_id.clone(),
        plan_id: Some(plan.plan_id.clone()),
    };
    match change.action {
        Action::Create | Action::Update => {
            let Some(after) = &change.after else {
                return Outcome::Failed("the plan has no desired state for it".to_string());
            };
            if let Err(e) = backend.put(after, &owner, live.as_ref()).await {
                return Outcome::Failed(e.to_string());
            }
            match read_one(backend, plan, &change.address, false).await {
                Err(e) => Outcome::Failed(format!("written, but reading it back failed: {e}")),
                Ok(None) => Outcome::Failed(
                    "written, but it cannot be read back: deleted by a concurrent change?"
                        .to_string(),
                ),
                Ok(Some(now)) => {
                    let is_rule = matches!(change.address, Address::Rule { .. });
                    let mut problems = fields::changed(after, &now.resource);
                    if is_rule && now.tracking_id.as_deref() != Some(plan.tracking_id.as_str()) {
                        problems.push("the ecschedule:tracking-id tag".to_string());
                    }
                    if is_rule && now.plan_id.as_deref() != Some(plan.plan_id.as_str()) {
                        problems.push("the ecsched:plan-id tag".to_string());
                    }
                    if problems.is_empty() {
                        Outcome::Applied
                    } else {
                        Outcome::Failed(format!(
                            "concurrent change: written, but it reads back different from the plan ({}); another writer changed it at the same time",
                            problems.join(", ")
                        ))
                    }
                }
            }
        }
        Action::Delete => {
            let Some(l) = live else {
                return Outcome::Applied; // already gone
            };
            if let Err(e) = backend.delete(&l).await {
                return Outcome::Failed(e.to_string());
            }
            match read_one(backend, plan, &change.address, false).await {
                Ok(None) => Outcome::Applied,
                Ok(Some(_)) => {
                    Outcome::Failed("concurrent change: deleted, but it exists again".to_string())
                }
                Err(e) => Outcome::Failed(format!("deleted, but reading it back failed: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
