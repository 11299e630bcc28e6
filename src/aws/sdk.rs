//! The only place that builds the AWS SDK configuration and the service clients.
//! Credentials, profile, SSO and endpoint come from the standard aws-config chain
//! (`AWS_PROFILE`, env, IMDS, `AWS_ENDPOINT_URL[_<SERVICE>]`, …); the region from the
//! options, else that chain, else an error. Nothing here makes an API call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_eventbridge::config::interceptors::{
    BeforeTransmitInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::{ConfigBag, Intercept, RuntimeComponents};

use super::AwsOptions;
use super::error::{AwsError, AwsResult};

/// Pinned so that an SDK upgrade cannot silently change retry or timeout defaults.
fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Request header through which the moto emulator selects the AWS account.
pub(crate) const ACCOUNT_HEADER: &str = "x-moto-account-id";

/// **Test only.** When set, every request carries `x-moto-account-id: <value>`, so
/// that each test against the moto emulator works in an account of its own.
/// Meaningless (and ignored) by real AWS.
pub const TEST_ACCOUNT_ENV: &str = "ECSCHED_TEST_ACCOUNT_ID";

/// The retry policy of every client: none. Retries (throttling, 5xx, timeouts,
/// dropped connections) happen in `gate`, under the per-operation limiter and
/// without holding a concurrency slot while waiting; a retry inside the SDK
/// would do neither.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig::disabled()
}

/// Counts every attempt sent and, in tests, adds the emulator's account header.
#[derive(Debug, Clone)]
pub(crate) struct Instrument {
    calls: Arc<AtomicU64>,
    test_account: Option<String>,
}

impl Instrument {
    pub(crate) fn new(calls: Arc<AtomicU64>, test_account: Option<String>) -> Instrument {
        Instrument {
            calls,
            test_account,
        }
    }
}

impl Intercept for Instrument {
    fn name(&self) -> &'static str {
        "ecsched::Instrument"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_eventbridge::error::BoxError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_eventbridge::error::BoxError> {
        if let Some(account) = &self.test_account {
            context
                .request_mut()
                .headers_mut()
                .insert(ACCOUNT_HEADER, account.clone());
        }
        Ok(())
    }
}

/// Every client the layer uses, built from one `SdkConfig`.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub events: aws_sdk_eventbridge::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
    /// Kept to build S3 clients for buckets in other regions.
    pub sdk: SdkConfig,
    pub instrument: Instrument,
    /// Path-style S3 addressing (an endpoint override is configured).
    pub s3_path_style: bool,
}

impl Clients {
    fn new(sdk: SdkConfig, instrument: Instrument, s3_path_style: bool) -> Clients {
        let i = instrument.clone();
        Clients {
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            scheduler: aws_sdk_scheduler::Client::from_conf(
                aws_sdk_scheduler::config::Builder::from(&sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(&sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            s3: s3_client(&sdk, &i, s3_path_style, None),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&sdk)
                    .interceptor(i)
                    .build(),
            ),
            sdk,
            instrument,
            s3_path_style,
        }
    }

    /// An S3 client signing for `region` (a tfstate bucket may live elsewhere).
    pub(crate) fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        s3_client(
            &self.sdk,
            &self.instrument,
            self.s3_path_style,
            Some(region),
        )
    }

    /// The region every client uses.
    pub(crate) fn region(&self) -> Option<&str> {
        self.sdk.region().map(Region::as_ref)
    }
}

fn s3_client(
    sdk: &SdkConfig,
    instrument: &Instrument,
    path_style: bool,
    region: Option<&str>,
) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(sdk)
        .interceptor(instrument.clone())
        // Bucket names must not become DNS labels of an emulator's host name.
        .force_path_style(path_style);
    if let Some(r) = region {
        b = b.region(Region::new(r.to_string()));
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Loads the SDK configuration and builds the clients.
///
/// `endpoint` overrides every service's endpoint (tests; otherwise
/// `AWS_ENDPOINT_URL` does the same through the SDK). `test_account` adds the
/// emulator's account header; together with `endpoint` it also selects fixed
/// fake credentials, so emulator tests need no credentials in the environment.
pub(crate) async fn load(
    opts: &AwsOptions,
    endpoint: Option<&str>,
    test_account: Option<&str>,
    calls: Arc<AtomicU64>,
) -> AwsResult<Clients> {
    let mut loader = aws_config::defaults(behavior_version()).retry_config(retry_config());
    if let Some(region) = opts.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
        if test_account.is_some() {
            loader = loader.test_credentials();
        }
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        let profile = std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".to_string());
        return Err(AwsError::NoRegion { profile });
    }
    let path_style =
        endpoint.is_some() || sdk.endpoint_url().is_some() || env_set("AWS_ENDPOINT_URL_S3");
    let instrument = Instrument::new(calls, test_account.map(str::to_string));
    Ok(Clients::new(sdk, instrument, path_style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_never_retries_on_its_own() {
        assert_eq!(retry_config().max_attempts(), 1);
    }
}
