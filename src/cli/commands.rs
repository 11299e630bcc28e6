//! One function per command: turn flags into library calls, print results,
//! ask for confirmation on a terminal. No business rule lives here.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use super::args::{Command, Selection};
use super::{Globals, Outcome, print_stdout};
use crate::apply::{Report, Stop};
use crate::error::{Error, Result};
use crate::ops::{self, Applied, ApplyEvents, Target};
use crate::output;
use crate::plan::{Plan, PlanSelection, view};

pub fn dispatch(g: &Globals, command: Command) -> Result<Outcome> {
    match command {
        Command::Validate { next, remote } => validate(g, next, remote),
        Command::Render {
            json,
            show_sensitive,
        } => render(g, json, show_sensitive),
        Command::Schema { plan } => {
            let schema = if plan {
                view::plan_schema()
            } else {
                crate::config::raw::config_schema()
            };
            print_json(&schema)?;
            Ok(Outcome::Done)
        }
        Command::ClaimGroup {
            group,
            auto_approve,
        } => claim_group(g, &group, auto_approve),
        Command::Completion { shell } => {
            let mut buf = Vec::new();
            let mut cmd = <super::args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ecsched", &mut buf);
            print_stdout(&String::from_utf8_lossy(&buf))?;
            Ok(Outcome::Done)
        }
        Command::Dump { cluster, role } => dump(g, cluster.as_deref(), role.as_deref()),
        Command::Diff {
            selection,
            prune,
            unified,
            detailed_exitcode,
            ..
        } => {
            let sel = plan_selection(&selection, prune)?;
            runtime()?.block_on(async {
                let (_, plan) = planned(g, sel, false).await?;
                print_changes(g, &plan, unified, false)?;
                Ok(exit_for_changes(&plan, detailed_exitcode))
            })
        }
        Command::Plan {
            selection,
            prune,
            out,
            detailed_exitcode,
            json,
            show_sensitive,
            takeover,
            markdown,
        } => {
            let sel = plan_selection(&selection, prune)?;
            runtime()?.block_on(async {
                let (_, plan) = planned(g, sel, takeover).await?;
                let m = masking(g, show_sensitive);
                if json {
                    print_json(&view::plan_json(&plan, &m, g.now))?;
                } else if markdown.markdown {
                    let file = out.as_ref().map(|p| p.display().to_string());
                    print_markdown(g, &plan, &m, &markdown, file)?;
                } else {
                    print_stdout(&view::plan_text(&plan, &m, g.now))?;
                }
                if out.is_some() && g.plan_key.is_none() {
                    warn_sensitive(g, &plan, &m);
                }
                if let Some(path) = out {
                    let bytes = crate::plan::file::encode(&plan, g.plan_key.as_deref())?;
                    crate::plan::file::write_atomic(&path, &bytes)?;
                    g.info(format!(
                        "Saved the plan to {}{}. Apply it with: ecsched apply {}",
                        path.display(),
                        if g.plan_key.is_some() {
                            " (signed and encrypted)"
                        } else {
                            ""
                        },
                        path.display()
                    ));
                }
                Ok(exit_for_changes(&plan, detailed_exitcode))
            })
        }
        Command::Apply {
            plan_file: Some(path),
            selection,
            prune,
            dry_run,
            ..
        } => {
            if selection.all
                || !selection.rules.is_empty()
                || !selection.schedules.is_empty()
                || prune
            {
                return Err(Error::Usage(
                    "apply PLANFILE takes no selection: the plan file fixes what is applied"
                        .to_string(),
                ));
            }
            apply_file(g, &path, dry_run)
        }
        Command::Apply {
            plan_file: None,
            selection,
            prune,
            dry_run,
            auto_approve,
            takeover,
            unified,
            ..
        } => {
            let sel = plan_selection(&selection, prune)?;
            runtime()?.block_on(async {
                let (s, plan) = planned(g, sel, takeover).await?;
                print_changes(g, &plan, unified, true)?;
                if !plan.has_work() {
                    return Ok(Outcome::Done);
                }
                crate::apply::check_consent(&plan, "the plan")
                    .map_err(|r| Error::Usage(r.to_string()))?;
                if dry_run {
                    g.info("Dry run: nothing was written.");
                    return Ok(Outcome::Done);
                }
                if !auto_approve && !confirm(g, "Do you want to perform these actions?")? {
                    g.info("Apply cancelled.");
                    return Ok(Outcome::Done);
                }
                execute(g, &s.aws, &plan, "the plan", (s.lock.as_ref(), "apply")).await
            })
        }
        Command::Show {
            plan_file,
            json,
            show_sensitive,
            markdown,
        } => {
            let plan = crate::plan::file::read(&plan_file, g.plan_key.as_deref())?;
            let m = masking(g, show_sensitive);
            if json {
                print_json(&view::plan_json(&plan, &m, g.now))?;
            } else if markdown.markdown {
                let file = plan_file.display().to_string();
                print_markdown(g, &plan, &m, &markdown, Some(file))?;
            } else {
                print_stdout(&format!(
                    "Plan {} made {} by ecsched {} for account {} in {} ({}), config {}\n\n{}",
                    plan_file.display(),
                    plan.created_at,
                    plan.tool_version,
                    plan.account_id,
                    plan.region,
                    plan.partition,
                    plan.config_path,
                    view::plan_text(&plan, &m, g.now)
                ))?;
            }
            Ok(Outcome::Done)
        }
        Command::Run {
            rule,
            schedule,
            wait,
            timeout,
            dry_run,
        } => run(
            g,
            target(rule.as_deref(), schedule.as_deref(), "run")?,
            wait,
            timeout,
            dry_run,
        ),
        Command::Unlock { lock_id } => runtime()?.block_on(async {
            let (spec, info) = ops::unlock(&g.settings, &lock_id).await?;
            g.info(format!(
                "Broke the lock {spec}: it was {}.",
                info.describe(chrono::Utc::now())
            ));
            Ok(Outcome::Done)
        }),
        Command::Delete {
            rule,
            schedule,
            auto_approve,
            force,
        } => {
            let target = target(rule.as_deref(), schedule.as_deref(), "delete")?;
            runtime()?.block_on(async {
                let s = ops::session(&g.settings).await?;
                let plan = ops::delete_plan(&s, target, force).await?;
                print_stdout(&view::plan_text(&plan, &masking(g, false), g.now))?;
                if !auto_approve && !confirm(g, "Do you really want to delete it?")? {
                    g.info("Delete cancelled.");
                    return Ok(Outcome::Done);
                }
                execute(g, &s.aws, &plan, "the delete", (s.lock.as_ref(), "delete")).await
            })
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}

fn masking(g: &Globals, show_sensitive: bool) -> view::Masking {
    view::Masking::new(&g.sensitive_patterns, show_sensitive)
}

/// The pull-request comment view of `plan`.
fn print_markdown(
    g: &Globals,
    plan: &Plan,
    m: &view::Masking,
    args: &super::args::MarkdownArgs,
    plan_file: Option<String>,
) -> Result<()> {
    let opts = crate::plan::markdown::Options {
        masking: m,
        now: g.now,
        max_size: usize::try_from(args.max_size).unwrap_or(usize::MAX),
        plan_file,
    };
    print_stdout(&crate::plan::markdown::render(plan, &opts))
}

/// `plan -out` without a plan key: the file holds the secrets in clear.
fn warn_sensitive(g: &Globals, plan: &Plan, m: &view::Masking) {
    let names = m.sensitive_names(plan);
    if !names.is_empty() {
        g.info(format!(
            "warning: the plan file holds sensitive values in clear ({}); set ECSCHED_PLAN_KEY to encrypt plan files",
            names.join(", ")
        ));
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::io("encoding JSON", e.into()))?;
    print_stdout(&(text + "\n"))
}

fn plan_selection(sel: &Selection, prune: bool) -> Result<PlanSelection> {
    let sel = PlanSelection {
        all: sel.all,
        rules: sel.rules.clone(),
        schedules: sel.schedules.clone(),
        prune,
    };
    sel.check()?;
    Ok(sel)
}

fn target<'a>(rule: Option<&'a str>, schedule: Option<&'a str>, verb: &str) -> Result<Target<'a>> {
    match (rule, schedule) {
        (Some(r), None) => Ok(Target::Rule(r)),
        (None, Some(s)) => Ok(Target::Schedule(s)),
        _ => Err(Error::Usage(format!(
            "{verb} needs exactly one of --rule NAME or --schedule NAME"
        ))),
    }
}

fn exit_for_changes(plan: &Plan, detailed: bool) -> Outcome {
    if detailed && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Done
    }
}

/// Session and plan, with the planner's warnings and (with -v) what was skipped.
async fn planned(g: &Globals, sel: PlanSelection, takeover: bool) -> Result<(ops::Session, Plan)> {
    let s = ops::session(&g.settings).await?;
    let bar = output::progress_bar(g.quiet, "reading live state");
    let planned = ops::make_plan(&s, sel, takeover, &|d, t| output::set_progress(&bar, d, t)).await;
    bar.finish_and_clear();
    let planned = planned?;
    if g.verbose > 0 {
        for x in &planned.skipped {
            g.info(format!("{}: skipped: {}", x.what, x.reason));
        }
    }
    for w in &planned.warnings {
        g.info(format!("warning: {w}"));
    }
    report_calls(g, &s.aws);
    Ok((s, planned.plan))
}

fn report_calls(g: &Globals, aws: &crate::aws::Aws) {
    if g.verbose > 1 {
        for (op, st) in aws.op_stats() {
            g.info(format!(
                "api {op}: {} attempts, {} throttled, {} transient failures",
                st.attempts, st.throttled, st.transient
            ));
        }
    }
}

/// The changes on stdout (unified with `-u`); the summary line on stdout
/// (`apply`) or stderr (`diff`, and always with `-u`, so the diff pipes cleanly).
fn print_changes(g: &Globals, plan: &Plan, unified: bool, summary_on_stdout: bool) -> Result<()> {
    let m = masking(g, false);
    let ctx = view::plan_context(plan);
    let now = plan.preview_time(g.now);
    let text: String = plan
        .changes
        .iter()
        .map(|c| {
            if unified {
                view::unified_text(c, &ctx, &m, console::colors_enabled())
            } else {
                view::change_text(c, &ctx, &m, now) + "\n"
            }
        })
        .collect();
    let left_alone = view::left_alone_text(plan);
    if summary_on_stdout && !unified {
        print_stdout(&(text + &left_alone + &view::summary(plan) + "\n"))
    } else if unified {
        // stdout stays a pure unified diff (ending with a newline).
        print_stdout(&text)?;
        g.info(format!("{left_alone}{}", view::summary(plan)));
        Ok(())
    } else {
        print_stdout(&(text + &left_alone))?;
        g.info(view::summary(plan));
        Ok(())
    }
}

/// True when a question can be asked (stdin and stderr on a terminal, not --quiet).
fn interactive(g: &Globals) -> bool {
    !g.quiet && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn confirm(g: &Globals, question: &str) -> Result<bool> {
    // Without a terminal ecschedule proceeds; so do we (CI runs the seed's commands).
    if !interactive(g) {
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

/// SIGINT, SIGTERM and SIGHUP ask the apply to stop (calls in flight finish).
fn stop_on_signals() -> Arc<Stop> {
    let stop = Arc::new(Stop::new());
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
                            eprintln!(
                                "\nsignal {number}: finishing the calls in flight, then stopping"
                            );
                        }
                        stop.request(number);
                    }
                });
            }
        }
    }
    stop
}

/// Verifies and applies `plan` (under `lock` when there is one), printing each
/// result as it happens.
async fn execute(
    g: &Globals,
    aws: &crate::aws::Aws,
    plan: &Plan,
    name: &str,
    lock: (Option<&crate::aws::LockSpec>, &str),
) -> Result<Outcome> {
    let stop = stop_on_signals();
    let read_bar = output::progress_bar(g.quiet, "checking live state");
    let apply_bar = output::hidden_bar();
    let started = |n: usize| {
        read_bar.finish_and_clear();
        if n > 3 {
            output::show_bar(&apply_bar, g.quiet, "applying", n);
        }
    };
    let result = |c: &crate::plan::ResourceChange, o: &crate::apply::Outcome| {
        apply_bar.inc(1);
        apply_bar.suspend(|| g.info(Report::line(c, o)));
    };
    let info = |line: &str| read_bar.suspend(|| g.info(line));
    let events = ApplyEvents {
        reading: &|d, t| output::set_progress(&read_bar, d, t),
        started: &started,
        result: &result,
        info: &info,
    };
    let locking = ops::Locking {
        spec: lock.0,
        operation: lock.1.to_string(),
        wait: g.settings.lock_timeout,
    };
    let concurrency = g.settings.aws.concurrency;
    let outcome =
        ops::verify_and_execute(aws, plan, name, concurrency, &stop, &events, &locking).await;
    read_bar.finish_and_clear();
    apply_bar.finish_and_clear();
    report_calls(g, aws);
    match outcome? {
        Err(signal) => {
            g.info("Interrupted while checking the plan against live state: nothing was written.");
            Ok(Outcome::Code(128 + signal))
        }
        Ok(Applied::NothingToDo) => {
            g.info("No changes. Nothing to apply.");
            Ok(Outcome::Done)
        }
        Ok(Applied::Report(report)) => {
            g.info(report.closing_text().trim_end());
            if report.failed() {
                return Err(Error::ApplyFailed);
            }
            Ok(report
                .interrupted
                .map_or(Outcome::Done, |s| Outcome::Code(128 + s)))
        }
    }
}

fn apply_file(g: &Globals, path: &Path, dry_run: bool) -> Result<Outcome> {
    runtime()?.block_on(async {
        let (plan, aws, lock) = ops::open_plan(&g.settings, path, g.plan_key.as_deref()).await?;
        let name = path.display().to_string();
        if dry_run {
            let stop = stop_on_signals();
            if let Err(signal) = ops::verify(&aws, &plan, &name, &stop, &|_, _| {}).await? {
                return Ok(Outcome::Code(128 + signal));
            }
            print_stdout(&view::plan_text(&plan, &masking(g, false), g.now))?;
            g.info(format!(
                "Dry run: {name} still applies cleanly to live state; nothing was written."
            ));
            return Ok(Outcome::Done);
        }
        let operation = format!("apply {name}");
        execute(g, &aws, &plan, &name, (lock.as_ref(), &operation)).await
    })
}

fn claim_group(g: &Globals, group: &str, auto_approve: bool) -> Result<Outcome> {
    use crate::plan::claim::Claim;
    runtime()?.block_on(async {
        let s = ops::session(&g.settings).await?;
        let claim = ops::claim_group_check(&s, group).await?;
        let tracking = &claim.tracking_id;
        if claim.claim == Claim::AlreadyManaged {
            g.info(format!(
                "schedule group \"{group}\" is already managed for trackingId \"{tracking}\"; nothing to do."
            ));
            return Ok(Outcome::Done);
        }
        let mut text = format!(
            "schedule group \"{group}\" will be tagged ecschedule:tracking-id={tracking}: its schedules become managed for this config (apply --all --prune deletes those it does not declare).\n"
        );
        if claim.schedules.is_empty() {
            text.push_str("  (no schedules in it yet)\n");
        }
        for (name, target) in &claim.schedules {
            let whose = match target.as_deref() {
                Some(t) if t == s.desired.cluster_arn => String::new(),
                Some(t) => format!(" (targets {t}, not this config's cluster: left alone)"),
                None => " (no target: left alone)".to_string(),
            };
            text.push_str(&format!("  schedule.{group}/{name}{whose}\n"));
        }
        print_stdout(&text)?;
        // A new command, no ecschedule habit to keep: without a terminal, only --auto-approve.
        if !auto_approve && !interactive(g) {
            return Err(Error::Usage(format!(
                "claim-group asks before tagging schedule group \"{group}\"; without a terminal, pass --auto-approve"
            )));
        }
        if !auto_approve && !confirm(g, "Do you want to claim this group?")? {
            g.info("Claim cancelled.");
            return Ok(Outcome::Done);
        }
        ops::claim_group(&s, &claim).await?;
        g.info(format!(
            "  ✓ schedule group \"{group}\" tagged ecschedule:tracking-id={tracking}"
        ));
        Ok(Outcome::Done)
    })
}

/// The config, its templates' lookups in S3/SSM made (connecting on first use).
fn load_with_aws(g: &Globals) -> Result<crate::config::LoadedConfig> {
    runtime()?.block_on(async { g.settings.load(true) })
}

fn validate(g: &Globals, next: Option<usize>, remote: bool) -> Result<Outcome> {
    let cfg = if remote {
        load_with_aws(g)?
    } else {
        g.settings.load(false)?
    };
    let count = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    g.info(format!(
        "{}: valid ({}, {}){}",
        cfg.display,
        count(cfg.raw.rules.as_deref().unwrap_or_default().len(), "rule"),
        count(
            cfg.raw.schedules.as_deref().unwrap_or_default().len(),
            "schedule"
        ),
        if cfg.unchecked.is_empty() {
            String::new()
        } else {
            format!(
                "; not checked offline: {} in AWS (check them with `ecsched validate --remote`):",
                count(cfg.unchecked.len(), "lookup")
            )
        }
    ));
    for d in &cfg.unchecked {
        g.info(format!("  {d}"));
    }
    if let Some(n) = next {
        let now = g.now.unwrap_or_else(chrono::Utc::now);
        print_stdout(&crate::model::fire::listing(&cfg.raw, now, n))?;
    }
    Ok(Outcome::Done)
}

fn render(g: &Globals, json: bool, show_sensitive: bool) -> Result<Outcome> {
    let cfg = load_with_aws(g)?;
    let mut filled = crate::model::defaults::fill(&cfg.raw);
    if !show_sensitive {
        let m = masking(g, false);
        crate::model::defaults::mask_environment(&mut filled, &|k| m.is_sensitive(k));
    }
    if json {
        print_json(&filled)?;
    } else {
        let text = serde_saphyr::to_string(&filled)
            .map_err(|e| Error::io("encoding YAML", std::io::Error::other(e.to_string())))?;
        print_stdout(&text)?;
    }
    Ok(Outcome::Done)
}

fn dump(g: &Globals, cluster: Option<&str>, role: Option<&str>) -> Result<Outcome> {
    runtime()?.block_on(async {
        let bar = output::progress_bar(g.quiet, "reading live state");
        let dumped = ops::dump(&g.settings, cluster, role, &|d, t| {
            output::set_progress(&bar, d, t)
        })
        .await;
        bar.finish_and_clear();
        let dumped = dumped?;
        for n in &dumped.notes {
            g.info(n);
        }
        if g.verbose > 0 {
            for x in &dumped.skipped {
                g.info(format!("{}: skipped: {}", x.what, x.reason));
            }
        }
        let text = serde_saphyr::to_string(&dumped.config)
            .map_err(|e| Error::io("encoding YAML", std::io::Error::other(e.to_string())))?;
        print_stdout(&text)?;
        Ok(Outcome::Done)
    })
}

fn run(
    g: &Globals,
    target: Target<'_>,
    wait: bool,
    timeout: std::time::Duration,
    dry_run: bool,
) -> Result<Outcome> {
    runtime()?.block_on(async {
        let s = ops::session(&g.settings).await?;
        let (label, targets) = ops::run_targets(&s, target)?;
        g.info(format!(
            "running the {label}{}",
            if dry_run { " (dry-run)" } else { "" }
        ));
        if dry_run {
            return Ok(Outcome::Done);
        }
        let started = ops::run_tasks(&s, &targets).await?;
        for a in started.iter().flat_map(|(_, arns)| arns) {
            g.info(format!("started task {a}"));
        }
        if !wait {
            return Ok(Outcome::Done);
        }
        let mut code = 0;
        for o in ops::wait_tasks(&s, &started, timeout).await? {
            g.info(format!(
                "task {} {}: exit code {}{}",
                o.task_arn,
                o.last_status,
                o.exit_code.map_or("unknown".to_string(), |c| c.to_string()),
                o.stopped_reason
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
            if code == 0 {
                code = o.exit_code.unwrap_or(1);
            }
        }
        Ok(Outcome::Code(code))
    })
}
