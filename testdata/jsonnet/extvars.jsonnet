// Region, cluster and a number come from the command line:
//   ecsched --ext-str REGION=us-east-1 --ext-str CLUSTER=api --ext-code BASE=1 ...
// the network configuration from a shared library, and the log level from the
// environment at template time.
local network = import 'lib/network.libsonnet';

local region = std.extVar('REGION');
local cluster = std.extVar('CLUSTER');
local base = std.extVar('BASE');

local job(name, hour, command) = {
  name: '%s-%s' % [cluster, name],
  description: 'daily %s of %s' % [name, cluster],
  scheduleExpression: 'cron(0 %d * * ? *)' % (base + hour),
  taskDefinition: '%s-%s' % [cluster, name],
  containerOverrides: [{
    name: 'app',
    command: command,
    environment: {
      LOG_LEVEL: '{{ env `LOG_LEVEL` `info` }}',
    },
  }],
  launch_type: 'FARGATE',
  platform_version: 'LATEST',
  taskCount: base,
  network_configuration: network.private(region),
};

{
  region: region,
  cluster: cluster,
  role: 'ecsEventsRole',
  rules: [
    job('report', 2, ['bin/report', '--since', '24h']),
    job('cleanup', 4, ['bin/cleanup']),
  ],
}
