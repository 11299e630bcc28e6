//! Integration tests: run the real `ecsched` binary in a hermetic tempdir, against the moto
//! emulator when `ECSCHED_TEST_ENDPOINT` is set (see `scripts/test`).
//! Each emulator test uses its own AWS account, so tests run in parallel without resets.

mod aws_read; // ecsched::aws reads against the emulator: listing, skipping, model conversion, fingerprints, call counts
mod aws_support; // helpers for the aws_* tests: connect the AWS layer as the test's account, seed-post fixtures
mod config_errors; // `validate` on each bad config in testdata/invalid/: exact messages, no AWS call
mod config_seed; // the seed post's config files through validate/render/schema, offline
pub mod emulator; // `Emulator`: per-test account on moto, SDK clients for fixtures, moto-api calls
pub mod smoke; // the harness itself works: SDK ↔ emulator isolation and running the binary
pub mod test; // the fluent `Test` builder and the `Output` it returns

/// Path of the binary under test, built by cargo for this test target.
pub const ECSCHED: &str = env!("CARGO_BIN_EXE_ecsched");
