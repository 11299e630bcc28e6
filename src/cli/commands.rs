//! One function per command: turn its flags (a clap struct) into library
//! calls, print the results, ask for confirmation on a terminal. No business
//! rule lives here.

use std::path::Path;

use super::args::{self, Command};
use super::{Globals, Outcome};
use crate::error::{Error, Result};
use crate::ops::{self, Applied, Target};
use crate::output::{self, ApplyBars};
use crate::plan::{Plan, PlanSelection, markdown, view};

pub async fn dispatch(g: &Globals, command: Command) -> Result<Outcome> {
    match command {
        Command::Validate(a) => validate(g, a),
        Command::Render(a) => render(g, a),
        Command::Schema(a) => {
            print_json(&if a.plan {
                view::plan_schema()
            } else {
                crate::config::raw::config_schema()
            })?;
            Ok(Outcome::Done)
        }
        Command::Completion(a) => {
            let mut buf = Vec::new();
            let mut cmd = <args::Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "ecsched", &mut buf);
            print(&String::from_utf8_lossy(&buf))?;
            Ok(Outcome::Done)
        }
        Command::Dump(a) => dump(g, a).await,
        Command::Diff(a) => diff(g, a).await,
        Command::Plan(a) => plan(g, a).await,
        Command::Apply(a) => match &a.plan_file {
            Some(path) => apply_file(g, path, a.dry_run).await,
            None => apply(g, a).await,
        },
        Command::Show(a) => show(g, a),
        Command::ClaimGroup(a) => claim_group(g, a).await,
        Command::Run(a) => run(g, a).await,
        Command::Delete(a) => delete(g, a).await,
        Command::Unlock(a) => {
            let (spec, info) = ops::unlock(&g.settings, &a.lock_id).await?;
            let held = info.describe(chrono::Utc::now());
            g.info(format!("Broke the lock {spec}: it was {held}."));
            Ok(Outcome::Done)
        }
    }
}

fn print(text: &str) -> Result<()> {
    output::print_stdout(text).map_err(|e| Error::io("writing to stdout", e))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::io("encoding JSON", e.into()))?;
    print(&(text + "\n"))
}

fn print_yaml<T: serde::Serialize>(v: &T) -> Result<()> {
    let text = serde_saphyr::to_string(v)
        .map_err(|e| Error::io("encoding YAML", std::io::Error::other(e.to_string())))?;
    print(&text)
}

/// True when the user said yes to `question` (or passed `--auto-approve`);
/// otherwise `what` is reported cancelled.
fn approved(g: &Globals, auto_approve: bool, question: &str, what: &str) -> Result<bool> {
    let yes = auto_approve
        || output::confirm(question).map_err(|e| Error::io("reading the answer", e))?;
    if !yes {
        g.info(format!("{what} cancelled."));
    }
    Ok(yes)
}

/// `-v`: what the read skipped, and why.
fn report_skipped(g: &Globals, skipped: &[crate::plan::Skipped]) {
    if g.verbose > 0 {
        for x in skipped {
            g.info(format!("{}: skipped: {}", x.what, x.reason));
        }
    }
}

fn masking(g: &Globals, show_sensitive: bool) -> view::Masking {
    view::Masking::new(&g.sensitive_patterns, show_sensitive)
}

fn selection(sel: &args::Selection) -> Result<PlanSelection> {
    let sel = sel.plan_selection();
    sel.check()?;
    Ok(sel)
}

fn target<'a>(t: &'a args::OneTarget, verb: &str) -> Result<Target<'a>> {
    match (t.rule.as_deref(), t.schedule.as_deref()) {
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

fn print_markdown(
    g: &Globals,
    plan: &Plan,
    a: &args::MarkdownArgs,
    m: &view::Masking,
    file: Option<String>,
) -> Result<()> {
    let opts = markdown::Options {
        masking: m,
        now: g.now,
        max_size: usize::try_from(a.max_size).unwrap_or(usize::MAX),
        plan_file: file,
    };
    print(&markdown::render(plan, &opts))
}

/// Session and plan, with the planner's warnings and (with -v) what was skipped.
async fn planned(g: &Globals, sel: PlanSelection, takeover: bool) -> Result<(ops::Session, Plan)> {
    let s = ops::session(&g.settings).await?;
    let bar = output::progress_bar(g.quiet, "reading live state");
    let planned = ops::make_plan(&s, sel, takeover, &|d, t| output::set_progress(&bar, d, t)).await;
    bar.finish_and_clear();
    let planned = planned?;
    report_skipped(g, &planned.skipped);
    for w in &planned.warnings {
        g.info(format!("warning: {w}"));
    }
    report_calls(g, &s.aws);
    Ok((s, planned.plan))
}

fn report_calls(g: &Globals, aws: &crate::aws::Aws) {
    if g.verbose > 1 {
        for (op, stats) in aws.op_stats() {
            g.info(format!("api {op}: {stats}"));
        }
    }
}

fn print_changes(g: &Globals, plan: &Plan, unified: bool, summary_on_stdout: bool) -> Result<()> {
    let m = masking(g, false);
    let (out, err) = view::changes_output(plan, &m, g.now, unified, summary_on_stdout);
    print(&out)?;
    if !err.is_empty() {
        g.info(err);
    }
    Ok(())
}

async fn diff(g: &Globals, a: args::DiffArgs) -> Result<Outcome> {
    let sel = selection(&a.selection)?;
    let (_, plan) = planned(g, sel, false).await?;
    print_changes(g, &plan, a.unified, false)?;
    Ok(exit_for_changes(&plan, a.detailed_exitcode))
}

async fn plan(g: &Globals, a: args::PlanArgs) -> Result<Outcome> {
    let sel = selection(&a.selection)?;
    let (_, plan) = planned(g, sel, a.takeover).await?;
    let m = masking(g, a.show_sensitive);
    if a.json {
        print_json(&view::plan_json(&plan, &m, g.now))?;
    } else if a.markdown.markdown {
        let file = a.out.as_ref().map(|p| p.display().to_string());
        print_markdown(g, &plan, &a.markdown, &m, file)?;
    } else {
        print(&view::plan_text(&plan, &m, g.now))?;
    }
    if let Some(path) = &a.out {
        let names = m.sensitive_names(&plan);
        if g.plan_key.is_none() && !names.is_empty() {
            g.info(format!(
                "warning: the plan file holds sensitive values in clear ({}); set ECSCHED_PLAN_KEY to encrypt plan files",
                names.join(", ")
            ));
        }
        crate::plan::file::save(path, &plan, g.plan_key.as_deref()).map_err(Error::PlanWrite)?;
        let how = if g.plan_key.is_some() {
            " (signed and encrypted)"
        } else {
            ""
        };
        let p = path.display();
        g.info(format!(
            "Saved the plan to {p}{how}. Apply it with: ecsched apply {p}"
        ));
    }
    Ok(exit_for_changes(&plan, a.detailed_exitcode))
}

async fn apply(g: &Globals, a: args::ApplyArgs) -> Result<Outcome> {
    let sel = selection(&a.selection)?;
    let (s, plan) = planned(g, sel, a.takeover).await?;
    print_changes(g, &plan, a.unified, true)?;
    if !plan.has_work() {
        return Ok(Outcome::Done);
    }
    ops::check_direct_apply(&plan)?;
    if a.dry_run {
        g.info("Dry run: nothing was written.");
        return Ok(Outcome::Done);
    }
    approve_and_execute(g, &s, &plan, a.auto_approve, &APPLY).await
}

fn show(g: &Globals, a: args::ShowArgs) -> Result<Outcome> {
    let plan = crate::plan::file::read(&a.plan_file, g.plan_key.as_deref())?;
    let m = masking(g, a.show_sensitive);
    let file = a.plan_file.display().to_string();
    if a.json {
        print_json(&view::plan_json(&plan, &m, g.now))?;
    } else if a.markdown.markdown {
        print_markdown(g, &plan, &a.markdown, &m, Some(file))?;
    } else {
        print(&(view::show_header(&plan, &file) + &view::plan_text(&plan, &m, g.now)))?;
    }
    Ok(Outcome::Done)
}

async fn delete(g: &Globals, a: args::DeleteArgs) -> Result<Outcome> {
    let target = target(&a.target, "delete")?;
    let s = ops::session(&g.settings).await?;
    let plan = ops::delete_plan(&s, target, a.force).await?;
    print(&view::plan_text(&plan, &masking(g, false), g.now))?;
    approve_and_execute(g, &s, &plan, a.auto_approve, &DELETE).await
}

/// How a direct write (`apply --all`, `delete`) asks, is named in messages,
/// and shows itself to whoever finds the lock taken.
struct Write {
    question: &'static str,
    cancelled: &'static str,
    name: &'static str,
    operation: &'static str,
}

const APPLY: Write = Write {
    question: "Do you want to perform these actions?",
    cancelled: "Apply",
    name: "the plan",
    operation: "apply",
};

const DELETE: Write = Write {
    question: "Do you really want to delete it?",
    cancelled: "Delete",
    name: "the delete",
    operation: "delete",
};

async fn approve_and_execute(
    g: &Globals,
    s: &ops::Session,
    plan: &Plan,
    auto_approve: bool,
    w: &Write,
) -> Result<Outcome> {
    if !approved(g, auto_approve, w.question, w.cancelled)? {
        return Ok(Outcome::Done);
    }
    let lock = s.lock.as_ref().map(|l| (l, w.operation));
    execute(g, &s.aws, plan, w.name, lock).await
}

fn signalled(number: i32) {
    eprintln!("\nsignal {number}: finishing the calls in flight, then stopping");
}

/// Verifies and applies `plan` (under `lock` when there is one), printing each
/// result as it happens.
async fn execute(
    g: &Globals,
    aws: &crate::aws::Aws,
    plan: &Plan,
    name: &str,
    lock: Option<(&crate::aws::LockSpec, &str)>,
) -> Result<Outcome> {
    let stop = ops::stop_on_signals(signalled);
    let bars = ApplyBars::new(g.quiet);
    let outcome = ops::verify_and_execute(aws, plan, name, &g.settings, lock, &stop, &bars).await;
    bars.finish();
    report_calls(g, aws);
    match outcome? {
        Err(signal) => {
            g.info("Interrupted while checking the plan against live state: nothing was written.");
            Ok(Outcome::Interrupted(signal))
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
                .map_or(Outcome::Done, Outcome::Interrupted))
        }
    }
}

async fn apply_file(g: &Globals, path: &Path, dry_run: bool) -> Result<Outcome> {
    let (plan, aws, lock) = ops::open_plan(&g.settings, path, g.plan_key.as_deref()).await?;
    let name = path.display().to_string();
    if dry_run {
        let stop = ops::stop_on_signals(signalled);
        if let Err(signal) = ops::dry_run(&aws, &plan, &name, lock.as_ref(), &stop).await? {
            return Ok(Outcome::Interrupted(signal));
        }
        print(&view::plan_text(&plan, &masking(g, false), g.now))?;
        g.info(format!(
            "Dry run: {name} still applies cleanly to live state; nothing was written."
        ));
        return Ok(Outcome::Done);
    }
    let operation = format!("apply {name}");
    execute(
        g,
        &aws,
        &plan,
        &name,
        lock.as_ref().map(|l| (l, &*operation)),
    )
    .await
}

async fn claim_group(g: &Globals, a: args::ClaimGroupArgs) -> Result<Outcome> {
    use crate::plan::claim::Claim;
    let group = &a.group;
    let s = ops::session(&g.settings).await?;
    let claim = ops::claim_group_check(&s, group).await?;
    let tracking = &claim.tracking_id;
    if claim.claim == Claim::AlreadyManaged {
        g.info(format!(
            "schedule group \"{group}\" is already managed for trackingId \"{tracking}\"; nothing to do."
        ));
        return Ok(Outcome::Done);
    }
    let cluster = &s.desired.cluster_arn;
    let text = crate::plan::claim::describe(group, tracking, cluster, &claim.schedules);
    print(&text)?;
    // A new command, no ecschedule habit to keep: without a terminal, only --auto-approve.
    if !a.auto_approve && !output::interactive() {
        return Err(Error::Usage(format!(
            "claim-group asks before tagging schedule group \"{group}\"; without a terminal, pass --auto-approve"
        )));
    }
    if !approved(
        g,
        a.auto_approve,
        "Do you want to claim this group?",
        "Claim",
    )? {
        return Ok(Outcome::Done);
    }
    ops::claim_group(&s, &claim).await?;
    g.info(format!(
        "  ✓ schedule group \"{group}\" tagged ecschedule:tracking-id={tracking}"
    ));
    Ok(Outcome::Done)
}

fn validate(g: &Globals, a: args::ValidateArgs) -> Result<Outcome> {
    // With --remote, the templates' lookups in S3/SSM are made (connecting on first use).
    let cfg = g.settings.load(a.remote)?;
    let count = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let rules = count(cfg.raw.rules.as_deref().unwrap_or_default().len(), "rule");
    let schedules = count(
        cfg.raw.schedules.as_deref().unwrap_or_default().len(),
        "schedule",
    );
    let unchecked = match cfg.unchecked.len() {
        0 => String::new(),
        n => format!(
            "; not checked offline: {} in AWS (check them with `ecsched validate --remote`):",
            count(n, "lookup")
        ),
    };
    g.info(format!(
        "{}: valid ({rules}, {schedules}){unchecked}",
        cfg.display
    ));
    for d in &cfg.unchecked {
        g.info(format!("  {d}"));
    }
    if let Some(n) = a.next {
        let now = g.now.unwrap_or_else(chrono::Utc::now);
        print(&crate::model::fire::listing(&cfg.raw, now, n))?;
    }
    Ok(Outcome::Done)
}

fn render(g: &Globals, a: args::RenderArgs) -> Result<Outcome> {
    let cfg = g.settings.load(true)?;
    let mut filled = crate::model::defaults::fill(&cfg.raw);
    if !a.show_sensitive {
        let m = masking(g, false);
        crate::model::defaults::mask_environment(&mut filled, &|k| m.is_sensitive(k));
    }
    if a.json {
        print_json(&filled)
    } else {
        print_yaml(&filled)
    }?;
    Ok(Outcome::Done)
}

async fn dump(g: &Globals, a: args::DumpArgs) -> Result<Outcome> {
    let bar = output::progress_bar(g.quiet, "reading live state");
    let progress = |d, t| output::set_progress(&bar, d, t);
    let dumped = ops::dump(
        &g.settings,
        a.cluster.as_deref(),
        a.role.as_deref(),
        &progress,
    )
    .await;
    bar.finish_and_clear();
    let dumped = dumped?;
    for n in &dumped.notes {
        g.info(n);
    }
    report_skipped(g, &dumped.skipped);
    print_yaml(&dumped.config)?;
    Ok(Outcome::Done)
}

async fn run(g: &Globals, a: args::RunArgs) -> Result<Outcome> {
    let target = target(&a.target, "run")?;
    let s = ops::session(&g.settings).await?;
    let (label, targets) = ops::run_targets(&s, target)?;
    g.info(format!(
        "running the {label}{}",
        if a.dry_run { " (dry-run)" } else { "" }
    ));
    if a.dry_run {
        return Ok(Outcome::Done);
    }
    let started = ops::run_tasks(&s, &targets).await?;
    for arn in started.iter().flat_map(|(_, arns)| arns) {
        g.info(format!("started task {arn}"));
    }
    if !a.wait {
        return Ok(Outcome::Done);
    }
    let outcomes = ops::wait_tasks(&s, &started, a.timeout).await?;
    for o in &outcomes {
        g.info(o.to_string());
    }
    // The first task that did not exit 0 decides (1 when ECS reported no code).
    let codes = outcomes.iter().map(|o| o.exit_code.unwrap_or(1));
    Ok(Outcome::Code(
        codes.into_iter().find(|c| *c != 0).unwrap_or(0),
    ))
}
