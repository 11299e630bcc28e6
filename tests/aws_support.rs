//! Helpers shared by the `aws_*` tests, which drive `ecsched::aws::Aws` in-process against
//! the emulator: connecting as the test's own account. Fixtures (rules, targets, ARNs) are in
//! `fixtures.rs`.

use ecsched::aws::{Aws, AwsOptions};

use crate::emulator::Emulator;

/// Connects the AWS layer to the emulator as `emulator`'s account and region. Few retries:
/// moto's 500s are bugs, not transient.
pub async fn connect(emulator: &Emulator) -> Aws {
    let opts = AwsOptions {
        region: Some(emulator.region.clone()),
        max_attempts: 2,
        ..AwsOptions::default()
    };
    Aws::connect_with(&opts, Some(&emulator.endpoint), Some(&emulator.account_id))
        .await
        .expect("connecting the AWS layer to the emulator")
}

/// A progress callback that ignores progress.
pub fn quiet(_done: usize, _total: usize) {}
