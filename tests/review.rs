//! Plans a reviewer can read (issue 11), with the real binary against the emulator: what a plan
//! leaves alone (hand-made rule, another trackingId's rule, a schedule in a pre-existing group,
//! a managed rule removed from the config without `--prune`) in the human view, `--json` and
//! `--markdown`; `claim-group` and the prune it enables; a changed secret shown as changed and
//! never in clear; the plan-file warning; `render` masking; `diff -u` and its summary on one
//! terminal; a Rego policy evaluated on `show --json` by a real Rego engine (regorus).

use std::collections::BTreeMap;

use crate::emulator::{Emulator, emulator};
use crate::fixtures::{ecs_target, put_rule, put_targets, rule_names};
use crate::schedules::{
    app_cluster, create_group, create_schedule, group_tags, schedule_names, tracking,
};
use crate::test::Test;
use crate::workflow::{SEED_NOW, SEED_REGION, ecsched};

/// Lines that open a resource in plan/diff text.
fn resource_headers(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("+ ") || l.starts_with("~ ") || l.starts_with("- "))
        .collect()
}

/// A rule made by hand on cluster `app` (`tags`: its tags).
async fn hand_rule(em: &Emulator, name: &str, tags: &[(&str, &str)]) {
    put_rule(em, name, "rate(1 hour)", tags).await;
    put_targets(em, name, vec![ecs_target(em, name, "app", "job-a")]).await;
}

const LEFT_ALONE: &str = "\
Left alone (4; counted in neither add, change nor destroy):
  rule.old: managed, no longer in the config: would be deleted with --prune
  rule.hand-made: not managed by ecsched (no ecschedule:tracking-id tag)
  rule.theirs: managed for another trackingId (\"other-team\")
  schedule.by-hand/manual: in schedule group \"by-hand\", which ecsched did not create (ecsched claim-group by-hand makes it managed)
";

#[test]
fn a_plan_lists_what_it_leaves_alone_and_why() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        hand_rule(&em, "hand-made", &[]).await;
        hand_rule(&em, "theirs", &[("ecschedule:tracking-id", "other-team")]).await;
        create_group(&em, "by-hand", &[]).await;
        create_schedule(&em, "by-hand", "manual", "app", "job-a").await;
    });
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            rules:
            - name: keep
              scheduleExpression: rate(1 day)
              taskDefinition: job-a
            - name: old
              scheduleExpression: rate(2 days)
              taskDefinition: job-a
            ",
        )
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 2 of 2 changes applied.\n")
        .success();
    // `old` leaves the config; no --prune.
    std::fs::write(
        out.path("ecsched.yaml"),
        "region: ap-northeast-3\ncluster: app\nrules:\n- name: keep\n  scheduleExpression: rate(1 day)\n  taskDefinition: job-a\n",
    )
    .expect("writing the config");

    let out = out
        .test()
        .args(["plan", "--all", "--detailed-exitcode"])
        .stdout(&format!(
            "{LEFT_ALONE}\nNo changes. Live state matches the configuration.\n"
        ))
        .stderr("")
        .success();
    // diff: the list on stdout, the summary on stderr.
    let out = out
        .test()
        .args(["diff", "--all"])
        .stdout(&format!("{LEFT_ALONE}\n"))
        .stderr("No changes. Live state matches the configuration.\n")
        .success();

    let out = out.test().args(["plan", "--all", "--json"]).success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    crate::workflow::assert_valid_plan_json(&json);
    let left: Vec<(String, String, bool)> = json["left_alone"]
        .as_array()
        .expect("left_alone")
        .iter()
        .map(|l| {
            (
                l["address"].as_str().unwrap_or_default().to_string(),
                l["reason"].as_str().unwrap_or_default().to_string(),
                l["would_prune"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let own = |a: &str, r: &str, p: bool| (a.to_string(), r.to_string(), p);
    assert_eq!(
        left,
        [
            own("rule.old", "would_prune", true),
            own("rule.hand-made", "unmanaged", false),
            own("rule.theirs", "other_tracking_id", false),
            own("schedule.by-hand/manual", "unmanaged_group", false),
        ]
    );
    assert_eq!(json["left_alone"][2]["tracking_id"], "other-team");
    assert_eq!(json["left_alone"][3]["group"], "by-hand");
    assert_eq!(
        json["summary"],
        serde_json::json!({"add": 0, "change": 0, "destroy": 0, "tag_only": 0, "takeover": 0, "left_alone": 4})
    );
    assert_eq!(json["resource_changes"], serde_json::json!([]));

    let out = out
        .test()
        .args(["plan", "--all", "--markdown"])
        .stderr("")
        .success();
    assert!(
        out.stdout.contains(
            "<details><summary>Left alone: 4 resources (in neither add, change nor destroy)</summary>\n\n\
             - `rule.old`: managed, no longer in the config: would be deleted with --prune\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("| 0 | 0 | 0 | 0 | 0 | 4 |\n"),
        "{}",
        out.stdout
    );

    // With --prune, `old` is a destroy and leaves the list.
    let out = out
        .test()
        .args(["plan", "--all", "--prune"])
        .stdout_contains("Left alone (3; counted in neither add, change nor destroy):\n")
        .stdout_contains("Plan: 0 to add, 0 to change, 1 to destroy.\n")
        .success();
    assert_eq!(
        resource_headers(&out.stdout),
        ["- rule.old will be destroyed"]
    );
    assert!(!out.stdout.contains("would be deleted with --prune"));
}

#[test]
fn claim_group_then_prune_deletes_the_undeclared_schedule_in_it_and_nothing_else() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        hand_rule(&em, "hand-made", &[]).await;
        create_group(&em, "legacy", &[]).await;
        create_schedule(&em, "legacy", "old-job", "app", "job-a").await;
        create_group(&em, "theirs", &[("ecschedule:tracking-id", "other-team")]).await;
        create_schedule(&em, "theirs", "their-job", "app", "job-a").await;
        create_schedule(&em, "default", "elsewhere", "app", "job-a").await;
    });
    let config = "
        region: ap-northeast-3
        cluster: app
        rules:
        - name: keep
          scheduleExpression: rate(1 day)
          taskDefinition: job-a
        schedules:
        - name: kept
          group: legacy
          scheduleExpression: rate(1 day)
          taskDefinition: job-a
        ";
    // Before the claim, prune cannot touch the pre-existing group: it says so.
    let out = ecsched(&em)
        .config("ecsched.yaml", config)
        .args(["apply", "--all", "--prune", "--auto-approve"])
        .stdout_contains(
            "  schedule.legacy/old-job: in schedule group \"legacy\", which ecsched did not create (ecsched claim-group legacy makes it managed)\n",
        )
        .stderr_contains("Apply complete: 2 of 2 changes applied.\n")
        .success();
    assert_eq!(
        em.block_on(schedule_names(&em)),
        [
            "default/elsewhere",
            "legacy/kept",
            "legacy/old-job",
            "theirs/their-job"
        ]
    );
    assert_eq!(em.block_on(group_tags(&em, "legacy")), BTreeMap::new());

    // Without a terminal it only proceeds with --auto-approve.
    let out = out
        .test()
        .args(["claim-group", "legacy"])
        .stdout_contains("  schedule.legacy/old-job\n")
        .stderr(
            "error: claim-group asks before tagging schedule group \"legacy\"; without a terminal, pass --auto-approve\n",
        )
        .failure();
    assert_eq!(em.block_on(group_tags(&em, "legacy")), BTreeMap::new());
    let out = out
        .test()
        .args(["claim-group", "legacy", "--auto-approve"])
        .stdout(
            "
            schedule group \"legacy\" will be tagged ecschedule:tracking-id=app: its schedules become managed for this config (apply --all --prune deletes those it does not declare).
              schedule.legacy/kept
              schedule.legacy/old-job
            ",
        )
        .stderr("  ✓ schedule group \"legacy\" tagged ecschedule:tracking-id=app\n")
        .success();
    assert_eq!(em.block_on(group_tags(&em, "legacy")), tracking("app"));

    let out = out
        .test()
        .args(["apply", "--all", "--prune", "--auto-approve"])
        .stderr_contains("  ✓ schedule.legacy/old-job deleted\n")
        .stderr_contains("Apply complete: 1 of 1 changes applied.\n")
        .success();
    assert_eq!(
        resource_headers(&out.stdout),
        ["- schedule.legacy/old-job will be destroyed"],
        "{}",
        out.stdout
    );
    assert_eq!(
        em.block_on(schedule_names(&em)),
        ["default/elsewhere", "legacy/kept", "theirs/their-job"],
        "only legacy/old-job is deleted"
    );
    assert_eq!(em.block_on(rule_names(&em)), ["hand-made", "keep"]);
    assert_eq!(
        em.block_on(group_tags(&em, "theirs")),
        tracking("other-team")
    );

    // Claiming again is a no-op.
    out.test()
        .args(["claim-group", "legacy"])
        .stdout("")
        .stderr(
            "schedule group \"legacy\" is already managed for trackingId \"app\"; nothing to do.\n",
        )
        .success();
}

/// On a terminal, claim-group asks; only "yes" tags the group.
#[test]
fn claim_group_on_a_terminal_tags_only_after_yes() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        create_group(&em, "legacy", &[]).await;
        create_schedule(&em, "legacy", "old-job", "app", "job-a").await;
    });
    let config = "
        region: ap-northeast-3
        cluster: app
        schedules:
        - name: kept
          group: legacy
          scheduleExpression: rate(1 day)
          taskDefinition: job-a
        ";
    let question = "Do you want to claim this group? Only 'yes' will be accepted: ";
    for answer in ["no", "y", ""] {
        ecsched(&em)
            .config("ecsched.yaml", config)
            .args(["claim-group", "legacy"])
            .on_terminal()
            .stdin(format!("{answer}\n"))
            .stdout_contains("  schedule.legacy/old-job\r\n")
            .stdout_contains(question)
            .stdout_contains("Claim cancelled.\r\n")
            .success();
        assert_eq!(
            em.block_on(group_tags(&em, "legacy")),
            BTreeMap::new(),
            "{answer:?}"
        );
    }
    ecsched(&em)
        .config("ecsched.yaml", config)
        .args(["claim-group", "legacy"])
        .on_terminal()
        .stdin("yes\n")
        .stdout_contains(question)
        .stdout_contains("  ✓ schedule group \"legacy\" tagged ecschedule:tracking-id=app\r\n")
        .success();
    assert_eq!(em.block_on(group_tags(&em, "legacy")), tracking("app"));
}

#[test]
fn claim_group_refuses_default_another_tracking_ids_group_and_a_missing_group() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        create_group(&em, "theirs", &[("ecschedule:tracking-id", "other-team")]).await;
    });
    let config = "region: ap-northeast-3\ncluster: app\nrules: []\n";
    let out = ecsched(&em)
        .config("ecsched.yaml", config)
        .args(["claim-group", "default", "--auto-approve"])
        .stdout("")
        .stderr(
            "error: schedule group \"default\" cannot be claimed: it cannot be tagged, and ecsched never manages its schedules (move them to a group of their own)\n",
        )
        .failure();
    let out = out
        .test()
        .args(["claim-group", "theirs", "--auto-approve"])
        .stdout("")
        .stderr(
            "error: schedule group \"theirs\" is managed for another trackingId (\"other-team\"); ecsched never claims it\n",
        )
        .failure();
    out.test()
        .args(["claim-group", "nowhere", "--auto-approve"])
        .stdout("")
        .stderr(&format!(
            "error: schedule group \"nowhere\" does not exist in {SEED_REGION}\n"
        ))
        .failure();
    assert_eq!(
        em.block_on(group_tags(&em, "theirs")),
        tracking("other-team"),
        "nothing written"
    );
}

const DB_CONFIG: &str = "
    region: ap-northeast-3
    cluster: app
    rules:
    - name: db
      scheduleExpression: cron(0 10 * * ? *)
      taskDefinition: job-a
      containerOverrides:
      - name: app
        environment:
          DB_PASSWORD: s3cr3t-old
          MODE: batch
    ";

/// Only a masked value changes: the views say so without showing either value, JSON marks
/// the sensitive leaves and lets a policy see the change, and `plan -out` warns once.
#[test]
fn a_changed_secret_is_shown_as_changed_and_never_in_clear() {
    let Some(em) = emulator() else { return };
    em.block_on(app_cluster(&em));
    let out = ecsched(&em)
        .config("ecsched.yaml", DB_CONFIG)
        .args(["apply", "--all", "--auto-approve"])
        .stderr_contains("Apply complete: 1 of 1 changes applied.\n")
        .success();
    std::fs::write(
        out.path("ecsched.yaml"),
        crate::test::unindent(DB_CONFIG).replace("s3cr3t-old", "s3cr3t-new"),
    )
    .expect("writing the config");

    let out = out
        .test()
        .args(["diff", "--all"])
        .stdout(
            "
            ~ rule.db will be updated in place
                containerOverrides:
                - name: app
                  environment:
              -     DB_PASSWORD: (sensitive value)
              +     DB_PASSWORD: (sensitive value changed)
                    MODE: batch

            ",
        )
        .stderr("Plan: 0 to add, 1 to change, 0 to destroy.\n")
        .success();
    let out = out
        .test()
        .args(["diff", "--all", "-u"])
        .stdout_contains(
            "-    DB_PASSWORD: (sensitive value)\n+    DB_PASSWORD: (sensitive value changed)\n",
        )
        .success();
    assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);

    let out = out.test().args(["plan", "--all", "--json"]).success();
    assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let change = &json["resource_changes"][0]["change"];
    let env = |side: &str| &change[side]["targets"][0]["ecs"]["overrides"]["containers"][0]["environment"];
    assert_eq!(
        env("before"),
        &serde_json::json!({"DB_PASSWORD": "(sensitive value)", "MODE": "batch"})
    );
    assert_eq!(
        env("after"),
        &serde_json::json!({"DB_PASSWORD": "(sensitive value changed)", "MODE": "batch"})
    );
    let marks = serde_json::json!({"targets": [{"ecs": {"overrides": {"containers": [{"environment": {"DB_PASSWORD": true}}]}}}]});
    assert_eq!(change["before_sensitive"], marks);
    assert_eq!(change["after_sensitive"], marks);

    // plan -out without a key warns, once; with a key it does not.
    let warning = "warning: the plan file holds sensitive values in clear (DB_PASSWORD); set ECSCHED_PLAN_KEY to encrypt plan files\n";
    let out = out
        .test()
        .args(["plan", "--all", "-out", "p.bin"])
        .stderr(&format!(
            "{warning}Saved the plan to p.bin. Apply it with: ecsched apply p.bin\n"
        ))
        .success();
    assert!(!out.stdout.contains("s3cr3t"));
    let keyed = out
        .test()
        .args(["plan", "--all", "-out", "k.bin"])
        .env(
            "ECSCHED_PLAN_KEY",
            "a key of at least some length for the test",
        )
        .stderr_contains("Saved the plan to k.bin")
        .success();
    assert!(
        !keyed.stderr.contains("warning:"),
        "no warning with a plan key: {}",
        keyed.stderr
    );
}

#[test]
fn render_masks_secret_looking_values_unless_show_sensitive() {
    let test = || {
        Test::new().config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            rules:
            - name: db
              scheduleExpression: rate(1 day)
              taskDefinition: job-a
              containerOverrides:
              - name: app
                environment:
                  API_TOKEN: t0ken
                  MODE: batch
            ",
        )
    };
    let out = test()
        .args(["render"])
        .stdout_contains("      API_TOKEN: (sensitive value)\n      MODE: batch\n")
        .success();
    assert!(!out.stdout.contains("t0ken"), "{}", out.stdout);
    test()
        .args(["render", "--json"])
        .stdout_contains("\"API_TOKEN\": \"(sensitive value)\"")
        .success();
    test()
        .args(["render", "--show-sensitive"])
        .stdout_contains("      API_TOKEN: t0ken\n")
        .success();
    // Patterns are configurable.
    test()
        .args(["render"])
        .env("ECSCHED_SENSITIVE_PATTERNS", "MODE")
        .stdout_contains("      API_TOKEN: t0ken\n      MODE: (sensitive value)\n")
        .success();
}

#[test]
fn render_of_a_config_without_rules_is_a_valid_empty_document() {
    let out = Test::new()
        .config("ecsched.yaml", "region: ap-northeast-3\ncluster: app\n")
        .args(["render"])
        .stdout("role: ecsEventsRole\nregion: ap-northeast-3\ncluster: app\ntrackingId: app\nrules: []\n")
        .stderr("")
        .success();
    // It loads back: a config that declares nothing.
    std::fs::write(out.path("rendered.yaml"), &out.stdout).expect("writing");
    out.test()
        .args(["-c", "rendered.yaml", "validate"])
        .stderr("rendered.yaml: valid (0 rules, 0 schedules)\n")
        .success();
}

/// `diff -u` and its summary on one stream (stdout and stderr on one terminal): the unified
/// text ends with a newline, so the summary starts a line of its own.
#[test]
fn diff_unified_and_its_summary_stay_on_separate_lines_on_one_stream() {
    let Some(em) = emulator() else { return };
    em.block_on(app_cluster(&em));
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "region: ap-northeast-3\ncluster: app\nrules:\n- name: a\n  scheduleExpression: rate(1 day)\n  taskDefinition: job-a\n",
        )
        .args(["--version"])
        .success();
    let merged = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" diff --all -u 2>&1")
        .arg(crate::ECSCHED)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", out.path(""))
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(em.env())
        .current_dir(out.path(""))
        .output()
        .expect("running ecsched through sh");
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(merged.status.success(), "{text}");
    assert!(
        text.ends_with("+taskDefinition: job-a\nPlan: 1 to add, 0 to change, 0 to destroy.\n"),
        "{text}"
    );
}

/// A real Rego engine (regorus) evaluates a policy against `show --json` of a real plan, the
/// way OPA/conftest would: attributes are read flat (`rc.change.after.schedule_expression`).
#[test]
fn a_rego_policy_reads_show_json() {
    let Some(em) = emulator() else { return };
    em.block_on(async {
        app_cluster(&em).await;
        hand_rule(&em, "gone", &[("ecschedule:tracking-id", "app")]).await;
    });
    let out = ecsched(&em)
        .config(
            "ecsched.yaml",
            "
            region: ap-northeast-3
            cluster: app
            rules:
            - name: nightly
              scheduleExpression: cron(0 3 * * ? *)
              taskDefinition: job-a
            schedules:
            - name: once
              group: jobs
              scheduleExpression: at(2027-01-01T00:00:00)
              taskDefinition: job-a
            ",
        )
        .args(["plan", "--all", "--prune", "-out", "plan.bin"])
        .stdout_contains("Plan: 2 to add, 0 to change, 1 to destroy.\n")
        .success();
    let out = out
        .test()
        .args(["show", "plan.bin", "--json"])
        .env("ECSCHED_NOW", SEED_NOW)
        .success();

    let mut engine = regorus::Engine::new();
    engine
        .add_policy(
            "policy.rego".to_string(),
            r#"
            package ecsched

            periodic(e) if startswith(e, "cron(")
            periodic(e) if startswith(e, "rate(")

            deny contains msg if {
                some rc in input.resource_changes
                "delete" in rc.change.actions
                msg := sprintf("%s: deletes are not allowed", [rc.address])
            }

            deny contains msg if {
                some rc in input.resource_changes
                rc.change.after != null
                not periodic(rc.change.after.schedule_expression)
                msg := sprintf("%s: %s is not cron(...) or rate(...)", [rc.address, rc.change.after.schedule_expression])
            }
            "#
            .to_string(),
        )
        .expect("the policy parses");
    engine
        .set_input_json(&out.stdout)
        .expect("show --json is input");
    let deny = engine
        .eval_rule("data.ecsched.deny".to_string())
        .expect("deny evaluates");
    let deny: serde_json::Value =
        serde_json::from_str(&deny.to_json_str().expect("deny as JSON")).expect("JSON");
    let mut messages: Vec<String> = deny
        .as_array()
        .expect("a set")
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_string())
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            "rule.gone: deletes are not allowed",
            "schedule.jobs/once: at(2027-01-01T00:00:00) is not cron(...) or rate(...)",
        ]
    );
}
