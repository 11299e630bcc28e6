//! Names ↔ ARNs, one way for desired and live state. Config values may be
//! names, `path/name`s or ARNs; they are always resolved to full ARNs built with
//! the caller's partition (never a hard-coded `arn:aws:`). `shorten_*` is the
//! reverse used by `dump`, only where the ARN is in the same account/region.

use super::AccountContext;

/// `ecsEventsRole`, `service-role/x` or an ARN → role ARN.
pub fn role(value: &str, ctx: &AccountContext) -> String {
    if value.starts_with("arn:") {
        return value.to_string();
    }
    format!(
        "arn:{}:iam::{}:role/{}",
        ctx.partition,
        ctx.account_id,
        value.trim_start_matches('/')
    )
}

/// Cluster name or ARN → cluster ARN.
pub fn cluster(value: &str, ctx: &AccountContext) -> String {
    if value.starts_with("arn:") {
        return value.to_string();
    }
    format!(
        "arn:{}:ecs:{}:{}:cluster/{}",
        ctx.partition, ctx.region, ctx.account_id, value
    )
}

/// `family`, `family:rev` or ARN → task definition ARN (revision kept as given:
/// without one, EventBridge runs the latest ACTIVE revision).
pub fn task_definition(value: &str, ctx: &AccountContext) -> String {
    if value.starts_with("arn:") {
        return value.to_string();
    }
    format!(
        "arn:{}:ecs:{}:{}:task-definition/{}",
        ctx.partition, ctx.region, ctx.account_id, value
    )
}

/// SQS queue name or ARN → queue ARN.
pub fn sqs(value: &str, ctx: &AccountContext) -> String {
    if value.starts_with("arn:") {
        return value.to_string();
    }
    format!(
        "arn:{}:sqs:{}:{}:{}",
        ctx.partition, ctx.region, ctx.account_id, value
    )
}

/// Event bus name or ARN → name: live rules name their bus, so an ARN of a bus
/// in this account and region is its name (any other ARN is kept).
pub fn event_bus(value: &str, ctx: &AccountContext) -> String {
    let ours = format!(
        "arn:{}:events:{}:{}:event-bus/",
        ctx.partition, ctx.region, ctx.account_id
    );
    match value.strip_prefix(&ours) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => value.to_string(),
    }
}

/// ARN of a rule on a bus.
pub fn rule(name: &str, event_bus: &str, ctx: &AccountContext) -> String {
    if event_bus == super::DEFAULT_EVENT_BUS {
        format!(
            "arn:{}:events:{}:{}:rule/{}",
            ctx.partition, ctx.region, ctx.account_id, name
        )
    } else {
        format!(
            "arn:{}:events:{}:{}:rule/{}/{}",
            ctx.partition, ctx.region, ctx.account_id, event_bus, name
        )
    }
}

/// ARN of a Scheduler schedule group.
pub fn schedule_group(name: &str, ctx: &AccountContext) -> String {
    format!(
        "arn:{}:scheduler:{}:{}:schedule-group/{}",
        ctx.partition, ctx.region, ctx.account_id, name
    )
}

/// The partition of a region (`cn-north-1` → `aws-cn`), used when STS gives none.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

fn strip<'a>(arn: &'a str, prefix: &str) -> Option<&'a str> {
    arn.strip_prefix(prefix).filter(|rest| !rest.is_empty())
}

/// Role ARN → name (or `path/name`) when it is in this account.
pub fn shorten_role(arn: &str, ctx: &AccountContext) -> String {
    let prefix = format!("arn:{}:iam::{}:role/", ctx.partition, ctx.account_id);
    strip(arn, &prefix).unwrap_or(arn).to_string()
}

/// Task definition ARN → `family[:rev]` when in this account and region.
pub fn shorten_task_definition(arn: &str, ctx: &AccountContext) -> String {
    let prefix = format!(
        "arn:{}:ecs:{}:{}:task-definition/",
        ctx.partition, ctx.region, ctx.account_id
    );
    strip(arn, &prefix).unwrap_or(arn).to_string()
}

/// Cluster ARN → name when in this account and region.
pub fn shorten_cluster(arn: &str, ctx: &AccountContext) -> String {
    let prefix = format!(
        "arn:{}:ecs:{}:{}:cluster/",
        ctx.partition, ctx.region, ctx.account_id
    );
    strip(arn, &prefix).unwrap_or(arn).to_string()
}

/// SQS ARN → queue name when in this account and region.
pub fn shorten_sqs(arn: &str, ctx: &AccountContext) -> String {
    let prefix = format!(
        "arn:{}:sqs:{}:{}:",
        ctx.partition, ctx.region, ctx.account_id
    );
    strip(arn, &prefix).unwrap_or(arn).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(partition: &str) -> AccountContext {
        AccountContext {
            account_id: "123456789012".into(),
            partition: partition.into(),
            region: "cn-north-1".into(),
        }
    }

    #[test]
    fn an_event_bus_arn_of_this_account_and_region_is_its_name() {
        let c = ctx("aws-cn");
        let ours = "arn:aws-cn:events:cn-north-1:123456789012:event-bus/default";
        assert_eq!(event_bus(ours, &c), "default");
        assert_eq!(event_bus("default", &c), "default");
        for other in [
            "arn:aws-cn:events:cn-north-1:999999999999:event-bus/default",
            "arn:aws-cn:events:cn-northwest-1:123456789012:event-bus/default",
            "arn:aws-cn:events:cn-north-1:123456789012:event-bus/",
        ] {
            assert_eq!(event_bus(other, &c), other);
        }
    }

    #[test]
    fn resolves_with_partition_and_round_trips() {
        let c = ctx("aws-cn");
        let r = role("service-role/x", &c);
        assert_eq!(r, "arn:aws-cn:iam::123456789012:role/service-role/x");
        assert_eq!(shorten_role(&r, &c), "service-role/x");
        let t = task_definition("app:3", &c);
        assert_eq!(
            t,
            "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/app:3"
        );
        assert_eq!(shorten_task_definition(&t, &c), "app:3");
        assert_eq!(shorten_sqs(&sqs("dlq", &c), &c), "dlq");
        assert_eq!(shorten_cluster(&cluster("c1", &c), &c), "c1");
        // ARNs from elsewhere stay ARNs
        let other = "arn:aws:iam::999999999999:role/x";
        assert_eq!(role(other, &c), other);
        assert_eq!(shorten_role(other, &c), other);
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
    }
}
