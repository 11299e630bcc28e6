{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{
    name: 'nightly',
    scheduleExpression: 'cron(0 10 * * * *)',
    taskDefinition: 'td',
  }],
}
