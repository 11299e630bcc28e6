//! What each command that talks to AWS does, as library functions returning
//! data (the CLI prints it and asks the questions): load the config with
//! AWS-backed template sources, connect, check task definitions, read live
//! state, make a plan, verify and apply it, delete one resource, dump, run a
//! task. Owns the order of those steps and nothing else: selection, ownership,
//! diff and drift rules live in `plan` and `apply`, defaults in `model`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::apply::{self, ExecuteOptions, Outcome, Progress, Report, Stop, Verified, VerifyError};
use crate::aws::{
    Aws, AwsOptions, HeldLock, LazyRemote, LockError, LockInfo, LockRequest, LockSpec, TaskOutcome,
};
use crate::config::{self, LoadedConfig};
use crate::error::{Error, MissingTaskDefinition, Result};
use crate::model::{self, Address, DesiredState, EcsTarget, dump};
use crate::plan::diff::{self, DiffInput, SelectError};
use crate::plan::{LiveRead, Plan, PlanSelection, ReadScope, Resource, ResourceChange, Skipped};

/// Where the config is and how to reach AWS (from the command line and the
/// environment, read once by the CLI).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `-c/--conf`; `None`: the default file names in `cwd`.
    pub conf: Option<PathBuf>,
    pub cwd: PathBuf,
    pub aws: AwsOptions,
    /// Jsonnet external variables (`--ext-str`, `--ext-code`).
    pub ext_vars: Vec<config::jsonnet::ExtVar>,
    /// `--lock`/`ECSCHED_LOCK`: overrides the config's (or the plan's) `lock:`.
    pub lock: Option<String>,
    /// How long to wait for a lock held by another run.
    pub lock_timeout: std::time::Duration,
}

impl Settings {
    fn env(&self) -> impl Fn(&str) -> Option<String> + use<> {
        |k: &str| std::env::var(k).ok()
    }

    /// Loads the config; templates may read S3/SSM when `remote` (connecting on
    /// first use).
    pub fn load(&self, remote: bool) -> Result<LoadedConfig> {
        let path = config::find_config(self.conf.as_deref(), &self.cwd)?;
        let env = self.env();
        let lazy = LazyRemote::new(self.aws.clone());
        let source: Option<&dyn config::plugin::RemoteSource> =
            if remote { Some(&lazy) } else { None };
        let load = || {
            config::load(&config::LoadRequest {
                path: &path,
                cwd: &self.cwd,
                env: &env,
                remote: source,
                ext_vars: &self.ext_vars,
            })
        };
        // Blocking S3/SSM reads from inside the runtime need block_in_place.
        let loaded = match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(load),
            Err(_) => load(),
        };
        Ok(loaded?)
    }
}

/// A loaded config, a connection to its account and region, the desired state.
pub struct Session {
    pub cfg: LoadedConfig,
    pub aws: Aws,
    pub desired: DesiredState,
    /// Where `apply` and `delete` take the lock: `--lock`, else the config's `lock:`.
    pub lock: Option<LockSpec>,
}

/// Loads the config (with AWS for templates), connects (region: `--region`,
/// else the config's, else the SDK chain) and builds the desired state.
pub async fn session(settings: &Settings) -> Result<Session> {
    let cfg = settings.load(true)?;
    if cfg.raw.cluster.as_deref().unwrap_or_default().is_empty() {
        return Err(Error::Usage(format!(
            "{}: cluster is required",
            cfg.display
        )));
    }
    let lock = lock_spec(settings.lock.as_deref().or(cfg.raw.lock.as_deref()))
        .map_err(|e| Error::Usage(format!("{}: {e}", cfg.display)))?;
    let aws = connect(settings, cfg.raw.region.clone()).await?;
    let desired = model::desired::build(&cfg.raw, aws.context());
    Ok(Session {
        cfg,
        aws,
        desired,
        lock,
    })
}

fn lock_spec(location: Option<&str>) -> std::result::Result<Option<LockSpec>, LockError> {
    location.map(LockSpec::parse).transpose()
}

/// Connects with the settings, the config's region filling in for `--region`.
pub async fn connect(settings: &Settings, config_region: Option<String>) -> Result<Aws> {
    let opts = AwsOptions {
        region: settings.aws.region.clone().or(config_region),
        ..settings.aws.clone()
    };
    Ok(Aws::connect(&opts).await?)
}

/// DescribeTaskDefinition for every task definition the selection uses; all
/// missing ones are reported at once.
pub async fn check_task_definitions(s: &Session, sel: &PlanSelection) -> Result<()> {
    let (rules, schedules) = diff::select(&s.desired, sel)?;
    let wanted = rules
        .iter()
        .flat_map(|r| {
            r.targets
                .iter()
                .map(move |t| (format!("rule \"{}\"", r.name), &t.ecs))
        })
        .chain(
            schedules
                .iter()
                .map(|x| (format!("schedule \"{}\"", x.name), &x.ecs)),
        );
    let mut checked = HashSet::new();
    let mut missing = Vec::new();
    for (used_by, ecs) in wanted {
        let td = &ecs.task_definition_arn;
        if !checked.insert(td.clone()) {
            continue;
        }
        if !s.aws.task_definition_exists(td).await? {
            missing.push(MissingTaskDefinition {
                used_by,
                task_definition: model::arn::shorten_task_definition(td, s.aws.context()),
            });
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::TaskDefinitions {
            file: s.cfg.display.clone(),
            missing,
        })
    }
}

/// A plan and what the planner wants the user to know.
pub struct Planned {
    pub plan: Plan,
    pub warnings: Vec<String>,
    /// What the read saw and left alone (for `-v`).
    pub skipped: Vec<Skipped>,
}

/// A random 128-bit id, hex (plan ids), from the operating system's generator.
pub fn random_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::io("generating a plan id", std::io::Error::other(e.to_string())))?;
    Ok(config::hex(&bytes))
}

/// A plan for this session with no changes yet.
pub fn new_plan(s: &Session, selection: PlanSelection) -> Result<Plan> {
    let ctx = s.aws.context();
    Ok(Plan {
        plan_id: random_id()?,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        region: ctx.region.clone(),
        cluster_arn: s.desired.cluster_arn.clone(),
        tracking_id: s.desired.tracking_id.clone(),
        config_path: s.cfg.display.clone(),
        config_digest: s.cfg.digest(),
        selection,
        changes: Vec::new(),
        fingerprints: Vec::new(),
        managed_seen: Vec::new(),
        takeover: false,
        left_alone: Vec::new(),
        lock: s.lock.as_ref().map(ToString::to_string),
    })
}

/// Checks the task definitions, reads live state and computes the plan;
/// `takeover` is the consent to take over another trackingId's resources.
pub async fn make_plan(
    s: &Session,
    sel: PlanSelection,
    takeover: bool,
    progress: Progress<'_>,
) -> Result<Planned> {
    check_task_definitions(s, &sel).await?;
    let read = s
        .aws
        .read(&ReadScope::for_desired(&s.desired), progress)
        .await?;
    let rules_with_tags: HashSet<String> = s
        .cfg
        .raw
        .rules
        .iter()
        .flatten()
        .filter(|r| r.tags.is_some())
        .map(|r| r.name.clone())
        .collect();
    let cs = diff::compute(&DiffInput {
        desired: &s.desired,
        rules_with_tags: &rules_with_tags,
        live: &read.resources,
        groups: &read.groups,
        selection: &sel,
    })?;
    let plan = Plan {
        changes: cs.changes,
        fingerprints: cs.fingerprints,
        managed_seen: cs.managed_seen,
        left_alone: cs.left_alone,
        takeover,
        ..new_plan(s, sel)?
    };
    Ok(Planned {
        plan,
        warnings: cs.warnings,
        skipped: read.skipped,
    })
}

/// What ended an apply that did not refuse.
pub enum Applied {
    /// Nothing to write.
    NothingToDo,
    Report(Report),
}

/// What an apply tells the CLI as it happens.
pub trait ApplyEvents: Sync {
    /// Live state read for the drift check: `done` of `total`.
    fn reading(&self, done: usize, total: usize);
    /// The writes start: `changes` of them.
    fn started(&self, changes: usize);
    /// One resource finished.
    fn result(&self, change: &ResourceChange, outcome: &Outcome);
    /// A line of information (the lock taken and released).
    fn info(&self, line: &str);
}

/// A plan made and applied in one run (`apply --all`) that would take over
/// another trackingId's resources needs `--takeover` on this command line: a
/// missing flag, so a usage error (exit 1), not a refused plan file (exit 3).
pub fn check_direct_apply(plan: &Plan) -> Result<()> {
    apply::check_consent(plan, "the plan").map_err(|r| Error::Usage(r.to_string()))
}

/// Checks `plan` against live state (`apply::verify`): the verified state,
/// or the signal that interrupted the check.
pub async fn verify(
    aws: &Aws,
    plan: &Plan,
    source_name: &str,
    stop: &Stop,
    progress: Progress<'_>,
) -> Result<std::result::Result<Verified, i32>> {
    match apply::verify(aws, plan, source_name, progress, stop).await {
        Ok(v) => Ok(Ok(v)),
        Err(VerifyError::Refused(r)) => Err(r.into()),
        Err(VerifyError::Read(e)) => Err(e.into()),
        Err(VerifyError::Interrupted(signal)) => Ok(Err(signal)),
    }
}

/// Verifies `plan` against live state and applies it, `--concurrency`
/// resources at a time, under `lock` (its location, and the operation shown to
/// whoever finds it taken) when one is configured: the lock is taken before
/// the drift check and released on every way out (errors and signals
/// included). With a lock, the plan id is also recorded next to it, so a plan
/// is applied at most once even if its resources were later reverted or
/// deleted by hand. `Err(signal)` when a signal stopped it before any write.
pub async fn verify_and_execute(
    aws: &Aws,
    plan: &Plan,
    source_name: &str,
    settings: &Settings,
    lock: Option<(&LockSpec, &str)>,
    stop: &Stop,
    events: &dyn ApplyEvents,
) -> Result<std::result::Result<Applied, i32>> {
    let concurrency = settings.aws.concurrency;
    let Some((spec, operation)) = lock else {
        return verify_and_execute_unlocked(
            aws,
            plan,
            source_name,
            concurrency,
            stop,
            events,
            None,
        )
        .await;
    };
    let request = LockRequest::new(operation.to_string()).with_plan(plan.plan_id.clone());
    // Not raced against a signal: dropping the acquire with its conditional
    // write in flight could leave a lock nobody releases. It stops between
    // attempts instead, and a lock taken as the signal came is given back.
    let stopped = || stop.requested().is_some();
    let held = match aws
        .acquire_lock(spec, &request, settings.lock_timeout, &stopped)
        .await
    {
        Err(crate::aws::LockError::Interrupted { .. }) => {
            return Ok(Err(stop.requested().unwrap_or(2)));
        }
        held => held?,
    };
    if let Some(signal) = stop.requested() {
        if let Err(e) = aws.release_lock(&held).await {
            events.info(&format!("warning: {e}"));
        }
        return Ok(Err(signal));
    }
    events.info(&format!("Took the lock {spec} (id {}).", held.id()));
    let result = verify_and_execute_unlocked(
        aws,
        plan,
        source_name,
        concurrency,
        stop,
        events,
        Some(&held),
    )
    .await;
    match aws.release_lock(&held).await {
        Ok(_) => events.info(&format!("Released the lock {spec}.")),
        Err(e) => events.info(&format!("warning: {e}")),
    }
    result
}

async fn verify_and_execute_unlocked(
    aws: &Aws,
    plan: &Plan,
    source_name: &str,
    concurrency: usize,
    stop: &Stop,
    events: &dyn ApplyEvents,
    held: Option<&HeldLock>,
) -> Result<std::result::Result<Applied, i32>> {
    let verified = match verify(aws, plan, source_name, stop, &|d, t| events.reading(d, t)).await? {
        Ok(v) => v,
        Err(signal) => return Ok(Err(signal)),
    };
    if !plan.has_work() {
        return Ok(Ok(Applied::NothingToDo));
    }
    if let Some(held) = held
        && !aws
            .claim_plan(held.spec(), &plan.plan_id, held.info())
            .await?
    {
        let by = aws.plan_claim(held.spec(), &plan.plan_id).await?;
        return Err(claimed(plan, source_name, held.spec(), by));
    }
    events.started(plan.changes.len());
    let opts = ExecuteOptions {
        concurrency,
        ..ExecuteOptions::default()
    };
    let report = apply::execute(aws, plan, &verified, &opts, stop, &|c, o| {
        events.result(c, o)
    })
    .await;
    // Stopped by a signal before its first write: the plan was not applied, so
    // its record goes (or it could never be applied, though nothing was written).
    if let Some(held) = held
        && report.interrupted.is_some()
        && report
            .results
            .iter()
            .all(|(_, o)| *o == apply::Outcome::NotAttempted)
    {
        match aws
            .unclaim_plan(held.spec(), &plan.plan_id, held.info())
            .await
        {
            Ok(true) => events.info("Nothing was written: the plan is not recorded as applied."),
            // Another run's record: not ours to withdraw.
            Ok(false) => {}
            Err(e) => events.info(&format!(
                "warning: nothing was written, but the plan is still recorded as applied ({e}); make a new plan"
            )),
        }
    }
    Ok(Ok(Applied::Report(report)))
}

/// The refusal of a plan already claimed (applied) under the lock at `spec`.
/// `by` is the record read (who claimed it, when), if it could be read.
fn claimed(plan: &Plan, source_name: &str, spec: &LockSpec, by: Option<LockInfo>) -> Error {
    apply::Refusal::Claimed {
        source_name: source_name.to_string(),
        record: format!("s3://{}/{}", spec.bucket(), spec.plan_key(&plan.plan_id)),
        by: by
            .map(|info| info.describe(chrono::Utc::now()))
            .unwrap_or_default(),
    }
    .into()
}

/// `apply PLAN --dry-run`: what the apply would check before its first write,
/// without taking the lock or writing anything — the plan matches live state,
/// and (with a lock configured) it was not applied already.
pub async fn dry_run(
    aws: &Aws,
    plan: &Plan,
    source_name: &str,
    lock: Option<&LockSpec>,
    stop: &Stop,
) -> Result<std::result::Result<(), i32>> {
    if let Err(signal) = verify(aws, plan, source_name, stop, &|_, _| {}).await? {
        return Ok(Err(signal));
    }
    if let Some(spec) = lock
        && let Some(by) = aws.plan_claim(spec, &plan.plan_id).await?
    {
        return Err(claimed(plan, source_name, spec, Some(by)));
    }
    Ok(Ok(()))
}

/// `unlock ID`: breaks the lock at `--lock` (else the config's `lock:`) when its
/// id is `id`; returns what it held.
pub async fn unlock(settings: &Settings, id: &str) -> Result<(LockSpec, LockInfo)> {
    let configured = match &settings.lock {
        Some(l) => Some(l.clone()),
        None => settings.load(true).ok().and_then(|c| c.raw.lock),
    };
    let Some(spec) = lock_spec(configured.as_deref())? else {
        return Err(Error::Usage(
            "unlock needs the lock location: --lock s3://BUCKET/KEY, ECSCHED_LOCK, or lock: in the config"
                .to_string(),
        ));
    };
    let aws = connect(settings, None).await?;
    let info = aws.break_lock(&spec, id).await?;
    Ok((spec, info))
}

/// Reads and checks a plan file, connects to its account and region (the
/// caller's `--region`/`AWS_REGION` must match the plan's; with none, the
/// plan's), and checks that the plan is for them.
pub async fn open_plan(
    settings: &Settings,
    path: &Path,
    key: Option<&[u8]>,
) -> Result<(Plan, Aws, Option<LockSpec>)> {
    let plan = crate::plan::file::read(path, key)?;
    let lock = lock_spec(settings.lock.as_deref().or(plan.lock.as_deref()))?;
    let asked = settings.aws.region.clone().or_else(|| {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    });
    let aws = connect(settings, Some(asked.unwrap_or_else(|| plan.region.clone()))).await?;
    apply::check_target(&plan, &path.display().to_string(), aws.context())?;
    Ok((plan, aws, lock))
}

/// `GROUP/NAME`, or a name: the config's group for it, else the one live
/// schedule of that name on the cluster (ambiguous names need GROUP/NAME).
async fn schedule_address(s: &Session, name: &str) -> Result<Address> {
    if let Some((group, name)) = name.split_once('/') {
        return Ok(Address::Schedule {
            group: group.to_string(),
            name: name.to_string(),
        });
    }
    if let Ok(x) = diff::find_schedule(&s.desired, name) {
        return Ok(x.address());
    }
    let live = s
        .aws
        .read(&ReadScope::cluster(&s.desired.cluster_arn), &|_, _| {})
        .await?;
    let found: Vec<Address> = live
        .resources
        .iter()
        .map(|l| l.resource.address())
        .filter(|a| matches!(a, Address::Schedule { .. }) && a.name() == name)
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Usage(format!(
            "no schedule named \"{name}\" targets {} (use GROUP/NAME for a schedule in a specific group)",
            s.desired.cluster_arn
        ))),
        many => Err(Error::Usage(format!(
            "several schedules are named \"{name}\": {}; use GROUP/NAME",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Which resource `delete` or `run` names.
pub enum Target<'a> {
    Rule(&'a str),
    Schedule(&'a str),
}

/// The plan that deletes one resource (ownership rules: `plan::diff::delete_one`).
pub async fn delete_plan(s: &Session, target: Target<'_>, force: bool) -> Result<Plan> {
    let address = match target {
        Target::Rule(r) => Address::rule(r),
        Target::Schedule(name) => schedule_address(s, name).await?,
    };
    let read = s
        .aws
        .read(
            &ReadScope::only(&s.desired.cluster_arn, vec![address.clone()]),
            &|_, _| {},
        )
        .await?;
    let Some(live) = read
        .resources
        .into_iter()
        .find(|l| l.resource.address() == address)
    else {
        return Err(Error::Usage(format!(
            "{address} does not exist in {}",
            s.aws.context().region
        )));
    };
    let (change, fingerprint) = diff::delete_one(&live, &s.desired.tracking_id, force)?;
    Ok(Plan {
        changes: vec![change],
        fingerprints: vec![fingerprint],
        ..new_plan(s, PlanSelection::default())?
    })
}

/// What `dump` prints, and notes about what it left out.
pub struct Dumped {
    pub config: config::raw::RawConfig,
    pub notes: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// Reads every rule and schedule that targets `cluster` (or the config's) and
/// returns them as a config.
pub async fn dump(
    settings: &Settings,
    cluster: Option<&str>,
    role: Option<&str>,
    progress: Progress<'_>,
) -> Result<Dumped> {
    let cfg = match &settings.conf {
        Some(_) => Some(settings.load(true)?),
        None => None,
    };
    let raw = cfg.as_ref().map(|c| c.raw.clone()).unwrap_or_default();
    let cluster = cluster
        .map(str::to_string)
        .or_else(|| raw.cluster.clone())
        .ok_or_else(|| {
            Error::Usage("dump needs --cluster (or a config with cluster:)".to_string())
        })?;
    let aws = connect(settings, raw.region.clone()).await?;
    let ctx = aws.context().clone();
    let read: LiveRead = aws
        .read(
            &ReadScope::cluster(&model::arn::cluster(&cluster, &ctx)),
            progress,
        )
        .await?;
    let mut notes = Vec::new();
    let mut rules = Vec::new();
    let mut schedules = Vec::new();
    for l in read.resources {
        let address = l.resource.address();
        if !l.foreign_targets.is_empty() {
            notes.push(format!(
                "note: {address} also has targets ecsched does not manage ({}); they are not dumped and ecsched leaves them alone",
                l.foreign_targets.join(", ")
            ));
        }
        match l.resource {
            Resource::Rule(r) => {
                if !r.state.is_expressible() {
                    notes.push(format!(
                        "note: {address} is {}, which a config cannot say; it is dumped as enabled, and applying the dump sets ENABLED",
                        r.state.as_aws()
                    ));
                }
                rules.push(r);
            }
            Resource::Schedule(x) => schedules.push(x),
        }
    }
    let header = dump::Header {
        role: role.map(str::to_string).or_else(|| raw.role.clone()),
        region: ctx.region.clone(),
        cluster,
        tracking_id: cfg.as_ref().map(|_| model::desired::tracking_id(&raw)),
        plugins: raw.plugins.clone(),
        lock: raw.lock.clone(),
    };
    Ok(Dumped {
        config: dump::config(header, &rules, &schedules, &ctx)
            .map_err(|e| Error::io("escaping template syntax in the dump", e.into()))?,
        notes,
        skipped: read.skipped,
    })
}

/// The ECS targets `run` starts, and a label for messages.
pub fn run_targets(
    s: &Session,
    target: Target<'_>,
) -> std::result::Result<(String, Vec<EcsTarget>), SelectError> {
    match target {
        Target::Rule(name) => {
            let r = diff::find_rule(&s.desired, name)?;
            Ok((
                format!("rule \"{name}\""),
                r.targets.iter().map(|t| t.ecs.clone()).collect(),
            ))
        }
        Target::Schedule(name) => {
            let x = diff::find_schedule(&s.desired, name)?;
            Ok((format!("schedule \"{name}\""), vec![x.ecs.clone()]))
        }
    }
}

/// Starts the tasks; returns `(cluster, task ARNs)` per target.
pub async fn run_tasks(s: &Session, targets: &[EcsTarget]) -> Result<Vec<(String, Vec<String>)>> {
    let mut all = Vec::new();
    for t in targets {
        let arns = s.aws.run_task(t).await?;
        all.push((t.cluster_arn.clone(), arns));
    }
    Ok(all)
}

/// Waits for the started tasks to stop.
pub async fn wait_tasks(
    s: &Session,
    started: &[(String, Vec<String>)],
    timeout: std::time::Duration,
) -> Result<Vec<TaskOutcome>> {
    let mut out = Vec::new();
    for (cluster, arns) in started {
        out.extend(s.aws.wait_tasks(cluster, arns, timeout).await?);
    }
    Ok(out)
}

/// What `claim-group` found: the group's schedules, and whether it still
/// needs the tag.
pub struct GroupClaim {
    pub group: String,
    pub tracking_id: String,
    pub claim: crate::plan::claim::Claim,
    /// `(name, target ARN)` of each schedule in the group.
    pub schedules: Vec<(String, Option<String>)>,
}

/// Reads `group` and checks that this session's trackingId may claim it
/// (`plan::claim`); writes nothing.
pub async fn claim_group_check(s: &Session, group: &str) -> Result<GroupClaim> {
    let tracking_id = s.desired.tracking_id.clone();
    let region = s.aws.context().region.clone();
    let found = if group == model::DEFAULT_SCHEDULE_GROUP {
        None
    } else {
        s.aws.read_group(group).await?
    };
    let claim = crate::plan::claim::check(
        group,
        found.as_ref().map(|g| g.tracking_id.as_deref()),
        &tracking_id,
        &region,
    )
    .map_err(|r| Error::Usage(r.to_string()))?;
    Ok(GroupClaim {
        group: group.to_string(),
        tracking_id,
        claim,
        schedules: found.map(|g| g.schedules).unwrap_or_default(),
    })
}

/// Tags the group for the trackingId (after `claim_group_check`).
pub async fn claim_group(s: &Session, claim: &GroupClaim) -> Result<()> {
    if claim.claim == crate::plan::claim::Claim::Tag {
        s.aws.tag_group(&claim.group, &claim.tracking_id).await?;
    }
    Ok(())
}

/// A stop flag that SIGINT, SIGTERM and SIGHUP raise (with their number): an
/// apply then starts nothing new and lets the calls in flight finish.
/// `on_first` is told the first signal. Needs the tokio runtime.
pub fn stop_on_signals(on_first: fn(i32)) -> std::sync::Arc<Stop> {
    let stop = std::sync::Arc::new(Stop::new());
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        for (kind, number) in [
            (SignalKind::interrupt(), 2),
            (SignalKind::terminate(), 15),
            (SignalKind::hangup(), 1),
        ] {
            let stop = stop.clone();
            if let Ok(mut s) = signal(kind) {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if stop.requested().is_none() {
                            on_first(number);
                        }
                        stop.request(number);
                    }
                });
            }
        }
    }
    stop
}
