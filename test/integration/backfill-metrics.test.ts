/**
 * The backfill's stops known only within a window, narrowed by the availability metric: the ARM emulator's
 * Activity Log (operations and Resource Health records) and the metrics batch emulator over HTTP, Azurite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { backfillSubscriptions, type BackfillDependencies } from '../../src/app/backfill';
import { reconcileSubscription } from '../../src/app/reconcile';
import type { AppContext } from '../../src/composition';
import { describeChange } from '../../src/domain/health';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { EmulatedFleet, type EmulatedPowerState, type PowerChangeBy } from '../../kit/emulator/arm-fleet';
import { startMetricsEmulator, type MetricsEmulator } from '../../kit/emulator/metrics-emulator';
import { dropTables, testContext, testSettings } from '../support/app';

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
const sub = '00000000-0000-0000-0000-0000000b0f14';

describe('Backfill: guest stops narrowed by the availability metric (emulators over HTTP, Azurite)', () => {
  const now = Math.floor(Date.now() / minute) * minute;
  let clock = now;
  const fleet = new EmulatedFleet(() => clock);
  let arm: ArmEmulator;
  let metrics: MetricsEmulator;
  let ctx: AppContext;
  let deps: BackfillDependencies;
  const ids: Record<'annotated' | 'silent' | 'firstSighting' | 'controlPlane', string> = {
    annotated: '',
    silent: '',
    firstSighting: '',
    controlPlane: '',
  };
  /** True stop times. */
  const truth = { annotated: 0, firstSighting: 0 };

  const at = (ms: number, fn: () => void) => {
    clock = ms;
    fn();
    clock = now;
  };
  const power = (id: string, ms: number, state: EmulatedPowerState, by: PowerChangeBy) =>
    at(ms, () => fleet.setPowerState(id, state, { by }));
  const operation = (resourceId: string, op: 'start' | 'deallocate' | 'powerOff', startedAt: number) =>
    fleet.activityLog.addOperation({ resourceId, operation: op, startedAt, durationInMs: 40_000 });

  beforeAll(async () => {
    const dayStart = Math.floor(now / day) * day - 3 * day;
    for (const name of Object.keys(ids) as (keyof typeof ids)[])
      at(dayStart, () => {
        ids[name] = fleet.addVm({
          subscriptionId: sub,
          resourceGroup: 'rg-guest',
          name,
          location: 'westeurope',
          powerState: 'deallocated',
        }).id;
      });
    // Started at 08:00 each; the guest shuts two down, a third is shut down and never annotated.
    for (const id of Object.values(ids)) {
      operation(id, 'start', dayStart + 8 * hour);
      power(id, dayStart + 8 * hour + 40_000, 'running', 'controlPlane');
    }
    truth.annotated = dayStart + 10 * hour + 17 * minute + 20_000;
    power(ids.annotated, truth.annotated, 'stopped', 'guest');
    // Resource Health wrote its record 14 minutes after the shutdown; a deallocate followed at 18:00.
    fleet.activityLog.addHealthRecord({
      resourceId: ids.annotated,
      annotationName: 'VirtualMachineStoppedInternally',
      at: truth.annotated + 14 * minute,
    });
    operation(ids.annotated, 'deallocate', dayStart + 18 * hour);
    power(ids.annotated, dayStart + 18 * hour, 'deallocated', 'controlPlane');
    // No record at all: the log says running, then a deallocate; nothing may invent the stop.
    power(ids.silent, dayStart + 11 * hour + 5 * minute, 'stopped', 'guest');
    operation(ids.silent, 'deallocate', dayStart + 18 * hour);
    power(ids.silent, dayStart + 18 * hour, 'deallocated', 'controlPlane');
    // Still stopped today: the reconciler's first sighting is all the app knows until the backfill.
    truth.firstSighting = now - 5 * hour - 42 * minute - 10_000;
    power(ids.firstSighting, truth.firstSighting, 'stopped', 'guest');
    // A stop through Azure with its operation in the log: exact already, no read.
    operation(ids.controlPlane, 'powerOff', dayStart + 12 * hour);
    power(ids.controlPlane, dayStart + 12 * hour, 'stopped', 'controlPlane');

    arm = await startArmEmulator({ fleet, now: () => clock });
    metrics = await startMetricsEmulator(fleet);
    ctx = await testContext(
      { ...testSettings(arm.url), METRICS_ENDPOINT: metrics.url },
      { now: () => clock },
    );
    deps = { ...ctx, reader: ctx.management, log: silentLogger };
  });
  afterAll(async () => {
    await dropTables(ctx);
    await arm.close();
    await metrics.close();
  });

  it('places guest stops to the minute with one batched read per window span, never invents one, and a second run reads nothing', async () => {
    // The reconciler runs first (deployment): it sees every VM for the first time, without a window.
    await reconcileSubscription(sub, ctx, { sleep: () => Promise.resolve() });
    expect(metrics.requests.total).toBe(0);

    const [summary] = await backfillSubscriptions([sub], 7, deps);

    expect(summary?.error).toBeUndefined();
    // Two stops to narrow, three days apart: one read each (a read spans at most 23 hours), all counted.
    expect(summary?.metricReads).toBe(2);
    expect(metrics.requests.total).toBe(2);
    expect(summary?.narrowed).toBe(2);

    for (const [name, trueAt] of [
      ['annotated', truth.annotated],
      ['firstSighting', truth.firstSighting],
    ] as const) {
      const segments = (await ctx.store.getTimeline(ids[name]))?.segments ?? [];
      const stopped = segments.find((s) => s.state === 'stopped');
      expect(stopped?.reason).toMatchObject({ source: 'availabilityMetric', name: 'GuestShutdown' });
      const from = stopped?.startWindowFrom ?? Number.NaN;
      const to = stopped?.start ?? Number.NaN;
      // Honest bounds: the truth inside; to the minute.
      expect(trueAt).toBeGreaterThanOrEqual(from);
      expect(trueAt).toBeLessThanOrEqual(to);
      expect(to - from).toBeLessThanOrEqual(2 * minute);
      expect(describeChange({ ...stopped, start: to })).toMatch(
        /^shut down from inside the guest OS before \d\d:\d\d UTC \(VM availability metric/,
      );
    }
    // The annotated stop stays billed, and is followed by the deallocate of the log.
    const annotated = (await ctx.store.getTimeline(ids.annotated))?.segments ?? [];
    expect(annotated.map((s) => s.state).slice(-4)).toEqual([
      'running',
      'stopped',
      'deallocating',
      'deallocated',
    ]);
    // Without a record, no stop appears: running until the deallocate.
    const silent = (await ctx.store.getTimeline(ids.silent))?.segments ?? [];
    expect(silent.some((s) => s.state === 'stopped')).toBe(false);
    // A stop an operation explains keeps its operation and gets no metric reason.
    const controlPlane = (await ctx.store.getTimeline(ids.controlPlane))?.segments ?? [];
    const stoppedByOperation = controlPlane.find((s) => s.state === 'stopped');
    expect(stoppedByOperation?.operation).toMatch(/powerOff|deallocate|virtualMachines/i);
    expect(stoppedByOperation?.reason).toBeUndefined();

    const [again] = await backfillSubscriptions([sub], 7, deps);
    expect(again?.metricReads).toBe(0);
    expect(metrics.requests.total).toBe(2);
  });
});
