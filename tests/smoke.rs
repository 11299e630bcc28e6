//! Smoke tests of the harness: the emulator is reachable through the SDK with per-test accounts
//! that do not see each other, and the real binary runs.

use crate::emulator::emulator;
use crate::test::Test;

#[test]
fn emulator_accounts_are_isolated() {
    let Some(emulator) = emulator() else { return };
    let other = emulator.other_account();
    assert_ne!(emulator.account_id, other.account_id);

    emulator.block_on(async {
        let events = emulator.eventbridge();
        let put = events
            .put_rule()
            .name("smoke-rule")
            .schedule_expression("rate(5 minutes)")
            .send()
            .await
            .expect("PutRule");
        let arn = put.rule_arn().expect("RuleArn");
        assert_eq!(
            arn,
            format!(
                "arn:aws:events:{}:{}:rule/smoke-rule",
                emulator.region, emulator.account_id
            ),
            "the account header must select the account"
        );

        let names = |rules: aws_sdk_eventbridge::operation::list_rules::ListRulesOutput| {
            rules
                .rules()
                .iter()
                .filter_map(|rule| rule.name().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        let mine = events
            .list_rules()
            .name_prefix("smoke-")
            .send()
            .await
            .expect("ListRules");
        assert_eq!(names(mine), ["smoke-rule"]);

        let theirs = other
            .eventbridge()
            .list_rules()
            .name_prefix("smoke-")
            .send()
            .await
            .expect("ListRules in another account");
        assert_eq!(names(theirs), Vec::<String>::new());
    });
}

#[test]
fn version_flag_prints_the_version() {
    Test::new()
        .arg("--version")
        .stdout(&format!("ecsched {}\n", env!("CARGO_PKG_VERSION")))
        .stderr("")
        .success();
}
