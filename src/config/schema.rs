//! JSON Schema validation of a parsed config against the schema generated
//! from `raw` (checked in as `schemas/ecsched.schema.json`; a test fails when
//! that file is stale). Turns validator errors into diagnostics with
//! file:line:column, a readable key path and "did you mean" hints.

use std::sync::OnceLock;

use serde_json::Value;

use super::error::Diagnostic;
use super::raw::config_schema;
use super::yaml::PosIndex;
use crate::suggest::suggest;

fn validator() -> Option<&'static (Value, jsonschema::Validator)> {
    static V: OnceLock<Option<(Value, jsonschema::Validator)>> = OnceLock::new();
    V.get_or_init(|| {
        let schema = config_schema();
        let v = jsonschema::draft202012::new(&schema).ok()?;
        Some((schema, v))
    })
    .as_ref()
}

/// `/rules/0/taskCount` → `rules[0].taskCount`.
pub fn human_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.chars().all(|c| c.is_ascii_digit()) && !token.is_empty() {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    if out.is_empty() {
        "top level".to_string()
    } else {
        out
    }
}

/// `rule "NAME"` / `schedule "NAME"` for a pointer inside rules/schedules.
pub fn resource_label(value: &Value, pointer: &str) -> Option<String> {
    let mut parts = pointer.split('/').skip(1);
    let list = parts.next()?;
    let idx: usize = parts.next()?.parse().ok()?;
    let kind = match list {
        "rules" => "rule",
        "schedules" => "schedule",
        _ => return None,
    };
    let item = value.get(list)?.get(idx)?;
    item.get("name")
        .and_then(Value::as_str)
        .map(|name| format!("{kind} \"{name}\""))
}

fn allowed_properties<'a>(schema: &'a Value, schema_path: &str) -> Vec<&'a str> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Drops `key: null` entries (null means absent) and turns numbers and
/// booleans into strings where the schema wants a string, as ecschedule's
/// YAML loader does (`command: [sleep, 60]`, `environment: {PORT: 8080}`).
pub fn normalize(value: &mut Value) {
    if let Some((schema, _)) = validator() {
        normalize_at(value, schema, schema, 0);
    }
}

fn resolve<'a>(mut schema: &'a Value, root: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => schema = target,
                None => break,
            },
            None => break,
        }
    }
    schema
}

fn normalize_at(value: &mut Value, schema: &Value, root: &Value, depth: usize) {
    if depth > 64 {
        return;
    }
    let schema = resolve(schema, root);
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (k, v) in map.iter_mut() {
                let sub = schema
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(sub) = sub {
                    normalize_at(v, sub, root, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for v in items {
                    normalize_at(v, sub, root, depth + 1);
                }
            }
        }
        Value::Number(n) if wants_string(schema) => *value = Value::String(n.to_string()),
        Value::Bool(b) if wants_string(schema) => *value = Value::String(b.to_string()),
        _ => {}
    }
}

/// Takes out of `value` (as if absent) every number where the schema wants an integer but
/// that no `i64` holds: `99999999999999999999` (which YAML reads as a float), `2.0`. The
/// schema accepts both as integers, so they would otherwise fail later, when the config is
/// read into its types, without a position. Returns each one's pointer and value, for
/// the caller to report; a number with a fraction (`2.5`) is left to the schema.
pub fn take_non_i64(value: &mut Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some((schema, _)) = validator() {
        take_non_i64_at(value, "", schema, schema, 0, &mut out);
    }
    out
}

fn take_non_i64_at(
    value: &mut Value,
    pointer: &str,
    schema: &Value,
    root: &Value,
    depth: usize,
    out: &mut Vec<(String, Value)>,
) {
    if depth > 64 {
        return;
    }
    let schema = resolve(schema, root);
    match value {
        Value::Object(map) => {
            let mut taken = Vec::new();
            for (k, v) in map.iter_mut() {
                let Some(sub) = schema
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
                else {
                    continue;
                };
                let child = format!("{pointer}/{}", super::yaml::escape_pointer_token(k));
                if is_non_i64_integer(v) && wants_integer(resolve(sub, root)) {
                    taken.push((k.clone(), child));
                } else {
                    take_non_i64_at(v, &child, sub, root, depth + 1, out);
                }
            }
            for (k, child) in taken {
                if let Some(v) = map.remove(&k) {
                    out.push((child, v));
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, v) in items.iter_mut().enumerate() {
                    take_non_i64_at(v, &format!("{pointer}/{i}"), sub, root, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// A whole number (no fraction) that is not stored as an `i64`.
fn is_non_i64_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) if n.as_i64().is_none() => {
            n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn wants_integer(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("integer")
}

fn wants_string(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("string")
}

fn hint_for(pointer: &str, instance: &Value) -> Option<String> {
    if pointer.ends_with("/environment") && instance.is_array() {
        return Some(
            "environment is a map of NAME: value, not a list of {name, value}".to_string(),
        );
    }
    None
}

/// Validates `value` (after `normalize`); returns every problem, sorted by position.
pub fn check(file: &str, value: &Value, index: &PosIndex) -> Vec<Diagnostic> {
    let Some((schema, validator)) = validator() else {
        return vec![Diagnostic::new(
            file,
            None,
            "internal error: the built-in config schema does not compile",
        )];
    };
    let mut out = Vec::new();
    for err in validator.iter_errors(value) {
        let pointer = err.instance_path().to_string();
        let label = resource_label(value, &pointer)
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_properties(schema, &err.schema_path().to_string());
                for key in unexpected {
                    let child = format!("{pointer}/{}", super::yaml::escape_pointer_token(key));
                    let within = if pointer.is_empty() {
                        String::new()
                    } else {
                        format!(" in {}", human_path(&pointer))
                    };
                    out.push(
                        Diagnostic::at_key(
                            file,
                            index,
                            &child,
                            format!("{label}unknown key \"{key}\"{within}"),
                        )
                        .with_hint(suggest(key, allowed.iter().copied())),
                    );
                }
            }
            _ => {
                let msg = err
                    .to_string()
                    .replace("is not of types \"null\", ", "is not of type ");
                out.push(
                    Diagnostic::at_value(
                        file,
                        index,
                        &pointer,
                        format!("{label}{}: {msg}", human_path(&pointer)),
                    )
                    .with_hint(hint_for(&pointer, err.instance())),
                );
            }
        }
    }
    out.sort_by(Diagnostic::order);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn diags(text: &str) -> Vec<String> {
        let doc = yaml::parse(text).unwrap();
        check("f.yaml", &doc.value, &doc.index)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn unknown_key_has_position_and_hint() {
        let d = diags(
            "cluster: c\nrules:\n- name: r\n  scheduleExpression: rate(1 day)\n  launchType: FARGATE\n",
        );
        assert_eq!(
            d,
            vec![
                "f.yaml:5:3: rule \"r\": unknown key \"launchType\" in rules[0] (did you mean `launch_type`?)"
            ]
        );
    }

    #[test]
    fn wrong_type_names_path() {
        let d = diags("rules:\n- name: r\n  scheduleExpression: rate(1 day)\n  taskCount: many\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("f.yaml:4:14: rule \"r\": rules[0].taskCount: "),
            "{d:?}"
        );
    }

    #[test]
    fn checked_in_schema_is_current() {
        let want = serde_json::to_string_pretty(&config_schema()).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/ecsched.schema.json");
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "schemas/ecsched.schema.json is stale: run `cargo run -- schema > schemas/ecsched.schema.json`"
        );
    }
}
