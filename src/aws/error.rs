//! `AwsError`: every failure of the AWS layer, as one clear sentence naming the
//! operation, the resource and the cause. Built from SDK errors by
//! [`AwsError::api`] (which keeps the SDK error as `source` but copies out the
//! code and message, so no SDK type appears in the public API). Classification
//! of expected errors (not found, conflict) happens in the callers with typed
//! predicates, never by matching on this text.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// Boxed cause of an [`AwsError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error of the AWS layer.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No region from the options, the environment or the profile.
    #[error(
        "no AWS region is configured: pass --region, set region: in the config file, set \
         AWS_REGION, or set region in the AWS profile \"{profile}\""
    )]
    NoRegion { profile: String },

    /// An API call failed (after the SDK's retries).
    #[error("{operation} for {resource} failed: {message}")]
    Api {
        operation: &'static str,
        resource: String,
        /// The service's error code (`ThrottlingException`, …) when it sent one.
        code: Option<String>,
        message: String,
        #[source]
        source: BoxError,
    },

    /// A response lacked a field the layer needs.
    #[error("{operation} for {resource} returned no {field}")]
    MissingField {
        operation: &'static str,
        resource: String,
        field: &'static str,
    },

    /// The call succeeded but some entries were rejected (PutTargets, RemoveTargets, RunTask).
    #[error("{operation} for {resource} was rejected: {details}")]
    Rejected {
        operation: &'static str,
        resource: String,
        details: String,
    },

    /// A request could not be built from the model (a required field is empty).
    #[error("cannot build the {operation} request for {resource}: {message}")]
    InvalidRequest {
        operation: &'static str,
        resource: String,
        message: String,
    },

    /// Deleting a rule that has targets ecsched does not manage.
    #[error(
        "refusing to delete {resource}: it also has targets that ecsched does not manage ({targets}); \
         remove them first"
    )]
    ForeignTargets { resource: String, targets: String },

    /// Creating a schedule in a group that another trackingId manages: the
    /// plan showed a create, not a takeover, so nothing is written.
    #[error(
        "schedule group \"{group}\" is managed for trackingId \"{other}\", not \"{tracking_id}\": \
         a schedule created in it would become theirs, which the plan did not show; nothing was \
         written for it (declare the schedule in another group)"
    )]
    ForeignGroup {
        group: String,
        other: String,
        tracking_id: String,
    },

    /// A multi-step write stopped part way: says which steps had succeeded.
    #[error("{source}; {resource} is partly written: {} succeeded before that", done.join(", "))]
    Incomplete {
        resource: String,
        done: Vec<String>,
        #[source]
        source: Box<AwsError>,
    },

    /// A synchronous call was made where it cannot block (see `AwsRemote`).
    #[error("{0}")]
    Runtime(String),
}

/// Result alias of the AWS layer.
pub type AwsResult<T> = Result<T, AwsError>;

impl AwsError {
    /// Converts an SDK error, keeping it as the source and extracting code and message.
    pub(crate) fn api<E, R>(
        operation: &'static str,
        resource: impl Into<String>,
        err: SdkError<E, R>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: HttpStatus + fmt::Debug + Send + Sync + 'static,
    {
        let (code, message) = describe(&err);
        AwsError::Api {
            operation,
            resource: resource.into(),
            code,
            message,
            source: Box::new(err),
        }
    }

    /// The service error code, when the failure was an API error that carried one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => code.as_deref(),
            AwsError::Incomplete { source, .. } => source.code(),
            _ => None,
        }
    }

    /// Wraps `self` as the failing step of a multi-step write when earlier steps succeeded.
    pub(crate) fn after(self, resource: &str, done: &[String]) -> AwsError {
        if done.is_empty() {
            self
        } else {
            AwsError::Incomplete {
                resource: resource.to_string(),
                done: done.to_vec(),
                source: Box::new(self),
            }
        }
    }
}

/// Access to the HTTP status of a raw response, whatever the SDK crate re-exports it as.
pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_eventbridge::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The Display texts of an error's sources, joined, without repeats and
/// without the Debug dumps `DisplayErrorContext` appends.
fn cause_chain(err: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e
            .to_string()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("; ");
        let text = text.trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            let mut t: String = text.chars().take(400).collect();
            if t.len() < text.len() {
                t.push('…');
            }
            parts.push(t);
        }
        cur = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

/// Code and human message of an SDK error.
fn describe<E, R>(err: &SdkError<E, R>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: HttpStatus + fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_string);
            let status = service.raw().status_code();
            let message = match (e.code(), e.message()) {
                (Some(code), Some(msg)) if !msg.is_empty() => format!("{code}: {msg}"),
                (Some(code), _) => code.to_string(),
                (None, Some(msg)) if !msg.is_empty() => format!("HTTP {status}: {msg}"),
                (None, _) => format!("HTTP {status} with no error code"),
            };
            (code, message)
        }
        SdkError::TimeoutError(_) => (None, "the request timed out".to_string()),
        SdkError::DispatchFailure(_) => {
            let chain = cause_chain(err);
            let message = if chain.contains("loading credentials")
                || chain.contains("no credentials")
            {
                format!(
                    "no usable AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`): {chain}"
                )
            } else {
                format!("could not send the request: {chain}")
            };
            (None, message)
        }
        SdkError::ResponseError(r) => (
            None,
            format!(
                "unreadable response (HTTP {}): {}",
                r.raw().status_code(),
                DisplayErrorContext(err).to_string().trim()
            ),
        ),
        _ => (
            None,
            DisplayErrorContext(err).to_string().trim().to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_names_what_succeeded() {
        let inner = AwsError::Rejected {
            operation: "PutTargets",
            resource: "rule \"nightly\"".into(),
            details: "t1: ValidationException".into(),
        };
        let e = inner.after("rule \"nightly\"", &["PutRule".to_string()]);
        assert_eq!(
            e.to_string(),
            "PutTargets for rule \"nightly\" was rejected: t1: ValidationException; \
             rule \"nightly\" is partly written: PutRule succeeded before that"
        );
        let plain = AwsError::MissingField {
            operation: "PutRule",
            resource: "rule \"x\"".into(),
            field: "RuleArn",
        }
        .after("rule \"x\"", &[]);
        assert!(matches!(plain, AwsError::MissingField { .. }));
    }
}
