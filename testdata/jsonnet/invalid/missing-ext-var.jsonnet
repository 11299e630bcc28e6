{
  region: std.extVar('REGION'),
  cluster: 'api',
}
