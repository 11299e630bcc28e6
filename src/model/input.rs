//! The target `Input` JSON (an ECS TaskOverride) ↔ `TaskOverrides`. Parsing is
//! lenient about what ecschedule and the console write (`{"containerOverrides":null}`,
//! missing keys, environment in any order); encoding is canonical and omits
//! everything empty, so equal models always give equal strings. Keys ecsched does
//! not model (e.g. `inferenceAcceleratorOverrides`, a container's `gpu`) are kept
//! in `extra` and written back as they were: a write never drops them silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ContainerOverride, TaskOverrides, TypedValue};

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container_overrides: Option<Vec<WireContainer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ephemeral_storage: Option<WireStorage>,
    /// Everything else, kept verbatim.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStorage {
    size_in_gi_b: i32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireContainer {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    environment: Option<Vec<WireKeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    environment_files: Option<Vec<WireTyped>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_requirements: Option<Vec<WireTyped>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cpu: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory_reservation: Option<i32>,
    /// Everything else, kept verbatim.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct WireKeyValue {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireTyped {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Unknown keys as a canonical JSON object (keys sorted), `None` when none.
fn extra_text(extra: Map<String, Value>) -> Option<String> {
    if extra.is_empty() {
        return None;
    }
    let sorted: std::collections::BTreeMap<String, Value> = extra.into_iter().collect();
    serde_json::to_string(&sorted).ok()
}

/// The unknown keys back as a map (an unreadable text yields none).
fn extra_map(extra: &Option<String>) -> Map<String, Value> {
    extra
        .as_deref()
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(t).ok())
        .unwrap_or_default()
}

/// Parses a target Input. `None`/empty input means no overrides.
pub fn parse(input: Option<&str>) -> Result<TaskOverrides, String> {
    let Some(text) = input.filter(|s| !s.trim().is_empty()) else {
        return Ok(TaskOverrides::default());
    };
    let wire: WireOverride = serde_json::from_str(text)
        .map_err(|e| format!("target Input is not an ECS task override: {e}"))?;
    let containers = wire
        .container_overrides
        .unwrap_or_default()
        .into_iter()
        .map(|c| ContainerOverride {
            name: c.name.unwrap_or_default(),
            command: c.command.filter(|v| !v.is_empty()),
            environment: c
                .environment
                .unwrap_or_default()
                .into_iter()
                .filter_map(|kv| Some((kv.name?, kv.value.unwrap_or_default())))
                .collect::<BTreeMap<_, _>>(),
            environment_files: typed(c.environment_files),
            resource_requirements: typed(c.resource_requirements),
            cpu: c.cpu,
            memory: c.memory,
            memory_reservation: c.memory_reservation,
            extra: extra_text(c.extra),
        })
        .collect();
    Ok(TaskOverrides {
        cpu: non_empty(wire.cpu),
        memory: non_empty(wire.memory),
        task_role_arn: non_empty(wire.task_role_arn),
        execution_role_arn: non_empty(wire.execution_role_arn),
        ephemeral_storage_gib: wire.ephemeral_storage.map(|s| s.size_in_gi_b),
        containers,
        extra: extra_text(wire.extra),
    })
}

fn typed(v: Option<Vec<WireTyped>>) -> Vec<TypedValue> {
    v.unwrap_or_default()
        .into_iter()
        .map(|t| TypedValue {
            kind: t.kind,
            value: t.value,
        })
        .collect()
}

fn untyped(v: &[TypedValue]) -> Option<Vec<WireTyped>> {
    (!v.is_empty()).then(|| {
        v.iter()
            .map(|t| WireTyped {
                kind: t.kind.clone(),
                value: t.value.clone(),
            })
            .collect()
    })
}

/// Canonical Input JSON, or `None` when there is nothing to override.
pub fn encode(o: &TaskOverrides) -> Option<String> {
    if *o == TaskOverrides::default() {
        return None;
    }
    let wire = WireOverride {
        container_overrides: (!o.containers.is_empty()).then(|| {
            o.containers
                .iter()
                .map(|c| WireContainer {
                    name: Some(c.name.clone()),
                    command: c.command.clone(),
                    environment: (!c.environment.is_empty()).then(|| {
                        c.environment
                            .iter()
                            .map(|(k, v)| WireKeyValue {
                                name: Some(k.clone()),
                                value: Some(v.clone()),
                            })
                            .collect()
                    }),
                    environment_files: untyped(&c.environment_files),
                    resource_requirements: untyped(&c.resource_requirements),
                    cpu: c.cpu,
                    memory: c.memory,
                    memory_reservation: c.memory_reservation,
                    extra: extra_map(&c.extra),
                })
                .collect()
        }),
        cpu: o.cpu.clone(),
        memory: o.memory.clone(),
        task_role_arn: o.task_role_arn.clone(),
        execution_role_arn: o.execution_role_arn.clone(),
        ephemeral_storage: o
            .ephemeral_storage_gib
            .map(|g| WireStorage { size_in_gi_b: g }),
        extra: extra_map(&o.extra),
    };
    // Serialising plain structs of strings and integers cannot fail.
    serde_json::to_string(&wire).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_input_parses_and_reencodes_canonically() {
        let seed = r#"{"containerOverrides": [{"name": "nginx", "command": ["nginx", "-v"]}]}"#;
        let o = parse(Some(seed)).unwrap();
        assert_eq!(o.containers[0].name, "nginx");
        assert_eq!(
            encode(&o).unwrap(),
            r#"{"containerOverrides":[{"name":"nginx","command":["nginx","-v"]}]}"#
        );
    }

    #[test]
    fn ecschedule_null_overrides_equal_no_input() {
        assert_eq!(
            parse(Some(r#"{"containerOverrides":null}"#)).unwrap(),
            TaskOverrides::default()
        );
        assert_eq!(parse(None).unwrap(), TaskOverrides::default());
        assert_eq!(encode(&TaskOverrides::default()), None);
    }

    #[test]
    fn environment_order_and_empty_command_do_not_matter() {
        let a = parse(Some(
            r#"{"containerOverrides":[{"name":"c","command":[],"environment":[{"name":"B","value":"2"},{"name":"A","value":"1"}]}]}"#,
        ))
        .unwrap();
        let b = parse(Some(
            r#"{"containerOverrides":[{"name":"c","environment":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}"#,
        ))
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn keys_ecsched_does_not_model_are_kept() {
        let live = r#"{"containerOverrides":[{"name":"c","command":["x"],"gpu":"1"}],"inferenceAcceleratorOverrides":[{"deviceName":"d","deviceType":"t"}]}"#;
        let o = parse(Some(live)).unwrap();
        assert_eq!(
            o.extra.as_deref(),
            Some(r#"{"inferenceAcceleratorOverrides":[{"deviceName":"d","deviceType":"t"}]}"#)
        );
        assert_eq!(o.containers[0].extra.as_deref(), Some(r#"{"gpu":"1"}"#));
        let back: serde_json::Value = serde_json::from_str(&encode(&o).unwrap()).unwrap();
        let want: serde_json::Value = serde_json::from_str(live).unwrap();
        assert_eq!(back, want, "written back whole");
    }

    #[test]
    fn non_json_input_is_an_error() {
        assert!(parse(Some("not json")).is_err());
    }
}
