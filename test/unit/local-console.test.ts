import { describe, expect, it } from 'vitest';
import { createLocalConsole, describeHeld } from '../../kit/local/console';

const at = Date.UTC(2026, 11, 1, 12, 0, 0);

function console(env: Record<string, string> = {}) {
  const lines: string[] = [];
  return { lines, local: createLocalConsole({ env, write: (line) => lines.push(line), now: () => at }) };
}

describe('local console', () => {
  it('prints a reconcile run as one line with its counts', () => {
    const { lines, local } = console();
    const run = local.begin('reconcileSubscription', 'storageQueue');
    run.log.info('power state unknown', {
      vmId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a',
    });
    run.log.info('reconcile summary', {
      subscriptionId: 'sub-1',
      seen: 11,
      changed: 2,
      new: 1,
      deleted: 0,
      unknown: 1,
      failed: 0,
      complete: true,
    });
    run.end();
    expect(lines).toEqual([
      expect.stringMatching(
        /^\d\d:\d\d:\d\d reconcileSubscription: sub-1 11 seen, 2 changed, 1 new, 0 deleted, 1 unknown, 0 failed; complete \(0 ms\)$/,
      ),
    ]);
  });

  it('holds execution lines while the host starts, counts them, and still shows warnings and failures', () => {
    const { lines, local } = console();
    const release = local.hold();
    for (const outcome of ['recorded', 'recorded', 'duplicate']) {
      const run = local.begin('vmEvents', 'eventGrid');
      run.log.info('event ingested', {
        outcome,
        vmId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01',
      });
      run.end();
    }
    const failing = local.begin('reconcile', 'timer');
    failing.log.warn('reconcile stopped near its time budget', { subscriptionId: 'sub-1' });
    failing.end(new Error('storage unreachable'));
    local.log.info('sandbox history delivered', { events: 3 });

    expect(describeHeld(release())).toBe('vmEvents 2 recorded, 1 duplicate; reconcile 1 failed');
    expect(lines).toEqual([
      expect.stringMatching(
        / WARNING: reconcile: reconcile stopped near its time budget {2}subscriptionId=sub-1$/,
      ),
      expect.stringMatching(/ ERROR: reconcile: failed \(0 ms\) {2}error="storage unreachable"$/),
    ]);

    const after = local.begin('vmEvents', 'eventGrid');
    after.log.info('event ingested', { outcome: 'duplicate', eventId: 'e-1' });
    after.end();
    expect(lines.at(-1)).toMatch(/ vmEvents: duplicate e-1 \(0 ms\)$/);
  });

  it("shows an HTTP execution only with LOG_LEVEL=debug, and the execution's own lines with it", () => {
    const quiet = console();
    quiet.local.begin('vms', 'http').end();
    expect(quiet.lines).toEqual([]);

    const debug = console({ LOG_LEVEL: 'debug' });
    const run = debug.local.begin('vms', 'http');
    run.log.info('vms listed', { count: 3 });
    run.end();
    expect(debug.lines).toEqual([
      expect.stringMatching(/ vms listed {2}count=3$/),
      expect.stringMatching(/ debug: vms: vms listed {2}count=3 \(0 ms\)$/),
    ]);
  });
});
