//! A fault-injecting HTTP/1.1 reverse proxy on `127.0.0.1:0` in front of the emulator (std only,
//! one thread per connection). Every request is read whole (headers + `Content-Length` or chunked
//! body), named by its operation, matched against a rule table, then forwarded (with
//! `Connection: close` both ways, the response streamed back) or answered with a fault:
//! throttling, a 5xx, any error code, a dropped connection, or added latency.
//!
//! On top of the rule table, two kinds of throttling act on the requests the rules let through
//! (both off by default): a **quota per operation** ([`FaultProxy::quota_per_operation`]: one
//! token bucket per operation name, N requests/s with a burst of one second's worth, like AWS's
//! per-API quotas) and **random throttling** of a percentage of requests, reproducible from a
//! seed ([`FaultProxy::throttle_randomly`]). Throttled requests get the service's own throttling
//! error (see [`throttle_error`]). Latency rules delay every request, throttled or not.
//!
//! Operation names: the `X-Amz-Target` header for JSON services (`AWSEvents.PutTargets`), the
//! `Action` of query-protocol bodies (`GetCallerIdentity`), else the method and the route shape
//! for REST services: Scheduler's `GET /schedules` (ListSchedules), `GET /schedules/{Name}`
//! (GetSchedule), `POST|PUT|DELETE /schedules/{Name}` (Create/Update/DeleteSchedule),
//! `GET /schedule-groups[/{Name}]`, `GET|POST|DELETE /tags/{ResourceArn}`; any other path is
//! `METHOD /segment[/*]`. `GET /__stats` returns the counters as JSON and `POST /__reset` zeroes
//! them; neither is counted.
//!
//! Also compiled into `examples/fault_proxy.rs` (the benchmark's proxy) via `#[path]`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a connection may sit idle (client or upstream) before the proxy gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error, as [`throttle_error`] answers it (EventBridge, ECS: 400
    /// `ThrottlingException`; Scheduler: 429 `ThrottlingException`; STS: 400 `Throttling`).
    Throttle,
    /// HTTP 500 (`InternalFailure`) or 503 (`ServiceUnavailable`); any status works.
    Status(u16),
    /// Any error response, e.g. a non-retryable 400 `ValidationException`.
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// Read the request, then close the connection without a response.
    Drop,
    /// Wait, then forward. Latency rules add up and combine with the other faults.
    Latency(Duration),
}

impl Fault {
    pub fn validation(message: &str) -> Fault {
        Fault::Error {
            status: 400,
            code: "ValidationException".to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Which of the matching requests a rule acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The first N matching requests (in arrival order), then never again.
    First(u64),
    /// Every matching request.
    Every,
    /// The Nth, 2Nth, 3Nth… matching request.
    EveryNth(u64),
}

/// Which requests a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    Any,
    /// The operation name, or its part after the last `.` (`ListRules` matches
    /// `AWSEvents.ListRules`); a name ending in `/*` matches every REST route below it
    /// (`GET /schedules/*` matches `GET /schedules/{Name}`).
    Operation(String),
    /// A REST request: the method and a prefix of the path (without the query string).
    Rest {
        method: String,
        path_prefix: String,
    },
}

/// One row of the rule table.
#[derive(Clone, Debug)]
pub struct Rule {
    matcher: Matcher,
    body_contains: Option<String>,
    times: Times,
    fault: Fault,
}

impl Rule {
    /// `fault` on every request to `operation` (see [`Matcher::Operation`]).
    pub fn operation(operation: &str, fault: Fault) -> Rule {
        Rule::new(Matcher::Operation(operation.to_owned()), fault)
    }

    /// `fault` on every `method` request whose path starts with `path_prefix`.
    pub fn rest(method: &str, path_prefix: &str, fault: Fault) -> Rule {
        Rule::new(
            Matcher::Rest {
                method: method.to_owned(),
                path_prefix: path_prefix.to_owned(),
            },
            fault,
        )
    }

    /// `fault` on every request.
    pub fn any(fault: Fault) -> Rule {
        Rule::new(Matcher::Any, fault)
    }

    pub fn new(matcher: Matcher, fault: Fault) -> Rule {
        Rule {
            matcher,
            body_contains: None,
            times: Times::Every,
            fault,
        }
    }

    /// Only requests whose body contains `needle` (e.g. `"Rule":"nightly"`).
    pub fn body_contains(mut self, needle: &str) -> Rule {
        self.body_contains = Some(needle.to_owned());
        self
    }

    /// Only the first `n` matching requests.
    pub fn first(mut self, n: u64) -> Rule {
        self.times = Times::First(n);
        self
    }

    /// Only every `n`th matching request.
    pub fn every_nth(mut self, n: u64) -> Rule {
        self.times = Times::EveryNth(n.max(1));
        self
    }

    fn matches(&self, request: &Request) -> bool {
        let op = match &self.matcher {
            Matcher::Any => true,
            Matcher::Operation(name) => operation_matches(name, &request.operation),
            Matcher::Rest {
                method,
                path_prefix,
            } => {
                request.method.eq_ignore_ascii_case(method)
                    && request.path().starts_with(path_prefix.as_str())
            }
        };
        op && self.body_contains.as_ref().is_none_or(|needle| {
            request
                .body
                .windows(needle.len().max(1))
                .any(|w| w == needle.as_bytes())
        })
    }
}

/// Whether the operation `name` is what `pattern` designates (see [`Matcher::Operation`]).
fn operation_matches(pattern: &str, name: &str) -> bool {
    name == pattern
        || name
            .rsplit_once('.')
            .is_some_and(|(_, short)| short == pattern)
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| prefix.ends_with('/') && name.starts_with(prefix))
}

/// Counters for one operation (or all of them). `seen` = `forwarded` + `injected` +
/// `throttled_quota` + `throttled_random`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests received.
    pub seen: u64,
    /// Sent on to the emulator.
    pub forwarded: u64,
    /// Answered (or dropped) by the proxy itself because of a rule of the table.
    pub injected: u64,
    /// Answered with the throttling error because the operation's quota was used up.
    pub throttled_quota: u64,
    /// Answered with the throttling error by random throttling.
    pub throttled_random: u64,
    /// Held back by a latency rule (forwarded or not).
    pub delayed: u64,
    /// Forwarded and answered by the emulator with a 5xx (its own bugs, not ours).
    pub upstream_5xx: u64,
}

impl Counts {
    /// Throttled by the quota or at random (rule-table throttles are in `injected`).
    pub fn throttled(&self) -> u64 {
        self.throttled_quota + self.throttled_random
    }

    fn add(&mut self, other: &Counts) {
        self.seen += other.seen;
        self.forwarded += other.forwarded;
        self.injected += other.injected;
        self.throttled_quota += other.throttled_quota;
        self.throttled_random += other.throttled_random;
        self.delayed += other.delayed;
        self.upstream_5xx += other.upstream_5xx;
    }

    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "seen": self.seen,
            "forwarded": self.forwarded,
            "injected": self.injected,
            "throttled_quota": self.throttled_quota,
            "throttled_random": self.throttled_random,
            "delayed": self.delayed,
            "upstream_5xx": self.upstream_5xx,
        })
    }
}

/// A snapshot of the proxy's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub operations: BTreeMap<String, Counts>,
}

impl Stats {
    /// All operations together.
    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        for counts in self.operations.values() {
            total.add(counts);
        }
        total
    }

    /// The counters of operations named `name`, as [`Matcher::Operation`] matches names.
    pub fn op(&self, name: &str) -> Counts {
        let mut total = Counts::default();
        for (op, counts) in &self.operations {
            if operation_matches(name, op) {
                total.add(counts);
            }
        }
        total
    }

    pub fn to_json(&self) -> serde_json::Value {
        let operations: serde_json::Map<String, serde_json::Value> = self
            .operations
            .iter()
            .map(|(op, counts)| {
                let mut json = counts.to_json();
                if let Some(api) = rest_api_name(op) {
                    json["api"] = serde_json::Value::from(api);
                }
                (op.clone(), json)
            })
            .collect();
        let mut doc = self.total().to_json();
        doc["operations"] = serde_json::Value::Object(operations);
        doc
    }
}

/// A token bucket: `rate` tokens a second, holding at most `capacity`; starts full. Time is
/// passed in, so the arithmetic is testable without a clock.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `per_second` requests a second with a burst of one second's worth (at least one request),
    /// full at `now`.
    pub fn per_second(per_second: f64, now: Instant) -> TokenBucket {
        let capacity = per_second.max(1.0);
        TokenBucket {
            rate: per_second,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token if there is one at `now`. Times before the last call count as no time.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = self.last.max(now);
        // A whisker of slack so that float rounding never loses a token.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// SplitMix64: a tiny, good-enough PRNG step (no dependency needed for reproducible draws).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of an operation name, to give each operation its own random stream.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Why the proxy throttled a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Throttled {
    Quota,
    Random,
}

/// The per-operation quota and the random throttling (see the module comment).
#[derive(Debug, Default)]
struct Throttling {
    /// Requests a second per operation; `None`: unlimited.
    per_second: Option<f64>,
    buckets: HashMap<String, TokenBucket>,
    /// Percentage of requests to throttle at random (0 = none).
    percent: f64,
    seed: u64,
    /// Random draws made so far per operation: the Nth request of an operation gets the Nth
    /// number of that operation's stream, whatever other operations do meanwhile.
    draws: HashMap<String, u64>,
}

impl Throttling {
    /// Random throttling first (it takes no token), then the quota.
    fn check(&mut self, operation: &str, now: Instant) -> Option<Throttled> {
        if self.percent > 0.0 {
            let n = self.draws.entry(operation.to_owned()).or_default();
            *n += 1;
            let draw = splitmix64(self.seed ^ fnv1a(operation) ^ splitmix64(*n));
            // The top 53 bits as a fraction in [0, 1).
            let fraction = (draw >> 11) as f64 / (1u64 << 53) as f64;
            if fraction * 100.0 < self.percent {
                return Some(Throttled::Random);
            }
        }
        let per_second = self.per_second?;
        let bucket = self
            .buckets
            .entry(operation.to_owned())
            .or_insert_with(|| TokenBucket::per_second(per_second, now));
        (!bucket.try_take(now)).then_some(Throttled::Quota)
    }
}

/// Rules and counters, shared by the connection threads.
#[derive(Debug)]
struct State {
    upstream: String,
    rules: Mutex<Vec<(Rule, u64)>>,
    throttling: Mutex<Throttling>,
    stats: Mutex<Stats>,
    request_ids: AtomicU64,
    /// Print one line per request on stderr (`FaultProxy::log_requests`).
    log: AtomicBool,
    started: Instant,
}

impl State {
    fn rules(&self) -> MutexGuard<'_, Vec<(Rule, u64)>> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn throttling(&self) -> MutexGuard<'_, Throttling> {
        self.throttling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, operation: &str, update: impl FnOnce(&mut Counts)) {
        update(
            self.stats()
                .operations
                .entry(operation.to_owned())
                .or_default(),
        );
    }

    /// The summed latency of the firing latency rules and the first firing other fault.
    fn decide(&self, request: &Request) -> (Duration, Option<Fault>) {
        let mut delay = Duration::ZERO;
        let mut fault = None;
        for (rule, matched) in self.rules().iter_mut() {
            if !rule.matches(request) {
                continue;
            }
            // Every matching request counts, so `First(n)` and `EveryNth(n)` follow arrival
            // order even when an earlier rule injected instead.
            *matched += 1;
            let fires = match rule.times {
                Times::First(n) => *matched <= n,
                Times::Every => true,
                Times::EveryNth(n) => *matched % n == 0,
            };
            if !fires {
                continue;
            }
            match &rule.fault {
                Fault::Latency(d) => delay += *d,
                other if fault.is_none() => fault = Some(other.clone()),
                _ => {}
            }
        }
        (delay, fault)
    }
}

/// A running proxy; stops accepting when dropped (connections in flight finish on their own).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy for `upstream` (`http://HOST:PORT`) on `127.0.0.1:0`, with no rules.
    pub fn start(upstream: &str) -> io::Result<FaultProxy> {
        let authority = upstream
            .strip_prefix("http://")
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the upstream must be http://HOST:PORT, got {upstream}"),
                )
            })?
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: authority,
            rules: Mutex::new(Vec::new()),
            throttling: Mutex::new(Throttling::default()),
            stats: Mutex::new(Stats::default()),
            request_ids: AtomicU64::new(0),
            log: AtomicBool::new(false),
            started: Instant::now(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = thread::Builder::new()
            .name("fault-proxy".to_owned())
            .spawn({
                let state = Arc::clone(&state);
                let stop = Arc::clone(&stop);
                move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let state = Arc::clone(&state);
                        let _ = thread::Builder::new()
                            .name("fault-proxy-conn".to_owned())
                            .spawn(move || {
                                let _ = serve(&state, stream);
                            });
                    }
                }
            })?;
        Ok(FaultProxy {
            addr,
            state,
            stop,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a rule after the existing ones; returns `self` for chaining.
    pub fn rule(&self, rule: Rule) -> &FaultProxy {
        self.state.rules().push((rule, 0));
        self
    }

    /// Removes every rule: from now on every request is forwarded untouched (the quota and
    /// random throttling stay).
    pub fn clear_rules(&self) {
        self.state.rules().clear();
    }

    /// Limits every operation to `per_second` requests a second (a token bucket per operation
    /// name, burst one second's worth); `0` removes the limit. Requests over it get the
    /// service's throttling error and count as `throttled_quota`.
    pub fn quota_per_operation(&self, per_second: f64) -> &FaultProxy {
        let mut throttling = self.state.throttling();
        throttling.per_second = (per_second > 0.0).then_some(per_second);
        throttling.buckets.clear();
        self
    }

    /// Throttles `percent` % of the requests the rules let through, at random but the same
    /// ones for the same `seed` and the same order of requests per operation; they count as
    /// `throttled_random` and take no quota.
    pub fn throttle_randomly(&self, percent: f64, seed: u64) -> &FaultProxy {
        let mut throttling = self.state.throttling();
        throttling.percent = percent.clamp(0.0, 100.0);
        throttling.seed = seed;
        throttling.draws.clear();
        self
    }

    pub fn stats(&self) -> Stats {
        self.state.stats().clone()
    }

    pub fn reset_stats(&self) {
        *self.state.stats() = Stats::default();
    }

    /// Prints one line per request on stderr: arrival and duration in ms, operation, outcome.
    pub fn log_requests(&self, on: bool) {
        self.state.log.store(on, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One parsed request.
#[derive(Debug)]
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    operation: String,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Query protocol (STS): errors must be XML.
    fn is_query_protocol(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    }

    /// The signing name in the SigV4 credential scope (`events`, `scheduler`, `s3`, …), which
    /// is also how moto routes requests.
    fn service(&self) -> Option<&str> {
        let scope = self
            .header("authorization")?
            .split("Credential=")
            .nth(1)?
            .split([',', ' '])
            .next()?;
        // ACCESS_KEY/DATE/REGION/SERVICE/aws4_request
        scope.split('/').nth(3)
    }
}

fn operation_name(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> String {
    if let Some((_, target)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
    {
        return target.clone();
    }
    if let Some(action) = String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        return action.to_owned();
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match segments.as_slice() {
        // EventBridge Scheduler (restJson1): the routes of its Smithy model.
        ["schedules"] => "/schedules".to_owned(),
        ["schedules", _] => "/schedules/{Name}".to_owned(),
        ["schedule-groups"] => "/schedule-groups".to_owned(),
        ["schedule-groups", _] => "/schedule-groups/{Name}".to_owned(),
        // The ARN is one percent-encoded label, but take any depth.
        ["tags", _, ..] => "/tags/{ResourceArn}".to_owned(),
        [] => "/".to_owned(),
        [first] => format!("/{first}"),
        [first, ..] => format!("/{first}/*"),
    };
    format!("{method} {route}")
}

/// The Scheduler API a REST operation name stands for (`GET /schedules/{Name}` → `GetSchedule`).
pub fn rest_api_name(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "GET /schedules" => "ListSchedules",
        "GET /schedules/{Name}" => "GetSchedule",
        "POST /schedules/{Name}" => "CreateSchedule",
        "PUT /schedules/{Name}" => "UpdateSchedule",
        "DELETE /schedules/{Name}" => "DeleteSchedule",
        "GET /schedule-groups" => "ListScheduleGroups",
        "GET /schedule-groups/{Name}" => "GetScheduleGroup",
        "POST /schedule-groups/{Name}" => "CreateScheduleGroup",
        "DELETE /schedule-groups/{Name}" => "DeleteScheduleGroup",
        "GET /tags/{ResourceArn}" => "ListTagsForResource",
        "POST /tags/{ResourceArn}" => "TagResource",
        "DELETE /tags/{ResourceArn}" => "UntagResource",
        _ => return None,
    })
}

/// The throttling error the service of `request` really sends: status, code, message.
/// - query protocol (STS): 400 `Throttling` (XML body);
/// - awsJson (`X-Amz-Target`: EventBridge, ECS, SSM): 400 `ThrottlingException`;
/// - S3: 503 `SlowDown`;
/// - restJson (Scheduler): 429 `ThrottlingException` (its model's `@httpError(429)`).
pub fn throttle_error(request_kind: RequestKind) -> (u16, &'static str, &'static str) {
    match request_kind {
        RequestKind::Query => (400, "Throttling", "Rate exceeded"),
        RequestKind::AwsJson => (400, "ThrottlingException", "Rate exceeded"),
        RequestKind::S3 => (503, "SlowDown", "Please reduce your request rate."),
        RequestKind::RestJson => (429, "ThrottlingException", "Rate exceeded"),
    }
}

/// The wire protocol of a request, which decides the shape of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Query,
    AwsJson,
    S3,
    RestJson,
}

impl Request {
    fn kind(&self) -> RequestKind {
        if self.is_query_protocol() {
            RequestKind::Query
        } else if self.header("x-amz-target").is_some() {
            RequestKind::AwsJson
        } else if self.service() == Some("s3") {
            RequestKind::S3
        } else {
            RequestKind::RestJson
        }
    }
}

fn bad_data(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads header lines up to the blank line; returns them without line ends.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(bad_data("connection closed inside the head"))
            };
        }
        size += n;
        if size > MAX_HEAD {
            return Err(bad_data("head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // tolerate stray CRLF between messages
            }
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn parse_headers(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| bad_data(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let Some(lines) = read_head(reader)? else {
        return Ok(None);
    };
    let mut parts = lines[0].split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(bad_data(format!("bad request line {:?}", lines[0])));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = parse_headers(&lines[1..]);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let body = read_chunked(reader)?;
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("transfer-encoding"));
        headers.push(("Content-Length".to_owned(), body.len().to_string()));
        body
    } else {
        let length: usize = match header("content-length") {
            Some(v) => v
                .parse()
                .map_err(|_| bad_data(format!("bad Content-Length {v:?}")))?,
            None => 0,
        };
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    let path = target.split('?').next().unwrap_or_default();
    let operation = operation_name(&method, path, &headers, &body);
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
        operation,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

fn write_response(
    client: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    client.write_all(out.as_bytes())?;
    client.write_all(body)?;
    client.flush()
}

fn escape_json(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn write_error(
    state: &State,
    client: &mut TcpStream,
    request: &Request,
    status: u16,
    code: &str,
    message: &str,
) -> io::Result<()> {
    let id = format!(
        "fault-proxy-{}",
        state.request_ids.fetch_add(1, Ordering::Relaxed)
    );
    let (content_type, body) = match request.kind() {
        RequestKind::Query => {
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            let body = format!(
                "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
            );
            ("text/xml", body)
        }
        RequestKind::S3 => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>{id}</RequestId></Error>"
            );
            ("application/xml", body)
        }
        RequestKind::AwsJson => {
            let body = format!(
                "{{\"__type\":{},\"message\":{}}}",
                escape_json(code),
                escape_json(message)
            );
            ("application/x-amz-json-1.1", body)
        }
        // restJson1 names the error in `x-amzn-ErrorType`; Scheduler's members are `Message`.
        RequestKind::RestJson => (
            "application/json",
            format!("{{\"Message\":{}}}", escape_json(message)),
        ),
    };
    let mut headers = vec![("Content-Type", content_type.to_owned())];
    if matches!(request.kind(), RequestKind::AwsJson | RequestKind::RestJson) {
        headers.push(("x-amzn-ErrorType", code.to_owned()));
    }
    headers.push(("x-amzn-RequestId", id));
    write_response(client, status, &headers, body.as_bytes())
}

/// Sends `request` upstream with `Connection: close` and streams the response back, its
/// `Connection` header forced to `close`. Returns the upstream status.
fn forward(state: &State, client: &mut TcpStream, request: &Request) -> io::Result<u16> {
    let mut upstream = TcpStream::connect(&state.upstream)?;
    upstream.set_read_timeout(Some(IO_TIMEOUT))?;
    upstream.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = upstream.set_nodelay(true);
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (k, v) in &request.headers {
        if ["connection", "keep-alive", "proxy-connection", "expect"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&request.body)?;
    upstream.flush()?;

    let mut reader = BufReader::new(upstream);
    let lines = read_head(&mut reader)?.ok_or_else(|| bad_data("upstream sent no response"))?;
    let status: u16 = lines[0]
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_data(format!("bad status line {:?}", lines[0])))?;
    let mut head = format!("{}\r\n", lines[0]);
    for line in &lines[1..] {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    client.write_all(head.as_bytes())?;
    io::copy(&mut reader, client)?;
    client.flush()?;
    Ok(status)
}

/// Answers the proxy's own endpoints; `true` when the request was one of them.
fn control(state: &State, client: &mut TcpStream, request: &Request) -> io::Result<bool> {
    match (request.method.as_str(), request.path()) {
        ("GET", "/__stats") => {
            let body = state.stats().to_json().to_string();
            write_response(
                client,
                200,
                &[("Content-Type", "application/json".to_owned())],
                body.as_bytes(),
            )?;
            Ok(true)
        }
        ("POST", "/__reset") => {
            *state.stats() = Stats::default();
            write_response(client, 200, &[], b"")?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Handles one client connection: one request, one response, then close.
fn serve(state: &State, client: TcpStream) -> io::Result<()> {
    let arrived = state.started.elapsed();
    let result = handle(state, client);
    if state.log.load(Ordering::Relaxed) {
        let (operation, outcome) = match &result {
            Ok((operation, outcome)) => (operation.as_str(), outcome.clone()),
            Err(e) => ("?", format!("error: {e}")),
        };
        eprintln!(
            "{:>9.1} ms {:>7.1} ms  {operation}  {outcome}",
            arrived.as_secs_f64() * 1e3,
            (state.started.elapsed() - arrived).as_secs_f64() * 1e3,
        );
    }
    result.map(|_| ())
}

/// Reads the request and answers it; returns the operation and what was done.
fn handle(state: &State, mut client: TcpStream) -> io::Result<(String, String)> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = client.set_nodelay(true);
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(("-".to_owned(), "closed without a request".to_owned()));
    };
    if control(state, &mut client, &request)? {
        return Ok((request.target, "control".to_owned()));
    }
    let operation = request.operation.clone();
    state.count(&operation, |c| c.seen += 1);
    let (delay, fault) = state.decide(&request);
    // Throttling is decided on arrival; the throttled answer still pays the latency.
    let throttled = match fault {
        None => state.throttling().check(&operation, Instant::now()),
        Some(_) => None,
    };
    if !delay.is_zero() {
        state.count(&operation, |c| c.delayed += 1);
        thread::sleep(delay);
    }
    if let Some(why) = throttled {
        state.count(&operation, |c| match why {
            Throttled::Quota => c.throttled_quota += 1,
            Throttled::Random => c.throttled_random += 1,
        });
        let (status, code, message) = throttle_error(request.kind());
        write_error(state, &mut client, &request, status, code, message)?;
        let why = match why {
            Throttled::Quota => "quota",
            Throttled::Random => "random",
        };
        return Ok((operation, format!("throttled ({why}): {status} {code}")));
    }
    let Some(fault) = fault else {
        state.count(&operation, |c| c.forwarded += 1);
        let status = forward(state, &mut client, &request)?;
        if status >= 500 {
            state.count(&operation, |c| c.upstream_5xx += 1);
        }
        return Ok((operation, format!("forwarded: {status}")));
    };
    state.count(&operation, |c| c.injected += 1);
    let (status, code, message) = match &fault {
        Fault::Throttle => {
            let (status, code, message) = throttle_error(request.kind());
            (status, code.to_owned(), message.to_owned())
        }
        Fault::Status(status) => {
            let code = match status {
                503 => "ServiceUnavailable",
                s if *s >= 500 => "InternalFailure",
                _ => "BadRequest",
            };
            (*status, code.to_owned(), format!("injected HTTP {status}"))
        }
        Fault::Error {
            status,
            code,
            message,
        } => (*status, code.clone(), message.clone()),
        // Dropping `client` (and the reader's clone) closes the connection with no response.
        Fault::Drop | Fault::Latency(_) => return Ok((operation, "dropped".to_owned())),
    };
    write_error(state, &mut client, &request, status, &code, &message)?;
    Ok((operation, format!("injected: {status} {code}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let path = target.split('?').next().unwrap_or_default();
        Request {
            operation: operation_name(method, path, &headers, body.as_bytes()),
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn operations_are_named_by_target_action_or_rest_path() {
        let json = request(
            "POST",
            "/",
            &[("X-Amz-Target", "AWSEvents.PutTargets")],
            "{}",
        );
        assert_eq!(json.operation, "AWSEvents.PutTargets");
        let query = request(
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        assert_eq!(query.operation, "GetCallerIdentity");
        assert!(query.is_query_protocol());
        assert_eq!(
            request("GET", "/schedules?MaxResults=100", &[], "").operation,
            "GET /schedules"
        );
        assert_eq!(
            request("GET", "/schedules/a?groupName=g", &[], "").operation,
            "GET /schedules/{Name}"
        );
    }

    #[test]
    fn each_scheduler_operation_has_its_own_name() {
        let arn = "arn%3Aaws%3Ascheduler%3Aap-northeast-3%3A123456789012%3Aschedule-group%2Fg1";
        let cases = [
            (
                "GET",
                "/schedules?MaxResults=100&NamePrefix=a".to_owned(),
                "ListSchedules",
            ),
            (
                "GET",
                "/schedules/s1?groupName=g1".to_owned(),
                "GetSchedule",
            ),
            ("POST", "/schedules/s1".to_owned(), "CreateSchedule"),
            ("PUT", "/schedules/s1".to_owned(), "UpdateSchedule"),
            (
                "DELETE",
                "/schedules/s1?groupName=g1".to_owned(),
                "DeleteSchedule",
            ),
            (
                "GET",
                "/schedule-groups?NamePrefix=g".to_owned(),
                "ListScheduleGroups",
            ),
            ("GET", "/schedule-groups/g1".to_owned(), "GetScheduleGroup"),
            (
                "POST",
                "/schedule-groups/g1".to_owned(),
                "CreateScheduleGroup",
            ),
            (
                "DELETE",
                "/schedule-groups/g1".to_owned(),
                "DeleteScheduleGroup",
            ),
            ("GET", format!("/tags/{arn}"), "ListTagsForResource"),
            ("POST", format!("/tags/{arn}"), "TagResource"),
            ("DELETE", format!("/tags/{arn}?TagKeys=a"), "UntagResource"),
        ];
        let mut names = std::collections::BTreeSet::new();
        for (method, target, api) in &cases {
            let op = request(method, target, &[], "").operation;
            assert_eq!(rest_api_name(&op), Some(*api), "{method} {target} → {op}");
            names.insert(op);
        }
        assert_eq!(names.len(), cases.len(), "{names:?}");
        // An unencoded ARN is still one operation; other REST paths keep `/segment[/*]`.
        assert_eq!(
            request(
                "GET",
                "/tags/arn:aws:scheduler:r:1:schedule-group/g1",
                &[],
                ""
            )
            .operation,
            "GET /tags/{ResourceArn}"
        );
        assert_eq!(
            request("GET", "/bucket/a/b.tfstate", &[], "").operation,
            "GET /bucket/*"
        );
        assert_eq!(
            request("HEAD", "/bucket", &[], "").operation,
            "HEAD /bucket"
        );
        assert_eq!(rest_api_name("GET /bucket/*"), None);
    }

    #[test]
    fn operation_patterns_match_full_short_and_wildcard_names() {
        assert!(operation_matches("ListRules", "AWSEvents.ListRules"));
        assert!(operation_matches(
            "AWSEvents.ListRules",
            "AWSEvents.ListRules"
        ));
        assert!(!operation_matches("Rules", "AWSEvents.ListRules"));
        assert!(operation_matches(
            "GET /schedules/*",
            "GET /schedules/{Name}"
        ));
        assert!(!operation_matches("GET /schedules/*", "GET /schedules"));
        assert!(!operation_matches(
            "GET /schedules/*",
            "PUT /schedules/{Name}"
        ));
        assert!(operation_matches("GET /schedules", "GET /schedules"));
        assert!(!operation_matches(
            "GET /schedules",
            "GET /schedules/{Name}"
        ));
        let mut stats = Stats::default();
        stats.operations.insert(
            "GET /schedules/{Name}".to_owned(),
            Counts {
                seen: 2,
                ..Counts::default()
            },
        );
        assert_eq!(stats.op("GET /schedules/*").seen, 2);
        assert_eq!(
            stats.to_json()["operations"]["GET /schedules/{Name}"]["api"],
            "GetSchedule"
        );
    }

    #[test]
    fn throttling_errors_have_each_services_shape() {
        let signed = |service: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20260101/ap-northeast-3/{service}/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00"
            )
        };
        let events = request(
            "POST",
            "/",
            &[
                ("X-Amz-Target", "AWSEvents.ListRules"),
                ("Authorization", &signed("events")),
            ],
            "{}",
        );
        assert_eq!(events.service(), Some("events"));
        assert_eq!(
            throttle_error(events.kind()),
            (400, "ThrottlingException", "Rate exceeded")
        );
        let scheduler = request(
            "GET",
            "/schedules/s1",
            &[("Authorization", &signed("scheduler"))],
            "",
        );
        assert_eq!(scheduler.service(), Some("scheduler"));
        assert_eq!(throttle_error(scheduler.kind()).0, 429);
        let sts = request(
            "POST",
            "/",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        assert_eq!(
            throttle_error(sts.kind()),
            (400, "Throttling", "Rate exceeded")
        );
        let s3 = request("GET", "/b/k", &[("Authorization", &signed("s3"))], "");
        assert_eq!(throttle_error(s3.kind()).0, 503);
    }

    #[test]
    fn token_bucket_allows_a_one_second_burst_then_the_rate() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut bucket = TokenBucket::per_second(50.0, t0);
        assert_eq!((0..50).filter(|_| bucket.try_take(t0)).count(), 50);
        assert!(!bucket.try_take(t0), "the burst is one second's worth");
        // One token every 20 ms.
        assert!(!bucket.try_take(ms(19)));
        assert!(bucket.try_take(ms(20)));
        assert!(!bucket.try_take(ms(21)));
        // Over a long run: 50 a second, whatever the arrival pattern.
        let taken = (1..=10_000).filter(|i| bucket.try_take(ms(20 + i))).count();
        assert_eq!(taken, 500);
        // Idle time refills up to the capacity only.
        let later = ms(60_000);
        assert_eq!((0..80).filter(|_| bucket.try_take(later)).count(), 50);
        // A time before the last call counts as no time.
        assert!(!bucket.try_take(ms(30_000)));
        // Below one a second, the burst is still one request.
        let mut slow = TokenBucket::per_second(0.5, t0);
        assert!(slow.try_take(t0));
        assert!(!slow.try_take(ms(1_999)));
        assert!(slow.try_take(ms(2_000)));
    }

    #[test]
    fn quota_is_per_operation() {
        let t0 = Instant::now();
        let mut throttling = Throttling {
            per_second: Some(2.0),
            ..Throttling::default()
        };
        let mut check = |op: &str| throttling.check(op, t0);
        assert_eq!(check("AWSEvents.ListRules"), None);
        assert_eq!(check("AWSEvents.ListRules"), None);
        assert_eq!(check("AWSEvents.ListRules"), Some(Throttled::Quota));
        assert_eq!(check("AWSEvents.PutRule"), None);
        assert_eq!(check("GET /schedules/{Name}"), None);
        assert_eq!(check("PUT /schedules/{Name}"), None);
        assert_eq!(
            throttling.check("AWSEvents.ListRules", t0 + Duration::from_millis(500)),
            None
        );
        assert_eq!(
            Throttling::default().check("x", t0),
            None,
            "unlimited by default"
        );
    }

    #[test]
    fn random_throttling_hits_the_percentage_reproducibly_and_takes_no_quota() {
        let t0 = Instant::now();
        let run = |percent: f64, seed: u64| -> Vec<bool> {
            let mut throttling = Throttling {
                percent,
                seed,
                ..Throttling::default()
            };
            (0..10_000)
                .map(|i| {
                    let op = if i % 2 == 0 { "A.X" } else { "A.Y" };
                    throttling.check(op, t0) == Some(Throttled::Random)
                })
                .collect()
        };
        let hits = |v: &[bool]| v.iter().filter(|h| **h).count();
        let twenty = run(20.0, 7);
        assert!(
            (1_800..=2_200).contains(&hits(&twenty)),
            "{}",
            hits(&twenty)
        );
        assert_eq!(run(20.0, 7), twenty, "same seed, same requests throttled");
        assert_ne!(run(20.0, 8), twenty, "another seed, other requests");
        assert_eq!(hits(&run(0.0, 7)), 0);
        assert_eq!(hits(&run(100.0, 7)), 10_000);
        // Each operation has its own stream: interleaving does not change which of its
        // requests are throttled.
        let mut alone = Throttling {
            percent: 20.0,
            seed: 7,
            ..Throttling::default()
        };
        let x_alone: Vec<bool> = (0..5_000)
            .map(|_| alone.check("A.X", t0).is_some())
            .collect();
        let x_mixed: Vec<bool> = twenty.iter().step_by(2).copied().collect();
        assert_eq!(x_alone, x_mixed);
        // Randomly throttled requests take no token: with a quota of 1/s and 50 %, the first
        // request let through still gets the only token.
        let mut both = Throttling {
            per_second: Some(1.0),
            percent: 50.0,
            seed: 1,
            ..Throttling::default()
        };
        let outcomes: Vec<Option<Throttled>> = (0..20).map(|_| both.check("A.X", t0)).collect();
        let first_through = outcomes.iter().position(|o| o.is_none());
        assert!(first_through.is_some(), "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .skip(first_through.unwrap_or_default() + 1)
                .all(|o| o.is_some()),
            "{outcomes:?}"
        );
        assert_eq!(outcomes.iter().filter(|o| o.is_none()).count(), 1);
    }

    #[test]
    fn rules_match_operation_rest_and_body() {
        let put = request(
            "POST",
            "/",
            &[("X-Amz-Target", "AWSEvents.PutTargets")],
            r#"{"Rule":"r2","Targets":[]}"#,
        );
        assert!(Rule::operation("PutTargets", Fault::Drop).matches(&put));
        assert!(Rule::operation("AWSEvents.PutTargets", Fault::Drop).matches(&put));
        assert!(!Rule::operation("Targets", Fault::Drop).matches(&put));
        assert!(
            Rule::operation("PutTargets", Fault::Drop)
                .body_contains(r#""Rule":"r2""#)
                .matches(&put)
        );
        assert!(
            !Rule::operation("PutTargets", Fault::Drop)
                .body_contains(r#""Rule":"r1""#)
                .matches(&put)
        );
        let get = request("GET", "/schedules/x?groupName=g", &[], "");
        assert!(Rule::rest("GET", "/schedules/", Fault::Drop).matches(&get));
        assert!(!Rule::rest("PUT", "/schedules/", Fault::Drop).matches(&get));
        assert!(Rule::any(Fault::Drop).matches(&get));
    }

    fn state(rules: Vec<Rule>) -> State {
        State {
            upstream: String::new(),
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            throttling: Mutex::new(Throttling::default()),
            stats: Mutex::new(Stats::default()),
            request_ids: AtomicU64::new(0),
            log: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    #[test]
    fn times_first_every_and_every_nth() {
        let list = request(
            "POST",
            "/",
            &[("X-Amz-Target", "AWSEvents.ListRules")],
            "{}",
        );
        let s = state(vec![Rule::operation("ListRules", Fault::Throttle).first(2)]);
        let fired: Vec<bool> = (0..4).map(|_| s.decide(&list).1.is_some()).collect();
        assert_eq!(fired, [true, true, false, false]);

        let s = state(vec![Rule::any(Fault::Status(503)).every_nth(3)]);
        let fired: Vec<bool> = (0..6).map(|_| s.decide(&list).1.is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false, true]);

        let ms = Duration::from_millis;
        let s = state(vec![
            Rule::any(Fault::Latency(ms(5))),
            Rule::any(Fault::Latency(ms(7))),
            Rule::any(Fault::Drop),
            Rule::any(Fault::Throttle),
        ]);
        assert_eq!(s.decide(&list), (ms(12), Some(Fault::Drop)));
    }
}
