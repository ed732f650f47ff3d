import { InvocationContext, type Timer } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile, reconcileQueue } from '../../functions/reconcile';
import { reconcileSubscription } from '../../functions/reconcileSubscription';
import { vmEvents } from '../../functions/vmEvents';
import { silentLogger } from '../../src/adapters/logger';
import { recordReconcileFailure } from '../../src/app/coverage';
import { appContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { PowerState } from '../../src/domain/power-state';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testSettings } from '../support/app';
import { coverageViews } from '../support/coverage-views';

const s1 = '10000000-0000-0000-0000-000000000001';
const s2 = '10000000-0000-0000-0000-000000000002';
const s3 = '10000000-0000-0000-0000-000000000003';
const outside = '10000000-0000-0000-0000-000000000009';

function invocation(functionName: string, triggerMetadata: Record<string, unknown> = {}): InvocationContext {
  return new InvocationContext({
    functionName,
    invocationId: `test-${functionName}`,
    logHandler: () => {},
    triggerMetadata,
  });
}

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

async function runTimer(): Promise<string[]> {
  const context = invocation('reconcile');
  await reconcile(timer, context);
  return (context.extraOutputs.get(reconcileQueue) as { subscriptionId: string }[]).map(
    (m) => m.subscriptionId,
  );
}

describe('management-group mode: every subscription under the group watched, new ones included', () => {
  let emulator: ArmEmulator;
  let ctx: AppContext;

  beforeAll(async () => {
    emulator = await startArmEmulator();
    const fleet = emulator.fleet;
    fleet.addManagementGroup('mg-root');
    fleet.addManagementGroup('mg-apps', { parentId: 'mg-root' });
    for (const [subscriptionId, group] of [
      [s1, 'mg-root'],
      [s2, 'mg-apps'],
      [outside, undefined],
    ] as const) {
      fleet.moveSubscription(subscriptionId, group);
      fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'vm-1' });
      fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'vm-2', powerState: 'deallocated' });
    }
    Object.assign(process.env, testSettings(emulator.url), {
      SUBSCRIPTION_IDS: '',
      WATCH_MANAGEMENT_GROUP: 'mg-root',
    });
    ctx = await appContext(loadConfig);
  });
  afterAll(async () => {
    delete process.env['WATCH_MANAGEMENT_GROUP'];
    await emulator.close();
  });

  it('the timer enqueues the subscriptions under the group at any depth, and only those, marking them for backfill', async () => {
    expect(await runTimer()).toEqual([s1, s2]);

    const rows = await ctx.coverage.list();
    expect(rows.map((r) => [r.subscriptionId, r.presence, r.backfill, r.managementGroupId])).toEqual([
      [s1, 'present', 'pending', 'mg-root'],
      [s2, 'present', 'pending', 'mg-root'],
    ]);
  });

  it('records each complete reconcile in coverage', async () => {
    for (const subscriptionId of [s1, s2])
      await expect(
        reconcileSubscription({ subscriptionId }, invocation('reconcileSubscription')),
      ).resolves.toMatchObject({
        complete: true,
        new: 2,
      });

    const row = await ctx.coverage.get(s1);
    expect(row).toMatchObject({ lastOutcome: 'complete', lastError: undefined });
    expect(row?.lastCompleteAt).toBeGreaterThan(0);
  });

  it('notices a subscription created under the group, and marks it for backfill', async () => {
    emulator.fleet.moveSubscription(s3, 'mg-apps');
    emulator.fleet.addVm({ subscriptionId: s3, resourceGroup: 'rg', name: 'vm-3' });

    expect(await runTimer()).toEqual([s1, s2, s3]);
    expect(await ctx.coverage.get(s3)).toMatchObject({ presence: 'present', backfill: 'pending' });
  });

  it('reports lost access (403) and a long throttle without deleting a VM or stalling', async () => {
    emulator.faults.subscription(s1, { mode: 'forbidden' });
    emulator.faults.subscription(s2, { mode: 'throttled', retryAfterInSeconds: 1200 });
    const startedAt = Date.now();

    const forbidden = await reconcileSubscription(
      { subscriptionId: s1 },
      invocation('reconcileSubscription'),
    );
    const throttled = await reconcileSubscription(
      { subscriptionId: s2 },
      invocation('reconcileSubscription'),
    );
    const healthy = await reconcileSubscription({ subscriptionId: s3 }, invocation('reconcileSubscription'));

    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(forbidden).toMatchObject({ complete: false, deleted: 0 });
    expect(throttled).toMatchObject({ complete: false, deleted: 0 });
    expect(healthy).toMatchObject({ complete: true, new: 1 });
    expect(await ctx.coverage.get(s1)).toMatchObject({ lastOutcome: 'forbidden' });
    expect((await ctx.coverage.get(s1))?.lastError).toContain('403 AuthorizationFailed');
    expect(await ctx.coverage.get(s2)).toMatchObject({ lastOutcome: 'throttled', retryAfterInMs: 1_200_000 });
    for await (const page of ctx.store.listCurrent(s1))
      expect(page.map((row) => row.state).sort()).toEqual([PowerState.deallocated, PowerState.running]);
  });

  it('marks a vanished subscription gone and notFound, its VMs kept as they were', async () => {
    emulator.faults.subscription(s1, { mode: 'vanished' });

    expect(await runTimer()).toEqual([s2, s3]);
    const summary = await reconcileSubscription({ subscriptionId: s1 }, invocation('reconcileSubscription'));

    expect(summary).toMatchObject({ complete: false, deleted: 0 });
    expect(await ctx.coverage.get(s1)).toMatchObject({ presence: 'gone', lastOutcome: 'notFound' });
    const states: string[] = [];
    for await (const page of ctx.store.listCurrent(s1)) states.push(...page.map((row) => String(row.state)));
    expect(states.sort()).toEqual([PowerState.deallocated, PowerState.running]);
  });

  it('brings a subscription back (backfill pending again) when it returns under the group', async () => {
    await ctx.coverage.merge(s1, { backfill: 'done' });
    emulator.faults.subscription(s1, undefined);

    expect(await runTimer()).toEqual([s1, s2, s3]);
    expect(await ctx.coverage.get(s1)).toMatchObject({
      presence: 'present',
      backfill: 'pending',
      goneAt: undefined,
    });
  });

  it('notes the last event received per subscription', async () => {
    const at = Date.now();
    await vmEvents(
      {
        id: 'e-1',
        topic: `/subscriptions/${s3}`,
        subject: `/subscriptions/${s3}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-3`,
        eventType: 'Microsoft.Resources.ResourceActionSuccess',
        eventTime: new Date(at).toISOString(),
        dataVersion: '2',
        data: {
          operationName: 'Microsoft.Compute/virtualMachines/start/action',
          resourceUri: `/subscriptions/${s3}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-3`,
          status: 'Succeeded',
        },
      } as never,
      invocation('vmEvents'),
    );

    expect((await ctx.coverage.get(s3))?.lastEventAt).toBeGreaterThanOrEqual(at - 1000);
  });

  it('marks a subscription whose first event came before its first discovery as appeared (backfill pending)', async () => {
    const s4 = '10000000-0000-0000-0000-000000000004';
    emulator.fleet.moveSubscription(s4, 'mg-apps');
    await ctx.eventArrivals.note(s4, Date.now());

    expect(await runTimer()).toContain(s4);
    expect(await ctx.coverage.get(s4)).toMatchObject({ presence: 'present', backfill: 'pending' });
    expect((await ctx.coverage.get(s4))?.firstSeenAt).toBeGreaterThan(0);
    emulator.fleet.moveSubscription(s4, undefined);
    await runTimer();
  });

  it('marks a message poisoned, with the reason, on its last delivery', async () => {
    const deps = { ...ctx, log: silentLogger };
    await recordReconcileFailure(deps, s2, new Error('table unavailable'), 3);
    expect(await ctx.coverage.get(s2)).toMatchObject({ lastOutcome: 'failed', poisonedAt: undefined });

    await recordReconcileFailure(deps, s2, new Error('table unavailable'), 5);
    expect(await ctx.coverage.get(s2)).toMatchObject({
      lastOutcome: 'poisoned',
      poisonReason: 'table unavailable',
    });
  });

  it('vm-timeline coverage and GET /api/coverage report each subscription: last complete run, last event, backfill, errors', async () => {
    const { cli, text, response } = await coverageViews(ctx);

    const report = JSON.parse(cli.stdout) as {
      subscriptions: { subscriptionId: string; [k: string]: unknown }[];
      totals: Record<string, number>;
    };
    expect(response.status).toBe(200);
    expect((response.jsonBody as typeof report).subscriptions).toEqual(report.subscriptions);
    const bySub = new Map(report.subscriptions.map((r) => [r.subscriptionId, r]));
    expect(bySub.get(s3)).toMatchObject({
      presence: 'present',
      lastOutcome: 'complete',
      eventWiring: 'receiving',
    });
    expect(bySub.get(s2)).toMatchObject({
      lastOutcome: 'poisoned',
      poisonReason: 'table unavailable',
      eventWiring: 'none',
    });
    expect(bySub.get(s1)).toMatchObject({ backfill: 'pending', lastOutcome: 'notFound' });
    expect(typeof bySub.get(s3)?.['lastCompleteReconcileAt']).toBe('string');
    expect(report.totals).toMatchObject({ present: 3, gone: 1, complete: 1, attention: 2 });
    expect(cli.code).toBe(1);
    expect(text.stdout).toContain('present: 3, gone: 1, complete: 1, attention: 2');
    expect(text.stdout).toMatch(new RegExp(`${s2}\\s+present.*poisoned.*table unavailable`));
  });
});
