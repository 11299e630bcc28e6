//! EventBridge Scheduler schedules and their groups: listing, reading, writing,
//! deleting. Owns the schedule fingerprint and group creation. Never creates,
//! tags or deletes the `default` group (it cannot be tagged, and moto would even
//! let it be deleted), and never deletes a group.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types as t;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use super::convert::{self, date_from_model};
use super::error::{AwsError, AwsResult};
use super::fingerprint::{Fingerprint, sorted};
use super::gate::{Gate, Op};
use super::live::{LiveSchedule, LiveSchedules, SkippedRule};
use super::paginate::PageTokens;
use crate::model::{AccountContext, DEFAULT_SCHEDULE_GROUP, Schedule, TRACKING_TAG, arn};

/// Page size of ListSchedules (the API maximum).
const PAGE_SIZE: i32 = 100;

fn resource(group: &str, name: &str) -> String {
    format!("schedule \"{group}/{name}\"")
}

fn group_resource(group: &str) -> String {
    format!("schedule group \"{group}\"")
}

/// Refuses a group tagged (`owner`) for a trackingId other than `tracking_id`.
fn check_group_owner(group: &str, owner: Option<String>, tracking_id: &str) -> AwsResult<()> {
    match owner {
        Some(other) if other != tracking_id => Err(AwsError::ForeignGroup {
            group: group.to_string(),
            other,
            tracking_id: tracking_id.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Scheduler operations (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct Schedules {
    client: Client,
    gate: Arc<Gate>,
    ctx: AccountContext,
    /// Groups checked (or created) in this run: each once, even when many of
    /// its schedules are written at the same time.
    groups: Arc<Mutex<HashMap<String, Arc<OnceCell<()>>>>>,
}

/// An existing schedule group: its tracking tag and its schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleGroup {
    /// Value of the group's `ecschedule:tracking-id` tag.
    pub tracking_id: Option<String>,
    /// `(name, target ARN)` of each schedule in it, by name.
    pub schedules: Vec<(String, Option<String>)>,
}

/// A schedule's GetSchedule output (`None`: it is gone), with its group and name.
type Fetched = (String, String, Option<Box<GetScheduleOutput>>);

enum Read {
    Schedule {
        group: String,
        name: String,
        out: Option<Box<GetScheduleOutput>>,
    },
    GroupTracking {
        group: String,
        tracking: Option<String>,
    },
}

impl Schedules {
    pub(crate) fn new(client: Client, gate: Arc<Gate>, ctx: AccountContext) -> Schedules {
        Schedules {
            client,
            gate,
            ctx,
            groups: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// `(group, name, target ARN)` of every schedule in every group.
    pub(crate) async fn list_schedules(
        &self,
        group: Option<&str>,
    ) -> AwsResult<Vec<(String, String, Option<String>)>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut pages = PageTokens::default();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_schedules()
                .set_group_name(group.map(str::to_string))
                .max_results(PAGE_SIZE)
                .set_next_token(token.take());
            let page = self
                .gate
                .call(Op::scheduler("ListSchedules"), || req.clone().send())
                .await
                .map_err(|e| {
                    let scope = group.map_or("all schedule groups".to_string(), group_resource);
                    AwsError::api("ListSchedules", scope, e)
                })?;
            for s in page.schedules() {
                let group = s
                    .group_name()
                    .filter(|g| !g.is_empty())
                    .unwrap_or(DEFAULT_SCHEDULE_GROUP)
                    .to_string();
                let name = s.name().unwrap_or_default().to_string();
                if seen.insert((group.clone(), name.clone())) {
                    out.push((group, name, s.target().map(|x| x.arn().to_string())));
                }
            }
            match pages.next(page.next_token()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// GetSchedule; `None` when it does not exist.
    async fn get(&self, group: &str, name: &str) -> AwsResult<Option<GetScheduleOutput>> {
        let req = self.client.get_schedule().group_name(group).name(name);
        match self
            .gate
            .call(Op::scheduler("GetSchedule"), || req.clone().send())
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::api("GetSchedule", resource(group, name), e)),
        }
    }

    /// The tracking tag of a group (`None` for `default`, untagged or missing groups).
    async fn group_tracking(&self, group: &str) -> AwsResult<Option<String>> {
        if group == DEFAULT_SCHEDULE_GROUP {
            return Ok(None);
        }
        let req = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn::schedule_group(group, &self.ctx));
        match self
            .gate
            .call(Op::scheduler("ListTagsForResource"), || req.clone().send())
            .await
        {
            Ok(out) => Ok(out
                .tags()
                .iter()
                .find(|x| x.key() == TRACKING_TAG)
                .map(|x| x.value().to_string())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::api(
                "ListTagsForResource",
                group_resource(group),
                e,
            )),
        }
    }

    /// Whether `group` exists (`None`: it does not; GetScheduleGroup, as the
    /// tag API answers for missing groups too) and its tracking tag.
    async fn group_state(&self, group: &str) -> AwsResult<Option<Option<String>>> {
        if group == DEFAULT_SCHEDULE_GROUP {
            return Ok(Some(None));
        }
        let req = self.client.get_schedule_group().name(group);
        match self
            .gate
            .call(Op::scheduler("GetScheduleGroup"), || req.clone().send())
            .await
        {
            Ok(_) => Ok(Some(self.group_tracking(group).await?)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::api("GetScheduleGroup", group_resource(group), e)),
        }
    }

    /// A schedule group as `claim-group` sees it: its tracking tag and the
    /// schedules in it (name, target ARN); `None` when it does not exist.
    pub(crate) async fn read_group(&self, group: &str) -> AwsResult<Option<ScheduleGroup>> {
        let Some(tracking_id) = self.group_state(group).await? else {
            return Ok(None);
        };
        let mut schedules: Vec<(String, Option<String>)> = self
            .list_schedules(Some(group))
            .await?
            .into_iter()
            .filter(|(g, _, _)| g == group)
            .map(|(_, name, target)| (name, target))
            .collect();
        schedules.sort();
        Ok(Some(ScheduleGroup {
            tracking_id,
            schedules,
        }))
    }

    /// Tags an existing (non-default) group `ecschedule:tracking-id=tracking_id`
    /// (`claim-group`): its schedules become managed for that trackingId.
    pub(crate) async fn tag_group(&self, group: &str, tracking_id: &str) -> AwsResult<()> {
        let invalid = |message: String| AwsError::InvalidRequest {
            operation: "TagResource",
            resource: group_resource(group),
            message,
        };
        if group == DEFAULT_SCHEDULE_GROUP {
            return Err(invalid("the default group cannot be tagged".to_string()));
        }
        let tag = t::Tag::builder()
            .key(TRACKING_TAG)
            .value(tracking_id)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let req = self
            .client
            .tag_resource()
            .resource_arn(arn::schedule_group(group, &self.ctx))
            .tags(tag);
        self.gate
            .call(Op::scheduler("TagResource"), || req.clone().send())
            .await
            .map_err(|e| AwsError::api("TagResource", group_resource(group), e))?;
        Ok(())
    }

    /// GetSchedule of each `(group, name)` and the tags of each of their groups
    /// (once a group, `default` excluded; none unless `owners`), in parallel.
    /// Returns each schedule's output (`None`: gone) and each group's tracking tag.
    async fn get_all(
        &self,
        names: Vec<(String, String)>,
        owners: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<(Vec<Fetched>, HashMap<String, Option<String>>)> {
        let groups: BTreeSet<String> = names
            .iter()
            .map(|(g, _)| g.clone())
            .filter(|g| owners && g != DEFAULT_SCHEDULE_GROUP)
            .collect();
        let total = names.len() + groups.len();
        progress(0, total);
        let mut set = JoinSet::new();
        for group in groups {
            let me = self.clone();
            set.spawn(async move {
                let tracking = me.group_tracking(&group).await?;
                Ok::<_, AwsError>(Read::GroupTracking { group, tracking })
            });
        }
        for (group, name) in names {
            let me = self.clone();
            set.spawn(async move {
                let out = me.get(&group, &name).await?.map(Box::new);
                Ok(Read::Schedule { group, name, out })
            });
        }
        let mut outputs = Vec::new();
        let mut tracking: HashMap<String, Option<String>> = HashMap::new();
        let mut done = 0;
        while let Some(joined) = set.join_next().await {
            let read = joined
                .map_err(|e| AwsError::Runtime(format!("reading schedules stopped: {e}")))??;
            done += 1;
            progress(done, total);
            match read {
                Read::GroupTracking { group, tracking: t } => {
                    tracking.insert(group, t);
                }
                Read::Schedule { group, name, out } => outputs.push((group, name, out)),
            }
        }
        Ok((outputs, tracking))
    }

    pub(crate) async fn read_schedules(
        &self,
        cluster_arn: &str,
        names: &[(String, String)],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<LiveSchedules> {
        let wanted: HashSet<(&str, &str)> = names
            .iter()
            .map(|(g, n)| (g.as_str(), n.as_str()))
            .collect();
        let mut skipped = Vec::new();
        let mut jobs = Vec::new();
        for (group, name, target) in self.list_schedules(None).await? {
            let ours = target.as_deref() == Some(cluster_arn);
            if ours || wanted.contains(&(group.as_str(), name.as_str())) {
                jobs.push((group, name));
            } else {
                skipped.push(SkippedRule {
                    name: format!("{group}/{name}"),
                    reason: format!("targets {}", target.as_deref().unwrap_or("nothing")),
                });
            }
        }
        // Declared groups no schedule read is in: what a create there meets.
        let read_groups: HashSet<&str> = jobs.iter().map(|(g, _)| g.as_str()).collect();
        let unseen: BTreeSet<&str> = names
            .iter()
            .map(|(g, _)| g.as_str())
            .filter(|g| *g != DEFAULT_SCHEDULE_GROUP && !read_groups.contains(g))
            .collect();
        let mut groups = Vec::new();
        for group in unseen {
            groups.push((group.to_string(), self.group_state(group).await?));
        }
        let (outputs, tracking) = self.get_all(jobs, true, progress).await?;
        let mut schedules = Vec::new();
        for (group, name, out) in outputs {
            let Some(out) = out else {
                skipped.push(SkippedRule {
                    name: format!("{group}/{name}"),
                    reason: "deleted while being read".to_string(),
                });
                continue;
            };
            let group_tracking = tracking.get(&group).cloned().flatten();
            match live_schedule(&out, &group, &name, group_tracking) {
                Ok(live) => schedules.push(live),
                Err(reason) => skipped.push(SkippedRule {
                    name: format!("{group}/{name}"),
                    reason,
                }),
            }
        }
        schedules.sort_by(|a, b| {
            (&a.schedule.group, &a.schedule.name).cmp(&(&b.schedule.group, &b.schedule.name))
        });
        skipped.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(LiveSchedules {
            schedules,
            skipped,
            groups,
        })
    }

    /// Exactly the named schedules (`(group, name)`), in parallel, without
    /// listing: GetSchedule each, and (with `owners`) the tags of each group
    /// once. A schedule whose Input ecsched cannot read is absent, as it is
    /// absent (skipped) from `read_schedules`.
    pub(crate) async fn read_named_schedules(
        &self,
        names: &[(String, String)],
        owners: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> AwsResult<Vec<LiveSchedule>> {
        let (outputs, tracking) = self.get_all(names.to_vec(), owners, progress).await?;
        let mut schedules: Vec<LiveSchedule> = outputs
            .into_iter()
            .filter_map(|(group, name, out)| {
                let out = out?;
                let t = tracking.get(&group).cloned().flatten();
                live_schedule(&out, &group, &name, t).ok()
            })
            .collect();
        schedules.sort_by(|a, b| {
            (&a.schedule.group, &a.schedule.name).cmp(&(&b.schedule.group, &b.schedule.name))
        });
        Ok(schedules)
    }

    /// Re-reads one schedule (see `read_named_schedules`).
    pub(crate) async fn read_schedule(
        &self,
        group: &str,
        name: &str,
    ) -> AwsResult<Option<LiveSchedule>> {
        let (out, tracking) = tokio::try_join!(self.get(group, name), self.group_tracking(group))?;
        Ok(out.and_then(|out| live_schedule(&out, group, name, tracking).ok()))
    }

    /// Makes sure a (non-default) group exists, creating it with the tracking
    /// tag; `true` when this call created it. A group that exists already must
    /// not be managed for another trackingId: a schedule created in it would
    /// silently become theirs, which no plan showed ([`AwsError::ForeignGroup`]).
    /// Concurrent writes of schedules in the same group check (and create) it
    /// once: a group exists before any of its schedules is written.
    async fn ensure_group(&self, group: &str, tracking_id: &str) -> AwsResult<bool> {
        if group == DEFAULT_SCHEDULE_GROUP {
            return Ok(false);
        }
        let cell = self
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(group.to_string())
            .or_default()
            .clone();
        let mut created = false;
        cell.get_or_try_init(|| async {
            created = self.create_group_if_missing(group, tracking_id).await?;
            Ok::<(), AwsError>(())
        })
        .await?;
        Ok(created)
    }

    async fn create_group_if_missing(&self, group: &str, tracking_id: &str) -> AwsResult<bool> {
        if let Some(owner) = self.group_state(group).await? {
            return check_group_owner(group, owner, tracking_id).map(|()| false);
        }
        let tag = t::Tag::builder()
            .key(TRACKING_TAG)
            .value(tracking_id)
            .build()
            .map_err(|e| AwsError::InvalidRequest {
                operation: "CreateScheduleGroup",
                resource: group_resource(group),
                message: e.to_string(),
            })?;
        let req = self
            .client
            .create_schedule_group()
            .name(group)
            .tags(tag)
            .client_token(self.gate.idempotency_token());
        match self
            .gate
            .call(Op::scheduler("CreateScheduleGroup"), || req.clone().send())
            .await
        {
            Ok(_) => Ok(true),
            // Created meanwhile by someone else: fine if not for another trackingId.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                let owner = self.group_tracking(group).await?;
                check_group_owner(group, owner, tracking_id).map(|()| false)
            }
            Err(e) => Err(AwsError::api(
                "CreateScheduleGroup",
                group_resource(group),
                e,
            )),
        }
    }

    pub(crate) async fn put_schedule(
        &self,
        s: &Schedule,
        tracking_id: &str,
        exists: bool,
    ) -> AwsResult<()> {
        let res = resource(&s.group, &s.name);
        let op = if exists {
            "UpdateSchedule"
        } else {
            "CreateSchedule"
        };
        let invalid = |message: String| AwsError::InvalidRequest {
            operation: op,
            resource: res.clone(),
            message,
        };
        let target = convert::sch::target_from_model(s).map_err(|e| invalid(e.to_string()))?;
        let window = convert::sch::window_from_model(s).map_err(|e| invalid(e.to_string()))?;
        let date = |d: &Option<String>, field: &str| match d {
            None => Ok(None),
            Some(text) => date_from_model(text)
                .map(Some)
                .ok_or_else(|| invalid(format!("{field} {text:?} is not an RFC 3339 date"))),
        };
        let start = date(&s.start_date, "StartDate")?;
        let end = date(&s.end_date, "EndDate")?;

        // Only a create makes its group (the plan's create implies it); an update
        // never recreates a group deleted meanwhile: it fails instead.
        let done = if !exists && self.ensure_group(&s.group, tracking_id).await? {
            vec!["CreateScheduleGroup".to_string()]
        } else {
            Vec::new()
        };

        // Both requests carry every field: UpdateSchedule is a full replace.
        macro_rules! fill {
            ($req:expr) => {
                $req.name(&s.name)
                    .group_name(&s.group)
                    .schedule_expression(&s.schedule_expression)
                    .schedule_expression_timezone(&s.timezone)
                    .set_description(Some(s.description.clone()).filter(|d| !d.is_empty()))
                    .set_start_date(start)
                    .set_end_date(end)
                    .state(convert::sch::state_from_model(s.state))
                    .flexible_time_window(window)
                    .set_action_after_completion(convert::sch::action_from_model(s))
                    .set_kms_key_arn(s.kms_key_arn.clone())
                    .target(target)
            };
        }
        if exists {
            let req =
                fill!(self.client.update_schedule()).client_token(self.gate.idempotency_token());
            self.gate
                .call(Op::scheduler("UpdateSchedule"), || req.clone().send())
                .await
                .map_err(|e| AwsError::api(op, &res, e).after(&res, &done))?;
        } else {
            let req =
                fill!(self.client.create_schedule()).client_token(self.gate.idempotency_token());
            self.gate
                .call(Op::scheduler("CreateSchedule"), || req.clone().send())
                .await
                .map_err(|e| AwsError::api(op, &res, e).after(&res, &done))?;
        }
        Ok(())
    }

    pub(crate) async fn delete_schedule(&self, group: &str, name: &str) -> AwsResult<()> {
        let req = self
            .client
            .delete_schedule()
            .group_name(group)
            .name(name)
            .client_token(self.gate.idempotency_token());
        match self
            .gate
            .call(Op::scheduler("DeleteSchedule"), || req.clone().send())
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(AwsError::api("DeleteSchedule", resource(group, name), e)),
        }
    }
}

/// Converts a GetSchedule output, computing its fingerprint. `Err` is the
/// reason the schedule is skipped.
fn live_schedule(
    out: &GetScheduleOutput,
    group: &str,
    name: &str,
    group_tracking_id: Option<String>,
) -> Result<LiveSchedule, String> {
    let schedule = convert::sch::schedule_to_model(out, group, name)?;
    // Field by field: the output's Debug also shows the request id. ECS task tags
    // are `HashMap`s, whose Debug order is random: hashed in key order apart.
    let mut target = out.target().cloned();
    let task_tags: Option<Vec<_>> = target
        .as_mut()
        .and_then(|x| x.ecs_parameters.as_mut())
        .and_then(|p| p.tags.take())
        .map(|tags| tags.iter().map(|m| format!("{:?}", sorted(m))).collect());
    let mut f = Fingerprint::new("scheduler-schedule");
    f.field("arn", &out.arn())
        .field("group_name", &out.group_name())
        .field("name", &out.name())
        .field("schedule_expression", &out.schedule_expression())
        .field("start_date", &out.start_date())
        .field("end_date", &out.end_date())
        .field("description", &out.description())
        .field("timezone", &out.schedule_expression_timezone())
        .field("state", &out.state())
        .field("creation_date", &out.creation_date())
        .field("last_modification_date", &out.last_modification_date())
        .field("kms_key_arn", &out.kms_key_arn())
        .field("target", &target)
        .field("target.ecs_parameters.tags", &task_tags)
        .field("flexible_time_window", &out.flexible_time_window())
        .field("action_after_completion", &out.action_after_completion())
        .field("group_tracking_id", &group_tracking_id);
    Ok(LiveSchedule {
        schedule,
        group_tracking_id,
        fingerprint: f.finish(),
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_scheduler::operation::list_schedules::ListSchedulesOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn summary(group: &str, name: &str, target: &str) -> t::ScheduleSummary {
        t::ScheduleSummary::builder()
            .group_name(group)
            .name(name)
            .target(t::TargetSummary::builder().arn(target).build().unwrap())
            .build()
    }

    #[tokio::test]
    async fn list_schedules_stops_when_the_token_repeats() {
        let page = mock!(Client::list_schedules).then_output(|| {
            ListSchedulesOutput::builder()
                .schedules(summary("g", "a", "arn:c"))
                .next_token("again")
                .build()
                .unwrap()
        });
        let s = Schedules::new(
            mock_client!(aws_sdk_scheduler, RuleMode::MatchAny, [&page]),
            Arc::new(Gate::unlimited()),
            AccountContext {
                account_id: "123456789012".into(),
                partition: "aws".into(),
                region: "ap-northeast-3".into(),
            },
        );
        let all = s.list_schedules(None).await.unwrap();
        assert_eq!(all, [("g".into(), "a".into(), Some("arn:c".into()))]);
        assert_eq!(page.num_calls(), 2);
    }
}
