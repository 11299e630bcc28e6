//! `S3Buckets`: which region an S3 bucket lives in, and an S3 client signing
//! for that region. Shared by the template reads (`AwsRemote`: a tfstate bucket
//! often lives elsewhere) and the lock (`lock`: the lock bucket may too), so a
//! bucket's region is looked up once per run. Makes no other S3 call than
//! HeadBucket and never reads or writes objects itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_s3::operation::head_bucket::HeadBucketError;

use super::error::AwsError;
use super::gate::{Gate, Op};
use super::sdk::Clients;

/// The error code [`S3Buckets::region`] reports for a bucket that does not
/// exist (S3's own code for the same case on object calls).
pub(crate) const NO_SUCH_BUCKET: &str = "NoSuchBucket";

/// Bucket → region lookups and per-region S3 clients. Cheap to clone; clones
/// share the caches.
#[derive(Debug, Clone)]
pub(crate) struct S3Buckets {
    clients: Clients,
    gate: Arc<Gate>,
    /// Bucket → region, and region → client, learnt during this run.
    bucket_regions: Arc<Mutex<HashMap<String, String>>>,
    regional: Arc<Mutex<HashMap<String, aws_sdk_s3::Client>>>,
}

impl S3Buckets {
    pub(crate) fn new(clients: &Clients, gate: Arc<Gate>) -> S3Buckets {
        S3Buckets {
            clients: clients.clone(),
            gate,
            bucket_regions: Arc::new(Mutex::new(HashMap::new())),
            regional: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The region of `bucket`, from HeadBucket (its `x-amz-bucket-region`
    /// header, which S3 also sends with redirects and access errors). A bucket
    /// that does not exist is an [`AwsError::Api`] with code [`NO_SUCH_BUCKET`].
    pub(crate) async fn region(&self, bucket: &str) -> Result<String, AwsError> {
        if let Some(r) = self
            .bucket_regions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(bucket)
        {
            return Ok(r.clone());
        }
        let home = self.clients.region().unwrap_or_default().to_string();
        let resource = format!("S3 bucket \"{bucket}\"");
        let req = self.clients.s3.head_bucket().bucket(bucket);
        let region = match self
            .gate
            .call(Op::s3("HeadBucket"), || req.clone().send())
            .await
        {
            Ok(out) => out
                .bucket_region()
                .filter(|r| !r.is_empty())
                .map_or(home, str::to_string),
            Err(e) => {
                let header = e
                    .raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .filter(|r| !r.is_empty())
                    .map(str::to_string);
                match header {
                    Some(r) => r,
                    None if e
                        .as_service_error()
                        .is_some_and(HeadBucketError::is_not_found) =>
                    {
                        return Err(AwsError::Api {
                            operation: "HeadBucket",
                            resource,
                            code: Some(NO_SUCH_BUCKET.to_string()),
                            message: "the bucket does not exist".to_string(),
                            source: Box::new(e),
                        });
                    }
                    None => return Err(AwsError::api("HeadBucket", resource, e)),
                }
            }
        };
        self.bucket_regions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(bucket.to_string(), region.clone());
        Ok(region)
    }

    /// An S3 client signing for `region` (the connection's own client when it
    /// is the connection's region).
    pub(crate) fn client_in(&self, region: &str) -> aws_sdk_s3::Client {
        if Some(region) == self.clients.region() {
            return self.clients.s3.clone();
        }
        self.regional
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(region.to_string())
            .or_insert_with(|| self.clients.s3_in(region))
            .clone()
    }

    /// The region of `bucket` and a client for it.
    pub(crate) async fn client_for(
        &self,
        bucket: &str,
    ) -> Result<(String, aws_sdk_s3::Client), AwsError> {
        let region = self.region(bucket).await?;
        let client = self.client_in(&region);
        Ok((region, client))
    }
}
