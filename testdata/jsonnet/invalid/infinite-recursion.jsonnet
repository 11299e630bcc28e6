// A function that never stops calling itself.
local hour(n) = hour(n + 1);

{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{ name: 'r', scheduleExpression: 'cron(0 %d * * ? *)' % hour(0), taskDefinition: 'td' }],
}
