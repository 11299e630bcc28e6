// One hundred million numbers: refused while the document is built.
{
  region: 'ap-northeast-3',
  cluster: 'api',
  rules: std.range(1, 1e8),
}
