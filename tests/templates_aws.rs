//! Template functions that read AWS (`ssm`) through the real binary and the
//! emulator: String, SecureString and StringList (0-based index) parameters
//! end up in the plan; a missing parameter is a clear error before any write.

use aws_sdk_ssm::types::ParameterType;

use crate::emulator::{Emulator, emulator};
use crate::test::Test;

fn fixtures(emu: &Emulator) {
    emu.block_on(async {
        let ssm = emu.ssm();
        for (name, value, kind) in [
            ("/app/family", "tmpl-app", ParameterType::String),
            ("/app/db-password", "s3cr3t", ParameterType::SecureString),
            (
                "/app/subnets",
                "subnet-aaa,subnet-bbb,subnet-ccc",
                ParameterType::StringList,
            ),
        ] {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(kind)
                .send()
                .await
                .expect("PutParameter");
        }
        emu.ecs()
            .register_task_definition()
            .family("tmpl-app")
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image("busybox")
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .expect("RegisterTaskDefinition");
    });
}

const CONFIG: &str = r#"
region: ap-northeast-3
cluster: tmpl
rules:
- name: tmpl-job
  scheduleExpression: rate(1 hour)
  taskDefinition: '{{ ssm `/app/family` }}'
  containerOverrides:
  - name: app
    environment:
      DB_PASSWORD: '{{ ssm `/app/db-password` }}'
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - '{{ ssm `/app/subnets` 0 }}'
      - '{{ ssm "/app/subnets" 2 }}'
"#;

#[test]
fn ssm_values_render_into_the_plan_and_secrets_are_masked() {
    let Some(emu) = emulator() else { return };
    fixtures(&emu);
    let out = Test::new()
        .emulator(&emu)
        .config("ecsched.yaml", CONFIG)
        .args(["plan", "--all", "--json", "--show-sensitive"])
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    let after = &doc["resource_changes"][0]["change"]["after"];
    let target = &after["targets"][0]["ecs"];
    assert!(
        target["task_definition_arn"]
            .as_str()
            .unwrap_or_default()
            .ends_with(":task-definition/tmpl-app"),
        "{target}"
    );
    assert_eq!(
        target["network"]["subnets"],
        serde_json::json!(["subnet-aaa", "subnet-ccc"]),
        "StringList index is 0-based"
    );
    assert_eq!(
        target["overrides"]["containers"][0]["environment"]["DB_PASSWORD"],
        "s3cr3t"
    );

    // Without --show-sensitive the secret-looking value is masked.
    let out = Test::new()
        .emulator(&emu)
        .config("ecsched.yaml", CONFIG)
        .args(["plan", "--all"])
        .success();
    assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);
    assert!(out.stdout.contains("(sensitive value)"), "{}", out.stdout);
}

#[test]
fn missing_ssm_parameter_is_reported_with_its_line() {
    let Some(emu) = emulator() else { return };
    fixtures(&emu);
    let config = CONFIG.replace("/app/family", "/app/nope");
    Test::new()
        .emulator(&emu)
        .config("ecsched.yaml", &config)
        .args(["diff", "--all"])
        .stderr_contains("ecsched.yaml:6:")
        .stderr_contains("/app/nope")
        .failure();
}
