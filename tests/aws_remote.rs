//! `Aws::remote_source()` (the config loader's `RemoteSource`) against the emulator: an S3
//! object in a bucket of another region, SSM parameters, and errors; called synchronously
//! from inside the multi-thread runtime and from outside any runtime.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_ssm::types::ParameterType;
use ecsched::config::plugin::{RemoteSource, SsmParameterKind};

use crate::aws_support::connect;
use crate::emulator::{Emulator, emulator};

/// A bucket in eu-west-1 (the config's region is ap-northeast-3) holding `state/terraform.tfstate`.
async fn fixtures(em: &Emulator) -> String {
    let bucket = format!("ecsched-tfstate-{}", em.account_id);
    let s3 = em.in_region("eu-west-1").s3();
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("state/terraform.tfstate")
        .body(br#"{"version":4}"#.to_vec().into())
        .send()
        .await
        .unwrap();
    let ssm = em.ssm();
    for (name, kind, value) in [
        ("/app/plain", ParameterType::String, "hello"),
        ("/app/secret", ParameterType::SecureString, "s3cr3t"),
        ("/app/list", ParameterType::StringList, "a,b"),
    ] {
        ssm.put_parameter()
            .name(name)
            .r#type(kind)
            .value(value)
            .send()
            .await
            .unwrap();
    }
    bucket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_source_reads_s3_in_another_region_and_ssm_from_inside_the_runtime() {
    let Some(em) = emulator() else { return };
    let bucket = fixtures(&em).await;
    let aws = connect(&em).await;
    let remote = aws.remote_source();

    let bytes = remote
        .s3_get_object(&bucket, "state/terraform.tfstate")
        .unwrap();
    assert_eq!(bytes, br#"{"version":4}"#);

    let p = remote.ssm_get_parameter("/app/plain").unwrap();
    assert_eq!(
        (p.kind, p.value.as_str()),
        (SsmParameterKind::String, "hello")
    );
    let p = remote.ssm_get_parameter("/app/secret").unwrap();
    assert_eq!(
        (p.kind, p.value.as_str()),
        (SsmParameterKind::SecureString, "s3cr3t")
    );
    let p = remote.ssm_get_parameter("/app/list").unwrap();
    assert_eq!(p.kind, SsmParameterKind::StringList);

    let err = remote.s3_get_object(&bucket, "missing").unwrap_err();
    assert!(
        err.starts_with(&format!(
            "GetObject for s3://{bucket}/missing failed: NoSuchKey"
        )),
        "{err}"
    );
    let err = remote.ssm_get_parameter("/app/none").unwrap_err();
    assert!(
        err.starts_with("GetParameter for SSM parameter \"/app/none\" failed: ParameterNotFound"),
        "{err}"
    );
    let err = remote
        .s3_get_object(&format!("{bucket}-nope"), "k")
        .unwrap_err();
    assert!(err.contains(&format!("{bucket}-nope")), "{err}");
}

#[test]
fn remote_source_works_outside_any_runtime() {
    let Some(em) = emulator() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (bucket, aws) = runtime.block_on(async { (fixtures(&em).await, connect(&em).await) });
    let remote = aws.remote_source();
    let bytes = remote
        .s3_get_object(&bucket, "state/terraform.tfstate")
        .unwrap();
    assert_eq!(bytes, br#"{"version":4}"#);
}
