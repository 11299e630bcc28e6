//! Everything ecsched does with a config file before it talks to AWS: find
//! it, evaluate it when it is Jsonnet (`jsonnet`), render its templates
//! (plugins: tfstate, ssm), parse YAML/JSON, validate against the JSON Schema in
//! `schemas/`, then semantic checks. Every problem of a file is reported at
//! once, with file:line:column (for an evaluated Jsonnet document, with the
//! JSON Pointer of the value instead). Never writes to AWS; reads from AWS only
//! through `plugin::RemoteSource` (tfstate in S3, SSM).

pub mod error;
pub mod fields;
pub mod files;
pub mod gocompat;
pub mod jsonnet;
pub mod offline;
pub mod plugin;
pub mod raw;
pub mod regions;
pub mod schema;
pub mod template;
pub mod tfstate;
pub mod validate;
pub mod yaml;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use error::{ConfigError, Diagnostic};
use raw::RawConfig;
use yaml::{Pos, PosIndex};

/// Default config file names, in order of preference.
pub const DEFAULT_FILES: [&str; 2] = ["ecsched.yaml", "ecschedule.yaml"];

/// A loaded, fully valid config.
#[derive(Debug)]
pub struct LoadedConfig {
    pub path: PathBuf,
    /// The path as shown in messages.
    pub display: String,
    pub rendered: String,
    pub raw: RawConfig,
    pub index: PosIndex,
    /// Loaded without a remote source: the template lookups in S3/SSM that
    /// were not made (each where it is and what it would have read). Their
    /// values are `plugin::UNCHECKED` placeholders and were not checked: such
    /// a config is only fit for `validate`, never for AWS.
    pub unchecked: Vec<Diagnostic>,
}

impl LoadedConfig {
    /// SHA-256 of the rendered config, hex: binds plan files to the config.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.rendered.as_bytes()))
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What `load` needs from the outside world, passed in so tests stay hermetic.
pub struct LoadRequest<'a> {
    pub path: &'a Path,
    pub cwd: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// AWS for templates (tfstate in S3, SSM); `None`: offline, those lookups
    /// are not made (see `LoadedConfig::unchecked`).
    pub remote: Option<&'a dyn plugin::RemoteSource>,
    /// `--ext-str`/`--ext-code` values for a Jsonnet config (see
    /// `jsonnet::ExtVar::parse`); ignored for YAML/JSON.
    pub ext_vars: &'a [jsonnet::ExtVar],
}

/// `-c FILE` if given, else the first default name that exists in `cwd`.
pub fn find_config(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    DEFAULT_FILES
        .iter()
        .map(|name| cwd.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| ConfigError::NotFound {
            candidates: DEFAULT_FILES.iter().map(ToString::to_string).collect(),
            dir: cwd.to_path_buf(),
        })
}

/// (Jsonnet evaluation →) render → parse → schema → typed → semantic validation.
/// The format follows the extension, as in ecschedule: `.jsonnet` is Jsonnet,
/// anything else YAML (JSON included).
pub fn load(req: &LoadRequest<'_>) -> Result<LoadedConfig, ConfigError> {
    let display = req.path.display().to_string();
    let full = if req.path.is_absolute() {
        req.path.to_path_buf()
    } else {
        req.cwd.join(req.path)
    };
    let text = files::read_text(&full).map_err(|source| ConfigError::Read {
        path: req.path.to_path_buf(),
        source,
    })?;
    let config_dir = full
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| req.cwd.to_path_buf());
    // For Jsonnet: the evaluated JSON, and where its values sit in it (template
    // errors are reported by the JSON Pointer of the value they are in).
    let evaluated = if jsonnet::is_jsonnet(req.path) {
        let json = jsonnet::evaluate(&jsonnet::EvalRequest {
            path: &full,
            display: &display,
            text: &text,
            cwd: req.cwd,
            ext_vars: req.ext_vars,
            env: req.env,
        })
        .map_err(|d| ConfigError::Invalid {
            diagnostics: vec![d],
        })?;
        let index = yaml::parse(&json).map(|d| d.index).unwrap_or_default();
        Some((json, index))
    } else {
        None
    };
    let diagnostic = |e: template::TemplateError| match &evaluated {
        Some((json, index)) => Diagnostic::new(&e.source_name, None, e.message)
            .with_pointer(
                e.line
                    .and_then(|l| index.pointer_at(l, e.column.unwrap_or(1))),
            )
            .with_hint(e.line.and_then(|l| jsonnet::template_hint(json, l))),
        None => {
            let pos = e.line.map(|line| Pos {
                line,
                column: e.column.unwrap_or(1),
            });
            Diagnostic::new(&e.source_name, pos, e.message)
        }
    };
    let rendered = template::render_config(&template::RenderRequest {
        source_name: &display,
        text: evaluated.as_ref().map_or(&text, |(json, _)| json),
        env: req.env,
        config_dir: &config_dir,
        cwd: req.cwd,
        remote: req.remote,
    })
    .map_err(|errs| ConfigError::Invalid {
        diagnostics: errs.into_iter().map(diagnostic).collect(),
    })?;
    let unchecked: Vec<Diagnostic> = rendered.unchecked.into_iter().map(diagnostic).collect();
    let (raw, index) = parse_document(
        &display,
        &rendered.text,
        evaluated.as_ref().map(|(_, index)| index),
        !unchecked.is_empty(),
    )?;
    Ok(LoadedConfig {
        path: req.path.to_path_buf(),
        display,
        rendered: rendered.text,
        raw,
        index,
        unchecked,
    })
}

/// Parses rendered text, checks it against the schema and runs the semantic
/// checks; reports every problem found (semantic checks also run on the
/// entries that passed the schema when others did not).
pub fn parse_rendered(display: &str, rendered: &str) -> Result<(RawConfig, PosIndex), ConfigError> {
    parse_document(display, rendered, None, false)
}

/// `parse_rendered`, for a file's text (`evaluated: None`) or for the rendered
/// JSON of a Jsonnet file, whose problems are located by JSON Pointer instead of
/// line; `evaluated` is then the index of the JSON before template rendering.
/// With `unchecked`, values holding lookups not made offline are not checked
/// (see `offline`).
fn parse_document(
    display: &str,
    rendered: &str,
    evaluated: Option<&PosIndex>,
    unchecked: bool,
) -> Result<(RawConfig, PosIndex), ConfigError> {
    let doc = yaml::parse(rendered).map_err(|e| ConfigError::Invalid {
        diagnostics: vec![match evaluated {
            None => Diagnostic::new(display, e.pos, format!("invalid YAML: {}", e.message)),
            // The evaluated JSON was valid: a template's output broke it.
            Some(index) => Diagnostic::new(
                display,
                None,
                format!(
                    "the evaluated JSON is invalid after template rendering ({}): a template \
                     inserted a quote, backslash or line break (use json_escape)",
                    e.message
                ),
            )
            .with_pointer(e.pos.and_then(|p| index.pointer_at(p.line, p.column))),
        }],
    })?;
    let doc = match evaluated {
        Some(_) => yaml::Document {
            value: doc.value,
            index: doc.index.without_positions(),
        },
        None => doc,
    };
    let mut value = match doc.value {
        serde_json::Value::Null => {
            return Err(ConfigError::Invalid {
                diagnostics: vec![Diagnostic::new(
                    display,
                    None,
                    "the config file is empty (expected at least region and cluster)",
                )],
            });
        }
        v => v,
    };
    schema::normalize(&mut value);
    let mut diagnostics = non_i64_diagnostics(display, rendered, &mut value, &doc.index);
    diagnostics.extend(schema::check(display, &value, &doc.index));
    if unchecked && !diagnostics.is_empty() {
        let (set_aside, real) = offline::set_aside(diagnostics, &mut value, &doc.index);
        diagnostics = real;
        if !set_aside.is_empty() && diagnostics.is_empty() {
            diagnostics = schema::check(display, &value, &doc.index);
        }
    }
    let checked = unchecked.then(|| value.clone());
    let keep = |d: &Diagnostic| {
        checked
            .as_ref()
            .is_none_or(|v| !offline::is_about_unchecked(d, v, &doc.index))
    };
    if diagnostics.is_empty() {
        match serde_json::from_value::<RawConfig>(value) {
            Ok(raw) => {
                let semantic: Vec<Diagnostic> = validate::validate(display, &raw, &doc.index)
                    .into_iter()
                    .filter(keep)
                    .collect();
                if semantic.is_empty() {
                    return Ok((raw, doc.index));
                }
                diagnostics = semantic;
            }
            Err(e) => diagnostics.push(Diagnostic::new(display, None, e.to_string())),
        }
    } else {
        diagnostics.extend(
            partial_semantic(display, &value, &doc.index)
                .into_iter()
                .filter(keep),
        );
        diagnostics.sort_by(Diagnostic::order);
        diagnostics.dedup();
    }
    Err(ConfigError::Invalid { diagnostics })
}

/// Reports (and takes out) the integers no config field can hold, e.g. a `taskCount` of
/// `99999999999999999999`, with their position and as written.
fn non_i64_diagnostics(
    display: &str,
    rendered: &str,
    value: &mut serde_json::Value,
    index: &PosIndex,
) -> Vec<Diagnostic> {
    let taken = schema::take_non_i64(value);
    taken
        .into_iter()
        .map(|(pointer, number)| {
            let pos = index.value_pos(&pointer);
            let written = pos
                .and_then(|p| literal_at(rendered, p))
                .map_or_else(|| number.to_string(), str::to_owned);
            let label = schema::resource_label(value, &pointer)
                .map(|l| format!("{l}: "))
                .unwrap_or_default();
            let path = schema::human_path(&pointer);
            let out_of_range = number
                .as_f64()
                .is_none_or(|f| !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f));
            let message = if out_of_range {
                format!(
                    "{label}{path}: {written} is out of range (integers here go from {} to {})",
                    i64::MIN,
                    i64::MAX
                )
            } else {
                #[allow(clippy::cast_possible_truncation)] // a whole number within i64's range
                let digits = number.as_f64().map_or(0, |f| f as i64);
                format!(
                    "{label}{path}: {written} is not written as an integer (use digits only, e.g. {digits})"
                )
            };
            Diagnostic::new(display, pos, message)
        })
        .collect()
}

/// The plain scalar that starts at `pos` in `text`, as written.
fn literal_at(text: &str, pos: Pos) -> Option<&str> {
    let line = text.lines().nth(pos.line.checked_sub(1)?)?;
    let start = line.char_indices().nth(pos.column.checked_sub(1)?)?.0;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// Semantic checks over whatever parts of a schema-invalid document can be read.
fn partial_semantic(display: &str, value: &serde_json::Value, index: &PosIndex) -> Vec<Diagnostic> {
    fn field<T: serde::de::DeserializeOwned>(v: &serde_json::Value, key: &str) -> Option<T> {
        v.get(key)
            .and_then(|x| serde_json::from_value(x.clone()).ok())
    }
    let top = RawConfig {
        role: field(value, "role"),
        region: field(value, "region"),
        // A cluster of the wrong type is the schema's to report: taken as its JSON text here,
        // it is not also reported as missing or empty.
        cluster: value
            .get("cluster")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
        tracking_id: field(value, "trackingId"),
        plugins: field(value, "plugins"),
        ..RawConfig::default()
    };
    let list = |key: &str| -> Vec<(usize, serde_json::Value)> {
        value
            .get(key)
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().cloned().enumerate().collect())
            .unwrap_or_default()
    };
    let rules: Vec<(usize, raw::RawRule)> = list("rules")
        .into_iter()
        .filter_map(|(i, v)| serde_json::from_value(v).ok().map(|r| (i, r)))
        .collect();
    let schedules: Vec<(usize, raw::RawSchedule)> = list("schedules")
        .into_iter()
        .filter_map(|(i, v)| serde_json::from_value(v).ok().map(|r| (i, r)))
        .collect();
    let rules: Vec<(usize, &raw::RawRule)> = rules.iter().map(|(i, r)| (*i, r)).collect();
    let schedules: Vec<(usize, &raw::RawSchedule)> =
        schedules.iter().map(|(i, r)| (*i, r)).collect();
    validate::validate_parts(display, &top, &rules, &schedules, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse_rendered("f.yaml", text) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { diagnostics }) => {
                diagnostics.iter().map(ToString::to_string).collect()
            }
            Err(other) => vec![other.to_string()],
        }
    }

    const HEAD: &str = "region: ap-northeast-3\ncluster: c\nrules:\n- name: r\n  scheduleExpression: rate(1 day)\n  taskDefinition: t:1\n";

    #[test]
    fn integers_no_field_can_hold_are_reported_where_and_as_written() {
        let range =
            "is out of range (integers here go from -9223372036854775808 to 9223372036854775807)";
        for (value, message) in [
            (
                "99999999999999999999",
                format!("99999999999999999999 {range}"),
            ),
            (
                "18446744073709551615",
                format!("18446744073709551615 {range}"),
            ),
            (
                "-99999999999999999999",
                format!("-99999999999999999999 {range}"),
            ),
            ("1e300", format!("1e300 {range}")),
            (
                "2.0",
                "2.0 is not written as an integer (use digits only, e.g. 2)".to_owned(),
            ),
            (
                "1e1",
                "1e1 is not written as an integer (use digits only, e.g. 10)".to_owned(),
            ),
        ] {
            let text = format!("{HEAD}  taskCount: {value} # a comment\n");
            assert_eq!(
                problems(&text),
                [format!(
                    "f.yaml:7:14: rule \"r\": rules[0].taskCount: {message}"
                )],
                "{value}"
            );
        }
        // With a fraction it is the schema's, as before.
        assert_eq!(
            problems(&format!("{HEAD}  taskCount: 2.5\n")),
            ["f.yaml:7:14: rule \"r\": rules[0].taskCount: 2.5 is not of type \"integer\""]
        );
        // Where a string is wanted, a large number is text, as before.
        assert_eq!(
            problems(&format!("{HEAD}  referenceId: 18446744073709551615\n")),
            Vec::<String>::new()
        );
        // In a flow mapping the literal ends at the comma.
        assert_eq!(
            problems(&format!(
                "{HEAD}  retryPolicy: {{maximumRetryAttempts: 99999999999999999999, maximumEventAgeInSeconds: 60}}\n"
            )),
            [format!(
                "f.yaml:7:39: rule \"r\": rules[0].retryPolicy.maximumRetryAttempts: 99999999999999999999 {range}"
            )]
        );
    }
}
