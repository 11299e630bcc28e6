//! `AwsRemote`: the synchronous S3/SSM reads that config templates need
//! (`config::plugin::RemoteSource`: tfstate in S3, `ssm` lookups). Reads an S3
//! object through a client for the bucket's own region (`S3Buckets`), since a
//! tfstate bucket often lives elsewhere. Never logs or returns parameter values
//! in error messages.

use std::future::Future;
use std::sync::Arc;

use aws_sdk_ssm::types::ParameterType;
use tokio::runtime::{Handle, RuntimeFlavor};

use super::buckets::S3Buckets;
use super::error::AwsError;
use super::gate::{Gate, Op};
use super::sdk::Clients;
use crate::config::plugin::{RemoteSource, SsmParameter, SsmParameterKind};

/// S3 and SSM access for the config loader. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AwsRemote {
    clients: Clients,
    gate: Arc<Gate>,
    /// Bucket regions and regional clients (shared with the lock).
    buckets: S3Buckets,
    /// The runtime `connect` ran on, for calls made outside any runtime.
    handle: Option<Handle>,
}

impl AwsRemote {
    pub(crate) fn new(clients: &Clients, gate: Arc<Gate>, buckets: S3Buckets) -> AwsRemote {
        AwsRemote {
            clients: clients.clone(),
            gate,
            buckets,
            handle: Handle::try_current().ok(),
        }
    }

    /// Runs `fut` to completion from synchronous code: inside a multi-thread
    /// runtime through `block_in_place`, outside any runtime on the runtime
    /// `connect` ran on. A current-thread runtime cannot block: an error.
    fn block_on<F: Future>(&self, fut: F) -> Result<F::Output, String> {
        match Handle::try_current() {
            Ok(h) => match h.runtime_flavor() {
                RuntimeFlavor::MultiThread => {
                    Ok(tokio::task::block_in_place(move || h.block_on(fut)))
                }
                _ => Err(AwsError::Runtime(
                    "S3/SSM reads for templates need tokio's multi-thread runtime".to_string(),
                )
                .to_string()),
            },
            Err(_) => match &self.handle {
                Some(h) => Ok(h.block_on(fut)),
                None => Err(AwsError::Runtime(
                    "S3/SSM reads for templates need a tokio runtime".to_string(),
                )
                .to_string()),
            },
        }
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let (_, s3) = self.buckets.client_for(bucket).await?;
        let res = format!("s3://{bucket}/{key}");
        let out = self
            .gate
            .call(Op::s3("GetObject"), || {
                s3.get_object().bucket(bucket).key(key).send()
            })
            .await
            .map_err(|e| AwsError::api("GetObject", &res, e))?;
        // The same cap as a local file: never read an object into memory unbounded.
        let cap = crate::config::files::MAX_FILE_BYTES;
        if out
            .content_length()
            .is_some_and(|n| u64::try_from(n).unwrap_or(0) > cap)
        {
            return Err(AwsError::Runtime(format!(
                "{res} is larger than {} MiB; not read",
                cap / (1024 * 1024)
            )));
        }
        let body = out.body.collect().await.map_err(|e| {
            AwsError::Runtime(format!(
                "GetObject for {res} failed while reading the body: {e}"
            ))
        })?;
        Ok(body.to_vec())
    }

    async fn get_parameter(&self, name: &str) -> Result<SsmParameter, AwsError> {
        let res = format!("SSM parameter \"{name}\"");
        let req = self
            .clients
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true);
        let out = self
            .gate
            .call(Op::ssm("GetParameter"), || req.clone().send())
            .await
            .map_err(|e| AwsError::api("GetParameter", &res, e))?;
        let p = out.parameter().ok_or_else(|| AwsError::MissingField {
            operation: "GetParameter",
            resource: res.clone(),
            field: "Parameter",
        })?;
        let kind = match p.r#type() {
            Some(ParameterType::SecureString) => SsmParameterKind::SecureString,
            Some(ParameterType::StringList) => SsmParameterKind::StringList,
            _ => SsmParameterKind::String,
        };
        let value = p.value().ok_or_else(|| AwsError::MissingField {
            operation: "GetParameter",
            resource: res,
            field: "Value",
        })?;
        Ok(SsmParameter {
            kind,
            value: value.to_string(),
        })
    }
}

impl RemoteSource for AwsRemote {
    fn s3_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        self.block_on(self.get_object(bucket, key))?
            .map_err(|e| e.to_string())
    }

    fn ssm_get_parameter(&self, name: &str) -> Result<SsmParameter, String> {
        self.block_on(self.get_parameter(name))?
            .map_err(|e| e.to_string())
    }
}

/// A [`RemoteSource`] that connects to AWS on first use, so that only configs
/// that read a tfstate from S3 or call `ssm` pay for a connection (made before
/// the config's own region is known: the options' region, else the SDK chain's).
pub struct LazyRemote {
    options: super::AwsOptions,
    cell: std::sync::OnceLock<Result<AwsRemote, String>>,
}

impl LazyRemote {
    pub fn new(options: super::AwsOptions) -> LazyRemote {
        LazyRemote {
            options,
            cell: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> Result<&AwsRemote, String> {
        self.cell
            .get_or_init(|| {
                let connect = async {
                    super::Aws::connect(&self.options)
                        .await
                        .map(|a| a.remote_source())
                        .map_err(|e| e.to_string())
                };
                match Handle::try_current() {
                    Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                        tokio::task::block_in_place(|| h.block_on(connect))
                    }
                    _ => Err(
                        "reading S3/SSM for templates needs tokio's multi-thread runtime"
                            .to_string(),
                    ),
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl RemoteSource for LazyRemote {
    fn s3_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        self.get()?.s3_get_object(bucket, key)
    }
    fn ssm_get_parameter(&self, name: &str) -> Result<SsmParameter, String> {
        self.get()?.ssm_get_parameter(name)
    }
}
