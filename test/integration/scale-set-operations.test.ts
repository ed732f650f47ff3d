import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import {
  backfillSubscriptions,
  readRecentActivityLog,
  type BackfillDependencies,
} from '../../src/app/backfill';
import { ingestEvent } from '../../src/app/ingest-event';
import type { AppContext } from '../../src/composition';
import type { Segment } from '../../src/domain/segments';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { EmulatedPowerState } from '../../kit/emulator/arm-fleet';
import { dropTables, testContext, testSettings } from '../support/app';
import { eventGridEvent } from '../support/events';

const sub = '00000000-0000-0000-0000-00000005ca1e';
const minute = 60_000;

/**
 * A scale set of four instances, all started at `t0` (per-instance events); at `s` a scale-set-wide
 * deallocate of instances 0 and 1 begins, and it succeeds at `e` (its Event Grid event's time). Its
 * Activity Log records (Started, Accepted, Succeeded) name the scale set, with the event's correlation id,
 * and become queryable 5 minutes after each.
 */
describe('scale-set-wide operations in the Activity Log (emulator over HTTP, Azurite)', () => {
  let arm: ArmEmulator;
  let clock = 0;
  const contexts: AppContext[] = [];
  const t0 = Date.now() - 3 * 60 * minute;
  const s = t0 + 30 * minute;
  const e = s + 90_000;
  let scaleSetId = '';
  let instances: string[] = [];

  beforeAll(async () => {
    clock = t0;
    arm = await startArmEmulator({ now: () => clock, activityLogPageSize: 2 });
    const set = arm.fleet.addScaleSet({
      subscriptionId: sub,
      resourceGroup: 'rg-pool',
      name: 'pool',
      capacity: 4,
      instance: { powerState: EmulatedPowerState.running },
    });
    scaleSetId = set.id;
    instances = arm.fleet.listScaleSetInstances(set.id).map((vm) => vm.id);
    for (const id of instances.slice(0, 2)) arm.fleet.setPowerState(id, EmulatedPowerState.deallocated);
    arm.fleet.activityLog.addOperation({
      resourceId: set.id,
      operation: 'deallocate',
      startedAt: s,
      durationInMs: e - s,
      correlationId: 'corr-pool-deallocate',
      lagInMs: 5 * minute,
    });
  });
  afterAll(async () => {
    for (const ctx of contexts) await dropTables(ctx);
    await arm.close();
  });

  async function freshApp(): Promise<{ ctx: AppContext; deps: BackfillDependencies }> {
    const ctx = await testContext(testSettings(arm.url), { now: () => clock });
    contexts.push(ctx);
    clock = t0;
    for (const [i, id] of instances.entries())
      await ingestEvent(
        eventGridEvent({
          id: `start-${i}`,
          resourceUri: id,
          operationName: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/start/action',
          type: 'ResourceActionSuccess',
          time: new Date(t0).toISOString(),
        }),
        ctx,
      );
    return { ctx, deps: { ...ctx, reader: ctx.management, log: silentLogger } };
  }

  /** The operation's own Event Grid event (its correlation id is `corr-<id>`): the app re-lists the set. */
  const scaleSetEvent = () =>
    eventGridEvent({
      id: 'pool-deallocate',
      resourceUri: scaleSetId,
      operationName: 'Microsoft.Compute/virtualMachineScaleSets/deallocate/action',
      type: 'ResourceActionSuccess',
      time: new Date(e).toISOString(),
    });

  const timelines = async (ctx: AppContext): Promise<Segment[][]> =>
    Promise.all(instances.map(async (id) => (await ctx.store.getTimeline(id))?.segments ?? []));

  /** Recurring reads every few minutes since before t0, as the timer runs them (gap-free coverage). */
  async function recurringReadAt(deps: BackfillDependencies, at: number) {
    clock = at;
    return readRecentActivityLog(sub, deps);
  }

  let inOrder: Segment[][] = [];

  it('event, then the records: the included instances narrow to the operation, the others stay', async () => {
    const { ctx, deps } = await freshApp();
    await recurringReadAt(deps, t0 + 5 * minute);
    clock = e + 10_000;
    // Every instance's state is recorded; only instances 0 and 1 changed.
    expect((await ingestEvent(scaleSetEvent(), ctx)).recorded).toBe(4);
    // Before the records: the honest window reaches back to the last sighting (t0); the truth s is inside.
    for (const id of instances.slice(0, 2))
      expect((await ctx.store.getTimeline(id))?.segments.at(-1)).toMatchObject({
        state: 'deallocated',
        start: e + 10_000,
        startWindowFrom: t0,
      });
    // Records are queryable 5 minutes late; the log is known complete 20 minutes behind the read.
    const early = await recurringReadAt(deps, e + 6 * minute);
    expect(early.scaleSetRecords).toBe(3);
    expect(early.sharpened).toBe(0);
    const read = await recurringReadAt(deps, e + 25 * minute);
    expect(read.sharpened).toBe(2);
    inOrder = await timelines(ctx);
    for (const segments of inOrder.slice(0, 2))
      expect(segments.map((x) => [x.state, x.start, x.startWindowFrom, x.source])).toEqual([
        ['running', t0, undefined, 'event'],
        ['deallocating', s, undefined, 'activityLog'],
        ['deallocated', e, undefined, 'activityLog'],
      ]);
    for (const segments of inOrder.slice(2))
      expect(segments.map((x) => [x.state, x.start, x.end])).toEqual([['running', t0, undefined]]);
    expect(inOrder[0]?.[1]).toMatchObject({
      operation: 'Microsoft.Compute/virtualMachineScaleSets/deallocate/action',
      billing: 'notBilled',
    });

    const again = await recurringReadAt(deps, e + 28 * minute);
    expect(again).toMatchObject({ observations: 0, sharpened: 0 });
    expect(await timelines(ctx)).toEqual(inOrder);
  });

  it('the records, then the event (a late delivery): the same timelines', async () => {
    const { ctx, deps } = await freshApp();
    await recurringReadAt(deps, t0 + 5 * minute);
    expect((await recurringReadAt(deps, e + 6 * minute)).sharpened).toBe(0);
    clock = e + 7 * minute;
    // Every instance's state is recorded; only instances 0 and 1 changed.
    expect((await ingestEvent(scaleSetEvent(), ctx)).recorded).toBe(4);
    // The next read sees the operation again (reads overlap by the log's lag) and narrows the change.
    expect((await recurringReadAt(deps, e + 27 * minute)).sharpened).toBe(2);
    expect(await timelines(ctx)).toEqual(inOrder);
  });

  it('the backfill of those days instead of the recurring read: the same timelines', async () => {
    const { ctx, deps } = await freshApp();
    clock = e + 10_000;
    await ingestEvent(scaleSetEvent(), ctx);
    clock = e + 40 * minute;
    const [summary] = await backfillSubscriptions([sub], 1, deps);
    expect(summary).toMatchObject({ scaleSetRecords: 3, sharpened: 2 });
    expect(await timelines(ctx)).toEqual(inOrder);
    const [second] = await backfillSubscriptions([sub], 1, deps);
    expect(second).toMatchObject({ observations: 0, sharpened: 0 });
    expect(await timelines(ctx)).toEqual(inOrder);
  });

  it('a change recorded after the reads stopped returning the records is still narrowed within the hour', async () => {
    const { ctx, deps } = await freshApp();
    await recurringReadAt(deps, t0 + 5 * minute);
    for (let at = t0 + 10 * minute; at < e; at += 5 * minute) await recurringReadAt(deps, at);
    clock = e + 2 * minute;
    await ingestEvent(scaleSetEvent(), ctx);
    // Every 5 minutes: up to e + 21 min the log is not known complete past the re-list (e + 2 min); from
    // e + 26 min the reads no longer return the operation's records (they start 20 minutes before the last).
    const sharpened: number[] = [];
    for (const at of [6, 11, 16, 21, 26].map((m) => e + m * minute))
      sharpened.push((await recurringReadAt(deps, at)).sharpened);
    expect(sharpened).toEqual([0, 0, 0, 0, 2]);
    expect(await timelines(ctx)).toEqual(inOrder);
  });

  it('a gap in the recurring reads leaves the window as it is (the log is not known complete over it)', async () => {
    const { ctx, deps } = await freshApp();
    clock = e + 10_000;
    await ingestEvent(scaleSetEvent(), ctx);
    // The first read ever reaches back one hour only: not to t0, where the window begins.
    expect((await recurringReadAt(deps, e + 40 * minute)).sharpened).toBe(0);
    expect((await ctx.store.getTimeline(instances[0] ?? ''))?.segments.at(-1)).toMatchObject({
      state: 'deallocated',
      startWindowFrom: t0,
    });
  });
});
