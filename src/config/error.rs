//! Errors of the config pipeline. A `Diagnostic` names file, line, column, the
//! resource and the cause; `ConfigError::Invalid` carries every problem of a
//! file at once. Messages are built here and printed only by `run`.

use std::fmt;
use std::path::PathBuf;

use super::yaml::Pos;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Option<Pos>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &str, pos: Option<Pos>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            pos,
            message: message.into(),
            hint: None,
        }
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
