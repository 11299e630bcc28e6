//! The seed blog post's config files (`testdata/seed/`) through the offline commands: the dumped
//! dev file, the templated prod file (S3 tfstate: validated offline without its lookups), the
//! same with a local tfstate, and the empty-rules delete file. Also Go-style flags, `render
//! --json` and `schema`. No AWS call is made (see `AwsTripwire`); needs no emulator.

use std::time::Duration;

use serde_json::Value;

use crate::config_errors::AwsTripwire;
use crate::test::{Output, Test};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seed");

/// The subnets and security group the blog post shows for prod (in `testdata/tfstate/`).
const PROD_NETWORK: [&str; 3] = [
    "subnet-039cb8363ae3f2b74",
    "subnet-03f653bcc55408971",
    "sg-03d360a9d98c40504",
];

/// `ecsched ARGS` in `testdata/seed/` with `env`, checked by `expect`; asserts no AWS call.
#[track_caller]
fn seed(args: &[&str], env: &[(&str, &str)], expect: impl FnOnce(Test) -> Output) -> Output {
    let tripwire = AwsTripwire::new();
    let mut test = tripwire
        .arm(Test::new())
        // An absolute `current_dir` replaces the tempdir (`Path::join`).
        .current_dir(SEED)
        .args(args)
        .timeout(Duration::from_secs(60));
    for (key, value) in env {
        test = test.env(key, value);
    }
    let output = expect(test);
    tripwire.assert_untouched(&args.join(" "));
    output
}

const PROD: [(&str, &str); 2] = [("ENV", "prod"), ("AWS_DEFAULT_REGION", "ap-northeast-3")];

#[test]
fn dumped_dev_file_validates() {
    seed(&["-c", "ecschedule-dev.yaml", "validate"], &[], |t| {
        t.stdout("")
            .stderr("ecschedule-dev.yaml: valid (1 rule, 0 schedules)\n")
            .success()
    });
}

#[test]
fn go_style_conf_flag_works() {
    seed(&["-conf", "ecschedule-dev.yaml", "validate"], &[], |t| {
        t.stdout("")
            .stderr("ecschedule-dev.yaml: valid (1 rule, 0 schedules)\n")
            .success()
    });
}

#[test]
fn next_fire_times_of_the_dev_rule_are_daily_at_ten_utc() {
    seed(
        &["-conf", "ecschedule-dev.yaml", "validate", "--next", "3"],
        &[("ECSCHED_NOW", "2026-11-28T17:00:00Z")],
        |t| {
            t.stdout(
                "
                rule t3-kato-dev: cron(0 10 * * ? *) (UTC)
                  2026-11-29T10:00:00Z
                  2026-11-30T10:00:00Z
                  2026-12-01T10:00:00Z
                ",
            )
            .stderr("ecschedule-dev.yaml: valid (1 rule, 0 schedules)\n")
            .success()
        },
    );
}

#[test]
fn templated_prod_file_lists_every_missing_variable_at_once() {
    seed(&["-conf", "ecschedule.yaml", "validate"], &[], |t| {
        t.stdout("")
            .stderr(
                r#"
                error: ecschedule.yaml:1:12: environment variable "AWS_DEFAULT_REGION" is not defined (must_env)
                ecschedule.yaml:2:21: environment variable "ENV" is not defined (must_env)
                ecschedule.yaml:4:20: environment variable "ENV" is not defined (must_env)
                ecschedule.yaml:6:30: environment variable "ENV" is not defined (must_env)
                ecschedule.yaml:22:50: environment variable "ENV" is not defined (must_env)
                5 problems in ecschedule.yaml
                "#,
            )
            .failure()
    });
}

#[test]
fn templated_prod_file_with_s3_tfstate_validates_offline_and_lists_the_lookups_not_made() {
    let s3 = "the state is in S3 (s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate)";
    seed(&["-conf", "ecschedule.yaml", "validate"], &PROD, |t| {
        t.stdout("")
            .stderr(&format!(
                "ecschedule.yaml: valid (1 rule, 0 schedules); not checked offline: 3 lookups in AWS \
                 (check them with `ecsched validate --remote`):\n  \
                 ecschedule.yaml:14:13: tfstate \"module.network.module.vpc.aws_subnet.private[0].id\": {s3}\n  \
                 ecschedule.yaml:15:13: tfstate \"module.network.module.vpc.aws_subnet.private[1].id\": {s3}\n  \
                 ecschedule.yaml:17:13: tfstate \"module.network.aws_security_group.ecs.id\": {s3}\n"
            ))
            .success()
    });
}

#[test]
fn local_tfstate_prod_file_validates_with_env() {
    seed(&["-c", "ecschedule-local.yaml", "validate"], &PROD, |t| {
        t.stdout("")
            .stderr("ecschedule-local.yaml: valid (1 rule, 0 schedules)\n")
            .success()
    });
}

#[test]
fn local_tfstate_prod_file_without_env_lists_both_variables() {
    let output = seed(
        &["-c", "ecschedule-local.yaml", "validate"],
        &[],
        Test::failure,
    );
    assert_eq!(output.stdout, "");
    for var in ["AWS_DEFAULT_REGION", "ENV"] {
        assert!(
            output
                .stderr
                .contains(&format!("environment variable \"{var}\" is not defined")),
            "{var} must be listed:\n{}",
            output.stderr
        );
    }
    assert!(
        output
            .stderr
            .ends_with("5 problems in ecschedule-local.yaml\n")
    );
}

#[test]
fn render_of_local_prod_file_shows_the_prod_network_from_tfstate() {
    let output = seed(&["-c", "ecschedule-local.yaml", "render"], &PROD, |t| {
        t.stderr("")
            .stdout_contains("cluster: t3-kato-prod\n")
            .stdout_contains("scheduleExpression: cron(0 10 * * ? *)\n")
            .success()
    });
    for id in PROD_NETWORK {
        assert!(
            output.stdout.contains(&format!("- {id}\n")),
            "render must show {id}:\n{}",
            output.stdout
        );
    }
    assert!(!output.stdout.contains("{{"), "{}", output.stdout);
}

#[test]
fn render_json_of_local_prod_file_is_json_with_the_prod_network() {
    let output = seed(
        &["-conf", "ecschedule-local.yaml", "render", "--json"],
        &PROD,
        |t| t.stderr("").success(),
    );
    let config: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|e| panic!("render --json is not JSON: {e}\n{}", output.stdout));
    assert_eq!(config["cluster"], "t3-kato-prod");
    assert_eq!(config["region"], "ap-northeast-3");
    let rule = &config["rules"][0];
    assert_eq!(rule["name"], "t3-kato-prod");
    let vpc = &rule["network_configuration"]["aws_vpc_configuration"];
    assert_eq!(vpc["subnets"], serde_json::json!(PROD_NETWORK[..2]));
    assert_eq!(vpc["security_groups"], serde_json::json!(PROD_NETWORK[2..]));
}

#[test]
fn delete_file_with_empty_rules_validates() {
    seed(&["-c", "ecschedule-delete.yaml", "validate"], &PROD, |t| {
        t.stdout("")
            .stderr("ecschedule-delete.yaml: valid (0 rules, 0 schedules)\n")
            .success()
    });
}

#[test]
fn delete_file_without_env_lists_both_variables() {
    seed(&["-c", "ecschedule-delete.yaml", "validate"], &[], |t| {
        t.stdout("")
            .stderr(
                r#"
                error: ecschedule-delete.yaml:1:12: environment variable "AWS_DEFAULT_REGION" is not defined (must_env)
                ecschedule-delete.yaml:2:21: environment variable "ENV" is not defined (must_env)
                2 problems in ecschedule-delete.yaml
                "#,
            )
            .failure()
    });
}

#[test]
fn schema_is_json_schema_2020_12_and_accepts_every_rendered_seed() {
    let schema_output = seed(&["schema"], &[], |t| t.stderr("").success());
    let schema: Value = serde_json::from_str(&schema_output.stdout)
        .unwrap_or_else(|e| panic!("schema is not JSON: {e}\n{}", schema_output.stdout));
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("schema does not compile as draft 2020-12: {e}"));

    for (file, env) in [
        ("ecschedule-dev.yaml", &[][..]),
        ("ecschedule-local.yaml", &PROD[..]),
        ("ecschedule-delete.yaml", &PROD[..]),
    ] {
        let rendered = seed(&["-c", file, "render", "--json"], env, |t| {
            t.stderr("").success()
        });
        let config: Value = serde_json::from_str(&rendered.stdout)
            .unwrap_or_else(|e| panic!("{file}: render --json is not JSON: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&config)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{file}: the rendered config does not match the schema: {errors:#?}"
        );
    }
}
