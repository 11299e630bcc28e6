//! Parses rendered YAML (or JSON, which is YAML) into a `serde_json::Value`
//! together with an index from JSON Pointer to source line/column, so that
//! schema and semantic errors can name `file:line:column`. Strict YAML 1.2
//! booleans (`on`/`no` stay strings); duplicate keys are errors. No I/O.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A 1-based line/column position in the rendered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Where each node of the document sits: JSON Pointer → position of the value,
/// and (for mapping entries) of the key.
///
/// The index of an evaluated document (Jsonnet) keeps which nodes exist but
/// yields no positions: lines of the evaluated JSON mean nothing to the user,
/// so diagnostics name the JSON Pointer instead (`pointer_for`).
#[derive(Debug, Default, Clone)]
pub struct PosIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
    pointers_only: bool,
}

impl PosIndex {
    /// The same index, for a document whose lines mean nothing to the user.
    #[must_use]
    pub fn without_positions(mut self) -> PosIndex {
        self.pointers_only = true;
        self
    }

    /// `pointer` itself when this index yields no positions (messages then
    /// name the pointer), else `None`.
    pub fn pointer_for(&self, pointer: &str) -> Option<String> {
        self.pointers_only.then(|| pointer.to_string())
    }

    /// The innermost node whose value starts on `line` at or before `column`.
    pub fn pointer_at(&self, line: usize, column: usize) -> Option<String> {
        self.values
            .iter()
            .filter(|(_, p)| p.line == line && p.column <= column)
            .max_by_key(|(ptr, p)| (p.column, ptr.len()))
            .map(|(ptr, _)| ptr.clone())
    }

    /// Position of the value at `pointer`, or of the nearest ancestor that has one.
    pub fn value_pos(&self, pointer: &str) -> Option<Pos> {
        if self.pointers_only {
            return None;
        }
        let mut p = pointer.to_string();
        loop {
            if let Some(pos) = self.values.get(&p) {
                return Some(*pos);
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return None,
            }
        }
    }

    /// True when the document has a node at exactly `pointer`.
    pub fn contains(&self, pointer: &str) -> bool {
        self.values.contains_key(pointer)
    }

    /// Position of the mapping key whose value is at `pointer` (falls back to the value).
    pub fn key_pos(&self, pointer: &str) -> Option<Pos> {
        if self.pointers_only {
            return None;
        }
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.value_pos(pointer))
    }
}

/// A parsed document.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    pub index: PosIndex,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Option<Pos>,
    pub message: String,
}

enum Node {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| Node::Number(v.into()))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(|v| Node::Number(v.into()))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Number::from_f64(v)
            .map(Node::Number)
            .ok_or_else(|| E::custom(format!("number {v} cannot be represented")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = a.next_key::<Spanned<String>>()? {
            let value = a.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: loc.line() as usize,
        column: loc.column() as usize,
    }
}

/// Escapes a key for use in a JSON Pointer (RFC 6901).
pub fn escape_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn convert(node: Spanned<Node>, pointer: &str, index: &mut PosIndex) -> Value {
    let pos = pos_of(&node.referenced);
    if pos.line > 0 {
        index.values.insert(pointer.to_string(), pos);
    }
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Number(n) => Value::Number(n),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(item, &format!("{pointer}/{i}"), index))
                .collect(),
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let child = format!("{pointer}/{}", escape_pointer_token(&key.value));
                let kpos = pos_of(&key.referenced);
                if kpos.line > 0 {
                    index.keys.insert(child.clone(), kpos);
                }
                let v = convert(value, &child, index);
                map.insert(key.value, v);
            }
            Value::Object(map)
        }
    }
}

/// Parses one YAML/JSON document. An empty document is `null`.
pub fn parse(text: &str) -> Result<Document, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Document {
            value: Value::Null,
            index: PosIndex::default(),
        });
    }
    let opts = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        // Comments are never read. Emitted, they are buffered while the parser looks ahead,
        // and more than 32 in a row (e.g. commented-out rules before the first list item)
        // failed with "too many buffered comments while looking ahead".
        emit_comments: false,
    };
    let node: Spanned<Node> =
        serde_saphyr::from_str_with_options(text, opts).map_err(|e| syntax_error(&e, text))?;
    let mut index = PosIndex::default();
    let value = convert(node, "", &mut index);
    Ok(Document { value, index })
}

fn syntax_error(e: &serde_saphyr::Error, text: &str) -> SyntaxError {
    let pos = e.location().map(|l| pos_of(&l)).filter(|p| p.line > 0);
    if e.to_string().contains("multiple YAML documents") {
        return SyntaxError {
            pos: pos.map(|p| second_document_start(text, p)),
            message: "multiple YAML documents in one file are not supported (a second one starts here); put each config in its own file".to_owned(),
        };
    }
    // serde-saphyr's Display may include a source snippet over several lines;
    // keep the first line, without its own "line N column M" prefix.
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML").trim();
    let mut message = strip_location_prefix(first).to_string();
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        message = format!("duplicate key \"{key}\"");
    }
    SyntaxError { pos, message }
}

/// Where the second document starts: the last `---` line at or before `found` (where the
/// parser noticed its content), or `found` itself when there is none (after a `...`).
fn second_document_start(text: &str, found: Pos) -> Pos {
    text.lines()
        .enumerate()
        .take(found.line)
        .filter(|(_, line)| {
            line.strip_prefix("---")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        })
        .last()
        .map_or(found, |(i, _)| Pos {
            line: i + 1,
            column: 1,
        })
}

fn strip_location_prefix(s: &str) -> &str {
    let s = s.strip_prefix("error: ").unwrap_or(s);
    if let Some(rest) = s.strip_prefix("line ")
        && let Some(i) = rest.find(": ")
    {
        return &rest[i + 2..];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_values() {
        let doc = parse("region: x\nrules:\n- name: a\n  taskCount: 2\n").unwrap();
        assert_eq!(doc.value["rules"][0]["taskCount"], 2);
        assert_eq!(doc.index.key_pos("/rules/0/taskCount").unwrap().line, 4);
        assert_eq!(doc.index.value_pos("/rules/0/name").unwrap().line, 3);
        assert_eq!(doc.index.value_pos("/rules/0/nope/deeper").unwrap().line, 3);
    }

    #[test]
    fn strict_booleans_and_leading_zeros() {
        let doc = parse("a: on\nb: 0755\nc: true\n").unwrap();
        assert_eq!(doc.value["a"], "on");
        assert_eq!(doc.value["b"], "0755");
        assert_eq!(doc.value["c"], true);
    }

    #[test]
    fn duplicate_keys_are_errors_with_position() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(2), "{err:?}");
    }

    /// `n` comment lines (commented-out rules) right before the first list item.
    fn with_comments(n: usize) -> String {
        let mut text = String::from("region: x\nrules:\n");
        for i in 0..n {
            text.push_str(&format!("# - name: old-{i}\n"));
        }
        text.push_str("- name: a\n  taskCount: 2\n");
        text
    }

    #[test]
    fn any_number_of_comments_before_a_list_item_loads() {
        for n in [0, 1, 32, 33, 96, 97, 1000] {
            let doc = parse(&with_comments(n)).unwrap_or_else(|e| panic!("{n} comments: {e:?}"));
            assert_eq!(doc.value["rules"][0]["name"], "a", "{n} comments");
            assert_eq!(
                doc.index.key_pos("/rules/0/taskCount").map(|p| p.line),
                Some(n + 4),
                "{n} comments"
            );
        }
        // Between entries and keys as well.
        let mut text = with_comments(40);
        text.push_str(&"  # note\n".repeat(50));
        text.push_str("- name: b\n");
        let doc = parse(&text).expect("comments between entries");
        assert_eq!(doc.value["rules"][1]["name"], "b");
    }

    #[test]
    fn hash_lines_inside_block_scalars_and_quotes_are_content() {
        let mut text = String::from("description: |\n");
        for i in 0..40 {
            text.push_str(&format!("  # line {i}\n"));
        }
        text.push_str("quoted: \"a # b\"\nplain: a#b # trailing comment\n");
        let doc = parse(&text).expect("parse");
        let description = doc.value["description"].as_str().expect("a string");
        assert_eq!(description.lines().count(), 40);
        assert!(
            description.starts_with("# line 0\n# line 1\n"),
            "{description}"
        );
        assert_eq!(doc.value["quoted"], "a # b");
        assert_eq!(doc.value["plain"], "a#b");
    }

    #[test]
    fn a_second_document_is_refused_at_its_start() {
        for (text, line) in [
            ("---\nregion: a\n---\nregion: b\n", 3),
            ("region: a\n--- # again\nregion: b\n", 2),
            ("region: a\n---\n\n\nregion: b\n", 2),
            ("region: a\n...\nregion: b\n", 3),
        ] {
            let err = parse(text).expect_err(text);
            assert_eq!(err.pos.map(|p| p.line), Some(line), "{text:?}: {err:?}");
            assert_eq!(
                err.message,
                "multiple YAML documents in one file are not supported (a second one starts here); put each config in its own file"
            );
        }
        // A leading `---` (one document) is fine.
        assert!(parse("---\nregion: a\n").is_ok());
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(
            parse("# only a comment\n").map(|d| d.value).ok(),
            None.or(Some(Value::Null))
        );
    }
}
