// Two tfstate plugins told apart by func_prefix, called through `plugin`
// (ecschedule's way to reach prefixed functions): the network comes from the
// application's state, the role and the dead-letter queue from a shared one.
local tf(prefix, address) = '{{ plugin `%stfstate` `%s` }}' % [prefix, address];
local network(address) = tf('network_', address);
local shared(address) = tf('shared_', address);

{
  region: 'ap-northeast-3',
  cluster: 't3-kato-prod',
  role: shared('output.events_role_arn'),
  plugins: [
    { name: 'tfstate', func_prefix: 'network_', config: { path: '../tfstate/seed-prod.tfstate' } },
    { name: 'tfstate', func_prefix: 'shared_', config: { path: 'tfstate/shared.tfstate' } },
  ],
  rules: [
    {
      name: 't3-kato-prod-nightly',
      scheduleExpression: 'cron(0 18 * * ? *)',
      taskDefinition: 't3-kato-prod',
      containerOverrides: [{ name: 'nginx', command: ['nginx', '-v'] }],
      launch_type: 'FARGATE',
      network_configuration: {
        aws_vpc_configuration: {
          subnets: [
            network('module.network.module.vpc.aws_subnet.private[%d].id' % i)
            for i in [0, 1]
          ],
          security_groups: [network('module.network.aws_security_group.ecs.id')],
          assign_public_ip: 'DISABLED',
        },
      },
      dead_letter_config: { sqs: shared('aws_sqs_queue.dlq.arn') },
    },
  ],
}
