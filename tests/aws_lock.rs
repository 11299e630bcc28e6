//! The S3 run lock through `ecsched::aws` against the emulator: take/release, a second taker
//! refused with the holder named, waiting until release, races with exactly one winner,
//! `unlock ID` (right and wrong id), release after a takeover, unreadable lock objects, the
//! applied-plan record, and a lock bucket in another region than the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use ecsched::aws::{Aws, LockError, LockRequest, LockSpec, Released};

use crate::aws_support::connect;
use crate::emulator::{Emulator, emulator};

/// A fresh bucket for the lock in `region` (bucket names are global: the account id makes it unique).
async fn bucket(em: &Emulator, region: &str, suffix: &str) -> String {
    let name = format!("ecsched-lock-{}-{suffix}", em.account_id);
    let s3 = em.in_region(region).s3();
    let mut req = s3.create_bucket().bucket(&name);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    req.send().await.expect("CreateBucket");
    name
}

async fn setup(em: &Emulator) -> (Aws, LockSpec) {
    let b = bucket(em, &em.region, "a").await;
    let spec = LockSpec::parse(&format!("s3://{b}/ecsched/prod.lock")).unwrap();
    (connect(em).await, spec)
}

/// Fast retries: tests wait milliseconds, not seconds.
fn request(op: &str) -> LockRequest {
    LockRequest {
        retry_delay: (Duration::from_millis(20), Duration::from_millis(100)),
        ..LockRequest::new(op)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_refuse_release_and_take_again() {
    let Some(em) = emulator() else { return };
    let (aws, spec) = setup(&em).await;
    assert_eq!(aws.read_lock(&spec).await.unwrap(), None);

    let req = request("apply plan.bin").with_plan("9f3c");
    let held = aws
        .acquire_lock(&spec, &req, Duration::ZERO, &|| false)
        .await
        .unwrap();
    assert_eq!(held.id().len(), 32);
    assert_eq!(held.region(), em.region);
    let read = aws
        .read_lock(&spec)
        .await
        .unwrap()
        .expect("the lock object");
    assert_eq!(&read, held.info());
    assert_eq!(read.operation.as_deref(), Some("apply plan.bin"));
    assert_eq!(read.plan_id.as_deref(), Some("9f3c"));
    assert!(read.expires_at > read.started_at);

    // A second run (another connection) is refused at once, naming the holder.
    let other = connect(&em).await;
    let t0 = Instant::now();
    let err = other
        .acquire_lock(&spec, &request("delete"), Duration::ZERO, &|| false)
        .await
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let LockError::Held {
        holder: Some(h), ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(h.id, held.id());
    let msg = err.to_string();
    for part in [
        format!("the lock {spec} is held with id {}", held.id()),
        format!("by {}", read.who.as_deref().unwrap()),
        "running \"apply plan.bin\" for plan 9f3c since ".to_string(),
        ", expires at ".to_string(),
        "it was not waited for".to_string(),
        format!("break the lock with `ecsched unlock {}`", held.id()),
    ] {
        assert!(msg.contains(&part), "{part:?} not in: {msg}");
    }

    // Released: gone; releasing again is harmless; the lock can be taken again.
    assert_eq!(aws.release_lock(&held).await.unwrap(), Released::Deleted);
    assert_eq!(aws.read_lock(&spec).await.unwrap(), None);
    assert_eq!(
        aws.release_lock(&held).await.unwrap(),
        Released::AlreadyGone
    );
    let again = other
        .acquire_lock(&spec, &request("delete"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    assert_ne!(again.id(), held.id());
    // The first run's stale handle does not release the second run's lock.
    assert!(matches!(
        aws.release_lock(&held).await.unwrap(),
        Released::NotOurs(Some(h)) if h.id == again.id()
    ));
    assert_eq!(other.release_lock(&again).await.unwrap(), Released::Deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_gets_the_lock_once_it_is_released() {
    let Some(em) = emulator() else { return };
    let (aws, spec) = setup(&em).await;
    let first = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap();

    let other = connect(&em).await;
    let waiter_spec = spec.clone();
    let t0 = Instant::now();
    let waiter = tokio::spawn(async move {
        other
            .acquire_lock(
                &waiter_spec,
                &request("delete"),
                Duration::from_secs(20),
                &|| false,
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter must wait for the release"
    );
    assert_eq!(aws.release_lock(&first).await.unwrap(), Released::Deleted);
    let second = waiter.await.unwrap().unwrap();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert_eq!(aws.read_lock(&spec).await.unwrap().unwrap().id, second.id());

    // A wait that runs out fails naming the holder and how long it waited.
    let t0 = Instant::now();
    let err = aws
        .acquire_lock(
            &spec,
            &request("apply"),
            Duration::from_millis(400),
            &|| false,
        )
        .await
        .unwrap_err();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(
        err.to_string().contains("; gave up after waiting 0."),
        "{err}"
    );
    aws.release_lock(&second).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takers_exactly_one_wins_every_time() {
    let Some(em) = emulator() else { return };
    let (a, spec) = setup(&em).await;
    let b = connect(&em).await;
    let req = request("apply");
    for round in 0..20 {
        let (ra, rb) = tokio::join!(
            a.acquire_lock(&spec, &req, Duration::ZERO, &|| false),
            b.acquire_lock(&spec, &req, Duration::ZERO, &|| false),
        );
        let (winner, held, err) = match (ra, rb) {
            (Ok(h), Err(e)) => (&a, h, e),
            (Err(e), Ok(h)) => (&b, h, e),
            (ra, rb) => panic!("round {round}: not exactly one winner: {ra:?} / {rb:?}"),
        };
        assert!(
            matches!(&err, LockError::Held { holder: Some(h), .. } if h.id == held.id()),
            "round {round}: {err:?}"
        );
        assert_eq!(winner.release_lock(&held).await.unwrap(), Released::Deleted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_takers_hold_the_lock_one_at_a_time() {
    let Some(em) = emulator() else { return };
    let (_, spec) = setup(&em).await;
    let inside = Arc::new(AtomicUsize::new(0));
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (em, spec, inside) = (em.clone(), spec.clone(), inside.clone());
        runs.spawn(async move {
            let aws = connect(&em).await;
            let held = aws
                .acquire_lock(&spec, &request("apply"), Duration::from_secs(30), &|| false)
                .await
                .unwrap();
            let was = inside.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            aws.release_lock(&held).await.unwrap();
            was
        });
    }
    while let Some(was) = runs.join_next().await {
        assert_eq!(was.unwrap(), 0, "two runs held the lock at once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_breaks_only_the_named_lock_and_the_old_holder_cannot_release_the_new_one() {
    let Some(em) = emulator() else { return };
    let (aws, spec) = setup(&em).await;

    let err = aws.break_lock(&spec, "0123").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("there is no lock at {spec} to break (nobody holds it)")
    );

    let dead = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    let err = aws.break_lock(&spec, "0123").await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "refusing to break the lock at {spec}: its id is {}, not 0123; it is held with id {} by ",
            dead.id(),
            dead.id()
        )),
        "{err}"
    );
    assert!(
        aws.read_lock(&spec).await.unwrap().is_some(),
        "nothing deleted"
    );

    let broken = aws.break_lock(&spec, dead.id()).await.unwrap();
    assert_eq!(&broken, dead.info());
    assert_eq!(aws.read_lock(&spec).await.unwrap(), None);

    // Someone else takes it; the "dead" run wakes up and releases: theirs stays.
    let other = connect(&em).await;
    let theirs = other
        .acquire_lock(&spec, &request("delete"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    let r = aws.release_lock(&dead).await.unwrap();
    assert!(
        matches!(&r, Released::NotOurs(Some(h)) if h.id == theirs.id()),
        "{r:?}"
    );
    assert_eq!(aws.read_lock(&spec).await.unwrap().unwrap().id, theirs.id());
    other.release_lock(&theirs).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_lock_object_is_reported_and_can_be_broken() {
    let Some(em) = emulator() else { return };
    let (aws, spec) = setup(&em).await;
    em.s3()
        .put_object()
        .bucket(spec.bucket())
        .key(spec.key())
        .body(b"locked by hand".to_vec().into())
        .send()
        .await
        .unwrap();
    let info = aws.read_lock(&spec).await.unwrap().unwrap();
    assert!(info.id.starts_with("body-"), "{info:?}");
    let err = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "is held with id {} (an unreadable lock object: it is not JSON",
            info.id
        )) && msg.ends_with(&format!("`ecsched unlock {}`", info.id)),
        "{msg}"
    );
    aws.break_lock(&spec, &info.id).await.unwrap();
    let held = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    aws.release_lock(&held).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_can_be_claimed_once() {
    let Some(em) = emulator() else { return };
    let (aws, spec) = setup(&em).await;
    let first = aws
        .acquire_lock(&spec, &request("apply plan.bin"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    assert!(aws.claim_plan(&spec, "9f3c", first.info()).await.unwrap());
    // The same run claiming again (a retried call) is still its claim.
    assert!(aws.claim_plan(&spec, "9f3c", first.info()).await.unwrap());
    aws.release_lock(&first).await.unwrap();

    let second = aws
        .acquire_lock(&spec, &request("apply plan.bin"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    assert!(!aws.claim_plan(&spec, "9f3c", second.info()).await.unwrap());
    assert!(
        aws.claim_plan(&spec, "another-plan", second.info())
            .await
            .unwrap()
    );
    let record = aws.plan_claim(&spec, "9f3c").await.unwrap().unwrap();
    assert_eq!(record.id, first.id());
    assert_eq!(record.plan_id.as_deref(), Some("9f3c"));
    assert_eq!(record.who, first.info().who);
    assert_eq!(aws.plan_claim(&spec, "never").await.unwrap(), None);
    // The record lives next to the lock and is not the lock.
    let key = format!("{}.plans/9f3c", spec.key());
    em.s3()
        .head_object()
        .bucket(spec.bucket())
        .key(&key)
        .send()
        .await
        .unwrap();
    aws.release_lock(&second).await.unwrap();
    assert_eq!(aws.read_lock(&spec).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_bucket_in_another_region() {
    let Some(em) = emulator() else { return };
    let b = bucket(&em, "eu-west-1", "eu").await;
    let spec = LockSpec::parse(&format!("s3://{b}/prod.lock")).unwrap();
    let aws = connect(&em).await; // ap-northeast-3
    let held = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap();
    assert_eq!(held.region(), "eu-west-1");
    let seen = em
        .in_region("eu-west-1")
        .s3()
        .get_object()
        .bucket(&b)
        .key("prod.lock")
        .send()
        .await
        .unwrap();
    assert!(seen.e_tag().is_some());
    let err = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err:?}");
    assert_eq!(aws.release_lock(&held).await.unwrap(), Released::Deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_lock_bucket_is_named() {
    let Some(em) = emulator() else { return };
    let aws = connect(&em).await;
    let spec = LockSpec::parse(&format!("s3://ecsched-nope-{}/prod.lock", em.account_id)).unwrap();
    let err = aws
        .acquire_lock(&spec, &request("apply"), Duration::ZERO, &|| false)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the lock bucket \"ecsched-nope-{}\" (from {spec}) does not exist; create it or fix \
             the lock location",
            em.account_id
        )
    );
}
