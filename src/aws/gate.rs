//! Client-side flow control for every API call: a semaphore bounds the calls in
//! flight (all services together) and a token bucket per service keeps the
//! request rate under the service's quota. Owns no AWS types; the SDK's own
//! retries (standard mode) handle whatever throttling still happens.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The quota a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Events,
    Scheduler,
    Ecs,
    /// STS, S3, SSM: a handful of calls per run.
    Other,
}

/// Concurrency bound plus one rate limiter per service.
#[derive(Debug)]
pub(crate) struct Gate {
    slots: Semaphore,
    events: TokenBucket,
    scheduler: TokenBucket,
    ecs: TokenBucket,
    other: TokenBucket,
}

impl Gate {
    /// `concurrency` calls in flight at most (0 counts as 1); `rate_per_sec`
    /// requests per second per service (0, negative or not finite: unlimited).
    pub(crate) fn new(concurrency: usize, rate_per_sec: f64) -> Gate {
        Gate {
            slots: Semaphore::new(concurrency.max(1)),
            events: TokenBucket::new(rate_per_sec),
            scheduler: TokenBucket::new(rate_per_sec),
            ecs: TokenBucket::new(rate_per_sec),
            other: TokenBucket::new(rate_per_sec),
        }
    }

    /// No rate limit, a generous concurrency bound (unit tests).
    #[cfg(test)]
    pub(crate) fn unlimited() -> Gate {
        Gate::new(64, 0.0)
    }

    /// Runs one API call (`fut` is the not-yet-polled `send()` future) once a slot
    /// and a token are available.
    pub(crate) async fn run<F: Future>(&self, service: Service, fut: F) -> F::Output {
        // The semaphore is never closed, so acquiring only fails in theory; the
        // call then simply goes ahead unbounded.
        let _permit = self.slots.acquire().await.ok();
        self.bucket(service).take().await;
        fut.await
    }

    fn bucket(&self, service: Service) -> &TokenBucket {
        match service {
            Service::Events => &self.events,
            Service::Scheduler => &self.scheduler,
            Service::Ecs => &self.ecs,
            Service::Other => &self.other,
        }
    }
}

/// A token bucket with reservations: each caller takes a token, letting the
/// balance go negative, and sleeps until the balance it left is paid back.
/// Callers are therefore served in arrival order at exactly `rate` per second
/// after an initial burst of `burst`.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> TokenBucket {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        // One second's worth of burst, at least one request.
        let burst = rate.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    /// How long the caller must wait for its token (and takes it).
    fn reserve(&self, now: Instant) -> Duration {
        if self.rate == 0.0 {
            return Duration::ZERO;
        }
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.last = s.last.max(now);
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if s.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.tokens / self.rate)
        }
    }

    async fn take(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_spaces_requests_at_the_rate() {
        let b = TokenBucket::new(10.0);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        // The 11th..13th requests at the same instant wait 0.1 s, 0.2 s, 0.3 s.
        for i in 1..=3 {
            let w = b.reserve(t0).as_secs_f64();
            assert!((w - 0.1 * f64::from(i)).abs() < 1e-9, "{w}");
        }
        // One second later the debt (3 tokens) is paid and 7 tokens are back.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..7 {
            assert_eq!(b.reserve(t1), Duration::ZERO);
        }
        assert!(b.reserve(t1) > Duration::ZERO);
    }

    #[test]
    fn zero_or_invalid_rate_means_unlimited() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let b = TokenBucket::new(rate);
            let t0 = Instant::now();
            for _ in 0..1000 {
                assert_eq!(b.reserve(t0), Duration::ZERO);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gate_bounds_concurrency() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let gate = Arc::new(Gate::new(3, 0.0));
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (gate, now, max) = (gate.clone(), now.clone(), max.clone());
            set.spawn(async move {
                gate.run(Service::Events, async {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                })
                .await;
            });
        }
        while set.join_next().await.is_some() {}
        assert_eq!(max.load(Ordering::SeqCst), 3);
    }
}
