//! `apply` against an in-memory backend: ordering, parallelism, stop on
//! failure, interrupts, read-back verification, drift and re-check refusals,
//! and the number of reads per resource. No network.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::model::{EcsTarget, RetryPolicy, Rule, Schedule, State, Target};
use crate::plan::{Fingerprint, LiveRead, PlanSelection, Resource};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/c";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct MemError(String);

#[derive(Clone, Debug)]
struct Stored {
    resource: Resource,
    tracking_id: Option<String>,
    plan_id: Option<String>,
    version: u64,
}

/// Live state in a map. Every write bumps the resource's version, which is its
/// fingerprint.
#[derive(Default)]
struct Memory {
    state: Mutex<BTreeMap<Address, Stored>>,
    log: Mutex<Vec<String>>,
    fail: Mutex<HashSet<Address>>,
    /// Writes that land right after ours (another writer).
    clobber: Mutex<HashSet<Address>>,
    reads: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay: Duration,
    version: AtomicUsize,
}

impl Memory {
    fn with(resources: Vec<(Resource, Option<&str>)>) -> Memory {
        let m = Memory::default();
        for (r, t) in resources {
            m.insert(r, t);
        }
        m
    }

    fn insert(&self, r: Resource, tracking: Option<&str>) {
        let version = self.version.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        self.state.lock().unwrap().insert(
            r.address(),
            Stored {
                resource: r,
                tracking_id: tracking.map(str::to_string),
                plan_id: None,
                version,
            },
        );
    }

    fn live(&self, a: &Address) -> Option<LiveResource> {
        self.state.lock().unwrap().get(a).map(|s| LiveResource {
            resource: s.resource.clone(),
            tracking_id: s.tracking_id.clone(),
            plan_id: s.plan_id.clone(),
            fingerprint: format!("v{}", s.version),
            foreign_targets: vec![],
        })
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    async fn busy(&self) {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backend for Memory {
    type Error = MemError;

    async fn read(&self, scope: &ReadScope, _: Progress<'_>) -> Result<LiveRead, MemError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let state = self.state.lock().unwrap();
        let resources = state
            .iter()
            .filter(|(a, _)| scope.list || scope.addresses.contains(a))
            .map(|(a, _)| a.clone())
            .collect::<Vec<_>>();
        drop(state);
        Ok(LiveRead {
            resources: resources.iter().filter_map(|a| self.live(a)).collect(),
            skipped: vec![],
            groups: vec![],
        })
    }

    async fn put(
        &self,
        after: &Resource,
        owner: &Owner,
        _live: Option<&LiveResource>,
    ) -> Result<(), MemError> {
        let a = after.address();
        self.log.lock().unwrap().push(format!("put {a}"));
        self.busy().await;
        if self.fail.lock().unwrap().contains(&a) {
            return Err(MemError(format!("injected failure on {a}")));
        }
        let is_rule = matches!(a, Address::Rule { .. });
        let version = self.version.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        let mut resource = after.clone();
        if self.clobber.lock().unwrap().contains(&a)
            && let Resource::Rule(r) = &mut resource
        {
            r.schedule_expression = "rate(7 days)".into();
        }
        self.state.lock().unwrap().insert(
            a,
            Stored {
                resource,
                tracking_id: Some(owner.tracking_id.clone()),
                plan_id: if is_rule { owner.plan_id.clone() } else { None },
                version,
            },
        );
        Ok(())
    }

    async fn delete(&self, live: &LiveResource) -> Result<(), MemError> {
        let a = live.resource.address();
        self.log.lock().unwrap().push(format!("delete {a}"));
        self.busy().await;
        if self.fail.lock().unwrap().contains(&a) {
            return Err(MemError(format!("injected failure on {a}")));
        }
        self.state.lock().unwrap().remove(&a);
        Ok(())
    }
}

fn rule(name: &str, expr: &str) -> Resource {
    Resource::Rule(Rule {
        name: name.into(),
        event_bus: "default".into(),
        description: String::new(),
        schedule_expression: expr.into(),
        state: State::Enabled,
        role_arn: None,
        event_pattern: None,
        tags: Default::default(),
        targets: vec![Target {
            id: name.into(),
            ecs: EcsTarget {
                cluster_arn: CLUSTER.into(),
                task_count: 1,
                ..EcsTarget::default()
            },
            dead_letter_arn: None,
            retry_policy: RetryPolicy::default(),
        }],
    })
}

fn schedule(group: &str, name: &str) -> Resource {
    Resource::Schedule(Schedule {
        name: name.into(),
        group: group.into(),
        description: String::new(),
        schedule_expression: "rate(1 hour)".into(),
        timezone: "UTC".into(),
        start_date: None,
        end_date: None,
        state: State::Enabled,
        flexible_window_minutes: None,
        action_after_completion: "NONE".into(),
        kms_key_arn: None,
        ecs: EcsTarget {
            cluster_arn: CLUSTER.into(),
            task_count: 1,
            ..EcsTarget::default()
        },
        dead_letter_arn: None,
        retry_policy: RetryPolicy::default(),
    })
}

fn change(action: Action, before: Option<Resource>, after: Option<Resource>) -> ResourceChange {
    let address = before
        .as_ref()
        .or(after.as_ref())
        .map(Resource::address)
        .unwrap();
    ResourceChange {
        address,
        action,
        before,
        after,
        adopts_unmanaged: false,
        takeover_from: None,
        tag_only: false,
        notes: vec![],
    }
}

/// A plan made against `m`'s current state.
fn plan(m: &Memory, changes: Vec<ResourceChange>, prune: bool) -> Plan {
    let fingerprints = changes
        .iter()
        .map(|c| Fingerprint {
            address: c.address.clone(),
            digest: m.live(&c.address).map(|l| l.fingerprint),
        })
        .collect();
    let addresses: Vec<Address> = m.state.lock().unwrap().keys().cloned().collect();
    let live: Vec<LiveResource> = addresses.iter().filter_map(|a| m.live(a)).collect();
    Plan {
        plan_id: "plan-1".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        account_id: "123456789012".into(),
        partition: "aws".into(),
        region: "us-east-1".into(),
        cluster_arn: CLUSTER.into(),
        tracking_id: "c".into(),
        config_path: "ecsched.yaml".into(),
        config_digest: String::new(),
        selection: PlanSelection {
            all: true,
            prune,
            ..PlanSelection::default()
        },
        changes,
        fingerprints,
        managed_seen: if prune {
            managed_set(&live, "c")
        } else {
            vec![]
        },
        takeover: false,
        left_alone: vec![],
        lock: None,
    }
}

fn no_progress(_: usize, _: usize) {}

async fn run(m: &Memory, p: &Plan, opts: ExecuteOptions, stop: &Stop) -> Report {
    let verified = verify(m, p, "plan.bin", &no_progress, stop).await.unwrap();
    execute(m, p, &verified, &opts, stop, &|_, _| {}).await
}

fn outcomes(r: &Report) -> Vec<(String, String)> {
    r.results
        .iter()
        .map(|(c, o)| {
            let o = match o {
                Outcome::Applied => "applied".to_string(),
                Outcome::Failed(e) => format!("failed: {e}"),
                Outcome::NotAttempted => "not attempted".to_string(),
            };
            (c.address.to_string(), o)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn creates_and_updates_run_in_parallel_and_all_before_any_delete() {
    let m = Memory::with(vec![
        (rule("upd", "rate(1 hour)"), Some("c")),
        (rule("gone-1", "rate(1 hour)"), Some("c")),
        (rule("gone-2", "rate(1 hour)"), Some("c")),
    ]);
    let m = Memory {
        delay: Duration::from_millis(10),
        ..m
    };
    let mut changes = vec![
        change(Action::Delete, Some(rule("gone-1", "rate(1 hour)")), None),
        change(
            Action::Update,
            Some(rule("upd", "rate(1 hour)")),
            Some(rule("upd", "rate(2 hours)")),
        ),
        change(Action::Delete, Some(rule("gone-2", "rate(1 hour)")), None),
    ];
    for i in 0..6 {
        changes.push(change(
            Action::Create,
            None,
            Some(rule(&format!("new-{i}"), "rate(1 day)")),
        ));
    }
    changes.push(change(Action::Create, None, Some(schedule("g", "s"))));
    let p = plan(&m, changes, false);
    let report = run(
        &m,
        &p,
        ExecuteOptions {
            concurrency: 4,
            ..ExecuteOptions::default()
        },
        &Stop::new(),
    )
    .await;
    assert!(!report.failed(), "{:?}", outcomes(&report));
    assert_eq!(report.count(&Outcome::Applied), 10);
    let log = m.log();
    let first_delete = log.iter().position(|l| l.starts_with("delete")).unwrap();
    assert_eq!(first_delete, 8, "every put before any delete: {log:?}");
    assert_eq!(
        m.max_in_flight.load(Ordering::SeqCst),
        4,
        "bounded parallelism"
    );
    // Results are reported in the plan's order.
    assert_eq!(report.results[0].0.address.to_string(), "rule.gone-1");
    // Rules carry the plan id after the write.
    assert_eq!(
        m.live(&Address::rule("upd")).unwrap().plan_id.as_deref(),
        Some("plan-1")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_stops_new_writes_and_the_report_is_exact() {
    let m = Memory::default();
    let changes: Vec<ResourceChange> = (0..20)
        .map(|i| {
            change(
                Action::Create,
                None,
                Some(rule(&format!("r{i:02}"), "rate(1 day)")),
            )
        })
        .collect();
    let p = plan(&m, changes, false);
    m.fail.lock().unwrap().insert(Address::rule("r05"));
    // One at a time: exactly r00..r04 applied, r05 failed, the rest untouched.
    let report = run(
        &m,
        &p,
        ExecuteOptions {
            concurrency: 1,
            ..ExecuteOptions::default()
        },
        &Stop::new(),
    )
    .await;
    let o = outcomes(&report);
    assert!(o[..5].iter().all(|(_, x)| x == "applied"), "{o:?}");
    assert_eq!(o[5].1, "failed: injected failure on rule.r05");
    assert!(o[6..].iter().all(|(_, x)| x == "not attempted"), "{o:?}");
    assert_eq!(m.log().len(), 6, "no write after the failure");
    assert!(
        report
            .closing_text()
            .ends_with("Apply failed: 5 of 20 changes applied.\n")
    );

    // In parallel: what was in flight finishes; nothing starts after the failure;
    // every resource is reported exactly once and never written if "not attempted".
    let m = Memory {
        delay: Duration::from_millis(10),
        ..Memory::default()
    };
    m.fail.lock().unwrap().insert(Address::rule("r05"));
    let report = run(
        &m,
        &p,
        ExecuteOptions {
            concurrency: 4,
            ..ExecuteOptions::default()
        },
        &Stop::new(),
    )
    .await;
    let written: HashSet<String> = m.log().iter().map(|l| l[4..].to_string()).collect();
    for (c, o) in &report.results {
        let a = c.address.to_string();
        match o {
            Outcome::NotAttempted => assert!(!written.contains(&a), "{a} was written"),
            _ => assert!(written.contains(&a), "{a} reported but not written"),
        }
    }
    assert_eq!(report.count(&Outcome::Failed(String::new())), 1);
    // At most `concurrency` were in flight when r05 failed: r00..r08 at most.
    assert!(
        report.count(&Outcome::NotAttempted) >= 11,
        "{:?}",
        outcomes(&report)
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_lets_writes_in_flight_finish_and_starts_nothing_new() {
    let m = Memory {
        delay: Duration::from_millis(10),
        ..Memory::default()
    };
    let changes: Vec<ResourceChange> = (0..10)
        .map(|i| {
            change(
                Action::Create,
                None,
                Some(rule(&format!("r{i}"), "rate(1 day)")),
            )
        })
        .collect();
    let p = plan(&m, changes, false);
    let stop = Stop::new();
    let verified = verify(&m, &p, "plan.bin", &no_progress, &stop)
        .await
        .unwrap();
    let done = AtomicUsize::new(0);
    let report = execute(
        &m,
        &p,
        &verified,
        &ExecuteOptions {
            concurrency: 2,
            ..ExecuteOptions::default()
        },
        &stop,
        &|_, _| {
            if done.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                stop.request(15);
            }
        },
    )
    .await;
    assert_eq!(report.interrupted, Some(15));
    // 3 finished when the signal came, the 4th was in flight and finished too.
    assert_eq!(
        report.count(&Outcome::Applied),
        4,
        "{:?}",
        outcomes(&report)
    );
    assert_eq!(report.count(&Outcome::NotAttempted), 6);
    assert_eq!(m.log().len(), 4);
    assert!(
        report
            .closing_text()
            .ends_with("Apply interrupted: 4 of 10 changes applied.\n")
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_during_verification_writes_nothing() {
    let m = Memory::default();
    let p = plan(
        &m,
        vec![change(Action::Create, None, Some(rule("r", "rate(1 day)")))],
        false,
    );
    let stop = Stop::new();
    stop.request(2);
    let err = verify(&m, &p, "plan.bin", &no_progress, &stop)
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Interrupted(2)), "{err}");
    assert!(m.log().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_write_that_reads_back_different_is_a_concurrent_change() {
    let m = Memory::with(vec![(rule("r", "rate(1 hour)"), Some("c"))]);
    let p = plan(
        &m,
        vec![change(
            Action::Update,
            Some(rule("r", "rate(1 hour)")),
            Some(rule("r", "rate(2 hours)")),
        )],
        false,
    );
    m.clobber.lock().unwrap().insert(Address::rule("r"));
    let report = run(&m, &p, ExecuteOptions::default(), &Stop::new()).await;
    assert_eq!(
        outcomes(&report),
        [(
            "rule.r".to_string(),
            "failed: concurrent change: written, but it reads back different from the plan \
             (schedule_expression); another writer changed it at the same time"
                .to_string()
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn drift_refuses_the_whole_plan_and_names_the_field() {
    let m = Memory::with(vec![
        (rule("a", "rate(1 hour)"), Some("c")),
        (rule("b", "rate(1 hour)"), Some("c")),
    ]);
    let p = plan(
        &m,
        vec![
            change(
                Action::Update,
                Some(rule("a", "rate(1 hour)")),
                Some(rule("a", "rate(2 hours)")),
            ),
            change(
                Action::Update,
                Some(rule("b", "rate(1 hour)")),
                Some(rule("b", "rate(3 hours)")),
            ),
            change(Action::Create, None, Some(rule("c", "rate(1 day)"))),
        ],
        false,
    );
    // Someone edits b and creates c after the plan was made.
    m.insert(rule("b", "rate(5 hours)"), Some("c"));
    m.insert(rule("c", "rate(1 day)"), None);
    let err = verify(&m, &p, "plan.bin", &no_progress, &Stop::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the saved plan plan.bin is stale: live state changed since it was made; nothing was written\n  \
         rule.b changed since the plan was made: schedule_expression\n  \
         rule.c was absent when planned, now exists\nRun plan again."
    );
    assert!(m.log().is_empty());
}

#[tokio::test(start_paused = true)]
async fn prune_plans_are_refused_when_the_managed_set_changed() {
    let m = Memory::with(vec![(rule("a", "rate(1 hour)"), Some("c"))]);
    let p = plan(&m, vec![], true);
    m.insert(rule("n", "rate(1 hour)"), Some("c"));
    let err = verify(&m, &p, "plan.bin", &no_progress, &Stop::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("rule.n is now managed for this trackingId but was not when planned"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_plan_that_was_applied_is_refused_even_after_a_revert() {
    let m = Memory::with(vec![(rule("r", "rate(1 hour)"), Some("c"))]);
    let p = plan(
        &m,
        vec![change(
            Action::Update,
            Some(rule("r", "rate(1 hour)")),
            Some(rule("r", "rate(2 hours)")),
        )],
        false,
    );
    let report = run(&m, &p, ExecuteOptions::default(), &Stop::new()).await;
    assert!(!report.failed());
    // Reverted by hand: the definition and the version the plan saw, but the
    // plan-id tag stays (tags survive PutRule).
    {
        let mut s = m.state.lock().unwrap();
        let stored = s.get_mut(&Address::rule("r")).unwrap();
        stored.resource = rule("r", "rate(1 hour)");
        stored.version = 1;
    }
    let err = verify(&m, &p, "plan.bin", &no_progress, &Stop::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the saved plan plan.bin was already applied (in whole or in part): rule.r already carries \
         its plan id plan-1; nothing was written. Run plan again."
    );
}

#[tokio::test(start_paused = true)]
async fn an_old_verification_is_rechecked_before_each_write() {
    let m = Memory::with(vec![(rule("r", "rate(1 hour)"), Some("c"))]);
    let p = plan(
        &m,
        vec![change(
            Action::Update,
            Some(rule("r", "rate(1 hour)")),
            Some(rule("r", "rate(2 hours)")),
        )],
        false,
    );
    let stop = Stop::new();
    let verified = verify(&m, &p, "plan.bin", &no_progress, &stop)
        .await
        .unwrap();
    // Changed after the check, and the check is now old.
    m.insert(rule("r", "rate(9 hours)"), Some("c"));
    tokio::time::advance(Duration::from_secs(61)).await;
    let report = execute(
        &m,
        &p,
        &verified,
        &ExecuteOptions::default(),
        &stop,
        &|_, _| {},
    )
    .await;
    assert_eq!(
        outcomes(&report)[0].1,
        "failed: changed since the plan was checked; nothing was written for it"
    );
    assert!(m.log().is_empty(), "nothing written");
}

#[tokio::test(start_paused = true)]
async fn reads_one_verification_and_one_read_back_per_resource() {
    let m = Memory::with(vec![(rule("u", "rate(1 hour)"), Some("c"))]);
    let changes = vec![
        change(
            Action::Update,
            Some(rule("u", "rate(1 hour)")),
            Some(rule("u", "rate(2 hours)")),
        ),
        change(Action::Create, None, Some(rule("n", "rate(1 hour)"))),
    ];
    let p = plan(&m, changes, false);
    let report = run(&m, &p, ExecuteOptions::default(), &Stop::new()).await;
    assert!(!report.failed());
    // One read of the touched set (verification), one read-back per resource.
    assert_eq!(m.reads.load(Ordering::SeqCst), 1 + 2);
}

#[test]
fn stop_keeps_the_first_signal() {
    let s = Stop::new();
    assert_eq!(s.requested(), None);
    s.request(15);
    s.request(2);
    assert_eq!(s.requested(), Some(15));
}

#[tokio::test(start_paused = true)]
async fn a_plan_whose_changes_disagree_with_its_views_is_refused() {
    let m = Memory::with(vec![(rule("a", "rate(1 hour)"), Some("c"))]);
    // A change without its fingerprint would be written blind; a tag-only
    // change is shown as "no change", so its states must not differ.
    let mut p = plan(
        &m,
        vec![change(
            Action::Update,
            Some(rule("a", "rate(1 hour)")),
            Some(rule("a", "rate(2 hours)")),
        )],
        false,
    );
    p.changes[0].tag_only = true;
    p.changes.push(change(
        Action::Delete,
        Some(rule("z", "rate(1 hour)")),
        None,
    ));
    let err = verify(&m, &p, "plan.bin", &no_progress, &Stop::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plan.bin is not a consistent plan: applying it could write what it does not show; nothing was written\n  \
         rule.a is marked tag-only (shown as no change) but its states differ\n  \
         rule.z: its delete does not match its before/after states or its fingerprint\nRun plan again."
    );
    assert!(m.log().is_empty());
}
