//! The top-level error: one variant per layer, carrying that layer's own error
//! (and its cause chain), and the only table that maps errors to exit codes
//! (SPEC §2): 3 for a saved plan that was read and refused, 1 for everything
//! else (a plan file that cannot be read at all included).

use crate::apply::Refusal;
use crate::aws::AwsError;
use crate::config::ConfigError;
use crate::plan::diff::{DeleteRefusal, SelectError};
use crate::plan::file::PlanFileError;

/// A task definition a plan needs that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTaskDefinition {
    /// `rule "NAME"` or `schedule "NAME"`.
    pub used_by: String,
    /// As written in the config (or shortened).
    pub task_definition: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Flags that do not go together, or a bad value.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A plan file that was read and is not acceptable (exit 3), or could not
    /// be read (exit 1).
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    /// Writing a plan file (`plan -out`) failed: an error, never a refusal.
    #[error(transparent)]
    PlanWrite(PlanFileError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Delete(#[from] DeleteRefusal),
    #[error(transparent)]
    Lock(#[from] crate::aws::LockError),
    #[error("{}", missing.iter().map(|m| format!("{file}: {}: task definition {} does not exist (register it first, e.g. with ecspresso)", m.used_by, m.task_definition)).collect::<Vec<_>>().join("\n"))]
    TaskDefinitions {
        file: String,
        missing: Vec<MissingTaskDefinition>,
    },
    /// An apply wrote part of a plan and stopped on a failure (reported above).
    #[error(
        "apply stopped after a failure; what was applied is listed above. Re-run plan and apply to converge"
    )]
    ApplyFailed,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Refused(_) => 3,
            Error::PlanFile(e) if !e.is_unreadable() => 3,
            _ => 1,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when writing to a closed pipe failed (`ecsched ... | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let missing = Error::PlanFile(PlanFileError::Io {
            path: "missing.bin".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(
            missing.exit_code(),
            1,
            "a file that cannot be read is an error"
        );
        assert_eq!(Error::PlanFile(PlanFileError::HashMismatch).exit_code(), 3);
        assert_eq!(
            Error::PlanWrite(PlanFileError::HashMismatch).exit_code(),
            1,
            "failing to write a plan is not a refusal"
        );
        assert_eq!(Error::Usage("x".into()).exit_code(), 1);
        assert_eq!(Error::ApplyFailed.exit_code(), 1);
    }
}
