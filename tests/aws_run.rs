//! `Aws::task_definition_exists`, `run_task` and `wait_tasks` against the emulator: RunTask
//! gets the target's parameters, and waiting follows the tasks to STOPPED (moto advances a
//! task one state per DescribeTasks call) or gives up at the timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecs::types as ecs;
use ecsched::model::{AwsVpc, ContainerOverride, EcsTarget, TaskOverrides};

use crate::aws_support::connect;
use crate::emulator::{Emulator, emulator};
use crate::fixtures::{cluster_arn, default_subnets};

/// A cluster and a Fargate task definition moto can run (container-level memory).
async fn fixtures(em: &Emulator) -> String {
    let client = em.ecs();
    client
        .create_cluster()
        .cluster_name("run")
        .send()
        .await
        .unwrap();
    let out = client
        .register_task_definition()
        .family("job")
        .network_mode(ecs::NetworkMode::Awsvpc)
        .requires_compatibilities(ecs::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name("app")
                .image("busybox")
                .memory(128)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_definition_exists_by_family_revision_or_arn() {
    let Some(em) = emulator() else { return };
    let arn = fixtures(&em).await;
    let aws = connect(&em).await;
    assert!(aws.task_definition_exists("job").await.unwrap());
    assert!(aws.task_definition_exists("job:1").await.unwrap());
    assert!(aws.task_definition_exists(&arn).await.unwrap());
    assert!(!aws.task_definition_exists("nope").await.unwrap());
    assert!(!aws.task_definition_exists("job:9").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_passes_the_target_parameters_and_wait_follows_to_stopped() {
    let Some(em) = emulator() else { return };
    let td = fixtures(&em).await;
    let subnets = default_subnets(&em);
    let aws = connect(&em).await;
    let cluster = cluster_arn(&em, "run");

    let target = EcsTarget {
        cluster_arn: cluster.clone(),
        role_arn: format!("arn:aws:iam::{}:role/ecsEventsRole", em.account_id),
        task_definition_arn: td.clone(),
        task_count: 2,
        launch_type: Some("FARGATE".into()),
        platform_version: Some("1.4.0".into()),
        group: Some("batch".into()),
        network: Some(AwsVpc {
            subnets: subnets[..1].to_vec(),
            security_groups: vec!["sg-12345678".into()],
            assign_public_ip: "DISABLED".into(),
        }),
        task_tags: BTreeMap::from([("team".into(), "data".into())]),
        reference_id: Some("ref-1".into()),
        enable_ecs_managed_tags: true,
        overrides: TaskOverrides {
            extra: None,
            cpu: Some("256".into()),
            containers: vec![ContainerOverride {
                extra: None,
                name: "app".into(),
                command: Some(vec!["echo".into(), "hi".into()]),
                environment: BTreeMap::from([("K".into(), "V".into())]),
                ..ContainerOverride::default()
            }],
            ..TaskOverrides::default()
        },
        ..EcsTarget::default()
    };
    let arns = aws.run_task(&target).await.unwrap();
    assert_eq!(arns.len(), 2);

    // What ECS was asked to run.
    let described = em
        .ecs()
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&arns[0])
        .include(ecs::TaskField::Tags)
        .send()
        .await
        .unwrap();
    let task = &described.tasks()[0];
    assert_eq!(task.started_by(), Some("ecsched"));
    assert_eq!(task.group(), Some("batch"));
    assert_eq!(task.platform_version(), Some("1.4.0"));
    assert_eq!(task.task_definition_arn(), Some(td.as_str()));
    assert_eq!(task.launch_type(), Some(&ecs::LaunchType::Fargate));
    assert!(
        task.tags()
            .iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("data"))
    );
    let overrides = task.overrides().unwrap();
    assert_eq!(overrides.cpu(), Some("256"));
    let c = &overrides.container_overrides()[0];
    assert_eq!(c.command(), ["echo", "hi"]);
    assert_eq!(c.environment()[0].name(), Some("K"));

    // A zero timeout returns where the tasks are; then wait until they stop.
    let now = aws
        .wait_tasks(&cluster, &arns, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|o| o.last_status != "STOPPED"), "{now:?}");
    let done = aws
        .wait_tasks(&cluster, &arns, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        done.iter().map(|o| o.task_arn.as_str()).collect::<Vec<_>>(),
        arns.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(done.iter().all(|o| o.last_status == "STOPPED"), "{done:?}");

    // A task ECS does not know is reported, not waited for.
    let unknown = format!("{cluster}/0000").replace(":cluster/", ":task/");
    let missing = aws
        .wait_tasks(&cluster, &[unknown], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(missing[0].last_status, "MISSING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_on_a_missing_cluster_names_cluster_and_cause() {
    let Some(em) = emulator() else { return };
    let aws = connect(&em).await;
    let target = EcsTarget {
        cluster_arn: cluster_arn(&em, "nope"),
        task_definition_arn: "job".into(),
        task_count: 1,
        ..EcsTarget::default()
    };
    let err = aws.run_task(&target).await.unwrap_err();
    assert_eq!(err.code(), Some("ClusterNotFoundException"));
    assert!(
        err.to_string()
            .starts_with("RunTask for task definition job on cluster arn:aws:ecs:"),
        "{err}"
    );
}
