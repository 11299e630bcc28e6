//! The whole pipeline, from a file's text to the rendered config or its problems.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::super::plugin::{RemoteSource, SsmParameter, SsmParameterKind, UNCHECKED};
use super::{RenderRequest, Rendered, TemplateError, render_config};

/// The templated prod config of the seed blog post, as written there.
const SEED_PROD: &str = r#"region: {{ must_env `AWS_DEFAULT_REGION` }}
cluster: t3-kato-{{ must_env `ENV` }}
rules:
- name: t3-kato-{{ must_env `ENV` }}
  scheduleExpression: cron(0 10 * * ? *)
  taskDefinition: t3-kato-{{ must_env `ENV` }}
  containerOverrides:
  - name: nginx
    command: [nginx, -v]
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - "{{ tfstate `module.network.module.vpc.aws_subnet.private[0].id` }}"
      - "{{ tfstate `module.network.module.vpc.aws_subnet.private[1].id` }}"
      security_groups:
      - "{{ tfstate `module.network.aws_security_group.ecs.id` }}"
      assign_public_ip: DISABLED
plugins:
- name: tfstate
  config:
    url: s3://t3-kato-terraform-backend-osaka/{{ must_env `ENV` }}/terraform.tfstate
"#;

const SEED_PROD_RENDERED: &str = r#"region: ap-northeast-3
cluster: t3-kato-prod
rules:
- name: t3-kato-prod
  scheduleExpression: cron(0 10 * * ? *)
  taskDefinition: t3-kato-prod
  containerOverrides:
  - name: nginx
    command: [nginx, -v]
  launch_type: FARGATE
  network_configuration:
    aws_vpc_configuration:
      subnets:
      - "subnet-039cb8363ae3f2b74"
      - "subnet-03f653bcc55408971"
      security_groups:
      - "sg-03d360a9d98c40504"
      assign_public_ip: DISABLED
plugins:
- name: tfstate
  config:
"#;

#[derive(Default)]
struct FakeRemote {
    objects: HashMap<(String, String), Vec<u8>>,
    params: HashMap<String, SsmParameter>,
}

impl RemoteSource for FakeRemote {
    fn s3_get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        self.objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .ok_or_else(|| format!("NoSuchKey: {bucket}/{key}"))
    }
    fn ssm_get_parameter(&self, name: &str) -> Result<SsmParameter, String> {
        self.params
            .get(name)
            .cloned()
            .ok_or_else(|| "ParameterNotFound".to_owned())
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn seed_state() -> Vec<u8> {
    std::fs::read(testdata().join("tfstate/seed-prod.tfstate")).expect("fixture")
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn render_full(
    text: &str,
    env: &[(&str, &str)],
    remote: Option<&dyn RemoteSource>,
) -> Result<Rendered, Vec<TemplateError>> {
    let env = env_of(env);
    let dir = testdata();
    render_config(&RenderRequest {
        source_name: "ecschedule.yaml",
        text,
        env: &env,
        config_dir: &dir,
        cwd: Path::new("/nonexistent"),
        remote,
    })
}

fn render_with(
    text: &str,
    env: &[(&str, &str)],
    remote: Option<&dyn RemoteSource>,
) -> Result<String, Vec<TemplateError>> {
    render_full(text, env, remote).map(|r| r.text)
}

fn render(text: &str, env: &[(&str, &str)]) -> Result<String, Vec<TemplateError>> {
    render_with(text, env, None)
}

fn messages(result: Result<String, Vec<TemplateError>>) -> Vec<String> {
    match result {
        Ok(text) => panic!("expected errors, rendered:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const PROD_ENV: [(&str, &str); 2] = [("ENV", "prod"), ("AWS_DEFAULT_REGION", "ap-northeast-3")];

#[test]
fn seed_prod_file_with_a_local_tfstate_path() {
    let text = SEED_PROD.replace(
        "url: s3://t3-kato-terraform-backend-osaka/{{ must_env `ENV` }}/terraform.tfstate",
        "path: tfstate/seed-{{ must_env `ENV` }}.tfstate",
    );
    let out = render(&text, &PROD_ENV).expect("render");
    assert_eq!(
        out,
        format!("{SEED_PROD_RENDERED}    path: tfstate/seed-prod.tfstate\n")
    );
}

#[test]
fn seed_prod_file_with_an_s3_url_through_the_remote_source() {
    let mut remote = FakeRemote::default();
    remote.objects.insert(
        (
            "t3-kato-terraform-backend-osaka".to_owned(),
            "prod/terraform.tfstate".to_owned(),
        ),
        seed_state(),
    );
    let out = render_with(SEED_PROD, &PROD_ENV, Some(&remote)).expect("render");
    assert_eq!(
        out,
        format!(
            "{SEED_PROD_RENDERED}    url: s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate\n"
        )
    );
    // Offline (validate): the S3 state is not read; each lookup in it renders
    // as the placeholder and is listed where it is.
    let out = render_full(SEED_PROD, &PROD_ENV, None).expect("render");
    assert_eq!(
        out.text,
        SEED_PROD_RENDERED
            .replace("subnet-039cb8363ae3f2b74", UNCHECKED)
            .replace("subnet-03f653bcc55408971", UNCHECKED)
            .replace("sg-03d360a9d98c40504", UNCHECKED)
            + "    url: s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate\n"
    );
    let s3 = "the state is in S3 (s3://t3-kato-terraform-backend-osaka/prod/terraform.tfstate)";
    assert_eq!(
        out.unchecked
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            format!(
                "ecschedule.yaml:14:13: tfstate \"module.network.module.vpc.aws_subnet.private[0].id\": {s3}"
            ),
            format!(
                "ecschedule.yaml:15:13: tfstate \"module.network.module.vpc.aws_subnet.private[1].id\": {s3}"
            ),
            format!(
                "ecschedule.yaml:17:13: tfstate \"module.network.aws_security_group.ecs.id\": {s3}"
            ),
        ]
    );
    // With the state read, nothing is left unchecked.
    let out = render_full(SEED_PROD, &PROD_ENV, Some(&remote)).expect("render");
    assert_eq!(out.unchecked, []);
}

#[test]
fn every_missing_variable_is_listed_at_once() {
    let errors = messages(render(SEED_PROD, &[]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:1:12: environment variable \"AWS_DEFAULT_REGION\" is not defined (must_env)",
            "ecschedule.yaml:2:21: environment variable \"ENV\" is not defined (must_env)",
            "ecschedule.yaml:4:20: environment variable \"ENV\" is not defined (must_env)",
            "ecschedule.yaml:6:30: environment variable \"ENV\" is not defined (must_env)",
            "ecschedule.yaml:22:50: environment variable \"ENV\" is not defined (must_env)",
        ]
    );
    let errors = messages(render(SEED_PROD, &[("ENV", "prod")]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:1:12: environment variable \"AWS_DEFAULT_REGION\" is not defined (must_env)"
        ]
    );
}

#[test]
fn seed_dumped_and_delete_files_render() {
    let dumped = "region: ap-northeast-3\ncluster: t3-kato-dev\nrules:\n- name: t3-kato-dev\n  scheduleExpression: cron(0 10 * * ? *)\n";
    assert_eq!(render(dumped, &[]).expect("dumped"), dumped);
    let delete = "region: {{ must_env `AWS_DEFAULT_REGION` }}\ncluster: t3-kato-{{ must_env `ENV` }}\nrules:\n";
    assert_eq!(
        render(delete, &PROD_ENV).expect("delete"),
        "region: ap-northeast-3\ncluster: t3-kato-prod\nrules:\n"
    );
    assert_eq!(render("", &[]).expect("empty"), "");
}

#[test]
fn go_spelling_renders_identically() {
    let env = [
        ("ENV", "prod"),
        ("SERVICE", "web"),
        ("Q", "say \"hi\" <&>\n"),
    ];
    let cases = [
        ("x: {{ must_env `ENV` }}", "x: prod"),
        ("x: {{must_env \"ENV\"}}", "x: prod"),
        (
            "x: \"{{ must_env `Q` | json_escape }}\"",
            "x: \"say \\\"hi\\\" \\u003c\\u0026\\u003e\\n\"",
        ),
        (
            "x: \"{{ json_escape (must_env `Q`) }}\"",
            "x: \"say \\\"hi\\\" \\u003c\\u0026\\u003e\\n\"",
        ),
        ("a: 1\n  {{- /* gone */}}\nb: 2", "a: 1\nb: 2"),
        ("a: [ {{- env `ENV` -}} ]", "a: [prod]"),
        ("{{ \"lit\" }}", "lit"),
        ("{{#if (eq (env \"ENV\") \"prod\")}}p{{else}}d{{/if}}", "p"),
        (
            "{{#unless (eq (env \"ENV\") \"prod\")}}d{{else}}p{{/unless}}",
            "p",
        ),
        ("back\\{{ env `ENV` }}", "back\\prod"),
        ("{{ \"{{\" }}x{{ \"}}\" }}", "{{x}}"),
    ];
    for (input, expected) in cases {
        assert_eq!(render(input, &env).as_deref(), Ok(expected), "{input}");
    }
}

#[test]
fn go_only_constructs_are_reported_with_positions() {
    let text = "a: {{ if .X }}x{{ else }}y{{ end }}\nb: {{ range $i := .L }}{{ end }}\nc: {{ .Field }}\nd: {{ $x }}\ne: {{ define \"t\" }}{{ end }}\nf: {{ template \"t\" }}\ng: {{> part }}\nh: {{ must_env `ENV`\n";
    let errors = messages(render(text, &[("ENV", "x")]));
    assert_eq!(errors.len(), 8, "{errors:#?}");
    assert!(
        errors[0].starts_with("ecschedule.yaml:1:7: Go template action \"if\" is not supported"),
        "{errors:#?}"
    );
    assert!(errors[0].contains("{{#if"), "{errors:#?}");
    assert!(
        errors[1].starts_with("ecschedule.yaml:2:7: Go template action \"range\""),
        "{errors:#?}"
    );
    assert!(
        errors[2].starts_with("ecschedule.yaml:3:7: Go template data access (.Field)"),
        "{errors:#?}"
    );
    assert!(
        errors[3].starts_with("ecschedule.yaml:4:7: Go template variables ($x)"),
        "{errors:#?}"
    );
    assert!(
        errors[4].starts_with("ecschedule.yaml:5:7: Go template action \"define\""),
        "{errors:#?}"
    );
    assert!(
        errors[5].starts_with("ecschedule.yaml:6:7: Go template action \"template\""),
        "{errors:#?}"
    );
    assert!(
        errors[6].starts_with("ecschedule.yaml:7:6: partials"),
        "{errors:#?}"
    );
    assert_eq!(
        errors[7],
        "ecschedule.yaml:8:4: unclosed action: missing }}"
    );
}

#[test]
fn unknown_functions_get_a_hint_and_missing_envs_are_listed_too() {
    let text = "a: {{ must_evn `ENV` }}\nb: {{ must_env `NOPE` }}\nc: {{ jsonescape `x` }}\nd: {{ frobnicate }}\n";
    let errors = messages(render(text, &[("ENV", "x")]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:1:7: unknown function \"must_evn\" (did you mean \"must_env\"?)",
            "ecschedule.yaml:2:7: environment variable \"NOPE\" is not defined (must_env)",
            "ecschedule.yaml:3:7: unknown function \"jsonescape\" (did you mean \"json_escape\"?)",
            "ecschedule.yaml:4:7: unknown function \"frobnicate\"",
        ]
    );
}

#[test]
fn bare_words_where_a_string_belongs_are_reported_once() {
    let text = "a: {{ must_env XV }}\nb: {{ env XV `default` }}\nc: {{ XV | must_env }}\nd: {{ json_escape (must_env XV) }}\ne: {{ tfstate aws_vpc.main }}\nf: {{ must_env (env `A`) }}\n";
    assert_eq!(
        messages(render(text, &[("XV", "set"), ("A", "XV")])),
        [
            "ecschedule.yaml:1:16: must_env needs a quoted variable name: `XV` (a bare word is a function call in templates; write must_env `XV`)",
            "ecschedule.yaml:2:11: env needs a quoted variable name: `XV` (a bare word is a function call in templates; write env `XV`)",
            "ecschedule.yaml:3:7: must_env needs a quoted variable name: `XV` (a bare word is a function call in templates; write must_env `XV`)",
            "ecschedule.yaml:4:29: must_env needs a quoted variable name: `XV` (a bare word is a function call in templates; write must_env `XV`)",
            "ecschedule.yaml:5:15: unknown variable \"aws_vpc.main\": templates have no data, use env or must_env",
        ]
    );
    // A known function as the argument is a real call, as in Go.
    assert_eq!(
        render("{{ must_env (env `A`) }}", &[("A", "XV"), ("XV", "v")]).as_deref(),
        Ok("v")
    );
}

#[test]
fn string_parameters_take_no_numbers_or_booleans_as_in_go() {
    assert_eq!(
        messages(render("a: {{ must_env true }}\nb: {{ env `X` 1 }}\n", &[])),
        [
            "ecschedule.yaml:1:7: must_env: argument 1 must be a quoted string, got true (Go templates do not convert it)",
            "ecschedule.yaml:2:7: env: argument 2 must be a quoted string, got 1 (Go templates do not convert it)",
        ]
    );
}

#[test]
fn literals_with_characters_go_escapes_pass_through_unchanged() {
    // The translator hands literals to handlebars in Go's JSON spelling (`<` as \u003c).
    let env = [("A<B&C", "set"), ("Q", "x")];
    assert_eq!(
        render(
            "{{ \"a<b>&c\\u2028\" }} {{ must_env `A<B&C` }} {{ env `Q` \"<\\t>\" }}",
            &env
        )
        .as_deref(),
        Ok("a<b>&c\u{2028} set x")
    );
}

#[test]
fn env_function_semantics() {
    let env = [("SET", "value"), ("EMPTY", ""), ("OTHER", "other")];
    let cases = [
        ("{{ env `SET` }}", "value"),
        ("{{ env `UNSET` }}", "UNSET"),
        ("{{ env `UNSET` `default` }}", "default"),
        ("{{ env `EMPTY` `default` }}", "default"),
        ("{{ env `UNSET` `OTHER` }}", "other"),
        ("{{ env `UNSET` `EMPTY` `last` }}", "last"),
        ("{{ env `SET` `OTHER` }}", "value"),
        ("[{{ must_env `EMPTY` }}]", "[]"),
        ("{{ env (env `UNSET` `SET`) }}", "value"),
        ("{{ json_escape (env `UNSET` `SET`) }}", "value"),
    ];
    for (input, expected) in cases {
        assert_eq!(render(input, &env).as_deref(), Ok(expected), "{input}");
    }
    let errors = messages(render("{{ env }}", &env));
    assert_eq!(
        errors,
        ["ecschedule.yaml:1:4: env: expected at least 1 argument (NAME [DEFAULT…])"]
    );
}

#[test]
fn names_computed_while_rendering_are_looked_up() {
    // SUFFIX is not a literal anywhere: it is learnt during rendering.
    let env = [("PICK", "SUFFIX"), ("SUFFIX", "found")];
    assert_eq!(
        render("{{ must_env (must_env `PICK`) }}", &env).as_deref(),
        Ok("found")
    );
}

#[test]
fn multiple_tfstates_with_func_prefix_and_the_plugin_call_form() {
    let text = r#"a: {{ tfstate `module.network.aws_security_group.ecs.id` }}
b: {{ plugin `second_tfstate` `module.network.module.vpc.aws_subnet.private[1].id` }}
c: {{ second_tfstatef `module.ecs.aws_cloudwatch_log_group.main['%s'].retention_in_days` (must_env `SERVICE`) }}
d: {{ tfstate `output.private_subnet_ids` }}
e: {{ tfstatef "module.network.module.vpc.aws_subnet.private[%d].id" 0 }}
plugins:
  - name: tfstate
    config:
      path: tfstate/seed-prod.tfstate
  - name: tfstate
    func_prefix: second_
    config:
      url: file://{{ must_env `FIXTURES` }}/tfstate/seed-prod.tfstate
"#;
    let fixtures = testdata().display().to_string();
    let out = render(text, &[("SERVICE", "nginx"), ("FIXTURES", &fixtures)]).expect("render");
    let head: Vec<&str> = out.lines().take(5).collect();
    assert_eq!(
        head,
        [
            "a: sg-03d360a9d98c40504",
            "b: subnet-03f653bcc55408971",
            "c: 14",
            "d: [\"subnet-039cb8363ae3f2b74\",\"subnet-03f653bcc55408971\"]",
            "e: subnet-039cb8363ae3f2b74",
        ]
    );
}

#[test]
fn lookup_failures_are_all_reported_with_positions() {
    let text = r#"a: x
b: {{ tfstate `module.x.aws_subnet.y.id` }}
c: {{ tfstate `module.network.aws_security_group.ecs.id` }} {{ tfstate "nope.nope" }}
d: {{ first_tfstate `x.y` }}
e: {{ plugin `third_ssm` `/x` }}
plugins:
- name: tfstate
  config:
    path: tfstate/seed-prod.tfstate
"#;
    let errors = messages(render(text, &[]));
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_eq!(
        errors[0],
        "ecschedule.yaml:2:7: module.x.aws_subnet.y.id is not found in tfstate"
    );
    assert_eq!(
        errors[1],
        "ecschedule.yaml:3:64: nope.nope is not found in tfstate"
    );
    assert_eq!(
        errors[2],
        "ecschedule.yaml:4:7: function \"first_tfstate\" is not defined: no tfstate plugin with func_prefix \"first_\" is declared in plugins"
    );
    assert!(
        errors[3]
            .starts_with("ecschedule.yaml:5:7: plugin: \"third_ssm\" is not a plugin function"),
        "{errors:#?}"
    );
}

#[test]
fn comments_before_the_plugins_list_do_not_stop_it_being_read() {
    let mut text = String::from("a: {{ tfstate `output.vpc_id` }}\nplugins:\n");
    text.push_str(&"# - name: ssm (commented out)\n".repeat(40));
    text.push_str("- name: tfstate\n  config:\n    path: tfstate/seed-prod.tfstate\n");
    let out = render(&text, &[]).expect("render");
    assert!(out.starts_with("a: vpc-0e6a4c1f2b3d4e5f6\n"), "{out}");
}

#[test]
fn a_second_yaml_document_is_named_as_such_when_plugins_are_read() {
    let text = "a: {{ tfstate `x.y` }}\n---\nplugins:\n- name: tfstate\n";
    assert_eq!(
        messages(render(text, &[])),
        [
            "ecschedule.yaml:2:1: invalid YAML: multiple YAML documents in one file are not supported (a second one starts here); put each config in its own file"
        ]
    );
}

#[test]
fn tfstate_without_a_plugin_and_plugin_config_errors() {
    let errors = messages(render("a: {{ tfstate `x.y` }}\n", &[]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:1:7: function \"tfstate\" is not defined: no tfstate plugin is declared in plugins"
        ]
    );
    let text = "a: {{ tfstate `x.y` }}\nplugins:\n- name: tfstate\n  config: {}\n";
    let errors = messages(render(text, &[]));
    assert_eq!(
        errors,
        ["ecschedule.yaml:3:3: tfstate plugin requires path or url for tfstate location"]
    );
    let text = "a: {{ tfstate `x.y` }}\nplugins:\n- name: tfstate\n  config:\n    path: tfstate/seed-prod.tfstate\n- name: cloudformation\n";
    let errors = messages(render(text, &[]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:6:3: plugin \"cloudformation\" is not available (expected tfstate or ssm)"
        ]
    );
    let errors = messages(render("a: {{ tfstate `x.y` }}\nplugins: {a: 1}\n", &[]));
    assert_eq!(
        errors,
        ["ecschedule.yaml:2:10: cannot read the plugins list: expected sequence start"]
    );
    let errors = messages(render("a: {{ tfstate `x.y` }}\nplugins: [\n", &[]));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ecschedule.yaml:2:10: cannot read the plugins list: "),
        "{errors:?}"
    );
    // Not a mapping at all: no plugins, so tfstate is undefined.
    let errors = messages(render("- {{ tfstate `x.y` }}\n", &[]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:1:6: function \"tfstate\" is not defined: no tfstate plugin is declared in plugins"
        ]
    );
    // JSON configs work the same way.
    let json = r#"{"a": "{{ tfstate `module.network.aws_security_group.ecs.id` }}",
 "plugins": [{"name": "tfstate", "config": {"path": "tfstate/seed-prod.tfstate"}}]}"#;
    let out = render(json, &[]).expect("json");
    assert!(out.starts_with(r#"{"a": "sg-03d360a9d98c40504","#), "{out}");
}

fn fake_ssm() -> FakeRemote {
    let mut remote = FakeRemote::default();
    for (name, kind, value) in [
        ("/app/plain", SsmParameterKind::String, "hello"),
        ("/app/secret", SsmParameterKind::SecureString, "s3cr3t"),
        ("/app/list", SsmParameterKind::StringList, "a,b,c"),
    ] {
        remote.params.insert(
            name.to_owned(),
            SsmParameter {
                kind,
                value: value.to_owned(),
            },
        );
    }
    remote
}

#[test]
fn ssm_index_semantics_through_templates() {
    let remote = fake_ssm();
    let text = "a: {{ ssm `/app/plain` }}\nb: {{ ssm \"/app/secret\" }}\nc: {{ ssm `/app/list` 0 }}\nd: {{ ssm `/app/list` 2 }}\ne: {{ aws_ssm `/app/list` 1 }}\nf: {{ plugin `aws_ssm` `/app/plain` }}\nplugins:\n- name: ssm\n  func_prefix: aws_\n";
    let out = render_with(text, &[], Some(&remote)).expect("render");
    assert_eq!(
        out.lines().take(6).collect::<Vec<_>>(),
        ["a: hello", "b: s3cr3t", "c: a", "d: c", "e: b", "f: hello"]
    );
    let bad = "a: {{ ssm `/app/plain` 0 }}\nb: {{ ssm `/app/secret` 1 }}\nc: {{ ssm `/app/list` }}\nd: {{ ssm `/app/list` 3 }}\ne: {{ ssm `/missing` }}\n";
    let errors = messages(render_with(bad, &[], Some(&remote)));
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(
        errors[0].starts_with(
            "ecschedule.yaml:1:7: ssm parameter \"/app/plain\" is a String and takes no index"
        ),
        "{errors:#?}"
    );
    assert!(
        errors[1].contains("is a SecureString and takes no index"),
        "{errors:#?}"
    );
    assert!(
        errors[2].contains("is a StringList: pass a 0-based index"),
        "{errors:#?}"
    );
    assert!(
        errors[3].starts_with(
            "ecschedule.yaml:4:7: ssm parameter \"/app/list\": index 3 is out of range"
        ),
        "{errors:#?}"
    );
    assert_eq!(
        errors[4],
        "ecschedule.yaml:5:7: ssm parameter \"/missing\": ParameterNotFound"
    );
}

#[test]
fn ssm_without_aws_access_names_the_parameter() {
    let out = render_full("a: {{ ssm `/app/plain` }}\n", &[], None).expect("render");
    assert_eq!(out.text, format!("a: {UNCHECKED}\n"));
    assert_eq!(
        out.unchecked
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["ecschedule.yaml:1:7: ssm \"/app/plain\": SSM parameters need AWS access"]
    );
    // Its arguments are still checked.
    let errors = messages(render("a: {{ ssm `/app/plain` 1 2 }}\n", &[]));
    assert_eq!(
        errors,
        ["ecschedule.yaml:1:7: ssm: expected 1 or 2 arguments (NAME [INDEX]), got 3"]
    );
}

#[test]
fn plugin_config_is_not_rendered_twice_and_env_values_are_not_templates() {
    // An environment value containing `{{` is inserted as text, never
    // evaluated (ecschedule's second pass would evaluate it).
    let text = "a: {{ must_env `V` }}\nb: {{ tfstate `output.vpc_id` }}\nplugins:\n- name: tfstate\n  config:\n    path: tfstate/seed-prod.tfstate\n";
    let out = render(text, &[("V", "{{ must_env `X` }}")]).expect("render");
    assert!(
        out.starts_with("a: {{ must_env `X` }}\nb: vpc-0e6a4c1f2b3d4e5f6\n"),
        "{out}"
    );
}

#[test]
fn handlebars_errors_are_mapped_to_the_original_file() {
    let errors = messages(render("a: 1\nb: {{#if (env `X`)}}x\n", &[]));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("never closed"), "{errors:#?}");
    let errors = messages(render(
        "a: {{#each (env `X`)}}{{this.nope}}{{/each}}\n",
        &[("X", "abc")],
    ));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("ecschedule.yaml:1:"), "{errors:#?}");
}

#[test]
fn malformed_actions_are_reported_precisely() {
    let text = "a: {{ \"bad \\q\" }}\nb: {{ `open }}\nc: {{ env `A` | }}\nd: {{ (env `A`) `x` }}\ne: {{else}}\nf: {{#foo}}x{{/foo}}\ng: {{ foo.bar }}\nh: {{ 1e5 }}\n";
    let errors = messages(render(text, &[]));
    assert_eq!(
        errors,
        [
            "ecschedule.yaml:1:7: unknown escape \\q in string",
            "ecschedule.yaml:2:7: unterminated raw string (missing `)",
            "ecschedule.yaml:3:15: missing function or value",
            "ecschedule.yaml:4:17: only a function can take arguments",
            "ecschedule.yaml:5:6: unexpected {{else}}: there is no open block",
            "ecschedule.yaml:6:7: block helper \"#foo\" is not supported (use #if, #unless, #each or #with)",
            "ecschedule.yaml:7:7: unknown variable \"foo.bar\": templates have no data, use env or must_env",
            "ecschedule.yaml:8:7: invalid number 1e5",
        ]
    );
    assert_eq!(
        render("{{{ env `A` }}} {{& env `A` }}", &[("A", "<&>")]).as_deref(),
        Ok("<&> <&>")
    );
}

#[test]
fn template_error_display() {
    let mut e = TemplateError {
        source_name: "f.yaml".to_owned(),
        line: Some(3),
        column: Some(5),
        message: "boom".to_owned(),
    };
    assert_eq!(e.to_string(), "f.yaml:3:5: boom");
    e.column = None;
    assert_eq!(e.to_string(), "f.yaml:3: boom");
    e.line = None;
    assert_eq!(e.to_string(), "f.yaml: boom");
}

#[test]
fn escaped_text_renders_to_itself_and_runs_nothing() {
    for text in [
        "{{ env `AWS_SECRET_ACCESS_KEY` }}",
        "{{ must_env `X` }} and {{must_env \"Y\"}}",
        "{{{{raw}}}} {{/raw}} {{! comment }} {{> partial}}",
        "a {{ b }} c }} d {{",
        "{{`x`}}",
        "plain text, no braces",
        "{{}}{{{}}}",
    ] {
        let escaped = super::escape(text);
        let rendered = render(&format!("value: {escaped}\n"), &[])
            .unwrap_or_else(|e| panic!("{text:?} → {escaped:?}: {e:?}"));
        assert_eq!(rendered, format!("value: {text}\n"), "{escaped:?}");
    }
}

#[test]
fn deeply_nested_parentheses_are_an_error_not_a_stack_overflow() {
    let deep = format!(
        "x: {{{{ {}env `A`{} }}}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let errors = messages(render(&deep, &[]));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("parentheses nested more than 64 deep"),
        "{errors:?}"
    );
    // Within the limit, nesting still works.
    let fine = format!(
        "x: {{{{ {}env `A` `d`{} }}}}\n",
        "(".repeat(10),
        ")".repeat(10)
    );
    assert_eq!(render(&fine, &[]).unwrap(), "x: d\n");
}
