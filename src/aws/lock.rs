//! The run lock and the applied-plan record, as objects in S3 (SPEC §5
//! "Locking"; issue 8). Owns the lock location (`s3://BUCKET/KEY`), the lock
//! object's JSON body and the S3 protocol around it:
//!
//! * **take**: `PutObject` with `If-None-Match: *` (as Terraform ≥ 1.10's S3
//!   backend `use_lockfile`). S3 answers 412 `PreconditionFailed` when the
//!   object exists (409 `ConditionalRequestConflict` while a competing
//!   conditional write is in flight): the holder is read back, and the write is
//!   retried with jittered backoff until the wait runs out. A lock that has
//!   expired is reported as expired but never broken automatically.
//! * **release**: `DeleteObject` with `If-Match: <ETag of our PutObject>`, so a
//!   lock that was broken and taken by another run is never deleted (S3
//!   conditional deletes; moto 5.2.5 implements them too).
//! * **break** (`ecsched unlock ID`): read, compare the id, then a conditional
//!   delete on the ETag just read.
//! * **applied-plan record**: `KEY.plans/<plan-id>`, created with
//!   `If-None-Match: *`: a plan id can be claimed once per lock location.
//!
//! Every S3 call goes through the AWS layer's gate; the bucket's region comes
//! from `S3Buckets` (HeadBucket), as for template reads. It never decides
//! *when* to lock (that is `apply`'s and the CLI's job) and never breaks a lock
//! it does not own unless asked to by id.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::buckets::{NO_SUCH_BUCKET, S3Buckets};
use super::error::AwsError;
use super::gate::{Gate, Op};

/// How long a lock is declared valid when the caller does not say
/// ([`LockRequest::ttl`]). Only informative: an expired lock is reported as
/// such, never broken automatically.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(60 * 60);

/// The default delay between two attempts to take a lock held elsewhere: a
/// random delay in this range, growing from the low end towards the high end.
pub const DEFAULT_RETRY_DELAY: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(5));

/// Format marker written into every lock body (`"ecsched_lock": 1`).
const LOCK_FORMAT: u64 = 1;

/// A lock object larger than this is not read (it is not ecsched's).
const MAX_LOCK_BYTES: usize = 64 * 1024;

/// S3 object keys are at most 1024 bytes (UTF-8).
const MAX_KEY_BYTES: usize = 1024;

/// Retries of a write or delete that S3 answered 409 `ConditionalRequestConflict`.
const CONFLICT_RETRIES: u32 = 5;
const CONFLICT_DELAY: Duration = Duration::from_millis(200);
/// How often a wait for a held lock looks for a signal.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Fields read back from a lock body are cut to this many characters.
const MAX_FIELD_CHARS: usize = 200;

// ---- errors -----------------------------------------------------------------------------

/// An error of the lock component. Each is one sentence.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock location is not `s3://BUCKET/KEY`.
    #[error("invalid lock location \"{input}\": {reason}; expected s3://BUCKET/KEY")]
    InvalidSpec { input: String, reason: String },

    /// A plan id that cannot be part of an S3 key.
    #[error(
        "invalid plan id \"{plan_id}\" for the applied-plan record: use 1 to 128 letters, digits, \
         '-' or '_'"
    )]
    InvalidPlanId { plan_id: String },

    /// The lock bucket does not exist.
    #[error(
        "the lock bucket \"{bucket}\" (from {spec}) does not exist; create it or fix the lock location"
    )]
    NoBucket { spec: LockSpec, bucket: String },

    /// Another run holds the lock and it was not released within the wait.
    #[error("{}", held_message(spec, holder.as_deref(), *wait, *waited, *checked_at))]
    Held {
        spec: LockSpec,
        /// `None` when the holder released it just as it was read.
        holder: Option<Box<LockInfo>>,
        /// The wait asked for (zero: one attempt).
        wait: Duration,
        /// How long it actually tried.
        waited: Duration,
        /// When the holder was last read (for "expired").
        checked_at: DateTime<Utc>,
    },

    /// A signal came while waiting for a lock held by another run (between
    /// attempts: a conditional write in flight always finishes first).
    #[error("interrupted while waiting for the lock {spec}; nothing was written")]
    Interrupted { spec: LockSpec },

    /// `unlock ID`: there is no lock to break.
    #[error("there is no lock at {spec} to break (nobody holds it)")]
    NotLocked { spec: LockSpec },

    /// `unlock ID`: the lock has another id.
    #[error(
        "refusing to break the lock at {spec}: its id is {}, not {given}; it is {}",
        holder.id,
        holder.describe(Utc::now())
    )]
    WrongId {
        spec: LockSpec,
        given: String,
        holder: Box<LockInfo>,
    },

    /// `unlock ID`: the lock object changed between reading and deleting it.
    #[error(
        "the lock at {spec} changed while it was being broken, so nothing was deleted; read it \
         again and retry if it is still the one to break"
    )]
    Changed { spec: LockSpec },

    /// Releasing failed: the lock may still be held.
    #[error(
        "could not release the lock at {spec} (id {id}): {source}; it stays held until someone \
         runs `ecsched unlock {id}`"
    )]
    Release {
        spec: LockSpec,
        id: String,
        #[source]
        source: Box<AwsError>,
    },

    /// Any other S3 failure while taking, reading, breaking or claiming.
    #[error("could not {action}: {source}")]
    Aws {
        action: &'static str,
        #[source]
        source: Box<AwsError>,
    },

    /// The operating system's random number generator failed (lock ids).
    #[error("cannot create a lock id: the operating system's random number generator failed: {0}")]
    Random(String),
}

fn held_message(
    spec: &LockSpec,
    holder: Option<&LockInfo>,
    wait: Duration,
    waited: Duration,
    checked_at: DateTime<Utc>,
) -> String {
    let waited_text = if wait.is_zero() {
        "it was not waited for (set a lock timeout to wait)".to_string()
    } else {
        format!("gave up after waiting {}", human_duration(waited))
    };
    match holder {
        None => format!(
            "the lock {spec} was taken by another run (released just as it was read); \
             {waited_text}; try again"
        ),
        Some(h) => {
            let advice = if h.is_expired(checked_at) {
                format!(
                    "it has expired, but an expired lock is never broken automatically: if that \
                     run is dead, break the lock with `ecsched unlock {}`",
                    h.id
                )
            } else {
                format!(
                    "if that run is dead, break the lock with `ecsched unlock {}`",
                    h.id
                )
            };
            format!(
                "the lock {spec} is {}; {waited_text}; {advice}",
                h.describe(checked_at)
            )
        }
    }
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}s", d.as_secs())
    }
}

// ---- the lock location ------------------------------------------------------------------

/// Where the lock lives: `s3://BUCKET/KEY`. The applied-plan records live
/// next to it, under `KEY.plans/` ([`LockSpec::plan_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockSpec {
    bucket: String,
    key: String,
}

impl LockSpec {
    /// Parses `s3://BUCKET/KEY`. The bucket must be a valid S3 bucket name
    /// (3–63 lowercase letters, digits, dots and hyphens, starting and ending
    /// with a letter or digit); the key must be non-empty, not end with `/`,
    /// hold no control characters and fit S3's 1024 bytes.
    pub fn parse(input: &str) -> Result<LockSpec, LockError> {
        let invalid = |reason: &str| LockError::InvalidSpec {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let Some(rest) = input.strip_prefix("s3://") else {
            return Err(match input.split_once("://") {
                Some((scheme, _)) => invalid(&format!("the scheme is \"{scheme}\", not s3")),
                None => invalid("it does not start with s3://"),
            });
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("it names no bucket"));
        }
        if let Some(reason) = bucket_name_problem(bucket) {
            return Err(invalid(&format!(
                "\"{bucket}\" is not a valid bucket name ({reason})"
            )));
        }
        if key.is_empty() {
            return Err(invalid("it names no object key after the bucket"));
        }
        if key.ends_with('/') {
            return Err(invalid(
                "the key ends with '/', which names a folder, not an object",
            ));
        }
        if key.chars().any(char::is_control) {
            return Err(invalid("the key contains control characters"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(invalid("the key is longer than S3's 1024 bytes"));
        }
        Ok(LockSpec {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key of the applied-plan record of `plan_id`: `KEY.plans/<plan-id>`.
    pub fn plan_key(&self, plan_id: &str) -> String {
        format!("{}.plans/{plan_id}", self.key)
    }
}

/// Why `name` is not a valid (current-rules) S3 bucket name, if it is not.
fn bucket_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending \
                        with a letter or digit";
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len())
        || !name.chars().all(ok_char)
        || !alnum(name.chars().next())
        || !alnum(name.chars().last())
    {
        return Some(RULE);
    }
    if name.contains("..") {
        return Some("two adjacent dots");
    }
    None
}

impl fmt::Display for LockSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for LockSpec {
    type Err = LockError;
    fn from_str(s: &str) -> Result<LockSpec, LockError> {
        LockSpec::parse(s)
    }
}

// ---- the lock body ----------------------------------------------------------------------

/// What a run asks for when it takes the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    /// What the run does, shown to whoever finds the lock taken: `apply`,
    /// `apply plan.bin`, `delete`.
    pub operation: String,
    /// The plan being applied (`apply PLANFILE`).
    pub plan_id: Option<String>,
    /// How long the lock is declared valid (`expires_at = started_at + ttl`).
    pub ttl: Duration,
    /// Delay between attempts while the lock is held: random in `[low, ceiling]`,
    /// the ceiling doubling from `2·low` up to `high`.
    pub retry_delay: (Duration, Duration),
}

impl LockRequest {
    /// A request for `operation` with the default TTL and retry delays.
    pub fn new(operation: impl Into<String>) -> LockRequest {
        LockRequest {
            operation: operation.into(),
            plan_id: None,
            ttl: DEFAULT_LOCK_TTL,
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }

    /// The same request, for plan `plan_id`.
    pub fn with_plan(mut self, plan_id: impl Into<String>) -> LockRequest {
        self.plan_id = Some(plan_id.into());
        self
    }
}

/// A lock body, as written or as read back. Read leniently: a body written by
/// a newer version (extra fields) or one that is not a lock at all still gives
/// a `LockInfo`, with the fields that could be read and an [`id`](Self::id)
/// that `ecsched unlock` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The lock id (32 hex digits), or for a body without one `body-` and the
    /// first 32 hex digits of its SHA-256: what `ecsched unlock` takes.
    pub id: String,
    /// `user@host` of the run.
    pub who: Option<String>,
    pub host: Option<String>,
    pub pid: Option<u32>,
    /// `apply`, `apply plan.bin`, `delete`, …
    pub operation: Option<String>,
    pub plan_id: Option<String>,
    /// When the lock was taken (for an applied-plan record: when it was claimed).
    pub started_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The ecsched version that wrote it.
    pub version: Option<String>,
    /// Set when the body is not a lock this version can read: why.
    pub unreadable: Option<String>,
}

impl LockInfo {
    /// The body of a lock taken now by this process.
    fn stamped(id: &str, req: &LockRequest, now: DateTime<Utc>) -> LockInfo {
        // Whole seconds: the body's RFC 3339 times have no fraction.
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let host = host_name();
        let expires = chrono::Duration::from_std(req.ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl));
        LockInfo {
            id: id.to_string(),
            who: Some(format!("{}@{host}", user_name())),
            host: Some(host),
            pid: Some(std::process::id()),
            operation: Some(req.operation.clone()),
            plan_id: req.plan_id.clone(),
            started_at: Some(now),
            expires_at: expires,
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            unreadable: None,
        }
    }

    /// Whether `expires_at` has passed at `now` (`false` when unknown).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// One phrase naming the holder, for messages: `held by alice@ci-7 (pid
    /// 4242) running "apply plan.bin" for plan 9f3c… since …, expires …`.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let mut s = format!("held with id {}", self.id);
        if let Some(why) = &self.unreadable {
            s.push_str(&format!(" (an unreadable lock object: {why})"));
        }
        match (&self.who, self.pid) {
            (Some(who), Some(pid)) => s.push_str(&format!(" by {who} (pid {pid})")),
            (Some(who), None) => s.push_str(&format!(" by {who}")),
            (None, _) => {
                if let Some(host) = &self.host {
                    s.push_str(&format!(" by a run on {host}"));
                }
            }
        }
        if let Some(op) = &self.operation {
            s.push_str(&format!(" running \"{op}\""));
        }
        if let Some(plan) = &self.plan_id {
            s.push_str(&format!(" for plan {plan}"));
        }
        if let Some(t) = self.started_at {
            s.push_str(&format!(" since {}", rfc3339(t)));
        }
        if let Some(e) = self.expires_at {
            if e <= now {
                s.push_str(&format!(", expired at {}", rfc3339(e)));
            } else {
                s.push_str(&format!(", expires at {}", rfc3339(e)));
            }
        }
        if let Some(v) = &self.version {
            s.push_str(&format!(" (ecsched {v})"));
        }
        s
    }

    /// The JSON body (keys in a fixed order, one line).
    fn to_json(&self) -> Vec<u8> {
        let body = json!({
            "ecsched_lock": LOCK_FORMAT,
            "id": self.id,
            "who": self.who,
            "host": self.host,
            "pid": self.pid,
            "operation": self.operation,
            "plan_id": self.plan_id,
            "started_at": self.started_at.map(rfc3339),
            "expires_at": self.expires_at.map(rfc3339),
            "version": self.version,
        });
        let mut bytes = body.to_string().into_bytes();
        bytes.push(b'\n');
        bytes
    }

    /// Reads a lock body leniently (see the type's doc).
    fn parse(body: &[u8]) -> LockInfo {
        let fallback_id = || {
            let digest = Sha256::digest(body);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("body-{}", &hex[..32])
        };
        let unreadable = |why: String| LockInfo {
            id: fallback_id(),
            who: None,
            host: None,
            pid: None,
            operation: None,
            plan_id: None,
            started_at: None,
            expires_at: None,
            version: None,
            unreadable: Some(why),
        };
        let obj: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return unreadable("it is JSON but not an object".to_string()),
            Err(_) if body.len() > MAX_LOCK_BYTES => {
                return unreadable(format!("it is larger than {MAX_LOCK_BYTES} bytes"));
            }
            Err(e) => return unreadable(format!("it is not JSON ({e})")),
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).and_then(clean);
        let time = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let id = text("id").filter(|id| id.chars().all(|c| c.is_ascii_graphic()));
        let mut info = LockInfo {
            id: String::new(),
            who: text("who"),
            host: text("host"),
            pid: obj
                .get("pid")
                .and_then(Value::as_u64)
                .and_then(|p| u32::try_from(p).ok()),
            operation: text("operation"),
            plan_id: text("plan_id"),
            started_at: time("started_at"),
            expires_at: time("expires_at"),
            version: text("version"),
            unreadable: None,
        };
        match id {
            Some(id) => info.id = id,
            None => {
                info.id = fallback_id();
                info.unreadable = Some("it has no lock id".to_string());
            }
        }
        info
    }
}

/// A string field read back from a body, made safe to print: trimmed, control
/// characters replaced, cut to [`MAX_FIELD_CHARS`]. `None` when empty.
fn clean(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut out: String = s
        .chars()
        .take(MAX_FIELD_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > MAX_FIELD_CHARS {
        out.push('…');
    }
    Some(out)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `$USER` (or `$USERNAME`, `$LOGNAME`), else `unknown`.
fn user_name() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().as_deref().and_then(clean))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The host name: the kernel's (Linux), else `$HOSTNAME`/`$COMPUTERNAME`,
/// else `unknown`. Read without `unsafe` (no `gethostname(2)` binding).
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().as_deref().and_then(clean))
        .or_else(|| {
            ["HOSTNAME", "COMPUTERNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().as_deref().and_then(clean))
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// A fresh lock id: 16 bytes from the operating system's CSPRNG, as 32 hex
/// digits. Two runs racing for the lock must never share an id, since the id
/// (through the body's ETag) is what release and unlock compare.
fn new_lock_id() -> Result<String, LockError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| LockError::Random(e.to_string()))?;
    Ok(crate::config::hex(&bytes))
}

/// The delay before retry number `attempt` (0-based): random in
/// `[low, min(high, low·2^(attempt+1))]`.
fn retry_delay(range: (Duration, Duration), attempt: u32, random: u32) -> Duration {
    let (low, high) = if range.0 <= range.1 {
        range
    } else {
        (range.1, range.0)
    };
    let ceiling = low
        .saturating_mul(1u32 << attempt.saturating_add(1).min(20))
        .min(high)
        .max(low);
    let fraction = f64::from(random) / f64::from(u32::MAX);
    low + (ceiling - low).mul_f64(fraction)
}

fn valid_plan_id(plan_id: &str) -> bool {
    (1..=128).contains(&plan_id.len())
        && plan_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

// ---- results ----------------------------------------------------------------------------

/// A lock this run holds. Release it with `Aws::release_lock` on every exit
/// path; dropping it does nothing (the object stays until released or broken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    spec: LockSpec,
    info: LockInfo,
    /// The ETag of our lock object (what the conditional delete matches).
    etag: Option<String>,
    region: String,
}

impl HeldLock {
    pub fn spec(&self) -> &LockSpec {
        &self.spec
    }

    /// The body as written (who, when, expiry…).
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock id (what `ecsched unlock` would take).
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The region of the lock bucket.
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// What releasing did. Every variant means "this run no longer holds the lock".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// Our lock object was deleted.
    Deleted,
    /// There was no lock object any more (released before, or broken).
    AlreadyGone,
    /// The lock object is another run's (ours was broken and the lock taken
    /// again): left alone. The holder, when it could be read.
    NotOurs(Option<Box<LockInfo>>),
}

// ---- S3 calls ---------------------------------------------------------------------------

/// An object read back: body (at most [`MAX_LOCK_BYTES`] + 1 bytes) and ETag.
struct Object {
    body: Vec<u8>,
    etag: Option<String>,
}

enum Put {
    Created {
        etag: Option<String>,
    },
    /// 412: the object exists.
    Exists,
    /// 409: a competing conditional write is in flight.
    Conflict,
}

enum Delete {
    Deleted,
    /// 404: no such object.
    Missing,
    /// 412: the object is not the one we matched.
    Changed,
    /// 409: a competing write is in flight.
    Conflict,
}

/// HTTP status of a service error response (412, 409, 404…).
fn service_status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
        _ => None,
    }
}

/// S3 calls on one bucket through the gate.
struct Store<'a> {
    s3: aws_sdk_s3::Client,
    gate: &'a Gate,
    bucket: &'a str,
}

impl Store<'_> {
    fn resource(&self, key: &str) -> String {
        format!("lock object s3://{}/{key}", self.bucket)
    }

    /// A conditional write (`If-None-Match: *`). A 409 is retried here, a few
    /// times; [`Put::Conflict`] means S3 kept answering it.
    async fn put_if_absent(&self, key: &str, body: &[u8]) -> Result<Put, AwsError> {
        for _ in 0..CONFLICT_RETRIES {
            match self.put_if_absent_once(key, body).await? {
                Put::Conflict => tokio::time::sleep(CONFLICT_DELAY).await,
                done => return Ok(done),
            }
        }
        self.put_if_absent_once(key, body).await
    }

    async fn put_if_absent_once(&self, key: &str, body: &[u8]) -> Result<Put, AwsError> {
        // Each call is one expression building and sending the request, so the
        // gate can take a closure that rebuilds it per attempt.
        let sent = self
            .gate
            .call(Op::s3("PutObject"), || {
                self.s3
                    .put_object()
                    .bucket(self.bucket)
                    .key(key)
                    .if_none_match("*")
                    .content_type("application/json")
                    .body(ByteStream::from(body.to_vec()))
                    .send()
            })
            .await;
        match sent {
            Ok(out) => Ok(Put::Created {
                etag: out.e_tag().map(str::to_string),
            }),
            Err(e) => match service_status(&e) {
                Some(412) => Ok(Put::Exists),
                Some(409) => Ok(Put::Conflict),
                _ => Err(AwsError::api("PutObject", self.resource(key), e)),
            },
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, AwsError> {
        let sent = self
            .gate
            .call(Op::s3("GetObject"), || {
                self.s3.get_object().bucket(self.bucket).key(key).send()
            })
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(GetObjectError::is_no_such_key) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(AwsError::api("GetObject", self.resource(key), e)),
        };
        let etag = out.e_tag().map(str::to_string);
        // Read at most one byte more than a lock may have: enough to tell "too large".
        let mut body = Vec::new();
        let mut stream = out.body;
        while body.len() <= MAX_LOCK_BYTES {
            match stream.next().await {
                None => break,
                Some(Ok(chunk)) => body.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(AwsError::Runtime(format!(
                        "GetObject for {} failed while reading the body: {e}",
                        self.resource(key)
                    )));
                }
            }
        }
        body.truncate(MAX_LOCK_BYTES + 1);
        Ok(Some(Object { body, etag }))
    }

    /// A (conditional, with `if_match`) delete. A 409 is retried here, a few
    /// times; [`Delete::Conflict`] means S3 kept answering it.
    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<Delete, AwsError> {
        for _ in 0..CONFLICT_RETRIES {
            match self.delete_once(key, if_match).await? {
                Delete::Conflict => tokio::time::sleep(CONFLICT_DELAY).await,
                done => return Ok(done),
            }
        }
        self.delete_once(key, if_match).await
    }

    async fn delete_once(&self, key: &str, if_match: Option<&str>) -> Result<Delete, AwsError> {
        let sent = self
            .gate
            .call(Op::s3("DeleteObject"), || {
                self.s3
                    .delete_object()
                    .bucket(self.bucket)
                    .key(key)
                    .set_if_match(if_match.map(str::to_string))
                    .send()
            })
            .await;
        match sent {
            Ok(_) => Ok(Delete::Deleted),
            Err(e) => match service_status(&e) {
                Some(412) => Ok(Delete::Changed),
                Some(409) => Ok(Delete::Conflict),
                Some(404) => Ok(Delete::Missing),
                _ => Err(AwsError::api("DeleteObject", self.resource(key), e)),
            },
        }
    }

    /// Reads and parses the object at `key`, with its ETag.
    async fn read(&self, key: &str) -> Result<Option<(LockInfo, Option<String>)>, AwsError> {
        Ok(self
            .get(key)
            .await?
            .map(|o| (LockInfo::parse(&o.body), o.etag)))
    }
}

// ---- the protocol -----------------------------------------------------------------------

/// Takes the lock (see the module doc). `spec` is only used for messages and
/// the key; `store` is already on the right bucket and region.
async fn acquire_in(
    store: &Store<'_>,
    spec: &LockSpec,
    region: &str,
    req: &LockRequest,
    wait: Duration,
    stopped: &(dyn Fn() -> bool + Sync),
) -> Result<HeldLock, LockError> {
    let aws = |source| LockError::Aws {
        action: "take the lock",
        source: Box::new(source),
    };
    let id = new_lock_id()?;
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    let mut attempt: u32 = 0;
    let mut vanished: u32 = 0;
    loop {
        let info = LockInfo::stamped(&id, req, Utc::now());
        let holder = match store
            .put_if_absent(&spec.key, &info.to_json())
            .await
            .map_err(aws)?
        {
            Put::Created { etag } => {
                return Ok(HeldLock {
                    spec: spec.clone(),
                    info,
                    etag,
                    region: region.to_string(),
                });
            }
            Put::Exists | Put::Conflict => store.read(&spec.key).await.map_err(aws)?,
        };
        match holder {
            // An earlier attempt of ours landed after all (its response was lost
            // and the call retried): the lock is ours.
            Some((h, etag)) if h.id == id => {
                return Ok(HeldLock {
                    spec: spec.clone(),
                    info: h,
                    etag,
                    region: region.to_string(),
                });
            }
            // Released between our write and our read: try again at once (a few times).
            None if vanished < 3 => {
                vanished += 1;
                continue;
            }
            _ => {}
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(LockError::Held {
                spec: spec.clone(),
                holder: holder.map(|(h, _)| Box::new(h)),
                wait,
                waited: now - started,
                checked_at: Utc::now(),
            });
        }
        let random = getrandom::u32().unwrap_or(u32::MAX / 2);
        let delay = retry_delay(req.retry_delay, attempt, random);
        attempt = attempt.saturating_add(1);
        // Interruptible only here, between attempts: never with a write in flight.
        let until = now + delay.min(deadline - now);
        loop {
            if stopped() {
                return Err(LockError::Interrupted { spec: spec.clone() });
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                break;
            }
            tokio::time::sleep((until - now).min(STOP_POLL)).await;
        }
    }
}

/// Releases `held` (see [`Locks::release`]).
async fn release_in(store: &Store<'_>, held: &HeldLock) -> Result<Released, AwsError> {
    let key = held.spec.key.as_str();
    let mut etag = held.etag.clone();
    if etag.is_none() {
        // No ETag from PutObject (not S3?): compare the id, then delete on the ETag read.
        match store.read(key).await? {
            None => return Ok(Released::AlreadyGone),
            Some((h, _)) if h.id != held.info.id => {
                return Ok(Released::NotOurs(Some(Box::new(h))));
            }
            Some((_, read_etag)) => etag = read_etag,
        }
    }
    let mut rereads = 0;
    loop {
        let changed = match store.delete(key, etag.as_deref()).await? {
            Delete::Deleted => return Ok(Released::Deleted),
            Delete::Missing => return Ok(Released::AlreadyGone),
            Delete::Changed => true,
            Delete::Conflict => false,
        };
        // The object is not the one we matched (412), or S3 kept answering 409:
        // whose is it now?
        let current = match store.read(key).await {
            Ok(current) => current,
            // 412 already proved the object is not the one we wrote.
            Err(_) if changed => return Ok(Released::NotOurs(None)),
            Err(e) => return Err(e),
        };
        match current {
            None => return Ok(Released::AlreadyGone),
            Some((h, _)) if h.id != held.info.id => {
                return Ok(Released::NotOurs(Some(Box::new(h))));
            }
            // Our id under another ETag (rewritten in place): match that one, once.
            Some((_, read_etag)) if rereads < 1 => {
                rereads += 1;
                etag = read_etag;
            }
            Some(_) => {
                return Err(AwsError::Runtime(format!(
                    "DeleteObject for {} kept failing its condition although the object is \
                     still this run's lock",
                    store.resource(key)
                )));
            }
        }
    }
}

/// Breaks the lock at `spec` if its id is `id`.
async fn break_in(store: &Store<'_>, spec: &LockSpec, id: &str) -> Result<LockInfo, LockError> {
    let aws = |source| LockError::Aws {
        action: "break the lock",
        source: Box::new(source),
    };
    let Some((info, etag)) = store.read(&spec.key).await.map_err(aws)? else {
        return Err(LockError::NotLocked { spec: spec.clone() });
    };
    if info.id != id.trim() {
        return Err(LockError::WrongId {
            spec: spec.clone(),
            given: id.trim().to_string(),
            holder: Box::new(info),
        });
    }
    match store
        .delete(&spec.key, etag.as_deref())
        .await
        .map_err(aws)?
    {
        // Gone either way: what was asked.
        Delete::Deleted | Delete::Missing => Ok(info),
        Delete::Conflict | Delete::Changed => Err(LockError::Changed { spec: spec.clone() }),
    }
}

/// Creates the applied-plan record of `plan_id` (see [`Locks::claim_plan`]).
async fn claim_in(
    store: &Store<'_>,
    spec: &LockSpec,
    plan_id: &str,
    info: &LockInfo,
) -> Result<bool, LockError> {
    let aws = |source| LockError::Aws {
        action: "record the plan as applied",
        source: Box::new(source),
    };
    if !valid_plan_id(plan_id) {
        return Err(LockError::InvalidPlanId {
            plan_id: plan_id.to_string(),
        });
    }
    let key = spec.plan_key(plan_id);
    let record = LockInfo {
        plan_id: Some(plan_id.to_string()),
        started_at: Some(Utc::now()),
        expires_at: None,
        unreadable: None,
        ..info.clone()
    };
    let body = record.to_json();
    let put = store.put_if_absent(&key, &body).await.map_err(aws)?;
    if let Put::Created { .. } = put {
        return Ok(true);
    }
    // Ours already (an earlier attempt whose response was lost)?
    match store.read(&key).await.map_err(aws)? {
        Some((h, _)) => Ok(h.id == info.id),
        // Nothing there although the conditional write did not succeed (S3
        // kept answering 409, or the record vanished after a 412): not
        // "claimed by someone else", which would refuse the plan wrongly.
        None => Err(aws(AwsError::Runtime(format!(
            "PutObject for {} did not succeed (409 or 412), yet no record is there",
            store.resource(&key)
        )))),
    }
}

/// Deletes the applied-plan record of `plan_id` if it is `info`'s (see
/// [`Locks::unclaim_plan`]); `false` when it is someone else's. A record of
/// ours that S3 would not let go is an error.
async fn unclaim_in(
    store: &Store<'_>,
    spec: &LockSpec,
    plan_id: &str,
    info: &LockInfo,
) -> Result<bool, AwsError> {
    let key = spec.plan_key(plan_id);
    // Read, then delete what was read: twice at most (the record rewritten in between).
    for _ in 0..2 {
        let etag = match store.read(&key).await? {
            None => return Ok(true),
            Some((h, _)) if h.id != info.id => return Ok(false),
            Some((_, etag)) => etag,
        };
        match store.delete(&key, etag.as_deref()).await? {
            Delete::Deleted | Delete::Missing => return Ok(true),
            Delete::Changed => continue,
            Delete::Conflict => break,
        }
    }
    Err(AwsError::Runtime(format!(
        "DeleteObject for {} kept failing (409, or rewritten meanwhile)",
        store.resource(&key)
    )))
}

// ---- the component ----------------------------------------------------------------------

/// The lock component of the AWS layer (behind `Aws::*_lock` and
/// `Aws::claim_plan`). Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Locks {
    buckets: S3Buckets,
    gate: Arc<Gate>,
}

impl Locks {
    pub(crate) fn new(buckets: S3Buckets, gate: Arc<Gate>) -> Locks {
        Locks { buckets, gate }
    }

    /// The bucket's region and a store on it.
    async fn store<'a>(
        &'a self,
        spec: &'a LockSpec,
        action: &'static str,
    ) -> Result<(String, Store<'a>), LockError> {
        match self.buckets.client_for(&spec.bucket).await {
            Ok((region, s3)) => Ok((
                region,
                Store {
                    s3,
                    gate: &self.gate,
                    bucket: &spec.bucket,
                },
            )),
            Err(e) if e.code() == Some(NO_SUCH_BUCKET) => Err(LockError::NoBucket {
                spec: spec.clone(),
                bucket: spec.bucket.clone(),
            }),
            Err(source) => Err(LockError::Aws {
                action,
                source: Box::new(source),
            }),
        }
    }

    /// Takes the lock at `spec`, waiting up to `wait` (zero: one attempt) while
    /// another run holds it, then fails with [`LockError::Held`] naming the
    /// holder. Never breaks a lock, expired or not.
    pub(crate) async fn acquire(
        &self,
        spec: &LockSpec,
        req: &LockRequest,
        wait: Duration,
        stopped: &(dyn Fn() -> bool + Sync),
    ) -> Result<HeldLock, LockError> {
        let (region, store) = self.store(spec, "take the lock").await?;
        acquire_in(&store, spec, &region, req, wait, stopped).await
    }

    /// Releases `held`: deletes the lock object only if it is still the one
    /// this run wrote (conditional delete on its ETag). Idempotent, safe to call
    /// from every exit path and more than once: any `Ok` means this run no
    /// longer holds the lock. An `Err` ([`LockError::Release`]) means the
    /// object may still be there; the message says how to break it.
    pub(crate) async fn release(&self, held: &HeldLock) -> Result<Released, LockError> {
        let store = Store {
            s3: self.buckets.client_in(&held.region),
            gate: &self.gate,
            bucket: &held.spec.bucket,
        };
        release_in(&store, held)
            .await
            .map_err(|source| LockError::Release {
                spec: held.spec.clone(),
                id: held.info.id.clone(),
                source: Box::new(source),
            })
    }

    /// `ecsched unlock ID`: deletes the lock at `spec` if its id is `id`, and
    /// returns what it held. A missing lock, another id, or a lock that changed
    /// meanwhile is an error, and nothing is deleted.
    pub(crate) async fn break_lock(
        &self,
        spec: &LockSpec,
        id: &str,
    ) -> Result<LockInfo, LockError> {
        let (_, store) = self.store(spec, "break the lock").await?;
        break_in(&store, spec, id).await
    }

    /// The lock at `spec`, if any.
    pub(crate) async fn read(&self, spec: &LockSpec) -> Result<Option<LockInfo>, LockError> {
        let (_, store) = self.store(spec, "read the lock").await?;
        let found = store
            .read(&spec.key)
            .await
            .map_err(|source| LockError::Aws {
                action: "read the lock",
                source: Box::new(source),
            })?;
        Ok(found.map(|(info, _)| info))
    }

    /// Records that `plan_id` is being applied: creates `KEY.plans/<plan-id>`
    /// (holding `info` with `started_at` = now) only if it does not exist.
    /// `true`: the plan was not claimed before (or this same run, same lock id,
    /// claimed it already); `false`: another run claimed it, so the plan was
    /// applied or attempted before.
    pub(crate) async fn claim_plan(
        &self,
        spec: &LockSpec,
        plan_id: &str,
        info: &LockInfo,
    ) -> Result<bool, LockError> {
        let (_, store) = self.store(spec, "record the plan as applied").await?;
        claim_in(&store, spec, plan_id, info).await
    }

    /// Withdraws this run's applied-plan record of `plan_id` (`info` is the
    /// lock it holds): for an apply stopped by a signal before its first
    /// write, so that the plan can still be applied. `false` when the record
    /// is another run's (it is left alone).
    pub(crate) async fn unclaim_plan(
        &self,
        spec: &LockSpec,
        plan_id: &str,
        info: &LockInfo,
    ) -> Result<bool, LockError> {
        let action = "withdraw the applied-plan record";
        let (_, store) = self.store(spec, action).await?;
        unclaim_in(&store, spec, plan_id, info)
            .await
            .map_err(|source| LockError::Aws {
                action,
                source: Box::new(source),
            })
    }

    /// The applied-plan record of `plan_id`, if any: who claimed it and when
    /// (`started_at`).
    pub(crate) async fn plan_claim(
        &self,
        spec: &LockSpec,
        plan_id: &str,
    ) -> Result<Option<LockInfo>, LockError> {
        if !valid_plan_id(plan_id) {
            return Err(LockError::InvalidPlanId {
                plan_id: plan_id.to_string(),
            });
        }
        let (_, store) = self.store(spec, "read the applied-plan record").await?;
        let found = store
            .read(&spec.plan_key(plan_id))
            .await
            .map_err(|source| LockError::Aws {
                action: "read the applied-plan record",
                source: Box::new(source),
            })?;
        Ok(found.map(|(info, _)| info))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aws_sdk_s3::Client;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_mocks::{
        MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
    };

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn spec() -> LockSpec {
        LockSpec::parse("s3://locks-bucket/ecsched/prod.lock").unwrap()
    }

    fn holder(id: &str) -> LockInfo {
        LockInfo {
            id: id.to_string(),
            who: Some("alice@ci-7".into()),
            host: Some("ci-7".into()),
            pid: Some(4242),
            operation: Some("apply plan.bin".into()),
            plan_id: Some("9f3c".into()),
            started_at: Some(t("2026-12-01T10:00:00Z")),
            expires_at: Some(t("2026-12-01T11:00:00Z")),
            version: Some("0.1.0".into()),
            unreadable: None,
        }
    }

    // ---- LockSpec ---------------------------------------------------------------------

    #[test]
    fn spec_parses_bucket_and_key() {
        let s = LockSpec::parse("s3://my-locks.example/ecsched/prod lock.json").unwrap();
        assert_eq!(s.bucket(), "my-locks.example");
        assert_eq!(s.key(), "ecsched/prod lock.json");
        assert_eq!(
            s.to_string(),
            "s3://my-locks.example/ecsched/prod lock.json"
        );
        assert_eq!(
            s.plan_key("abc-123"),
            "ecsched/prod lock.json.plans/abc-123"
        );
        assert_eq!("s3://abc/k".parse::<LockSpec>().unwrap().key(), "k");
    }

    #[test]
    fn spec_rejects_everything_else_with_the_reason() {
        let cases = [
            ("", "it does not start with s3://"),
            ("my-bucket/key", "it does not start with s3://"),
            ("S3://my-bucket/key", "the scheme is \"S3\", not s3"),
            ("https://my-bucket/key", "the scheme is \"https\", not s3"),
            ("s3://", "it names no bucket"),
            ("s3:///key", "it names no bucket"),
            ("s3://my-bucket", "it names no object key after the bucket"),
            ("s3://my-bucket/", "it names no object key after the bucket"),
            (
                "s3://my-bucket/dir/",
                "the key ends with '/', which names a folder, not an object",
            ),
            ("s3://my-bucket/a\nb", "the key contains control characters"),
            (
                "s3://a..b/k",
                "\"a..b\" is not a valid bucket name (two adjacent dots)",
            ),
        ];
        for (input, reason) in cases {
            let err = LockSpec::parse(input).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid lock location \"{input}\": {reason}; expected s3://BUCKET/KEY"),
                "{input:?}"
            );
        }
        for bad_bucket in [
            "ab",
            "Bad_Bucket",
            "-abc",
            "abc-",
            "my bucket",
            &"a".repeat(64),
        ] {
            let err = LockSpec::parse(&format!("s3://{bad_bucket}/k")).unwrap_err();
            assert!(
                err.to_string()
                    .contains("is not a valid bucket name (3 to 63 lowercase"),
                "{err}"
            );
        }
        let long = format!("s3://abc/{}", "k".repeat(1025));
        assert!(
            LockSpec::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("1024 bytes")
        );
    }

    // ---- the body ---------------------------------------------------------------------

    #[test]
    fn a_stamped_body_round_trips() {
        let req = LockRequest {
            ttl: Duration::from_secs(90),
            ..LockRequest::new("apply plan.bin").with_plan("9f3c")
        };
        let now = t("2026-12-01T10:00:00.750Z");
        let info = LockInfo::stamped("00112233445566778899aabbccddeeff", &req, now);
        assert_eq!(info.started_at, Some(t("2026-12-01T10:00:00Z")));
        assert_eq!(info.expires_at, Some(t("2026-12-01T10:01:30Z")));
        assert_eq!(info.pid, Some(std::process::id()));
        let who = info.who.as_deref().unwrap();
        assert!(
            who.ends_with(&format!("@{}", info.host.as_deref().unwrap())),
            "{who}"
        );
        let body = info.to_json();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"ecsched_lock":1,"id":"00112233445566778899aabbccddeeff","who":"#),
            "{text}"
        );
        assert!(text.contains(r#""operation":"apply plan.bin","plan_id":"9f3c","started_at":"2026-12-01T10:00:00Z","expires_at":"2026-12-01T10:01:30Z""#), "{text}");
        assert_eq!(LockInfo::parse(&body), info);
    }

    #[test]
    fn a_newer_body_is_read_for_what_it_has() {
        let body = br#"{"ecsched_lock": 7, "id": "abc123", "who": "bob@laptop",
            "operation": "apply --everything", "started_at": "2026-12-01T10:00:00+09:00",
            "expires_at": "not a time", "pid": 99999999999, "flavour": {"new": true}}"#;
        let info = LockInfo::parse(body);
        assert_eq!(info.id, "abc123");
        assert_eq!(info.who.as_deref(), Some("bob@laptop"));
        assert_eq!(info.operation.as_deref(), Some("apply --everything"));
        assert_eq!(info.started_at, Some(t("2026-12-01T01:00:00Z")));
        assert_eq!(info.expires_at, None);
        assert_eq!(info.pid, None);
        assert_eq!(info.unreadable, None);
    }

    #[test]
    fn garbage_is_reported_with_an_id_derived_from_its_bytes() {
        for (body, why) in [
            (&b"\x00\xffnot json"[..], "it is not JSON"),
            (&b"[1, 2]"[..], "it is JSON but not an object"),
            (&br#"{"who": "x"}"#[..], "it has no lock id"),
            (&br#"{"id": "   "}"#[..], "it has no lock id"),
            (&br#"{"id": "has space"}"#[..], "it has no lock id"),
        ] {
            let info = LockInfo::parse(body);
            assert!(
                info.unreadable.as_deref().unwrap().starts_with(why),
                "{info:?}"
            );
            assert!(
                info.id.starts_with("body-") && info.id.len() == 37,
                "{}",
                info.id
            );
            // Stable: the same bytes give the same id (so `unlock` can name it).
            assert_eq!(LockInfo::parse(body).id, info.id);
        }
        assert_ne!(LockInfo::parse(b"a").id, LockInfo::parse(b"b").id);
        let big = vec![b'x'; MAX_LOCK_BYTES + 1];
        assert_eq!(
            LockInfo::parse(&big).unreadable.as_deref(),
            Some("it is larger than 65536 bytes")
        );
    }

    #[test]
    fn fields_read_back_are_made_printable_and_short() {
        let body = format!(
            r#"{{"id": "abc", "who": "evil\u001b[31m@host", "host": "{}"}}"#,
            "h".repeat(500)
        );
        let info = LockInfo::parse(body.as_bytes());
        assert_eq!(info.who.as_deref(), Some("evil?[31m@host"));
        assert_eq!(
            info.host.as_ref().unwrap().chars().count(),
            MAX_FIELD_CHARS + 1
        );
    }

    #[test]
    fn held_message_names_the_holder_and_how_to_break_it() {
        let live = held_message(
            &spec(),
            Some(&holder("abc123")),
            Duration::from_secs(30),
            Duration::from_millis(30_200),
            t("2026-12-01T10:30:00Z"),
        );
        assert_eq!(
            live,
            "the lock s3://locks-bucket/ecsched/prod.lock is held with id abc123 by alice@ci-7 \
             (pid 4242) running \"apply plan.bin\" for plan 9f3c since 2026-12-01T10:00:00Z, \
             expires at 2026-12-01T11:00:00Z (ecsched 0.1.0); gave up after waiting 30s; if that \
             run is dead, break the lock with `ecsched unlock abc123`"
        );
        let expired = held_message(
            &spec(),
            Some(&holder("abc123")),
            Duration::ZERO,
            Duration::from_millis(120),
            t("2026-12-01T12:00:00Z"),
        );
        assert!(
            expired.contains(
                ", expired at 2026-12-01T11:00:00Z (ecsched 0.1.0); it was not waited for (set a \
                 lock timeout to wait); it has expired, but an expired lock is never broken \
                 automatically: if that run is dead, break the lock with `ecsched unlock abc123`"
            ),
            "{expired}"
        );
        let garbage = LockInfo::parse(b"hello");
        let msg = held_message(
            &spec(),
            Some(&garbage),
            Duration::ZERO,
            Duration::ZERO,
            Utc::now(),
        );
        assert!(
            msg.contains(&format!(
                "is held with id {} (an unreadable lock object: it is not JSON",
                garbage.id
            )),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!("`ecsched unlock {}`", garbage.id)),
            "{msg}"
        );
        let gone = held_message(
            &spec(),
            None,
            Duration::from_secs(1),
            Duration::from_millis(1500),
            Utc::now(),
        );
        assert!(
            gone.contains("released just as it was read); gave up after waiting 1.5s"),
            "{gone}"
        );
    }

    #[test]
    fn retry_delays_are_jittered_within_the_range_and_grow() {
        let range = (Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(retry_delay(range, 0, 0), Duration::from_secs(1));
        assert_eq!(retry_delay(range, 0, u32::MAX), Duration::from_secs(2));
        assert_eq!(retry_delay(range, 1, u32::MAX), Duration::from_secs(4));
        assert_eq!(retry_delay(range, 2, u32::MAX), Duration::from_secs(5));
        assert_eq!(retry_delay(range, 40, u32::MAX), Duration::from_secs(5));
        let mid = retry_delay(range, 9, u32::MAX / 2);
        assert!(mid > Duration::from_millis(2900) && mid < Duration::from_millis(3100));
        // Reversed and zero ranges are tolerated.
        let rev = (Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(retry_delay(rev, 0, 0), Duration::from_secs(1));
        assert_eq!(
            retry_delay((Duration::ZERO, Duration::ZERO), 3, 7),
            Duration::ZERO
        );
    }

    #[test]
    fn lock_ids_are_32_hex_digits_and_distinct() {
        let a = new_lock_id().unwrap();
        let b = new_lock_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn plan_ids_must_fit_a_key() {
        assert!(valid_plan_id("9f3c0a_b-1"));
        assert!(valid_plan_id(&"a".repeat(128)));
        for bad in ["", "a/b", "..", "a b", &"a".repeat(129)] {
            assert!(!valid_plan_id(bad), "{bad:?}");
        }
    }

    // ---- the protocol, against mocked S3 responses ------------------------------------

    const PRECONDITION_FAILED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you \
        specified did not hold</Message><Condition>If-None-Match</Condition></Error>";
    const CONFLICT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional \
        operation is currently in progress against this resource.</Message></Error>";
    const ACCESS_DENIED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";

    fn client(rules: &[&Rule]) -> Client {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
        for r in rules {
            mocks = mocks.with_rule(r);
        }
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(mocks)
            .build();
        Client::from_conf(conf)
    }

    fn store<'a>(s3: Client, gate: &'a Gate) -> Store<'a> {
        Store {
            s3,
            gate,
            bucket: "locks-bucket",
        }
    }

    fn body_of(info: &LockInfo) -> GetObjectOutput {
        GetObjectOutput::builder()
            .body(ByteStream::from(info.to_json()))
            .e_tag("\"etag-of-holder\"")
            .build()
    }

    fn quick(op: &str) -> LockRequest {
        LockRequest {
            retry_delay: (Duration::from_millis(1), Duration::from_millis(5)),
            ..LockRequest::new(op)
        }
    }

    #[tokio::test]
    async fn a_taken_lock_fails_at_once_without_a_wait_naming_the_holder() {
        let put = mock!(Client::put_object)
            .match_requests(|r| {
                r.if_none_match() == Some("*") && r.key() == Some("ecsched/prod.lock")
            })
            .sequence()
            .http_status(412, Some(PRECONDITION_FAILED.to_string()))
            .build();
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("abc123")));
        let gate = Gate::unlimited();
        let s = store(client(&[&put, &get]), &gate);
        let err = acquire_in(
            &s,
            &spec(),
            "us-east-1",
            &quick("apply"),
            Duration::ZERO,
            &|| false,
        )
        .await
        .unwrap_err();
        let LockError::Held {
            holder: Some(h),
            waited,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(h.id, "abc123");
        assert!(*waited < Duration::from_secs(1));
        assert!(err.to_string().contains("`ecsched unlock abc123`"), "{err}");
        assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_signal_while_waiting_for_a_held_lock_stops_between_attempts() {
        let put = mock!(Client::put_object)
            .sequence()
            .http_status(412, Some(PRECONDITION_FAILED.to_string()))
            .build();
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("abc123")));
        let gate = Gate::unlimited();
        let s = store(client(&[&put, &get]), &gate);
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        // The signal comes after the first attempt; the wait would be 30 s.
        let stopped = || attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1;
        let started = std::time::Instant::now();
        let err = acquire_in(
            &s,
            &spec(),
            "us-east-1",
            &quick("apply"),
            Duration::from_secs(30),
            &stopped,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LockError::Interrupted { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The one conditional write finished (and its holder was read) first.
        assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_conflicting_write_in_flight_is_retried() {
        // 409 twice (a competing conditional write in flight), then the write is ours:
        // retried where the request is made, without reading the object in between.
        let conflict = mock!(Client::put_object)
            .sequence()
            .http_status(409, Some(CONFLICT.to_string()))
            .times(2)
            .build();
        let ok = mock!(Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"ours\"").build());
        let gate = Gate::unlimited();
        let s = store(client(&[&conflict, &ok]), &gate);
        let held = acquire_in(
            &s,
            &spec(),
            "eu-west-1",
            &quick("delete"),
            Duration::ZERO,
            &|| false,
        )
        .await
        .unwrap();
        assert_eq!(held.etag.as_deref(), Some("\"ours\""));
        assert_eq!(held.region(), "eu-west-1");
        assert_eq!(held.info().operation.as_deref(), Some("delete"));
        assert_eq!((conflict.num_calls(), ok.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn a_claim_that_s3_keeps_refusing_with_409_is_an_error_not_someone_elses_claim() {
        let conflict = mock!(Client::put_object)
            .sequence()
            .http_status(409, Some(CONFLICT.to_string()))
            .times(CONFLICT_RETRIES as usize + 1)
            .build();
        let gone = mock!(Client::get_object)
            .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
        let gate = Gate::unlimited();
        let s = store(client(&[&conflict, &gone]), &gate);
        let err = claim_in(&s, &spec(), "9f3c", &holder("ours"))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("did not succeed (409 or 412), yet no record is there"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn our_own_earlier_write_found_on_a_retry_is_our_lock() {
        // The first PutObject landed but its response was lost; the retry sees 412
        // and the object carries our own id.
        let written = Arc::new(Mutex::new(Vec::new()));
        let w = written.clone();
        let put = mock!(Client::put_object)
            .match_requests(move |r| {
                *w.lock().unwrap() = r.body().bytes().unwrap_or_default().to_vec();
                true
            })
            .sequence()
            .http_status(412, Some(PRECONDITION_FAILED.to_string()))
            .build();
        let w = written.clone();
        let get = mock!(Client::get_object).then_compute_output(move |_| {
            GetObjectOutput::builder()
                .body(ByteStream::from(w.lock().unwrap().clone()))
                .e_tag("\"landed\"")
                .build()
        });
        let gate = Gate::unlimited();
        let s = store(client(&[&put, &get]), &gate);
        let held = acquire_in(
            &s,
            &spec(),
            "us-east-1",
            &quick("apply"),
            Duration::ZERO,
            &|| false,
        )
        .await
        .unwrap();
        assert_eq!(held.etag.as_deref(), Some("\"landed\""));
        assert_eq!(LockInfo::parse(&written.lock().unwrap()).id, held.id());
    }

    fn held(etag: Option<&str>) -> HeldLock {
        HeldLock {
            spec: spec(),
            info: holder("ours"),
            etag: etag.map(str::to_string),
            region: "us-east-1".into(),
        }
    }

    #[tokio::test]
    async fn release_deletes_only_on_our_etag() {
        let del = mock!(Client::delete_object)
            .match_requests(|r| {
                r.if_match() == Some("\"e1\"") && r.key() == Some("ecsched/prod.lock")
            })
            .then_output(|| DeleteObjectOutput::builder().build());
        let gate = Gate::unlimited();
        let s = store(client(&[&del]), &gate);
        assert_eq!(
            release_in(&s, &held(Some("\"e1\""))).await.unwrap(),
            Released::Deleted
        );
        assert_eq!(del.num_calls(), 1);
    }

    #[tokio::test]
    async fn unclaim_deletes_only_our_own_record_and_says_when_it_cannot() {
        let gate = Gate::unlimited();
        // Ours: deleted on the ETag read.
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("ours")));
        let del = mock!(Client::delete_object)
            .match_requests(|r| {
                r.if_match() == Some("\"etag-of-holder\"")
                    && r.key() == Some("ecsched/prod.lock.plans/9f3c")
            })
            .then_output(|| DeleteObjectOutput::builder().build());
        let s = store(client(&[&get, &del]), &gate);
        assert!(
            unclaim_in(&s, &spec(), "9f3c", &holder("ours"))
                .await
                .unwrap()
        );
        assert_eq!(del.num_calls(), 1);
        // Another run's: left alone.
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("theirs")));
        let s = store(client(&[&get]), &gate);
        assert!(
            !unclaim_in(&s, &spec(), "9f3c", &holder("ours"))
                .await
                .unwrap()
        );
        // Ours, but S3 keeps answering 409: an error, never "not ours".
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("ours")));
        let del = mock!(Client::delete_object)
            .sequence()
            .http_status(409, Some(CONFLICT.to_string()))
            .times(CONFLICT_RETRIES as usize + 1)
            .build();
        let s = store(client(&[&get, &del]), &gate);
        let err = unclaim_in(&s, &spec(), "9f3c", &holder("ours"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("kept failing"), "{err}");
    }

    #[tokio::test]
    async fn release_of_a_lock_taken_over_leaves_it_alone() {
        let del = mock!(Client::delete_object)
            .sequence()
            .http_status(412, Some(PRECONDITION_FAILED.to_string()))
            .build();
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("theirs")));
        let gate = Gate::unlimited();
        let s = store(client(&[&del, &get]), &gate);
        let r = release_in(&s, &held(Some("\"e1\""))).await.unwrap();
        assert_eq!(r, Released::NotOurs(Some(Box::new(holder("theirs")))));
    }

    #[tokio::test]
    async fn release_of_our_lock_rewritten_in_place_matches_the_new_etag() {
        let del = mock!(Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"e1\""))
            .sequence()
            .http_status(412, Some(PRECONDITION_FAILED.to_string()))
            .build();
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("ours")));
        let del2 = mock!(Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"etag-of-holder\""))
            .then_output(|| DeleteObjectOutput::builder().build());
        let gate = Gate::unlimited();
        let s = store(client(&[&del, &get, &del2]), &gate);
        assert_eq!(
            release_in(&s, &held(Some("\"e1\""))).await.unwrap(),
            Released::Deleted
        );
        assert_eq!(del2.num_calls(), 1);
    }

    #[tokio::test]
    async fn release_of_a_lock_already_gone_is_success() {
        let del = mock!(Client::delete_object)
            .sequence()
            .http_status(
                404,
                Some("<Error><Code>NoSuchKey</Code></Error>".to_string()),
            )
            .build();
        let gate = Gate::unlimited();
        let s = store(client(&[&del]), &gate);
        assert_eq!(
            release_in(&s, &held(Some("\"e1\""))).await.unwrap(),
            Released::AlreadyGone
        );
    }

    #[tokio::test]
    async fn release_without_an_etag_compares_the_id_first() {
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("theirs")));
        let gate = Gate::unlimited();
        let s = store(client(&[&get]), &gate);
        let r = release_in(&s, &held(None)).await.unwrap();
        assert!(matches!(r, Released::NotOurs(Some(h)) if h.id == "theirs"));

        let get = mock!(Client::get_object).then_output(|| body_of(&holder("ours")));
        let del = mock!(Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"etag-of-holder\""))
            .then_output(|| DeleteObjectOutput::builder().build());
        let s = store(client(&[&get, &del]), &gate);
        assert_eq!(
            release_in(&s, &held(None)).await.unwrap(),
            Released::Deleted
        );
    }

    #[tokio::test]
    async fn a_failed_release_says_how_to_break_the_lock() {
        let del = mock!(Client::delete_object)
            .sequence()
            .http_status(403, Some(ACCESS_DENIED.to_string()))
            .build();
        let gate = Gate::unlimited();
        let s = store(client(&[&del]), &gate);
        let h = held(Some("\"e1\""));
        let source = release_in(&s, &h).await.unwrap_err();
        let err = LockError::Release {
            spec: h.spec.clone(),
            id: h.info.id.clone(),
            source: Box::new(source),
        };
        assert_eq!(
            err.to_string(),
            "could not release the lock at s3://locks-bucket/ecsched/prod.lock (id ours): \
             DeleteObject for lock object s3://locks-bucket/ecsched/prod.lock failed: \
             AccessDenied: Access Denied; it stays held until someone runs `ecsched unlock ours`"
        );
    }

    #[tokio::test]
    async fn break_refuses_another_id_and_a_changed_lock() {
        let get = mock!(Client::get_object).then_output(|| body_of(&holder("theirs")));
        let gate = Gate::unlimited();
        let s = store(client(&[&get]), &gate);
        let err = break_in(&s, &spec(), "ours").await.unwrap_err();
        assert!(
            err.to_string().starts_with(
                "refusing to break the lock at s3://locks-bucket/ecsched/prod.lock: its id is \
                 theirs, not ours; it is held with id theirs by alice@ci-7"
            ),
            "{err}"
        );

        let get = mock!(Client::get_object).then_output(|| body_of(&holder("theirs")));
        let del = mock!(Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"etag-of-holder\""))
            .sequence()
            .http_status(412, Some(PRECONDITION_FAILED.to_string()))
            .build();
        let s = store(client(&[&get, &del]), &gate);
        let err = break_in(&s, &spec(), " theirs\n").await.unwrap_err();
        assert!(matches!(err, LockError::Changed { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_plan_claimed_by_another_run_is_refused_and_our_own_claim_is_not() {
        let gate = Gate::unlimited();
        for (existing, expected) in [("someone-else", false), ("ours", true)] {
            let put = mock!(Client::put_object)
                .match_requests(|r| r.key() == Some("ecsched/prod.lock.plans/9f3c"))
                .sequence()
                .http_status(412, Some(PRECONDITION_FAILED.to_string()))
                .build();
            let get = mock!(Client::get_object).then_output(move || body_of(&holder(existing)));
            let s = store(client(&[&put, &get]), &gate);
            let claimed = claim_in(&s, &spec(), "9f3c", &holder("ours"))
                .await
                .unwrap();
            assert_eq!(claimed, expected, "existing claim by {existing}");
        }
        let s = store(client(&[]), &gate);
        let err = claim_in(&s, &spec(), "../x", &holder("ours"))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::InvalidPlanId { .. }), "{err:?}");
    }
}
