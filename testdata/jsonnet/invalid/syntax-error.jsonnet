{
  region: 'ap-northeast-3',
  cluster: 'api'
  rules: [],
}
