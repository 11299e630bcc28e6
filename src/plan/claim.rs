//! Which schedule groups `claim-group` may claim for a trackingId: an existing
//! group other than `default` that no other trackingId manages. Pure: the
//! caller reads the group and writes the tag.

use crate::model::DEFAULT_SCHEDULE_GROUP;

/// Why a group cannot be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefusal {
    #[error(
        "schedule group \"default\" cannot be claimed: it cannot be tagged, and ecsched never manages its schedules (move them to a group of their own)"
    )]
    DefaultGroup,
    #[error("schedule group \"{group}\" does not exist in {region}")]
    Missing { group: String, region: String },
    #[error(
        "schedule group \"{group}\" is managed for another trackingId (\"{tracking_id}\"); ecsched never claims it"
    )]
    OtherTrackingId { group: String, tracking_id: String },
}

/// What claiming a group would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Tag the group for the trackingId.
    Tag,
    /// Already tagged for this trackingId: nothing to do.
    AlreadyManaged,
}

/// Whether `group` (`None`: missing; `Some(tag)`: exists with that tracking
/// tag) may be claimed for `tracking_id`.
pub fn check(
    group: &str,
    found: Option<Option<&str>>,
    tracking_id: &str,
    region: &str,
) -> Result<Claim, ClaimRefusal> {
    if group == DEFAULT_SCHEDULE_GROUP {
        return Err(ClaimRefusal::DefaultGroup);
    }
    match found {
        None => Err(ClaimRefusal::Missing {
            group: group.to_string(),
            region: region.to_string(),
        }),
        Some(None) => Ok(Claim::Tag),
        Some(Some(t)) if t == tracking_id => Ok(Claim::AlreadyManaged),
        Some(Some(t)) => Err(ClaimRefusal::OtherTrackingId {
            group: group.to_string(),
            tracking_id: t.to_string(),
        }),
    }
}

/// What `claim-group` shows before it asks: the group, the tag it gets, and
/// each schedule in it (`(name, target ARN)`), marking those that do not
/// target `cluster_arn` (they stay left alone).
pub fn describe(
    group: &str,
    tracking_id: &str,
    cluster_arn: &str,
    schedules: &[(String, Option<String>)],
) -> String {
    let mut text = format!(
        "schedule group \"{group}\" will be tagged ecschedule:tracking-id={tracking_id}: its schedules become managed for this config (apply --all --prune deletes those it does not declare).\n"
    );
    if schedules.is_empty() {
        text.push_str("  (no schedules in it yet)\n");
    }
    for (name, target) in schedules {
        let whose = match target.as_deref() {
            Some(t) if t == cluster_arn => String::new(),
            Some(t) => format!(" (targets {t}, not this config's cluster: left alone)"),
            None => " (no target: left alone)".to_string(),
        };
        text.push_str(&format!("  schedule.{group}/{name}{whose}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_existing_untagged_non_default_groups_are_claimed() {
        assert_eq!(
            check("default", Some(None), "app", "r"),
            Err(ClaimRefusal::DefaultGroup)
        );
        assert!(matches!(
            check("g", None, "app", "r"),
            Err(ClaimRefusal::Missing { .. })
        ));
        assert!(matches!(
            check("g", Some(Some("other")), "app", "r"),
            Err(ClaimRefusal::OtherTrackingId { .. })
        ));
        assert_eq!(check("g", Some(None), "app", "r"), Ok(Claim::Tag));
        assert_eq!(
            check("g", Some(Some("app")), "app", "r"),
            Ok(Claim::AlreadyManaged)
        );
    }
}
