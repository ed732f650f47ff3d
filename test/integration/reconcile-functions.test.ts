import { InvocationContext, type Timer } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile, reconcileQueue } from '../../functions/reconcile';
import { reconcileSubscription, subscriptionIdOf } from '../../functions/reconcileSubscription';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testSettings } from '../support/app';

const subA = '00000000-0000-0000-0000-0000000000a1';
const subB = '00000000-0000-0000-0000-0000000000b2';

interface LogLine {
  level: string;
  args: unknown[];
}

function invocation(functionName: string, lines: LogLine[]): InvocationContext {
  return new InvocationContext({
    functionName,
    invocationId: `test-${functionName}`,
    logHandler: (level, ...args) => lines.push({ level, args }),
  });
}

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

describe('reconcile functions', () => {
  let emulator: ArmEmulator;

  beforeAll(async () => {
    emulator = await startArmEmulator();
    emulator.fleet.addVm({ subscriptionId: subA, resourceGroup: 'rg', name: 'vm-a' });
    emulator.fleet.addVm({ subscriptionId: subB, resourceGroup: 'rg', name: 'vm-b', powerState: 'stopped' });
    // The handlers read the app settings, as in the Functions host (no SUBSCRIPTION_IDS: list them).
    Object.assign(process.env, testSettings(emulator.url), { SUBSCRIPTION_IDS: '' });
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('timer enqueues one message per readable subscription', async () => {
    const context = invocation('reconcile', []);

    await reconcile(timer, context);

    expect(context.extraOutputs.get(reconcileQueue)).toEqual([
      { subscriptionId: subA },
      { subscriptionId: subB },
    ]);
  });

  it('queue function reconciles the subscription named by the message', async () => {
    const lines: LogLine[] = [];

    const summary = await reconcileSubscription(
      { subscriptionId: subB },
      invocation('reconcileSubscription', lines),
    );

    expect(summary).toMatchObject({ subscriptionId: subB, new: 1, complete: true });
    const summaryLine = lines.find((l) => l.args[0] === 'reconcile summary');
    expect(summaryLine?.args[1]).toMatchObject({ subscriptionId: subB, seen: 1, new: 1 });
  });

  it('queue function accepts the message as JSON text', async () => {
    const summary = await reconcileSubscription(
      JSON.stringify({ subscriptionId: subA }),
      invocation('reconcileSubscription', []),
    );

    expect(summary).toMatchObject({ subscriptionId: subA, new: 1 });
  });

  it('queue function drops a malformed message with a warning instead of failing (no poison loop)', async () => {
    const lines: LogLine[] = [];

    for (const bad of [{}, 'not json', { subscriptionId: 'a/b' }, null, 42]) {
      await expect(
        reconcileSubscription(bad, invocation('reconcileSubscription', lines)),
      ).resolves.toBeUndefined();
    }
    expect(
      lines.filter((l) => l.level === 'warning' && l.args[0] === 'reconcile message rejected'),
    ).toHaveLength(5);
  });

  it('reads the subscription id from a message', () => {
    expect(subscriptionIdOf({ subscriptionId: subA })).toBe(subA);
    expect(subscriptionIdOf(`{"subscriptionId":"${subB}"}`)).toBe(subB);
    expect(subscriptionIdOf({ subscriptionId: 7 })).toBeUndefined();
  });
});
