/** `vm-timeline stopped`: the VMs in Stopped (allocated) now, since when, exempt or not, alert state. */
import { listStopped } from '../app/stopped';
import { ExitCode, type Command } from './command';
import { hours, json, table } from './format';

export const stoppedCommand: Command = {
  name: 'stopped',
  synopsis: '',
  summary: 'VMs in Stopped (allocated) now: powered off, still billed; alert state',
  description: [
    'Prints the VMs in Stopped (allocated) now (powered off and still billed): since when, for how long,',
    'whether they are exempt (tag expected-stopped=true or EXPECTED_STOPPED_PATTERNS) and their alert',
    'state: withinGrace (stopped less than STOPPED_ALERT_GRACE_MINUTES), due (grace over, alert not yet',
    'delivered), sent, exempt. JSON: { asOf, vms: [{ resourceId, since, seconds, exempt, alertState }] }.',
    'Reads the stopped-VM index that ingestion and the reconciler keep (VmAlerts), not the whole fleet.',
    '',
    'Example: vm-timeline stopped --json',
  ].join('\n'),
  options: {},
  arguments: [],
  async run(invocation) {
    const ctx = invocation.context();
    const report = await listStopped(ctx, Date.now());
    if (invocation.json) {
      invocation.print(json(report));
      return ExitCode.ok;
    }
    const rows = report.vms.map((vm) => [vm.since, hours(vm.seconds), vm.alertState, vm.resourceId]);
    for (const line of table([['SINCE', 'HOURS', 'ALERT', 'RESOURCE'], ...rows], ['left', 'right']))
      invocation.print(line);
    invocation.print(`stopped (allocated): ${report.vms.length} as of ${report.asOf}`);
    return ExitCode.ok;
  },
};
