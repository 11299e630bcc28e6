//! The AWS layer: the only code in ecsched that talks to AWS (EventBridge rules
//! and targets, EventBridge Scheduler, ECS, S3/SSM for config templates, and
//! the run lock in S3).
//! Its public API speaks model types and plain data; SDK types never leave it
//! (except as the `source` of an [`AwsError`]). Every call goes through the
//! gate (`gate.rs`): one concurrency bound ([`AwsOptions`]) and an adaptive
//! rate per API operation, with the retries of throttling, 5xx and dropped
//! connections (the SDK's own retries are off). Reads are one paginated
//! listing per API, then per-resource reads in parallel. It never decides *what* to change:
//! that is the planner's job.

mod backend;
mod buckets;
mod convert;
mod ecs;
pub mod error;
mod eventbridge;
mod fingerprint;
mod gate;
mod live;
mod lock;
mod paginate;
mod remote;
mod scheduler;
pub mod sdk;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use error::{AwsError, AwsResult};
pub use gate::OpStats;
pub use live::{LiveRule, LiveRules, LiveSchedule, LiveSchedules, SkippedRule, TaskOutcome};
pub use lock::{
    DEFAULT_LOCK_TTL, DEFAULT_RETRY_DELAY, HeldLock, LockError, LockInfo, LockRequest, LockSpec,
    Released,
};
pub use remote::{AwsRemote, LazyRemote};
pub use scheduler::ScheduleGroup;

use crate::model::{AccountContext, EcsTarget, Owner, Rule, Schedule, arn};
use gate::{Gate, GateOptions, Op};

/// How ecsched talks to AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsOptions {
    /// `--region` or the config's `region:`; `None` falls back to the SDK chain.
    pub region: Option<String>,
    /// API calls in flight at most, all operations together. Sized so that
    /// latency × rate is covered for several APIs at once (a 100 ms API at
    /// 50 requests/s needs 5 in flight).
    pub concurrency: usize,
    /// Cap on every operation's request rate (requests/s); `None`: each
    /// operation starts at its published quota. 0 disables client-side limits.
    pub rate_limit: Option<f64>,
    /// Attempts per call, the first included (throttling, 5xx, timeouts and
    /// dropped connections are retried).
    pub max_attempts: u32,
    /// **Test only.** Every request carries `x-moto-account-id: <value>`, so
    /// that each test against the moto emulator works in an account of its own.
    pub test_account: Option<String>,
    /// Endpoint for every service (tests; `AWS_ENDPOINT_URL` does the same
    /// through the SDK's own configuration). With `test_account`, fixed fake
    /// credentials are used.
    pub endpoint: Option<String>,
}

/// `--concurrency` unless set.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// `--max-attempts` / `AWS_MAX_ATTEMPTS` unless set.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            region: None,
            concurrency: DEFAULT_CONCURRENCY,
            rate_limit: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            test_account: None,
            endpoint: None,
        }
    }
}

/// A connection to one AWS account and region. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Aws {
    ctx: AccountContext,
    calls: Arc<AtomicU64>,
    gate: Arc<Gate>,
    rules: eventbridge::Rules,
    schedules: scheduler::Schedules,
    tasks: ecs::Tasks,
    remote: AwsRemote,
    locks: lock::Locks,
}

impl Aws {
    /// Connects with the standard AWS configuration chain (profiles, SSO, env,
    /// IMDS, `AWS_ENDPOINT_URL`) and learns the account and partition from STS
    /// `GetCallerIdentity`. The region is `opts.region`, else the SDK chain; with
    /// neither, the error names `--region`, `region:`, `AWS_REGION` and the profile.
    pub async fn connect(opts: &AwsOptions) -> AwsResult<Aws> {
        let calls = Arc::new(AtomicU64::new(0));
        let clients = sdk::load(
            opts,
            opts.endpoint.as_deref(),
            opts.test_account.as_deref(),
            calls.clone(),
        )
        .await?;
        let region = clients.region().unwrap_or_default().to_string();
        let gate = Arc::new(Gate::new(
            GateOptions {
                concurrency: opts.concurrency,
                rate_cap: opts.rate_limit,
                max_attempts: opts.max_attempts,
            },
            &region,
        ));
        let buckets = buckets::S3Buckets::new(&clients, gate.clone());
        let req = clients.sts.get_caller_identity();
        let identity = gate
            .call(Op::sts("GetCallerIdentity"), || req.clone().send())
            .await
            .map_err(|e| AwsError::api("GetCallerIdentity", "the configured credentials", e))?;
        let account_id = identity
            .account()
            .filter(|a| !a.is_empty())
            .ok_or(AwsError::MissingField {
                operation: "GetCallerIdentity",
                resource: "the configured credentials".to_string(),
                field: "Account",
            })?
            .to_string();
        // arn:PARTITION:sts::ACCOUNT:…
        let partition = identity
            .arn()
            .and_then(|a| a.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .map_or_else(
                || arn::partition_of_region(&region).to_string(),
                str::to_string,
            );
        let ctx = AccountContext {
            account_id,
            partition,
            region,
        };
        Ok(Aws {
            rules: eventbridge::Rules::new(clients.events.clone(), gate.clone(), ctx.clone()),
            schedules: scheduler::Schedules::new(
                clients.scheduler.clone(),
                gate.clone(),
                ctx.clone(),
            ),
            tasks: ecs::Tasks::new(clients.ecs.clone(), gate.clone()),
            remote: AwsRemote::new(&clients, gate.clone(), buckets.clone()),
            locks: lock::Locks::new(buckets, gate.clone()),
            gate,
            ctx,
            calls,
        })
    }

    /// [`Aws::connect`] with the endpoint and the emulator account given
    /// explicitly (tests).
    pub async fn connect_with(
        opts: &AwsOptions,
        endpoint: Option<&str>,
        test_account: Option<&str>,
    ) -> AwsResult<Aws> {
        let opts = AwsOptions {
            endpoint: endpoint.map(str::to_string),
            test_account: test_account.map(str::to_string),
            ..opts.clone()
        };
        Aws::connect(&opts).await
    }

    /// Account, partition and region of this connection.
    pub fn context(&self) -> &AccountContext {
        &self.ctx
    }

    /// Requests sent so far (every attempt counts, STS included).
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Attempts, throttles and transient failures per API operation so far
    /// (`service:Operation`), sorted.
    pub fn op_stats(&self) -> Vec<(String, OpStats)> {
        self.gate
            .stats()
            .into_iter()
            .map(|(op, s)| (op.to_string(), s))
            .collect()
    }

    /// S3 and SSM reads for config templates (`config::plugin::RemoteSource`).
    pub fn remote_source(&self) -> AwsRemote {
        self.remote.clone()
    }

    // ---- Lock (S3) ---------------------------------------------------------------------

    /// Takes the lock at `spec` (`PutObject` with `If-None-Match: *`), retrying
    /// with jittered backoff for up to `wait` while another run holds it; then
    /// [`LockError::Held`] naming the holder. Never breaks a lock, expired or not.
    pub async fn acquire_lock(
        &self,
        spec: &LockSpec,
        request: &LockRequest,
        wait: Duration,
        stopped: &(dyn Fn() -> bool + Sync),
    ) -> Result<HeldLock, LockError> {
        self.locks.acquire(spec, request, wait, stopped).await
    }

    /// Releases a lock this run holds, only if the object is still ours
    /// (`DeleteObject` with `If-Match` on its ETag). Idempotent; call it on every
    /// exit path. `Ok` (any [`Released`]) means this run no longer holds it.
    pub async fn release_lock(&self, held: &HeldLock) -> Result<Released, LockError> {
        self.locks.release(held).await
    }

    /// `ecsched unlock ID`: deletes the lock only if its id is `id`; returns
    /// what it held.
    pub async fn break_lock(&self, spec: &LockSpec, id: &str) -> Result<LockInfo, LockError> {
        self.locks.break_lock(spec, id).await
    }

    /// The lock at `spec`, if any (read leniently: any object there is reported).
    pub async fn read_lock(&self, spec: &LockSpec) -> Result<Option<LockInfo>, LockError> {
        self.locks.read(spec).await
    }

    /// Creates the applied-plan record `KEY.plans/<plan_id>` if absent: `false`
    /// when another run claimed this plan id before.
    pub async fn claim_plan(
        &self,
        spec: &LockSpec,
        plan_id: &str,
        info: &LockInfo,
    ) -> Result<bool, LockError> {
        self.locks.claim_plan(spec, plan_id, info).await
    }

    /// Deletes this run's applied-plan record of `plan_id` again (an apply
    /// that a signal stopped before any write); `false` if it is not ours.
    pub async fn unclaim_plan(
        &self,
        spec: &LockSpec,
        plan_id: &str,
        info: &LockInfo,
    ) -> Result<bool, LockError> {
        self.locks.unclaim_plan(spec, plan_id, info).await
    }

    /// The applied-plan record of `plan_id`, if any (who claimed it, when).
    pub async fn plan_claim(
        &self,
        spec: &LockSpec,
        plan_id: &str,
    ) -> Result<Option<LockInfo>, LockError> {
        self.locks.plan_claim(spec, plan_id).await
    }

    // ---- EventBridge rules ------------------------------------------------------------

    /// Every scheduled rule with an ECS target on `cluster_arn` on the given buses
    /// (the default bus when empty), plus the rules named in `names` (bus, name)
    /// whatever they target. One paginated `ListRules` and `ListRuleNamesByTarget` per bus, then
    /// `ListTargetsByRule` and `ListTagsForResource` per listed rule, in parallel;
    /// `progress(done, total)` as those finish. Everything else is in `skipped`.
    pub async fn read_rules(
        &self,
        cluster_arn: &str,
        buses: &[String],
        names: &[(String, String)],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<LiveRules> {
        self.rules
            .read_rules(cluster_arn, buses, names, progress)
            .await
    }

    /// One rule as `read_rules` reads it (same record, same fingerprint), with
    /// DescribeRule instead of a listing. `None` when it does not exist.
    pub async fn read_rule(
        &self,
        cluster_arn: &str,
        bus: &str,
        name: &str,
    ) -> AwsResult<Option<LiveRule>> {
        self.rules.read_rule(cluster_arn, bus, name).await
    }

    /// Writes a rule: `PutRule`, `PutTargets` (all targets, one call),
    /// `RemoveTargets` for our ECS targets the rule no longer declares, then
    /// `TagResource` (user tags + `owner`'s tags) and `UntagResource` for user
    /// tags the rule no longer has; each only when it differs from `live`. A
    /// failure names the steps that had already succeeded.
    pub async fn put_rule(
        &self,
        rule: &Rule,
        owner: &Owner,
        live: Option<&LiveRule>,
    ) -> AwsResult<()> {
        self.rules.put_rule(rule, owner, live).await
    }

    /// `RemoveTargets` (our targets) then `DeleteRule`; refused when the rule
    /// also has targets ecsched does not manage. A rule already gone is success.
    pub async fn delete_rule(&self, live: &LiveRule) -> AwsResult<()> {
        self.rules.delete_rule(live).await
    }

    // ---- EventBridge Scheduler --------------------------------------------------------

    /// Every schedule whose target is `cluster_arn`, plus those named in `names`
    /// (`(group, name)`): one paginated `ListSchedules` over all groups, then
    /// `GetSchedule` per kept schedule and `ListTagsForResource` once per group
    /// (not `default`, which cannot be tagged), in parallel.
    pub async fn read_schedules(
        &self,
        cluster_arn: &str,
        names: &[(String, String)],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<LiveSchedules> {
        self.schedules
            .read_schedules(cluster_arn, names, progress)
            .await
    }

    /// A schedule group's tracking tag and schedules; `None` when it does not exist.
    pub async fn read_group(&self, group: &str) -> AwsResult<Option<ScheduleGroup>> {
        self.schedules.read_group(group).await
    }

    /// Tags an existing group for `tracking_id` (`claim-group`).
    pub async fn tag_group(&self, group: &str, tracking_id: &str) -> AwsResult<()> {
        self.schedules.tag_group(group, tracking_id).await
    }

    /// Re-reads one schedule (and its group's tags) as `read_schedules` does.
    pub async fn read_schedule(&self, group: &str, name: &str) -> AwsResult<Option<LiveSchedule>> {
        self.schedules.read_schedule(group, name).await
    }

    /// Creates the schedule's group when missing (tagged with the tracking tag;
    /// never the `default` group), then `CreateSchedule` or, when `exists`,
    /// `UpdateSchedule` (a full replace).
    pub async fn put_schedule(
        &self,
        s: &Schedule,
        tracking_id: &str,
        exists: bool,
    ) -> AwsResult<()> {
        self.schedules.put_schedule(s, tracking_id, exists).await
    }

    /// `DeleteSchedule`; a schedule already gone is success.
    pub async fn delete_schedule(&self, group: &str, name: &str) -> AwsResult<()> {
        self.schedules.delete_schedule(group, name).await
    }

    // ---- ECS --------------------------------------------------------------------------

    /// Whether `DescribeTaskDefinition` finds it (`false` on `ClientException`).
    pub async fn task_definition_exists(&self, task_definition: &str) -> AwsResult<bool> {
        self.tasks.task_definition_exists(task_definition).await
    }

    /// `RunTask` with every parameter of the target; returns the task ARNs.
    pub async fn run_task(&self, ecs: &EcsTarget) -> AwsResult<Vec<String>> {
        self.tasks.run_task(ecs).await
    }

    /// Polls `DescribeTasks` until every task is `STOPPED` or `timeout` passes.
    pub async fn wait_tasks(
        &self,
        cluster_arn: &str,
        task_arns: &[String],
        timeout: Duration,
    ) -> AwsResult<Vec<TaskOutcome>> {
        self.tasks.wait_tasks(cluster_arn, task_arns, timeout).await
    }
}
