//! Saved plan files: the binary envelope written by `plan -out FILE` and read
//! by `apply FILE` / `show FILE` (SPEC §5).
//!
//! # Format
//!
//! A plan file is a fixed 85-byte header followed by the payload, the
//! [`Plan`](super::Plan) serialized with bincode. The header identifies the
//! file, its format version and payload encoding, carries the payload length
//! and its SHA-256 (corruption and truncation detection), and an optional
//! HMAC-SHA256 signature (tamper evidence) keyed by `ECSCHED_PLAN_KEY`.
//! Everything is checked before the payload is decoded; any mismatch refuses
//! the whole file. Plan files are written atomically with mode 0600 (they may
//! contain secrets such as environment values).
//!
//! # Wire format
//!
//! All integers are little-endian.
//!
//! ```text
//! offset 0   8 bytes  magic  b"ECSPLAN\0"
//! offset 8   u16      format version (FORMAT_VERSION = 2)
//! offset 10  u16      payload encoding id (1 = bincode 2.0.1 serde API,
//!                     config::standard(): little-endian, varint integers)
//! offset 12  u64      payload length N (at most MAX_PAYLOAD_LEN = 64 MiB)
//! offset 20  32 bytes SHA-256(payload)
//! offset 52  u8       signature kind (0 = none, 1 = HMAC-SHA256)
//! offset 53  32 bytes HMAC-SHA256(key, bytes [0, 53) ++ payload) when kind = 1;
//!                     all zeros when kind = 0
//! offset 85  N bytes  payload
//! ```
//!
//! The file ends exactly after the payload. [`decode`] checks, in this order:
//! magic, version, encoding, declared length (limit, truncation, trailing
//! bytes), SHA-256, signature, then decodes the payload with a 64 MiB bincode
//! allocation limit and requires it to consume the whole payload. Every byte
//! of the header is therefore validated: flipping any single byte of a file,
//! truncating it or appending to it is always refused.
//!
//! Signature rules (the key is `ECSCHED_PLAN_KEY`, read by the CLI, see [`key_from_value`]):
//!
//! | file \ reader | no key                    | key set                     |
//! |---------------|---------------------------|-----------------------------|
//! | unsigned      | accepted                  | refused ([`PlanFileError::Unsigned`]) |
//! | signed        | refused ([`PlanFileError::SignedButNoKey`]) | verified in constant time ([`PlanFileError::BadSignature`]) |
//!
//! A signed plan read without a key is refused rather than silently accepted
//! unverified: the signature says the pipeline that produced it requires
//! authenticated plans, so an apply environment that lost its key must fail
//! loudly (the message says to set `ECSCHED_PLAN_KEY`). The SHA-256 alone is
//! not tamper evidence: anyone can recompute it.
//!
//! # Versioning
//!
//! bincode is not self-describing: the payload bytes only make sense for the
//! exact shape of [`Plan`](super::Plan) and of every model type it contains.
//! Therefore:
//!
//! * Bump [`FORMAT_VERSION`] on ANY change to the header layout or to the
//!   serde shape of the payload: adding, removing, reordering or renaming
//!   fields or enum variants, or changing a field's type, in `plan/mod.rs` or
//!   `model/mod.rs`. The `payload_shape_is_pinned` test fails when the shape
//!   changes, as a reminder.
//! * Readers accept exactly one format version; there is no migration. Plan
//!   files are short-lived artefacts: re-run `ecsched plan` with the new
//!   version.
//! * A different serializer gets a new payload encoding id (never reuse an id);
//!   readers reject ids they do not know.
//! * New signature kinds get a new kind byte; readers reject unknown kinds.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::Plan;

/// The 8 bytes every plan file starts with.
pub const MAGIC: [u8; 8] = *b"ECSPLAN\0";
/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 2;
/// Payload encoding id: bincode 2.0.1 serde API with `config::standard()`.
pub const ENCODING_BINCODE2_STANDARD: u16 = 1;
/// Signature kind: unsigned (signature field all zeros).
pub const SIGNATURE_NONE: u8 = 0;
/// Signature kind: HMAC-SHA256 over the first 53 header bytes and the payload.
pub const SIGNATURE_HMAC_SHA256: u8 = 1;
/// Size of the fixed header; the payload starts here.
pub const HEADER_LEN: usize = 85;
/// Largest payload written or read (also bincode's decode allocation limit).
pub const MAX_PAYLOAD_LEN: usize = 64 * 1024 * 1024;
/// Environment variable holding the signing key.
pub const PLAN_KEY_ENV: &str = "ECSCHED_PLAN_KEY";

const VERSION_AT: usize = 8;
const ENCODING_AT: usize = 10;
const LENGTH_AT: usize = 12;
const HASH_AT: usize = 20;
const SIG_KIND_AT: usize = 52;
const SIG_AT: usize = 53;

type HmacSha256 = Hmac<Sha256>;

/// Why a plan file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("the file is not an ecsched plan file: it does not start with the plan file magic")]
    NotAPlanFile,
    #[error(
        "the plan file has format version {found}, but this ecsched reads only version \
         {supported}: re-run `ecsched plan` with this version of ecsched"
    )]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error(
        "the plan file uses payload encoding {found}, which this ecsched does not know \
         (it supports {ENCODING_BINCODE2_STANDARD} = bincode)"
    )]
    UnknownEncoding { found: u16 },
    #[error("the plan file declares a payload of {length} bytes, more than the limit of {limit}")]
    PayloadTooLarge { length: u64, limit: u64 },
    #[error("the plan file is truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: u64, found: u64 },
    #[error(
        "the plan file has unexpected bytes after its payload: expected {expected} bytes, \
         found {found}"
    )]
    TrailingBytes { expected: u64, found: u64 },
    #[error("the plan file is corrupt or was modified: its SHA-256 does not match")]
    HashMismatch,
    #[error("the plan file has an unknown signature kind {found}")]
    UnknownSignatureKind { found: u8 },
    #[error(
        "the plan file is corrupt or was modified: it is marked unsigned but its signature \
         field is not empty"
    )]
    StraySignature,
    #[error(
        "the plan file is not signed, but {PLAN_KEY_ENV} is set: refusing an unsigned plan \
         (make it with {PLAN_KEY_ENV} set, or unset it to accept unsigned plans)"
    )]
    Unsigned,
    #[error("the plan file's signature does not match: it was signed with another key or modified")]
    BadSignature,
    #[error(
        "the plan file is signed, but {PLAN_KEY_ENV} is not set: set it to the key the plan \
         was made with so that the signature can be verified"
    )]
    SignedButNoKey,
    #[error("the plan signing key is empty: {PLAN_KEY_ENV} must not be empty")]
    EmptyKey,
    #[error("the plan could not be serialized: {0}")]
    Encode(String),
    #[error("the plan file's payload could not be decoded: {0}")]
    Decode(String),
    #[error("plan file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl PlanFileError {
    /// True when the file could not be read (or written) at all, as opposed to
    /// read and refused: an error (exit 1), not a refusal (exit 3).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, PlanFileError::Io { .. })
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PAYLOAD_LEN>()
}

fn new_mac(key: &[u8]) -> Result<HmacSha256, PlanFileError> {
    if key.is_empty() {
        return Err(PlanFileError::EmptyKey);
    }
    // HMAC accepts keys of any length; the error cannot happen.
    <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|_| PlanFileError::EmptyKey)
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// Serializes `plan` into a complete plan file, signed with `key` if given.
pub fn encode(plan: &Plan, key: Option<&[u8]>) -> Result<Vec<u8>, PlanFileError> {
    let payload = bincode::serde::encode_to_vec(plan, bincode_config())
        .map_err(|e| PlanFileError::Encode(e.to_string()))?;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(PlanFileError::PayloadTooLarge {
            length: payload.len() as u64,
            limit: MAX_PAYLOAD_LEN as u64,
        });
    }
    let mac = key.map(new_mac).transpose()?;

    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&ENCODING_BINCODE2_STANDARD.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(Sha256::digest(&payload).as_slice());
    out.push(if mac.is_some() {
        SIGNATURE_HMAC_SHA256
    } else {
        SIGNATURE_NONE
    });
    debug_assert_eq!(out.len(), SIG_AT);
    match mac {
        Some(mut mac) => {
            Mac::update(&mut mac, &out);
            Mac::update(&mut mac, &payload);
            out.extend_from_slice(mac.finalize().into_bytes().as_slice());
        }
        None => out.extend_from_slice(&[0u8; HEADER_LEN - SIG_AT]),
    }
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Checks a complete plan file (see the module doc for the order of checks
/// and the signature rules) and decodes its plan.
pub fn decode(bytes: &[u8], key: Option<&[u8]>) -> Result<Plan, PlanFileError> {
    let truncated = || PlanFileError::Truncated {
        expected: HEADER_LEN as u64,
        found: bytes.len() as u64,
    };
    // Magic: a short file that is a prefix of the magic is a truncated plan file.
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            truncated()
        } else {
            PlanFileError::NotAPlanFile
        });
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(PlanFileError::NotAPlanFile);
    }
    if bytes.len() < VERSION_AT + 2 {
        return Err(truncated());
    }
    let version = le_u16(bytes, VERSION_AT);
    if version != FORMAT_VERSION {
        return Err(PlanFileError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if bytes.len() < ENCODING_AT + 2 {
        return Err(truncated());
    }
    let encoding = le_u16(bytes, ENCODING_AT);
    if encoding != ENCODING_BINCODE2_STANDARD {
        return Err(PlanFileError::UnknownEncoding { found: encoding });
    }
    if bytes.len() < HEADER_LEN {
        return Err(truncated());
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);

    // Length: within the limit, then exactly the rest of the file.
    let mut length = [0u8; 8];
    length.copy_from_slice(&header[LENGTH_AT..HASH_AT]);
    let length = u64::from_le_bytes(length);
    if length > MAX_PAYLOAD_LEN as u64 {
        return Err(PlanFileError::PayloadTooLarge {
            length,
            limit: MAX_PAYLOAD_LEN as u64,
        });
    }
    let expected = HEADER_LEN as u64 + length;
    let found = bytes.len() as u64;
    if found < expected {
        return Err(PlanFileError::Truncated { expected, found });
    }
    if found > expected {
        return Err(PlanFileError::TrailingBytes { expected, found });
    }

    // Hash.
    if Sha256::digest(payload).as_slice() != &header[HASH_AT..SIG_KIND_AT] {
        return Err(PlanFileError::HashMismatch);
    }

    // Signature.
    let signature = &header[SIG_AT..HEADER_LEN];
    match header[SIG_KIND_AT] {
        SIGNATURE_NONE => {
            if signature.iter().any(|&b| b != 0) {
                return Err(PlanFileError::StraySignature);
            }
            if key.is_some() {
                return Err(PlanFileError::Unsigned);
            }
        }
        SIGNATURE_HMAC_SHA256 => {
            let Some(key) = key else {
                return Err(PlanFileError::SignedButNoKey);
            };
            let mut mac = new_mac(key)?;
            Mac::update(&mut mac, &header[..SIG_AT]);
            Mac::update(&mut mac, payload);
            // Constant-time comparison.
            mac.verify_slice(signature)
                .map_err(|_| PlanFileError::BadSignature)?;
        }
        other => return Err(PlanFileError::UnknownSignatureKind { found: other }),
    }

    // Payload.
    let (plan, used): (Plan, usize) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|e| PlanFileError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(PlanFileError::Decode(format!(
            "{} unused bytes after the plan",
            payload.len() - used
        )));
    }
    Ok(plan)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory (mode 0600 on unix), fsync, rename over `path`, fsync of the
/// directory. On error the temporary file is removed and `path` is untouched.
///
/// Only a regular file (or nothing) at `path` is replaced: `-out /dev/full` must not
/// replace the device node, nor `-out some/dir` a directory. A symbolic link is refused
/// too, not followed: the rename would replace the link itself, and writing through it
/// instead would let a link planted in a shared directory (`/tmp/plan.bin` pointing at
/// another of the user's files) redirect the plan onto any file the user can write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlanFileError> {
    let io_err = |source: io::Error| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    fn refusal(kind: &fs::FileType) -> Option<&'static str> {
        if kind.is_file() {
            return None;
        }
        if kind.is_symlink() {
            return Some(
                "it is a symbolic link; refusing to replace it (give the path of the file itself)",
            );
        }
        if kind.is_dir() {
            return Some("it is a directory; only a regular file is replaced by a plan file");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_char_device() || kind.is_block_device() {
                return Some("it is a device; only a regular file is replaced by a plan file");
            }
            if kind.is_fifo() {
                return Some(
                    "it is a named pipe (FIFO); only a regular file is replaced by a plan file",
                );
            }
        }
        Some("it is not a regular file; only a regular file is replaced by a plan file")
    }
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            if let Some(why) = refusal(&meta.file_type()) {
                return Err(io_err(io::Error::new(io::ErrorKind::InvalidInput, why)));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let file_name = path.file_name().ok_or_else(|| {
        io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };

    let (tmp_path, mut file) = create_temp(dir, file_name).map_err(io_err)?;
    let result = (|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Explicitly, in case the umask removed the owner bits.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp_path, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp_path);
        return Err(io_err(e));
    }
    sync_dir(dir);
    Ok(())
}

/// Creates a new, unique temporary file next to the target (never follows or
/// reuses an existing file).
fn create_temp(dir: &Path, file_name: &std::ffi::OsStr) -> io::Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_err = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{}.{nanos:x}.{n}.tmp", std::process::id()));
        let tmp_path = dir.join(name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp_path) {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "temporary file")))
}

/// Best effort: persists the rename (some filesystems refuse to fsync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Reads and checks the plan file at `path` (see [`decode`]).
pub fn read(path: &Path, key: Option<&[u8]>) -> Result<Plan, PlanFileError> {
    let io_err = |source: io::Error| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    // Never read more than a valid file can hold (+1 to detect trailing bytes).
    let cap = (HEADER_LEN + MAX_PAYLOAD_LEN + 1) as u64;
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes).map_err(io_err)?;
    decode(&bytes, key)
}

/// The signing key from the value of `ECSCHED_PLAN_KEY` (its raw bytes);
/// `None` when unset or empty.
pub fn key_from_value(value: Option<std::ffi::OsString>) -> Option<Vec<u8>> {
    value
        .map(|v| v.into_encoded_bytes())
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Action, Fingerprint, Plan, PlanSelection, Resource, ResourceChange};
    use super::*;
    use crate::model::{
        Address, AwsVpc, CapacityProviderItem, ContainerOverride, EcsTarget, PlacementConstraint,
        PlacementStrategy, RetryPolicy, Rule, Schedule, State, Target, TaskOverrides, TypedValue,
    };

    const KEY: &[u8] = b"correct horse battery staple";

    fn ecs_target() -> EcsTarget {
        EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            role_arn: "arn:aws:iam::123456789012:role/ecsEventsRole".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/report:42"
                .into(),
            task_count: 2,
            launch_type: None,
            platform_version: Some("LATEST".into()),
            group: Some("reports".into()),
            capacity_provider_strategy: vec![
                CapacityProviderItem {
                    capacity_provider: "FARGATE".into(),
                    base: 1,
                    weight: 1,
                },
                CapacityProviderItem {
                    capacity_provider: "FARGATE_SPOT".into(),
                    base: 0,
                    weight: 3,
                },
            ],
            network: Some(AwsVpc {
                subnets: vec!["subnet-0a1b2c3d".into(), "subnet-4e5f6a7b".into()],
                security_groups: vec!["sg-0123456789abcdef0".into()],
                assign_public_ip: "DISABLED".into(),
            }),
            propagate_tags: Some("TASK_DEFINITION".into()),
            enable_ecs_managed_tags: true,
            enable_execute_command: false,
            placement_constraints: vec![PlacementConstraint {
                kind: "memberOf".into(),
                expression: Some("attribute:ecs.os-type == linux".into()),
            }],
            placement_strategy: vec![PlacementStrategy {
                kind: "spread".into(),
                field: Some("attribute:ecs.availability-zone".into()),
            }],
            task_tags: BTreeMap::from([("team".into(), "data".into())]),
            reference_id: Some("nightly-report".into()),
            overrides: TaskOverrides {
                extra: None,
                cpu: Some("512".into()),
                memory: Some("1024".into()),
                task_role_arn: Some("arn:aws:iam::123456789012:role/report-task".into()),
                execution_role_arn: None,
                ephemeral_storage_gib: Some(30),
                containers: vec![ContainerOverride {
                    extra: None,
                    name: "app".into(),
                    command: Some(vec!["bin/report".into(), "--since=1d".into()]),
                    environment: BTreeMap::from([
                        ("DB_PASSWORD".into(), "hunter2".into()),
                        ("MODE".into(), "nightly".into()),
                    ]),
                    environment_files: vec![TypedValue {
                        kind: "s3".into(),
                        value: "arn:aws:s3:::cfg-bucket/report.env".into(),
                    }],
                    resource_requirements: vec![],
                    cpu: Some(256),
                    memory: None,
                    memory_reservation: Some(512),
                }],
            },
        }
    }

    fn rule() -> Rule {
        Rule {
            name: "nightly-report".into(),
            event_bus: "default".into(),
            description: "Nightly report ✓".into(),
            schedule_expression: "cron(0 3 * * ? *)".into(),
            state: State::Enabled,
            role_arn: None,
            event_pattern: None,
            tags: BTreeMap::from([("env".into(), "prod".into())]),
            targets: vec![Target {
                id: "report".into(),
                ecs: ecs_target(),
                dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".into()),
                retry_policy: RetryPolicy::default(),
            }],
        }
    }

    fn schedule(expr: &str, state: State) -> Schedule {
        Schedule {
            name: "hourly-sync".into(),
            group: "jobs".into(),
            description: String::new(),
            schedule_expression: expr.into(),
            timezone: "Asia/Tokyo".into(),
            start_date: Some("2026-01-01T00:00:00Z".into()),
            end_date: None,
            state,
            flexible_window_minutes: Some(15),
            action_after_completion: "NONE".into(),
            kms_key_arn: None,
            ecs: EcsTarget {
                task_count: 1,
                launch_type: Some("FARGATE".into()),
                ..ecs_target()
            },
            dead_letter_arn: None,
            retry_policy: RetryPolicy {
                maximum_retry_attempts: 3,
                maximum_event_age_in_seconds: 3600,
            },
        }
    }

    fn plan() -> Plan {
        let created = rule();
        let before = schedule("rate(1 hour)", State::Enabled);
        let after = schedule("rate(30 minutes)", State::Disabled);
        let deleted = Address::rule("old-cleanup");
        Plan {
            plan_id: "0123456789abcdef0123456789abcdef".into(),
            tool_version: "0.1.0".into(),
            created_at: "2026-05-01T12:00:00Z".into(),
            account_id: "123456789012".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
            tracking_id: "prod-scheduled-tasks".into(),
            config_path: "ecsched.yaml".into(),
            config_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
            selection: PlanSelection {
                all: true,
                rules: vec![],
                schedules: vec![],
                prune: true,
            },
            changes: vec![
                ResourceChange {
                    address: created.address(),
                    action: Action::Create,
                    before: None,
                    after: Some(Resource::Rule(created.clone())),
                    adopts_unmanaged: false,
                    takeover_from: None,
                    tag_only: false,
                    notes: vec![],
                },
                ResourceChange {
                    address: after.address(),
                    action: Action::Update,
                    before: Some(Resource::Schedule(before.clone())),
                    after: Some(Resource::Schedule(after.clone())),
                    adopts_unmanaged: true,
                    takeover_from: None,
                    tag_only: false,
                    notes: vec!["adopts an unmanaged schedule".into()],
                },
                ResourceChange {
                    address: deleted.clone(),
                    action: Action::Delete,
                    before: Some(Resource::Rule(Rule {
                        name: "old-cleanup".into(),
                        targets: vec![],
                        ..rule()
                    })),
                    after: None,
                    adopts_unmanaged: false,
                    takeover_from: None,
                    tag_only: false,
                    notes: vec![],
                },
            ],
            fingerprints: vec![
                Fingerprint {
                    address: created.address(),
                    digest: None,
                },
                Fingerprint {
                    address: after.address(),
                    digest: Some("3b1f0c7e".repeat(8)),
                },
                Fingerprint {
                    address: deleted.clone(),
                    digest: Some("a0b1c2d3".repeat(8)),
                },
            ],
            managed_seen: vec![deleted, after.address()],
            takeover: false,
            left_alone: vec![],
            lock: None,
        }
    }

    fn encoded(key: Option<&[u8]>) -> Vec<u8> {
        encode(&plan(), key).expect("encode")
    }

    #[test]
    fn round_trip_without_key() {
        let bytes = encoded(None);
        assert_eq!(decode(&bytes, None).expect("decode"), plan());
    }

    #[test]
    fn round_trip_with_key() {
        let bytes = encoded(Some(KEY));
        assert_eq!(decode(&bytes, Some(KEY)).expect("decode"), plan());
    }

    #[test]
    fn header_layout_is_as_documented() {
        for key in [None, Some(KEY)] {
            let bytes = encoded(key);
            let payload = &bytes[HEADER_LEN..];
            assert_eq!(&bytes[0..8], b"ECSPLAN\0");
            assert_eq!(&bytes[8..10], &FORMAT_VERSION.to_le_bytes());
            assert_eq!(&bytes[10..12], &1u16.to_le_bytes());
            assert_eq!(&bytes[12..20], &(payload.len() as u64).to_le_bytes());
            assert_eq!(&bytes[20..52], Sha256::digest(payload).as_slice());
            let expected_payload =
                bincode::serde::encode_to_vec(plan(), bincode::config::standard()).expect("enc");
            assert_eq!(payload, expected_payload.as_slice());
            match key {
                None => {
                    assert_eq!(bytes[52], 0);
                    assert_eq!(&bytes[53..85], &[0u8; 32]);
                }
                Some(k) => {
                    assert_eq!(bytes[52], 1);
                    let mut mac = HmacSha256::new_from_slice(k).expect("key");
                    Mac::update(&mut mac, &bytes[..53]);
                    Mac::update(&mut mac, payload);
                    assert_eq!(&bytes[53..85], mac.finalize().into_bytes().as_slice());
                }
            }
        }
    }

    /// Tripwire: fails when the serde shape of `Plan` (or any model type in
    /// it) changes. If so, bump FORMAT_VERSION (see "Versioning" in the module
    /// doc) and update the digest below.
    #[test]
    fn payload_shape_is_pinned() {
        let bytes = encoded(None);
        let digest: String = bytes[HASH_AT..SIG_KIND_AT]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            (FORMAT_VERSION, digest.as_str()),
            (2, PINNED_PAYLOAD_SHA256),
            "the plan payload shape changed: bump FORMAT_VERSION and update PINNED_PAYLOAD_SHA256"
        );
    }
    const PINNED_PAYLOAD_SHA256: &str =
        "e178bafdf26d53d59537b32d779a6599f76a5205546d8446055d1e2c7b546d26";

    #[test]
    fn every_single_byte_change_is_refused() {
        for (key, label) in [(None, "unsigned"), (Some(KEY), "signed")] {
            let bytes = encoded(key);
            for pos in 0..bytes.len() {
                for mask in [0x01u8, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[pos] ^= mask;
                    let res = decode(&bad, key);
                    assert!(
                        res.is_err(),
                        "{label}: flipping byte {pos} with {mask:#04x} was accepted"
                    );
                    // Payload changes are caught by the hash.
                    if pos >= HEADER_LEN {
                        assert!(matches!(res, Err(PlanFileError::HashMismatch)), "{res:?}");
                    }
                    if key.is_some() && (SIG_AT..HEADER_LEN).contains(&pos) {
                        assert!(matches!(res, Err(PlanFileError::BadSignature)), "{res:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for key in [None, Some(KEY)] {
            let bytes = encoded(key);
            for len in 0..bytes.len() {
                match decode(&bytes[..len], key) {
                    Err(PlanFileError::Truncated { expected, found }) => {
                        assert_eq!(found, len as u64);
                        assert!(expected > found);
                    }
                    other => panic!("truncation to {len} bytes: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn appended_bytes_are_refused() {
        for key in [None, Some(KEY)] {
            let bytes = encoded(key);
            for extra in [&[0u8][..], b"x", &[0u8; 1000][..]] {
                let mut bad = bytes.clone();
                bad.extend_from_slice(extra);
                assert!(
                    matches!(
                        decode(&bad, key),
                        Err(PlanFileError::TrailingBytes { expected, found })
                            if expected == bytes.len() as u64 && found == bad.len() as u64
                    ),
                    "{extra:?}"
                );
            }
        }
    }

    #[test]
    fn not_a_plan_file() {
        for junk in [&b"ECSPLAX\0rest"[..], b"{\"format_version\":\"1.0\"}", b"x"] {
            assert!(matches!(
                decode(junk, None),
                Err(PlanFileError::NotAPlanFile)
            ));
        }
        // A prefix of the magic is a truncated plan file.
        assert!(matches!(
            decode(b"ECSP", None),
            Err(PlanFileError::Truncated { .. })
        ));
    }

    #[test]
    fn wrong_key_is_refused() {
        let bytes = encoded(Some(KEY));
        let err = decode(&bytes, Some(b"another key")).unwrap_err();
        assert!(matches!(err, PlanFileError::BadSignature));
        assert!(
            err.to_string()
                .contains("signed with another key or modified")
        );
    }

    #[test]
    fn unsigned_file_with_key_is_refused() {
        let bytes = encoded(None);
        let err = decode(&bytes, Some(KEY)).unwrap_err();
        assert!(matches!(err, PlanFileError::Unsigned), "{err:?}");
        assert!(err.to_string().contains("ECSCHED_PLAN_KEY"));
    }

    #[test]
    fn stripped_signature_is_refused_with_key() {
        // Downgrade attack: turn a signed file into an unsigned one.
        let mut bytes = encoded(Some(KEY));
        bytes[SIG_KIND_AT] = SIGNATURE_NONE;
        bytes[SIG_AT..HEADER_LEN].fill(0);
        assert!(matches!(
            decode(&bytes, Some(KEY)),
            Err(PlanFileError::Unsigned)
        ));
    }

    #[test]
    fn modified_payload_with_recomputed_hash_is_refused_with_key() {
        let mut bytes = encoded(Some(KEY));
        let mut forged = plan();
        forged.region = "us-west-2".into();
        let payload =
            bincode::serde::encode_to_vec(&forged, bincode::config::standard()).expect("enc");
        bytes.truncate(HEADER_LEN);
        bytes[LENGTH_AT..HASH_AT].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes[HASH_AT..SIG_KIND_AT].copy_from_slice(Sha256::digest(&payload).as_slice());
        bytes.extend_from_slice(&payload);
        assert!(matches!(
            decode(&bytes, Some(KEY)),
            Err(PlanFileError::BadSignature)
        ));
    }

    #[test]
    fn signed_file_without_key_is_refused() {
        let bytes = encoded(Some(KEY));
        let err = decode(&bytes, None).unwrap_err();
        assert!(matches!(err, PlanFileError::SignedButNoKey), "{err:?}");
        assert!(err.to_string().contains("set it"));
        assert!(err.to_string().contains("ECSCHED_PLAN_KEY"));
    }

    #[test]
    fn empty_key_is_refused() {
        assert!(matches!(
            encode(&plan(), Some(b"")),
            Err(PlanFileError::EmptyKey)
        ));
        let bytes = encoded(Some(KEY));
        assert!(matches!(
            decode(&bytes, Some(b"")),
            Err(PlanFileError::EmptyKey)
        ));
    }

    #[test]
    fn unknown_version_and_encoding() {
        let mut bytes = encoded(None);
        bytes[VERSION_AT..VERSION_AT + 2].copy_from_slice(&1u16.to_le_bytes());
        let err = decode(&bytes, None).unwrap_err();
        assert!(
            matches!(
                err,
                PlanFileError::UnsupportedVersion {
                    found: 1,
                    supported: FORMAT_VERSION
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("version 1"));

        let mut bytes = encoded(None);
        bytes[ENCODING_AT..ENCODING_AT + 2].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::UnknownEncoding { found: 2 })
        ));
    }

    #[test]
    fn unknown_signature_kind() {
        let mut bytes = encoded(None);
        bytes[SIG_KIND_AT] = 7;
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::UnknownSignatureKind { found: 7 })
        ));
    }

    #[test]
    fn oversized_length_is_refused_without_allocating() {
        let mut bytes = encoded(None);
        bytes[LENGTH_AT..HASH_AT].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn undecodable_payload_with_valid_hash() {
        let payload = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
        let mut bytes = encoded(None);
        bytes.truncate(HEADER_LEN);
        bytes[LENGTH_AT..HASH_AT].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes[HASH_AT..SIG_KIND_AT].copy_from_slice(Sha256::digest(payload).as_slice());
        bytes.extend_from_slice(payload);
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::Decode(_))
        ));
    }

    #[test]
    fn payload_with_unused_bytes_is_refused() {
        let mut payload =
            bincode::serde::encode_to_vec(plan(), bincode::config::standard()).expect("enc");
        payload.push(0);
        let mut bytes = encoded(None);
        bytes.truncate(HEADER_LEN);
        bytes[LENGTH_AT..HASH_AT].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes[HASH_AT..SIG_KIND_AT].copy_from_slice(Sha256::digest(&payload).as_slice());
        bytes.extend_from_slice(&payload);
        assert!(matches!(
            decode(&bytes, None),
            Err(PlanFileError::Decode(_))
        ));
    }

    #[test]
    fn write_atomic_then_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prod.plan");
        let bytes = encoded(Some(KEY));
        write_atomic(&path, &bytes).expect("write");
        assert_eq!(fs::read(&path).expect("read back"), bytes);
        assert_eq!(read(&path, Some(KEY)).expect("read"), plan());
        // Only the plan file is left in the directory (no temporary files).
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("prod.plan")]);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_sets_mode_0600_and_replaces_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prod.plan");
        fs::write(&path, b"old contents that are longer than nothing").expect("write old");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");

        let bytes = encoded(None);
        write_atomic(&path, &bytes).expect("write");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).expect("read back"), bytes);
        assert_eq!(read(&path, None).expect("read"), plan());
    }

    /// What `write_atomic` refuses to replace, and that it left it as it was.
    #[cfg(unix)]
    #[test]
    fn write_atomic_replaces_only_regular_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refused = |path: &Path| {
            let err = write_atomic(path, b"plan").expect_err("refused");
            assert!(matches!(err, PlanFileError::Io { .. }), "{err:?}");
            err.to_string()
        };
        // A directory.
        let sub = dir.path().join("plans");
        fs::create_dir(&sub).expect("mkdir");
        assert_eq!(
            refused(&sub),
            format!(
                "plan file {}: it is a directory; only a regular file is replaced by a plan file",
                sub.display()
            )
        );
        assert!(sub.is_dir());
        // A FIFO. A device node is refused the same way; it is not tried here: making one
        // needs root, and should the check regress, the test would replace a real one.
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert!(refused(&fifo).ends_with(
            ": it is a named pipe (FIFO); only a regular file is replaced by a plan file"
        ));
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(&fifo)
                .expect("stat")
                .file_type()
                .is_fifo()
        );
        // A symbolic link, to a file or dangling: neither replaced nor followed.
        let target = dir.path().join("target.plan");
        fs::write(&target, b"old").expect("write");
        for (name, to) in [
            ("link.plan", target.as_path()),
            ("dangling.plan", Path::new("nowhere")),
        ] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(to, &link).expect("symlink");
            assert!(refused(&link).ends_with(
                ": it is a symbolic link; refusing to replace it (give the path of the file itself)"
            ));
            assert!(
                fs::symlink_metadata(&link)
                    .expect("stat")
                    .file_type()
                    .is_symlink()
            );
        }
        assert_eq!(fs::read(&target).expect("read"), b"old");
        // Nothing is left behind.
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dangling.plan", "link.plan", "pipe", "plans", "target.plan"]
                .map(std::ffi::OsString::from)
        );
    }

    #[test]
    fn write_atomic_into_missing_dir_fails_and_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("prod.plan");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(matches!(err, PlanFileError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(!path.exists());
    }

    #[test]
    fn read_missing_file_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing.plan");
        let err = read(&path, None).unwrap_err();
        match &err {
            PlanFileError::Io { path: p, source } => {
                assert_eq!(p, &path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn read_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prod.plan");
        let mut bytes = encoded(None);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        write_atomic(&path, &bytes).expect("write");
        let err = read(&path, None).unwrap_err();
        assert!(matches!(err, PlanFileError::HashMismatch));
        assert_eq!(
            err.to_string(),
            "the plan file is corrupt or was modified: its SHA-256 does not match"
        );
    }

    #[test]
    fn plan_key_from_env_value() {
        // The variable itself is not mutated: other tests run in parallel.
        let v = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(key_from_value(v("s3cret")), Some(b"s3cret".to_vec()));
        assert_eq!(key_from_value(v("")), None);
        assert_eq!(key_from_value(None), None);
    }
}
