{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{
    name: 'nightly',
    scheduleExpression: 'rate(1 day)',
    taskDefinition: 'td',
    taskCount: 'many',
    launchType: 'FARGATE',
  }],
}
