//! The main job end to end against the emulator, with the real binary: the seed post's dev
//! import (dump → diff → edit → diff), its templated prod file (S3 tfstate in another region →
//! diff → plan -out → show → apply plan.bin → refused re-apply → delete by empty config),
//! neighbours that `dump` must leave alone, prune safety, `delete` and `run --wait`.
//!
//! The helpers here (`pub`: running the binary as the test's account, the seed's files and
//! fixtures) are shared with the other end-to-end tests; emulator fixtures are in `fixtures.rs`.

use std::time::Duration;

use aws_sdk_ecs::types as ecs;
use aws_sdk_eventbridge::types as eb;

use crate::emulator::{Emulator, emulator};
use crate::fixtures::{
    cluster_arn, create_cluster, default_subnets, ecs_target, put_rule, put_targets,
    register_task_definition, role_arn, rule_names, seed_dev_target, snapshot, task_definition_arn,
    tracking_tag,
};
use crate::test::{Output, Test};

/// The region of the seed post (Osaka).
pub const SEED_REGION: &str = "ap-northeast-3";

/// Where the seed's config files live.
pub const SEED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seed");

/// Runs may be slow on a loaded machine (first ECS call pulls in moto's EC2 backend).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A test running the binary as `em`'s account in a fresh tempdir.
pub fn ecsched(em: &Emulator) -> Test {
    Test::new().emulator(em).timeout(RUN_TIMEOUT)
}

/// Lines of `text` that start with `prefix`.
pub fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

// ---- 1. the seed post's dev import ------------------------------------------------------------

/// The YAML the seed post shows for `ecschedule dump`, plus `enableECSManagedTags: true`: the
/// seed's target.json sets it, and dropping it would not round-trip.
const SEED_DEV_DUMP: &str = "\
region: ap-northeast-3
cluster: t3-kato-dev
rules:
- name: t3-kato-dev
  scheduleExpression: cron(0 10 * * ? *)
  taskDefinition: t3-kato-dev
  containerOverrides:
  - name: nginx
    command: [nginx, -v]
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - subnet-0384aa261cd82d385
      - subnet-0f638c3b58f4e91cb
      security_groups:
      - sg-0168b19957a56f367
      assign_public_ip: DISABLED
  enableECSManagedTags: true
";

/// The seed's hand-made dev rule: `aws events put-rule` + `put-targets --targets
/// file://target.json`, with the cluster and the task definition it names.
pub async fn seed_dev_fixtures(em: &Emulator) {
    create_cluster(em, "t3-kato-dev").await;
    register_task_definition(em, "t3-kato-dev", "nginx").await;
    put_rule(em, "t3-kato-dev", "cron(0 10 * * ? *)", &[]).await;
    put_targets(em, "t3-kato-dev", vec![seed_dev_target(em)]).await;
}

#[test]
fn seed_dev_dump_diff_and_edit() {
    let Some(em) = emulator() else { return };
    em.block_on(seed_dev_fixtures(&em));

    // `ecschedule dump --cluster t3-kato-dev --region ap-northeast-3 > ecschedule.yaml`
    let dumped = ecsched(&em)
        .args(["dump", "--cluster", "t3-kato-dev", "--region", SEED_REGION])
        .stdout(SEED_DEV_DUMP)
        .success();
    std::fs::write(dumped.path("ecschedule.yaml"), &dumped.stdout).expect("writing the dump");

    // The dump plans to no changes. The rule has no tracking tag yet: diff says apply would
    // adopt it (tag only), which is not a change.
    let unmanaged_note = "\
~ rule.t3-kato-dev will be tagged ecschedule:tracking-id (no other change)
  ! exists but is not managed by ecsched/ecschedule (no ecschedule:tracking-id tag): it will be adopted

";
    let no_changes = "No changes. Live state matches the configuration. apply will add the \
                      ecschedule:tracking-id tag to 1 resource that lacks it.\n";
    let out = dumped
        .test()
        .args(["-conf", "ecschedule.yaml", "diff", "-all"])
        .stdout(unmanaged_note)
        .stderr(no_changes)
        .success();
    let out = out
        .test()
        .args([
            "-conf",
            "ecschedule.yaml",
            "diff",
            "-all",
            "--detailed-exitcode",
        ])
        .stdout(unmanaged_note)
        .stderr(no_changes)
        .status(0);

    // The seed's edit: cron(0 10 …) → cron(0 20 …).
    let yaml = out.read("ecschedule.yaml");
    let edited = yaml.replace("cron(0 10 * * ? *)", "cron(0 20 * * ? *)");
    assert_ne!(yaml, edited, "the dump should contain cron(0 10 * * ? *)");
    std::fs::write(out.path("ecschedule.yaml"), edited).expect("editing the config");

    let out = out
        .test()
        .args(["-conf", "ecschedule.yaml", "diff", "-all"])
        .stdout_contains("~ rule.t3-kato-dev will be updated in place\n")
        .stdout_contains(
            "  - scheduleExpression: cron(0 10 * * ? *)\n  + scheduleExpression: cron(0 20 * * ? *)\n",
        )
        .stderr("Plan: 0 to add, 1 to change, 0 to destroy.\n")
        .success();
    assert_eq!(
        lines_starting(&out.stdout, "  - "),
        ["  - scheduleExpression: cron(0 10 * * ? *)"],
        "diff must show exactly one removed line:\n{}",
        out.stdout
    );
    assert_eq!(
        lines_starting(&out.stdout, "  + "),
        ["  + scheduleExpression: cron(0 20 * * ? *)"],
        "diff must show exactly one added line:\n{}",
        out.stdout
    );

    let out = out
        .test()
        .args([
            "-conf",
            "ecschedule.yaml",
            "diff",
            "-all",
            "--detailed-exitcode",
        ])
        .stdout_contains("  + scheduleExpression: cron(0 20 * * ? *)\n")
        .status(2);

    // `-u`: a unified diff on stdout, for piping into other tools.
    out.test()
        .args(["-conf", "ecschedule.yaml", "diff", "-all", "-u"])
        .stdout(
            "\
--- a/rule.t3-kato-dev
+++ b/rule.t3-kato-dev
@@ -1,5 +1,5 @@
 name: t3-kato-dev
-scheduleExpression: cron(0 10 * * ? *)
+scheduleExpression: cron(0 20 * * ? *)
 taskDefinition: t3-kato-dev
 containerOverrides:
 - name: nginx
",
        )
        .stderr("Plan: 0 to add, 1 to change, 0 to destroy.\n")
        .success();

    // Nothing was written by any of this.
    let live = em
        .block_on(snapshot(&em, "t3-kato-dev"))
        .expect("the rule still exists");
    assert_eq!(
        live.rule.schedule_expression(),
        Some("cron(0 10 * * ? *)"),
        "diff must not write"
    );
    assert!(
        live.tags.is_empty(),
        "diff must not tag the rule: {:?}",
        live.tags
    );
}

// ---- 2. the seed post's templated prod file ---------------------------------------------------

/// The tfstate bucket of the seed (in Oregon while the config is for Osaka: the cross-region
/// read the seed's pinned ecschedule failed at). Bucket names are global in moto: only this
/// test may create it.
const SEED_BUCKET: &str = "t3-kato-terraform-backend-osaka";

/// The subnets and security group of prod, from testdata/tfstate/seed-prod.tfstate.
const PROD_SUBNETS: [&str; 2] = ["subnet-039cb8363ae3f2b74", "subnet-03f653bcc55408971"];
const PROD_SG: &str = "sg-03d360a9d98c40504";

async fn seed_prod_fixtures(em: &Emulator) {
    let oregon = em.in_region("us-west-2");
    let s3 = oregon.s3();
    s3.create_bucket()
        .bucket(SEED_BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateBucket {SEED_BUCKET} in us-west-2 (is another test using the name?): {e:?}"
            )
        });
    let state = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/tfstate/seed-prod.tfstate"
    ))
    .expect("reading testdata/tfstate/seed-prod.tfstate");
    s3.put_object()
        .bucket(SEED_BUCKET)
        .key("prod/terraform.tfstate")
        .body(state.into())
        .send()
        .await
        .expect("PutObject prod/terraform.tfstate");
    create_cluster(em, "t3-kato-prod").await;
    register_task_definition(em, "t3-kato-prod", "nginx").await;
}

/// Copies a file of testdata/seed/ verbatim into the test's directory.
fn copy_seed(out: &Output, name: &str, to: &str) {
    let from = format!("{SEED_DIR}/{name}");
    std::fs::copy(&from, out.path(to)).unwrap_or_else(|e| panic!("copying {from}: {e}"));
}

/// "Now" for the fire-time previews of the seed's prod plan: reproducible output.
pub const SEED_NOW: &str = "2026-12-01T12:00:00Z";

/// `ENV=prod` with the region variables the seed's shell had, and a fixed "now".
fn prod(test: Test) -> Test {
    test.env("ENV", "prod")
        .env("AWS_DEFAULT_REGION", SEED_REGION)
        .env("AWS_REGION", SEED_REGION)
        .env("ECSCHED_NOW", SEED_NOW)
}

/// Compares `actual` with the golden file `testdata/NAME` after replacing what
/// changes from run to run (`masks`: pattern → placeholder). With
/// `UPDATE_GOLDEN=1` writes the file instead.
#[track_caller]
pub fn assert_golden(name: &str, actual: &str, masks: &[(&str, &str)]) {
    let mut text = actual.to_string();
    for (pattern, placeholder) in masks {
        let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("mask {pattern}: {e}"));
        text = re.replace_all(&text, *placeholder).into_owned();
    }
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {path} (UPDATE_GOLDEN=1 writes it): {e}"));
    if want != text {
        let diff = similar::TextDiff::from_lines(&want, &text)
            .unified_diff()
            .header(&path, "actual")
            .to_string();
        panic!("{path} differs (UPDATE_GOLDEN=1 rewrites it):\n{diff}");
    }
}

#[test]
fn seed_prod_plan_file_workflow_and_delete() {
    let Some(em) = emulator() else { return };
    em.block_on(seed_prod_fixtures(&em));

    // An empty run only to get a tempdir holding the verbatim seed files.
    let out = ecsched(&em).arg("--version").success();
    copy_seed(&out, "ecschedule.yaml", "ecschedule.yaml");
    copy_seed(&out, "ecschedule-delete.yaml", "ecschedule-delete.yaml");

    // `render` reads the state from S3 (in another region) and shows the resolved network.
    let out = prod(out.test())
        .args(["-conf", "ecschedule.yaml", "render"])
        .stdout_contains(&format!(
            "      subnets:\n      - {}\n      - {}\n      security_groups:\n      - {PROD_SG}\n",
            PROD_SUBNETS[0], PROD_SUBNETS[1]
        ))
        .stderr("")
        .success();

    // `ENV=prod ecschedule -conf ecschedule.yaml diff -all`: the whole rule is new.
    let out = prod(out.test())
        .args(["-conf", "ecschedule.yaml", "diff", "-all"])
        .stdout(PROD_CREATE)
        .stderr("Plan: 1 to add, 0 to change, 0 to destroy.\n")
        .success();

    // PR job: save the plan, review it as text and as JSON.
    let out = prod(out.test())
        .args([
            "-conf",
            "ecschedule.yaml",
            "plan",
            "-all",
            "-prune",
            "-out",
            "plan.bin",
        ])
        .stdout(&format!(
            "{PROD_CREATE}Plan: 1 to add, 0 to change, 0 to destroy.\n"
        ))
        .stderr("Saved the plan to plan.bin. Apply it with: ecsched apply plan.bin\n")
        .success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.path("plan.bin"))
            .expect("plan.bin exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "plan files are written with mode 0600");
    }
    // With --detailed-exitcode the same plan exits 2: changes present.
    let out = prod(out.test())
        .args([
            "-conf",
            "ecschedule.yaml",
            "plan",
            "-all",
            "-prune",
            "--detailed-exitcode",
        ])
        .stdout(&format!(
            "{PROD_CREATE}Plan: 1 to add, 0 to change, 0 to destroy.\n"
        ))
        .stderr("")
        .status(2);
    assert!(
        em.block_on(snapshot(&em, "t3-kato-prod")).is_none(),
        "plan must not write"
    );
    let out = out
        .test()
        .args(["show", "plan.bin"])
        .env("ECSCHED_NOW", SEED_NOW)
        .stdout_regex(&format!(
            "Plan plan\\.bin made [0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}Z by ecsched {} for account {} in ap-northeast-3 \\(aws\\), config ecschedule\\.yaml\n\n{}Plan: 1 to add, 0 to change, 0 to destroy\\.\n",
            regex::escape(env!("CARGO_PKG_VERSION")),
            em.account_id,
            regex::escape(PROD_CREATE)
        ))
        .stderr("")
        .success();
    let out = out
        .test()
        .args(["show", "plan.bin", "--json"])
        .env("ECSCHED_NOW", SEED_NOW)
        .stderr("")
        .success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("show --json is not JSON ({e}):\n{}", out.stdout));
    assert_valid_plan_json(&json);
    assert_eq!(json["format_version"], "2.0", "{json:#}");
    assert_eq!(json["account_id"], em.account_id.as_str(), "{json:#}");
    assert_eq!(json["region"], SEED_REGION, "{json:#}");
    assert_eq!(json["selection"]["prune"], true, "{json:#}");
    let changes = json["resource_changes"]
        .as_array()
        .expect("resource_changes");
    assert_eq!(changes.len(), 1, "one change expected: {json:#}");
    assert_eq!(changes[0]["address"], "rule.t3-kato-prod", "{json:#}");
    assert_eq!(
        changes[0]["change"]["actions"],
        serde_json::json!(["create"])
    );
    assert_eq!(changes[0]["change"]["before"], serde_json::Value::Null);
    let after = changes[0]["change"]["after"].to_string();
    for id in PROD_SUBNETS.iter().chain([&PROD_SG]) {
        assert!(after.contains(id), "after should contain {id}: {after}");
    }
    assert_eq!(
        json["summary"],
        serde_json::json!({"add": 1, "change": 0, "destroy": 0, "tag_only": 0, "takeover": 0, "left_alone": 0})
    );
    assert_eq!(
        changes[0]["fire_times"],
        serde_json::json!({
            "before": null,
            "after": ["2026-12-02T10:00:00Z", "2026-12-03T10:00:00Z", "2026-12-04T10:00:00Z"],
            "before_timezone": null,
            "after_timezone": "UTC",
            "before_never": null,
            "after_never": null,
        })
    );
    assert_eq!(json["fire_times_from"], SEED_NOW);

    // The pull-request comment: the golden file, with what changes per run masked.
    let out = out
        .test()
        .args(["show", "plan.bin", "--markdown"])
        .env("ECSCHED_NOW", SEED_NOW)
        .stderr("")
        .success();
    assert_golden(
        "markdown/seed-prod-plan.md",
        &out.stdout,
        &[
            (&regex::escape(&em.account_id), "ACCOUNT"),
            ("plan `[0-9a-f]{32}`", "plan `PLAN_ID`"),
            (
                "plan time `[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z`",
                "plan time `PLAN_TIME`",
            ),
            (
                &format!("ecsched `{}`", regex::escape(env!("CARGO_PKG_VERSION"))),
                "ecsched `VERSION`",
            ),
        ],
    );

    // After approval: apply the saved plan.
    let out = out
        .test()
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr("  ✓ rule.t3-kato-prod created\nApply complete: 1 of 1 changes applied.\n")
        .success();
    let live = em
        .block_on(snapshot(&em, "t3-kato-prod"))
        .expect("apply plan.bin should create rule t3-kato-prod");
    assert_eq!(live.rule.schedule_expression(), Some("cron(0 10 * * ? *)"));
    assert_eq!(live.rule.state(), Some(&eb::RuleState::Enabled));
    assert_eq!(
        live.tags.get("ecschedule:tracking-id").map(String::as_str),
        Some("t3-kato-prod"),
        "the created rule carries the tracking tag (trackingId = cluster)"
    );
    let plan_id = live.tags.get("ecsched:plan-id").cloned();
    assert_eq!(
        live.tags.len(),
        2,
        "and the id of the plan that wrote it: {:?}",
        live.tags
    );
    assert_eq!(live.targets.len(), 1, "{:?}", live.targets);
    let target = &live.targets[0];
    assert_eq!(target.id(), "t3-kato-prod");
    assert_eq!(target.arn(), cluster_arn(&em, "t3-kato-prod"));
    assert_eq!(
        target.role_arn(),
        Some(role_arn(&em, "ecsEventsRole").as_str())
    );
    assert_eq!(
        target.input(),
        Some(r#"{"containerOverrides":[{"name":"nginx","command":["nginx","-v"]}]}"#)
    );
    let p = target.ecs_parameters().expect("EcsParameters");
    assert_eq!(
        p.task_definition_arn(),
        task_definition_arn(&em, "t3-kato-prod")
    );
    assert_eq!(p.task_count(), Some(1));
    assert_eq!(p.launch_type(), Some(&eb::LaunchType::Fargate));
    let vpc = p
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpcConfiguration");
    assert_eq!(vpc.subnets(), PROD_SUBNETS);
    assert_eq!(vpc.security_groups(), [PROD_SG]);
    assert_eq!(vpc.assign_public_ip(), Some(&eb::AssignPublicIp::Disabled));

    // The same plan again was applied by definition: refused with exit 3, nothing written.
    let out = out
        .test()
        .args(["apply", "plan.bin"])
        .stdout("")
        .stderr(&format!(
            "error: the saved plan plan.bin was already applied (in whole or in part): \
             rule.t3-kato-prod already carries its plan id {}; nothing was written. Run plan again.\n",
            plan_id.unwrap_or_default()
        ))
        .status(3);
    assert_eq!(
        em.block_on(snapshot(&em, "t3-kato-prod")).as_ref(),
        Some(&live),
        "a refused apply must not write"
    );

    // Live state now matches the config.
    let out = prod(out.test())
        .args([
            "-conf",
            "ecschedule.yaml",
            "diff",
            "-all",
            "--detailed-exitcode",
        ])
        .stdout("")
        .stderr("No changes. Live state matches the configuration.\n")
        .success();

    // `ENV=prod ecschedule -conf ecschedule-delete.yaml apply -all -prune` deletes it.
    prod(out.test())
        .args(["-conf", "ecschedule-delete.yaml", "apply", "-all", "-prune"])
        .stdout_contains("- rule.t3-kato-prod will be destroyed\n")
        .stdout_contains("Plan: 0 to add, 0 to change, 1 to destroy.\n")
        .stderr_contains("  ✓ rule.t3-kato-prod deleted\n")
        .success();
    assert!(
        em.block_on(snapshot(&em, "t3-kato-prod")).is_none(),
        "apply -all -prune with the empty-rules config should delete rule t3-kato-prod"
    );
    let err = em
        .block_on(em.eventbridge().describe_rule().name("t3-kato-prod").send())
        .expect_err("DescribeRule t3-kato-prod should fail after the delete");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "DescribeRule after delete: {err:?}"
    );
}

/// What `diff`/`plan` print for creating the seed's prod rule.
const PROD_CREATE: &str = "\
+ rule.t3-kato-prod will be created
  + name: t3-kato-prod
  + scheduleExpression: cron(0 10 * * ? *)
  + taskDefinition: t3-kato-prod
  + containerOverrides:
  + - name: nginx
  +   command: [nginx, -v]
  + launch_type: FARGATE
  + network_configuration:
  +   aws_vpc_configuration:
  +     subnets:
  +     - subnet-039cb8363ae3f2b74
  +     - subnet-03f653bcc55408971
  +     security_groups:
  +     - sg-03d360a9d98c40504
  +     assign_public_ip: DISABLED
  fires after: 2026-12-02 10:00 UTC, 2026-12-03 10:00 UTC, 2026-12-04 10:00 UTC

";

/// Validates a `show --json` document against schemas/plan.schema.json.
#[track_caller]
pub fn assert_valid_plan_json(doc: &serde_json::Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/plan.schema.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let schema: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{path} is not a valid JSON Schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "show --json does not match {path}:\n{}\n{doc:#}",
        errors.join("\n")
    );
}

// ---- 3. neighbours that dump must leave alone -------------------------------------------------

#[test]
fn dump_and_diff_with_neighbouring_rules() {
    let Some(em) = emulator() else { return };
    let sqs_arn = format!("arn:aws:sqs:{}:{}:jobs", em.region, em.account_id);
    em.block_on(async {
        create_cluster(&em, "app").await;
        create_cluster(&em, "other").await;
        for family in ["job-a", "job-b", "job-c"] {
            register_task_definition(&em, family, "app").await;
        }
        // (a) Three ECS targets on the cluster: ecschedule ignores such rules (the seed's
        //     "dump does not work" trap); ecsched dumps them as a `targets:` list.
        put_rule(&em, "three-targets", "rate(1 hour)", &[]).await;
        put_targets(
            &em,
            "three-targets",
            vec![
                ecs_target(&em, "t1", "app", "job-a"),
                ecs_target(&em, "t2", "app", "job-b"),
                ecs_target(&em, "t3", "app", "job-c"),
            ],
        )
        .await;
        // (b) A rule on another cluster: not ours, skipped with the reason.
        put_rule(&em, "other-cluster", "rate(1 hour)", &[]).await;
        put_targets(
            &em,
            "other-cluster",
            vec![ecs_target(&em, "o1", "other", "job-a")],
        )
        .await;
        // (c) An event-pattern rule, even one that starts a task on our cluster: ecsched
        //     manages scheduled rules only; skipped with the reason.
        em.eventbridge()
            .put_rule()
            .name("pattern")
            .event_pattern(r#"{"source":["aws.s3"]}"#)
            .state(eb::RuleState::Enabled)
            .send()
            .await
            .expect("PutRule pattern");
        put_targets(&em, "pattern", vec![ecs_target(&em, "p1", "app", "job-a")]).await;
        // (d) An SQS target next to an ECS target: the ECS target is dumped, the SQS target
        //     is reported on stderr and never touched.
        put_rule(&em, "mixed", "cron(0 3 * * ? *)", &[]).await;
        put_targets(
            &em,
            "mixed",
            vec![
                ecs_target(&em, "mixed", "app", "job-a"),
                eb::Target::builder()
                    .id("queue")
                    .arn(&sqs_arn)
                    .build()
                    .expect("sqs target"),
            ],
        )
        .await;
    });
    let before_mixed = em.block_on(snapshot(&em, "mixed")).expect("mixed exists");

    // Without -v, what dump skipped is not listed (one line per unrelated rule is noise).
    let quiet = ecsched(&em)
        .args(["dump", "--cluster", "app", "--region", SEED_REGION])
        .success();
    assert!(!quiet.stderr.contains("skipped"), "{}", quiet.stderr);

    let out = ecsched(&em)
        .args(["-v", "dump", "--cluster", "app", "--region", SEED_REGION])
        .stdout(
            "\
region: ap-northeast-3
cluster: app
rules:
- name: mixed
  scheduleExpression: cron(0 3 * * ? *)
  taskDefinition: job-a
  launch_type: FARGATE
- name: three-targets
  scheduleExpression: rate(1 hour)
  targets:
  - targetId: t1
    taskDefinition: job-a
    launch_type: FARGATE
  - targetId: t2
    taskDefinition: job-b
    launch_type: FARGATE
  - targetId: t3
    taskDefinition: job-c
    launch_type: FARGATE
",
        )
        .stderr_contains(&format!(
            "rule other-cluster: skipped: no target on cluster {}",
            cluster_arn(&em, "app")
        ))
        .stderr_contains(
            "rule pattern: skipped: event-pattern rule (ecsched manages scheduled rules only)",
        )
        .stderr_contains(&format!(
            "note: rule.mixed also has targets ecsched does not manage (queue ({sqs_arn}))"
        ))
        .success();
    std::fs::write(out.path("ecsched.yaml"), &out.stdout).expect("writing the dump");

    // The dump plans to no changes (both rules only lack the tracking tag).
    let out = out
        .test()
        .args(["diff", "--all", "--detailed-exitcode"])
        .stderr_contains("No changes. Live state matches the configuration.")
        .status(0);
    assert!(
        lines_starting(&out.stdout, "  - ").is_empty()
            && lines_starting(&out.stdout, "  + ").is_empty(),
        "diff against the dump must show no changed lines:\n{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ rule.mixed will be tagged ecschedule:tracking-id (no other change)"),
        "{}",
        out.stdout
    );

    // Adopting them (apply --all --prune) tags the two rules and leaves everything else alone:
    // the SQS target stays, and the skipped rules are neither changed nor pruned.
    let skipped_before: Vec<_> = ["other-cluster", "pattern"]
        .iter()
        .map(|n| em.block_on(snapshot(&em, n)))
        .collect();
    out.test()
        .args(["apply", "--all", "--prune"])
        .stderr_contains("Apply complete: 2 of 2 changes applied.")
        .success();
    let skipped_after: Vec<_> = ["other-cluster", "pattern"]
        .iter()
        .map(|n| em.block_on(snapshot(&em, n)))
        .collect();
    assert_eq!(
        skipped_before, skipped_after,
        "rules dump skipped must not be touched by apply"
    );
    let mixed = em.block_on(snapshot(&em, "mixed")).expect("mixed exists");
    assert_eq!(
        mixed.targets.iter().map(eb::Target::id).collect::<Vec<_>>(),
        ["mixed", "queue"],
        "adopting rule mixed must keep both targets"
    );
    assert_eq!(
        mixed.targets[1], before_mixed.targets[1],
        "the SQS target must not be touched"
    );
    // The adoption re-puts the ECS target (PutTargets writes the retry policy explicitly,
    // 185 / 86400, the defaults): everything that decides what runs stays the same.
    let (now, then) = (&mixed.targets[0], &before_mixed.targets[0]);
    assert_eq!(
        now.ecs_parameters(),
        then.ecs_parameters(),
        "EcsParameters of mixed"
    );
    assert_eq!(now.input(), then.input(), "Input of mixed");
    assert_eq!(now.role_arn(), then.role_arn(), "RoleArn of mixed");
    assert_eq!(
        mixed.tags.get("ecschedule:tracking-id").map(String::as_str),
        Some("app")
    );
    assert_eq!(
        em.block_on(tracking_tag(&em, "three-targets")).as_deref(),
        Some("app")
    );
}

// ---- 4. prune safety --------------------------------------------------------------------------

#[test]
fn prune_deletes_only_rules_managed_for_this_tracking_id() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        create_cluster(&em, "app").await;
        register_task_definition(&em, "job", "app").await;
        // Managed for this config (trackingId = cluster = app), no longer declared: pruned.
        put_rule(
            &em,
            "ours-orphan",
            "rate(1 hour)",
            &[("ecschedule:tracking-id", "app")],
        )
        .await;
        put_targets(
            &em,
            "ours-orphan",
            vec![ecs_target(&em, "ours-orphan", "app", "job")],
        )
        .await;
        // Managed by another config on the same cluster: never pruned.
        put_rule(
            &em,
            "theirs",
            "rate(1 hour)",
            &[("ecschedule:tracking-id", "other-team")],
        )
        .await;
        put_targets(&em, "theirs", vec![ecs_target(&em, "theirs", "app", "job")]).await;
        // Made by hand on the same cluster, no tracking tag: never pruned.
        put_rule(&em, "untagged", "rate(1 hour)", &[]).await;
        put_targets(
            &em,
            "untagged",
            vec![ecs_target(&em, "untagged", "app", "job")],
        )
        .await;
    });
    let before: Vec<_> = ["theirs", "untagged"]
        .iter()
        .map(|n| em.block_on(snapshot(&em, n)))
        .collect();

    let config = "\
region: ap-northeast-3
cluster: app
rules:
- name: keep
  scheduleExpression: rate(1 day)
  taskDefinition: job
";
    let out = ecsched(&em)
        .config("ecsched.yaml", config)
        .args(["plan", "--all", "--prune"])
        .stdout_contains("+ rule.keep will be created\n")
        .stdout_contains("- rule.ours-orphan will be destroyed\n")
        .stdout_contains("Plan: 1 to add, 0 to change, 1 to destroy.\n")
        .success();
    // They appear only in the list of what the plan leaves alone, with why.
    let headers: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("+ ") || l.starts_with("~ ") || l.starts_with("- "))
        .collect();
    assert_eq!(
        headers,
        [
            "+ rule.keep will be created",
            "- rule.ours-orphan will be destroyed"
        ],
        "plan --prune must plan nothing for rules theirs and untagged:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "Left alone (2; counted in neither add, change nor destroy):\n\
             \x20 rule.theirs: managed for another trackingId (\"other-team\")\n\
             \x20 rule.untagged: not managed by ecsched (no ecschedule:tracking-id tag)\n"
        ),
        "{}",
        out.stdout
    );
    out.test()
        .args(["apply", "--all", "--prune"])
        .stderr_contains("  ✓ rule.keep created\n")
        .stderr_contains("  ✓ rule.ours-orphan deleted\n")
        .stderr_contains("Apply complete: 2 of 2 changes applied.\n")
        .success();

    assert_eq!(
        em.block_on(rule_names(&em)),
        ["keep", "theirs", "untagged"],
        "prune must delete only rule ours-orphan"
    );
    let after: Vec<_> = ["theirs", "untagged"]
        .iter()
        .map(|n| em.block_on(snapshot(&em, n)))
        .collect();
    assert_eq!(
        before, after,
        "rules not managed for trackingId app must not be touched"
    );
}

// ---- 5. delete --------------------------------------------------------------------------------

#[test]
fn delete_removes_a_managed_rule_and_refuses_an_unmanaged_one_without_force() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        create_cluster(&em, "app").await;
        register_task_definition(&em, "job", "app").await;
        put_rule(&em, "by-hand", "rate(1 hour)", &[]).await;
        put_targets(
            &em,
            "by-hand",
            vec![ecs_target(&em, "by-hand", "app", "job")],
        )
        .await;
        put_rule(
            &em,
            "theirs",
            "rate(1 hour)",
            &[("ecschedule:tracking-id", "other-team")],
        )
        .await;
        put_targets(&em, "theirs", vec![ecs_target(&em, "theirs", "app", "job")]).await;
    });
    let config = "\
region: ap-northeast-3
cluster: app
rules:
- name: nightly
  scheduleExpression: cron(0 1 * * ? *)
  taskDefinition: job
";
    let out = ecsched(&em)
        .config("ecsched.yaml", config)
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("  ✓ rule.nightly created\n")
        .success();
    assert_eq!(
        em.block_on(tracking_tag(&em, "nightly")).as_deref(),
        Some("app")
    );

    // A managed rule: deleted (targets first, then the rule).
    let out = out
        .test()
        .args(["delete", "--rule", "nightly", "--auto-approve"])
        .stdout_contains("- rule.nightly will be destroyed\n")
        .stderr_contains("  ✓ rule.nightly deleted\n")
        .success();
    assert!(
        em.block_on(snapshot(&em, "nightly")).is_none(),
        "delete --rule nightly should delete the managed rule"
    );

    // Unmanaged (no tag) and managed by another trackingId: refused, exit 1, untouched.
    let by_hand = em.block_on(snapshot(&em, "by-hand"));
    let out = out
        .test()
        .args(["delete", "--rule", "by-hand", "--auto-approve"])
        .stdout("")
        .stderr(
            "error: rule.by-hand is not managed for trackingId \"app\" (it has no \
             ecschedule:tracking-id tag); pass --force to delete it anyway\n",
        )
        .failure();
    assert_eq!(
        em.block_on(snapshot(&em, "by-hand")),
        by_hand,
        "refused delete must not write"
    );
    let theirs = em.block_on(snapshot(&em, "theirs"));
    let out = out
        .test()
        .args(["delete", "--rule", "theirs", "--auto-approve"])
        .stdout("")
        .stderr(
            "error: rule.theirs is not managed for trackingId \"app\" (it is managed for \
             \"other-team\"); pass --force to delete it anyway\n",
        )
        .failure();
    assert_eq!(
        em.block_on(snapshot(&em, "theirs")),
        theirs,
        "refused delete must not write"
    );

    // With --force it goes.
    let out = out
        .test()
        .args(["delete", "--rule", "by-hand", "--auto-approve", "--force"])
        .stderr_contains("  ✓ rule.by-hand deleted\n")
        .success();
    assert!(
        em.block_on(snapshot(&em, "by-hand")).is_none(),
        "delete --force should delete the unmanaged rule"
    );

    // A rule that does not exist: an error, not a silent success.
    out.test()
        .args(["delete", "--rule", "nightly", "--auto-approve"])
        .stderr_contains("rule.nightly does not exist")
        .failure();
    assert_eq!(em.block_on(rule_names(&em)), ["theirs"]);
}

// ---- 6. run --wait ----------------------------------------------------------------------------

#[test]
fn run_wait_starts_the_scheduled_task_and_follows_it_to_stopped() {
    let Some(em) = emulator() else { return };
    let subnet = default_subnets(&em).remove(0);
    em.block_on(async {
        create_cluster(&em, "app").await;
        register_task_definition(&em, "job", "nginx").await;
    });
    // Let tasks progress one state per DescribeTasks call (moto's default; server-wide, so
    // set it explicitly in case another test changed it).
    let (status, body) = em.post_json(
        "/moto-api/state-manager/set-transition",
        &serde_json::json!({
            "model_name": "ecs::task",
            "transition": {"progression": "manual", "times": 1},
        }),
    );
    assert_eq!(status, 201, "set-transition failed: {body}");

    let config = format!(
        "\
region: ap-northeast-3
cluster: app
rules:
- name: job
  scheduleExpression: cron(0 1 * * ? *)
  taskDefinition: job
  containerOverrides:
  - name: nginx
    command: [nginx, -v]
    environment:
      MODE: nightly
  launch_type: FARGATE
  group: nightly
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - {subnet}
      security_groups:
      - sg-12345678
      assign_public_ip: DISABLED
"
    );
    // moto stops the task with exit code 0 for its container and an empty stoppedReason;
    // `--wait` exits with the essential container's exit code.
    let out = ecsched(&em)
        .config("ecsched.yaml", &config)
        .args(["run", "--rule", "job", "--wait", "--timeout", "60s"])
        .stdout("")
        .success();
    let task_arn = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("started task "))
        .unwrap_or_else(|| panic!("no `started task` line on stderr:\n{}", out.stderr))
        .to_string();
    // The task ran with exactly the schedule's parameters.
    let described = em
        .block_on(
            em.ecs()
                .describe_tasks()
                .cluster("app")
                .tasks(&task_arn)
                .send(),
        )
        .expect("DescribeTasks");
    assert_eq!(described.tasks().len(), 1, "{described:?}");
    let task = &described.tasks()[0];
    assert_eq!(task.started_by(), Some("ecsched"), "{task:?}");
    assert_eq!(task.last_status(), Some("STOPPED"), "{task:?}");
    assert_eq!(task.group(), Some("nightly"), "{task:?}");
    assert_eq!(
        task.launch_type(),
        Some(&ecs::LaunchType::Fargate),
        "{task:?}"
    );
    assert_eq!(
        task.task_definition_arn(),
        Some(format!("{}:1", task_definition_arn(&em, "job")).as_str())
    );
    let overrides = task.overrides().expect("task overrides");
    let container = &overrides.container_overrides()[0];
    assert_eq!(container.name(), Some("nginx"));
    assert_eq!(container.command(), ["nginx", "-v"]);
    assert_eq!(container.environment()[0].name(), Some("MODE"));
    assert_eq!(container.environment()[0].value(), Some("nightly"));

    assert_eq!(
        out.stderr,
        format!(
            "running the rule \"job\"\nstarted task {task_arn}\ntask {task_arn} STOPPED: exit code 0\n"
        ),
        "run --wait should report the start and the outcome (an empty stoppedReason is not \
         worth a pair of empty parentheses)"
    );
}
