"""The AWS part of `scripts/bench` (run by it with the emulator venv's Python; not on its own).

Measures the ecsched binary against a private moto emulator behind the fault proxy
(examples/fault_proxy.rs) that adds a latency to every call and allows a fixed number of requests
a second per API operation, like AWS's per-API quotas (SPEC §7, issue 9). Every phase runs in its
own emulator account (`ECSCHED_TEST_ACCOUNT_ID`, moto's `x-moto-account-id` header), so phases
never see each other's resources. For each measured command it prints the wall time, the floor
(the busiest API's successful calls, as counted by the proxy, divided by the quota), the ratio
wall/floor, the calls and throttles per API, the exit status and the peak RSS; then a markdown
table for NOTES.md.

Sections: `plan` (the read paths) and `apply` (the write paths, throttling, the AWS CLI
comparison). The emulator is started and stopped by scripts/bench; this script starts its own
proxies and writes their pids to WORK/pids so that scripts/bench's trap can kill them.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

REGION = "ap-northeast-3"
CLUSTER = "bench"
GROUPS = 10
TRACKING = [{"Key": "ecschedule:tracking-id", "Value": CLUSTER}]

# One emulator account per phase.
ACCOUNTS = {
    "both": "100000000001",  # N rules + M schedules: plan, apply PLAN, the throttled runs
    "rules": "100000000002",  # N rules: diff, apply PLAN
    "schedules": "100000000003",  # M schedules: diff
    "create": "100000000004",  # empty: apply --all creates N + M
    "cli": "100000000005",  # empty: apply --all creates the comparison's rules, no proxy
}

READ_APIS = {
    "ListRules", "ListTargetsByRule", "ListTagsForResource", "DescribeRule",
    "ListRuleNamesByTarget", "ListSchedules", "GetSchedule", "ListScheduleGroups",
    "GetScheduleGroup", "DescribeTaskDefinition", "GetCallerIdentity", "DescribeClusters",
}


def say(*parts):
    print(*parts, flush=True)


def die(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


class Failed(Exception):
    """A measured command failed; the run stops, the table so far is still printed."""

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run


# --- the emulator side ---------------------------------------------------------------------------


def clients(endpoint, account):
    """boto3 clients straight to the emulator, as `account` (moto's account header)."""
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing",
              config=Config(retries={"max_attempts": 1}, max_pool_connections=16))
    out = []
    for service in ("ecs", "events", "scheduler"):
        client = boto3.client(service, **kw)
        client.meta.events.register(
            "before-sign.*.*",
            lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
        out.append(client)
    return out


def fixture(endpoint, account, n_rules, n_schedules, base_only=False):
    """Cluster `bench`, task definition `app`; N tagged rules with an ECS target and M schedules
    in GROUPS tagged groups, all tracked for trackingId `bench`. Returns the seconds taken."""
    started = time.monotonic()
    ecs, events, scheduler = clients(endpoint, account)
    cluster = ecs.create_cluster(clusterName=CLUSTER)["cluster"]["clusterArn"]
    if cluster.split(":")[4] != account:
        die(f"the emulator ignored the account header: {cluster}")
    td = ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "nginx", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    if base_only:
        return time.monotonic() - started
    role = f"arn:aws:iam::{account}:role/ecsEventsRole"
    net = {"awsvpcConfiguration": {"Subnets": ["subnet-0384aa261cd82d385"],
                                   "AssignPublicIp": "DISABLED"}}
    ecs_parameters = {"TaskDefinitionArn": td, "TaskCount": 1, "LaunchType": "FARGATE",
                      "NetworkConfiguration": net}

    def rule(i):
        name = f"rule-{i:04d}"
        arn = events.put_rule(Name=name, ScheduleExpression=f"cron({i % 60} {i % 24} * * ? *)",
                              State="ENABLED")["RuleArn"]
        events.put_targets(Rule=name, Targets=[{
            "Id": name, "Arn": cluster, "RoleArn": role, "EcsParameters": ecs_parameters,
            "Input": '{"containerOverrides":[{"name":"app","command":["job","%d"]}]}' % i}])
        events.tag_resource(ResourceARN=arn, Tags=TRACKING + [{"Key": "team", "Value": "bench"}])

    def schedule(i):
        scheduler.create_schedule(
            Name=f"sched-{i:05d}", GroupName=f"group-{i % GROUPS}",
            ScheduleExpression=[f"cron({i % 60} {i % 24} ? * MON-FRI *)",
                                f"rate({i % 50 + 2} minutes)"][i % 2],
            ScheduleExpressionTimezone=["UTC", "Asia/Tokyo"][i % 2],
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": cluster, "RoleArn": role, "EcsParameters": ecs_parameters})

    if n_schedules:
        for g in range(GROUPS):
            scheduler.create_schedule_group(Name=f"group-{g}", Tags=TRACKING)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(rule, range(n_rules)))
        list(pool.map(schedule, range(n_schedules)))
    return time.monotonic() - started


# --- the proxy -----------------------------------------------------------------------------------


class Proxy:
    """One examples/fault_proxy process; its pid goes to WORK/pids for scripts/bench's trap."""

    def __init__(self, args, *flags):
        self.log = open(os.path.join(args.work, f"proxy-{time.monotonic_ns()}.log"), "w+")
        self.process = subprocess.Popen(
            [args.proxy, "--upstream", args.endpoint, *map(str, flags)],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        with open(os.path.join(args.work, "pids"), "a") as pids:
            pids.write(f"{self.process.pid}\n")
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            self.log.seek(0)
            die(f"the fault proxy did not start: {line} {self.log.read()}")
        self.endpoint = line
        self.flags = " ".join(map(str, flags))

    def stats(self):
        with urllib.request.urlopen(self.endpoint + "/__stats", timeout=10) as r:
            return json.load(r)

    def reset(self):
        request = urllib.request.Request(self.endpoint + "/__reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- running ecsched -----------------------------------------------------------------------------


def api_name(op, counts):
    """`AWSEvents.PutRule` → `PutRule`; Scheduler routes → their API (`GET /schedules` →
    `ListSchedules`); STS's `GetCallerIdentity` as is."""
    if "api" in counts:
        return "sched:" + counts["api"]
    if "." in op:
        prefix, short = op.rsplit(".", 1)
        return ("events:" if prefix == "AWSEvents" else "ecs:" if "EC2Container" in prefix
                else "") + short
    return op


class Run:
    """One ecsched command's result."""

    def __init__(self, label, argv, status, wall, rss_kib, stats, out, err):
        self.label, self.argv, self.status, self.wall = label, argv, status, wall
        self.rss_kib, self.stats, self.out, self.err = rss_kib, stats, out, err
        # API → {forwarded, throttled_quota, throttled_random, injected, upstream_5xx}
        self.calls = {}
        for op, counts in (stats or {}).get("operations", {}).items():
            self.calls[api_name(op, counts)] = counts

    def forwarded(self, api):
        return self.calls.get(api, {}).get("forwarded", 0)

    def total(self, key):
        return sum(c.get(key, 0) for c in self.calls.values())

    def floor(self, rate, apis=None):
        """The busiest API's successful calls ÷ the quota; `apis`: only those."""
        busiest = max(((c["forwarded"], api) for api, c in self.calls.items()
                       if apis is None or apis(api)), default=(0, "-"))
        return busiest[0] / rate, busiest[1]


def ecsched_env(args, endpoint, account, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECSCHED_"))}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION=REGION,
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", NO_COLOR="1",
               ECSCHED_TEST_ACCOUNT_ID=account)
    env.update(args.extra_env)
    env.update(extra or {})
    return env


def ecsched(args, label, endpoint, account, config, *argv, proxy=None, extra_env=None,
            expect=(0,)):
    """Runs ecsched under /usr/bin/time (peak RSS), times it, collects the proxy's counters."""
    if proxy:
        proxy.reset()
    rss_file = os.path.join(args.work, "rss")
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, args.ecsched, "-c", config, *argv]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=args.work, env=ecsched_env(args, endpoint, account, extra_env),
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    try:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        rss = 0
    stats = proxy.stats() if proxy else None
    run = Run(label, argv, done.returncode, wall, rss, stats, done.stdout, done.stderr)
    if stats and stats.get("upstream_5xx", 0):
        sys.stderr.write(done.stderr[-4000:])
        die(f"{label}: the emulator answered {stats['upstream_5xx']} requests with a 5xx "
            f"(see its log); the figures would be wrong")
    if done.returncode not in expect:
        sys.stderr.write(f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n"
                         f"{done.stderr[-6000:]}\n")
        raise Failed(f"{label}: `ecsched {' '.join(argv)}` exited {done.returncode} (expected "
                     f"{' or '.join(map(str, expect))})", run)
    return run


def describe(run, rate, floor_apis=None, touched=None):
    """Prints one run's figures; returns (floor, busiest API)."""
    floor, busiest = run.floor(rate, floor_apis)
    ratio = run.wall / floor if floor else float("nan")
    say(f"  {run.label}: wall {run.wall:.1f} s, floor {floor:.1f} s ({busiest}), "
        f"ratio {ratio:.2f}x, exit {run.status}, peak RSS {run.rss_kib / 1024:.0f} MiB")
    if run.stats is not None:
        say(f"    calls {run.total('forwarded')} + throttled {run.total('throttled_quota')} "
            f"(quota) + {run.total('throttled_random')} (random); per API (ok/throttled):")
        parts = []
        for api in sorted(run.calls):
            c = run.calls[api]
            thr = c.get("throttled_quota", 0) + c.get("throttled_random", 0)
            part = f"{api} {c['forwarded']}" + (f"/{thr}" if thr else "")
            if touched and api.split(":")[-1] in READ_APIS:
                n = touched.get(api.split(":")[0], touched.get("*", 0))
                if n:
                    part += f" ({c['forwarded'] / n:.2f}/res)"
            parts.append(part)
        for i in range(0, len(parts), 4):
            say("      " + ", ".join(parts[i:i + 4]))
    return floor, busiest


def is_write(api):
    return api.split(":")[-1] not in READ_APIS


# --- configs -------------------------------------------------------------------------------------


def dump(args, account, path):
    """`dump --cluster bench` of `account` (no proxy) into `path`, and check it plans clean."""
    env = ecsched_env(args, args.endpoint, account, {"ECSCHED_RATE_LIMIT": "0"})
    with open(path, "w") as f:
        done = subprocess.run([args.ecsched, "dump", "--cluster", CLUSTER], stdout=f,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=args.work)
    if done.returncode:
        die(f"dump of account {account} failed: {done.stderr[-3000:]}")
    done = subprocess.run([args.ecsched, "-c", path, "diff", "--all", "--detailed-exitcode"],
                          capture_output=True, text=True, env=env, cwd=args.work)
    if done.returncode != 0:
        die(f"the dumped config of account {account} does not diff clean (exit "
            f"{done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def shift_expressions(src, dst, step):
    """Copies the config with every cron's minute moved by `step` and every rate(N unit) made
    N+step: a plan that changes every rule and schedule."""
    def cron(m):
        fields = m.group(2).split()
        fields[0] = str((int(fields[0]) + step) % 60) if fields[0].isdigit() else fields[0]
        return f"{m.group(1)}cron({' '.join(fields)})"

    def rate(m):
        return f"{m.group(1)}rate({int(m.group(2)) + step} {m.group(3)})"

    text = open(src).read()
    text, n_cron = re.subn(r"(scheduleExpression:\s*['\"]?)cron\(([^)]*)\)", cron, text)
    text, n_rate = re.subn(r"(scheduleExpression:\s*['\"]?)rate\((\d+) (\w+)\)", rate, text)
    with open(dst, "w") as f:
        f.write(text)
    return n_cron + n_rate


def first_rules(src, dst, k):
    """The config `src` (a dump of rules only) cut down to its first `k` rules."""
    head, *blocks = re.split(r"(?m)^(?=- name: )", open(src).read())
    with open(dst, "w") as f:
        f.write(head + "".join(blocks[:k]))


# --- phases --------------------------------------------------------------------------------------


class Table:
    def __init__(self):
        self.rows = []
        self.runs = []

    def add(self, work, run, floor, busiest, extra=""):
        ratio = f"{run.wall / floor:.2f}×" if floor else "—"
        throttled = run.total("throttled_quota") + run.total("throttled_random")
        calls = run.total("forwarded") if run.stats is not None else "—"
        self.rows.append((work, f"{run.wall:.1f} s",
                          f"{floor:.1f} s ({busiest})" if floor else "—", ratio, str(calls),
                          str(throttled) if run.stats is not None else "—",
                          "0" if run.status in (0, 2) else "1", f"{run.rss_kib / 1024:.0f} MiB",
                          extra))
        self.runs.append((work, run))


def converge(args, table, label, proxy, account, config, rate, in_table=False):
    """`diff --all --detailed-exitcode` through the proxy must say no changes (exit 0); returns
    a note for the apply's row."""
    run = ecsched(args, label, proxy.endpoint, account, config, "diff", "--all",
                  "--detailed-exitcode", proxy=proxy, expect=(0, 2))
    if run.status != 0:
        say(run.out[-3000:])
        raise Failed(f"{label}: the apply did not converge: diff still shows changes", run)
    floor, busiest = describe(run, rate)
    if in_table:
        table.add(label, run, floor, busiest, "no changes")
    return f"then `diff` clean ({run.wall:.1f} s)"


def phase_plan(args, table, proxy):
    n, m, rate = args.rules, args.schedules, args.rate
    say(f"\n== plan/diff through the proxy ({proxy.flags}) ==")
    run = ecsched(args, f"plan --all, {n} rules + {m} schedules", proxy.endpoint,
                  ACCOUNTS["both"], args.cfg_both, "plan", "--all", proxy=proxy)
    table.add(run.label, run, *describe(run, rate))
    if n:
        run = ecsched(args, f"diff --all, {n} rules", proxy.endpoint, ACCOUNTS["rules"],
                      args.cfg_rules, "diff", "--all", proxy=proxy)
        table.add(run.label, run, *describe(run, rate))
    if m:
        run = ecsched(args, f"diff --all, {m} schedules", proxy.endpoint, ACCOUNTS["schedules"],
                      args.cfg_schedules, "diff", "--all", proxy=proxy)
        table.add(run.label, run, *describe(run, rate))


def apply_plan(args, table, proxy, account, base_config, step, what, touched, note=""):
    """Shifts every expression, `plan --all -out`, times `apply PLAN`, checks convergence. The
    plan and diff runs get rows of their own only under throttling (`note`)."""
    rate = args.rate
    config = os.path.join(args.work, f"{account}-step{step}.yaml")
    changed = shift_expressions(base_config, config, step)
    planfile = os.path.join(args.work, f"{account}-step{step}.plan")
    run = ecsched(args, f"plan --all -out{note}, {what}", proxy.endpoint, account, config,
                  "plan", "--all", "-out", planfile, proxy=proxy)
    floor, busiest = describe(run, rate)
    if note:
        table.add(run.label, run, floor, busiest)
    run = ecsched(args, f"apply PLAN{note}, changing every expression of {what}",
                  proxy.endpoint, account, config, "apply", planfile, proxy=proxy)
    floor, busiest = describe(run, rate, floor_apis=is_write, touched=touched)
    reads = [f"{api} {c['forwarded'] / touched[api.split(':')[0]]:.2f}"
             for api, c in sorted(run.calls.items())
             if api.split(":")[-1] in READ_APIS and touched.get(api.split(":")[0])]
    table.add(run.label, run, floor, busiest,
              f"{changed} changed; reads per touched resource: " + ", ".join(reads))
    row = table.rows[-1]
    try:
        clean = converge(args, table, f"diff --all after it{note}", proxy, account, config, rate,
                         in_table=bool(note))
    except Failed:
        table.rows[-1] = row[:-1] + (row[-1] + "; NOT converged",)
        raise
    if not note:
        table.rows[-1] = row[:-1] + (row[-1] + "; " + clean,)
    return config


def phase_apply(args, table, proxy):
    n, m, rate = args.rules, args.schedules, args.rate
    say(f"\n== apply through the proxy ({proxy.flags}) ==")
    args.cfg_both_changed = apply_plan(
        args, table, proxy, ACCOUNTS["both"], args.cfg_both, 1, f"{n} rules + {m} schedules",
        {"events": n, "sched": m})
    if n and args.rules_apply:
        apply_plan(args, table, proxy, ACCOUNTS["rules"], args.cfg_rules, 1, f"{n} rules",
                   {"events": n})
    # apply --all creating everything in an empty account.
    run = ecsched(args, f"apply --all creating {n} rules + {m} schedules", proxy.endpoint,
                  ACCOUNTS["create"], args.cfg_create, "apply", "--all", "--auto-approve",
                  proxy=proxy)
    table.add(run.label, run, *describe(run, rate, floor_apis=is_write))
    clean = converge(args, table, "diff --all after it", proxy, ACCOUNTS["create"],
                     args.cfg_create, rate)
    table.rows[-1] = table.rows[-1][:-1] + (clean,)


def phase_throttled(args, table, endpoint_flags):
    n, m = args.rules, args.schedules
    proxy = Proxy(args, *endpoint_flags, "--throttle-percent", args.throttle_percent,
                  "--seed", args.seed)
    try:
        say(f"\n== under {args.throttle_percent:g}% random throttling on top of the quota "
            f"({proxy.flags}) ==")
        apply_plan(args, table, proxy, ACCOUNTS["both"], args.cfg_both_changed, 2,
                   f"{n} rules + {m} schedules", {"events": n, "sched": m},
                   note=f" [{args.throttle_percent:g}% throttled]")
    finally:
        proxy.stop()


def cli_comparison(args, table):
    """apply --all creating K rules against the emulator (no proxy, no latency) vs the seed's
    workflow: one AWS CLI process per call (put-rule + put-targets per rule)."""
    k = min(args.cli_rules, args.rules)
    if not k:
        return
    say(f"\n== {k} rules: ecsched apply --all vs one AWS CLI process per call (emulator, no "
        f"proxy) ==")
    fixture(args.endpoint, ACCOUNTS["cli"], 0, 0, base_only=True)
    config = os.path.join(args.work, "cli.yaml")
    first_rules(args.cfg_rules, config, k)
    run = ecsched(args, f"apply --all creating {k} rules, no proxy", args.endpoint,
                  ACCOUNTS["cli"], config, "apply", "--all", "--auto-approve")
    say(f"  ecsched: {run.wall:.2f} s, exit {run.status}")
    env = {k_: v for k_, v in os.environ.items() if not k_.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="eu-west-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")
    aws = shutil.which("aws")
    target = json.dumps([{
        "Id": "t", "Arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/cli",
        "RoleArn": "arn:aws:iam::123456789012:role/ecsEventsRole",
        "EcsParameters": {"TaskDefinitionArn":
                          "arn:aws:ecs:eu-west-1:123456789012:task-definition/app:1",
                          "TaskCount": 1, "LaunchType": "FARGATE"}}])
    if aws:
        per_call = []
        started = time.monotonic()
        for i in range(k):
            for argv in (["events", "put-rule", "--name", f"cli-{i:03d}",
                          "--schedule-expression", f"cron({i % 60} 3 * * ? *)"],
                         ["events", "put-targets", "--rule", f"cli-{i:03d}", "--targets",
                          target]):
                t = time.monotonic()
                done = subprocess.run([aws, "--endpoint-url", args.endpoint, *argv],
                                      capture_output=True, text=True, env=env)
                per_call.append(time.monotonic() - t)
                if done.returncode:
                    die(f"aws {' '.join(argv[:2])} failed: {done.stderr[-2000:]}")
        cli_total = time.monotonic() - started
        version = subprocess.run([aws, "--version"], capture_output=True, text=True)
        how = (f"{len(per_call)} sequential `aws events put-rule/put-targets` "
               f"({(version.stdout or version.stderr).split()[0]})")
    else:
        # No AWS CLI: one boto3 call in a fresh Python process, 10 runs, times the call count.
        code = ("import boto3,sys;boto3.client('events',endpoint_url=sys.argv[1])"
                ".put_rule(Name='py-'+sys.argv[2],ScheduleExpression='rate(5 minutes)')")
        per_call = []
        for i in range(10):
            t = time.monotonic()
            subprocess.run([sys.executable, "-c", code, args.endpoint, str(i)], check=True,
                           env=env)
            per_call.append(time.monotonic() - t)
        cli_total = statistics.mean(per_call) * 2 * k
        how = f"{2 * k} × one boto3 call in a fresh Python process (mean of 10)"
    say(f"  {how}: {cli_total:.1f} s (per call: median {statistics.median(per_call):.2f} s, "
        f"min {min(per_call):.2f}, max {max(per_call):.2f})")
    ratio = cli_total / run.wall
    say(f"  ecsched is {ratio:.1f}x faster (goal >= 20x)")
    table.rows.append((f"apply --all creating {k} rules, emulator without latency",
                       f"{run.wall:.2f} s", "—", "—", "—", "—", "0" if run.status == 0 else "1",
                       f"{run.rss_kib / 1024:.0f} MiB",
                       f"{how}: {cli_total:.1f} s → ecsched {ratio:.1f}× faster (goal ≥ 20×)"))


def calls_table(table):
    runs = [(w, r) for w, r in table.runs if r.stats is not None]
    apis = sorted({api for _, r in runs for api in r.calls})
    say("\nCalls per API (successful/throttled), columns in the order of the table above:\n")
    say("| API | " + " | ".join(str(i + 1) for i in range(len(runs))) + " |")
    say("|---|" + "---|" * len(runs))
    for api in apis:
        cells = []
        for _, r in runs:
            c = r.calls.get(api)
            if not c:
                cells.append("")
                continue
            thr = c.get("throttled_quota", 0) + c.get("throttled_random", 0)
            cells.append(f"{c['forwarded']}" + (f"/{thr}" if thr else ""))
        say(f"| {api} | " + " | ".join(cells) + " |")
    say("\n" + "; ".join(f"{i + 1}: {w}" for i, (w, _) in enumerate(runs)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ecsched", required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--sections", default="plan,apply")
    p.add_argument("--rules", type=int, default=300)
    p.add_argument("--schedules", type=int, default=2000)
    p.add_argument("--latency-ms", type=int, default=25)
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--throttle-percent", type=float, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cli-rules", type=int, default=50)
    p.add_argument("--no-rules-apply", dest="rules_apply", action="store_false")
    p.add_argument("--ecsched-env", default="")
    args = p.parse_args()
    args.ecsched, args.proxy, args.work = map(os.path.abspath,
                                              (args.ecsched, args.proxy, args.work))
    args.extra_env = dict(kv.split("=", 1) for kv in shlex.split(args.ecsched_env))
    sections = set(args.sections.split(","))
    n, m = args.rules, args.schedules
    overall = time.monotonic()

    say(f"AWS benchmark: {n} rules + {m} schedules; proxy: {args.latency_ms} ms per call, "
        f"{args.rate:g} requests/s per API operation; ecsched env: "
        f"{args.ecsched_env or '(defaults)'}")
    say("fixtures (boto3 straight to the emulator, one account each):")
    plan_fixtures = [("both", n, m), ("rules", n, 0), ("schedules", 0, m)]
    for name, r, s in plan_fixtures:
        if (name == "rules" and not n) or (name == "schedules" and not m):
            continue
        took = fixture(args.endpoint, ACCOUNTS[name], r, s)
        cfg = os.path.join(args.work, f"{name}.yaml")
        dump(args, ACCOUNTS[name], cfg)
        setattr(args, f"cfg_{name}", cfg)
        say(f"  {name}: {r} rules + {s} schedules in {took:.1f} s; dumped config "
            f"{sum(1 for _ in open(cfg))} lines, diffs clean")
    fixture(args.endpoint, ACCOUNTS["create"], 0, 0, base_only=True)
    args.cfg_create = os.path.join(args.work, "create.yaml")
    shift_expressions(args.cfg_both, args.cfg_create, 0)

    table = Table()
    flags = ["--latency-ms", args.latency_ms, "--rate-per-op", args.rate]
    failed = None
    try:
        proxy = Proxy(args, *flags)
        try:
            if "plan" in sections:
                phase_plan(args, table, proxy)
            if "apply" in sections:
                phase_apply(args, table, proxy)
        finally:
            proxy.stop()
        if "apply" in sections:
            phase_throttled(args, table, flags)
            cli_comparison(args, table)
    except Failed as e:
        failed = e
        if e.run is not None and e.run.status not in (0, 2):
            table.add(e.run.label, e.run, *e.run.floor(args.rate), "FAILED")

    biggest = max((r for _, r in table.runs), key=lambda r: r.rss_kib, default=None)
    say(f"\nSummary ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, whole run "
        f"{(time.monotonic() - overall) / 60:.1f} min; proxy {args.latency_ms} ms + "
        f"{args.rate:g} req/s per API; floor = busiest API's successful calls ÷ "
        f"{args.rate:g}/s, writes only for apply):\n")
    say("| work | wall | floor (busiest API) | ratio | calls | throttled | failed | peak RSS | notes |")
    say("|---|---|---|---|---|---|---|---|---|")
    for row in table.rows:
        say("| " + " | ".join(row) + " |")
    if biggest:
        say(f"\nPeak RSS of the biggest run: {biggest.rss_kib / 1024:.0f} MiB ({biggest.label}).")
    calls_table(table)
    if failed:
        die(f"stopped: {failed}")


if __name__ == "__main__":
    main()
