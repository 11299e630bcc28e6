//! Client-side flow control for every AWS call (SPEC §6), and the retries.
//!
//! * **One rate limit per API operation.** Each (service, operation) has its own
//!   token bucket, starting at the operation's published quota for the region
//!   ([`published_quota`], capped by `ECSCHED_RATE_LIMIT`). A throttling error
//!   lowers that operation's rate multiplicatively — once per "window": only a
//!   call sent after the last decrease can trigger the next one, so a burst of
//!   throttles from calls already in flight counts once — and every success
//!   raises it additively, back up to the quota. So a quota shared with other
//!   tools, or lower than published, is found by the limiter itself.
//! * **A bound on the calls in flight**, all operations together. A call waits
//!   for its token first and only then takes a slot, and gives the slot back
//!   while it waits to be retried: waiting never holds a slot.
//! * **Retries** of throttling, 5xx, timeouts and dropped connections, with
//!   jittered exponential backoff, up to `max_attempts` attempts in all. The SDK's
//!   own retries are off (`sdk::retry_config`): a retry inside the SDK would hold
//!   the slot and bypass the limiter.
//!
//! Owns no AWS types except the SDK's generic error shape it classifies.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The service an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Service {
    Events,
    Scheduler,
    Ecs,
    Sts,
    S3,
    Ssm,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::Events => "events",
            Service::Scheduler => "scheduler",
            Service::Ecs => "ecs",
            Service::Sts => "sts",
            Service::S3 => "s3",
            Service::Ssm => "ssm",
        }
    }
}

/// One API operation: the unit of rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Op {
    pub service: Service,
    pub name: &'static str,
}

impl Op {
    pub(crate) const fn events(name: &'static str) -> Op {
        Op {
            service: Service::Events,
            name,
        }
    }
    pub(crate) const fn scheduler(name: &'static str) -> Op {
        Op {
            service: Service::Scheduler,
            name,
        }
    }
    pub(crate) const fn ecs(name: &'static str) -> Op {
        Op {
            service: Service::Ecs,
            name,
        }
    }
    pub(crate) const fn sts(name: &'static str) -> Op {
        Op {
            service: Service::Sts,
            name,
        }
    }
    pub(crate) const fn s3(name: &'static str) -> Op {
        Op {
            service: Service::S3,
            name,
        }
    }
    pub(crate) const fn ssm(name: &'static str) -> Op {
        Op {
            service: Service::Ssm,
            name,
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service.as_str(), self.name)
    }
}

/// Regions where EventBridge Scheduler's Create/Update/Delete/GetSchedule quotas
/// are the higher ones (the "main" regions of the quota page).
const SCHEDULER_MAIN_REGIONS: [&str; 11] = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "sa-east-1",
];

/// The published request-rate quota of an operation in a region (requests per
/// second, per account and region): where the limiter starts.
///
/// Sources (default quotas, 2026):
/// * EventBridge: "Amazon EventBridge quotas"
///   (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html>):
///   every control-plane API other than PutEvents is limited to 50 requests/s
///   per account and region (SPEC §6).
/// * EventBridge Scheduler: "Quotas for Amazon EventBridge Scheduler"
///   (<https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html>,
///   and its translations, which keep older rows): CreateSchedule, UpdateSchedule,
///   DeleteSchedule and GetSchedule 1,000/s in the main regions
///   ([`SCHEDULER_MAIN_REGIONS`]) and 250/s elsewhere (the newest English page
///   says 5,000/s for CreateSchedule; SPEC §6 keeps 1,000); ListSchedules 50/s;
///   CreateScheduleGroup, DeleteScheduleGroup, GetScheduleGroup,
///   ListScheduleGroups and the tag APIs 10/s.
/// * ECS: "Request throttling for the Amazon ECS API"
///   (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>):
///   sustained 20/s for the Describe*/RunTask/List* calls ecsched makes.
/// * STS, S3, SSM: a handful of calls per run; 10/s is far below their quotas.
pub(crate) fn published_quota(op: Op, region: &str) -> f64 {
    match op.service {
        Service::Events => 50.0,
        Service::Scheduler => match op.name {
            "CreateSchedule" | "UpdateSchedule" | "DeleteSchedule" | "GetSchedule" => {
                if SCHEDULER_MAIN_REGIONS.contains(&region) {
                    1000.0
                } else {
                    250.0
                }
            }
            "ListSchedules" => 50.0,
            _ => 10.0,
        },
        Service::Ecs => 20.0,
        Service::Sts | Service::S3 | Service::Ssm => 10.0,
    }
}

/// Multiplicative decrease on throttling.
const DECREASE: f64 = 0.7;
/// Additive increase: requests/s gained per second of successful calls at any rate.
const INCREASE_PER_SEC: f64 = 2.0;
/// The rate never drops below this.
const MIN_RATE: f64 = 0.5;
/// First retry waits about this long (then doubles, with full jitter).
const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Flow-control settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GateOptions {
    /// Calls in flight at most (0 counts as 1).
    pub concurrency: usize,
    /// Cap on every operation's rate, requests/s; `None` = the published quotas.
    /// 0, negative or not finite: no client-side rate limit at all.
    pub rate_cap: Option<f64>,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
}

/// Counters of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Attempts sent.
    pub attempts: u64,
    /// Attempts answered with a throttling error.
    pub throttled: u64,
    /// Attempts that failed with a transient error (5xx, timeout, connection).
    pub transient: u64,
}

impl std::fmt::Display for OpStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let OpStats {
            attempts,
            throttled,
            transient,
        } = self;
        write!(
            f,
            "{attempts} attempts, {throttled} throttled, {transient} transient failures"
        )
    }
}

/// Concurrency bound, per-operation limiters and retries.
#[derive(Debug)]
pub(crate) struct Gate {
    slots: Semaphore,
    region: String,
    options: GateOptions,
    limiters: Mutex<HashMap<Op, Arc<Limiter>>>,
    jitter: AtomicU64,
}

/// How a failed attempt is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The service throttled the call: slow this operation down, retry.
    Throttled,
    /// 5xx, timeout, dropped connection: retry.
    Transient,
    /// Anything else: give up at once.
    Permanent,
}

/// Error codes AWS services use for throttling.
const THROTTLING_CODES: [&str; 10] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// Classifies an SDK error.
pub(crate) fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient
        }
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or_default();
            if status == 429 || THROTTLING_CODES.contains(&code) {
                Failure::Throttled
            } else if status >= 500
                || matches!(
                    code,
                    "InternalFailure" | "InternalServerError" | "ServiceUnavailable"
                )
            {
                Failure::Transient
            } else {
                Failure::Permanent
            }
        }
        // Construction failures and anything new: not worth retrying.
        _ => Failure::Permanent,
    }
}

impl Gate {
    pub(crate) fn new(options: GateOptions, region: &str) -> Gate {
        Gate {
            slots: Semaphore::new(options.concurrency.max(1)),
            region: region.to_string(),
            options,
            limiters: Mutex::new(HashMap::new()),
            jitter: AtomicU64::new(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id())),
        }
    }

    /// No rate limit, a generous concurrency bound, few fast retries (unit tests).
    #[cfg(test)]
    pub(crate) fn unlimited() -> Gate {
        Gate::new(
            GateOptions {
                concurrency: 64,
                rate_cap: Some(0.0),
                max_attempts: 3,
            },
            "us-east-1",
        )
    }

    fn limiter(&self, op: Op) -> Arc<Limiter> {
        let mut map = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(op)
            .or_insert_with(|| {
                let quota = published_quota(op, &self.region);
                let rate = match self.options.rate_cap {
                    None => quota,
                    Some(cap) if cap.is_finite() && cap > 0.0 => quota.min(cap),
                    Some(_) => 0.0,
                };
                Arc::new(Limiter::new(rate))
            })
            .clone()
    }

    /// Per-operation counters so far, sorted by operation.
    pub(crate) fn stats(&self) -> Vec<(Op, OpStats)> {
        let map = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<(Op, OpStats)> = map.iter().map(|(op, l)| (*op, l.stats())).collect();
        v.sort_by_key(|(op, _)| *op);
        v
    }

    /// Runs one API call: `send` builds and sends the request (it is called again
    /// for each retry). Waits for `op`'s token, then for a slot; retries
    /// throttling and transient failures with backoff, without holding a slot.
    pub(crate) async fn call<T, E, F, Fut>(
        &self,
        op: Op,
        mut send: F,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        E: ProvideErrorMetadata,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        let limiter = self.limiter(op);
        let max = self.options.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let epoch = limiter.take().await;
            let result = {
                // The semaphore is never closed: acquiring fails only in theory,
                // and the call then goes ahead unbounded.
                let _slot = self.slots.acquire().await.ok();
                limiter.count_attempt();
                send().await
            };
            let failure = match &result {
                Ok(_) => {
                    limiter.succeeded();
                    return result;
                }
                Err(e) => classify(e),
            };
            match failure {
                Failure::Permanent => return result,
                Failure::Throttled => limiter.throttled(epoch),
                Failure::Transient => limiter.failed_transient(),
            }
            if attempt >= max {
                return result;
            }
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Full jitter: a random wait in [0, min(MAX, BASE · 2^(attempt-1))].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = BASE_BACKOFF
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        let r = self.next_random();
        // 53 random bits as a fraction in [0, 1).
        let fraction = (r >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(fraction)
    }

    /// A fresh client token for a non-idempotent call (RunTask, CreateSchedule,
    /// ...), set once on the request so that a retry is recognised as the same
    /// request by the service. From the operating system's generator (two
    /// runs must never share a token, e.g. both as pid 1 in containers); the
    /// jitter source mixed with the clock only if that fails.
    pub(crate) fn idempotency_token(&self) -> String {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_ok() {
            return crate::config::hex(&bytes);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        format!(
            "{:016x}{:016x}",
            self.next_random() ^ nanos,
            self.next_random()
        )
    }

    /// splitmix64 over an atomic counter: cheap, thread-safe jitter.
    fn next_random(&self) -> u64 {
        let mut z = self
            .jitter
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// An adaptive token bucket. Callers queue in arrival order (a fair async
/// mutex) and the one at the head waits for its token at the rate of *now*:
/// nobody reserves a token ahead, so a decrease slows down every call still
/// waiting, not only the ones that arrive after it (a thousand calls queued at
/// a published 250/s would otherwise all go out at 250/s against a 50/s
/// limit). A burst of at most one second's worth passes at once.
#[derive(Debug)]
pub(crate) struct Limiter {
    state: Mutex<LimiterState>,
    queue: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct LimiterState {
    /// Requests/s now; 0 = unlimited (never adapted).
    rate: f64,
    /// The published quota (or the cap): the rate never grows above it.
    ceiling: f64,
    tokens: f64,
    last: Instant,
    /// Bumped by every decrease; a throttle only counts when its call was
    /// sent in the current epoch.
    epoch: u64,
    stats: OpStats,
}

impl Limiter {
    pub(crate) fn new(rate: f64) -> Limiter {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        Limiter {
            state: Mutex::new(LimiterState {
                rate,
                ceiling: rate,
                tokens: rate.max(1.0),
                last: Instant::now(),
                epoch: 0,
                stats: OpStats::default(),
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        self.lock().rate
    }

    fn stats(&self) -> OpStats {
        self.lock().stats
    }

    fn count_attempt(&self) {
        self.lock().stats.attempts += 1;
    }

    fn failed_transient(&self) {
        self.lock().stats.transient += 1;
    }

    /// Takes a token if one is there at `now` (`Ok(epoch)`), else says how
    /// long until there is one at the current rate (`Err(wait)`).
    pub(crate) fn try_take(&self, now: Instant) -> Result<u64, Duration> {
        let mut s = self.lock();
        if s.rate == 0.0 {
            return Ok(s.epoch);
        }
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.last = s.last.max(now);
        let burst = s.rate.max(1.0);
        s.tokens = (s.tokens + elapsed * s.rate).min(burst);
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Ok(s.epoch)
        } else {
            // At least a microsecond: a float a hair below 1.0 must not spin.
            Err(Duration::from_secs_f64((1.0 - s.tokens) / s.rate).max(Duration::from_micros(1)))
        }
    }

    /// Waits for a token (in arrival order); returns the epoch the call is sent in.
    pub(crate) async fn take(&self) -> u64 {
        if let Ok(epoch) = self.try_take_unqueued() {
            return epoch;
        }
        let _turn = self.queue.lock().await;
        loop {
            match self.try_take(Instant::now()) {
                Ok(epoch) => return epoch,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Unlimited, or a token available with nobody waiting: no queueing.
    fn try_take_unqueued(&self) -> Result<u64, ()> {
        if self.queue.try_lock().is_err() {
            return Err(());
        }
        self.try_take(Instant::now()).map_err(|_| ())
    }

    /// A call succeeded: additive increase, up to the ceiling.
    pub(crate) fn succeeded(&self) {
        let mut s = self.lock();
        if s.rate > 0.0 {
            // `rate` successes a second, each adding INCREASE/rate: INCREASE per second.
            s.rate = (s.rate + INCREASE_PER_SEC / s.rate).min(s.ceiling);
        }
    }

    /// A call sent in `epoch` was throttled: multiplicative decrease, once per
    /// epoch; the tokens saved up are dropped so no burst follows.
    pub(crate) fn throttled(&self, epoch: u64) {
        let mut s = self.lock();
        s.stats.throttled += 1;
        if s.rate == 0.0 || epoch != s.epoch {
            return;
        }
        s.rate = (s.rate * DECREASE).max(MIN_RATE);
        s.tokens = s.tokens.min(0.0);
        s.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_follow_the_published_table() {
        let put = Op::events("PutRule");
        assert_eq!(published_quota(put, "ap-northeast-3"), 50.0);
        let create = Op::scheduler("CreateSchedule");
        assert_eq!(published_quota(create, "us-east-1"), 1000.0);
        assert_eq!(published_quota(create, "ap-northeast-3"), 250.0);
        assert_eq!(
            published_quota(Op::scheduler("CreateScheduleGroup"), "us-east-1"),
            10.0
        );
        assert_eq!(
            published_quota(Op::scheduler("ListSchedules"), "us-east-1"),
            50.0
        );
        assert_eq!(
            published_quota(Op::scheduler("ListTagsForResource"), "us-east-1"),
            10.0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_one_second_burst_then_spaces_calls_at_the_rate() {
        let l = Limiter::new(10.0);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(l.try_take(t0).is_ok());
        }
        let w = l.try_take(t0).unwrap_err().as_secs_f64();
        assert!((w - 0.1).abs() < 1e-9, "{w}");
        // A second later, ten tokens are back (the burst), not more.
        let t1 = t0 + Duration::from_secs(5);
        for _ in 0..10 {
            assert!(l.try_take(t1).is_ok());
        }
        assert!(l.try_take(t1).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn queued_callers_are_served_at_the_current_rate() {
        let l = Arc::new(Limiter::new(100.0));
        let start = Instant::now();
        // 300 callers queue at once against 100/s: the first 100 pass (burst)...
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..300 {
            let l = l.clone();
            set.spawn(async move {
                let epoch = l.take().await;
                (Instant::now(), epoch)
            });
        }
        // (A millisecond lets every caller run; the next token is 10 ms away.)
        tokio::time::sleep(Duration::from_millis(1)).await;
        // ... and a throttle right away slows everyone still queued down to 70/s.
        l.throttled(0);
        let mut times = Vec::new();
        while let Some(r) = set.join_next().await {
            times.push(r.unwrap().0);
        }
        times.sort();
        let last = times.last().unwrap().duration_since(start).as_secs_f64();
        // 200 after the burst at 70/s need about 2.86 s; at 100/s it would be 2 s.
        assert!(last > 2.7, "the decrease reached the queued calls: {last}");
        assert!(last < 3.1, "{last}");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_or_invalid_rate_means_unlimited() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let l = Limiter::new(rate);
            let t0 = Instant::now();
            for _ in 0..1000 {
                assert!(l.try_take(t0).is_ok());
            }
            l.throttled(0);
            assert_eq!(l.rate(), 0.0, "an unlimited limiter never adapts");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_decreases_once_per_epoch_and_drops_the_burst() {
        let l = Limiter::new(50.0);
        let epoch = l.try_take(Instant::now()).unwrap();
        // Ten calls of the same epoch are throttled: one decrease.
        for _ in 0..10 {
            l.throttled(epoch);
        }
        assert!((l.rate() - 35.0).abs() < 1e-9, "{}", l.rate());
        assert_eq!(l.stats().throttled, 10);
        // The saved tokens are gone: the next call waits a full interval.
        let wait = l.try_take(Instant::now()).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0 / 35.0).abs() < 1e-6, "{wait:?}");
        tokio::time::advance(wait).await;
        let next = l.try_take(Instant::now()).unwrap();
        assert_eq!(next, epoch + 1);
        // A call of the new epoch throttled: a second decrease.
        l.throttled(next);
        assert!((l.rate() - 24.5).abs() < 1e-9, "{}", l.rate());
        // Never below the floor.
        for e in next + 1..next + 100 {
            l.throttled(e);
        }
        assert_eq!(l.rate(), MIN_RATE);
    }

    #[tokio::test(start_paused = true)]
    async fn successes_recover_additively_up_to_the_ceiling() {
        let l = Limiter::new(50.0);
        l.throttled(0);
        assert!((l.rate() - 35.0).abs() < 1e-9);
        // One second's worth of successes at ~35/s adds ~INCREASE_PER_SEC.
        for _ in 0..35 {
            l.succeeded();
        }
        let r = l.rate();
        assert!(
            (r - (35.0 + INCREASE_PER_SEC)).abs() < 0.1,
            "after a second of successes: {r}"
        );
        for _ in 0..10_000 {
            l.succeeded();
        }
        assert_eq!(l.rate(), 50.0, "the published quota is the ceiling");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_follows_a_lower_server_limit() {
        // A server allowing 20/s against a limiter starting at 250/s: simulate a
        // token bucket on the server and the limiter's reactions for 60 s.
        let l = Limiter::new(250.0);
        let start = Instant::now();
        let mut server_tokens = 20.0f64;
        let mut server_last = start;
        let mut ok_after_30s = 0u64;
        let mut now = start;
        while now < start + Duration::from_secs(60) {
            let epoch = match l.try_take(now) {
                Ok(epoch) => epoch,
                Err(wait) => {
                    now += wait;
                    continue;
                }
            };
            let elapsed = now.saturating_duration_since(server_last).as_secs_f64();
            server_last = now;
            server_tokens = (server_tokens + elapsed * 20.0).min(20.0);
            if server_tokens >= 1.0 {
                server_tokens -= 1.0;
                l.succeeded();
                if now >= start + Duration::from_secs(30) {
                    ok_after_30s += 1;
                }
            } else {
                l.throttled(epoch);
            }
        }
        // In steady state at least 85% of the server's 20/s gets through.
        let per_sec = ok_after_30s as f64 / 30.0;
        assert!(per_sec > 17.0, "{per_sec} successful calls/s");
        assert!(l.rate() < 30.0, "rate settled near the limit: {}", l.rate());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gate_bounds_concurrency() {
        use std::sync::atomic::AtomicUsize;
        let gate = Arc::new(Gate::new(
            GateOptions {
                concurrency: 3,
                rate_cap: Some(0.0),
                max_attempts: 1,
            },
            "us-east-1",
        ));
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (gate, now, max) = (gate.clone(), now.clone(), max.clone());
            set.spawn(async move {
                let r: Result<(), SdkError<aws_sdk_eventbridge::Error, HttpResponse>> = gate
                    .call(Op::events("ListRules"), || async {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await;
                assert!(r.is_ok());
            });
        }
        while set.join_next().await.is_some() {}
        assert_eq!(max.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let gate = Gate::unlimited();
        for attempt in 1..30 {
            let b = gate.backoff(attempt);
            assert!(b <= MAX_BACKOFF, "{b:?}");
        }
        let a: Vec<Duration> = (0..8).map(|_| gate.backoff(3)).collect();
        assert!(a.iter().any(|d| *d != a[0]), "jitter varies: {a:?}");
        assert!(a.iter().all(|d| *d <= BASE_BACKOFF * 4));
    }
}
