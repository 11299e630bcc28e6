//! Every flag of ecschedule's latest release, through the real binary, in Go's spellings
//! (`-flag`, `--flag`, `-flag value`, `-flag=value`, `-switch=true|false`): the README's table
//! of ecschedule's flags, row by row. The usage errors make no AWS call (tripwire); the rest
//! runs against the emulator. Jsonnet's `-ext-str`/`-ext-code` are in `jsonnet.rs`.

use std::time::Duration;

use crate::config_errors::AwsTripwire;
use crate::emulator::{Emulator, emulator};
use crate::fixtures::{
    create_cluster, default_subnets, ecs_target, put_rule, put_targets, register_task_definition,
    rule_names,
};
use crate::test::{Output, Test};
use crate::workflow::ecsched;

/// Two rules on cluster `app` running task definition `job` (trackingId: `app`).
const CONFIG: &str = "\
region: ap-northeast-3
cluster: app
rules:
- name: job-a
  scheduleExpression: rate(1 day)
  taskDefinition: job
- name: job-b
  scheduleExpression: cron(0 3 * * ? *)
  taskDefinition: job
";

const ESC: char = '\u{1b}';

/// `ecsched ARGS` with `CONFIG` as `ecschedule.yaml`, checked by `expect`; asserts no AWS call.
#[track_caller]
fn offline(args: &[&str], expect: impl FnOnce(Test) -> Output) -> Output {
    let tripwire = AwsTripwire::new();
    let test = tripwire
        .arm(Test::new())
        .config("ecschedule.yaml", CONFIG)
        .args(args)
        .timeout(Duration::from_secs(60));
    let output = expect(test);
    tripwire.assert_untouched(&args.join(" "));
    output
}

/// The cluster, the task definition and a managed rule the config no longer declares.
async fn fixtures(em: &Emulator) {
    create_cluster(em, "app").await;
    register_task_definition(em, "job", "app").await;
    put_rule(
        em,
        "old",
        "rate(1 hour)",
        &[("ecschedule:tracking-id", "app")],
    )
    .await;
    put_targets(em, "old", vec![ecs_target(em, "old", "app", "job")]).await;
}

#[test]
fn version_and_help() {
    let version = format!("ecsched {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["-version", "--version"] {
        offline(&[flag], |t| t.stdout(&version).stderr("").success());
    }
    for args in [&["-h"][..], &["-help"], &["--help"]] {
        offline(args, |t| {
            t.stdout_contains("Usage: ecsched [OPTIONS] <COMMAND>")
                .success()
        });
    }
    // The flags that do nothing here say so.
    offline(&["diff", "-help"], |t| {
        t.stdout_contains("--parallel <N>")
            .stdout_contains("ignored: ecsched always works in parallel")
            .stdout_contains("--validate")
            .stdout_contains("ignored: validation always runs")
            .stdout_contains("--no-color")
            .success()
    });
    offline(&["apply", "-h"], |t| {
        t.stdout_contains("--parallel <N>")
            .stdout_contains("--dry-run")
            .stdout_contains("--prune")
            .stdout_contains("-u, --unified")
            .success()
    });
}

#[test]
fn conf_before_or_after_the_subcommand_with_a_space_or_equals() {
    let valid = "ecschedule.yaml: valid (2 rules, 0 schedules)\n";
    for args in [
        &["-conf", "ecschedule.yaml", "validate"][..],
        &["--conf", "ecschedule.yaml", "validate"],
        &["-conf=ecschedule.yaml", "validate"],
        &["validate", "-conf", "ecschedule.yaml"],
        &["validate", "--conf=ecschedule.yaml"],
        // The subcommand's -conf wins over the global one, as in ecschedule.
        &[
            "-conf",
            "missing.yaml",
            "validate",
            "-conf",
            "ecschedule.yaml",
        ],
    ] {
        offline(args, |t| t.stdout("").stderr(valid).success());
    }
}

#[test]
fn usage_errors_as_ecschedule_reports_them_with_no_aws_call() {
    for args in [
        &["-conf", "ecschedule.yaml", "diff", "-all", "-parallel", "0"][..],
        &[
            "-conf",
            "ecschedule.yaml",
            "apply",
            "-all",
            "-dry-run",
            "-parallel=0",
        ],
    ] {
        offline(args, |t| {
            t.stdout("")
                .stderr_contains("-parallel must be at least 1")
                .failure()
        });
    }
    let prune = "error: --prune needs --all: with a partial selection it would delete every other \
                 managed resource\n";
    for command in ["diff", "apply"] {
        offline(
            &[
                "-conf",
                "ecschedule.yaml",
                command,
                "-rule",
                "job-a",
                "-prune",
            ],
            |t| t.stdout("").stderr(prune).failure(),
        );
        offline(&["-conf", "ecschedule.yaml", command], |t| {
            t.stdout("")
                .stderr("error: nothing selected: pass --all, --rule NAME or --schedule NAME\n")
                .failure()
        });
    }
    offline(&["-conf", "ecschedule.yaml", "run", "-dry-run"], |t| {
        t.stdout("")
            .stderr("error: run needs exactly one of --rule NAME or --schedule NAME\n")
            .failure()
    });
    // A switch takes Go's booleans only.
    offline(&["-conf", "ecschedule.yaml", "diff", "-all=yes"], |t| {
        t.stdout("")
            .stderr_contains("unexpected value 'yes' for '--all'")
            .failure()
    });
}

#[test]
fn diff_with_rule_all_prune_u_no_color_validate_parallel() {
    let Some(em) = emulator() else { return };
    em.block_on(fixtures(&em));
    // "Now" pinned: the runs' outputs are compared, fire times of rate() rules included.
    let run = |args: &[&str]| {
        ecsched(&em)
            .config("ecschedule.yaml", CONFIG)
            .env("ECSCHED_NOW", "2026-12-01T00:00:00Z")
            .args(args)
    };

    run(&["-conf", "ecschedule.yaml", "diff", "-all"])
        .stdout_contains("+ rule.job-a will be created\n")
        .stdout_contains("+ rule.job-b will be created\n")
        .stderr("Plan: 2 to add, 0 to change, 0 to destroy.\n")
        .success();
    // -prune (with -all) shows the managed rule the config no longer declares; -validate and
    // -parallel change nothing.
    let out = run(&[
        "diff",
        "-conf",
        "ecschedule.yaml",
        "-all",
        "-prune",
        "-validate",
        "-parallel",
        "4",
    ])
    .stdout_contains("- rule.old will be destroyed\n")
    .stderr("Plan: 2 to add, 0 to change, 1 to destroy.\n")
    .success();
    run(&[
        "--conf=ecschedule.yaml",
        "diff",
        "--all=true",
        "--prune",
        "-validate=false",
        "-parallel=2",
    ])
    .stdout(&out.stdout)
    .success();
    // -rule NAME: that rule only; -u: a unified diff on stdout, coloured only without -no-color.
    let coloured = run(&[
        "--color",
        "always",
        "-conf",
        "ecschedule.yaml",
        "diff",
        "-rule=job-a",
        "-u",
    ])
    .stdout_contains("rule.job-a")
    .stderr_contains("Plan: 1 to add, 0 to change, 0 to destroy.")
    .success();
    assert!(coloured.stdout.contains(ESC), "{:?}", coloured.stdout);
    assert!(!coloured.stdout.contains("job-b"), "{}", coloured.stdout);
    let plain = run(&[
        "--color",
        "always",
        "-conf",
        "ecschedule.yaml",
        "diff",
        "-rule",
        "job-a",
        "-u",
        "-no-color",
    ])
    .stdout_contains("rule.job-a")
    .success();
    assert!(!plain.stdout.contains(ESC), "{:?}", plain.stdout);
    // As in Go, the argument after -rule is the rule's name, even when it starts with `-`.
    run(&["-conf", "ecschedule.yaml", "diff", "-rule", "-all"])
        .stdout("")
        .stderr_contains("no rule named \"-all\" in the config")
        .failure();
    assert_eq!(em.block_on(rule_names(&em)), ["old"], "diff must not write");
}

#[test]
fn apply_with_rule_all_dry_run_prune_u_no_color_parallel() {
    let Some(em) = emulator() else { return };
    em.block_on(fixtures(&em));
    let run = |args: &[&str]| ecsched(&em).config("ecschedule.yaml", CONFIG).args(args);

    // -dry-run writes nothing (-u, -no-color and -parallel with it, as ecschedule allows).
    let out = run(&[
        "-conf",
        "ecschedule.yaml",
        "apply",
        "-rule",
        "job-a",
        "-dry-run",
        "-u",
        "-no-color",
        "-parallel",
        "2",
    ])
    .stdout_contains("rule.job-a")
    .stderr_contains("Dry run: nothing was written.\n")
    .success();
    assert!(!out.stdout.contains(ESC), "{:?}", out.stdout);
    assert_eq!(em.block_on(rule_names(&em)), ["old"]);

    // -rule NAME applies that rule only; -parallel is accepted without -dry-run too.
    run(&[
        "-conf",
        "ecschedule.yaml",
        "apply",
        "-rule=job-a",
        "-parallel=3",
    ])
    .stdout_contains("+ rule.job-a will be created\n")
    .stderr_contains("  ✓ rule.job-a created\n")
    .success();
    assert_eq!(em.block_on(rule_names(&em)), ["job-a", "old"]);

    // -all -prune: the rest, and the managed rule the config no longer declares goes.
    run(&[
        "apply",
        "-conf",
        "ecschedule.yaml",
        "-all",
        "-prune",
        "-dry-run=false",
    ])
    .stderr_contains("  ✓ rule.job-b created\n")
    .stderr_contains("  ✓ rule.old deleted\n")
    .stderr_contains("Apply complete: 2 of 2 changes applied.\n")
    .success();
    assert_eq!(em.block_on(rule_names(&em)), ["job-a", "job-b"]);

    // Nothing left to do.
    run(&["-conf", "ecschedule.yaml", "apply", "-all", "-prune"])
        .stdout_contains("No changes.")
        .success();
}

#[test]
fn dump_with_region_cluster_and_role() {
    let Some(em) = emulator() else { return };
    // Made in Ireland while the environment says Osaka: -region decides.
    let ireland = em.in_region("eu-west-1");
    em.block_on(async {
        create_cluster(&ireland, "app").await;
        register_task_definition(&ireland, "job", "app").await;
        put_rule(&ireland, "nightly", "cron(0 3 * * ? *)", &[]).await;
        put_targets(
            &ireland,
            "nightly",
            vec![ecs_target(&ireland, "nightly", "app", "job")],
        )
        .await;
    });
    let head = "region: eu-west-1\ncluster: app\nrules:\n- name: nightly\n  scheduleExpression: \
                cron(0 3 * * ? *)\n  taskDefinition: job\n";
    for args in [
        &[
            "dump",
            "-region",
            "eu-west-1",
            "-cluster",
            "app",
            "-role",
            "ecsEventsRole",
        ][..],
        &[
            "dump",
            "--region=eu-west-1",
            "-cluster=app",
            "--role",
            "ecsEventsRole",
        ],
    ] {
        let out = ecsched(&em).args(args).success();
        assert!(
            out.stdout
                .starts_with(&format!("role: ecsEventsRole\n{head}")),
            "{args:?}:\n{}",
            out.stdout
        );
    }
    // Without -role there is no top-level role; with -conf, region and cluster come from the
    // config (and trackingId is written).
    let out = ecsched(&em)
        .args(["dump", "-region", "eu-west-1", "-cluster", "app"])
        .success();
    assert!(out.stdout.starts_with(head), "{}", out.stdout);
    let out = ecsched(&em)
        .config("ecschedule.yaml", "region: eu-west-1\ncluster: app\n")
        .args(["dump", "-conf", "ecschedule.yaml"])
        .success();
    assert!(
        out.stdout.starts_with(
            "region: eu-west-1\ncluster: app\ntrackingId: app\nrules:\n- name: nightly\n"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn run_with_rule_and_dry_run() {
    let Some(em) = emulator() else { return };
    let subnet = default_subnets(&em).remove(0);
    em.block_on(async {
        create_cluster(&em, "app").await;
        register_task_definition(&em, "job", "app").await;
    });
    let config = format!(
        "\
region: ap-northeast-3
cluster: app
rules:
- name: job
  scheduleExpression: rate(1 day)
  taskDefinition: job
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets: [{subnet}]
      security_groups: [sg-12345678]
"
    );
    let tasks = || {
        em.block_on(em.ecs().list_tasks().cluster("app").send())
            .expect("ListTasks")
            .task_arns()
            .len()
    };
    ecsched(&em)
        .config("ecschedule.yaml", &config)
        .args([
            "-conf",
            "ecschedule.yaml",
            "run",
            "-rule",
            "job",
            "-dry-run",
        ])
        .stdout("")
        .stderr("running the rule \"job\" (dry-run)\n")
        .success();
    assert_eq!(tasks(), 0, "run -dry-run must start nothing");
    ecsched(&em)
        .config("ecschedule.yaml", &config)
        .args(["run", "-conf=ecschedule.yaml", "-rule=job"])
        .stdout("")
        .stderr_regex("running the rule \"job\"\nstarted task arn:aws:ecs:[^\n]+\n")
        .success();
    assert_eq!(tasks(), 1);
}

/// `ECSCHEDULE_COLOR=false|0` turns colours off on a terminal, like `NO_COLOR`; `script` gives
/// the binary a terminal.
#[test]
fn ecschedule_color_turns_colours_off_on_a_terminal() {
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("note: /usr/bin/script is missing; ECSCHEDULE_COLOR on a terminal not tested");
        return;
    }
    let on_a_terminal = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(script);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TERM", "xterm")
            .args([
                "-qec",
                &format!("{} -conf missing.yaml validate", crate::ECSCHED),
            ])
            .arg("/dev/null")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running script");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains("cannot read config file missing.yaml"),
            "{text:?}"
        );
        text
    };
    assert!(
        on_a_terminal(&[]).contains(ESC),
        "coloured by default on a terminal"
    );
    for (k, v) in [
        ("ECSCHEDULE_COLOR", "false"),
        ("ECSCHEDULE_COLOR", "0"),
        ("NO_COLOR", ""),
    ] {
        let text = on_a_terminal(&[(k, v)]);
        assert!(!text.contains(ESC), "{k}={v}: {text:?}");
    }
    assert!(
        on_a_terminal(&[("ECSCHEDULE_COLOR", "true")]).contains(ESC),
        "ECSCHEDULE_COLOR=true leaves colours on"
    );
}

/// A config reading the schedule from SSM and the subnet from a tfstate in S3 (a bucket of
/// another region): `validate` checks what it can offline and lists those two lookups;
/// `validate --remote` and `render` make them.
#[test]
fn validate_offline_lists_the_lookups_validate_remote_and_render_make_them() {
    let Some(em) = emulator() else { return };
    let bucket = format!("ecsched-flags-{}", em.account_id);
    let state = r#"{"version": 4, "resources": [{"mode": "managed", "type": "aws_subnet",
        "name": "a", "instances": [{"attributes": {"id": "subnet-0123456789abcdef0"}}]}]}"#;
    em.block_on(async {
        let s3 = em.in_region("eu-west-1").s3();
        s3.create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .expect("CreateBucket");
        s3.put_object()
            .bucket(&bucket)
            .key("app/terraform.tfstate")
            .body(state.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
        for (name, value) in [
            ("/app/schedule", "cron(0 3 * * ? *)"),
            ("/app/bad-schedule", "cron(0 3 * * * *)"),
        ] {
            em.ssm()
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await
                .expect("PutParameter");
        }
    });
    let config = |parameter: &str| {
        format!(
            "\
region: ap-northeast-3
cluster: app
rules:
- name: job
  scheduleExpression: \"{{{{ ssm `{parameter}` }}}}\"
  taskDefinition: job
  network_configuration:
    aws_vpc_configuration:
      subnets: [\"{{{{ tfstate `aws_subnet.a.id` }}}}\"]
plugins:
- name: tfstate
  config:
    url: s3://{bucket}/app/terraform.tfstate
"
        )
    };
    let good = config("/app/schedule");
    let bad = config("/app/bad-schedule");
    for text in [&good, &bad] {
        ecsched(&em)
            .config("ecschedule.yaml", text)
            .args(["-conf", "ecschedule.yaml", "validate"])
            .stdout("")
            .stderr(&format!(
                "ecschedule.yaml: valid (1 rule, 0 schedules); not checked offline: 2 lookups in \
                 AWS (check them with `ecsched validate --remote`):\n  \
                 ecschedule.yaml:5:27: ssm \"{}\": SSM parameters need AWS access\n  \
                 ecschedule.yaml:9:21: tfstate \"aws_subnet.a.id\": the state is in S3 \
                 (s3://{bucket}/app/terraform.tfstate)\n",
                if text == &good {
                    "/app/schedule"
                } else {
                    "/app/bad-schedule"
                }
            ))
            .success();
    }
    ecsched(&em)
        .config("ecschedule.yaml", &good)
        .args(["-conf", "ecschedule.yaml", "validate", "--remote"])
        .stdout("")
        .stderr("ecschedule.yaml: valid (1 rule, 0 schedules)\n")
        .success();
    ecsched(&em)
        .config("ecschedule.yaml", &bad)
        .args(["-conf", "ecschedule.yaml", "validate", "-remote"])
        .stdout("")
        .stderr(
            "error: ecschedule.yaml:5:23: rule \"job\": invalid cron expression \"cron(0 3 * * * *)\": \
             day-of-month and day-of-week cannot both be specified; use ? in one of them\n",
        )
        .failure();
    ecsched(&em)
        .config("ecschedule.yaml", &good)
        .args(["-conf", "ecschedule.yaml", "render"])
        .stdout_contains("  scheduleExpression: cron(0 3 * * ? *)\n")
        .stdout_contains("      subnets:\n      - subnet-0123456789abcdef0\n")
        .stderr("")
        .success();
}
