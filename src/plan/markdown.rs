//! The pull-request comment view of a plan (`show PLAN --markdown`, `plan
//! --markdown`), as tfcmt/Atlantis post for Terraform: a header line, a
//! summary table, one collapsible section per resource (opened for destroys)
//! with the changed lines in a `diff` fence, the notes and the next fire times,
//! and what the plan leaves alone. The content is the human view's (`view`),
//! masked the same way, without ANSI. Stays under a size limit (GitHub rejects
//! comments over 65,536 characters): resources fall back to one line each,
//! then to the summary only, and the document says what was cut and how to
//! see it all. Every user-controlled string is escaped; fences are longer than
//! any backtick run they hold, so nothing breaks out of them. Pure.

use chrono::{DateTime, Utc};

use super::view::{self, Masking};
use super::{Action, LeftAlone, Plan, ResourceChange};
use crate::model::AccountContext;

/// Default `--max-size`: under GitHub's 65,536-character comment limit with room to spare.
pub const DEFAULT_MAX_SIZE: usize = 60_000;

/// How to render.
pub struct Options<'a> {
    pub masking: &'a Masking,
    /// Fire times count from here (else the plan time).
    pub now: Option<DateTime<Utc>>,
    /// The document's size limit in characters.
    pub max_size: usize,
    /// The plan file, for "see it all with `ecsched show FILE`".
    pub plan_file: Option<String>,
}

/// Appends `ch` as HTML-safe text: `&`, `<`, `>` as entities, line breaks as
/// spaces (one line), `"` as an entity when `quote`.
fn push_html(out: &mut String, ch: char, quote: bool) {
    match ch {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' if quote => out.push_str("&quot;"),
        '\n' | '\r' => out.push(' '),
        _ => out.push(ch),
    }
}

/// `s` for HTML text (also safe as Markdown text: no tag, no entity survives).
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        push_html(&mut out, ch, true);
    }
    out
}

/// `s` as Markdown text: punctuation that Markdown interprets is escaped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(
            ch,
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' | '(' | ')'
        ) {
            out.push('\\');
            out.push(ch);
        } else {
            push_html(&mut out, ch, false);
        }
    }
    out
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// `s` as an inline code span, delimited by more backticks than it holds.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let ticks = "`".repeat(longest_backtick_run(&s) + 1);
    if s.starts_with('`') || s.ends_with('`') || s.starts_with(' ') || s.ends_with(' ') {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

/// A fenced code block of `info` holding `body` (which ends with a newline),
/// fenced with more backticks than any run in it: it cannot close early.
fn fenced(info: &str, body: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(body) + 1).max(3));
    let mut out = format!("{fence}{info}\n{body}");
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The title, the header line, the summary table and sentence.
fn head(plan: &Plan) -> String {
    let (add, change, destroy) = plan.counts();
    let title = if plan.has_changes() {
        format!("{add} to add, {change} to change, {destroy} to destroy")
    } else {
        "no changes".to_string()
    };
    let digest: String = plan.config_digest.chars().take(12).collect();
    let mut out = format!("### ecsched plan: {title}\n\n");
    out.push_str(&format!(
        "account {} · region {} · cluster {} · trackingId {} · ecsched {} · plan time {} · plan {} · config {} (sha256 {})\n\n",
        code(&plan.account_id),
        code(&plan.region),
        code(&cluster_name(&plan.cluster_arn)),
        code(&plan.tracking_id),
        code(&plan.tool_version),
        code(&plan.created_at),
        code(&plan.plan_id),
        code(&plan.config_path),
        code(&digest),
    ));
    out.push_str(
        "| to add | to change | to destroy | tag-only adoptions | takeovers | left alone |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {add} | {change} | {destroy} | {} | {} | {} |\n\n",
        plan.tag_only_count(),
        plan.takeovers().len(),
        plan.left_alone.len()
    ));
    // The summary sentence only when it says more than the table.
    if plan.tag_only_count() > 0 || !plan.takeovers().is_empty() {
        out.push_str(&format!("{}\n\n", text(&view::summary(plan))));
    }
    out
}

/// The cluster's name from its ARN (the ARN itself when it has none).
fn cluster_name(arn: &str) -> String {
    arn.rsplit_once('/')
        .map_or(arn, |(_, name)| name)
        .to_string()
}

/// `+ rule.x` in code, then what happens, as HTML (for `<summary>`).
fn summary_html(c: &ResourceChange) -> String {
    let (sign, what) = view::verb(c);
    format!(
        "<code>{sign} {}</code> {}",
        html(&c.address.to_string()),
        html(&what)
    )
}

/// A resource's full section: collapsible (open for destroys), the notes,
/// the changed lines, the fire times.
fn full_section(
    c: &ResourceChange,
    ctx: &AccountContext,
    o: &Options,
    now: Option<DateTime<Utc>>,
) -> String {
    let open = if c.action == Action::Delete {
        " open"
    } else {
        ""
    };
    let mut out = format!("<details{open}><summary>{}</summary>\n\n", summary_html(c));
    for n in &c.notes {
        out.push_str(&format!("- ⚠️ {}\n", text(n)));
    }
    if !c.notes.is_empty() {
        out.push('\n');
    }
    let diff = view::diff_lines(c, ctx, o.masking, false);
    if !diff.is_empty() {
        out.push_str(&fenced("diff", &diff));
        out.push('\n');
    }
    if let Some(p) = now.and_then(|t| c.fire_preview(t)) {
        for line in view::fire_lines(&p) {
            out.push_str(&format!("- {}\n", text(&line)));
        }
        out.push('\n');
    }
    out.push_str("</details>\n\n");
    out
}

/// A resource in one line.
fn compact_line(c: &ResourceChange) -> String {
    let (sign, what) = view::verb(c);
    format!(
        "- {} {}\n",
        code(&format!("{sign} {}", c.address)),
        text(&what)
    )
}

fn left_alone_full(all: &[&LeftAlone]) -> String {
    let mut out = format!(
        "<details><summary>Left alone: {} (in neither add, change nor destroy)</summary>\n\n",
        plural(all.len(), "resource", "resources")
    );
    for l in all {
        out.push_str(&format!(
            "- {}: {}\n",
            code(&l.address.to_string()),
            text(&l.reason.to_string())
        ));
    }
    out.push_str("\n</details>\n\n");
    out
}

fn left_alone_count(all: &[&LeftAlone]) -> String {
    let prune = all.iter().filter(|l| l.reason.would_prune()).count();
    format!(
        "Left alone: {} (in neither add, change nor destroy; {} would be deleted with `--prune`).\n\n",
        plural(all.len(), "resource", "resources"),
        prune
    )
}

/// The note on what was cut, and how to see everything.
fn footer(o: &Options, cut: &str) -> String {
    let how = match &o.plan_file {
        Some(f) => code(&format!("ecsched show {f}")),
        None => "`ecsched plan` (or `ecsched show PLANFILE`)".to_string(),
    };
    format!(
        "> [!NOTE]\n> {cut} to keep this comment under {} characters. See everything with {how}.\n",
        o.max_size
    )
}

/// The pull-request comment for `plan`.
pub fn render(plan: &Plan, o: &Options) -> String {
    let ctx = plan.context();
    let now = plan.preview_time(o.now);
    let head = head(plan);
    let left = plan.left_alone_sorted();
    let full: Vec<String> = plan
        .changes
        .iter()
        .map(|c| full_section(c, &ctx, o, now))
        .collect();
    let compact: Vec<String> = plan.changes.iter().map(compact_line).collect();
    let (left_full, left_short) = if left.is_empty() {
        (String::new(), String::new())
    } else {
        (left_alone_full(&left), left_alone_count(&left))
    };
    let n = plan.changes.len();
    // The longest footer this document could need, reserved up front.
    let worst_footer = chars(&footer(
        o,
        &format!(
            "{n} of {n} changes are shown as one line each and the list of what is left alone is shortened to a count"
        ),
    ));

    let assemble = |use_full: &[bool], left_listed: bool| -> String {
        let mut out = head.clone();
        // One-line entries form lists; a blank line ends each list.
        let mut in_list = false;
        for (i, full_i) in use_full.iter().enumerate() {
            if *full_i {
                if in_list {
                    out.push('\n');
                }
                out.push_str(&full[i]);
            } else {
                out.push_str(&compact[i]);
            }
            in_list = !*full_i;
        }
        if in_list {
            out.push('\n');
        }
        out.push_str(if left_listed { &left_full } else { &left_short });
        let shortened = use_full.iter().filter(|f| !**f).count();
        let left_cut = !left.is_empty() && !left_listed;
        let cut = match (shortened, left_cut) {
            (0, false) => return out,
            (k, false) => format!("{k} of {n} changes are shown as one line each"),
            (0, true) => "The list of what is left alone is shortened to a count".to_string(),
            (k, true) => format!(
                "{k} of {n} changes are shown as one line each and the list of what is left alone is shortened to a count"
            ),
        };
        out.push_str(&footer(o, &cut));
        out
    };

    // Everything as one line each (and the blank lines between lists).
    let base = chars(&head)
        + compact.iter().map(|c| chars(c)).sum::<usize>()
        + n
        + 1
        + chars(&left_short)
        + worst_footer;
    if base > o.max_size {
        return summary_only(plan, o, &head, &left_short);
    }
    // Upgrade resources to their full section, most important first: destroys,
    // takeovers, then the left-alone list, then everything else in plan order.
    let mut budget = o.max_size - base;
    let mut use_full = vec![false; n];
    let mut left_listed = false;
    let rank = |c: &ResourceChange| match (c.action, c.takeover_from.is_some()) {
        (Action::Delete, _) => 0,
        (_, true) => 1,
        _ => 3,
    };
    let mut order: Vec<(u8, Option<usize>)> = plan
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (rank(c), Some(i)))
        .collect();
    if !left.is_empty() {
        order.push((2, None));
    }
    order.sort_by_key(|(r, i)| (*r, i.unwrap_or(0)));
    for (_, which) in order {
        let extra = match which {
            Some(i) => chars(&full[i]).saturating_sub(chars(&compact[i])),
            None => chars(&left_full).saturating_sub(chars(&left_short)),
        };
        if extra <= budget {
            budget -= extra;
            match which {
                Some(i) => use_full[i] = true,
                None => left_listed = true,
            }
        }
    }
    let doc = assemble(&use_full, left_listed);
    if chars(&doc) > o.max_size {
        return summary_only(plan, o, &head, &left_short);
    }
    doc
}

/// Only the header, the summary and the counts, saying that the changes were cut.
fn summary_only(plan: &Plan, o: &Options, head: &str, left_short: &str) -> String {
    let mut out = head.to_string();
    out.push_str(left_short);
    if !plan.changes.is_empty() {
        out.push_str(&footer(
            o,
            &format!(
                "The {} are not listed",
                plural(plan.changes.len(), "change", "changes")
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
