//! Offline checks of a config whose templates look things up in AWS (tfstate
//! in S3, SSM): those lookups are not made, their values are
//! `plugin::UNCHECKED`, and what the schema and semantic checks say about such
//! a value means nothing. This module tells those diagnostics apart and takes
//! such values out of the way of the typed parse. Pure: no I/O.

use serde_json::Value;

use super::error::Diagnostic;
use super::plugin::UNCHECKED;
use super::yaml::PosIndex;

/// The JSON Pointer of the value a diagnostic is about (by its pointer, or by
/// its line:col in `index`).
fn pointer_of(d: &Diagnostic, index: &PosIndex) -> Option<String> {
    d.pointer
        .clone()
        .or_else(|| d.pos.and_then(|p| index.pointer_at(p.line, p.column)))
}

/// Whether `d` is about a string that holds a lookup not made offline.
pub fn is_about_unchecked(d: &Diagnostic, value: &Value, index: &PosIndex) -> bool {
    d.message.contains(UNCHECKED)
        || pointer_of(d, index)
            .and_then(|p| value.pointer(&p).and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|s| s.contains(UNCHECKED))
}

/// Splits `diagnostics` into those about unchecked values and the others, and
/// removes those values from `value` (from a mapping; in a list they become
/// null), so that the rest of the document can still be parsed and checked.
pub fn set_aside(
    diagnostics: Vec<Diagnostic>,
    value: &mut Value,
    index: &PosIndex,
) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let (unchecked, real): (Vec<_>, Vec<_>) = diagnostics
        .into_iter()
        .partition(|d| is_about_unchecked(d, value, index));
    for pointer in unchecked.iter().filter_map(|d| pointer_of(d, index)) {
        let Some((parent, token)) = pointer.rsplit_once('/') else {
            continue;
        };
        let token = token.replace("~1", "/").replace("~0", "~");
        match value.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&token);
            }
            Some(Value::Array(items)) => {
                if let Some(item) = token.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    *item = Value::Null;
                }
            }
            _ => {}
        }
    }
    (unchecked, real)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    #[test]
    fn diagnostics_about_unchecked_values_are_set_aside_and_the_values_removed() {
        let text = format!(
            "cluster: c\nrules:\n- name: r\n  taskCount: {UNCHECKED}\n  role: arn:{UNCHECKED}\n  subnets: [{UNCHECKED}, s]\n"
        );
        let doc = yaml::parse(&text).unwrap();
        let mut value = doc.value.clone();
        let at = |p: &str, m: &str| Diagnostic::at_value("f.yaml", &doc.index, p, m);
        let (unchecked, real) = set_aside(
            vec![
                at("/rules/0/taskCount", "not an integer"),
                at("/rules/0/role", "not an IAM role ARN"),
                at("/rules/0/subnets/0", "bad subnet"),
                at("/rules/0/name", "bad name"),
                at("/rules/0", "a rule-level problem"),
            ],
            &mut value,
            &doc.index,
        );
        let messages = |v: &[Diagnostic]| v.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
        assert_eq!(
            messages(&unchecked),
            ["not an integer", "not an IAM role ARN", "bad subnet"]
        );
        assert_eq!(messages(&real), ["bad name", "a rule-level problem"]);
        assert_eq!(
            value,
            serde_json::json!({"cluster": "c", "rules": [{"name": "r", "subnets": [null, "s"]}]})
        );
    }
}
