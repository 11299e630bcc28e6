//! ECS: task definition existence checks, RunTask with exactly the parameters a
//! schedule would use, and waiting for tasks to stop. Never stops or changes
//! tasks it did not start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types as t;

use super::convert;
use super::error::{AwsError, AwsResult};
use super::gate::{Gate, Op};
use super::live::TaskOutcome;
use crate::model::EcsTarget;

/// `startedBy` of tasks ecsched runs.
const STARTED_BY: &str = "ecsched";
/// DescribeTasks accepts at most this many tasks per call.
const DESCRIBE_BATCH: usize = 100;
/// Polling starts fast (a task that fails to start stops within seconds) and
/// slows down to this interval.
const MAX_POLL: Duration = Duration::from_secs(6);
const FIRST_POLL: Duration = Duration::from_millis(250);

/// ECS operations (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct Tasks {
    client: Client,
    gate: Arc<Gate>,
}

impl Tasks {
    pub(crate) fn new(client: Client, gate: Arc<Gate>) -> Tasks {
        Tasks { client, gate }
    }

    pub(crate) async fn task_definition_exists(&self, task_definition: &str) -> AwsResult<bool> {
        let req = self
            .client
            .describe_task_definition()
            .task_definition(task_definition);
        match self
            .gate
            .call(Op::ecs("DescribeTaskDefinition"), || req.clone().send())
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_client_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::api(
                "DescribeTaskDefinition",
                format!("task definition {task_definition}"),
                e,
            )),
        }
    }

    pub(crate) async fn run_task(&self, e: &EcsTarget) -> AwsResult<Vec<String>> {
        let res = format!(
            "task definition {} on cluster {}",
            e.task_definition_arn, e.cluster_arn
        );
        let invalid = |message: String| AwsError::InvalidRequest {
            operation: "RunTask",
            resource: res.clone(),
            message,
        };
        let capacity = convert::ecs::capacity(&e.capacity_provider_strategy)
            .map_err(|x| invalid(x.to_string()))?;
        // A capacity provider strategy excludes a launch type.
        let launch_type = if capacity.is_some() {
            None
        } else {
            convert::ecs::launch_type(e)
        };
        let network = e
            .network
            .as_ref()
            .map(convert::ecs::network)
            .transpose()
            .map_err(|x| invalid(x.to_string()))?;
        let overrides =
            convert::ecs::overrides(&e.overrides).map_err(|x| invalid(x.to_string()))?;
        let req = self
            .client
            .run_task()
            .cluster(&e.cluster_arn)
            .task_definition(&e.task_definition_arn)
            .count(e.task_count.max(1))
            .set_launch_type(launch_type)
            .set_capacity_provider_strategy(capacity)
            .set_platform_version(e.platform_version.clone().filter(|p| !p.is_empty()))
            .set_network_configuration(network)
            .set_overrides(overrides)
            .set_group(e.group.clone().filter(|g| !g.is_empty()))
            .set_tags(convert::ecs::tags(e))
            .set_propagate_tags(convert::ecs::propagate_tags(e))
            .enable_ecs_managed_tags(e.enable_ecs_managed_tags)
            .enable_execute_command(e.enable_execute_command)
            .set_placement_constraints(convert::ecs::constraints(&e.placement_constraints))
            .set_placement_strategy(convert::ecs::strategy(&e.placement_strategy))
            .set_reference_id(e.reference_id.clone().filter(|r| !r.is_empty()))
            .started_by(STARTED_BY)
            // Retries must not start the tasks twice.
            .client_token(self.gate.idempotency_token());
        let out = self
            .gate
            .call(Op::ecs("RunTask"), || req.clone().send())
            .await
            .map_err(|x| AwsError::api("RunTask", &res, x))?;
        let arns: Vec<String> = out
            .tasks()
            .iter()
            .filter_map(|task| task.task_arn().map(str::to_string))
            .collect();
        if !out.failures().is_empty() {
            let details: Vec<String> = out
                .failures()
                .iter()
                .map(|f| {
                    let mut s = format!(
                        "{}: {}",
                        f.arn().unwrap_or("?"),
                        f.reason().unwrap_or("no reason given")
                    );
                    if let Some(d) = f.detail().filter(|d| !d.is_empty()) {
                        s.push_str(&format!(" ({d})"));
                    }
                    s
                })
                .collect();
            let mut details = details.join("; ");
            if !arns.is_empty() {
                details.push_str(&format!("; started anyway: {}", arns.join(", ")));
            }
            return Err(AwsError::Rejected {
                operation: "RunTask",
                resource: res,
                details,
            });
        }
        if arns.is_empty() {
            return Err(AwsError::MissingField {
                operation: "RunTask",
                resource: res,
                field: "tasks",
            });
        }
        Ok(arns)
    }

    pub(crate) async fn wait_tasks(
        &self,
        cluster_arn: &str,
        task_arns: &[String],
        timeout: Duration,
    ) -> AwsResult<Vec<TaskOutcome>> {
        let deadline = Instant::now() + timeout;
        let mut essential: HashMap<String, Vec<String>> = HashMap::new();
        let mut poll = FIRST_POLL;
        loop {
            let mut outcomes = Vec::with_capacity(task_arns.len());
            for chunk in task_arns.chunks(DESCRIBE_BATCH) {
                outcomes.extend(self.describe(cluster_arn, chunk, &mut essential).await?);
            }
            let finished = outcomes
                .iter()
                .all(|o| o.last_status == "STOPPED" || o.last_status == "MISSING");
            let now = Instant::now();
            if finished || now >= deadline {
                return Ok(outcomes);
            }
            tokio::time::sleep(poll.min(deadline - now)).await;
            poll = (poll * 2).min(MAX_POLL);
        }
    }

    /// One DescribeTasks round for up to 100 tasks, in the order asked.
    async fn describe(
        &self,
        cluster_arn: &str,
        arns: &[String],
        essential: &mut HashMap<String, Vec<String>>,
    ) -> AwsResult<Vec<TaskOutcome>> {
        let res = format!("tasks on cluster {cluster_arn}");
        let req = self
            .client
            .describe_tasks()
            .cluster(cluster_arn)
            .set_tasks(Some(arns.to_vec()));
        let out = self
            .gate
            .call(Op::ecs("DescribeTasks"), || req.clone().send())
            .await
            .map_err(|e| AwsError::api("DescribeTasks", &res, e))?;
        let mut by_arn: HashMap<&str, &t::Task> = HashMap::new();
        for task in out.tasks() {
            if let Some(a) = task.task_arn() {
                by_arn.insert(a, task);
            }
        }
        let mut outcomes = Vec::with_capacity(arns.len());
        for arn in arns {
            let Some(task) = by_arn.get(arn.as_str()) else {
                let reason = out
                    .failures()
                    .iter()
                    .find(|f| f.arn() == Some(arn.as_str()))
                    .and_then(|f| f.reason())
                    .unwrap_or("ECS does not know this task");
                outcomes.push(TaskOutcome {
                    task_arn: arn.clone(),
                    last_status: "MISSING".to_string(),
                    exit_code: None,
                    stopped_reason: Some(reason.to_string()),
                });
                continue;
            };
            let last_status = task.last_status().unwrap_or("UNKNOWN").to_string();
            let exit_code = if last_status == "STOPPED" {
                self.essential_exit_code(task, essential).await?
            } else {
                None
            };
            outcomes.push(TaskOutcome {
                task_arn: arn.clone(),
                last_status,
                exit_code,
                stopped_reason: task
                    .stopped_reason()
                    .filter(|r| !r.is_empty())
                    .map(str::to_string),
            });
        }
        Ok(outcomes)
    }

    /// The exit code of the essential container: the first non-zero one among the
    /// essential containers, else the first reported one. With several containers
    /// the task definition says which are essential (`essential` defaults to true).
    async fn essential_exit_code(
        &self,
        task: &t::Task,
        cache: &mut HashMap<String, Vec<String>>,
    ) -> AwsResult<Option<i32>> {
        let containers = task.containers();
        if containers.len() <= 1 {
            return Ok(containers.first().and_then(t::Container::exit_code));
        }
        let td = task.task_definition_arn().unwrap_or_default().to_string();
        if !cache.contains_key(&td) {
            let req = self.client.describe_task_definition().task_definition(&td);
            let out = self
                .gate
                .call(Op::ecs("DescribeTaskDefinition"), || req.clone().send())
                .await
                .map_err(|e| {
                    AwsError::api("DescribeTaskDefinition", format!("task definition {td}"), e)
                })?;
            let names = out
                .task_definition()
                .map(|d| {
                    d.container_definitions()
                        .iter()
                        .filter(|c| c.essential().unwrap_or(true))
                        .filter_map(|c| c.name().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            cache.insert(td.clone(), names);
        }
        let names = cache.get(&td).cloned().unwrap_or_default();
        let codes: Vec<i32> = containers
            .iter()
            .filter(|c| names.is_empty() || c.name().is_some_and(|n| names.iter().any(|x| x == n)))
            .filter_map(t::Container::exit_code)
            .collect();
        Ok(codes
            .iter()
            .copied()
            .find(|c| *c != 0)
            .or_else(|| codes.first().copied()))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::run_task::RunTaskOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    const TASK: &str = "arn:aws:ecs:ap-northeast-3:123456789012:task/c1/abc";

    fn task(status: &str, containers: &[(&str, Option<i32>)]) -> t::Task {
        let mut b = t::Task::builder()
            .task_arn(TASK)
            .task_definition_arn("arn:td:1")
            .last_status(status);
        for (name, code) in containers {
            b = b.containers(
                t::Container::builder()
                    .name(*name)
                    .set_exit_code(*code)
                    .build(),
            );
        }
        if status == "STOPPED" {
            b = b.stopped_reason("Essential container in task exited");
        }
        b.build()
    }

    #[tokio::test]
    async fn wait_tasks_polls_until_stopped_and_reports_the_essential_exit_code() {
        let describe = mock!(Client::describe_tasks)
            .sequence()
            .output(|| {
                DescribeTasksOutput::builder()
                    .tasks(task("RUNNING", &[("app", None), ("log", None)]))
                    .build()
            })
            .output(|| {
                DescribeTasksOutput::builder()
                    .tasks(task("STOPPED", &[("log", Some(0)), ("app", Some(3))]))
                    .build()
            })
            .build();
        let td = mock!(Client::describe_task_definition).then_output(|| {
            DescribeTaskDefinitionOutput::builder()
                .task_definition(
                    t::TaskDefinition::builder()
                        .container_definitions(
                            t::ContainerDefinition::builder().name("app").build(),
                        )
                        .container_definitions(
                            t::ContainerDefinition::builder()
                                .name("log")
                                .essential(false)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        let tasks = Tasks::new(
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &td]),
            Arc::new(Gate::unlimited()),
        );
        let out = tasks
            .wait_tasks("arn:c1", &[TASK.to_string()], Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(
            out,
            [TaskOutcome {
                task_arn: TASK.into(),
                last_status: "STOPPED".into(),
                exit_code: Some(3),
                stopped_reason: Some("Essential container in task exited".into()),
            }]
        );
        assert_eq!(describe.num_calls(), 2);
    }

    #[tokio::test]
    async fn run_task_failures_name_the_arn_and_reason() {
        let run = mock!(Client::run_task).then_output(|| {
            RunTaskOutput::builder()
                .failures(
                    t::Failure::builder()
                        .arn("arn:aws:ecs:ap-northeast-3:123456789012:container-instance/x")
                        .reason("RESOURCE:MEMORY")
                        .build(),
                )
                .build()
        });
        let tasks = Tasks::new(
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&run]),
            Arc::new(Gate::unlimited()),
        );
        let target = EcsTarget {
            cluster_arn: "arn:c1".into(),
            task_definition_arn: "app:1".into(),
            task_count: 1,
            launch_type: Some("EC2".into()),
            ..EcsTarget::default()
        };
        let err = tasks.run_task(&target).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "RunTask for task definition app:1 on cluster arn:c1 was rejected: \
             arn:aws:ecs:ap-northeast-3:123456789012:container-instance/x: RESOURCE:MEMORY"
        );
    }
}
