//! The AWS emulator (moto) as seen from a test: endpoint discovery, one fresh AWS account per
//! `Emulator` value, SDK clients for fixtures in that account, and moto-api control calls.
//! Never calls `/moto-api/reset`: it is global, and tests run in parallel.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_eventbridge::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::config::{
    ConfigBag, Credentials, Intercept, RuntimeComponents, SharedCredentialsProvider,
};
use aws_sdk_eventbridge::error::BoxError;

/// Region used by emulator tests unless a test picks another with [`Emulator::in_region`].
pub const DEFAULT_REGION: &str = "ap-northeast-3";

/// Request header that makes moto act as the given account.
pub const ACCOUNT_HEADER: &str = "x-moto-account-id";

/// Variable through which the binary under test learns its account; ecsched's AWS layer turns it
/// into [`ACCOUNT_HEADER`] on every request.
pub const ACCOUNT_ENV: &str = "ECSCHED_TEST_ACCOUNT_ID";

const ENDPOINT_ENV: &str = "ECSCHED_TEST_ENDPOINT";
const REQUIRE_ENV: &str = "ECSCHED_REQUIRE_EMULATOR";

/// A handle on the emulator for one test: an endpoint plus an AWS account of its own.
///
/// Pass it to `Test::emulator` so the binary uses the same account and region as the fixtures
/// created through [`Emulator::eventbridge`] and friends.
#[derive(Clone, Debug)]
pub struct Emulator {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// 12 digits, unique per `emulator()` call (and across processes sharing a server).
    pub account_id: String,
    pub region: String,
}

/// The emulator with a fresh account, or `None` (after printing a note) when
/// `ECSCHED_TEST_ENDPOINT` is unset. Panics instead when `ECSCHED_REQUIRE_EMULATOR=1`.
///
/// ```ignore
/// let Some(emulator) = emulator() else { return };
/// ```
#[track_caller]
pub fn emulator() -> Option<Emulator> {
    match std::env::var(ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.is_empty() => Some(Emulator {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            account_id: unique_account_id(),
            region: DEFAULT_REGION.to_owned(),
        }),
        _ => {
            assert!(
                std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
                "{REQUIRE_ENV}=1 but {ENDPOINT_ENV} is unset; run the tests with scripts/test"
            );
            let test = std::thread::current();
            eprintln!(
                "note: skipping {}: {ENDPOINT_ENV} is unset (run scripts/test)",
                test.name().unwrap_or("emulator test")
            );
            None
        }
    }
}

/// A 12-digit account id that no other call in this process, and almost surely no other
/// process using the same server, gets: a random per-process base plus a counter.
fn unique_account_id() -> String {
    static BASE: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        // 7 digits, never starting with 0, and never moto's default account 123456789012.
        let base = 1_000_000 + hasher.finish() % 9_000_000;
        if base == 1_234_567 { 7_654_321 } else { base }
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 100_000;
    format!("{:012}", base * 100_000 + n)
}

/// Adds `x-moto-account-id` to every request of a client.
#[derive(Debug)]
struct AccountHeader(String);

impl Intercept for AccountHeader {
    fn name(&self) -> &'static str {
        "AccountHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert(ACCOUNT_HEADER, self.0.clone());
        Ok(())
    }
}

impl Emulator {
    /// The same account in another region (moto keeps state per region).
    pub fn in_region(&self, region: &str) -> Emulator {
        Emulator {
            region: region.to_owned(),
            ..self.clone()
        }
    }

    /// Another, fresh account on the same server.
    pub fn other_account(&self) -> Emulator {
        Emulator {
            account_id: unique_account_id(),
            ..self.clone()
        }
    }

    /// Environment for a process that talks to this emulator as this account
    /// (`Test::emulator` applies it).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", self.region.clone()),
            (ACCOUNT_ENV, self.account_id.clone()),
        ]
    }

    /// Shared SDK settings: endpoint, region, fake static credentials, no retries (moto's 500s
    /// are bugs, not transient), a generous operation timeout. Reads nothing from the environment.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "ecsched-tests",
            )))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build()
    }

    fn interceptor(&self) -> AccountHeader {
        AccountHeader(self.account_id.clone())
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        let config = aws_sdk_eventbridge::config::Builder::from(&self.sdk_config())
            .interceptor(self.interceptor())
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::config::Builder::from(&self.sdk_config())
            .interceptor(self.interceptor())
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    /// Path-style addressing: bucket names must not become DNS labels of the endpoint host.
    /// Bucket names are global across accounts: make them unique (e.g. with the account id).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config())
            .force_path_style(true)
            .interceptor(self.interceptor())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        let config = aws_sdk_scheduler::config::Builder::from(&self.sdk_config())
            .interceptor(self.interceptor())
            .build();
        aws_sdk_scheduler::Client::from_conf(config)
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::config::Builder::from(&self.sdk_config())
            .interceptor(self.interceptor())
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// Runs a future to completion on a fresh current-thread runtime, so synchronous `#[test]`s
    /// can make SDK calls. (Async tests can use `#[tokio::test]` and the clients directly.)
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on(future)
    }

    /// `POST <endpoint><path>` with a JSON body; returns the HTTP status and the response body.
    /// For moto-api control calls. Never use it for `/moto-api/reset` (global, breaks parallel
    /// tests).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        http_request(&self.endpoint, "POST", path, Some(&body.to_string()))
    }

    /// `GET <endpoint><path>`; returns the HTTP status and the response body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_request(&self.endpoint, "GET", path, None)
    }

    /// Keeps ECS tasks `RUNNING` instead of advancing one state per DescribeTasks call.
    /// Note: state-manager transitions are server-wide, not per account.
    #[track_caller]
    pub fn pin_ecs_tasks_running(&self) {
        let (status, body) = self.post_json(
            "/moto-api/state-manager/set-transition",
            &serde_json::json!({
                "model_name": "ecs::task",
                "transition": {"progression": "manual", "times": 1_000_000},
            }),
        );
        assert_eq!(status, 201, "set-transition failed: {body}");
    }
}

/// Runs a future to completion on a fresh current-thread runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(future)
}

/// Minimal HTTP/1.0 client (one request per connection) for moto-api calls, so the tests need
/// no HTTP client crate. Panics on I/O errors: it is only used by tests.
#[track_caller]
fn http_request(endpoint: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let authority = endpoint
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("emulator endpoint must be http://HOST:PORT, got {endpoint}"));
    let authority = authority.split('/').next().unwrap_or(authority);
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("connecting to the emulator at {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("setting a read timeout");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("sending {method} {path}: {e}"));
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .unwrap_or_else(|e| panic!("reading the response to {method} {path}: {e}"));
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("malformed HTTP response to {method} {path}: {head:?}"));
    (status, body.to_owned())
}

/// Runs independent cases `width` at a time, each in a fresh account of its
/// own, and returns `"name: error"` for every case that failed or panicked
/// (the panic's details are printed by the test harness above).
pub fn run_cases_in_accounts<C: Sync>(
    em: &Emulator,
    cases: &[(&str, C)],
    width: usize,
    run: impl Fn(&Emulator, &C) -> Result<(), String> + Sync,
) -> Vec<String> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let mut failures = Vec::new();
    for chunk in cases.chunks(width.max(1)) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(name, case)| {
                    let account = em.other_account();
                    let run = &run;
                    let handle = scope.spawn(move || {
                        catch_unwind(AssertUnwindSafe(|| run(&account, case)))
                            .unwrap_or_else(|_| Err("panicked (details above)".into()))
                    });
                    (name, handle)
                })
                .collect();
            for (name, handle) in handles {
                if let Err(e) = handle.join().expect("case thread") {
                    failures.push(format!("{name}: {e}"));
                }
            }
        });
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits_and_unique() {
        let ids: Vec<String> = (0..100).map(|_| unique_account_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 12, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
            assert_ne!(id, "123456789012");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
