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
//!
//! Who owns what: [`lex`] splits an action into tokens, [`parse`] builds the
//! call tree, [`translate`] walks the file's tags and emits handlebars,
//! [`render`] runs handlebars with ecsched's functions. This module owns the
//! pipeline, the names shared between translation and rendering, and reading
//! the `plugins:` list between the passes.

mod lex;
mod parse;
mod render;
mod translate;

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::plugin::{PluginSpec, Plugins, RemoteSource, is_plugin_function_name};
use render::render_pass;
use translate::{CallSite, translate};

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

/// Text that renders to exactly `text`: every `{{` becomes ``{{ `{{` }}`` (Go
/// template's way of writing a literal `{{`), so values read from AWS that
/// happen to contain template syntax load back as themselves and are never run.
pub fn escape(text: &str) -> String {
    text.replace("{{", "{{ `{{` }}")
}

/// A rendered config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    /// Offline (no remote source): the lookups in S3/SSM that were not made,
    /// where they are and what they would have read; their values in `text`
    /// are `plugin::UNCHECKED`.
    pub unchecked: Vec<TemplateError>,
}

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
pub fn render_config(req: &RenderRequest) -> Result<Rendered, Vec<TemplateError>> {
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

    let pass1 = render_pass(req, &translation, None);
    problems.extend(pass1.problems);
    if !problems.is_empty() {
        return Err(finish(problems));
    }
    let Some(pass1) = pass1.text else {
        return Err(finish(problems));
    };
    let deferred: Vec<&CallSite> = translation
        .calls
        .iter()
        .filter(|c| is_plugin_function_name(&c.name))
        .collect();
    if deferred.is_empty() {
        return Ok(Rendered {
            text: pass1,
            unchecked: Vec::new(),
        });
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

    let pass2 = render_pass(req, &translation, Some(&plugins));
    problems.extend(pass2.problems);
    match pass2.text {
        Some(text) if problems.is_empty() => Ok(Rendered {
            text,
            unchecked: finish(pass2.unchecked),
        }),
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
    // As in `yaml::parse`: comments are not read, so they are not buffered either.
    options.emit_comments = false;
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
            return Err(yaml_problem(&e, text));
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

fn yaml_problem(e: &serde_saphyr::Error, text: &str) -> Problem {
    if let Err(syntax) = super::yaml::parse(text)
        && syntax.message.starts_with("multiple YAML documents")
    {
        // Said the same way as when the config itself is read.
        return Problem {
            line: syntax.pos.map(|p| p.line),
            column: syntax.pos.map(|p| p.column),
            message: format!("invalid YAML: {}", syntax.message),
        };
    }
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
mod tests;
