//! Integration tests: run the real `ecsched` binary in a hermetic tempdir, against the moto
//! emulator when `ECSCHED_TEST_ENDPOINT` is set (see `scripts/test`).
//! Each emulator test uses its own AWS account, so tests run in parallel without resets.

mod aws_faults; // ecsched::aws through the fault proxy: retries, attempt counting, give-up, rate limit
mod aws_lock; // ecsched::aws run lock in S3: take/refuse/wait/release, races, unlock ID, takeover, applied-plan record, other-region bucket
mod aws_read; // ecsched::aws reads against the emulator: listing, skipping, model conversion, fingerprints, call counts
mod aws_remote; // ecsched::aws remote_source: S3 object in a bucket of another region, SSM parameters
mod aws_run; // ecsched::aws task_definition_exists, run_task and wait_tasks on the emulator
mod aws_support; // helpers for the aws_* tests: connect the AWS layer as the test's account
mod aws_write; // ecsched::aws writes: put_rule/read_rule round trip, targets and tags, delete_rule, schedules
mod config_errors; // `validate` on each bad config in testdata/invalid/: exact messages, no AWS call
mod config_seed; // the seed post's config files through validate/render/schema, offline
mod contract; // the plan → apply contract (issue 8): dry-run, dump escaping, unmodelled fields kept, takeover consent, signals, locks, applied plans refused
mod ecschedule_flags; // every ecschedule flag in Go spelling through the binary: the README's table, row by row
pub mod emulator; // `Emulator`: per-test account on moto, SDK clients for fixtures, moto-api calls
pub mod fault_proxy; // `FaultProxy`: fault-injecting reverse proxy in front of the emulator (also the benchmark's, via examples/)
mod faults; // the real binary through the fault proxy: throttling, 5xx, dropped connections, a failed write mid-apply, exhausted retries
pub mod fixtures; // emulator-side fixtures: ARNs, clusters, task definitions, rules and targets as the CLI/console make them, rule snapshots
mod jsonnet; // Jsonnet configs in testdata/jsonnet/: each renders to its YAML twin; Jsonnet, schema and semantic errors, offline
pub mod normalise; // no perpetual diff: each SPEC §4 case stated another way than ecsched wrote it plans to no changes, and so does its dump
pub mod planfile_refusal; // apply PLANFILE refuses (exit 3, nothing written): other account/region, signature, flipped bytes, live drift of each rule/target field
mod review; // plans a reviewer can read: left-alone lists, claim-group then prune, changed secrets masked, render masking, diff -u on one stream, a Rego policy on show --json
pub mod schedule_drift; // apply PLANFILE refuses (exit 3, nothing written) after a live change to each field of a touched schedule, its group, a delete, or a create
pub mod schedules; // Scheduler schedules end to end: dump round trip, plan file, stale refusal, prune by group ownership, delete/run --schedule, validate --next
pub mod smoke; // the harness itself works: SDK ↔ emulator isolation and running the binary
pub mod test; // the fluent `Test` builder and the `Output` it returns
pub mod workflow; // end to end with the real binary: seed dev import and prod plan-file workflow, neighbours, prune safety, delete, run --wait

/// Path of the binary under test, built by cargo for this test target.
pub const ECSCHED: &str = env!("CARGO_BIN_EXE_ecsched");
pub mod templates_aws;
