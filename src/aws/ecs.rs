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
use super::gate::{Gate, Service};
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
        match self.gate.run(Service::Ecs, req.send()).await {
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
            .started_by(STARTED_BY);
        let out = self
            .gate
            .run(Service::Ecs, req.send())
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
            .run(Service::Ecs, req.send())
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
                stopped_reason: task.stopped_reason().map(str::to_string),
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
            let out = self.gate.run(Service::Ecs, req.send()).await.map_err(|e| {
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
