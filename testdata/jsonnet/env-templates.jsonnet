// Strings holding ecschedule templates: rendered after the evaluation, over the
// resulting JSON, exactly as in a YAML file. A template cannot make a boolean
// (its output is inside a JSON string): `disabled` uses the native function.
local env = std.native('env');
local stage = '{{ env `STAGE` `dev` }}';

{
  region: '{{ env `AWS_REGION` `ap-northeast-3` }}',
  cluster: 'batch-' + stage,
  trackingId: 'batch-{{ env `STAGE` `dev` }}-{{ env `TEAM` `platform` }}',
  rules: [
    {
      name: 'batch-%s-sync' % stage,
      scheduleExpression: 'rate({{ env `SYNC_EVERY` `15` }} minutes)',
      taskDefinition: 'batch-%s-sync:{{ env `REVISION` `7` }}' % stage,
      disabled: env('SYNC_DISABLED', 'false') == 'true',
      containerOverrides: [{
        name: 'worker',
        command: ['sync', '--stage', stage],
        environment: {
          STAGE: stage,
          LOG_LEVEL: '{{ env `LOG_LEVEL` `info` }}',
        },
      }],
    },
  ],
}
