//! Emulator-side fixtures shared by the integration tests: ARNs in the test's account, clusters,
//! task definitions, rules and targets made the way the AWS CLI or the console would make them,
//! the default VPC's subnets, and snapshots of a live rule. Uses the SDK clients of
//! [`Emulator`] only: running the binary is `test.rs`'s job, the AWS layer's is `aws_support.rs`.

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;
use aws_sdk_eventbridge::types as eb;

use crate::emulator::Emulator;

pub fn cluster_arn(em: &Emulator, cluster: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:cluster/{cluster}",
        em.region, em.account_id
    )
}

pub fn role_arn(em: &Emulator, role: &str) -> String {
    format!("arn:aws:iam::{}:role/{role}", em.account_id)
}

pub fn task_definition_arn(em: &Emulator, family: &str) -> String {
    format!(
        "arn:aws:ecs:{}:{}:task-definition/{family}",
        em.region, em.account_id
    )
}

/// `aws ecs create-cluster --cluster-name NAME`.
pub async fn create_cluster(em: &Emulator, name: &str) {
    em.ecs()
        .create_cluster()
        .cluster_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateCluster {name}: {e:?}"));
}

/// Registers a Fargate task definition `family` whose only container is `container`, with
/// container-level memory (moto's RunTask needs it). Returns the ARN (with revision).
pub async fn register_task_definition(em: &Emulator, family: &str, container: &str) -> String {
    let out = em
        .ecs()
        .register_task_definition()
        .family(family)
        .network_mode(ecs::NetworkMode::Awsvpc)
        .requires_compatibilities(ecs::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name(container)
                .image("nginx:latest")
                .memory(512)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("RegisterTaskDefinition {family}: {e:?}"));
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("RegisterTaskDefinition returns the ARN")
        .to_string()
}

/// `aws events put-rule --name NAME --schedule-expression EXPR --state ENABLED`, with tags.
pub async fn put_rule(em: &Emulator, name: &str, expr: &str, tags: &[(&str, &str)]) {
    let tags = tags
        .iter()
        .map(|(k, v)| eb::Tag::builder().key(*k).value(*v).build().expect("tag"))
        .collect::<Vec<_>>();
    em.eventbridge()
        .put_rule()
        .name(name)
        .schedule_expression(expr)
        .state(eb::RuleState::Enabled)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRule {name}: {e:?}"));
}

/// `aws events put-targets --rule NAME --targets …`; fails the test on failed entries.
pub async fn put_targets(em: &Emulator, rule: &str, targets: Vec<eb::Target>) {
    let out = em
        .eventbridge()
        .put_targets()
        .rule(rule)
        .set_targets(Some(targets))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutTargets {rule}: {e:?}"));
    assert_eq!(
        out.failed_entry_count(),
        0,
        "PutTargets {rule} failed entries: {:?}",
        out.failed_entries()
    );
}

/// The seed post's `target.json` for `name` (rule, target id, cluster and task definition
/// family all `name`), with the test's account id in the ARNs.
pub fn seed_target(em: &Emulator, name: &str, subnets: &[&str], sgs: &[&str]) -> eb::Target {
    eb::Target::builder()
        .id(name)
        .arn(cluster_arn(em, name))
        .role_arn(role_arn(em, "ecsEventsRole"))
        .input(r#"{"containerOverrides": [{"name": "nginx", "command": ["nginx", "-v"]}]}"#)
        .ecs_parameters(
            eb::EcsParameters::builder()
                .task_definition_arn(task_definition_arn(em, name))
                .task_count(1)
                .launch_type(eb::LaunchType::Fargate)
                .network_configuration(
                    eb::NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            eb::AwsVpcConfiguration::builder()
                                .set_subnets(Some(subnets.iter().map(|s| s.to_string()).collect()))
                                .set_security_groups(Some(
                                    sgs.iter().map(|s| s.to_string()).collect(),
                                ))
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

/// The seed post's dev `target.json` (`t3-kato-dev`, its two subnets and security group).
pub fn seed_dev_target(em: &Emulator) -> eb::Target {
    seed_target(
        em,
        "t3-kato-dev",
        &["subnet-0384aa261cd82d385", "subnet-0f638c3b58f4e91cb"],
        &["sg-0168b19957a56f367"],
    )
}

/// An ECS target `id` on cluster `cluster` running `family`, as the console would make it: one
/// Fargate task.
pub fn ecs_target(em: &Emulator, id: &str, cluster: &str, family: &str) -> eb::Target {
    let mut target = minimal_ecs_target(em, id, cluster, family);
    let params = target.ecs_parameters.as_mut().expect("ecs parameters");
    params.task_count = Some(1);
    params.launch_type = Some(eb::LaunchType::Fargate);
    target
}

/// An ECS target `id` on cluster `cluster` running `family` with only what PutTargets requires:
/// no TaskCount, no LaunchType (what ecsched must read with its defaults).
pub fn minimal_ecs_target(em: &Emulator, id: &str, cluster: &str, family: &str) -> eb::Target {
    eb::Target::builder()
        .id(id)
        .arn(cluster_arn(em, cluster))
        .role_arn(role_arn(em, "ecsEventsRole"))
        .ecs_parameters(
            eb::EcsParameters::builder()
                .task_definition_arn(task_definition_arn(em, family))
                .build()
                .expect("ecs parameters"),
        )
        .build()
        .expect("target")
}

/// Names of the rules of the account's default bus, sorted.
pub async fn rule_names(em: &Emulator) -> Vec<String> {
    let out = em
        .eventbridge()
        .list_rules()
        .limit(100)
        .send()
        .await
        .expect("ListRules");
    let mut names: Vec<String> = out
        .rules()
        .iter()
        .filter_map(|r| r.name().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Everything about one rule that a write could change: the ListRules entry, its targets
/// (sorted by id) and its tags (sorted). `None` when the rule does not exist.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSnapshot {
    pub rule: eb::Rule,
    pub targets: Vec<eb::Target>,
    pub tags: BTreeMap<String, String>,
}

pub async fn snapshot(em: &Emulator, name: &str) -> Option<RuleSnapshot> {
    let events = em.eventbridge();
    let rules = events
        .list_rules()
        .name_prefix(name)
        .send()
        .await
        .expect("ListRules");
    let rule = rules
        .rules()
        .iter()
        .find(|r| r.name() == Some(name))?
        .clone();
    let mut targets = events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTargetsByRule {name}: {e:?}"))
        .targets()
        .to_vec();
    targets.sort_by(|a, b| a.id().cmp(b.id()));
    let tags = events
        .list_tags_for_resource()
        .resource_arn(rule.arn().expect("rule ARN"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTagsForResource {name}: {e:?}"))
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    Some(RuleSnapshot {
        rule,
        targets,
        tags,
    })
}

/// The value of the tracking tag of rule `name`.
pub async fn tracking_tag(em: &Emulator, name: &str) -> Option<String> {
    snapshot(em, name)
        .await
        .unwrap_or_else(|| panic!("rule {name} should exist"))
        .tags
        .get("ecschedule:tracking-id")
        .cloned()
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
