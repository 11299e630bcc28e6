local network = import 'lib/netwrok.libsonnet';

{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{ name: 'r', scheduleExpression: 'rate(1 day)', taskDefinition: 'td', network_configuration: network }],
}
