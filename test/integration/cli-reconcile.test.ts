import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcileSummary } from '../../src/app/reconcile';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { uniquePrefix } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { runCli } from '../support/cli';

const subA = '00000000-0000-0000-0000-00000000c0a1';
const subB = '00000000-0000-0000-0000-00000000c0b2';

describe('vm-timeline reconcile', () => {
  let arm: ArmEmulator;
  let common: string[];

  beforeAll(async () => {
    arm = await startArmEmulator({ pageSize: 2 });
    for (const sub of [subA, subB]) arm.fleet.addSubscription(sub);
    for (const name of ['web-1', 'web-2', 'web-3'])
      arm.fleet.addVm({ subscriptionId: subA, resourceGroup: 'rg', name, powerState: 'running' });
    arm.fleet.addVm({ subscriptionId: subB, resourceGroup: 'rg', name: 'db-1', powerState: 'deallocated' });
    common = [
      '--storage',
      tableConnectionString(),
      '--table-prefix',
      uniquePrefix(),
      '--arm-endpoint',
      arm.url,
    ];
  });

  afterAll(async () => {
    await arm.close();
  });

  it('reconciles every readable subscription and then records a guest shutdown with its window', async () => {
    const first = await runCli(['reconcile', '--json', ...common]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const summaries = (JSON.parse(first.stdout) as { subscriptions: ReconcileSummary[] }).subscriptions;
    // The JSON fields keep their names and order (durationMs, pacedMs), whatever the code calls them.
    expect(Object.keys(summaries[0] ?? {})).toEqual([
      'subscriptionId',
      'runId',
      'seen',
      'changed',
      'new',
      'deleted',
      'unknown',
      'failed',
      'detailsUpdated',
      'requests',
      'throttled',
      'pages',
      'complete',
      'durationMs',
      'stoppedEarly',
      'pacedMs',
    ]);
    expect(summaries.map((s) => [s.subscriptionId, s.new, s.complete])).toEqual([
      [subA, 3, true],
      [subB, 1, true],
    ]);

    // Shut down from inside the guest: no event, only the next listing sees it.
    const web2 = arm.fleet.listVms(subA).find((vm) => vm.name === 'web-2');
    arm.fleet.setPowerState(web2?.id ?? '', 'stopped');
    const second = await runCli(['reconcile', '--subscription', subA, ...common]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`${subA}\\s+3\\s+1\\s+0\\s+0\\s+0\\s+0`));
    expect(second.stderr).toContain(`reconciled ${subA}`);

    const timeline = await runCli(['timeline', web2?.id ?? '', '--json', ...common]);
    const segments = (
      JSON.parse(timeline.stdout) as {
        segments: Array<{ state: string; billing: string; startWindowFrom: string | null; source: string }>;
      }
    ).segments;
    expect(segments.map((s) => [s.state, s.billing, s.source])).toEqual([
      ['running', 'billed', 'reconcile'],
      ['stopped', 'billed', 'reconcile'],
    ]);
    expect(segments[1]?.startWindowFrom).not.toBeNull();
  });

  it('exits 1 and names the subscription when its listing fails', async () => {
    arm.faults.failNext(20, { status: 503 });
    const run = await runCli(['reconcile', '--subscription', subB, ...common]);
    arm.faults.reset();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(subB);
  });
});
