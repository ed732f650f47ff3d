import { odata } from '@azure/data-tables';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createArmClient, type ArmManagementClient } from '../../src/adapters/arm';
import { observationFromRow, rowPrefix } from '../../src/adapters/codecs/timeline';
import { ingestEvent } from '../../src/app/ingest-event';
import type { ReconcileLease, ReconcileRunStore } from '../../src/app/ports';
import {
  anotherRunInProgress,
  reconcileAll,
  reconcileSubscription,
  type ReconcileOptions,
  type ReconcileSummary,
} from '../../src/app/reconcile';
import type { AppContext } from '../../src/composition';
import type { Observation } from '../../src/domain/observation';
import { vmKey } from '../../src/domain/resource-id';
import { deriveSegments } from '../../src/domain/segments';
import {
  ArmRequestKind,
  startArmEmulator,
  vmResourceId,
  type ArmEmulator,
} from '../../kit/emulator/arm-emulator';
import { dropTables, testContext, testSettings } from '../support/app';
import { subscriptionId as sub, vmEvent } from '../support/events';

const minute = 60_000;

describe('reconcileSubscription against the ARM emulator and Azurite', () => {
  let emulator: ArmEmulator;
  let ctx: AppContext;
  let management: ArmManagementClient;
  let clock: number;
  let deps: AppContext;
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60 * minute;

  const id = (name: string): string => vmResourceId(sub, 'rg-app', name);

  async function reconcileAt(at: number, options: ReconcileOptions = {}): Promise<ReconcileSummary> {
    clock = at;
    return reconcileSubscription(sub, deps, options);
  }

  async function observationsOf(resourceId: string): Promise<Observation[]> {
    const table = ctx.tables.table(ctx.tableNames.timeline);
    const filter = odata`PartitionKey eq ${vmKey(resourceId)} and RowKey ge ${rowPrefix.observation} and RowKey lt ${'o}'}`;
    const result: Observation[] = [];
    for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const o = observationFromRow(row);
      if (o !== undefined) result.push(o);
    }
    return result;
  }

  async function segmentsOf(resourceId: string) {
    return (await ctx.store.getTimeline(resourceId))?.segments ?? [];
  }

  beforeAll(async () => {
    emulator = await startArmEmulator({ pageSize: 2 });
  });
  afterAll(async () => {
    await emulator.close();
  });

  beforeEach(async () => {
    for (const s of emulator.fleet.listSubscriptions()) emulator.fleet.removeSubscription(s.subscriptionId);
    emulator.faults.reset();
    emulator.resetCounters();
    emulator.pageSize = 2;
    for (const name of ['vm0', 'vm1', 'vm2', 'vm3', 'vm4'])
      emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name, tags: { app: name } });
    ctx = await testContext(testSettings(emulator.url));
    management = createArmClient({
      endpoint: emulator.url,
      retryDelayInMs: 10,
      maxRetryDelayInMs: 50,
      maxRetryAfterInMs: 2_000,
    });
    clock = t0;
    deps = { ...ctx, management, now: () => clock };
  });

  afterEach(async () => {
    emulator.faults.reset();
    await dropTables(ctx);
  });

  it('records every listed VM as new, running from the first run, with its details', async () => {
    const summary = await reconcileAt(t0);

    expect(summary).toMatchObject({ new: 5, changed: 0, deleted: 0, complete: true, seen: 5 });
    const current = await ctx.store.getCurrent(id('vm3'));
    expect(current?.state).toBe('running');
    expect(current?.details).toMatchObject({
      vmSize: 'Standard_D2s_v5',
      location: 'westeurope',
      osType: 'Linux',
      priority: 'Regular',
      tags: { app: 'vm3' },
    });
    const segments = await segmentsOf(id('vm3'));
    expect(segments).toEqual([expect.objectContaining({ state: 'running', start: t0, source: 'reconcile' })]);
    expect(segments[0]?.startWindowFrom).toBeUndefined();
  });

  it('records a guest shutdown as stopped (billed) within [previous run start, page time]', async () => {
    await reconcileAt(t0);
    emulator.fleet.setPowerState(id('vm1'), 'stopped');

    const summary = await reconcileAt(t0 + 5 * minute);

    expect(summary).toMatchObject({ changed: 1, new: 0, complete: true });
    expect(await segmentsOf(id('vm1'))).toEqual([
      expect.objectContaining({ state: 'running', start: t0, end: t0 + 5 * minute }),
      expect.objectContaining({
        state: 'stopped',
        billing: 'billed',
        start: t0 + 5 * minute,
        startWindowFrom: t0,
        source: 'reconcile',
      }),
    ]);
  });

  it('writes nothing per VM when nothing changed, and narrows the next window to the last complete run', async () => {
    await reconcileAt(t0);
    const before = ctx.tableRequests.requests;
    const quiet = await reconcileAt(t0 + 5 * minute);
    const tableRequests = ctx.tableRequests.requests - before;
    emulator.fleet.setPowerState(id('vm2'), 'deallocated');
    await reconcileAt(t0 + 10 * minute);

    expect(quiet).toMatchObject({ changed: 0, new: 0, deleted: 0, complete: true });
    // One current-state page, plus the run row (read, lease, release): no per-VM writes.
    expect(tableRequests).toBeLessThanOrEqual(4);
    expect((await segmentsOf(id('vm2')))[1]).toMatchObject({
      state: 'deallocated',
      billing: 'notBilled',
      start: t0 + 10 * minute,
      startWindowFrom: t0 + 5 * minute,
    });
  });

  it('catches missed start and deallocate events', async () => {
    await ingestEvent(vmEvent('vm0', 'deallocate', new Date(t0).toISOString(), 'ev-1'), deps);
    emulator.fleet.setPowerState(id('vm0'), 'running');
    await reconcileAt(t0 + 5 * minute);
    emulator.fleet.setPowerState(id('vm0'), 'deallocated');
    await reconcileAt(t0 + 10 * minute);

    expect(await segmentsOf(id('vm0'))).toEqual([
      expect.objectContaining({ state: 'deallocated', start: t0, end: t0 + 5 * minute, source: 'event' }),
      expect.objectContaining({ state: 'running', start: t0 + 5 * minute, startWindowFrom: t0 }),
      expect.objectContaining({
        state: 'deallocated',
        billing: 'notBilled',
        start: t0 + 10 * minute,
        startWindowFrom: t0 + 5 * minute,
      }),
    ]);
  });

  it('deletes a VM only after a complete listing: a failed page defers it to the next clean run', async () => {
    await reconcileAt(t0);
    emulator.fleet.removeVm(id('vm0'));
    emulator.fleet.setPowerState(id('vm4'), 'stopped');
    emulator.faults.failPage(ArmRequestKind.listVmStatuses, 1, { status: 503 });

    const failed = await reconcileAt(t0 + 5 * minute);

    expect(failed).toMatchObject({ complete: false, deleted: 0 });
    expect((await ctx.store.getCurrent(id('vm0')))?.state).toBe('running');
    // vm4 is on the failed page (vm1 vm2 | vm3 vm4): nothing on it is guessed.
    expect((await ctx.store.getCurrent(id('vm4')))?.state).toBe('running');

    emulator.faults.reset();
    const clean = await reconcileAt(t0 + 10 * minute);

    expect(clean).toMatchObject({ complete: true, deleted: 1, changed: 1 });
    expect(await segmentsOf(id('vm0'))).toEqual([
      expect.objectContaining({ state: 'running', start: t0, end: t0 + 10 * minute }),
      expect.objectContaining({ state: 'deleted', start: t0 + 10 * minute, startWindowFrom: t0 }),
    ]);
    // The incomplete run did not move the mark: vm4's window reaches back to the last complete run.
    expect((await segmentsOf(id('vm4')))[1]).toMatchObject({ state: 'stopped', startWindowFrom: t0 });
  });

  it('never flips a state when the power state is missing, in the listing and in the instance view', async () => {
    await reconcileAt(t0);
    emulator.fleet.setPowerState(id('vm1'), 'stopped');
    emulator.fleet.setPowerStateMissing(id('vm1'), 'all');
    emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name: 'vm5' });
    emulator.fleet.setPowerStateMissing(id('vm5'), 'all');
    emulator.resetCounters();

    const unknown = await reconcileAt(t0 + 5 * minute);

    expect(unknown).toMatchObject({ unknown: 2, changed: 0, new: 0, deleted: 0, complete: true });
    expect(emulator.requests.vmInstanceView).toBe(2);
    expect((await ctx.store.getCurrent(id('vm1')))?.state).toBe('running');
    expect(await ctx.store.getCurrent(id('vm5'))).toBeUndefined();

    // Listing still without it, instance view with it: one read settles it, with a window back to the
    // last run that saw vm1 running (t0), not the run that could not see it.
    emulator.fleet.setPowerStateMissing(id('vm1'), 'list');
    const read = await reconcileAt(t0 + 10 * minute);

    expect(read).toMatchObject({ unknown: 1, changed: 1 });
    expect((await segmentsOf(id('vm1')))[1]).toMatchObject({
      state: 'stopped',
      start: t0 + 10 * minute,
      startWindowFrom: t0,
    });
  });

  it('waits out a short 429 Retry-After and retries a 5xx, and the run is still complete', async () => {
    await reconcileAt(t0);
    emulator.fleet.setPowerState(id('vm2'), 'stopped');
    emulator.faults.throttleNext(1, { retryAfterInSeconds: 1, kinds: [ArmRequestKind.listVmStatuses] });
    emulator.faults.failNext(1, { status: 500, kinds: [ArmRequestKind.listScaleSets] });

    const summary = await reconcileAt(t0 + 5 * minute);

    expect(summary).toMatchObject({ complete: true, changed: 1, throttled: 1 });
    expect(emulator.requests.throttled).toBe(1);
    expect(emulator.requests.failed).toBe(1);
  });

  it('stops at a throttle beyond the allowed wait: no deletions, no more listing requests', async () => {
    await reconcileAt(t0);
    emulator.fleet.removeVm(id('vm4'));
    emulator.faults.throttleNext(1, { retryAfterInSeconds: 1200, kinds: [ArmRequestKind.listVmStatuses] });
    emulator.resetCounters();

    const summary = await reconcileAt(t0 + 5 * minute);

    expect(summary).toMatchObject({ complete: false, deleted: 0, throttled: 1 });
    expect(emulator.requests.total).toBe(1);
    expect((await ctx.store.getCurrent(id('vm4')))?.state).toBe('running');
  });

  it('gives up on a listing after repeated 5xx without deleting or inventing changes', async () => {
    await reconcileAt(t0);
    emulator.fleet.removeVm(id('vm4'));
    emulator.faults.failNext(10, { status: 503, kinds: [ArmRequestKind.listVmStatuses] });

    const summary = await reconcileAt(t0 + 5 * minute);

    expect(summary).toMatchObject({ complete: false, deleted: 0, changed: 0 });
    expect((await ctx.store.getCurrent(id('vm4')))?.state).toBe('running');
  });

  it('lets only one of two simultaneous runs work on a subscription', async () => {
    await reconcileAt(t0);
    emulator.fleet.setPowerState(id('vm3'), 'stopped');
    clock = t0 + 5 * minute;

    const both = await Promise.all([reconcileSubscription(sub, deps), reconcileSubscription(sub, deps)]);

    expect(both.filter((s) => s.skipped === anotherRunInProgress)).toHaveLength(1);
    expect(both.reduce((n, s) => n + s.changed, 0)).toBe(1);
    // The lease is freed at the end: the next run works.
    expect((await reconcileAt(t0 + 10 * minute)).skipped).toBeUndefined();
  });

  it('records a change once even when two runs overlap without the lease', async () => {
    await reconcileAt(t0);
    emulator.fleet.setPowerState(id('vm3'), 'stopped');
    // A run store that always grants the lease (as after an expired lease) and shares the real mark.
    const lease = await ctx.runs.acquire(sub, 'probe', t0 + minute, t0 + minute);
    await ctx.runs.release(lease!, { endedAt: t0 + minute, complete: false });
    const open: ReconcileRunStore = {
      acquire: (subscriptionId, runId): Promise<ReconcileLease> =>
        Promise.resolve({ ...lease!, subscriptionId, runId, etag: '*' }),
      release: () => Promise.resolve(true),
    };

    const [a, b] = await Promise.all([
      reconcileSubscription(sub, { ...deps, runs: open, now: () => t0 + 5 * minute }),
      reconcileSubscription(sub, { ...deps, runs: open, now: () => t0 + 6 * minute }),
    ]);

    expect(a.changed + b.changed).toBe(1);
    const stopped = (await observationsOf(id('vm3'))).filter((o) => o.state === 'stopped');
    expect(stopped).toHaveLength(1);
    expect(await segmentsOf(id('vm3'))).toHaveLength(2);
  });

  it('keeps one consistent timeline when events and reconciles interleave on one VM', async () => {
    const at = (m: number): string => new Date(t0 + m * minute).toISOString();
    await reconcileAt(t0);
    await ingestEvent(vmEvent('vm2', 'powerOff', at(2), 'e1'), deps);
    emulator.fleet.setPowerState(id('vm2'), 'stopped');
    await reconcileAt(t0 + 5 * minute);
    // A guest start no event announces, then a deallocate whose event arrives only after the next run.
    emulator.fleet.setPowerState(id('vm2'), 'running');
    await reconcileAt(t0 + 10 * minute);
    emulator.fleet.setPowerState(id('vm2'), 'deallocated');
    await reconcileAt(t0 + 15 * minute);
    await ingestEvent(vmEvent('vm2', 'deallocate', at(12), 'e2'), deps);
    await ingestEvent(vmEvent('vm2', 'powerOff', at(2), 'e1'), deps);
    emulator.fleet.setPowerState(id('vm2'), 'running');
    await ingestEvent(vmEvent('vm2', 'start', at(17), 'e3'), deps);
    await reconcileAt(t0 + 20 * minute);

    const segments = await segmentsOf(id('vm2'));
    expect(segments).toEqual(deriveSegments(await observationsOf(id('vm2'))));
    expect(segments.map((s) => [s.state, s.start])).toEqual([
      ['running', t0],
      ['stopped', t0 + 2 * minute],
      ['running', t0 + 10 * minute],
      ['deallocated', t0 + 12 * minute],
      ['running', t0 + 17 * minute],
    ]);
    expect((await ctx.store.getCurrent(id('vm2')))?.state).toBe('running');
  });

  it('refreshes details hourly, and at once for new VMs', async () => {
    await reconcileAt(t0);
    emulator.fleet.updateVm(id('vm0'), { tags: { app: 'renamed' }, vmSize: 'Standard_E8s_v5' });
    emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name: 'vm9', priority: 'Spot' });
    emulator.resetCounters();

    const soon = await reconcileAt(t0 + 10 * minute);

    expect(soon).toMatchObject({ new: 1, detailsUpdated: 2 });
    expect((await ctx.store.getCurrent(id('vm9')))?.details).toMatchObject({ priority: 'Spot' });
    expect(emulator.requests.listVms).toBeGreaterThan(0);

    emulator.fleet.updateVm(id('vm1'), { tags: { app: 'later' } });
    emulator.resetCounters();
    const quiet = await reconcileAt(t0 + 20 * minute);
    expect(quiet.detailsUpdated).toBe(0);
    expect(emulator.requests.listVms).toBe(0);

    const hourly = await reconcileAt(t0 + 75 * minute);
    expect(hourly.detailsUpdated).toBe(1);
    expect((await ctx.store.getCurrent(id('vm1')))?.details?.tags).toEqual({ app: 'later' });
  });

  it('keeps tags named __proto__ and constructor as the management API lists them', async () => {
    const tags = JSON.parse('{"__proto__":"p","constructor":"c","team":"web"}') as Record<string, string>;
    emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name: 'proto', tags });
    await reconcileAt(t0);
    const stored = (await ctx.store.getCurrent(id('proto')))?.details?.tags ?? {};
    expect(Object.entries(stored)).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['team', 'web'],
    ]);
    // A VM without such tags has none: not Object.prototype's `constructor`.
    expect(Object.hasOwn((await ctx.store.getCurrent(id('vm1')))?.details?.tags ?? {}, 'constructor')).toBe(
      false,
    );
  });

  it('reconciles uniform scale-set instances: new, changed and deleted', async () => {
    const scaleSet = emulator.fleet.addScaleSet({
      subscriptionId: sub,
      resourceGroup: 'rg-app',
      name: 'ss',
      capacity: 3,
      tags: { pool: 'web' },
    });
    const instance = (n: number): string => `${scaleSet.id}/virtualMachines/${n}`;
    const first = await reconcileAt(t0);
    expect(first.new).toBe(8);
    expect((await ctx.store.getCurrent(instance(1)))?.details?.tags).toEqual({ pool: 'web' });

    emulator.fleet.setPowerState(instance(1), 'deallocated');
    emulator.fleet.removeVm(instance(2));
    const second = await reconcileAt(t0 + 5 * minute);

    expect(second).toMatchObject({ changed: 1, deleted: 1, complete: true });
    expect((await ctx.store.getCurrent(instance(1)))?.state).toBe('deallocated');
    expect((await segmentsOf(instance(2)))[1]).toMatchObject({ state: 'deleted', startWindowFrom: t0 });
  });

  it('stops cleanly near its time budget and the next run carries on', async () => {
    await reconcileAt(t0);
    emulator.fleet.removeVm(id('vm0'));
    emulator.fleet.setPowerState(id('vm1'), 'stopped');
    // Each clock read advances 1 s; an 8 s budget does not fit the whole listing.
    let ticking = t0 + 5 * minute;
    const slow = await reconcileSubscription(
      sub,
      { ...deps, now: () => (ticking += 1000) },
      { budgetInMs: 8_000 },
    );

    expect(slow).toMatchObject({ stoppedEarly: true, complete: false, deleted: 0 });
    const next = await reconcileAt(t0 + 10 * minute);
    expect(next).toMatchObject({ complete: true, deleted: 1 });
    expect((await ctx.store.getCurrent(id('vm1')))?.state).toBe('stopped');
  });

  it('reconcileAll lists the subscriptions when none is configured', async () => {
    emulator.fleet.addVm({
      subscriptionId: '00000000-0000-0000-0000-0000000000bb',
      resourceGroup: 'rg',
      name: 'other',
    });

    const summaries = await reconcileAll(deps);

    expect(summaries.map((s) => [s.subscriptionId, s.new])).toEqual([
      [sub, 5],
      ['00000000-0000-0000-0000-0000000000bb', 1],
    ]);
  });
});

describe('reconcile pacing', () => {
  let emulator: ArmEmulator;
  let ctx: AppContext;

  beforeAll(async () => {
    emulator = await startArmEmulator({
      pageSize: 1,
      rateLimits: { highCostGet: { capacity: 6, refillPerMinute: 1 } },
    });
  });
  afterAll(async () => {
    await emulator.close();
    await dropTables(ctx);
  });

  it('waits before the next page when few HighCostGet requests are left', async () => {
    for (const name of ['a', 'b', 'c', 'd'])
      emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg', name });
    ctx = await testContext(testSettings(emulator.url));
    const waits: number[] = [];

    const summary = await reconcileSubscription(sub, ctx, {
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
      pacingThreshold: 4,
    });

    expect(summary.complete).toBe(true);
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.every((ms) => ms > 0)).toBe(true);
    expect(summary.pacedInMs).toBe(waits.reduce((a, b) => a + b, 0));
  });
});
