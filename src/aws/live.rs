//! What the AWS layer reports about live resources: the normalised model plus
//! what the planner needs to judge ownership and staleness (ARN, tracking tag,
//! targets ecsched leaves alone, fingerprint). Plain data; no SDK types.

use crate::model::{Rule, Schedule};

/// A live EventBridge rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    /// Only the ECS targets on the cluster that ecsched can represent, sorted by id.
    /// A rule that is not a scheduled rule (event pattern) has an empty
    /// `schedule_expression`.
    pub rule: Rule,
    pub arn: String,
    /// Value of the `ecschedule:tracking-id` tag.
    pub tracking_id: Option<String>,
    /// Value of the `ecsched:plan-id` tag: the plan that wrote the rule last.
    pub plan_id: Option<String>,
    /// `"<id> (<arn>)"` of every other target, which ecsched never touches: targets
    /// that are not ECS on this cluster, and ECS targets on this cluster it cannot
    /// represent (`"<id> (<arn>; <reason>)"`, e.g. an Input that is not a task
    /// override, or an InputTransformer).
    pub foreign_targets: Vec<String>,
    /// Hex SHA-256 over the complete raw read: the rule's own fields (as both
    /// ListRules and DescribeRule report them), every target, every tag. Any
    /// change anywhere changes it.
    pub fingerprint: String,
}

/// Result of [`crate::aws::Aws::read_rules`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveRules {
    /// Sorted by (event bus, name).
    pub rules: Vec<LiveRule>,
    pub skipped: Vec<SkippedRule>,
}

/// A rule (or schedule, as `group/name`) that was seen but is not ecsched's
/// business, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRule {
    pub name: String,
    pub reason: String,
}

/// A live EventBridge Scheduler schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSchedule {
    pub schedule: Schedule,
    /// Value of the tracking tag on the schedule's group (`None` for `default`).
    pub group_tracking_id: Option<String>,
    /// Hex SHA-256 over the whole GetSchedule output (LastModificationDate
    /// included) and the group's tracking tag.
    pub fingerprint: String,
}

/// Result of [`crate::aws::Aws::read_schedules`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveSchedules {
    /// Sorted by (group, name).
    pub schedules: Vec<LiveSchedule>,
    pub skipped: Vec<SkippedRule>,
    /// Each (non-default) group of a named schedule that no schedule read was
    /// in: `None` when it does not exist, else its tracking tag.
    pub groups: Vec<(String, Option<Option<String>>)>,
}

/// How one task ended (or where it was when waiting timed out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    pub task_arn: String,
    /// `STOPPED` unless the wait timed out; `MISSING` when ECS does not know it.
    pub last_status: String,
    /// Exit code of the essential container, when reported.
    pub exit_code: Option<i32>,
    /// `stoppedReason`, `None` when absent or empty.
    pub stopped_reason: Option<String>,
}

impl std::fmt::Display for TaskOutcome {
    /// `task ARN STOPPED: exit code 0 (Essential container in task exited)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "task {} {}: exit code ", self.task_arn, self.last_status)?;
        match self.exit_code {
            Some(c) => write!(f, "{c}")?,
            None => f.write_str("unknown")?,
        }
        match &self.stopped_reason {
            Some(r) => write!(f, " ({r})"),
            None => Ok(()),
        }
    }
}
