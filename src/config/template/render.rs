//! Rendering of translated text with handlebars: registers ecsched's functions
//! (`must_env`, `env`, `json_escape`, the plugin functions, the internal literal
//! and void helpers), reads the environment through a cache filled before each
//! pass, records every failed call with its original line:col, and maps
//! handlebars' own errors back to the original file. Plugin functions render as
//! a placeholder in pass 1; a lookup that needs AWS access, offline, renders as
//! `plugin::UNCHECKED` and is noted with its line:col. No partials, no file reads.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::{Map, Value};

use super::super::gocompat::{go_json_escape, string_arg, to_template_string};
use super::super::plugin::{Lookup, Plugins, UNCHECKED, is_plugin_function_name};
use super::translate::Translation;
use super::{
    BUILTINS, DEFERRED_PLACEHOLDER, ENV, JSON_ESCAPE, LIT_HELPER, MUST_ENV, OWN_FUNCTIONS, POS_KEY,
    Problem, RenderRequest, VOID_HELPER,
};

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
    /// Lookups not made (offline), with what they would have read.
    unchecked: Mutex<Vec<Problem>>,
    /// `None` in pass 1 (plugin functions are deferred).
    plugins: Option<&'p Plugins<'p>>,
}

impl RenderState<'_> {
    fn record(&self, at: Option<(usize, usize)>, message: String) {
        Self::push(&self.problems, at, message);
    }

    fn push(list: &Mutex<Vec<Problem>>, at: Option<(usize, usize)>, message: String) {
        list.lock()
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
                Some(plugins) => plugins.lookup(name, &args).map(|l| match l {
                    Lookup::Value(v) => v,
                    Lookup::Unchecked(what) => {
                        RenderState::push(&self.state.unchecked, at, what);
                        UNCHECKED.to_owned()
                    }
                }),
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

/// What one pass gives: the output (`None` when handlebars itself failed),
/// the problems found and the lookups not made (offline).
pub(super) struct Pass {
    pub text: Option<String>,
    pub problems: Vec<Problem>,
    pub unchecked: Vec<Problem>,
}

/// Renders the translated text once (more if names had to be looked up
/// during rendering).
pub(super) fn render_pass(
    req: &RenderRequest,
    translation: &Translation,
    plugins: Option<&Plugins<'_>>,
) -> Pass {
    let state = RenderState {
        env: EnvCache::default(),
        problems: Mutex::new(Vec::new()),
        unchecked: Mutex::new(Vec::new()),
        plugins,
    };
    state
        .env
        .fill(translation.literals.iter().cloned(), req.env);
    // Each round learns at least one new name; a handful is plenty.
    for _ in 0..8 {
        for list in [&state.problems, &state.unchecked] {
            list.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
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
        let unchecked = std::mem::take(
            &mut *state
                .unchecked
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let text = match result {
            Ok(text) => Some(text),
            Err(e) => {
                problems.push(handlebars_problem(&e, translation));
                None
            }
        };
        return Pass {
            text,
            problems,
            unchecked,
        };
    }
    Pass {
        text: None,
        problems: vec![Problem {
            line: None,
            column: None,
            message: "environment variable names keep changing while rendering".to_owned(),
        }],
        unchecked: Vec::new(),
    }
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
