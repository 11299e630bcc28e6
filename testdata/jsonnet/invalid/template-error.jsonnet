{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{
    name: 'r',
    scheduleExpression: 'rate(1 day)',
    taskDefinition: 'td-{{ must_env `ECSCHED_TEST_UNSET_REVISION` }}',
  }],
}
