//! The small trait `apply` depends on to read and write live state. The AWS
//! layer implements it (`aws::backend`); `apply`'s unit tests implement it in
//! memory. No SDK type and no AWS error type appears here.

use std::future::Future;

use crate::model::Owner;
use crate::plan::{LiveRead, LiveResource, ReadScope, Resource};

/// Progress of a read: `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// What the executor needs from AWS.
pub trait Backend: Sync {
    /// Why a read or a write failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads the live state of `scope`, in parallel under the flow control.
    /// Resources that do not exist are absent from the result.
    fn read(
        &self,
        scope: &ReadScope,
        progress: Progress<'_>,
    ) -> impl Future<Output = Result<LiveRead, Self::Error>>;

    /// Creates or updates a resource so that it reads back as `after`, with
    /// `owner`'s tags on rules; `live` is its state before (what differs from
    /// it is written, nothing else).
    fn put(
        &self,
        after: &Resource,
        owner: &Owner,
        live: Option<&LiveResource>,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Deletes a resource (a rule: its targets, then the rule).
    fn delete(&self, live: &LiveResource) -> impl Future<Output = Result<(), Self::Error>>;
}
