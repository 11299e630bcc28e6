//! The commands that talk to AWS: dump, diff, plan, apply, show, delete, run.
//! Glue only: load the config, connect, read, call the planner/executor,
//! print. AWS access goes through `aws::Aws` and the `apply::backend` trait.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::{Globals, Outcome, print_stdout};
use crate::apply::{self, backend::Backend};
use crate::aws::{Aws, AwsOptions, AwsRemote};
use crate::config::{self, LoadedConfig, plugin::RemoteSource};
use crate::error::{Error, Result};
use crate::model::{self, DesiredState, dump};
use crate::plan::diff::{self, LiveResource};
use crate::plan::{Plan, PlanSelection, file as planfile, view};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn options(region: Option<String>) -> AwsOptions {
    let mut o = AwsOptions {
        region,
        ..AwsOptions::default()
    };
    if let Some(c) = env_num("ECSCHED_CONCURRENCY") {
        o.concurrency = c;
    }
    if let Some(r) = env_num("ECSCHED_RATE_LIMIT") {
        o.rate_limit_per_sec = r;
    }
    // The SDK's own variable; ecsched sets a retry policy, so pass it through.
    if let Some(n) = env_num::<u32>("AWS_MAX_ATTEMPTS").filter(|n| *n > 0) {
        o.max_attempts = n;
    }
    o
}

async fn connect(region: Option<String>) -> Result<Aws> {
    Aws::connect(&options(region))
        .await
        .map_err(|e| Error::Aws(e.to_string()))
}

/// A `RemoteSource` that connects to AWS on first use (only configs that use
/// tfstate in S3 or ssm pay for it), before the config's region is known.
struct LazyRemote {
    region: Option<String>,
    cell: OnceLock<std::result::Result<AwsRemote, String>>,
}

impl LazyRemote {
    fn get(&self) -> std::result::Result<&AwsRemote, String> {
        self.cell
            .get_or_init(|| {
                let region = self.region.clone();
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async {
                        Aws::connect(&options(region))
                            .await
                            .map(|a| a.remote_source())
                            .map_err(|e| e.to_string())
                    })
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl RemoteSource for LazyRemote {
    fn s3_get_object(&self, bucket: &str, key: &str) -> std::result::Result<Vec<u8>, String> {
        self.get()?.s3_get_object(bucket, key)
    }
    fn ssm_get_parameter(
        &self,
        name: &str,
    ) -> std::result::Result<config::plugin::SsmParameter, String> {
        self.get()?.ssm_get_parameter(name)
    }
}

/// Loads the config with AWS-backed plugins available.
fn load_online(g: &Globals) -> Result<LoadedConfig> {
    let path = config::find_config(g.conf.as_deref(), &g.cwd)?;
    let env = |k: &str| std::env::var(k).ok();
    let remote = LazyRemote {
        region: g.region.clone(),
        cell: OnceLock::new(),
    };
    Ok(config::load(&config::LoadRequest {
        path: &path,
        cwd: &g.cwd,
        env: &env,
        remote: Some(&remote),
        ext_vars: &[],
    })?)
}

/// Config + connection + desired state.
struct Session {
    cfg: LoadedConfig,
    aws: Aws,
    desired: DesiredState,
}

async fn session(g: &Globals) -> Result<Session> {
    let cfg = tokio::task::block_in_place(|| load_online(g))?;
    if cfg.raw.cluster.as_deref().unwrap_or_default().is_empty() {
        return Err(Error::Usage(format!(
            "{}: cluster is required",
            cfg.display
        )));
    }
    let region = g.region.clone().or_else(|| cfg.raw.region.clone());
    let aws = connect(region).await?;
    let desired = model::desired::build(&cfg.raw, aws.context());
    Ok(Session { cfg, aws, desired })
}

fn rules_with_tags(cfg: &LoadedConfig) -> HashSet<String> {
    cfg.raw
        .rules
        .iter()
        .flatten()
        .filter(|r| r.tags.is_some())
        .map(|r| r.name.clone())
        .collect()
}

/// DescribeTaskDefinition for every task definition the selection uses.
async fn check_task_definitions(s: &Session, sel: &PlanSelection) -> Result<()> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    for r in &s.desired.rules {
        if sel.all || sel.rules.contains(&r.name) {
            for t in &r.targets {
                wanted.push((
                    format!("rule \"{}\"", r.name),
                    t.ecs.task_definition_arn.clone(),
                ));
            }
        }
    }
    for sc in &s.desired.schedules {
        if sel.all || sel.schedules.contains(&sc.name) {
            wanted.push((
                format!("schedule \"{}\"", sc.name),
                sc.ecs.task_definition_arn.clone(),
            ));
        }
    }
    let mut checked: HashSet<String> = HashSet::new();
    let mut missing = Vec::new();
    for (who, td) in wanted {
        if !checked.insert(td.clone()) {
            continue;
        }
        let exists = s
            .aws
            .task_definition_exists(&td)
            .await
            .map_err(|e| Error::Aws(e.to_string()))?;
        if !exists {
            missing.push(format!(
                "{}: {who}: task definition {} does not exist (register it first, e.g. with ecspresso)",
                s.cfg.display,
                model::arn::shorten_task_definition(&td, s.aws.context())
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(missing.join("\n")))
    }
}

async fn read_live(g: &Globals, s: &Session) -> Result<Vec<LiveResource>> {
    let bar = crate::output::progress_bar(g.quiet, "reading live state");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let (live, notes) = apply::backend::read_all(&s.aws, &s.desired, &progress).await?;
    bar.finish_and_clear();
    if g.verbose > 0 {
        for n in notes {
            g.info(n);
        }
    }
    Ok(live)
}

/// Checks the selection flags before anything else happens (no AWS call on a usage error).
fn selection(sel: &super::args::Selection, prune: bool) -> Result<PlanSelection> {
    let partial = !sel.rules.is_empty() || !sel.schedules.is_empty();
    if sel.all && partial {
        return Err(Error::Usage(
            "--all cannot be combined with --rule/--schedule".to_string(),
        ));
    }
    if !sel.all && !partial {
        return Err(Error::Usage(diff::DiffError::NothingSelected.to_string()));
    }
    if prune && !sel.all {
        return Err(Error::Usage(diff::DiffError::PruneNeedsAll.to_string()));
    }
    Ok(PlanSelection {
        all: sel.all,
        rules: sel.rules.clone(),
        schedules: sel.schedules.clone(),
        prune,
    })
}

fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn make_plan(g: &Globals, s: &Session, sel: PlanSelection) -> Result<(Plan, Vec<String>)> {
    if sel.prune && !sel.all {
        return Err(Error::Usage(diff::DiffError::PruneNeedsAll.to_string()));
    }
    check_task_definitions(s, &sel).await?;
    let live = read_live(g, s).await?;
    let tags = rules_with_tags(&s.cfg);
    let cs = diff::compute(&diff::DiffInput {
        desired: &s.desired,
        rules_with_tags: &tags,
        live: &live,
        selection: &sel,
    })
    .map_err(|e| Error::Usage(e.to_string()))?;
    let plan = Plan {
        changes: cs.changes,
        fingerprints: cs.fingerprints,
        managed_seen: cs.managed_seen,
        ..empty_plan(s, sel)
    };
    Ok((plan, cs.warnings))
}

/// Session, plan, and the planner's warnings printed.
async fn planned(g: &Globals, sel: PlanSelection) -> Result<(Session, Plan)> {
    let s = session(g).await?;
    let (plan, warnings) = make_plan(g, &s, sel).await?;
    for w in warnings {
        g.info(format!("warning: {w}"));
    }
    Ok((s, plan))
}

/// A plan for this session with no changes yet.
fn empty_plan(s: &Session, selection: PlanSelection) -> Plan {
    let ctx = s.aws.context();
    Plan {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: now_rfc3339(),
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
    }
}

pub fn diff(
    g: &Globals,
    sel: &super::args::Selection,
    prune: bool,
    unified: bool,
    detailed: bool,
) -> Result<Outcome> {
    let sel = selection(sel, prune)?;
    runtime()?.block_on(async {
        let (_session, plan) = planned(g, sel).await?;
        let m = view::Masking::from_env(false);
        let ctx = view::plan_context(&plan);
        let mut out = String::new();
        for c in &plan.changes {
            if unified {
                out.push_str(&view::unified_text(c, &ctx, &m, console::colors_enabled()));
            } else {
                out.push_str(&view::change_text(c, &ctx, &m));
                out.push('\n');
            }
        }
        print_stdout(&out)?;
        g.info(view::summary(&plan));
        Ok(if detailed && plan.has_changes() {
            Outcome::Changes
        } else {
            Outcome::Done
        })
    })
}

#[allow(clippy::too_many_arguments)]
pub fn plan(
    g: &Globals,
    sel: &super::args::Selection,
    prune: bool,
    out: Option<&Path>,
    detailed: bool,
    json: bool,
    show_sensitive: bool,
) -> Result<Outcome> {
    let sel = selection(sel, prune)?;
    runtime()?.block_on(async {
        let (_session, plan) = planned(g, sel).await?;
        let m = view::Masking::from_env(show_sensitive);
        if json {
            print_json(&view::plan_json(&plan, &m))?;
        } else {
            print_stdout(&view::plan_text(&plan, &m))?;
        }
        if let Some(path) = out {
            let key = planfile::plan_key_from_env();
            let bytes =
                planfile::encode(&plan, key.as_deref()).map_err(|e| Error::Other(e.to_string()))?;
            planfile::write_atomic(path, &bytes).map_err(|e| Error::Other(e.to_string()))?;
            g.info(format!(
                "Saved the plan to {}{}. Apply it with: ecsched apply {}",
                path.display(),
                if key.is_some() { " (signed)" } else { "" },
                path.display()
            ));
        }
        Ok(if detailed && plan.has_changes() {
            Outcome::Changes
        } else {
            Outcome::Done
        })
    })
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Other(e.to_string()))?;
    print_stdout(&(text + "\n"))
}

pub fn show(path: &Path, json: bool, show_sensitive: bool) -> Result<Outcome> {
    let key = planfile::plan_key_from_env();
    let plan =
        planfile::read(path, key.as_deref()).map_err(|e| Error::PlanRefused(e.to_string()))?;
    let m = view::Masking::from_env(show_sensitive);
    if json {
        print_json(&view::plan_json(&plan, &m))?;
    } else {
        print_stdout(&format!(
            "Plan {} made {} by ecsched {} for account {} in {} ({}), config {}\n\n{}",
            path.display(),
            plan.created_at,
            plan.tool_version,
            plan.account_id,
            plan.region,
            plan.partition,
            plan.config_path,
            view::plan_text(&plan, &m)
        ))?;
    }
    Ok(Outcome::Done)
}

fn confirm(g: &Globals, question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        // Without a terminal ecschedule proceeds; so do we (CI runs the seed's commands).
        return Ok(true);
    }
    if g.quiet {
        return Ok(true);
    }
    eprint!("{question} Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the answer", e))?;
    Ok(line.trim() == "yes")
}

fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupt: finishing the call in flight, then stopping");
            f.store(true, Ordering::SeqCst);
        }
    });
    flag
}

async fn execute(g: &Globals, aws: &Aws, plan: &Plan) -> Result<Outcome> {
    let flag = interrupt_flag();
    let bar = if plan.changes.len() > 3 {
        crate::output::progress_bar(g.quiet, "applying")
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_length(plan.changes.len() as u64);
    let on_result = |c: &crate::plan::ResourceChange, o: &apply::Outcome| {
        bar.inc(1);
        bar.suspend(|| g.info(apply::Report::line(c, o)));
    };
    let report = apply::execute(aws, plan, flag.clone(), &on_result).await?;
    bar.finish_and_clear();
    g.info(report.closing_text().trim_end());
    if report.failed() {
        return Err(Error::Aws(
            "apply stopped at the first failure; what was applied is listed above. Re-run plan and apply to converge".to_string(),
        ));
    }
    if report.interrupted {
        return Ok(Outcome::Code(130));
    }
    Ok(Outcome::Done)
}

pub fn apply_file(g: &Globals, path: &Path) -> Result<Outcome> {
    let key = planfile::plan_key_from_env();
    let plan =
        planfile::read(path, key.as_deref()).map_err(|e| Error::PlanRefused(e.to_string()))?;
    runtime()?.block_on(async {
        // The caller's region (flag or environment) must match the plan's;
        // with none given, the plan's region is used.
        let asked = g.region.clone().or_else(|| {
            ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        });
        let aws = connect(Some(asked.unwrap_or_else(|| plan.region.clone()))).await?;
        let ctx = aws.context();
        if ctx.account_id != plan.account_id || ctx.partition != plan.partition || ctx.region != plan.region {
            return Err(Error::PlanRefused(format!(
                "{} was made for account {} ({}) in {}, but the credentials are for account {} ({}) in {}",
                path.display(),
                plan.account_id,
                plan.partition,
                plan.region,
                ctx.account_id,
                ctx.partition,
                ctx.region
            )));
        }
        if plan.tool_version != env!("CARGO_PKG_VERSION") {
            return Err(Error::PlanRefused(format!(
                "{} was made by ecsched {}, this is {}: plan again with this version",
                path.display(),
                plan.tool_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        let managed_now = if plan.selection.prune {
            Some(managed_addresses(&aws, &plan).await?)
        } else {
            None
        };
        let drift = apply::check_drift(&aws, &plan, managed_now.as_deref()).await?;
        if !drift.is_empty() {
            let lines: Vec<String> = drift
                .iter()
                .map(|d| format!("  {} {}", d.address, d.detail))
                .collect();
            return Err(Error::PlanRefused(format!(
                "the saved plan {} is stale: live state changed since it was made; nothing was written\n{}\nRun plan again.",
                path.display(),
                lines.join("\n")
            )));
        }
        if !plan.has_work() {
            g.info("No changes. Nothing to apply.");
            return Ok(Outcome::Done);
        }
        execute(g, &aws, &plan).await
    })
}

/// The managed set as the planner computes it, for the prune drift check.
async fn managed_addresses(aws: &Aws, plan: &Plan) -> Result<Vec<model::Address>> {
    let desired = DesiredState {
        context: aws.context().clone(),
        cluster_arn: plan.cluster_arn.clone(),
        tracking_id: plan.tracking_id.clone(),
        rules: Vec::new(),
        schedules: Vec::new(),
    };
    let (live, _) = apply::backend::read_all(aws, &desired, &|_, _| {}).await?;
    let cs = diff::compute(&diff::DiffInput {
        desired: &desired,
        rules_with_tags: &HashSet::new(),
        live: &live,
        selection: &PlanSelection {
            all: true,
            prune: true,
            ..PlanSelection::default()
        },
    })
    .map_err(|e| Error::Other(e.to_string()))?;
    Ok(cs.managed_seen)
}

pub fn apply_direct(
    g: &Globals,
    sel: &super::args::Selection,
    prune: bool,
    dry_run: bool,
    auto_approve: bool,
    unified: bool,
) -> Result<Outcome> {
    let sel = selection(sel, prune)?;
    runtime()?.block_on(async {
        let (s, plan) = planned(g, sel).await?;
        let m = view::Masking::from_env(false);
        if unified {
            let ctx = view::plan_context(&plan);
            let text: String = plan
                .changes
                .iter()
                .map(|c| view::unified_text(c, &ctx, &m, console::colors_enabled()))
                .collect();
            print_stdout(&text)?;
            g.info(view::summary(&plan));
        } else {
            print_stdout(&view::plan_text(&plan, &m))?;
        }
        if !plan.has_work() {
            return Ok(Outcome::Done);
        }
        if dry_run {
            g.info("Dry run: nothing was written.");
            return Ok(Outcome::Done);
        }
        if !auto_approve && !confirm(g, "Do you want to perform these actions?")? {
            g.info("Apply cancelled.");
            return Ok(Outcome::Done);
        }
        execute(g, &s.aws, &plan).await
    })
}

pub fn delete(
    g: &Globals,
    rule: Option<&str>,
    schedule: Option<&str>,
    auto_approve: bool,
    force: bool,
) -> Result<Outcome> {
    runtime()?.block_on(async {
        let s = session(g).await?;
        let address = match (rule, schedule) {
            (Some(r), None) => model::Address::rule(r),
            (None, Some(name)) => schedule_address(g, &s, name).await?,
            _ => return Err(Error::Usage("delete needs exactly one of --rule NAME or --schedule NAME".to_string())),
        };
        let Some(live) = s.aws.read_one(&s.desired.cluster_arn, &address).await? else {
            return Err(Error::Usage(format!("{address} does not exist in {}", s.aws.context().region)));
        };
        let managed = live.tracking_id.as_deref() == Some(s.desired.tracking_id.as_str());
        if !managed && !force {
            return Err(Error::Usage(format!(
                "{address} is not managed for trackingId \"{}\" ({}); pass --force to delete it anyway",
                s.desired.tracking_id,
                {
                    let whose = if matches!(address, model::Address::Schedule { .. }) {
                        "its schedule group"
                    } else {
                        "it"
                    };
                    live.tracking_id.as_deref().map_or(
                        format!("{whose} has no ecschedule:tracking-id tag"),
                        |t| format!("{whose} is managed for \"{t}\""),
                    )
                }
            )));
        }
        if !live.foreign_targets.is_empty() {
            return Err(Error::Usage(format!(
                "{address} has targets ecsched does not manage ({}); remove them first",
                live.foreign_targets.join(", ")
            )));
        }
        let plan = Plan {
            changes: vec![crate::plan::ResourceChange {
                address: address.clone(),
                action: crate::plan::Action::Delete,
                before: Some(live.resource.clone()),
                after: None,
                adopts_unmanaged: false,
                tag_only: false,
                notes: Vec::new(),
            }],
            fingerprints: vec![crate::plan::Fingerprint {
                address,
                digest: Some(live.fingerprint.clone()),
            }],
            ..empty_plan(&s, PlanSelection::default())
        };
        let m = view::Masking::from_env(false);
        print_stdout(&view::plan_text(&plan, &m))?;
        if !auto_approve && !confirm(g, "Do you really want to delete it?")? {
            g.info("Delete cancelled.");
            return Ok(Outcome::Done);
        }
        execute(g, &s.aws, &plan).await
    })
}

/// `GROUP/NAME`, or a name: the config's group for it, else the one live
/// schedule of that name on the cluster (ambiguous names need GROUP/NAME).
async fn schedule_address(g: &Globals, s: &Session, name: &str) -> Result<model::Address> {
    if let Some((group, name)) = name.split_once('/') {
        return Ok(model::Address::Schedule {
            group: group.to_string(),
            name: name.to_string(),
        });
    }
    if let Some(x) = s.desired.schedules.iter().find(|x| x.name == name) {
        return Ok(x.address());
    }
    let live = read_live(g, s).await?;
    let found: Vec<model::Address> = live
        .iter()
        .map(|l| l.resource.address())
        .filter(|a| matches!(a, model::Address::Schedule { .. }) && a.name() == name)
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

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        Error::Usage(format!(
            "--timeout \"{s}\" is not a duration such as 90s, 30m or 2h"
        ))
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(Error::Usage(format!(
                "--timeout \"{s}\" is not a duration such as 90s, 30m or 2h"
            )));
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

pub fn run(
    g: &Globals,
    rule: Option<&str>,
    schedule: Option<&str>,
    wait: bool,
    timeout: &str,
    dry_run: bool,
) -> Result<Outcome> {
    let timeout = parse_duration(timeout)?;
    runtime()?.block_on(async {
        let s = session(g).await?;
        let (label, targets): (String, Vec<model::EcsTarget>) = match (rule, schedule) {
            (Some(name), None) => {
                let r = s
                    .desired
                    .rules
                    .iter()
                    .find(|r| r.name == name)
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "no rule named \"{name}\" in {}{}",
                            s.cfg.display,
                            config::error::suggest(
                                name,
                                s.desired.rules.iter().map(|r| r.name.as_str())
                            )
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default()
                        ))
                    })?;
                (
                    format!("rule \"{name}\""),
                    r.targets.iter().map(|t| t.ecs.clone()).collect(),
                )
            }
            (None, Some(name)) => {
                let sc = s
                    .desired
                    .schedules
                    .iter()
                    .find(|x| x.name == name)
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "no schedule named \"{name}\" in {}{}",
                            s.cfg.display,
                            config::error::suggest(
                                name,
                                s.desired.schedules.iter().map(|x| x.name.as_str())
                            )
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default()
                        ))
                    })?;
                (format!("schedule \"{name}\""), vec![sc.ecs.clone()])
            }
            _ => {
                return Err(Error::Usage(
                    "run needs exactly one of --rule NAME or --schedule NAME".to_string(),
                ));
            }
        };
        g.info(format!(
            "running the {label}{}",
            if dry_run { " (dry-run)" } else { "" }
        ));
        if dry_run {
            return Ok(Outcome::Done);
        }
        let mut all = Vec::new();
        for t in &targets {
            let arns = s
                .aws
                .run_task(t)
                .await
                .map_err(|e| Error::Aws(e.to_string()))?;
            for a in &arns {
                g.info(format!("started task {a}"));
            }
            all.push((t.cluster_arn.clone(), arns));
        }
        if !wait {
            return Ok(Outcome::Done);
        }
        let mut code = 0;
        for (cluster, arns) in all {
            let outcomes = s
                .aws
                .wait_tasks(&cluster, &arns, timeout)
                .await
                .map_err(|e| Error::Aws(e.to_string()))?;
            for o in outcomes {
                g.info(format!(
                    "task {} {}: exit code {}{}",
                    o.task_arn,
                    o.last_status,
                    o.exit_code.map_or("unknown".to_string(), |c| c.to_string()),
                    o.stopped_reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
                let c = o.exit_code.unwrap_or(1);
                if code == 0 {
                    code = c;
                }
            }
        }
        Ok(Outcome::Code(code))
    })
}

pub fn dump(g: &Globals, cluster: Option<&str>, role: Option<&str>) -> Result<Outcome> {
    runtime()?.block_on(async {
        let cfg = match &g.conf {
            Some(_) => Some(tokio::task::block_in_place(|| load_online(g))?),
            None => None,
        };
        let raw = cfg.as_ref().map(|c| c.raw.clone()).unwrap_or_default();
        let cluster = cluster
            .map(str::to_string)
            .or_else(|| raw.cluster.clone())
            .ok_or_else(|| Error::Usage("dump needs --cluster (or a config with cluster:)".to_string()))?;
        let region = g.region.clone().or_else(|| raw.region.clone());
        let aws = connect(region).await?;
        let ctx = aws.context().clone();
        let role = role.map(str::to_string).or_else(|| raw.role.clone());
        let mut out = crate::config::raw::RawConfig {
            role: role.clone(),
            region: Some(ctx.region.clone()),
            cluster: Some(cluster.clone()),
            tracking_id: cfg.as_ref().map(|_| model::desired::tracking_id(&raw)),
            plugins: raw.plugins.clone(),
            ..Default::default()
        };
        let desired = DesiredState {
            context: ctx.clone(),
            cluster_arn: model::arn::cluster(&cluster, &ctx),
            tracking_id: String::new(),
            rules: Vec::new(),
            schedules: Vec::new(),
        };
        let bar = crate::output::progress_bar(g.quiet, "reading live state");
        let progress = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        let (live, notes) = apply::backend::read_all(&aws, &desired, &progress).await?;
        bar.finish_and_clear();
        for n in notes {
            g.info(n);
        }
        let default_role = role.unwrap_or_else(|| model::DEFAULT_ROLE.to_string());
        let mut rules = Vec::new();
        let mut schedules = Vec::new();
        for l in live {
            if !l.foreign_targets.is_empty() {
                g.info(format!(
                    "note: {} also has targets ecsched does not manage ({}); they are not dumped and ecsched leaves them alone",
                    l.resource.address(),
                    l.foreign_targets.join(", ")
                ));
            }
            match l.resource {
                crate::plan::Resource::Rule(r) if !r.targets.is_empty() => rules.push(dump::rule(&r, &default_role, &ctx)),
                crate::plan::Resource::Rule(_) => {}
                crate::plan::Resource::Schedule(sc) => schedules.push(dump::schedule(&sc, &default_role, &ctx)),
            }
        }
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        out.rules = Some(rules);
        out.schedules = (!schedules.is_empty()).then_some(schedules);
        let text = serde_saphyr::to_string(&out).map_err(|e| Error::Other(e.to_string()))?;
        print_stdout(&text)?;
        Ok(Outcome::Done)
    })
}
