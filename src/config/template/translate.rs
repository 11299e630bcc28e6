//! Translation of the Go-template spelling of a config file into handlebars,
//! keeping every line where it was: finds the `{{ … }}` tags, handles trim
//! markers, comments, raw blocks and block helpers, lexes and parses each action
//! (`lex`, `parse`) and emits the handlebars form, with each call's original
//! line:col attached (`__pos`) and every string literal collected so that the
//! environment can be read up front. Reports Go-only constructs and unknown
//! functions; renders nothing and reads no environment.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::super::gocompat::go_json_string;
use super::super::plugin::{PLUGIN_CALL, is_plugin_function_name};
use super::lex::{self, Fault, Tok, TokKind, fault, find_close};
use super::parse::{Expr, parse_command_all, parse_pipeline_all};
use super::{
    BLOCK_HELPERS, BUILTINS, ENV, GO_BLOCK_ACTIONS, GO_OTHER_ACTIONS, LIT_HELPER, MUST_ENV,
    OWN_FUNCTIONS, POS_KEY, Problem, VOID_HELPER,
};

/// A function call found in the file, at its original position.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CallSite {
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) column: usize,
}

/// Where a translated tag starts, to map handlebars' own error positions
/// back to the original file. Lines never change; columns may.
#[derive(Debug, Clone)]
struct TagMapping {
    line: usize,
    translated_column: usize,
    column: usize,
}

#[derive(Debug, Default)]
pub(super) struct Translation {
    pub(super) text: String,
    pub(super) problems: Vec<Problem>,
    pub(super) calls: Vec<CallSite>,
    /// Every string literal, looked up in the environment up front.
    pub(super) literals: BTreeSet<String>,
    tags: Vec<TagMapping>,
    /// The text cannot be rendered at all (e.g. an unclosed `{{`).
    pub(super) fatal: bool,
}

impl Translation {
    pub(super) fn original_position(
        &self,
        line: usize,
        translated_column: usize,
    ) -> (usize, usize) {
        self.tags
            .iter()
            .filter(|t| t.line == line && t.translated_column <= translated_column)
            .max_by_key(|t| t.translated_column)
            .map_or((line, translated_column), |t| (line, t.column))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    /// A handlebars block (`{{#if}}` … `{{/if}}`), passed through; `at` is
    /// the opening tag's byte offset.
    Handlebars { name: String, at: usize },
    /// A Go block action or an unsupported handlebars block: already
    /// reported; its `else`/`end` are dropped.
    Dropped(String),
}

pub(super) fn translate(text: &str) -> Translation {
    let mut t = Translator {
        src: text,
        lines: line_starts(text),
        out: Translation::default(),
        blocks: Vec::new(),
    };
    t.run();
    t.out
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

struct Translator<'s> {
    src: &'s str,
    lines: Vec<usize>,
    out: Translation,
    blocks: Vec<Block>,
}

impl Translator<'_> {
    fn pos(&self, byte: usize) -> (usize, usize) {
        let line = match self.lines.binary_search(&byte) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.lines.get(line).copied().unwrap_or(0);
        let column = self.src.get(start..byte).map_or(0, |s| s.chars().count()) + 1;
        (line + 1, column)
    }

    fn problem(&mut self, at: usize, message: impl Into<String>) {
        let (line, column) = self.pos(at);
        self.out.problems.push(Problem::at(line, column, message));
    }

    fn run(&mut self) {
        let src = self.src;
        let mut i = 0;
        while let Some(offset) = src[i..].find("{{") {
            let start = i + offset;
            self.push_raw(&src[i..start], true);
            if let Some(end) = self.tag(start) {
                i = end;
            } else {
                self.out.fatal = true;
                return;
            }
        }
        self.push_raw(&src[i..], false);
        while let Some(block) = self.blocks.pop() {
            if let Block::Handlebars { name, at } = block {
                self.problem(
                    at,
                    format!("{{{{#{name}}}}} is never closed with {{{{/{name}}}}}"),
                );
                self.out.fatal = true;
            }
        }
    }

    fn push_raw(&mut self, raw: &str, before_tag: bool) {
        // handlebars reads `\{{` as an escaped `{{`; Go does not. Emit any
        // backslashes right before a tag through a helper instead.
        let trimmed = if before_tag {
            raw.trim_end_matches('\\')
        } else {
            raw
        };
        let backslashes = raw.len() - trimmed.len();
        self.out.text.push_str(trimmed);
        if backslashes > 0 {
            let lit = go_json_string(&"\\".repeat(backslashes));
            let _ = write!(self.out.text, "{{{{{LIT_HELPER} {lit}}}}}");
        }
    }

    fn translated_column(&self) -> usize {
        let text = &self.out.text;
        let line_start = text.rfind('\n').map_or(0, |i| i + 1);
        text[line_start..].chars().count() + 1
    }

    /// Emits one translated tag, keeping the original's newlines so that
    /// line numbers stay valid.
    fn emit(&mut self, start: usize, end: usize, ltrim: bool, inner: &str, rtrim: bool) {
        let (line, column) = self.pos(start);
        let translated_column = self.translated_column();
        self.out.tags.push(TagMapping {
            line,
            translated_column,
            column,
        });
        let newlines = self.src[start..end].matches('\n').count();
        let text = &mut self.out.text;
        text.push_str("{{");
        if ltrim {
            text.push('~');
        }
        text.push_str(inner);
        for _ in 0..newlines {
            text.push('\n');
        }
        if rtrim {
            text.push('~');
        }
        text.push_str("}}");
    }

    fn emit_void(&mut self, start: usize, end: usize, ltrim: bool, rtrim: bool) {
        self.emit(start, end, ltrim, VOID_HELPER, rtrim);
    }

    /// Handles the tag starting at `start` (`{{`); returns the byte offset
    /// after it, or `None` when the rest of the file cannot be translated.
    fn tag(&mut self, start: usize) -> Option<usize> {
        let src = self.src;
        let rest = &src[start..];
        if rest.starts_with("{{{{") {
            self.problem(start, "raw blocks ({{{{…}}}}) are not supported");
            let Some(close) = src[start + 4..].find("}}}}") else {
                self.problem(start, "unclosed raw block: missing }}}}");
                return None;
            };
            let end = start + 4 + close + 4;
            self.emit_void(start, end, false, false);
            return Some(end);
        }
        if rest.starts_with("{{!") {
            // A handlebars comment, passed through as it is.
            let (close, skip) = if rest.starts_with("{{!--") {
                ("--}}", 5)
            } else {
                ("}}", 3)
            };
            let Some(offset) = src[start + skip..].find(close) else {
                self.problem(start, format!("unclosed comment: missing {close}"));
                return None;
            };
            let end = start + skip + offset + close.len();
            let (line, column) = self.pos(start);
            let translated_column = self.translated_column();
            self.out.tags.push(TagMapping {
                line,
                translated_column,
                column,
            });
            self.out.text.push_str(&src[start..end]);
            return Some(end);
        }
        let (open_len, close) = if rest.starts_with("{{{") {
            (3, "}}}")
        } else {
            (2, "}}")
        };
        let Some(close_at) = find_close(src, start + open_len, close) else {
            self.problem(start, format!("unclosed action: missing {close}"));
            return None;
        };
        let end = close_at + close.len();
        let mut body_start = start + open_len;
        let mut body_end = close_at;
        let mut ltrim = false;
        let mut rtrim = false;
        if open_len == 2 {
            let body = &src[body_start..body_end];
            if body.starts_with('~') {
                ltrim = true;
                body_start += 1;
            } else if body.starts_with('-')
                && body[1..].starts_with(|c: char| c.is_ascii_whitespace())
            {
                // Go's `{{- ` trims the whitespace before the action.
                ltrim = true;
                body_start += 1;
            }
            let body = &src[body_start..body_end];
            if body.ends_with('~') {
                rtrim = true;
                body_end -= 1;
            } else if body.ends_with('-')
                && body[..body.len() - 1].ends_with(|c: char| c.is_ascii_whitespace())
            {
                // Go's ` -}}` trims the whitespace after the action.
                rtrim = true;
                body_end -= 1;
            }
        }
        match self.action(body_start, body_end) {
            Ok(Some(inner)) => self.emit(start, end, ltrim, &inner, rtrim),
            Ok(None) => self.emit_void(start, end, ltrim, rtrim),
            Err(f) => {
                self.problem(f.at, f.message);
                self.emit_void(start, end, ltrim, rtrim);
            }
        }
        Some(end)
    }

    /// Translates the inside of an action. `Ok(None)`: the tag renders as
    /// nothing (comments, dropped Go blocks).
    fn action(&mut self, from: usize, to: usize) -> Result<Option<String>, Fault> {
        let body = &self.src[from..to];
        let trimmed = body.trim();
        let lead = body.len() - body.trim_start().len();
        let at = from + lead;
        if trimmed.starts_with("/*") && trimmed.ends_with("*/") && trimmed.len() >= 4 {
            return Ok(None); // a Go comment
        }
        if let Some(after) = trimmed.strip_prefix('#') {
            return self.block_open(at + 1, after);
        }
        if let Some(after) = trimmed.strip_prefix('/') {
            return self.block_close(at, after.trim());
        }
        if trimmed.starts_with('>') {
            return Err(fault(at, "partials ({{> …}}) are not supported"));
        }
        if trimmed.starts_with('*') {
            return Err(fault(at, "decorators ({{* …}}) are not supported"));
        }
        if trimmed == "^" {
            return self.inverse(at, None);
        }
        if trimmed.starts_with('^') {
            return Err(fault(
                at,
                "inverse blocks ({{^…}}) are not supported; use {{#unless …}}",
            ));
        }
        let (from, at) = match trimmed.strip_prefix('&') {
            Some(_) => (at + 1, at + 1),
            None => (from, at),
        };
        // Go keywords first: what follows them is Go syntax.
        let word: String = trimmed
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let word = word.as_str();
        if word == "else" {
            let tokens = lex::tokenize(self.src, at + word.len(), to);
            return match self.blocks.last() {
                Some(Block::Handlebars { .. }) => self.inverse(at, Some(&tokens?)),
                _ => self.inverse(at, None),
            };
        }
        if word == "end" {
            return match self.blocks.last() {
                Some(Block::Dropped(_)) => {
                    self.blocks.pop();
                    Ok(None)
                }
                _ => Err(fault(at, "unexpected {{end}}: there is no open block")),
            };
        }
        if GO_BLOCK_ACTIONS.contains(&word) {
            self.blocks.push(Block::Dropped(word.to_owned()));
            return Err(fault(at, go_action_message(word)));
        }
        if GO_OTHER_ACTIONS.contains(&word) {
            return Err(fault(at, go_action_message(word)));
        }
        let tokens = lex::tokenize(self.src, from, to)?;
        if tokens.is_empty() {
            return Err(fault(at, "empty action {{ }}"));
        }
        let expr = parse_pipeline_all(&tokens, at)?;
        Ok(Some(self.emit_top(&expr)))
    }

    fn block_open(&mut self, at: usize, after: &str) -> Result<Option<String>, Fault> {
        if after.starts_with('>') {
            self.blocks.push(Block::Dropped(">".to_owned()));
            return Err(fault(at, "partial blocks ({{#> …}}) are not supported"));
        }
        if after.starts_with('*') {
            self.blocks.push(Block::Dropped("*".to_owned()));
            return Err(fault(at, "decorators ({{#* …}}) are not supported"));
        }
        let end = at + after.len();
        let tokens = lex::tokenize(self.src, at, end)?;
        let name = if let Some(TokKind::Ident(name)) = tokens.first().map(|t| &t.kind) {
            name.clone()
        } else {
            self.blocks.push(Block::Dropped(String::new()));
            return Err(fault(at, "expected a block helper name after {{#"));
        };
        if !BLOCK_HELPERS.contains(&name.as_str()) {
            self.blocks.push(Block::Dropped(name.clone()));
            return Err(fault(
                at,
                format!(
                    "block helper \"#{name}\" is not supported (use #if, #unless, #each or #with)"
                ),
            ));
        }
        self.blocks.push(Block::Handlebars {
            name: name.clone(),
            at,
        });
        let expr = parse_command_all(&tokens, at)?;
        Ok(Some(format!("#{}", self.emit_call_expr(&expr))))
    }

    fn block_close(&mut self, at: usize, name: &str) -> Result<Option<String>, Fault> {
        match self.blocks.last() {
            Some(Block::Handlebars { name: open, .. }) if open == name => {
                self.blocks.pop();
                Ok(Some(format!("/{name}")))
            }
            Some(Block::Dropped(_)) => {
                self.blocks.pop();
                Ok(None)
            }
            Some(Block::Handlebars { name: open, .. }) => {
                let open = open.clone();
                Err(fault(
                    at,
                    format!("{{{{/{name}}}}} does not match the open {{{{#{open}}}}}"),
                ))
            }
            None => Err(fault(
                at,
                format!("unexpected {{{{/{name}}}}}: there is no open block"),
            )),
        }
    }

    /// `{{else}}`, `{{^}}` or `{{else if …}}`.
    fn inverse(&mut self, at: usize, chain: Option<&[Tok]>) -> Result<Option<String>, Fault> {
        match self.blocks.last() {
            Some(Block::Handlebars { .. }) => match chain {
                None | Some([]) => Ok(Some("else".to_owned())),
                Some(tokens) => {
                    let expr = parse_command_all(tokens, at)?;
                    match &expr {
                        Expr::Call { name, .. } if BLOCK_HELPERS.contains(&name.as_str()) => {
                            Ok(Some(format!("else {}", self.emit_call_expr(&expr))))
                        }
                        _ => Err(fault(at, "expected {{else}} or {{else if …}}")),
                    }
                }
            },
            Some(Block::Dropped(_)) => Ok(None),
            None => Err(fault(at, "unexpected {{else}}: there is no open block")),
        }
    }

    fn emit_top(&mut self, expr: &Expr) -> String {
        match expr {
            Expr::Call { .. } => self.emit_call_expr(expr),
            Expr::Ref(r) => r.clone(),
            other => format!("{LIT_HELPER} {}", self.emit_arg(other)),
        }
    }

    fn emit_call_expr(&mut self, expr: &Expr) -> String {
        let Expr::Call { name, args, at } = expr else {
            return self.emit_arg(expr);
        };
        let (line, column) = self.pos(*at);
        let known = is_function(name);
        if known && self.bare_words(name, args) {
            // Reported; the call renders as nothing rather than failing again on "".
            return VOID_HELPER.to_owned();
        }
        if !known {
            let candidates = OWN_FUNCTIONS
                .iter()
                .chain(BUILTINS.iter())
                .chain(["tfstate", "tfstatef", "ssm", PLUGIN_CALL].iter())
                .copied();
            let mut message = format!("unknown function \"{name}\"");
            if let Some(hint) = crate::suggest::closest(name, candidates) {
                let _ = write!(message, " (did you mean \"{hint}\"?)");
            }
            self.out.problems.push(Problem::at(line, column, message));
        }
        self.out.calls.push(CallSite {
            name: name.clone(),
            line,
            column,
        });
        let mut text = name.clone();
        for arg in args {
            text.push(' ');
            let arg = self.emit_arg(arg);
            text.push_str(&arg);
        }
        if !BUILTINS.contains(&name.as_str()) {
            let _ = write!(text, " {POS_KEY}=\"{line}:{column}\"");
        }
        text
    }

    /// Reports each argument of `func` that is a bare unknown word (``must_env XV``):
    /// Go reads it as a call of a function `XV`, but it is meant as a string. Only for the
    /// functions whose parameters are strings (ours and the plugins'). True if any.
    fn bare_words(&mut self, func: &str, args: &[Expr]) -> bool {
        let what = if func == MUST_ENV || func == ENV {
            "variable name"
        } else if func.ends_with("tfstate") || func.ends_with("tfstatef") {
            "address"
        } else if func.ends_with("ssm") {
            "parameter name"
        } else if func == PLUGIN_CALL {
            "function name"
        } else if OWN_FUNCTIONS.contains(&func) {
            "string"
        } else {
            return false;
        };
        let mut found = false;
        for arg in args {
            if let Expr::Call { name, args, at } = arg
                && args.is_empty()
                && !is_function(name)
            {
                let (line, column) = self.pos(*at);
                self.out.problems.push(Problem::at(
                    line,
                    column,
                    format!(
                        "{func} needs a quoted {what}: `{name}` (a bare word is a function call in templates; write {func} `{name}`)"
                    ),
                ));
                found = true;
            }
        }
        found
    }

    fn emit_arg(&mut self, expr: &Expr) -> String {
        match expr {
            Expr::Call { .. } => format!("({})", self.emit_call_expr(expr)),
            Expr::Str(s) => {
                self.out.literals.insert(s.clone());
                go_json_string(s)
            }
            Expr::Num(n) => n.clone(),
            Expr::Bool(b) => b.to_string(),
            Expr::Null => "null".to_owned(),
            Expr::Ref(r) => r.clone(),
        }
    }
}

/// A function a template may call: ours, a handlebars built-in, or a plugin's.
fn is_function(name: &str) -> bool {
    OWN_FUNCTIONS.contains(&name) || BUILTINS.contains(&name) || is_plugin_function_name(name)
}

fn go_action_message(word: &str) -> String {
    let hint = match word {
        "if" => " (use {{#if …}} … {{/if}})",
        "range" => " (use {{#each …}} … {{/each}})",
        "with" => " (use {{#with …}} … {{/with}})",
        _ => "",
    };
    format!(
        "Go template action \"{word}\" is not supported; ecsched templates use handlebars syntax{hint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_spelling_translates_to_handlebars() {
        let cases = [
            ("{{ must_env `ENV` }}", "{{must_env \"ENV\" __pos=\"1:4\"}}"),
            ("{{must_env \"ENV\"}}", "{{must_env \"ENV\" __pos=\"1:3\"}}"),
            (
                "{{ must_env `X` | json_escape }}",
                "{{json_escape (must_env \"X\" __pos=\"1:4\") __pos=\"1:19\"}}",
            ),
            (
                "a  {{- env `A` -}}  b",
                "a  {{~env \"A\" __pos=\"1:8\"~}}  b",
            ),
            ("{{~ env \"A\" ~}}", "{{~env \"A\" __pos=\"1:5\"~}}"),
            (
                "{{ tfstatef `aws_subnet.ecs['%s'].id` (must_env `SERVICE`) }}",
                "{{tfstatef \"aws_subnet.ecs['%s'].id\" (must_env \"SERVICE\" __pos=\"1:40\") __pos=\"1:4\"}}",
            ),
            ("{{ `a\"b\\c` }}", "{{ecsched-lit \"a\\\"b\\\\c\"}}"),
            (
                "{{ \"x\" | json_escape }}",
                "{{json_escape \"x\" __pos=\"1:10\"}}",
            ),
            ("{{ ssm \"/p\" 0 }}", "{{ssm \"/p\" 0 __pos=\"1:4\"}}"),
            ("{{/* note */}}x", "{{ecsched-void}}x"),
            ("{{! hb comment }}x", "{{! hb comment }}x"),
            (
                "{{#if (eq (env \"E\") \"prod\")}}a{{else}}b{{/if}}",
                "{{#if (eq (env \"E\" __pos=\"1:12\") \"prod\")}}a{{else}}b{{/if}}",
            ),
            // Line structure is kept when an action spans lines.
            (
                "{{ env\n  `A` }}\nnext",
                "{{env \"A\" __pos=\"1:4\"\n}}\nnext",
            ),
            (
                "a\\{{ env `A` }}",
                "a{{ecsched-lit \"\\\\\"}}{{env \"A\" __pos=\"1:6\"}}",
            ),
        ];
        for (input, expected) in cases {
            let t = translate(input);
            assert!(t.problems.is_empty(), "{input}: {:?}", t.problems);
            assert_eq!(t.text, expected, "{input}");
            assert_eq!(
                t.text.matches('\n').count(),
                input.matches('\n').count(),
                "{input}"
            );
        }
    }
}
