//! Semantic checks the JSON Schema cannot express: schedule expressions,
//! timezones, names, ARN shapes, AWS limits, conflicting options, duplicates.
//! Returns every problem with file:line:column and the resource it concerns.
//! Pure: no I/O, no AWS.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::error::Diagnostic;
use super::fields::{TargetFields, normalize_date, target_fields};
use super::raw::TRACKING_TAG;
use super::raw::{LaunchType, RawConfig, RawRule, RawSchedule};
use super::regions;
use super::yaml::PosIndex;
use crate::expr;
use crate::suggest::suggest;

struct Ctx<'a> {
    file: &'a str,
    index: &'a PosIndex,
    /// The config's `region:`, when it has one.
    region: Option<&'a str>,
    out: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, pointer: &str, label: &str, msg: impl AsRef<str>) {
        let msg = msg.as_ref();
        let text = if label.is_empty() {
            msg.to_string()
        } else {
            format!("{label}: {msg}")
        };
        self.out
            .push(Diagnostic::at_value(self.file, self.index, pointer, text));
    }

    /// Where the value at `pointer` is, for a message about another place:
    /// `line N`, or the pointer itself when lines mean nothing (Jsonnet).
    fn place(&self, pointer: &str) -> String {
        match self.index.value_pos(pointer) {
            Some(pos) => format!("line {}", pos.line),
            None => pointer.to_string(),
        }
    }

    /// [`Ctx::err`] with a hint (e.g. "did you mean …") shown after the message.
    fn err_hint(&mut self, pointer: &str, label: &str, msg: impl AsRef<str>, hint: Option<String>) {
        self.err(pointer, label, msg);
        if let Some(last) = self.out.last_mut() {
            last.hint = hint;
        }
    }
}

/// AWS's limit on a tag value (in characters), which `trackingId` is one of.
const MAX_TAG_VALUE_CHARS: usize = 256;

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn is_arn_of(s: &str, service: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && !parts[5].is_empty()
}

/// True for the default event bus, by name or ARN.
fn is_default_bus(bus: &str) -> bool {
    bus == crate::config::raw::DEFAULT_EVENT_BUS
        || (bus.starts_with("arn:") && bus.ends_with(":event-bus/default"))
}

/// Runs every check; an empty result means the config is valid.
pub fn validate(file: &str, raw: &RawConfig, index: &PosIndex) -> Vec<Diagnostic> {
    let rules: Vec<(usize, &RawRule)> = raw.rules.iter().flatten().enumerate().collect();
    let schedules: Vec<(usize, &RawSchedule)> =
        raw.schedules.iter().flatten().enumerate().collect();
    validate_parts(file, raw, &rules, &schedules, index)
}

/// Like `validate`, for the parts of a config that could be read: `top`
/// supplies the top-level keys, and each rule/schedule keeps its index in the
/// file so positions stay right when other entries failed the schema.
pub fn validate_parts(
    file: &str,
    top: &RawConfig,
    rules: &[(usize, &RawRule)],
    schedules: &[(usize, &RawSchedule)],
    index: &PosIndex,
) -> Vec<Diagnostic> {
    let raw = top;
    let mut c = Ctx {
        file,
        index,
        region: raw.region.as_deref(),
        out: Vec::new(),
    };
    if let Some(region) = &raw.region
        && !regions::is_known(region)
    {
        let hint = suggest(region, regions::REGIONS.iter().copied())
            .or_else(|| Some("e.g. ap-northeast-3".to_owned()));
        c.err_hint(
            "/region",
            "",
            format!("region \"{region}\" is not an AWS region"),
            hint,
        );
    }
    match raw.cluster.as_deref() {
        None if !index.contains("/cluster") => c.err(
            "",
            "",
            "cluster is required: the ECS cluster that the rules and schedules run tasks on",
        ),
        None | Some("") => c.err(
            "/cluster",
            "",
            "cluster is empty: name the ECS cluster that the rules and schedules run tasks on",
        ),
        Some(cl) if cl.starts_with("arn:") && !is_arn_of(cl, "ecs") => c.err(
            "/cluster",
            "",
            format!("cluster \"{cl}\" is not an ECS cluster ARN"),
        ),
        _ => {}
    }
    if let Some(id) = &raw.tracking_id
        && id.chars().count() > MAX_TAG_VALUE_CHARS
    {
        c.err(
            "/trackingId",
            "",
            format!(
                "trackingId is {} characters long; it is the value of the {TRACKING_TAG} tag, and AWS allows at most {MAX_TAG_VALUE_CHARS}",
                id.chars().count()
            ),
        );
    }
    if let Some(role) = &raw.role {
        check_role(&mut c, "/role", "", role);
    }
    for (i, p) in raw.plugins.iter().flatten().enumerate() {
        let pp = format!("/plugins/{i}");
        match p.name.to_ascii_lowercase().as_str() {
            "tfstate" => {
                let cfg = p.config.as_ref();
                if !cfg.is_some_and(|c| c.contains_key("path") || c.contains_key("url")) {
                    c.err(&pp, "", "tfstate plugin requires config.path or config.url for the tfstate location");
                }
            }
            "ssm" => {}
            other => c.err(
                &format!("{pp}/name"),
                "",
                format!("plugin \"{other}\" is not available (expected tfstate or ssm)"),
            ),
        }
    }
    let mut seen = HashMap::new();
    for &(i, r) in rules {
        let p = format!("/rules/{i}");
        let label = format!("rule \"{}\"", r.name);
        // The default bus however it is written (absent, by name or ARN): one rule.
        let bus = match r.event_bus_name.as_deref() {
            Some(b) if !b.is_empty() && !is_default_bus(b) => b.to_string(),
            _ => crate::config::raw::DEFAULT_EVENT_BUS.to_string(),
        };
        let first = seen
            .entry((bus, r.name.clone()))
            .or_insert(format!("{p}/name"));
        if *first != format!("{p}/name") {
            let first = first.clone();
            let msg = format!("duplicate rule name (first at {})", c.place(&first));
            c.err(&format!("{p}/name"), &label, msg);
        }
        rule(&mut c, raw, r, &p, &label);
    }
    let mut seen = HashMap::new();
    for &(i, s) in schedules {
        let p = format!("/schedules/{i}");
        let label = format!("schedule \"{}\"", s.name);
        let group = s.schedule_group.clone().unwrap_or_else(|| "default".into());
        let first = seen
            .entry((group, s.name.clone()))
            .or_insert(format!("{p}/name"));
        if *first != format!("{p}/name") {
            let first = first.clone();
            let msg = format!(
                "duplicate schedule name in its group (first at {})",
                c.place(&first)
            );
            c.err(&format!("{p}/name"), &label, msg);
        }
        schedule(&mut c, s, &p, &label);
    }
    c.out.sort_by(Diagnostic::order);
    c.out
}

fn check_role(c: &mut Ctx<'_>, p: &str, label: &str, role: &str) {
    if role.starts_with("arn:") {
        if !is_arn_of(role, "iam") || !role.contains(":role/") {
            c.err(p, label, format!("role \"{role}\" is not an IAM role ARN"));
        }
    } else if role.is_empty()
        || role.len() > 64 + 512
        || !role
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "+=,.@_-/".contains(ch))
    {
        c.err(
            p,
            label,
            format!("role \"{role}\" is not a valid IAM role name"),
        );
    }
}

fn check_tags(c: &mut Ctx<'_>, p: &str, label: &str, tags: &BTreeMap<String, String>) {
    if tags.len() > 50 {
        c.err(p, label, "at most 50 tags are allowed");
    }
    for (k, v) in tags {
        let kp = format!("{p}/{}", super::yaml::escape_pointer_token(k));
        if k == TRACKING_TAG {
            c.err(
                &kp,
                label,
                format!("tag \"{k}\" is managed by ecsched (set trackingId instead)"),
            );
        } else if k.is_empty() || k.len() > 128 || k.starts_with("aws:") {
            c.err(
                &kp,
                label,
                format!("tag key \"{k}\" must be 1-128 characters and not start with aws:"),
            );
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            c.err(
                &kp,
                label,
                format!("tag \"{k}\": value longer than {MAX_TAG_VALUE_CHARS} characters"),
            );
        }
    }
}

fn rule(c: &mut Ctx<'_>, raw: &RawConfig, r: &RawRule, p: &str, label: &str) {
    if !valid_name(&r.name, 64) {
        c.err(
            &format!("{p}/name"),
            label,
            "rule name must be 1-64 characters of letters, digits, '.', '-' and '_'",
        );
    }
    if let Err(e) = expr::parse_rule_expression(&r.schedule_expression) {
        c.err(&format!("{p}/scheduleExpression"), label, e.to_string());
    }
    if let Some(role) = &r.rule_role {
        check_role(c, &format!("{p}/ruleRole"), label, role);
    }
    if r.description.as_ref().is_some_and(|d| d.len() > 512) {
        c.err(
            &format!("{p}/description"),
            label,
            "description is longer than 512 characters",
        );
    }
    if let Some(bus) = &r.event_bus_name {
        if !valid_name(bus, 256) && !bus.starts_with("arn:") {
            c.err(
                &format!("{p}/eventBusName"),
                label,
                format!("invalid event bus name \"{bus}\""),
            );
        } else if let Some(region) = c.region
            && bus.starts_with("arn:")
            && bus.split(':').nth(3) != Some(region)
        {
            c.err(
                &format!("{p}/eventBusName"),
                label,
                format!(
                    "event bus \"{bus}\" is not in {region}, the config's region (remove eventBusName)"
                ),
            );
        } else if !is_default_bus(bus) {
            c.err(
                &format!("{p}/eventBusName"),
                label,
                format!(
                    "event bus \"{bus}\" cannot run a scheduleExpression: AWS runs scheduled rules only on the default event bus (remove eventBusName)"
                ),
            );
        }
    }
    for (key, mine, top) in [
        ("region", &r.region, &raw.region),
        ("cluster", &r.cluster, &raw.cluster),
        ("trackingId", &r.tracking_id, &raw.tracking_id),
    ] {
        if let Some(v) = mine
            && Some(v) != top.as_ref()
        {
            c.err(
                &format!("{p}/{key}"),
                label,
                format!(
                    "a per-rule {key} ({v}) different from the top-level one is not supported; move the rule to its own config file"
                ),
            );
        }
    }
    if let Some(tags) = &r.tags {
        check_tags(c, &format!("{p}/tags"), label, tags);
    }
    let inline = target_fields!(r);
    match &r.targets {
        Some(targets) => {
            if !inline.is_empty() || r.target_id.is_some() {
                c.err(
                    p,
                    label,
                    "use either the inline target fields (taskDefinition, ...) or a targets: list, not both",
                );
            }
            if targets.is_empty() {
                c.err(
                    &format!("{p}/targets"),
                    label,
                    "targets: must list at least one target",
                );
            }
            if targets.len() > 5 {
                c.err(
                    &format!("{p}/targets"),
                    label,
                    format!("a rule can have at most 5 targets, found {}", targets.len()),
                );
            }
            let mut ids = HashSet::new();
            for (i, t) in targets.iter().enumerate() {
                let tp = format!("{p}/targets/{i}");
                if targets.len() > 1 && t.target_id.is_none() {
                    c.err(
                        &tp,
                        label,
                        "targetId is required when a rule has several targets",
                    );
                }
                let id = t.target_id.clone().unwrap_or_else(|| r.name.clone());
                if !ids.insert(id.clone()) {
                    c.err(
                        &format!("{tp}/targetId"),
                        label,
                        format!("duplicate targetId \"{id}\""),
                    );
                }
                if !valid_name(&id, 64) {
                    c.err(&format!("{tp}/targetId"), label, format!("invalid targetId \"{id}\": 1-64 characters of letters, digits, '.', '-' and '_'"));
                }
                ecs_target(c, &target_fields!(t), &tp, label);
            }
        }
        None => {
            if let Some(id) = &r.target_id
                && !valid_name(id, 64)
            {
                c.err(&format!("{p}/targetId"), label, format!("invalid targetId \"{id}\": 1-64 characters of letters, digits, '.', '-' and '_'"));
            }
            ecs_target(c, &inline, p, label);
        }
    }
}

fn ecs_target(c: &mut Ctx<'_>, f: &TargetFields<'_>, p: &str, label: &str) {
    match f.task_definition.as_deref() {
        None | Some("") => c.err(p, label, "taskDefinition is required"),
        Some(td) if td.starts_with("arn:") => {
            let td_region = td.split(':').nth(3).unwrap_or_default();
            if !is_arn_of(td, "ecs") || !td.contains(":task-definition/") {
                c.err(
                    &format!("{p}/taskDefinition"),
                    label,
                    format!("taskDefinition \"{td}\" is not a task definition ARN"),
                );
            } else if let Some(region) = c.region
                && td_region != region
            {
                c.err(
                    &format!("{p}/taskDefinition"),
                    label,
                    format!(
                        "taskDefinition \"{td}\" is in {td_region}, but the config is for {region}: \
                         ECS runs only task definitions of the cluster's region"
                    ),
                );
            }
        }
        Some(td) => {
            let (family, rev) = td.split_once(':').unwrap_or((td, ""));
            let family_ok = !family.is_empty()
                && family.len() <= 255
                && family
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            let rev_ok =
                !td.contains(':') || (!rev.is_empty() && rev.chars().all(|ch| ch.is_ascii_digit()));
            if !family_ok || !rev_ok {
                c.err(
                    &format!("{p}/taskDefinition"),
                    label,
                    format!("taskDefinition \"{td}\" is not `family`, `family:revision` or an ARN"),
                );
            }
        }
    }
    if let Some(n) = f.task_count
        && n < 1
    {
        c.err(
            &format!("{p}/taskCount"),
            label,
            format!("taskCount {n} is below the minimum of 1"),
        );
    }
    if let Some(n) = f.task_count
        && n > 10
    {
        c.err(
            &format!("{p}/taskCount"),
            label,
            format!("taskCount {n} is above the maximum of 10"),
        );
    }
    if let Some(role) = f.role {
        check_role(c, &format!("{p}/role"), label, role);
    }
    if let (Some(lt @ (LaunchType::Ec2 | LaunchType::External)), Some(pv)) =
        (f.launch_type, f.platform_version.as_deref())
    {
        let lt = if lt == LaunchType::Ec2 {
            "EC2"
        } else {
            "EXTERNAL"
        };
        c.err(
            &format!("{p}/platform_version"),
            label,
            format!(
                "platform_version \"{pv}\" applies only to FARGATE tasks, not launch_type {lt} \
                 (remove it, or use launch_type FARGATE)"
            ),
        );
    }
    if f.launch_type.is_some()
        && f.capacity_provider_strategy
            .as_ref()
            .is_some_and(|v| !v.is_empty())
    {
        c.err(
            &format!("{p}/capacityProviderStrategy"),
            label,
            "launch_type and capacityProviderStrategy cannot be used together",
        );
    }
    for (i, cp) in f.capacity_provider_strategy.iter().flatten().enumerate() {
        if cp.base.is_some_and(|b| !(0..=100_000).contains(&b)) {
            c.err(
                &format!("{p}/capacityProviderStrategy/{i}/base"),
                label,
                "base must be between 0 and 100000",
            );
        }
        if cp.weight.is_some_and(|w| !(0..=1000).contains(&w)) {
            c.err(
                &format!("{p}/capacityProviderStrategy/{i}/weight"),
                label,
                "weight must be between 0 and 1000",
            );
        }
    }
    if let Some(n) = f.network_configuration {
        let v = &n.aws_vpc_configuration;
        let np = format!("{p}/network_configuration/aws_vpc_configuration");
        if v.subnets.is_empty() || v.subnets.len() > 16 {
            c.err(
                &format!("{np}/subnets"),
                label,
                "between 1 and 16 subnets are required",
            );
        }
        if v.security_groups.as_ref().is_some_and(|s| s.len() > 5) {
            c.err(
                &format!("{np}/security_groups"),
                label,
                "at most 5 security groups are allowed",
            );
        }
    }
    if let Some(d) = f.dead_letter_config
        && d.sqs.starts_with("arn:")
        && !is_arn_of(&d.sqs, "sqs")
    {
        c.err(
            &format!("{p}/dead_letter_config/sqs"),
            label,
            format!("\"{}\" is not an SQS queue ARN", d.sqs),
        );
    }
    if let Some(t) = f.propagate_tags
        && !t.is_empty()
        && t != "TASK_DEFINITION"
    {
        c.err(
            &format!("{p}/propagateTags"),
            label,
            format!("propagateTags must be TASK_DEFINITION, not \"{t}\""),
        );
    }
    if let Some(r) = f.retry_policy {
        if r.maximum_retry_attempts
            .is_some_and(|n| !(0..=185).contains(&n))
        {
            c.err(
                &format!("{p}/retryPolicy/maximumRetryAttempts"),
                label,
                "maximumRetryAttempts must be between 0 and 185",
            );
        }
        if r.maximum_event_age_in_seconds
            .is_some_and(|n| !(60..=86_400).contains(&n))
        {
            c.err(
                &format!("{p}/retryPolicy/maximumEventAgeInSeconds"),
                label,
                "maximumEventAgeInSeconds must be between 60 and 86400",
            );
        }
    }
    let constraints = f.placement_constraints.as_deref().unwrap_or_default();
    if constraints.len() > 10 {
        c.err(
            &format!("{p}/placementConstraints"),
            label,
            "at most 10 placement constraints are allowed",
        );
    }
    for (i, pc) in constraints.iter().enumerate() {
        if pc.kind != "distinctInstance" && pc.kind != "memberOf" {
            c.err(
                &format!("{p}/placementConstraints/{i}/type"),
                label,
                format!(
                    "placement constraint type must be distinctInstance or memberOf, not \"{}\"",
                    pc.kind
                ),
            );
        }
    }
    let strategies = f.placement_strategy.as_deref().unwrap_or_default();
    if strategies.len() > 5 {
        c.err(
            &format!("{p}/placementStrategy"),
            label,
            "at most 5 placement strategies are allowed",
        );
    }
    for (i, ps) in strategies.iter().enumerate() {
        if !matches!(ps.kind.as_str(), "random" | "spread" | "binpack") {
            c.err(
                &format!("{p}/placementStrategy/{i}/type"),
                label,
                format!(
                    "placement strategy type must be random, spread or binpack, not \"{}\"",
                    ps.kind
                ),
            );
        }
    }
    if let Some(t) = f.task_override
        && let Some(e) = &t.ephemeral_storage
        && !(21..=200).contains(&e.size_in_gib)
    {
        c.err(
            &format!("{p}/taskOverride/ephemeralStorage/sizeInGiB"),
            label,
            "ephemeral storage must be between 21 and 200 GiB",
        );
    }
    let mut names = HashSet::new();
    for (i, co) in f.container_overrides.iter().flatten().enumerate() {
        if !names.insert(co.name.as_str()) {
            c.err(
                &format!("{p}/containerOverrides/{i}/name"),
                label,
                format!("duplicate container override \"{}\"", co.name),
            );
        }
    }
    if let Some(tags) = f.task_tags {
        check_tags(c, &format!("{p}/taskTags"), label, tags);
    }
}

fn schedule(c: &mut Ctx<'_>, s: &RawSchedule, p: &str, label: &str) {
    if !valid_name(&s.name, 64) {
        c.err(
            &format!("{p}/name"),
            label,
            "schedule name must be 1-64 characters of letters, digits, '.', '-' and '_'",
        );
    }
    if let Some(g) = &s.schedule_group
        && !valid_name(g, 64)
    {
        c.err(&format!("{p}/group"), label, format!("schedule group name \"{g}\" must be 1-64 characters of letters, digits, '.', '-' and '_'"));
    }
    if let Err(e) = expr::parse_scheduler_expression(&s.schedule_expression) {
        c.err(&format!("{p}/scheduleExpression"), label, e.to_string());
    }
    if let Some(tz) = &s.timezone
        && let Err(e) = expr::parse_timezone(tz)
    {
        c.err(&format!("{p}/timezone"), label, e.to_string());
    }
    if s.description.as_ref().is_some_and(|d| d.len() > 512) {
        c.err(
            &format!("{p}/description"),
            label,
            "description is longer than 512 characters",
        );
    }
    let start = s.start_date.as_deref().map(|d| (d, normalize_date(d)));
    let end = s.end_date.as_deref().map(|d| (d, normalize_date(d)));
    for (key, v) in [("startDate", &start), ("endDate", &end)] {
        if let Some((text, None)) = v {
            c.err(
                &format!("{p}/{key}"),
                label,
                format!(
                    "{key} \"{text}\" is not an ISO 8601 date-time such as 2026-01-01T00:00:00Z"
                ),
            );
        }
    }
    if let (Some((_, Some(a))), Some((_, Some(b)))) = (&start, &end)
        && a >= b
    {
        c.err(
            &format!("{p}/endDate"),
            label,
            "endDate must be after startDate",
        );
    }
    if let Some(w) = &s.flexible_time_window {
        let wp = format!("{p}/flexibleTimeWindow");
        match (w.mode, w.maximum_window_in_minutes) {
            (super::raw::FlexibleTimeWindowMode::Flexible, None) => c.err(
                &wp,
                label,
                "flexibleTimeWindow mode FLEXIBLE requires maximumWindowInMinutes (1-1440)",
            ),
            (super::raw::FlexibleTimeWindowMode::Flexible, Some(m)) if !(1..=1440).contains(&m) => {
                c.err(
                    &format!("{wp}/maximumWindowInMinutes"),
                    label,
                    "maximumWindowInMinutes must be between 1 and 1440",
                )
            }
            (super::raw::FlexibleTimeWindowMode::Off, Some(_)) => c.err(
                &format!("{wp}/maximumWindowInMinutes"),
                label,
                "maximumWindowInMinutes is only allowed with mode FLEXIBLE",
            ),
            _ => {}
        }
    }
    if let Some(k) = &s.kms_key_arn
        && !is_arn_of(k, "kms")
    {
        c.err(
            &format!("{p}/kmsKeyArn"),
            label,
            format!("kmsKeyArn \"{k}\" is not a KMS key ARN"),
        );
    }
    ecs_target(c, &target_fields!(s), p, label);
}
