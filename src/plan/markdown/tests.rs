//! Post-processing checks on the Markdown view: balanced fences and
//! `<details>`, the size limit at 1, 50, 200 and 2,000 resources, masked
//! secrets, values that try to break out of a fence.

use std::collections::BTreeMap;

use super::*;
use crate::model::{
    Address, ContainerOverride, EcsTarget, RetryPolicy, Rule, State, Target, TaskOverrides,
};
use crate::plan::{LeftAloneReason, PlanSelection, Resource};

const CLUSTER: &str = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/app";

fn rule(name: &str, expr: &str, env: &[(&str, &str)], command: Option<Vec<&str>>) -> Rule {
    Rule {
        name: name.into(),
        event_bus: "default".into(),
        description: String::new(),
        schedule_expression: expr.into(),
        state: State::Enabled,
        role_arn: None,
        event_pattern: None,
        tags: BTreeMap::new(),
        targets: vec![Target {
            id: name.into(),
            ecs: EcsTarget {
                cluster_arn: CLUSTER.into(),
                role_arn: "arn:aws:iam::123456789012:role/ecsEventsRole".into(),
                task_definition_arn:
                    "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/job:1".into(),
                task_count: 1,
                overrides: TaskOverrides {
                    containers: vec![ContainerOverride {
                        name: "app".into(),
                        command: command.map(|c| c.into_iter().map(String::from).collect()),
                        environment: env
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        ..ContainerOverride::default()
                    }],
                    ..TaskOverrides::default()
                },
                ..EcsTarget::default()
            },
            dead_letter_arn: None,
            retry_policy: RetryPolicy::default(),
        }],
    }
}

fn change(action: Action, before: Option<Rule>, after: Option<Rule>) -> ResourceChange {
    let address = before
        .as_ref()
        .or(after.as_ref())
        .map(Rule::address)
        .unwrap();
    ResourceChange {
        address,
        action,
        before: before.map(Resource::Rule),
        after: after.map(Resource::Rule),
        adopts_unmanaged: false,
        takeover_from: None,
        tag_only: false,
        notes: vec![],
    }
}

fn plan(changes: Vec<ResourceChange>, left_alone: Vec<LeftAlone>) -> Plan {
    Plan {
        plan_id: "0123456789abcdef0123456789abcdef".into(),
        tool_version: "0.1.0".into(),
        created_at: "2026-12-01T12:00:00Z".into(),
        account_id: "123456789012".into(),
        partition: "aws".into(),
        region: "ap-northeast-1".into(),
        cluster_arn: CLUSTER.into(),
        tracking_id: "app".into(),
        config_path: "ecsched.yaml".into(),
        config_digest: "ab".repeat(32),
        selection: PlanSelection {
            all: true,
            ..PlanSelection::default()
        },
        changes,
        fingerprints: vec![],
        managed_seen: vec![],
        takeover: false,
        left_alone,
        lock: None,
    }
}

/// `n` creates of rules with a realistic body.
fn creates(n: usize) -> Plan {
    plan(
        (0..n)
            .map(|i| {
                let r = rule(
                    &format!("job-{i:04}"),
                    "cron(0 10 * * ? *)",
                    &[("MODE", "batch"), ("DB_PASSWORD", "hunter2")],
                    Some(vec!["run", "--all"]),
                );
                change(Action::Create, None, Some(r))
            })
            .collect(),
        vec![],
    )
}

fn render_with(p: &Plan, max_size: usize) -> String {
    let m = Masking::new(&[], false);
    render(
        p,
        &Options {
            masking: &m,
            now: None,
            max_size,
            plan_file: Some("plan.bin".into()),
        },
    )
}

/// The lines of `doc` outside fenced code blocks.
fn outside_fences(doc: &str) -> String {
    let mut fence: Option<usize> = None;
    let mut out = String::new();
    for line in doc.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match fence {
            Some(n) if ticks >= n && line.trim_end().chars().all(|c| c == '`') => fence = None,
            Some(_) => {}
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Fences open and close in pairs, `<details>` and `</details>` balance
/// outside fences, and the document does not end inside a fence.
#[track_caller]
fn assert_well_formed(doc: &str) {
    let mut fence: Option<usize> = None;
    let (mut open, mut close) = (0, 0);
    for line in doc.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match fence {
            Some(n) if ticks >= n && line.trim_end().chars().all(|c| c == '`') => fence = None,
            Some(_) => {}
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                open += line.matches("<details").count();
                close += line.matches("</details>").count();
            }
        }
    }
    assert_eq!(fence, None, "the document ends inside a fence:\n{doc}");
    assert_eq!(open, close, "unbalanced <details>:\n{doc}");
}

#[test]
fn one_resource_in_full() {
    let doc = render_with(&creates(1), DEFAULT_MAX_SIZE);
    assert_well_formed(&doc);
    assert!(
        doc.starts_with("### ecsched plan: 1 to add, 0 to change, 0 to destroy\n"),
        "{doc}"
    );
    assert!(doc.contains("| 1 | 0 | 0 | 0 | 0 | 0 |\n"), "{doc}");
    assert!(
        doc.contains("<details><summary><code>+ rule.job-0000</code> will be created</summary>\n"),
        "{doc}"
    );
    assert!(
        doc.contains("```diff\n+ name: job-0000\n+ scheduleExpression: cron(0 10 * * ? *)\n"),
        "{doc}"
    );
    // Fire times from the plan time, in UTC for a rule.
    assert!(
        doc.contains(
            "- fires after: 2026-12-02 10:00 UTC, 2026-12-03 10:00 UTC, 2026-12-04 10:00 UTC\n"
        ),
        "{doc}"
    );
    assert!(!doc.contains("[!NOTE]"), "nothing was cut: {doc}");
    assert!(!doc.contains('\u{1b}'), "no ANSI: {doc:?}");
}

#[test]
fn fifty_resources_fit_in_full() {
    let doc = render_with(&creates(50), DEFAULT_MAX_SIZE);
    assert_well_formed(&doc);
    assert!(doc.chars().count() <= DEFAULT_MAX_SIZE);
    assert_eq!(doc.matches("<details><summary>").count(), 50);
    assert!(!doc.contains("[!NOTE]"), "nothing was cut");
}

#[test]
fn two_hundred_resources_fall_back_to_one_line_each_where_needed() {
    let doc = render_with(&creates(200), DEFAULT_MAX_SIZE);
    assert_well_formed(&doc);
    let size = doc.chars().count();
    assert!(size <= DEFAULT_MAX_SIZE, "{size}");
    let full = doc.matches("<details><summary>").count();
    let short = doc.matches("\n- `+ rule.job-").count();
    assert!(full > 0 && short > 0, "{full} full, {short} one-line");
    assert_eq!(full + short, 200);
    assert!(
        doc.contains(&format!(
            "> {short} of 200 changes are shown as one line each to keep this comment under 60000 characters. See everything with `ecsched show plan.bin`.\n"
        )),
        "{doc}"
    );
}

#[test]
fn two_thousand_resources_fall_back_to_the_summary() {
    let doc = render_with(&creates(2000), DEFAULT_MAX_SIZE);
    assert_well_formed(&doc);
    assert!(doc.chars().count() <= DEFAULT_MAX_SIZE);
    assert!(doc.starts_with("### ecsched plan: 2000 to add, 0 to change, 0 to destroy\n"));
    assert!(!doc.contains("rule.job-"), "no resource listed");
    assert!(
        doc.contains("> The 2000 changes are not listed to keep this comment under 60000 characters. See everything with `ecsched show plan.bin`.\n"),
        "{doc}"
    );
}

#[test]
fn the_limit_is_respected_at_every_size() {
    for n in [1, 50, 2000] {
        let p = creates(n);
        for max in [2_000, 10_000, DEFAULT_MAX_SIZE] {
            let doc = render_with(&p, max);
            assert_well_formed(&doc);
            assert!(
                doc.chars().count() <= max,
                "{n} resources, limit {max}: {}",
                doc.chars().count()
            );
        }
    }
}

#[test]
fn destroys_are_open_and_kept_in_full_first() {
    let mut changes: Vec<ResourceChange> = creates(120).changes;
    changes.push(change(
        Action::Delete,
        Some(rule("zz-old", "rate(1 day)", &[], None)),
        None,
    ));
    let doc = render_with(&plan(changes, vec![]), 20_000);
    assert_well_formed(&doc);
    assert!(
        doc.contains(
            "<details open><summary><code>- rule.zz-old</code> will be destroyed</summary>\n"
        ),
        "{doc}"
    );
    assert!(
        doc.contains("- fires before: 2026-12-02 12:00 UTC"),
        "{doc}"
    );
}

#[test]
fn secrets_are_masked_and_a_changed_secret_shows() {
    let before = rule(
        "db",
        "rate(1 day)",
        &[("DB_PASSWORD", "hunter2"), ("MODE", "a")],
        None,
    );
    let after = rule(
        "db",
        "rate(1 day)",
        &[("DB_PASSWORD", "correct horse"), ("MODE", "a")],
        None,
    );
    let doc = render_with(
        &plan(
            vec![change(Action::Update, Some(before), Some(after))],
            vec![],
        ),
        DEFAULT_MAX_SIZE,
    );
    assert_well_formed(&doc);
    assert!(
        !doc.contains("hunter2") && !doc.contains("correct horse"),
        "{doc}"
    );
    assert!(
        doc.contains("-     DB_PASSWORD: (sensitive value)\n"),
        "{doc}"
    );
    assert!(
        doc.contains("+     DB_PASSWORD: (sensitive value changed)\n"),
        "{doc}"
    );
    // The firing does not change: no preview.
    assert!(!doc.contains("fires"), "{doc}");
}

#[test]
fn values_cannot_break_out_of_the_fence_or_the_markup() {
    let evil = rule(
        "evil",
        "rate(1 day)",
        &[("NOTE", "```\n</details><script>x</script>")],
        Some(vec!["sh", "-c", "echo ````` | `x`"]),
    );
    let mut c = change(Action::Create, None, Some(evil));
    c.notes
        .push("a <b>note</b> with `ticks` and | pipes".into());
    let left = vec![LeftAlone {
        address: Address::rule("hand-made"),
        reason: LeftAloneReason::OtherTrackingId {
            tracking_id: "x</details>`<img src=x>".into(),
        },
    }];
    let doc = render_with(&plan(vec![c], left), DEFAULT_MAX_SIZE);
    assert_well_formed(&doc);
    // The fence is longer than the longest backtick run inside it.
    assert!(doc.contains("\n``````diff\n"), "{doc}");
    // Inside the fence the value is code; outside, no markup survives.
    assert!(
        doc.contains("+       </details><script>x</script>\n"),
        "{doc}"
    );
    let markup = outside_fences(&doc);
    assert!(
        !markup.contains("<script>") && !markup.contains("<img") && !markup.contains("<b>"),
        "{markup}"
    );
    assert!(
        doc.contains("a &lt;b&gt;note&lt;/b&gt; with \\`ticks\\` and \\| pipes"),
        "{doc}"
    );
}

#[test]
fn left_alone_is_listed_and_counted_apart() {
    let left = vec![
        LeftAlone {
            address: Address::rule("hand-made"),
            reason: LeftAloneReason::Unmanaged,
        },
        LeftAlone {
            address: Address::rule("old"),
            reason: LeftAloneReason::WouldPrune,
        },
    ];
    let doc = render_with(&plan(vec![], left), DEFAULT_MAX_SIZE);
    assert_well_formed(&doc);
    assert!(doc.starts_with("### ecsched plan: no changes\n"), "{doc}");
    assert!(doc.contains("| 0 | 0 | 0 | 0 | 0 | 2 |\n"), "{doc}");
    assert!(
        doc.contains(
            "<details><summary>Left alone: 2 resources (in neither add, change nor destroy)</summary>\n\n\
             - `rule.old`: managed, no longer in the config: would be deleted with --prune\n\
             - `rule.hand-made`: not managed by ecsched \\(no ecschedule:tracking-id tag\\)\n"
        ),
        "{doc}"
    );
}
