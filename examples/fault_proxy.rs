//! The tests' fault proxy as a standalone program, for `scripts/bench`:
//!
//! ```text
//! cargo run --release --example fault_proxy -- --upstream http://127.0.0.1:PORT \
//!     [--latency-ms N] [--throttle-every N] [--log]
//! ```
//!
//! Prints `http://127.0.0.1:PORT` (its endpoint) on the first line of stdout, then serves until
//! killed. `GET /__stats` returns the request counters as JSON; `POST /__reset` zeroes them.
//! `--throttle-every N` answers every Nth request with HTTP 400 `ThrottlingException`; `--log`
//! prints one line per request on stderr (arrival and duration in ms, operation, outcome).

#[allow(dead_code)]
#[path = "../tests/fault_proxy.rs"]
mod fault_proxy;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use fault_proxy::{Fault, FaultProxy, Rule};

const USAGE: &str = "usage: fault_proxy --upstream http://HOST:PORT [--latency-ms N] \
                     [--throttle-every N] [--log]";

struct Args {
    upstream: String,
    latency_ms: u64,
    throttle_every: u64,
    log: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut upstream = None;
    let mut latency_ms = 0;
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
        match name.as_str() {
            "--upstream" => upstream = Some(value()?),
            "--latency-ms" => latency_ms = number(value()?)?,
            "--throttle-every" => throttle_every = number(value()?)?,
            "--log" => log = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
        }
    }
    Ok(Args {
        upstream: upstream.ok_or_else(|| format!("--upstream is required\n{USAGE}"))?,
        latency_ms,
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
