{
  subnets: ['subnet-1', 'subnet-2'
}
