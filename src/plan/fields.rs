//! Which fields differ between two versions of a resource, as paths such as
//! `schedule_expression` or `targets[0].ecs.task_count`: names the field that
//! drifted in a stale-plan refusal and the one that reads back different after
//! a write. Pure.

use serde_json::Value;

use super::Resource;

/// The paths at which `a` and `b` differ (sorted, each the shallowest that
/// differs). Both must be the same kind; otherwise the kind itself differs.
pub fn changed(a: &Resource, b: &Resource) -> Vec<String> {
    let (va, vb) = match (a, b) {
        (Resource::Rule(x), Resource::Rule(y)) => {
            (serde_json::to_value(x), serde_json::to_value(y))
        }
        (Resource::Schedule(x), Resource::Schedule(y)) => {
            (serde_json::to_value(x), serde_json::to_value(y))
        }
        _ => return vec!["kind".to_string()],
    };
    let (Ok(va), Ok(vb)) = (va, vb) else {
        return vec!["(unreadable)".to_string()];
    };
    let mut out = Vec::new();
    walk("", &va, &vb, &mut out);
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = join(path, k);
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => walk(&p, va, vb, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ => out.push(if path.is_empty() {
            "(everything)".to_string()
        } else {
            path.to_string()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EcsTarget, RetryPolicy, Rule, State, Target};

    fn rule() -> Rule {
        Rule {
            name: "r".into(),
            event_bus: "default".into(),
            description: String::new(),
            schedule_expression: "rate(1 hour)".into(),
            state: State::Enabled,
            role_arn: None,
            event_pattern: None,
            tags: Default::default(),
            targets: vec![Target {
                id: "r".into(),
                ecs: EcsTarget {
                    task_count: 1,
                    ..EcsTarget::default()
                },
                dead_letter_arn: None,
                retry_policy: RetryPolicy::default(),
            }],
        }
    }

    #[test]
    fn names_the_fields_that_differ() {
        let a = rule();
        let mut b = rule();
        assert!(changed(&Resource::Rule(a.clone()), &Resource::Rule(b.clone())).is_empty());
        b.schedule_expression = "rate(2 hours)".into();
        b.targets[0].ecs.task_count = 2;
        b.tags.insert("team".into(), "x".into());
        assert_eq!(
            changed(&Resource::Rule(a.clone()), &Resource::Rule(b.clone())),
            [
                "schedule_expression",
                "tags.team",
                "targets[0].ecs.task_count"
            ]
        );
        b.targets.clear();
        assert!(changed(&Resource::Rule(a), &Resource::Rule(b)).contains(&"targets".to_string()));
    }
}
