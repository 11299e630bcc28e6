//! Errors of the config pipeline. A `Diagnostic` names file, line, column, the
//! resource and the cause; `ConfigError::Invalid` carries every problem of a
//! file at once. Messages are built here and printed only by `run`.

use std::fmt;
use std::path::PathBuf;

use super::yaml::{Pos, PosIndex};

/// One problem in a config file. Located by line and column, or, in an
/// evaluated (Jsonnet) document, by the JSON Pointer of the offending value.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Option<Pos>,
    pub pointer: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &str, pos: Option<Pos>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            pos,
            pointer: None,
            message: message.into(),
            hint: None,
        }
    }

    /// A problem with the value at `pointer` of the document `index` describes.
    pub fn at_value(
        file: &str,
        index: &PosIndex,
        pointer: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(file, index.value_pos(pointer), message)
            .with_pointer(index.pointer_for(pointer))
    }

    /// A problem with the key of the mapping entry at `pointer`.
    pub fn at_key(
        file: &str,
        index: &PosIndex,
        pointer: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::new(file, index.key_pos(pointer), message)
            .with_pointer(index.pointer_for(pointer))
    }

    /// Order of messages: by position, then by JSON Pointer (so that equal
    /// diagnostics are adjacent for `dedup`).
    pub fn order(a: &Diagnostic, b: &Diagnostic) -> std::cmp::Ordering {
        let key = |d: &Diagnostic| (d.pos.map(|p| (p.line, p.column)), d.pointer.clone());
        key(a).cmp(&key(b))
    }

    /// Names the JSON Pointer (shown when there is no position).
    pub fn with_pointer(mut self, pointer: Option<String>) -> Diagnostic {
        self.pointer = pointer.filter(|p| !p.is_empty());
        self
    }

    pub fn with_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.pos {
            write!(f, ":{}:{}", p.line, p.column)?;
        } else if let Some(pointer) = &self.pointer {
            write!(f, ": {pointer}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no config file: none of {} exists in {} (pass -c/--conf FILE)",
        .candidates.join(", "),
        .dir.display()
    )]
    NotFound {
        candidates: Vec<String>,
        dir: PathBuf,
    },
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_all(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

fn render_all(d: &[Diagnostic]) -> String {
    let mut out = d
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    if d.len() > 1 {
        let file = d.first().map(|x| x.file.as_str()).unwrap_or_default();
        out.push_str(&format!("\n{} problems in {file}", d.len()));
    }
    out
}
