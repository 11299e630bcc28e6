//! `ecsched::aws` through the fault proxy in front of the emulator: reads survive throttling,
//! 5xx and dropped connections with identical results; every attempt is counted; a
//! non-retryable error is not retried; endless throttling gives up after `max_attempts`; the
//! client-side rate limit holds.

use std::time::Instant;

use ecsched::aws::{Aws, AwsOptions};

use crate::aws_support::{connect, quiet};
use crate::emulator::{Emulator, emulator};
use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::fixtures::{cluster_arn, minimal_ecs_target, put_rule, put_targets};

async fn connect_via(em: &Emulator, endpoint: &str, opts: AwsOptions) -> Aws {
    let opts = AwsOptions {
        region: Some(em.region.clone()),
        ..opts
    };
    Aws::connect_with(&opts, Some(endpoint), Some(&em.account_id))
        .await
        .expect("connecting through the fault proxy")
}

/// `ours` rules on cluster c1 and `others` on another cluster.
async fn rules(em: &Emulator, ours: usize, others: usize) -> String {
    for i in 0..ours + others {
        let name = format!("r{i:02}");
        put_rule(em, &name, "rate(1 hour)", &[]).await;
        let cluster = if i < ours { "c1" } else { "other" };
        put_targets(em, &name, vec![minimal_ecs_target(em, "t", cluster, "app")]).await;
    }
    cluster_arn(em, "c1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_throttling_5xx_and_dropped_connections() {
    let Some(em) = emulator() else { return };
    let cluster = rules(&em, 4, 2).await;
    let expected = connect(&em)
        .await
        .read_rules(&cluster, &[], &[], &quiet)
        .await
        .unwrap();

    let proxy = FaultProxy::start(&em.endpoint).unwrap();
    proxy
        .rule(Rule::operation("ListTargetsByRule", Fault::Throttle).every_nth(2))
        .rule(Rule::operation("ListRules", Fault::Status(503)).first(1))
        .rule(Rule::operation("ListTagsForResource", Fault::Drop).first(1));
    let aws = connect_via(&em, &proxy.endpoint(), AwsOptions::default()).await;
    let live = aws.read_rules(&cluster, &[], &[], &quiet).await.unwrap();
    assert_eq!(live, expected, "same result, fingerprints included");

    let stats = proxy.stats();
    // Every 2nd request, retries included: at least 2 of the 4 first attempts and more.
    assert!(stats.op("ListTargetsByRule").injected >= 2);
    assert_eq!(stats.op("ListRules").injected, 1);
    assert_eq!(stats.op("ListTagsForResource").injected, 1);
    assert_eq!(
        aws.api_calls(),
        stats.total().seen,
        "api_calls counts every attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retryable_error_is_not_retried_and_names_what_was_written() {
    let Some(em) = emulator() else { return };
    let proxy = FaultProxy::start(&em.endpoint).unwrap();
    proxy.rule(Rule::operation(
        "PutTargets",
        Fault::validation("Parameter RoleArn is not valid."),
    ));
    let aws = connect_via(&em, &proxy.endpoint(), AwsOptions::default()).await;
    let cluster = cluster_arn(&em, "c1");
    let direct = connect(&em).await;
    let rule = {
        // Build the model of a one-target rule by reading one back.
        put_rule(&em, "model", "rate(1 hour)", &[]).await;
        put_targets(
            &em,
            "model",
            vec![minimal_ecs_target(&em, "t", "c1", "app")],
        )
        .await;
        let mut r = direct
            .read_rule(&cluster, "default", "model")
            .await
            .unwrap()
            .unwrap()
            .rule;
        r.name = "faulty".into();
        r
    };
    let owner = ecsched::model::Owner {
        tracking_id: "t1".to_string(),
        plan_id: None,
    };
    let err = aws.put_rule(&rule, &owner, None).await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.to_string(),
        "PutTargets for rule \"faulty\" failed: ValidationException: Parameter RoleArn is not \
         valid.; rule \"faulty\" is partly written: PutRule succeeded before that"
    );
    assert_eq!(proxy.stats().op("PutTargets").seen, 1, "not retried");
    assert_eq!(
        proxy.stats().op("TagResource").seen,
        0,
        "stopped after the failure"
    );
    // The partly written rule is still ours: PutRule created it with its tags,
    // so the next plan finishes it instead of offering to adopt it.
    let left = direct
        .read_rule(&cluster, "default", "faulty")
        .await
        .unwrap()
        .expect("the rule PutRule created");
    assert_eq!(left.tracking_id.as_deref(), Some("t1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_throttling_gives_up_after_max_attempts() {
    let Some(em) = emulator() else { return };
    let proxy = FaultProxy::start(&em.endpoint).unwrap();
    proxy.rule(Rule::operation("ListRules", Fault::Throttle));
    let opts = AwsOptions {
        max_attempts: 3,
        ..AwsOptions::default()
    };
    let aws = connect_via(&em, &proxy.endpoint(), opts).await;
    let err = aws
        .read_rules(&cluster_arn(&em, "c1"), &[], &[], &quiet)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert!(
        err.to_string()
            .starts_with("ListRules for event bus \"default\" failed: ThrottlingException"),
        "{err}"
    );
    assert_eq!(proxy.stats().op("ListRules").seen, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_spaces_requests_of_each_operation() {
    let Some(em) = emulator() else { return };
    let cluster = rules(&em, 30, 0).await;
    let opts = AwsOptions {
        rate_limit: Some(10.0),
        ..AwsOptions::default()
    };
    let aws = connect_via(&em, &em.endpoint, opts).await;
    let started = Instant::now();
    let before = aws.api_calls();
    aws.read_rules(&cluster, &[], &[], &quiet).await.unwrap();
    let calls = aws.api_calls() - before;
    // 1 ListRules + 1 ListRuleNamesByTarget + 30 ListTargetsByRule + 30 ListTagsForResource.
    assert_eq!(calls, 62);
    let stats = aws.op_stats();
    let attempts = |op: &str| {
        stats
            .iter()
            .find(|(name, _)| name == op)
            .map_or(0, |(_, s)| s.attempts)
    };
    assert_eq!(attempts("events:ListTargetsByRule"), 30);
    assert_eq!(attempts("events:ListTagsForResource"), 30);
    // Each operation has its own bucket: 30 calls at 10/s after a burst of 10
    // take at least 2 s (a lower bound only; the operations run side by side).
    let floor = (30.0 - 10.0) / 10.0;
    let took = started.elapsed().as_secs_f64();
    assert!(
        took >= floor * 0.95,
        "{calls} calls took {took:.2}s, floor {floor:.2}s"
    );
}
