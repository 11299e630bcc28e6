local network = import 'lib/broken.libsonnet';

{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: [{
    name: 'r',
    scheduleExpression: 'rate(1 day)',
    taskDefinition: 'td',
    network_configuration: { aws_vpc_configuration: { subnets: network.subnets } },
  }],
}
