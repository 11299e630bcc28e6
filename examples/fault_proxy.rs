//! The tests' fault proxy as a standalone program, for `scripts/bench`:
//!
//! ```text
//! cargo run --release --example fault_proxy -- --upstream http://127.0.0.1:PORT \
//!     [--latency-ms N] [--rate-per-op N] [--throttle-percent P] [--seed S] \
//!     [--throttle-every N] [--log]
//! ```
//!
//! Prints `http://127.0.0.1:PORT` (its endpoint) on the first line of stdout, then serves until
//! killed. `GET /__stats` returns the request counters per operation as JSON (seen, forwarded,
//! throttled_quota, throttled_random, injected, delayed, upstream_5xx); `POST /__reset` zeroes
//! them. All options combine:
//! - `--latency-ms N` delays every request by N ms (throttled ones too);
//! - `--rate-per-op N` allows N requests/s per API operation (a token bucket each, burst of one
//!   second's worth; 0 = unlimited), answering the excess with the service's throttling error;
//! - `--throttle-percent P` throttles P % of the other requests at random, reproducibly for a
//!   given `--seed S` (default 1);
//! - `--throttle-every N` throttles every Nth request;
//! - `--log` prints one line per request on stderr (arrival and duration in ms, operation,
//!   outcome).

#[allow(dead_code)]
#[path = "../tests/fault_proxy.rs"]
mod fault_proxy;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use fault_proxy::{Fault, FaultProxy, Rule};

const USAGE: &str = "usage: fault_proxy --upstream http://HOST:PORT [--latency-ms N] \
                     [--rate-per-op N] [--throttle-percent P] [--seed S] [--throttle-every N] \
                     [--log]";

struct Args {
    upstream: String,
    latency_ms: u64,
    rate_per_op: f64,
    throttle_percent: f64,
    seed: u64,
    throttle_every: u64,
    log: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut upstream = None;
    let mut latency_ms = 0;
    let mut rate_per_op = 0.0;
    let mut throttle_percent = 0.0;
    let mut seed = 1;
    let mut throttle_every = 0;
    let mut log = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}\n{USAGE}"))
        };
        let fraction = |v: String| match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
            _ => Err(format!("{name}: not a number >= 0: {v}\n{USAGE}")),
        };
        match name.as_str() {
            "--upstream" => upstream = Some(value()?),
            "--latency-ms" => latency_ms = number(value()?)?,
            "--rate-per-op" => rate_per_op = fraction(value()?)?,
            "--throttle-percent" => {
                throttle_percent = fraction(value()?)?;
                if throttle_percent > 100.0 {
                    return Err(format!("--throttle-percent: at most 100\n{USAGE}"));
                }
            }
            "--seed" => seed = number(value()?)?,
            "--throttle-every" => throttle_every = number(value()?)?,
            "--log" => log = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    Ok(Args {
        upstream: upstream.ok_or_else(|| format!("--upstream is required\n{USAGE}"))?,
        latency_ms,
        rate_per_op,
        throttle_percent,
        seed,
        throttle_every,
        log,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let proxy = match FaultProxy::start(&args.upstream) {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("fault_proxy: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    proxy.log_requests(args.log);
    if args.latency_ms > 0 {
        proxy.rule(Rule::any(Fault::Latency(Duration::from_millis(
            args.latency_ms,
        ))));
    }
    proxy
        .quota_per_operation(args.rate_per_op)
        .throttle_randomly(args.throttle_percent, args.seed);
    if args.throttle_every > 0 {
        proxy.rule(Rule::any(Fault::Throttle).every_nth(args.throttle_every));
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", proxy.endpoint());
    let _ = stdout.flush();
    loop {
        std::thread::park();
    }
}
