// Shared network settings: the private subnets and the task security group of
// each region, as an awsvpc network configuration.
{
  subnets:: {
    'us-east-1': ['subnet-0a11b22c33d44e55f', 'subnet-0f66e77d88c99b00a'],
    'ap-northeast-3': ['subnet-039cb8363ae3f2b74', 'subnet-03f653bcc55408971'],
  },
  securityGroups:: {
    'us-east-1': ['sg-0123456789abcdef0'],
    'ap-northeast-3': ['sg-03d360a9d98c40504'],
  },

  // network_configuration of a Fargate task in `region`'s private subnets.
  private(region):: {
    aws_vpc_configuration: {
      subnets: $.subnets[region],
      security_groups: $.securityGroups[region],
      assign_public_ip: 'DISABLED',
    },
  },
}
