//! Evaluates a `.jsonnet` config (ecschedule 0.19+) into JSON text, which the
//! loader then renders and validates like any other config. Semantics follow
//! ecschedule's `jsonnet.go`: imports relative to the importing file,
//! `--ext-str`/`--ext-code` external variables, and the native functions
//! `std.native('must_env')(name)` and `std.native('env')(name, default)`.
//!
//! Owns: the Jsonnet evaluator (jrsonnet), ext-var parsing for the CLI, and the
//! bounds of an evaluation (stack depth, size of every file read, size and depth
//! of the output). Errors name `file:line:column` of the Jsonnet source (the
//! imported file when the problem is there).
//!
//! Must not: read the process environment (the request's `env` closure is the
//! only source, so tests stay hermetic), touch AWS, or read files other than the
//! config and what it imports.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::function::builtin;
use jrsonnet_evaluator::tla::TlaArg;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::val::MemoizedClosureThunk;
use jrsonnet_evaluator::{
    AsPathLike, IStr, ImportResolver, ResolvePath, ResultExt as _, SourcePath, State, Thunk, Val,
};
use jrsonnet_gcmodule::{Acyclic, Trace};
use jrsonnet_ir::{SourceFile, SourceVirtual};
use jrsonnet_stdlib::ContextInitializer;
use serde_json::{Map, Number, Value};

use super::error::Diagnostic;
use super::files::MAX_FILE_BYTES;
use super::yaml::Pos;

/// Jsonnet call depth, as go-jsonnet's default `MaxStack` (what ecschedule uses).
pub const MAX_STACK: usize = 500;
/// Nesting depth of the evaluated document (a config nests fewer than 10 levels).
const MAX_DEPTH: usize = 100;
/// Values (scalars, arrays, objects) in the evaluated document: a config has
/// hundreds; this bounds the memory of the document while it is built.
const MAX_VALUES: usize = 1 << 20;
/// Stack of the evaluation thread; jrsonnet grows it further on the heap when
/// needed (`stacker`), so this only sets where that starts.
const THREAD_STACK: usize = 16 << 20;

/// True for the files ecschedule evaluates as Jsonnet (`.jsonnet`); every other
/// extension is YAML (JSON being YAML).
pub fn is_jsonnet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "jsonnet")
}

/// A hint for a template error on `line` of the evaluated JSON: template
/// arguments written with double quotes in a Jsonnet string reach the template
/// pass as `\"`, which no template can read (nor could ecschedule's).
pub fn template_hint(json: &str, line: usize) -> Option<String> {
    let text = json.lines().nth(line.checked_sub(1)?)?;
    let action = &text[text.find("{{")?..];
    action
        .split("}}")
        .next()
        .is_some_and(|a| a.contains("\\\""))
        .then(|| {
            "in a Jsonnet string, quote template arguments with backticks: {{ env `X` `default` }}"
                .to_owned()
        })
}

// ---------------------------------------------------------------------------
// External variables
// ---------------------------------------------------------------------------

/// `--ext-str` (a string) or `--ext-code` (a Jsonnet expression).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtVarKind {
    Str,
    Code,
}

impl fmt::Display for ExtVarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExtVarKind::Str => "--ext-str",
            ExtVarKind::Code => "--ext-code",
        })
    }
}

/// One resolved external variable, bound to `std.extVar(name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtVar {
    pub kind: ExtVarKind,
    pub name: String,
    pub value: String,
}

/// A `--ext-str`/`--ext-code` argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtVarError {
    #[error(
        "{kind} \"{arg}\": empty key (expected KEY=VALUE, or KEY to read the environment variable KEY)"
    )]
    EmptyKey { kind: ExtVarKind, arg: String },
    #[error("{kind} {name}: environment variable {name} is not set (pass {kind} {name}=VALUE)")]
    Unset { kind: ExtVarKind, name: String },
}

impl ExtVar {
    /// Parses one `--ext-str`/`--ext-code` argument: `KEY=VALUE` (split at the
    /// first `=`), or a bare `KEY`, which takes the value of the environment
    /// variable KEY (an error when it is unset), as go-jsonnet and ecschedule do.
    ///
    /// # Errors
    /// An empty key, or a bare key whose environment variable is unset.
    pub fn parse(
        kind: ExtVarKind,
        arg: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ExtVar, ExtVarError> {
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg, None),
        };
        if name.is_empty() {
            return Err(ExtVarError::EmptyKey {
                kind,
                arg: arg.to_owned(),
            });
        }
        let value = match value {
            Some(v) => v,
            None => env(name).ok_or_else(|| ExtVarError::Unset {
                kind,
                name: name.to_owned(),
            })?,
        };
        Ok(ExtVar {
            kind,
            name: name.to_owned(),
            value,
        })
    }
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// What to evaluate.
pub struct EvalRequest<'a> {
    /// The file's full path (imports are relative to its directory).
    pub path: &'a Path,
    /// The file's path as shown in messages.
    pub display: &'a str,
    /// The file's text, already read by the loader.
    pub text: &'a str,
    /// The working directory: imported files are shown relative to it, and
    /// imports in `--ext-code` resolve against it.
    pub cwd: &'a Path,
    pub ext_vars: &'a [ExtVar],
    /// Environment lookup for the native functions.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Evaluates the file and returns the document as pretty-printed JSON.
///
/// The evaluation runs on its own thread (a fresh jrsonnet state whose memory
/// is freed with the thread); environment lookups of the native functions are
/// answered by the calling thread, so `env` needs to be neither `Send` nor
/// `'static`.
///
/// # Errors
/// One diagnostic: a syntax or runtime error with the Jsonnet file, line and
/// column; or a document that is too large, too deep, or holds a function.
pub fn evaluate(req: &EvalRequest<'_>) -> Result<String, Diagnostic> {
    let display = Display::new(req);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let worker_tx = tx.clone();
        let job = Job {
            path: req.path,
            text: req.text,
            cwd: req.cwd,
            ext_vars: req.ext_vars,
            display: &display,
        };
        let spawned = std::thread::Builder::new()
            .name("jsonnet".into())
            .stack_size(THREAD_STACK)
            .spawn_scoped(scope, move || {
                let env = EnvProxy(worker_tx.clone());
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(env)))
                        .unwrap_or_else(|_| {
                            Err(job.display.diagnostic(
                                None,
                                "internal error: the Jsonnet evaluator panicked".to_owned(),
                            ))
                        });
                let _ = worker_tx.send(Msg::Done(result));
            });
        drop(tx);
        if let Err(e) = spawned {
            return Err(
                display.diagnostic(None, format!("cannot start the Jsonnet evaluation: {e}"))
            );
        }
        loop {
            match rx.recv() {
                Ok(Msg::Lookup(name, reply)) => {
                    let _ = reply.send((req.env)(&name));
                }
                Ok(Msg::Done(result)) => return result,
                Err(_) => {
                    return Err(display.diagnostic(
                        None,
                        "internal error: the Jsonnet evaluation ended without a result".to_owned(),
                    ));
                }
            }
        }
    })
}

enum Msg {
    Lookup(String, mpsc::Sender<Option<String>>),
    Done(Result<String, Diagnostic>),
}

/// The native functions' view of the environment: asks the loader's thread.
#[derive(Clone)]
struct EnvProxy(mpsc::Sender<Msg>);

impl Trace for EnvProxy {}

impl EnvProxy {
    fn get(&self, name: &str) -> Option<String> {
        let (reply, answer) = mpsc::channel();
        self.0.send(Msg::Lookup(name.to_owned(), reply)).ok()?;
        answer.recv().ok().flatten()
    }
}

#[builtin(fields(env: EnvProxy))]
fn builtin_must_env(this: &builtin_must_env, name: IStr) -> jrsonnet_evaluator::Result<IStr> {
    match this.env.get(&name) {
        Some(value) => Ok(value.into()),
        None => Err(ErrorKind::RuntimeError(
            format!("must_env: environment variable \"{name}\" is not set").into(),
        )
        .into()),
    }
}

#[builtin(fields(env: EnvProxy))]
fn builtin_env(this: &builtin_env, name: IStr, default: Val) -> Val {
    // ecschedule's `env`: the value whenever the variable is set, even empty.
    match this.env.get(&name) {
        Some(value) => Val::string(value),
        None => default,
    }
}

/// The inputs of one evaluation, borrowed by the worker thread.
struct Job<'a> {
    path: &'a Path,
    text: &'a str,
    cwd: &'a Path,
    ext_vars: &'a [ExtVar],
    display: &'a Display,
}

impl Job<'_> {
    fn run(&self, env: EnvProxy) -> Result<String, Diagnostic> {
        let _depth = jrsonnet_evaluator::stack::limit_stack_depth(MAX_STACK);
        let main = std::fs::canonicalize(self.path).map_err(|e| {
            self.display
                .diagnostic(None, format!("cannot read the config file: {e}"))
        })?;
        let context = ContextInitializer::new(PathResolver::Absolute);
        for var in self.ext_vars {
            match var.kind {
                ExtVarKind::Str => {
                    context.add_ext_str(var.name.as_str().into(), var.value.as_str().into())
                }
                ExtVarKind::Code => {
                    let source: IStr = format!("{} {}", var.kind, var.name).into();
                    let thunk = Thunk::new(MemoizedClosureThunk::new(
                        (source, IStr::from(var.value.as_str())),
                        |(source, code)| {
                            jrsonnet_evaluator::with_state(|s| s.evaluate_snippet(source, code))
                        },
                    ));
                    context
                        .settings_mut()
                        .ext_vars
                        .insert(var.name.as_str().into(), TlaArg::Lazy(thunk));
                }
            }
        }
        context.add_native("must_env", builtin_must_env { env: env.clone() });
        context.add_native("env", builtin_env { env });
        let mut builder = State::builder();
        builder
            .import_resolver(Resolver {
                main: main.clone(),
                main_text: self.text.to_owned(),
                cwd: self.cwd.to_path_buf(),
            })
            .context_initializer(context);
        let state = builder.build();
        let _entered = state.enter();
        let value = state
            .import(main.as_path())
            .map_err(|e| self.display.jsonnet_error(&e))?;
        let mut budget = Budget::new();
        let json = to_json(value, "", 0, &mut budget).map_err(|e| match e {
            ManifestError::Jsonnet(e) => self.display.jsonnet_error(&e),
            ManifestError::Other(message) => self.display.diagnostic(None, message),
        })?;
        let text = serde_json::to_string_pretty(&json).map_err(|e| {
            self.display
                .diagnostic(None, format!("cannot write the evaluated config: {e}"))
        })?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(self.display.diagnostic(None, too_large()));
        }
        Ok(text + "\n")
    }
}

// ---------------------------------------------------------------------------
// Imports
// ---------------------------------------------------------------------------

/// Resolves imports relative to the importing file (ecschedule sets no library
/// path), serves the config file from the text the loader read, and refuses
/// files larger than `files::MAX_FILE_BYTES` and anything that is not a regular file.
#[derive(Acyclic)]
struct Resolver {
    main: PathBuf,
    main_text: String,
    cwd: PathBuf,
}

fn import_error(message: String) -> jrsonnet_evaluator::Error {
    ErrorKind::ImportIo(message).into()
}

impl ImportResolver for Resolver {
    fn resolve_from(
        &self,
        from: &SourcePath,
        path: &dyn AsPathLike,
    ) -> jrsonnet_evaluator::Result<SourcePath> {
        let path = path.as_path();
        let wanted: &Path = path.as_ref();
        let dir = match from.downcast_ref::<SourceFile>() {
            Some(file) => file
                .path()
                .parent()
                .map_or_else(|| self.cwd.clone(), Path::to_path_buf),
            None => self.cwd.clone(),
        };
        let full = dir.join(wanted);
        let shown = match path {
            ResolvePath::Str(s) => s.to_owned(),
            ResolvePath::Path(p) => p.display().to_string(),
        };
        match std::fs::metadata(&full) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(import_error(format!(
                    "cannot import \"{shown}\": {} is not a regular file",
                    full.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Formatted (with the position of the import) by `Display`.
                return Err(ErrorKind::ImportFileNotFound(from.clone(), path.to_owned()).into());
            }
            Err(e) => {
                return Err(import_error(format!(
                    "cannot import \"{shown}\": {}: {e}",
                    full.display()
                )));
            }
        }
        let canonical = std::fs::canonicalize(&full).map_err(|e| {
            import_error(format!(
                "cannot import \"{shown}\": {}: {e}",
                full.display()
            ))
        })?;
        Ok(SourcePath::new(SourceFile::new(canonical)))
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        let Some(file) = resolved.downcast_ref::<SourceFile>() else {
            return Err(import_error(format!("cannot import {resolved}")));
        };
        let path = file.path();
        if path == self.main {
            return Ok(self.main_text.as_bytes().to_vec());
        }
        super::files::read(path)
            .map_err(|e| import_error(format!("cannot import {}: {e}", path.display())))
    }
}

// ---------------------------------------------------------------------------
// Manifesting
// ---------------------------------------------------------------------------

/// What the evaluated document may still take: output bytes and values.
struct Budget {
    bytes: usize,
    values: usize,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            bytes: MAX_FILE_BYTES as usize,
            values: MAX_VALUES,
        }
    }

    /// Spends `values` values taking at least `bytes` bytes of JSON.
    fn spend(&mut self, values: usize, bytes: usize) -> Result<(), ManifestError> {
        match (
            self.values.checked_sub(values),
            self.bytes.checked_sub(bytes),
        ) {
            (Some(v), Some(b)) => {
                self.values = v;
                self.bytes = b;
                Ok(())
            }
            (None, _) => Err(ManifestError::Other(format!(
                "the evaluated config has more than {MAX_VALUES} values"
            ))),
            (_, None) => Err(ManifestError::Other(too_large())),
        }
    }
}

fn too_large() -> String {
    format!(
        "the evaluated config is larger than {} MiB",
        MAX_FILE_BYTES >> 20
    )
}

enum ManifestError {
    Jsonnet(jrsonnet_evaluator::Error),
    Other(String),
}

impl From<jrsonnet_evaluator::Error> for ManifestError {
    fn from(e: jrsonnet_evaluator::Error) -> Self {
        ManifestError::Jsonnet(e)
    }
}

/// Turns an evaluated value into JSON, field by field (visible fields only,
/// object assertions checked), spending `budget` on the size of the output so
/// that a huge document (`std.range(1, 1e8)`) fails before it is built.
fn to_json(
    val: Val,
    pointer: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Value, ManifestError> {
    if depth > MAX_DEPTH {
        return Err(ManifestError::Other(format!(
            "the evaluated config nests deeper than {MAX_DEPTH} levels (at {pointer})"
        )));
    }
    Ok(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(b),
        Val::Num(n) => number(n.get()),
        Val::Str(s) => {
            budget.spend(0, s.len())?;
            Value::String(s.into_flat().to_string())
        }
        Val::Arr(items) => {
            // Every element is a value of at least one byte and a comma: a
            // huge (lazy) array is refused before any element is evaluated.
            let len = items.len() as usize;
            budget.spend(len, 2 * len)?;
            let mut out = Vec::with_capacity(len);
            for (i, item) in items.iter().enumerate() {
                let item = item.with_description(|| format!("elem <{i}> evaluation"))?;
                out.push(to_json(item, &format!("{pointer}/{i}"), depth + 1, budget)?);
            }
            Value::Array(out)
        }
        Val::Obj(obj) => {
            obj.run_assertions()?;
            let mut out = Map::new();
            for (key, value) in obj.iter() {
                budget.spend(1, key.len() + 4)?;
                let value = value.with_description(|| format!("field <{key}> evaluation"))?;
                let child = format!("{pointer}/{}", super::yaml::escape_pointer_token(&key));
                let value = to_json(value, &child, depth + 1, budget)?;
                out.insert(key.to_string(), value);
            }
            Value::Object(out)
        }
        Val::Func(_) => {
            return Err(ManifestError::Other(format!(
                "{} is a function, which has no JSON value (call it)",
                if pointer.is_empty() {
                    "the document"
                } else {
                    pointer
                }
            )));
        }
    })
}

/// Jsonnet numbers are doubles; whole ones are written as integers, as
/// go-jsonnet does.
fn number(n: f64) -> Value {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: exact as an integer
    if n.fract() == 0.0 && n.abs() <= LIMIT {
        #[allow(clippy::cast_possible_truncation)]
        return Value::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(Value::Null, Value::Number)
}

// ---------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------

/// How source files are named in messages.
struct Display {
    main: Option<PathBuf>,
    main_display: String,
    main_text: String,
    cwd: Option<PathBuf>,
}

impl Display {
    fn new(req: &EvalRequest<'_>) -> Display {
        Display {
            main: std::fs::canonicalize(req.path).ok(),
            main_display: req.display.to_owned(),
            main_text: req.text.to_owned(),
            cwd: std::fs::canonicalize(req.cwd).ok(),
        }
    }

    fn diagnostic(&self, pos: Option<Pos>, message: String) -> Diagnostic {
        Diagnostic::new(&self.main_display, pos, message)
    }

    /// The name of a source: the config as the user gave it, an imported file
    /// relative to the working directory when it is below it, else absolute.
    fn name_of(&self, source: &SourcePath) -> String {
        if let Some(path) = source.path() {
            if self.main.as_deref() == Some(path) {
                return self.main_display.clone();
            }
            if let Some(rel) = self
                .cwd
                .as_deref()
                .and_then(|cwd| path.strip_prefix(cwd).ok())
            {
                return rel.display().to_string();
            }
            return path.display().to_string();
        }
        if let Some(v) = source.downcast_ref::<SourceVirtual>() {
            return v.0.to_string();
        }
        source.to_string()
    }

    fn located(&self, span: &jrsonnet_evaluator::Span, message: String) -> Diagnostic {
        let [loc] = span.0.map_source_locations(&[span.1]);
        let pos = (loc.line > 0).then_some(Pos {
            line: loc.line,
            column: loc.column.max(1),
        });
        Diagnostic::new(&self.name_of(span.0.source_path()), pos, message)
    }

    /// `file:line:col: message` for a jrsonnet error: the syntax error's own
    /// position, else the innermost frame of the trace that has one.
    fn jsonnet_error(&self, e: &jrsonnet_evaluator::Error) -> Diagnostic {
        let message = message_of(e.error());
        if let ErrorKind::ImportSyntaxError { path, error } = e.error() {
            let span = jrsonnet_evaluator::Span(path.clone(), error.location.1, error.location.2);
            return self.located(&span, message);
        }
        if let ErrorKind::ImportFileNotFound(from, wanted) = e.error() {
            return self.missing_import(from, &wanted.to_string());
        }
        if let ErrorKind::StaticAnalysisError(diags) = e.error()
            && let Some(span) = diags.iter().find_map(|d| d.span.as_ref())
        {
            return self.located(span, message);
        }
        match e.trace().0.iter().find_map(|el| el.location.as_ref()) {
            Some(span) => self.located(span, message),
            None => self.diagnostic(None, message),
        }
    }
}

impl Display {
    /// `importing-file:line:col: cannot import "x": DIR/x does not exist`, the
    /// position being that of the first `import`/`importstr` of `wanted` in
    /// the importing file (jrsonnet's trace has none for a failed resolution).
    fn missing_import(&self, from: &SourcePath, wanted: &str) -> Diagnostic {
        let importing = from.path().map(Path::to_path_buf);
        let full = importing
            .as_deref()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from(wanted), |dir| dir.join(wanted));
        let full = self.cwd.as_deref().map_or(full.clone(), |cwd| {
            full.strip_prefix(cwd)
                .map_or(full.clone(), Path::to_path_buf)
        });
        let message = format!(
            "cannot import \"{wanted}\": {} does not exist",
            full.display()
        );
        let text = match importing.as_deref() {
            Some(p) if self.main.as_deref() == Some(p) => Some(self.main_text.clone()),
            Some(p) => super::files::read(p)
                .ok()
                .and_then(|b| String::from_utf8(b).ok()),
            None => None,
        };
        let pos = text.as_deref().and_then(|t| find_import(t, wanted));
        Diagnostic::new(&self.name_of(from), pos, message)
    }
}

/// Where `import 'wanted'` (or `importstr`, `importbin`, any quotes) first
/// appears in `text`.
fn find_import(text: &str, wanted: &str) -> Option<Pos> {
    let mut from = 0;
    while let Some(i) = text[from..].find("import") {
        let at = from + i;
        from = at + "import".len();
        let rest = text[from..]
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .trim_start();
        let literal = ["'", "\""].iter().any(|q| {
            rest.strip_prefix(q)
                .and_then(|r| r.strip_prefix(wanted))
                .is_some_and(|r| r.starts_with(q))
        });
        if literal {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            return Some(Pos { line, column });
        }
    }
    None
}

fn message_of(kind: &ErrorKind) -> String {
    match kind {
        // `error "..."` in the config, and the native functions' errors.
        ErrorKind::RuntimeError(msg) => msg.to_string(),
        ErrorKind::ImportIo(msg) => msg.clone(),
        ErrorKind::ImportSyntaxError { error, .. } => {
            format!("Jsonnet syntax error: {}", error.message)
        }
        ErrorKind::StaticAnalysisError(diags) => diags
            .iter()
            .map(|d| d.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        ErrorKind::UndefinedExternalVariable(name) => format!(
            "std.extVar(\"{name}\"): external variable {name} is not defined (pass --ext-str {name}=VALUE or --ext-code {name}=CODE)"
        ),
        ErrorKind::StackOverflow => {
            format!("the evaluation went deeper than {MAX_STACK} calls (infinite recursion?)")
        }
        ErrorKind::InfiniteRecursionDetected => {
            "infinite recursion: a value (or an import) depends on itself".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::config::{ConfigError, LoadRequest, LoadedConfig, load};

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jsonnet");

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn load_in(
        cwd: &Path,
        file: &str,
        vars: &[(&str, &str)],
        ext_vars: &[ExtVar],
    ) -> Result<LoadedConfig, ConfigError> {
        let env = env_of(vars);
        load(&LoadRequest {
            path: Path::new(file),
            cwd,
            env: &env,
            remote: None,
            ext_vars,
        })
    }

    fn load_testdata(
        file: &str,
        vars: &[(&str, &str)],
        ext_vars: &[ExtVar],
    ) -> Result<LoadedConfig, ConfigError> {
        load_in(Path::new(DIR), file, vars, ext_vars)
    }

    /// The parsed config as JSON (`render --json` adds the defaults to exactly
    /// this, so equal documents here render equally; the binary-level check is
    /// in tests/jsonnet.rs).
    fn render_json(cfg: &LoadedConfig) -> String {
        serde_json::to_string_pretty(&cfg.raw).unwrap()
    }

    fn ext(kind: ExtVarKind, arg: &str) -> ExtVar {
        ExtVar::parse(kind, arg, &|_| None).unwrap()
    }

    /// `--ext-str REGION=us-east-1 --ext-str CLUSTER=api --ext-code BASE=1`.
    fn acceptance_ext_vars() -> Vec<ExtVar> {
        vec![
            ext(ExtVarKind::Str, "REGION=us-east-1"),
            ext(ExtVarKind::Str, "CLUSTER=api"),
            ext(ExtVarKind::Code, "BASE=1"),
        ]
    }

    fn error_of(result: Result<LoadedConfig, ConfigError>) -> String {
        match result {
            Ok(cfg) => panic!("expected an error, got {}", cfg.rendered),
            Err(e) => e.to_string(),
        }
    }

    /// A Jsonnet config in a fresh directory, with optional extra files.
    fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn eval_scratch(
        files: &[(&str, &str)],
        vars: &[(&str, &str)],
        ext_vars: &[ExtVar],
    ) -> Result<LoadedConfig, ConfigError> {
        let dir = scratch(files);
        load_in(dir.path(), files[0].0, vars, ext_vars)
    }

    const MINIMAL_RULE: &str = "name: 'r', scheduleExpression: 'rate(1 day)', taskDefinition: 'td'";

    #[test]
    fn ext_var_parsing() {
        let env = env_of(&[("FROM_ENV", "value"), ("EMPTY", "")]);
        let parse = |kind, arg: &str| ExtVar::parse(kind, arg, &env);
        assert_eq!(
            parse(ExtVarKind::Str, "K=a=b"),
            Ok(ExtVar {
                kind: ExtVarKind::Str,
                name: "K".into(),
                value: "a=b".into()
            })
        );
        assert_eq!(
            parse(ExtVarKind::Str, "K=").map(|v| v.value),
            Ok(String::new())
        );
        assert_eq!(
            parse(ExtVarKind::Code, "FROM_ENV").map(|v| (v.kind, v.value)),
            Ok((ExtVarKind::Code, "value".into()))
        );
        assert_eq!(
            parse(ExtVarKind::Str, "EMPTY").map(|v| v.value),
            Ok(String::new())
        );
        assert_eq!(
            parse(ExtVarKind::Str, "NOPE").unwrap_err().to_string(),
            "--ext-str NOPE: environment variable NOPE is not set (pass --ext-str NOPE=VALUE)"
        );
        assert_eq!(
            parse(ExtVarKind::Code, "=1").unwrap_err().to_string(),
            "--ext-code \"=1\": empty key (expected KEY=VALUE, or KEY to read the environment variable KEY)"
        );
        assert!(matches!(
            parse(ExtVarKind::Str, ""),
            Err(ExtVarError::EmptyKey { .. })
        ));
    }

    #[test]
    fn only_dot_jsonnet_is_jsonnet() {
        assert!(is_jsonnet(Path::new("a/x.jsonnet")));
        assert!(!is_jsonnet(Path::new("x.libsonnet")));
        assert!(!is_jsonnet(Path::new("x.json")));
        assert!(!is_jsonnet(Path::new("x.yaml")));
        assert!(!is_jsonnet(Path::new("jsonnet")));
    }

    #[test]
    fn twins_render_to_the_same_document() {
        let vars = [
            ("LOG_LEVEL", "debug"),
            ("STAGE", "prod"),
            ("SYNC_DISABLED", "true"),
        ];
        let ext_vars = acceptance_ext_vars();
        for stem in ["extvars", "env-templates", "tfstate"] {
            let jsonnet = load_testdata(&format!("{stem}.jsonnet"), &vars, &ext_vars)
                .unwrap_or_else(|e| panic!("{stem}.jsonnet: {e}"));
            let yaml = load_testdata(&format!("{stem}.yaml"), &vars, &[])
                .unwrap_or_else(|e| panic!("{stem}.yaml: {e}"));
            assert_eq!(jsonnet.raw, yaml.raw, "{stem}");
            assert_eq!(render_json(&jsonnet), render_json(&yaml), "{stem}");
        }
    }

    #[test]
    fn ext_vars_import_and_env_template_are_all_applied() {
        let cfg = load_testdata(
            "extvars.jsonnet",
            &[("LOG_LEVEL", "debug")],
            &acceptance_ext_vars(),
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&render_json(&cfg)).unwrap();
        assert_eq!(doc["region"], "us-east-1");
        assert_eq!(doc["cluster"], "api");
        let rule = &doc["rules"][0];
        assert_eq!(rule["name"], "api-report");
        // BASE (ext-code, a number) + 2
        assert_eq!(rule["scheduleExpression"], "cron(0 3 * * ? *)");
        assert_eq!(rule["taskCount"], 1);
        // from lib/network.libsonnet, for REGION
        assert_eq!(
            rule["network_configuration"]["aws_vpc_configuration"]["subnets"],
            serde_json::json!(["subnet-0a11b22c33d44e55f", "subnet-0f66e77d88c99b00a"])
        );
        // the {{ env }} template in a string of the evaluated JSON
        assert_eq!(
            rule["containerOverrides"][0]["environment"]["LOG_LEVEL"],
            "debug"
        );
        // and its default when the variable is unset
        let cfg = load_testdata("extvars.jsonnet", &[], &acceptance_ext_vars()).unwrap();
        let doc: Value = serde_json::from_str(&render_json(&cfg)).unwrap();
        assert_eq!(
            doc["rules"][1]["containerOverrides"][0]["environment"]["LOG_LEVEL"],
            "info"
        );
    }

    #[test]
    fn env_templates_take_their_defaults() {
        let jsonnet = load_testdata("env-templates.jsonnet", &[], &[]).unwrap();
        let yaml = load_testdata("env-templates.yaml", &[], &[]).unwrap();
        assert_eq!(render_json(&jsonnet), render_json(&yaml));
        let rule = &jsonnet.raw.rules.as_ref().unwrap()[0];
        assert_eq!(rule.name, "batch-dev-sync");
        assert_eq!(rule.disabled, Some(false));
    }

    #[test]
    fn tfstate_plugins_with_func_prefix() {
        let cfg = load_testdata("tfstate.jsonnet", &[], &[]).unwrap();
        let doc: Value = serde_json::from_str(&render_json(&cfg)).unwrap();
        assert_eq!(doc["role"], "arn:aws:iam::957735096129:role/t3-kato-events");
        let rule = &doc["rules"][0];
        assert_eq!(
            rule["network_configuration"]["aws_vpc_configuration"]["subnets"],
            serde_json::json!(["subnet-039cb8363ae3f2b74", "subnet-03f653bcc55408971"])
        );
        assert_eq!(
            rule["dead_letter_config"]["sqs"],
            "arn:aws:sqs:ap-northeast-3:957735096129:t3-kato-scheduled-dlq"
        );
    }

    #[test]
    fn native_must_env_makes_a_boolean_and_a_number() {
        let text = format!(
            "local must_env = std.native('must_env');\n\
             {{ region: 'ap-northeast-3', cluster: 'api', rules: [{{ {MINIMAL_RULE},\n\
               disabled: must_env('DISABLED') == 'true',\n\
               taskCount: std.parseJson(must_env('COUNT')) }}] }}\n"
        );
        let cfg = eval_scratch(
            &[("x.jsonnet", &text)],
            &[("DISABLED", "true"), ("COUNT", "3")],
            &[],
        )
        .unwrap();
        let rule = &cfg.raw.rules.as_ref().unwrap()[0];
        assert_eq!(rule.disabled, Some(true));
        assert_eq!(rule.task_count, Some(3));
    }

    #[test]
    fn native_must_env_unset_names_the_variable() {
        let text = "local must_env = std.native('must_env');\n\
                    {\n  region: must_env('NOPE'),\n}\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert_eq!(
            err,
            "x.jsonnet:3:19: must_env: environment variable \"NOPE\" is not set"
        );
    }

    #[test]
    fn native_env_is_the_value_when_set_even_empty() {
        let text = format!(
            "local env = std.native('env');\n\
             {{ region: 'ap-northeast-3', cluster: 'api' + env('SUFFIX', '-x'),\n\
               rules: [{{ {MINIMAL_RULE}, disabled: env('DISABLED', false) }}] }}\n"
        );
        let files = [("x.jsonnet", text.as_str())];
        let unset = eval_scratch(&files, &[], &[]).unwrap();
        assert_eq!(unset.raw.cluster.as_deref(), Some("api-x"));
        assert_eq!(unset.raw.rules.as_ref().unwrap()[0].disabled, Some(false));
        let empty = eval_scratch(&files, &[("SUFFIX", "")], &[]).unwrap();
        assert_eq!(empty.raw.cluster.as_deref(), Some("api"));
    }

    #[test]
    fn bare_ext_str_reads_the_environment() {
        let env = env_of(&[("REGION", "eu-west-1")]);
        let var = ExtVar::parse(ExtVarKind::Str, "REGION", &env).unwrap();
        let text = "{ region: std.extVar('REGION'), cluster: 'api' }\n";
        let cfg = eval_scratch(&[("x.jsonnet", text)], &[], &[var]).unwrap();
        assert_eq!(cfg.raw.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn missing_ext_var_is_named() {
        let text = "{\n  region: std.extVar('REGION'),\n  cluster: 'api',\n}\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert_eq!(
            err,
            "x.jsonnet:2:21: std.extVar(\"REGION\"): external variable REGION is not defined \
             (pass --ext-str REGION=VALUE or --ext-code REGION=CODE)"
        );
    }

    #[test]
    fn ext_code_is_jsonnet_and_its_errors_name_the_flag() {
        let text = "{ region: 'ap-northeast-3', cluster: std.extVar('C').name }\n";
        let ok = eval_scratch(
            &[("x.jsonnet", text)],
            &[],
            &[ext(ExtVarKind::Code, "C={ name: 'a' + 'pi' }")],
        )
        .unwrap();
        assert_eq!(ok.raw.cluster.as_deref(), Some("api"));
        let err = error_of(eval_scratch(
            &[("x.jsonnet", text)],
            &[],
            &[ext(ExtVarKind::Code, "C={ name: }")],
        ));
        assert!(err.starts_with("--ext-code C:1:"), "{err}");
        assert!(err.contains("syntax error"), "{err}");
        // An unused ext-code is not evaluated (go-jsonnet is lazy too).
        let text = "{ region: 'ap-northeast-3', cluster: 'api' }\n";
        eval_scratch(&[("x.jsonnet", text)], &[], &[ext(ExtVarKind::Code, "C={")]).unwrap();
    }

    #[test]
    fn syntax_error_has_file_line_and_column() {
        let text = "{\n  region: 'ap-northeast-3',\n  cluster: 'api'\n  rules: [],\n}\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert!(
            err.starts_with("x.jsonnet:4:3: Jsonnet syntax error: "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn imports_are_relative_to_the_importing_file() {
        let files = [
            (
                "conf/x.jsonnet",
                "local lib = import 'lib/a.libsonnet';\n\
                 { region: lib.region, cluster: importstr 'lib/cluster.txt' }\n",
            ),
            (
                "conf/lib/a.libsonnet",
                "{ region: (import 'b.libsonnet').region }\n",
            ),
            ("conf/lib/b.libsonnet", "{ region: 'ap-northeast-3' }\n"),
            ("conf/lib/cluster.txt", "api"),
        ];
        let dir = scratch(&files);
        let cfg = load_in(dir.path(), "conf/x.jsonnet", &[], &[]).unwrap();
        assert_eq!(cfg.raw.region.as_deref(), Some("ap-northeast-3"));
        assert_eq!(cfg.raw.cluster.as_deref(), Some("api"));
    }

    #[test]
    fn missing_import_is_named_at_its_place() {
        let files = [
            (
                "conf/x.jsonnet",
                "local lib = import 'lib/a.libsonnet';\n{ region: lib.region }\n",
            ),
            (
                "conf/lib/a.libsonnet",
                "{\n  region: importstr \"nope.txt\",\n}\n",
            ),
        ];
        let dir = scratch(&files);
        let err = error_of(load_in(dir.path(), "conf/x.jsonnet", &[], &[]));
        assert_eq!(
            err,
            "conf/lib/a.libsonnet:2:11: cannot import \"nope.txt\": conf/lib/nope.txt does not exist"
        );
        let files = [(
            "x.jsonnet",
            "local lib = import 'nope.libsonnet';\n{ region: lib.region }\n",
        )];
        let err = error_of(eval_scratch(&files, &[], &[]));
        assert_eq!(
            err,
            "x.jsonnet:1:13: cannot import \"nope.libsonnet\": nope.libsonnet does not exist"
        );
    }

    #[test]
    fn syntax_error_in_an_import_names_the_imported_file() {
        let files = [
            (
                "x.jsonnet",
                "local lib = import 'lib/a.libsonnet';\n{ region: lib.region }\n",
            ),
            ("lib/a.libsonnet", "{\n  region: 'x'\n  cluster: 'y',\n}\n"),
        ];
        let err = error_of(eval_scratch(&files, &[], &[]));
        assert!(
            err.starts_with("lib/a.libsonnet:3:3: Jsonnet syntax error: "),
            "{err}"
        );
    }

    #[test]
    fn infinite_recursion_is_an_error_not_a_stack_overflow() {
        let text = "local f(n) = f(n + 1);\n{ region: f(0) }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert!(
            err.ends_with("the evaluation went deeper than 500 calls (infinite recursion?)"),
            "{err}"
        );
        assert!(err.starts_with("x.jsonnet:1:"), "{err}");
        // A field that depends on itself.
        let text = "local o = { a: self.a + 1 };\n{ region: o.a }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert!(err.contains("infinite recursion"), "{err}");
        // Files that import each other.
        let files = [
            ("x.jsonnet", "{ region: (import 'a.libsonnet').r }\n"),
            ("a.libsonnet", "{ r: (import 'b.libsonnet').r }\n"),
            ("b.libsonnet", "{ r: (import 'a.libsonnet').r }\n"),
        ];
        let err = error_of(eval_scratch(&files, &[], &[]));
        assert!(err.contains("infinite recursion"), "{err}");
    }

    #[test]
    fn deep_but_finite_recursion_works() {
        // 400 nested calls: within go-jsonnet's (and our) limit of 500.
        let text = "local f(n) = if n == 0 then 'ap-northeast-3' else f(n - 1);\n\
                    { region: f(400), cluster: 'api' }\n";
        let cfg = eval_scratch(&[("x.jsonnet", text)], &[], &[]).unwrap();
        assert_eq!(cfg.raw.region.as_deref(), Some("ap-northeast-3"));
    }

    #[test]
    fn huge_output_is_refused_before_it_is_built() {
        let started = std::time::Instant::now();
        let text = "{ region: 'ap-northeast-3', cluster: 'api', rules: std.range(1, 1e8) }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert_eq!(
            err,
            "x.jsonnet: the evaluated config has more than 1048576 values"
        );
        // Lazy arrays are not walked: this takes no time (and no memory).
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
        // Big strings count their bytes.
        let text = "local s = std.join('', std.makeArray(1024, function(i) 'x'));\n\
                    local k = std.join('', std.makeArray(1024, function(i) s));\n\
                    { region: 'ap-northeast-3', cluster: 'api', tags: [k for i in std.range(1, 80)] }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert_eq!(err, "x.jsonnet: the evaluated config is larger than 64 MiB");
        // So does nesting.
        let text = "local nest(n) = if n == 0 then {} else { a: nest(n - 1) };\n\
                    { region: 'ap-northeast-3', cluster: 'api', x: nest(200) }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert!(err.contains("nests deeper than 100 levels"), "{err}");
    }

    #[test]
    fn functions_have_no_json_value() {
        let text = "{ region: 'ap-northeast-3', cluster: function(x) x }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert_eq!(
            err,
            "x.jsonnet: /cluster is a function, which has no JSON value (call it)"
        );
    }

    #[test]
    fn runtime_error_is_the_users_message_at_its_place() {
        let text = "{\n  region: error 'set a region',\n}\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert_eq!(err, "x.jsonnet:2:11: set a region");
    }

    /// The message of each problem, without its location.
    fn messages(err: &str, file: &str) -> Vec<String> {
        let mut out: Vec<String> = err
            .lines()
            .filter(|l| l.starts_with(file))
            .map(|l| {
                let rest = &l[file.len()..];
                // `:line:col: message` or `: /pointer: message`
                let rest = rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit());
                let rest = rest.trim_start();
                match rest.strip_prefix('/') {
                    Some(r) => r.split_once(": ").map_or(r, |(_, m)| m).to_owned(),
                    None => rest.to_owned(),
                }
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn semantic_error_is_the_same_in_both_spellings_and_names_the_pointer() {
        let jsonnet = error_of(load_testdata("invalid/bad-cron.jsonnet", &[], &[]));
        let yaml = error_of(load_testdata("invalid/bad-cron.yaml", &[], &[]));
        assert!(
            jsonnet.starts_with(
                "invalid/bad-cron.jsonnet: /rules/0/scheduleExpression: rule \"nightly\": "
            ),
            "{jsonnet}"
        );
        assert!(yaml.starts_with("invalid/bad-cron.yaml:5:"), "{yaml}");
        assert_eq!(
            messages(&jsonnet, "invalid/bad-cron.jsonnet"),
            messages(&yaml, "invalid/bad-cron.yaml")
        );
    }

    #[test]
    fn schema_errors_are_the_same_in_both_spellings_and_name_pointers() {
        let jsonnet = error_of(load_testdata("invalid/schema-errors.jsonnet", &[], &[]));
        let yaml = error_of(load_testdata("invalid/schema-errors.yaml", &[], &[]));
        assert!(
            jsonnet.contains(
                "invalid/schema-errors.jsonnet: /rules/0/launchType: rule \"nightly\": unknown key"
            ),
            "{jsonnet}"
        );
        assert!(
            jsonnet
                .contains("invalid/schema-errors.jsonnet: /rules/0/taskCount: rule \"nightly\": "),
            "{jsonnet}"
        );
        assert!(
            !jsonnet
                .split(".jsonnet:")
                .skip(1)
                .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit())),
            "no line numbers: {jsonnet}"
        );
        assert_eq!(
            messages(&jsonnet, "invalid/schema-errors.jsonnet"),
            messages(&yaml, "invalid/schema-errors.yaml")
        );
    }

    #[test]
    fn template_errors_name_the_pointer_of_the_value() {
        let err = error_of(load_testdata("invalid/template-error.jsonnet", &[], &[]));
        assert!(
            err.starts_with("invalid/template-error.jsonnet: /rules/0/taskDefinition: "),
            "{err}"
        );
        assert!(err.contains("ECSCHED_TEST_UNSET_REVISION"), "{err}");
    }

    #[test]
    fn double_quoted_template_arguments_get_a_hint() {
        let text = "{ region: 'ap-northeast-3', cluster: \"api-{{ env \\\"STAGE\\\" }}\" }\n";
        let err = error_of(eval_scratch(&[("x.jsonnet", text)], &[], &[]));
        assert!(err.starts_with("x.jsonnet: /cluster: "), "{err}");
        assert!(
            err.ends_with(
                "(in a Jsonnet string, quote template arguments with backticks: {{ env `X` `default` }})"
            ),
            "{err}"
        );
        let text = "{ region: 'ap-northeast-3', cluster: 'api-{{ env `STAGE` `dev` }}' }\n";
        let cfg = eval_scratch(&[("x.jsonnet", text)], &[], &[]).unwrap();
        assert_eq!(cfg.raw.cluster.as_deref(), Some("api-dev"));
    }

    #[test]
    fn yaml_errors_keep_their_lines() {
        // The pointer-only mode is for evaluated documents only.
        let yaml = error_of(load_testdata("invalid/schema-errors.yaml", &[], &[]));
        assert!(yaml.contains("invalid/schema-errors.yaml:8:3: "), "{yaml}");
        assert!(!yaml.contains(": /rules"), "{yaml}");
    }
}
