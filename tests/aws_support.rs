//! Helpers shared by the `aws_*` tests, which drive `ecsched::aws::Aws` in-process against
//! the emulator: connecting as the test's own account, and fixtures shaped like the seed post.

use aws_sdk_eventbridge::types as eb;
use ecsched::aws::{Aws, AwsOptions};

use crate::emulator::Emulator;

/// Connects the AWS layer to the emulator as `emulator`'s account and region. Few retries:
/// moto's 500s are bugs, not transient.
pub async fn connect(emulator: &Emulator) -> Aws {
    let opts = AwsOptions {
        region: Some(emulator.region.clone()),
        max_attempts: 2,
        ..AwsOptions::default()
    };
    Aws::connect_with(&opts, Some(&emulator.endpoint), Some(&emulator.account_id))
        .await
        .expect("connecting the AWS layer to the emulator")
}

pub fn cluster_arn(emulator: &Emulator, cluster: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:cluster/{cluster}",
        emulator.region, emulator.account_id
    )
}

/// A progress callback that ignores progress.
pub fn quiet(_done: usize, _total: usize) {}

/// The seed post's `target.json` (cluster `t3-kato-dev`), as `aws events put-targets` sends it.
pub fn seed_target(emulator: &Emulator) -> eb::Target {
    let account = &emulator.account_id;
    eb::Target::builder()
        .id("t3-kato-dev")
        .arn(format!(
            "arn:aws:ecs:ap-northeast-3:{account}:cluster/t3-kato-dev"
        ))
        .role_arn(format!("arn:aws:iam::{account}:role/ecsEventsRole"))
        .input(r#"{"containerOverrides": [{"name": "nginx", "command": ["nginx", "-v"]}]}"#)
        .ecs_parameters(
            eb::EcsParameters::builder()
                .task_definition_arn(format!(
                    "arn:aws:ecs:ap-northeast-3:{account}:task-definition/t3-kato-dev"
                ))
                .task_count(1)
                .launch_type(eb::LaunchType::Fargate)
                .network_configuration(
                    eb::NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            eb::AwsVpcConfiguration::builder()
                                .subnets("subnet-0384aa261cd82d385")
                                .subnets("subnet-0f638c3b58f4e91cb")
                                .security_groups("sg-0168b19957a56f367")
                                .assign_public_ip(eb::AssignPublicIp::Disabled)
                                .build()
                                .expect("awsvpc configuration"),
                        )
                        .build(),
                )
                .enable_ecs_managed_tags(true)
                .enable_execute_command(false)
                .build()
                .expect("ecs parameters"),
        )
        .build()
        .expect("target")
}

/// A minimal ECS target `id` on `cluster_arn` running `family`.
pub fn ecs_target(emulator: &Emulator, id: &str, cluster_arn: &str, family: &str) -> eb::Target {
    eb::Target::builder()
        .id(id)
        .arn(cluster_arn)
        .role_arn(format!(
            "arn:aws:iam::{}:role/ecsEventsRole",
            emulator.account_id
        ))
        .ecs_parameters(
            eb::EcsParameters::builder()
                .task_definition_arn(format!(
                    "arn:aws:ecs:{}:{}:task-definition/{family}",
                    emulator.region, emulator.account_id
                ))
                .build()
                .expect("ecs parameters"),
        )
        .build()
        .expect("target")
}

/// `aws events put-rule --name NAME --schedule-expression EXPR --state ENABLED`.
pub async fn put_scheduled_rule(events: &aws_sdk_eventbridge::Client, name: &str, expr: &str) {
    events
        .put_rule()
        .name(name)
        .schedule_expression(expr)
        .state(eb::RuleState::Enabled)
        .send()
        .await
        .expect("PutRule");
}

/// `aws events put-targets --rule NAME --targets …`, checking for failed entries.
pub async fn put_targets(
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    targets: Vec<eb::Target>,
) {
    let out = events
        .put_targets()
        .rule(rule)
        .set_targets(Some(targets))
        .send()
        .await
        .expect("PutTargets");
    assert_eq!(out.failed_entry_count(), 0, "{:?}", out.failed_entries());
}

/// The default VPC's subnets of the emulator account, through the EC2 Query API (there is no
/// EC2 SDK crate in the project). moto routes by the credential scope of the Authorization
/// header and never checks the signature, so a fake one naming `ec2` is enough.
pub fn default_subnets(emulator: &Emulator) -> Vec<String> {
    use std::io::{Read, Write};
    let authority = emulator
        .endpoint
        .strip_prefix("http://")
        .expect("http:// endpoint")
        .trim_end_matches('/');
    let body = "Action=DescribeSubnets&Version=2016-11-15\
                &Filter.1.Name=default-for-az&Filter.1.Value.1=true";
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {authority}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ec2/aws4_request, \
         SignedHeaders=host, Signature=0\r\n\
         x-moto-account-id: {account}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
        region = emulator.region,
        account = emulator.account_id,
        len = body.len(),
    );
    let mut stream = std::net::TcpStream::connect(authority).expect("connecting to the emulator");
    stream
        .write_all(request.as_bytes())
        .expect("sending DescribeSubnets");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reading DescribeSubnets");
    let subnets: Vec<String> = response
        .split("<subnetId>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</subnetId>").map(|(id, _)| id.to_string()))
        .collect();
    assert!(!subnets.is_empty(), "no default subnets in: {response}");
    subnets
}
