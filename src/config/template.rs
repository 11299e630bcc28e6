//! Template rendering of config files (handlebars), accepting the Go-template
//! spelling of ecschedule/ecspresso files (``{{ must_env `ENV` }}``, pipes,
//! `{{-`/`-}}`).
//!
//! Templates can read environment variables and the declared tfstate/SSM
//! sources, nothing else: no partials, no file reads, no commands. Every
//! problem of a file is reported at once, with <file:line:col>.
//!
//! Pipeline: translate Go spelling to handlebars (line structure kept) →
//! pass 1 (env functions; plugin calls deferred) → read `plugins:` from the
//! pass-1 output → load plugins → pass 2 (all functions).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::gocompat::{go_json_escape, go_json_string, string_arg, to_template_string};
use super::plugin::{PLUGIN_CALL, PluginSpec, Plugins, RemoteSource, is_plugin_function_name};

/// What to render and with which environment.
pub struct RenderRequest<'a> {
    /// The file's path as shown in messages.
    pub source_name: &'a str,
    /// The raw file text.
    pub text: &'a str,
    /// Environment lookup (tests pass a closure instead of touching the
    /// process environment).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The config file's directory (tfstate `path:` is relative to it).
    pub config_dir: &'a Path,
    /// The working directory (fallback for tfstate `path:`).
    pub cwd: &'a Path,
    /// AWS access for S3 tfstate and SSM; `None` for offline commands.
    pub remote: Option<&'a dyn RemoteSource>,
}

/// One problem found while rendering a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub source_name: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_name)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TemplateError {}

/// Renders a config file: the rendered text, or every problem found.
///
/// 1. The Go-template spelling is translated into handlebars (same lines).
/// 2. Pass 1 evaluates `must_env`/`env`/`json_escape` and reports every unset
///    `must_env` variable and unknown function at once; plugin functions
///    render as a placeholder.
/// 3. The `plugins:` list is read from the pass-1 output and loaded (only
///    when the file calls a plugin function).
/// 4. Pass 2 renders with all functions and reports every failed lookup.
///
/// # Errors
/// Every problem found, sorted by position; rendering stops after the first
/// stage that found any.
pub fn render_config(req: &RenderRequest) -> Result<String, Vec<TemplateError>> {
    let finish = |mut problems: Vec<Problem>| {
        problems
            .sort_by(|a, b| (a.line, a.column, &a.message).cmp(&(b.line, b.column, &b.message)));
        problems.dedup();
        problems
            .into_iter()
            .map(|p| TemplateError {
                source_name: req.source_name.to_owned(),
                line: p.line,
                column: p.column,
                message: p.message,
            })
            .collect::<Vec<_>>()
    };

    let translation = translate(req.text);
    let mut problems = translation.problems.clone();
    if translation.fatal {
        return Err(finish(problems));
    }

    let (pass1, pass1_problems) = render_pass(req, &translation, None);
    problems.extend(pass1_problems);
    if !problems.is_empty() {
        return Err(finish(problems));
    }
    let Some(pass1) = pass1 else {
        return Err(finish(problems));
    };
    let deferred: Vec<&CallSite> = translation
        .calls
        .iter()
        .filter(|c| is_plugin_function_name(&c.name))
        .collect();
    if deferred.is_empty() {
        return Ok(pass1);
    }

    let specs = match plugin_specs(&pass1) {
        Ok(specs) => specs,
        Err(problem) => return Err(finish(vec![problem])),
    };
    let plain_specs: Vec<PluginSpec> = specs.iter().map(|(s, _)| s.clone()).collect();
    let plugins = match Plugins::load(&plain_specs, req.config_dir, req.cwd, req.remote) {
        Ok(plugins) => plugins,
        Err(e) => {
            let at = specs.get(e.plugin_index()).and_then(|(_, at)| *at);
            return Err(finish(vec![Problem {
                line: at.map(|(l, _)| l),
                column: at.map(|(_, c)| c),
                message: e.to_string(),
            }]));
        }
    };
    for call in deferred {
        if !plugins.is_function(&call.name) {
            problems.push(Problem::at(
                call.line,
                call.column,
                undefined_plugin_function(&call.name, &plugins),
            ));
        }
    }

    let (pass2, pass2_problems) = render_pass(req, &translation, Some(&plugins));
    problems.extend(pass2_problems);
    match pass2 {
        Some(text) if problems.is_empty() => Ok(text),
        _ => Err(finish(problems)),
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Problem {
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl Problem {
    fn at(line: usize, column: usize, message: impl Into<String>) -> Problem {
        Problem {
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Function names
// ---------------------------------------------------------------------------

/// Our own functions (go-config's defaults).
const MUST_ENV: &str = "must_env";
const ENV: &str = "env";
const JSON_ESCAPE: &str = "json_escape";
const OWN_FUNCTIONS: [&str; 3] = [MUST_ENV, ENV, JSON_ESCAPE];

/// handlebars built-ins that stay available (`log` and `raw` are removed).
const BUILTINS: [&str; 15] = [
    "if", "unless", "each", "with", "lookup", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or",
    "not", "len",
];
const BLOCK_HELPERS: [&str; 4] = ["if", "unless", "each", "with"];

/// Internal helpers. Their names contain `-`, which the translator never
/// accepts in a user's function name, so templates cannot call them.
const LIT_HELPER: &str = "ecsched-lit";
const VOID_HELPER: &str = "ecsched-void";
/// Hash argument carrying a call's position in the original file.
const POS_KEY: &str = "__pos";
/// What plugin functions render as in pass 1.
const DEFERRED_PLACEHOLDER: &str = "__ECSCHED_DEFERRED__";

/// Go template actions that handlebars spells differently (or not at all).
const GO_BLOCK_ACTIONS: [&str; 5] = ["if", "range", "with", "block", "define"];
const GO_OTHER_ACTIONS: [&str; 3] = ["template", "break", "continue"];

fn undefined_plugin_function(name: &str, plugins: &Plugins<'_>) -> String {
    let (kind, prefix) = if let Some(p) = name.strip_suffix("tfstatef") {
        ("tfstate", p)
    } else if let Some(p) = name.strip_suffix("tfstate") {
        ("tfstate", p)
    } else if let Some(p) = name.strip_suffix("ssm") {
        ("ssm", p)
    } else {
        ("", name)
    };
    let mut message = format!("function \"{name}\" is not defined");
    if !kind.is_empty() {
        if prefix.is_empty() {
            let _ = write!(message, ": no {kind} plugin is declared in plugins");
        } else {
            let _ = write!(
                message,
                ": no {kind} plugin with func_prefix \"{prefix}\" is declared in plugins"
            );
        }
    }
    let names = plugins.function_names();
    if let Some(hint) = crate::suggest::closest(name, names.iter().map(String::as_str)) {
        let _ = write!(message, " (did you mean \"{hint}\"?)");
    }
    message
}

// ---------------------------------------------------------------------------
// Translation: Go-template spelling → handlebars
// ---------------------------------------------------------------------------

/// A function call found in the file, at its original position.
#[derive(Debug, Clone, PartialEq)]
struct CallSite {
    name: String,
    line: usize,
    column: usize,
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
struct Translation {
    text: String,
    problems: Vec<Problem>,
    calls: Vec<CallSite>,
    /// Every string literal, looked up in the environment up front.
    literals: BTreeSet<String>,
    tags: Vec<TagMapping>,
    /// The text cannot be rendered at all (e.g. an unclosed `{{`).
    fatal: bool,
}

impl Translation {
    fn original_position(&self, line: usize, translated_column: usize) -> (usize, usize) {
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

fn translate(text: &str) -> Translation {
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

#[derive(Debug, Clone, PartialEq)]
enum TokKind {
    Ident(String),
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Ref(String),
    LParen,
    RParen,
    Pipe,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: TokKind,
    /// Byte offset in the source.
    at: usize,
}

#[derive(Debug, Clone)]
enum Expr {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Ref(String),
    Call {
        name: String,
        args: Vec<Expr>,
        at: usize,
    },
}

/// A problem at a byte offset (converted to line:col by the translator).
struct Fault {
    at: usize,
    message: String,
}

fn fault(at: usize, message: impl Into<String>) -> Fault {
    Fault {
        at,
        message: message.into(),
    }
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
            let tokens = self.tokenize(at + word.len(), to);
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
        let tokens = self.tokenize(from, to)?;
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
        let tokens = self.tokenize(at, end)?;
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

    fn tokenize(&self, from: usize, to: usize) -> Result<Vec<Tok>, Fault> {
        let body = &self.src[from..to];
        let mut tokens = Vec::new();
        let mut chars = body.char_indices().peekable();
        while let Some(&(i, c)) = chars.peek() {
            let at = from + i;
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            let kind = match c {
                '(' => {
                    chars.next();
                    TokKind::LParen
                }
                ')' => {
                    chars.next();
                    TokKind::RParen
                }
                '|' => {
                    chars.next();
                    TokKind::Pipe
                }
                '"' | '`' | '\'' => {
                    let (text, len) = scan_string(&body[i..]).map_err(|m| fault(at, m))?;
                    for _ in body[i..i + len].chars() {
                        chars.next();
                    }
                    TokKind::Str(text)
                }
                '$' => {
                    return Err(fault(
                        at,
                        "Go template variables ($x) are not supported; templates can only call functions",
                    ));
                }
                '=' | ':' => {
                    return Err(fault(
                        at,
                        "assignments and named arguments (x=…) are not supported",
                    ));
                }
                '@' => TokKind::Ref(take_while(&mut chars, is_path_char)),
                '.' if body[i..].starts_with("../") => {
                    TokKind::Ref(take_while(&mut chars, is_path_char))
                }
                '.' => {
                    let word = take_while(&mut chars, is_path_char);
                    return Err(fault(
                        at,
                        format!(
                            "Go template data access ({word}) is not supported; templates have no data, use env or must_env"
                        ),
                    ));
                }
                c if c.is_ascii_digit() || (c == '-' && next_is_digit(&body[i..])) => {
                    let word = take_while(&mut chars, |c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_')
                    });
                    if !is_number(&word) {
                        return Err(fault(at, format!("invalid number {word}")));
                    }
                    TokKind::Num(word)
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let word = take_while(&mut chars, |c| c.is_ascii_alphanumeric() || c == '_');
                    if matches!(chars.peek(), Some((_, '.' | '/'))) {
                        let path = take_while(&mut chars, is_path_char);
                        let full = format!("{word}{path}");
                        if word == "this" {
                            TokKind::Ref(full)
                        } else {
                            return Err(fault(
                                at,
                                format!(
                                    "unknown variable \"{full}\": templates have no data, use env or must_env"
                                ),
                            ));
                        }
                    } else {
                        match word.as_str() {
                            "true" => TokKind::Bool(true),
                            "false" => TokKind::Bool(false),
                            "nil" | "null" => TokKind::Null,
                            "this" => TokKind::Ref(word),
                            _ => TokKind::Ident(word),
                        }
                    }
                }
                other => {
                    return Err(fault(
                        at,
                        format!("unexpected character '{other}' in action"),
                    ));
                }
            };
            tokens.push(Tok { kind, at });
        }
        Ok(tokens)
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
        let known = OWN_FUNCTIONS.contains(&name.as_str())
            || BUILTINS.contains(&name.as_str())
            || is_plugin_function_name(name);
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

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '-')
}

fn take_while(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    keep: impl Fn(char) -> bool,
) -> String {
    let mut word = String::new();
    if let Some((_, c)) = chars.next() {
        word.push(c);
    }
    while let Some(&(_, c)) = chars.peek() {
        if !keep(c) {
            break;
        }
        word.push(c);
        chars.next();
    }
    word
}

fn next_is_digit(s: &str) -> bool {
    s.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
}

fn is_number(word: &str) -> bool {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && !frac.is_empty()
        && frac.chars().all(|c| c.is_ascii_digit())
}

/// Finds `close` after `from`, skipping string literals.
fn find_close(src: &str, from: usize, close: &str) -> Option<usize> {
    let mut i = from;
    while i < src.len() {
        let rest = &src[i..];
        if rest.starts_with(close) {
            return Some(i);
        }
        let c = rest.chars().next()?;
        if matches!(c, '"' | '`' | '\'') {
            // A malformed string is reported by the tokenizer; a "string"
            // that runs into the next action is an unterminated one.
            if let Ok((_, len)) = scan_string(rest)
                && !rest[..len].contains("{{")
            {
                i += len;
                continue;
            }
        }
        i += c.len_utf8();
    }
    None
}

/// Reads a string literal at the start of `s`: Go `"…"` (with escapes),
/// Go raw `` `…` ``, or handlebars `'…'`. Returns the value and the
/// literal's length in bytes.
fn scan_string(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let Some((_, quote)) = chars.next() else {
        return Err("expected a string".to_owned());
    };
    if quote == '`' {
        return match s[1..].find('`') {
            Some(end) => Ok((s[1..=end].to_owned(), end + 2)),
            None => Err("unterminated raw string (missing `)".to_owned()),
        };
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((value, i + c.len_utf8()));
        }
        if c != '\\' {
            value.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        match e {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            'a' => value.push('\u{7}'),
            'b' => value.push('\u{8}'),
            'f' => value.push('\u{c}'),
            'v' => value.push('\u{b}'),
            '\\' | '"' | '\'' | '/' | '`' => value.push(e),
            'x' | 'u' | 'U' => {
                let len = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(len).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == len)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid escape \\{e}{hex} in string"))?;
                value.push(code);
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                let code = u32::from_str_radix(&format!("{e}{rest}"), 8)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid escape \\{e}{rest} in string"))?;
                value.push(code);
            }
            other => return Err(format!("unknown escape \\{other} in string")),
        }
    }
    Err(format!("unterminated string (missing {quote})"))
}

/// Parses a whole Go pipeline: `cmd | cmd …`; the value of each command is
/// passed as the last argument of the next.
fn parse_pipeline_all(tokens: &[Tok], at: usize) -> Result<Expr, Fault> {
    let mut pos = 0;
    let expr = parse_pipeline(tokens, &mut pos, at)?;
    match tokens.get(pos) {
        None => Ok(expr),
        Some(t) => Err(fault(t.at, "unexpected ) in action")),
    }
}

/// Parses a single command (a block helper's line): `name args…`.
fn parse_command_all(tokens: &[Tok], at: usize) -> Result<Expr, Fault> {
    let mut pos = 0;
    let expr = parse_command(tokens, &mut pos, at)?;
    match tokens.get(pos) {
        None => Ok(expr),
        Some(t) if t.kind == TokKind::Pipe => Err(fault(t.at, "pipes (|) are not supported here")),
        Some(t) => Err(fault(t.at, "unexpected token in action")),
    }
}

fn parse_pipeline(tokens: &[Tok], pos: &mut usize, at: usize) -> Result<Expr, Fault> {
    let mut expr = parse_command(tokens, pos, at)?;
    while let Some(tok) = tokens.get(*pos) {
        if tok.kind != TokKind::Pipe {
            break;
        }
        *pos += 1;
        let next = parse_command(tokens, pos, tok.at)?;
        expr = match next {
            Expr::Call { name, mut args, at } => {
                args.push(expr);
                Expr::Call { name, args, at }
            }
            _ => return Err(fault(tok.at, "a pipe (|) must be followed by a function")),
        };
    }
    Ok(expr)
}

fn parse_command(tokens: &[Tok], pos: &mut usize, at: usize) -> Result<Expr, Fault> {
    let Some(first) = tokens.get(*pos) else {
        return Err(fault(at, "missing function or value"));
    };
    if let TokKind::Ident(name) = &first.kind {
        *pos += 1;
        let mut args = Vec::new();
        while let Some(tok) = tokens.get(*pos) {
            if matches!(tok.kind, TokKind::Pipe | TokKind::RParen) {
                break;
            }
            args.push(parse_operand(tokens, pos)?);
        }
        return Ok(Expr::Call {
            name: name.clone(),
            args,
            at: first.at,
        });
    }
    let operand = parse_operand(tokens, pos)?;
    match tokens.get(*pos) {
        Some(tok) if !matches!(tok.kind, TokKind::Pipe | TokKind::RParen) => {
            Err(fault(tok.at, "only a function can take arguments"))
        }
        _ => Ok(operand),
    }
}

fn parse_operand(tokens: &[Tok], pos: &mut usize) -> Result<Expr, Fault> {
    let Some(tok) = tokens.get(*pos) else {
        return Err(fault(0, "missing operand"));
    };
    *pos += 1;
    Ok(match &tok.kind {
        TokKind::Ident(name) => Expr::Call {
            name: name.clone(),
            args: Vec::new(),
            at: tok.at,
        },
        TokKind::Str(s) => Expr::Str(s.clone()),
        TokKind::Num(n) => Expr::Num(n.clone()),
        TokKind::Bool(b) => Expr::Bool(*b),
        TokKind::Null => Expr::Null,
        TokKind::Ref(r) => Expr::Ref(r.clone()),
        TokKind::LParen => {
            let expr = parse_pipeline(tokens, pos, tok.at)?;
            match tokens.get(*pos) {
                Some(t) if t.kind == TokKind::RParen => {
                    *pos += 1;
                    expr
                }
                _ => return Err(fault(tok.at, "unclosed parenthesis")),
            }
        }
        TokKind::RParen => return Err(fault(tok.at, "unexpected )")),
        TokKind::Pipe => return Err(fault(tok.at, "unexpected |")),
    })
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// Environment values the helpers may read. Helpers must be `Send + Sync`,
/// which the caller's lookup closure is not, so values are looked up before
/// rendering; a name only known at render time is recorded as a miss, looked
/// up, and the pass is rendered again.
#[derive(Default)]
struct EnvCache {
    known: Mutex<HashMap<String, Option<String>>>,
    misses: Mutex<BTreeSet<String>>,
}

enum EnvValue {
    Set(String),
    Unset,
    Miss,
}

impl EnvCache {
    fn get(&self, name: &str) -> EnvValue {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        match known.get(name) {
            Some(Some(v)) => EnvValue::Set(v.clone()),
            Some(None) => EnvValue::Unset,
            None => {
                self.misses
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(name.to_owned());
                EnvValue::Miss
            }
        }
    }

    fn fill(&self, names: impl IntoIterator<Item = String>, env: &dyn Fn(&str) -> Option<String>) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        for name in names {
            let value = env(&name);
            known.insert(name, value);
        }
    }

    fn take_misses(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.misses.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct RenderState<'p> {
    env: EnvCache,
    problems: Mutex<Vec<Problem>>,
    /// `None` in pass 1 (plugin functions are deferred).
    plugins: Option<&'p Plugins<'p>>,
}

impl RenderState<'_> {
    fn record(&self, at: Option<(usize, usize)>, message: String) {
        self.problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Problem {
                line: at.map(|(l, _)| l),
                column: at.map(|(_, c)| c),
                message,
            });
    }
}

#[derive(Clone, Copy)]
enum Kind {
    MustEnv,
    Env,
    JsonEscape,
    Literal,
    Void,
    /// A plugin function in pass 1.
    Deferred,
    /// A plugin function in pass 2.
    Plugin,
    /// An unknown function, already reported.
    Silent,
}

struct Function<'s, 'p> {
    kind: Kind,
    state: &'s RenderState<'p>,
}

impl HelperDef for Function<'_, '_> {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let at = h
            .hash_get(POS_KEY)
            .and_then(|p| p.value().as_str())
            .and_then(|p| p.split_once(':'))
            .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)));
        let args: Vec<Value> = h.params().iter().map(|p| p.value().clone()).collect();
        let name = h.name();
        let result = match self.kind {
            Kind::Literal => {
                return Ok(ScopedJson::Derived(
                    args.into_iter().next().unwrap_or(Value::Null),
                ));
            }
            Kind::Void | Kind::Silent => Ok(String::new()),
            Kind::Deferred => Ok(DEFERRED_PLACEHOLDER.to_owned()),
            Kind::MustEnv => self.must_env(&args),
            Kind::Env => self.env(&args),
            Kind::JsonEscape => match args.as_slice() {
                [v] => Ok(go_json_escape(&to_template_string(v))),
                _ => Err(format!(
                    "json_escape: expected 1 argument, got {}",
                    args.len()
                )),
            },
            Kind::Plugin => match self.state.plugins {
                Some(plugins) => plugins.call(name, &args),
                None => Ok(DEFERRED_PLACEHOLDER.to_owned()),
            },
        };
        let text = result.unwrap_or_else(|message| {
            self.state.record(at, message);
            String::new()
        });
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

impl Function<'_, '_> {
    fn must_env(&self, args: &[Value]) -> Result<String, String> {
        let [name] = args else {
            return Err(format!(
                "must_env: expected 1 argument (NAME), got {}",
                args.len()
            ));
        };
        let name = string_arg(MUST_ENV, 1, name)?;
        match self.state.env.get(&name) {
            EnvValue::Set(v) => Ok(v),
            EnvValue::Unset => Err(format!(
                "environment variable \"{name}\" is not defined (must_env)"
            )),
            EnvValue::Miss => Ok(String::new()),
        }
    }

    /// go-config's `env`: the first argument whose variable is non-empty,
    /// else the last argument itself.
    fn env(&self, args: &[Value]) -> Result<String, String> {
        if args.is_empty() {
            return Err("env: expected at least 1 argument (NAME [DEFAULT…])".to_owned());
        }
        let mut value = String::new();
        for (i, arg) in args.iter().enumerate() {
            let name = string_arg(ENV, i + 1, arg)?;
            if let EnvValue::Set(v) = self.state.env.get(&name)
                && !v.is_empty()
            {
                return Ok(v);
            }
            value = name;
        }
        Ok(value)
    }
}

/// Renders the translated text once (more if names had to be looked up
/// during rendering). Returns the output (`None` when handlebars itself
/// failed) and the problems found.
fn render_pass(
    req: &RenderRequest,
    translation: &Translation,
    plugins: Option<&Plugins<'_>>,
) -> (Option<String>, Vec<Problem>) {
    let state = RenderState {
        env: EnvCache::default(),
        problems: Mutex::new(Vec::new()),
        plugins,
    };
    state
        .env
        .fill(translation.literals.iter().cloned(), req.env);
    // Each round learns at least one new name; a handful is plenty.
    for _ in 0..8 {
        state
            .problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let registry = registry(&state, translation);
        let result = registry.render_template(&translation.text, &Value::Object(Map::new()));
        let misses = state.env.take_misses();
        if !misses.is_empty() {
            state.env.fill(misses, req.env);
            continue;
        }
        let mut problems = std::mem::take(
            &mut *state
                .problems
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        return match result {
            Ok(text) => (Some(text), problems),
            Err(e) => {
                problems.push(handlebars_problem(&e, translation));
                (None, problems)
            }
        };
    }
    (
        None,
        vec![Problem {
            line: None,
            column: None,
            message: "environment variable names keep changing while rendering".to_owned(),
        }],
    )
}

fn registry<'s>(state: &'s RenderState<'_>, translation: &Translation) -> Handlebars<'s> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(true);
    hb.unregister_helper("log");
    hb.unregister_helper("raw");
    let mut add = |name: &str, kind: Kind| {
        hb.register_helper(name, Box::new(Function { kind, state }));
    };
    add(MUST_ENV, Kind::MustEnv);
    add(ENV, Kind::Env);
    add(JSON_ESCAPE, Kind::JsonEscape);
    add(LIT_HELPER, Kind::Literal);
    add(VOID_HELPER, Kind::Void);
    for call in &translation.calls {
        let name = call.name.as_str();
        if OWN_FUNCTIONS.contains(&name) || BUILTINS.contains(&name) {
            continue;
        }
        let kind = if is_plugin_function_name(name) {
            match state.plugins {
                None => Kind::Deferred,
                Some(plugins) if plugins.is_function(name) => Kind::Plugin,
                Some(_) => Kind::Silent,
            }
        } else {
            Kind::Silent
        };
        add(name, kind);
    }
    hb
}

/// An error from handlebars itself (syntax, strict-mode variable access),
/// with its position mapped back to the original file.
fn handlebars_problem(e: &RenderError, translation: &Translation) -> Problem {
    let (position, message) = match e.reason() {
        RenderErrorReason::TemplateError(te) => {
            (te.pos(), format!("template syntax error: {}", te.reason()))
        }
        RenderErrorReason::MissingVariable(Some(path)) => (
            e.line_no.zip(e.column_no),
            format!("variable \"{path}\" is not defined (templates have no data)"),
        ),
        RenderErrorReason::MissingVariable(None) => (
            e.line_no.zip(e.column_no),
            "a variable used here is not defined (templates have no data)".to_owned(),
        ),
        other => (
            e.line_no.zip(e.column_no),
            format!("template error: {other}"),
        ),
    };
    match position {
        Some((line, column)) => {
            let (line, column) = translation.original_position(line, column);
            Problem::at(line, column, message)
        }
        None => Problem {
            line: None,
            column: None,
            message,
        },
    }
}

// ---------------------------------------------------------------------------
// The plugins: list
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct PluginsDocument {
    #[serde(default)]
    plugins: Option<Vec<serde_saphyr::Spanned<Value>>>,
}

/// A plugin entry with the line:col of its entry in the list (if known).
type SpannedSpec = (PluginSpec, Option<(usize, usize)>);

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options
}

/// Reads the `plugins:` list (with each entry's line:col) from the pass-1
/// output. JSON files are YAML too. A document that is not a mapping has no
/// plugins (the config loader reports what is wrong with it).
fn plugin_specs(text: &str) -> Result<Vec<SpannedSpec>, Problem> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: PluginsDocument = match serde_saphyr::from_str_with_options(text, yaml_options()) {
        Ok(doc) => doc,
        Err(e) => {
            let as_value = serde_saphyr::from_str_with_options::<Value>(text, yaml_options());
            if matches!(&as_value, Ok(v) if !v.is_object()) {
                return Ok(Vec::new());
            }
            return Err(yaml_problem(&e));
        }
    };
    let mut specs = Vec::new();
    for (index, entry) in doc.plugins.unwrap_or_default().iter().enumerate() {
        let at = location(entry.referenced);
        let spec = PluginSpec::from_value(&entry.value, index).map_err(|e| Problem {
            line: at.map(|(l, _)| l),
            column: at.map(|(_, c)| c),
            message: e.to_string(),
        })?;
        specs.push((spec, at));
    }
    Ok(specs)
}

fn location(l: serde_saphyr::Location) -> Option<(usize, usize)> {
    let line = usize::try_from(l.line()).ok().filter(|l| *l > 0)?;
    let column = usize::try_from(l.column()).ok().filter(|c| *c > 0)?;
    Some((line, column))
}

fn yaml_problem(e: &serde_saphyr::Error) -> Problem {
    let at = e.location().and_then(location);
    let message = e.to_string();
    let message = message.lines().next().unwrap_or_default();
    // The position is reported separately.
    let message = match message.rfind(" at line ") {
        Some(i) if at.is_some() => &message[..i],
        _ => message,
    };
    Problem {
        line: at.map(|(l, _)| l),
        column: at.map(|(_, c)| c),
        message: format!("cannot read the plugins list: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::plugin::{SsmParameter, SsmParameterKind};
    use super::*;
    use std::path::PathBuf;

    /// The templated prod config of the seed blog post, as written there.
    const SEED_PROD: &str = r#"region: {{ must_env `AWS_DEFAULT_REGION` }}
cluster: t3-kato-{{ must_env `ENV` }}
rules:
- name: t3-kato-{{ must_env `ENV` }}
  scheduleExpression: cron(0 10 * * ? *)
  taskDefinition: t3-kato-{{ must_env `ENV` }}
  containerOverrides:
  - name: nginx
    command: [nginx, -v]
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - "{{ tfstate `module.network.module.vpc.aws_subnet.private[0].id` }}"
      - "{{ tfstate `module.network.module.vpc.aws_subnet.private[1].id` }}"
      security_groups:
      - "{{ tfstate `module.network.aws_security_group.ecs.id` }}"
      assign_public_ip: DISABLED
plugins:
- name: tfstate
  config:
    url: s3://t3-kato-terraform-backend-osaka/{{ must_env `ENV` }}/terraform.tfstate
"#;

    const SEED_PROD_RENDERED: &str = r#"region: ap-northeast-3
cluster: t3-kato-prod
rules:
- name: t3-kato-prod
  scheduleExpression: cron(0 10 * * ? *)
  taskDefinition: t3-kato-prod
  containerOverrides:
  - name: nginx
    command: [nginx, -v]
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - "subnet-039cb8363ae3f2b74"
      - "subnet-03f653bcc55408971"
      security_groups:
      - "sg-03d360a9d98c40504"
      assign_public_ip: DISABLED
plugins:
- name: tfstate
  config:
"#;

    #[derive(Default)]
    struct FakeRemote {
        objects: HashMap<(String, String), Vec<u8>>,
        params: HashMap<String, SsmParameter>,
    }

    impl RemoteSource for FakeRemote {
        fn s3_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
            self.objects
                .get(&(bucket.to_owned(), key.to_owned()))
                .cloned()
                .ok_or_else(|| format!("NoSuchKey: {bucket}/{key}"))
        }
        fn ssm_get_parameter(&self, name: &str) -> Result<SsmParameter, String> {
            self.params
                .get(name)
                .cloned()
                .ok_or_else(|| "ParameterNotFound".to_owned())
        }
    }

    fn testdata() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
    }

    fn seed_state() -> Vec<u8> {
        std::fs::read(testdata().join("tfstate/seed-prod.tfstate")).expect("fixture")
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn render_with(
        text: &str,
        env: &[(&str, &str)],
        remote: Option<&dyn RemoteSource>,
    ) -> Result<String, Vec<TemplateError>> {
        let env = env_of(env);
        let dir = testdata();
        render_config(&RenderRequest {
            source_name: "ecschedule.yaml",
            text,
            env: &env,
            config_dir: &dir,
            cwd: Path::new("/nonexistent"),
            remote,
        })
    }

    fn render(text: &str, env: &[(&str, &str)]) -> Result<String, Vec<TemplateError>> {
        render_with(text, env, None)
    }

    fn messages(result: Result<String, Vec<TemplateError>>) -> Vec<String> {
        match result {
            Ok(text) => panic!("expected errors, rendered:\n{text}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    const PROD_ENV: [(&str, &str); 2] = [("ENV", "prod"), ("AWS_DEFAULT_REGION", "ap-northeast-3")];

    #[test]
    fn seed_prod_file_with_a_local_tfstate_path() {
        let text = SEED_PROD.replace(
            "url: s3://t3-kato-terraform-backend-osaka/{{ must_env `ENV` }}/terraform.tfstate",
            "path: tfstate/seed-{{ must_env `ENV` }}.tfstate",
        );
        let out = render(&text, &PROD_ENV).expect("render");
        assert_eq!(
            out,
            format!("{SEED_PROD_RENDERED}    path: tfstate/seed-prod.tfstate\n")
        );
    }

    #[test]
    fn seed_prod_file_with_an_s3_url_through_the_remote_source() {
        let mut remote = FakeRemote::default();
        remote.objects.insert(
            (
                "t3-kato-terraform-backend-osaka".to_owned(),
                "prod/terraform.tfstate".to_owned(),
            ),
            seed_state(),
        );
        let out = render_with(SEED_PROD, &PROD_ENV, Some(&remote)).expect("render");
        assert_eq!(
            out,
            format!(
                "{SEED_PROD_RENDERED}    url: s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate\n"
            )
        );
        // Offline (validate): the S3 state cannot be read, and the error
        // points at the plugin entry.
        let errors = messages(render(SEED_PROD, &PROD_ENV));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("ecschedule.yaml:20:"), "{errors:?}");
        assert!(errors[0].contains("needs AWS access"), "{errors:?}");
    }

    #[test]
    fn every_missing_variable_is_listed_at_once() {
        let errors = messages(render(SEED_PROD, &[]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:12: environment variable \"AWS_DEFAULT_REGION\" is not defined (must_env)",
                "ecschedule.yaml:2:21: environment variable \"ENV\" is not defined (must_env)",
                "ecschedule.yaml:4:20: environment variable \"ENV\" is not defined (must_env)",
                "ecschedule.yaml:6:30: environment variable \"ENV\" is not defined (must_env)",
                "ecschedule.yaml:22:50: environment variable \"ENV\" is not defined (must_env)",
            ]
        );
        let errors = messages(render(SEED_PROD, &[("ENV", "prod")]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:12: environment variable \"AWS_DEFAULT_REGION\" is not defined (must_env)"
            ]
        );
    }

    #[test]
    fn seed_dumped_and_delete_files_render() {
        let dumped = "region: ap-northeast-3\ncluster: t3-kato-dev\nrules:\n- name: t3-kato-dev\n  scheduleExpression: cron(0 10 * * ? *)\n";
        assert_eq!(render(dumped, &[]).expect("dumped"), dumped);
        let delete = "region: {{ must_env `AWS_DEFAULT_REGION` }}\ncluster: t3-kato-{{ must_env `ENV` }}\nrules:\n";
        assert_eq!(
            render(delete, &PROD_ENV).expect("delete"),
            "region: ap-northeast-3\ncluster: t3-kato-prod\nrules:\n"
        );
        assert_eq!(render("", &[]).expect("empty"), "");
    }

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

    #[test]
    fn go_spelling_renders_identically() {
        let env = [
            ("ENV", "prod"),
            ("SERVICE", "web"),
            ("Q", "say \"hi\" <&>\n"),
        ];
        let cases = [
            ("x: {{ must_env `ENV` }}", "x: prod"),
            ("x: {{must_env \"ENV\"}}", "x: prod"),
            (
                "x: \"{{ must_env `Q` | json_escape }}\"",
                "x: \"say \\\"hi\\\" \\u003c\\u0026\\u003e\\n\"",
            ),
            (
                "x: \"{{ json_escape (must_env `Q`) }}\"",
                "x: \"say \\\"hi\\\" \\u003c\\u0026\\u003e\\n\"",
            ),
            ("a: 1\n  {{- /* gone */}}\nb: 2", "a: 1\nb: 2"),
            ("a: [ {{- env `ENV` -}} ]", "a: [prod]"),
            ("{{ \"lit\" }}", "lit"),
            ("{{#if (eq (env \"ENV\") \"prod\")}}p{{else}}d{{/if}}", "p"),
            (
                "{{#unless (eq (env \"ENV\") \"prod\")}}d{{else}}p{{/unless}}",
                "p",
            ),
            ("back\\{{ env `ENV` }}", "back\\prod"),
            ("{{ \"{{\" }}x{{ \"}}\" }}", "{{x}}"),
        ];
        for (input, expected) in cases {
            assert_eq!(render(input, &env).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn go_only_constructs_are_reported_with_positions() {
        let text = "a: {{ if .X }}x{{ else }}y{{ end }}\nb: {{ range $i := .L }}{{ end }}\nc: {{ .Field }}\nd: {{ $x }}\ne: {{ define \"t\" }}{{ end }}\nf: {{ template \"t\" }}\ng: {{> part }}\nh: {{ must_env `ENV`\n";
        let errors = messages(render(text, &[("ENV", "x")]));
        assert_eq!(errors.len(), 8, "{errors:#?}");
        assert!(
            errors[0]
                .starts_with("ecschedule.yaml:1:7: Go template action \"if\" is not supported"),
            "{errors:#?}"
        );
        assert!(errors[0].contains("{{#if"), "{errors:#?}");
        assert!(
            errors[1].starts_with("ecschedule.yaml:2:7: Go template action \"range\""),
            "{errors:#?}"
        );
        assert!(
            errors[2].starts_with("ecschedule.yaml:3:7: Go template data access (.Field)"),
            "{errors:#?}"
        );
        assert!(
            errors[3].starts_with("ecschedule.yaml:4:7: Go template variables ($x)"),
            "{errors:#?}"
        );
        assert!(
            errors[4].starts_with("ecschedule.yaml:5:7: Go template action \"define\""),
            "{errors:#?}"
        );
        assert!(
            errors[5].starts_with("ecschedule.yaml:6:7: Go template action \"template\""),
            "{errors:#?}"
        );
        assert!(
            errors[6].starts_with("ecschedule.yaml:7:6: partials"),
            "{errors:#?}"
        );
        assert_eq!(
            errors[7],
            "ecschedule.yaml:8:4: unclosed action: missing }}"
        );
    }

    #[test]
    fn unknown_functions_get_a_hint_and_missing_envs_are_listed_too() {
        let text = "a: {{ must_evn `ENV` }}\nb: {{ must_env `NOPE` }}\nc: {{ jsonescape `x` }}\nd: {{ frobnicate }}\n";
        let errors = messages(render(text, &[("ENV", "x")]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:7: unknown function \"must_evn\" (did you mean \"must_env\"?)",
                "ecschedule.yaml:2:7: environment variable \"NOPE\" is not defined (must_env)",
                "ecschedule.yaml:3:7: unknown function \"jsonescape\" (did you mean \"json_escape\"?)",
                "ecschedule.yaml:4:7: unknown function \"frobnicate\"",
            ]
        );
    }

    #[test]
    fn env_function_semantics() {
        let env = [("SET", "value"), ("EMPTY", ""), ("OTHER", "other")];
        let cases = [
            ("{{ env `SET` }}", "value"),
            ("{{ env `UNSET` }}", "UNSET"),
            ("{{ env `UNSET` `default` }}", "default"),
            ("{{ env `EMPTY` `default` }}", "default"),
            ("{{ env `UNSET` `OTHER` }}", "other"),
            ("{{ env `UNSET` `EMPTY` `last` }}", "last"),
            ("{{ env `SET` `OTHER` }}", "value"),
            ("[{{ must_env `EMPTY` }}]", "[]"),
            ("{{ env (env `UNSET` `SET`) }}", "value"),
            ("{{ json_escape (env `UNSET` `SET`) }}", "value"),
        ];
        for (input, expected) in cases {
            assert_eq!(render(input, &env).as_deref(), Ok(expected), "{input}");
        }
        let errors = messages(render("{{ env }}", &env));
        assert_eq!(
            errors,
            ["ecschedule.yaml:1:4: env: expected at least 1 argument (NAME [DEFAULT…])"]
        );
    }

    #[test]
    fn names_computed_while_rendering_are_looked_up() {
        // SUFFIX is not a literal anywhere: it is learnt during rendering.
        let env = [("PICK", "SUFFIX"), ("SUFFIX", "found")];
        assert_eq!(
            render("{{ must_env (must_env `PICK`) }}", &env).as_deref(),
            Ok("found")
        );
    }

    #[test]
    fn multiple_tfstates_with_func_prefix_and_the_plugin_call_form() {
        let text = r#"a: {{ tfstate `module.network.aws_security_group.ecs.id` }}
b: {{ plugin `second_tfstate` `module.network.module.vpc.aws_subnet.private[1].id` }}
c: {{ second_tfstatef `module.ecs.aws_cloudwatch_log_group.main['%s'].retention_in_days` (must_env `SERVICE`) }}
d: {{ tfstate `output.private_subnet_ids` }}
e: {{ tfstatef "module.network.module.vpc.aws_subnet.private[%d].id" 0 }}
plugins:
  - name: tfstate
    config:
      path: tfstate/seed-prod.tfstate
  - name: tfstate
    func_prefix: second_
    config:
      url: file://{{ must_env `FIXTURES` }}/tfstate/seed-prod.tfstate
"#;
        let fixtures = testdata().display().to_string();
        let out = render(text, &[("SERVICE", "nginx"), ("FIXTURES", &fixtures)]).expect("render");
        let head: Vec<&str> = out.lines().take(5).collect();
        assert_eq!(
            head,
            [
                "a: sg-03d360a9d98c40504",
                "b: subnet-03f653bcc55408971",
                "c: 14",
                "d: [\"subnet-039cb8363ae3f2b74\",\"subnet-03f653bcc55408971\"]",
                "e: subnet-039cb8363ae3f2b74",
            ]
        );
    }

    #[test]
    fn lookup_failures_are_all_reported_with_positions() {
        let text = r#"a: x
b: {{ tfstate `module.x.aws_subnet.y.id` }}
c: {{ tfstate `module.network.aws_security_group.ecs.id` }} {{ tfstate "nope.nope" }}
d: {{ first_tfstate `x.y` }}
e: {{ plugin `third_ssm` `/x` }}
plugins:
- name: tfstate
  config:
    path: tfstate/seed-prod.tfstate
"#;
        let errors = messages(render(text, &[]));
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert_eq!(
            errors[0],
            "ecschedule.yaml:2:7: module.x.aws_subnet.y.id is not found in tfstate"
        );
        assert_eq!(
            errors[1],
            "ecschedule.yaml:3:64: nope.nope is not found in tfstate"
        );
        assert_eq!(
            errors[2],
            "ecschedule.yaml:4:7: function \"first_tfstate\" is not defined: no tfstate plugin with func_prefix \"first_\" is declared in plugins"
        );
        assert!(
            errors[3]
                .starts_with("ecschedule.yaml:5:7: plugin: \"third_ssm\" is not a plugin function"),
            "{errors:#?}"
        );
    }

    #[test]
    fn tfstate_without_a_plugin_and_plugin_config_errors() {
        let errors = messages(render("a: {{ tfstate `x.y` }}\n", &[]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:7: function \"tfstate\" is not defined: no tfstate plugin is declared in plugins"
            ]
        );
        let text = "a: {{ tfstate `x.y` }}\nplugins:\n- name: tfstate\n  config: {}\n";
        let errors = messages(render(text, &[]));
        assert_eq!(
            errors,
            ["ecschedule.yaml:3:3: tfstate plugin requires path or url for tfstate location"]
        );
        let text = "a: {{ tfstate `x.y` }}\nplugins:\n- name: tfstate\n  config:\n    path: tfstate/seed-prod.tfstate\n- name: cloudformation\n";
        let errors = messages(render(text, &[]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:6:3: plugin \"cloudformation\" is not available (expected tfstate or ssm)"
            ]
        );
        let errors = messages(render("a: {{ tfstate `x.y` }}\nplugins: {a: 1}\n", &[]));
        assert_eq!(
            errors,
            ["ecschedule.yaml:2:10: cannot read the plugins list: expected sequence start"]
        );
        let errors = messages(render("a: {{ tfstate `x.y` }}\nplugins: [\n", &[]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("ecschedule.yaml:2:10: cannot read the plugins list: "),
            "{errors:?}"
        );
        // Not a mapping at all: no plugins, so tfstate is undefined.
        let errors = messages(render("- {{ tfstate `x.y` }}\n", &[]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:6: function \"tfstate\" is not defined: no tfstate plugin is declared in plugins"
            ]
        );
        // JSON configs work the same way.
        let json = r#"{"a": "{{ tfstate `module.network.aws_security_group.ecs.id` }}",
 "plugins": [{"name": "tfstate", "config": {"path": "tfstate/seed-prod.tfstate"}}]}"#;
        let out = render(json, &[]).expect("json");
        assert!(out.starts_with(r#"{"a": "sg-03d360a9d98c40504","#), "{out}");
    }

    fn fake_ssm() -> FakeRemote {
        let mut remote = FakeRemote::default();
        for (name, kind, value) in [
            ("/app/plain", SsmParameterKind::String, "hello"),
            ("/app/secret", SsmParameterKind::SecureString, "s3cr3t"),
            ("/app/list", SsmParameterKind::StringList, "a,b,c"),
        ] {
            remote.params.insert(
                name.to_owned(),
                SsmParameter {
                    kind,
                    value: value.to_owned(),
                },
            );
        }
        remote
    }

    #[test]
    fn ssm_index_semantics_through_templates() {
        let remote = fake_ssm();
        let text = "a: {{ ssm `/app/plain` }}\nb: {{ ssm \"/app/secret\" }}\nc: {{ ssm `/app/list` 0 }}\nd: {{ ssm `/app/list` 2 }}\ne: {{ aws_ssm `/app/list` 1 }}\nf: {{ plugin `aws_ssm` `/app/plain` }}\nplugins:\n- name: ssm\n  func_prefix: aws_\n";
        let out = render_with(text, &[], Some(&remote)).expect("render");
        assert_eq!(
            out.lines().take(6).collect::<Vec<_>>(),
            ["a: hello", "b: s3cr3t", "c: a", "d: c", "e: b", "f: hello"]
        );
        let bad = "a: {{ ssm `/app/plain` 0 }}\nb: {{ ssm `/app/secret` 1 }}\nc: {{ ssm `/app/list` }}\nd: {{ ssm `/app/list` 3 }}\ne: {{ ssm `/missing` }}\n";
        let errors = messages(render_with(bad, &[], Some(&remote)));
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "ecschedule.yaml:1:7: ssm parameter \"/app/plain\" is a String and takes no index"
            ),
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("is a SecureString and takes no index"),
            "{errors:#?}"
        );
        assert!(
            errors[2].contains("is a StringList: pass a 0-based index"),
            "{errors:#?}"
        );
        assert!(
            errors[3].starts_with(
                "ecschedule.yaml:4:7: ssm parameter \"/app/list\": index 3 is out of range"
            ),
            "{errors:#?}"
        );
        assert_eq!(
            errors[4],
            "ecschedule.yaml:5:7: ssm parameter \"/missing\": ParameterNotFound"
        );
    }

    #[test]
    fn ssm_without_aws_access_names_the_parameter() {
        let errors = messages(render("a: {{ ssm `/app/plain` }}\n", &[]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:7: ssm parameter \"/app/plain\" cannot be read: SSM lookups need AWS access, which this command does not use"
            ]
        );
    }

    #[test]
    fn plugin_config_is_not_rendered_twice_and_env_values_are_not_templates() {
        // An environment value containing `{{` is inserted as text, never
        // evaluated (ecschedule's second pass would evaluate it).
        let text = "a: {{ must_env `V` }}\nb: {{ tfstate `output.vpc_id` }}\nplugins:\n- name: tfstate\n  config:\n    path: tfstate/seed-prod.tfstate\n";
        let out = render(text, &[("V", "{{ must_env `X` }}")]).expect("render");
        assert!(
            out.starts_with("a: {{ must_env `X` }}\nb: vpc-0e6a4c1f2b3d4e5f6\n"),
            "{out}"
        );
    }

    #[test]
    fn handlebars_errors_are_mapped_to_the_original_file() {
        let errors = messages(render("a: 1\nb: {{#if (env `X`)}}x\n", &[]));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].contains("never closed"), "{errors:#?}");
        let errors = messages(render(
            "a: {{#each (env `X`)}}{{this.nope}}{{/each}}\n",
            &[("X", "abc")],
        ));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("ecschedule.yaml:1:"), "{errors:#?}");
    }

    #[test]
    fn malformed_actions_are_reported_precisely() {
        let text = "a: {{ \"bad \\q\" }}\nb: {{ `open }}\nc: {{ env `A` | }}\nd: {{ (env `A`) `x` }}\ne: {{else}}\nf: {{#foo}}x{{/foo}}\ng: {{ foo.bar }}\nh: {{ 1e5 }}\n";
        let errors = messages(render(text, &[]));
        assert_eq!(
            errors,
            [
                "ecschedule.yaml:1:7: unknown escape \\q in string",
                "ecschedule.yaml:2:7: unterminated raw string (missing `)",
                "ecschedule.yaml:3:15: missing function or value",
                "ecschedule.yaml:4:17: only a function can take arguments",
                "ecschedule.yaml:5:6: unexpected {{else}}: there is no open block",
                "ecschedule.yaml:6:7: block helper \"#foo\" is not supported (use #if, #unless, #each or #with)",
                "ecschedule.yaml:7:7: unknown variable \"foo.bar\": templates have no data, use env or must_env",
                "ecschedule.yaml:8:7: invalid number 1e5",
            ]
        );
        assert_eq!(
            render("{{{ env `A` }}} {{& env `A` }}", &[("A", "<&>")]).as_deref(),
            Ok("<&> <&>")
        );
    }

    #[test]
    fn template_error_display() {
        let mut e = TemplateError {
            source_name: "f.yaml".to_owned(),
            line: Some(3),
            column: Some(5),
            message: "boom".to_owned(),
        };
        assert_eq!(e.to_string(), "f.yaml:3:5: boom");
        e.column = None;
        assert_eq!(e.to_string(), "f.yaml:3: boom");
        e.line = None;
        assert_eq!(e.to_string(), "f.yaml: boom");
    }
}
