local must_env = std.native('must_env');

{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{
    name: 'r',
    scheduleExpression: 'rate(1 day)',
    taskDefinition: 'td',
    disabled: must_env('ECSCHED_TEST_UNSET_DISABLED') == 'true',
  }],
}
