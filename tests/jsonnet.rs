//! Jsonnet configs (`testdata/jsonnet/`) through the real binary, offline: each `.jsonnet`
//! renders (`render --json`) to exactly the document of its YAML twin, and bad configs fail
//! `validate` with exit 1, one clear message naming file:line:column (or, for the evaluated
//! document, the JSON Pointer of the value) and no AWS call. Ext vars come from the command line
//! in ecschedule's spelling (`-ext-str K=V`, `-ext-code K=V`, a bare `K` from the environment).
//! Needs no emulator.

use std::time::Duration;

use crate::config_errors::AwsTripwire;
use crate::test::{Output, Test};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jsonnet");

/// `ecsched ARGS` in `testdata/jsonnet/` with `env`, checked by `expect`; asserts no AWS call.
#[track_caller]
fn run(args: &[&str], env: &[(&str, &str)], expect: impl FnOnce(Test) -> Output) -> Output {
    let tripwire = AwsTripwire::new();
    let mut test = tripwire
        .arm(Test::new())
        // An absolute `current_dir` replaces the tempdir (`Path::join`).
        .current_dir(DIR)
        .args(args)
        .timeout(Duration::from_secs(60));
    for (key, value) in env {
        test = test.env(key, value);
    }
    let output = expect(test);
    tripwire.assert_untouched(&args.join(" "));
    output
}

#[track_caller]
fn render_json(file: &str, env: &[(&str, &str)]) -> String {
    run(&["-c", file, "render", "--json"], env, |t| {
        t.stderr("").success()
    })
    .stdout
}

#[test]
fn env_templates_twin_renders_the_same_document() {
    for env in [
        &[][..],
        &[
            ("STAGE", "prod"),
            ("LOG_LEVEL", "debug"),
            ("SYNC_DISABLED", "true"),
            ("AWS_REGION", "us-east-1"),
        ][..],
    ] {
        let jsonnet = render_json("env-templates.jsonnet", env);
        assert_eq!(jsonnet, render_json("env-templates.yaml", env), "{env:?}");
        let doc: serde_json::Value = serde_json::from_str(&jsonnet).expect("JSON");
        let stage = env.first().map_or("dev", |(_, v)| *v);
        assert_eq!(doc["cluster"], format!("batch-{stage}"));
        assert_eq!(doc["rules"][0]["disabled"], !env.is_empty());
    }
}

#[test]
fn tfstate_twin_renders_the_same_document() {
    let jsonnet = render_json("tfstate.jsonnet", &[]);
    assert_eq!(jsonnet, render_json("tfstate.yaml", &[]));
    for value in [
        "subnet-039cb8363ae3f2b74",
        "subnet-03f653bcc55408971",
        "sg-03d360a9d98c40504",
        "arn:aws:sqs:ap-northeast-3:957735096129:t3-kato-scheduled-dlq",
        "arn:aws:iam::957735096129:role/t3-kato-events",
    ] {
        assert!(jsonnet.contains(value), "{value} in {jsonnet}");
    }
}

/// ecschedule's command line for `extvars.jsonnet` (its YAML twin is what it evaluates to).
const EXT_VARS: [&str; 6] = [
    "-ext-str",
    "REGION=us-east-1",
    "-ext-str",
    "CLUSTER=api",
    "-ext-code",
    "BASE=1",
];

#[test]
fn extvars_twin_renders_the_same_document() {
    for env in [&[][..], &[("LOG_LEVEL", "debug")][..]] {
        let args: Vec<&str> = ["-conf", "extvars.jsonnet"]
            .into_iter()
            .chain(EXT_VARS)
            .chain(["render", "--json"])
            .collect();
        let jsonnet = run(&args, env, |t| t.stderr("").success()).stdout;
        assert_eq!(jsonnet, render_json("extvars.yaml", env), "{env:?}");
        // The ext vars, the import and the `{{ env }}` template are all applied.
        let doc: serde_json::Value = serde_json::from_str(&jsonnet).expect("JSON");
        assert_eq!(doc["region"], "us-east-1");
        assert_eq!(doc["cluster"], "api");
        let rule = &doc["rules"][1];
        assert_eq!(rule["name"], "api-cleanup");
        assert_eq!(rule["scheduleExpression"], "cron(0 5 * * ? *)");
        assert_eq!(rule["taskCount"], 1);
        assert_eq!(
            rule["network_configuration"]["aws_vpc_configuration"]["subnets"],
            serde_json::json!(["subnet-0a11b22c33d44e55f", "subnet-0f66e77d88c99b00a"])
        );
        assert_eq!(
            rule["containerOverrides"][0]["environment"]["LOG_LEVEL"],
            env.first().map_or("info", |(_, v)| *v)
        );
    }
}

#[test]
fn ext_vars_in_every_spelling_and_a_bare_key_from_the_environment() {
    let expected = render_json("extvars.yaml", &[]);
    let env = [("REGION", "us-east-1"), ("CLUSTER", "api"), ("BASE", "1")];
    for args in [
        // A bare KEY reads the environment variable KEY.
        &[
            "-ext-str",
            "REGION",
            "-ext-str",
            "CLUSTER",
            "-ext-code",
            "BASE",
        ][..],
        &[
            "--ext-str=REGION",
            "-ext-str=CLUSTER=api",
            "--ext-code",
            "BASE=1",
        ][..],
    ] {
        let args: Vec<&str> = ["-conf", "extvars.jsonnet"]
            .iter()
            .chain(args)
            .chain(&["render", "--json"])
            .copied()
            .collect();
        let out = run(&args, &env, |t| t.stderr("").success());
        assert_eq!(out.stdout, expected, "{args:?}");
    }
    // A bare KEY whose variable is unset is an error naming it.
    run(
        &[
            "-conf",
            "extvars.jsonnet",
            "-ext-str",
            "ECSCHED_TEST_UNSET_REGION",
            "render",
        ],
        &[],
        |t| {
            t.stdout("")
                .stderr(
                    "error: --ext-str ECSCHED_TEST_UNSET_REGION: environment variable \
                     ECSCHED_TEST_UNSET_REGION is not set (pass --ext-str ECSCHED_TEST_UNSET_REGION=VALUE)\n",
                )
                .failure()
        },
    );
}

#[test]
fn jsonnet_configs_validate() {
    for file in ["env-templates.jsonnet", "tfstate.jsonnet"] {
        run(&["-c", file, "validate"], &[], |t| {
            t.stdout("")
                .stderr(&format!("{file}: valid (1 rule, 0 schedules)\n"))
                .success()
        });
    }
}

/// `ecsched -c FILE validate` fails with exactly `stderr`.
#[track_caller]
fn fails(file: &str, stderr: &str) {
    run(&["-c", file, "validate"], &[], |t| {
        t.stdout("").stderr(stderr).failure()
    });
}

#[test]
fn missing_ext_var_is_named() {
    fails(
        "extvars.jsonnet",
        "error: extvars.jsonnet:8:27: std.extVar(\"CLUSTER\"): external variable CLUSTER is not \
         defined (pass --ext-str CLUSTER=VALUE or --ext-code CLUSTER=CODE)\n",
    );
}

#[test]
fn syntax_error_names_file_line_and_column() {
    fails(
        "invalid/syntax-error.jsonnet",
        "error: invalid/syntax-error.jsonnet:4:3: Jsonnet syntax error: expected '}', got \
         identifier \"rules\"\n",
    );
}

#[test]
fn syntax_error_in_an_import_names_the_imported_file() {
    fails(
        "invalid/import-syntax-error.jsonnet",
        "error: invalid/lib/broken.libsonnet:3:1: Jsonnet syntax error: expected ']', got '}'\n",
    );
}

#[test]
fn missing_import_is_named() {
    fails(
        "invalid/missing-import.jsonnet",
        "error: invalid/missing-import.jsonnet:1:17: cannot import \"lib/netwrok.libsonnet\": \
         invalid/lib/netwrok.libsonnet does not exist\n",
    );
}

#[test]
fn infinite_recursion_is_a_clear_error() {
    fails(
        "invalid/infinite-recursion.jsonnet",
        "error: invalid/infinite-recursion.jsonnet:2:21: the evaluation went deeper than 500 \
         calls (infinite recursion?)\n",
    );
}

#[test]
fn huge_output_is_refused() {
    fails(
        "invalid/huge-output.jsonnet",
        "error: invalid/huge-output.jsonnet: the evaluated config has more than 1048576 values\n",
    );
}

#[test]
fn native_must_env_unset_is_named() {
    fails(
        "invalid/must-env-unset.jsonnet",
        "error: invalid/must-env-unset.jsonnet:10:23: must_env: environment variable \
         \"ECSCHED_TEST_UNSET_DISABLED\" is not set\n",
    );
}

#[test]
fn template_error_names_the_pointer_of_the_value() {
    fails(
        "invalid/template-error.jsonnet",
        "error: invalid/template-error.jsonnet: /rules/0/taskDefinition: environment variable \
         \"ECSCHED_TEST_UNSET_REVISION\" is not defined (must_env)\n",
    );
}

#[test]
fn semantic_error_is_the_same_in_both_spellings() {
    let cause = "rule \"nightly\": invalid cron expression \"cron(0 10 * * * *)\": day-of-month \
                 and day-of-week cannot both be specified; use ? in one of them\n";
    fails(
        "invalid/bad-cron.yaml",
        &format!("error: invalid/bad-cron.yaml:5:23: {cause}"),
    );
    fails(
        "invalid/bad-cron.jsonnet",
        &format!("error: invalid/bad-cron.jsonnet: /rules/0/scheduleExpression: {cause}"),
    );
}

#[test]
fn schema_errors_are_the_same_in_both_spellings() {
    let typo =
        "rule \"nightly\": unknown key \"launchType\" in rules[0] (did you mean `launch_type`?)";
    let count = "rule \"nightly\": rules[0].taskCount: \"many\" is not of type \"integer\"";
    fails(
        "invalid/schema-errors.yaml",
        &format!(
            "error: invalid/schema-errors.yaml:7:14: {count}\n\
             invalid/schema-errors.yaml:8:3: {typo}\n\
             2 problems in invalid/schema-errors.yaml\n"
        ),
    );
    fails(
        "invalid/schema-errors.jsonnet",
        &format!(
            "error: invalid/schema-errors.jsonnet: /rules/0/launchType: {typo}\n\
             invalid/schema-errors.jsonnet: /rules/0/taskCount: {count}\n\
             2 problems in invalid/schema-errors.jsonnet\n"
        ),
    );
}
