/**
 * The coverage report's backfill column follows the backfill's own progress (VmBackfill): each slice run
 * of the `backfillSlice` queue function moves it from pending to running (with the day reached) to done,
 * or to failed (a slice refused with 403, a slice message failing on its last delivery).
 */
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillSlice } from '../../functions/backfillSlice';
import { planBackfill, type BackfillMessage } from '../../src/app/backfill';
import { coverageReport } from '../../src/app/coverage';
import { appContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testSettings } from '../support/app';
import { runCli } from '../support/cli';

const healthy = '30000000-0000-0000-0000-000000000001';
const throttled = '30000000-0000-0000-0000-000000000002';
const refused = '30000000-0000-0000-0000-000000000003';
const byCli = '30000000-0000-0000-0000-000000000004';
const unwatched = '30000000-0000-0000-0000-000000000005';

function invocation(dequeueCount?: number): InvocationContext {
  return new InvocationContext({
    functionName: 'backfillSlice',
    invocationId: 'test-backfillSlice',
    logHandler: () => {},
    triggerMetadata: dequeueCount === undefined ? {} : { dequeueCount },
  });
}

describe('coverage: the backfill column follows the backfill progress', () => {
  let emulator: ArmEmulator;
  let ctx: AppContext;
  const plans = new Map<string, BackfillMessage[]>();

  beforeAll(async () => {
    emulator = await startArmEmulator();
    Object.assign(process.env, testSettings(emulator.url), {
      SUBSCRIPTION_IDS: `${healthy},${throttled},${refused}`,
    });
    ctx = await appContext(loadConfig);
    for (const subscriptionId of [healthy, throttled, refused]) {
      emulator.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'vm-1' });
      // As the reconcile timer does when a subscription appears.
      await ctx.coverage.merge(subscriptionId, {
        presence: 'present',
        firstSeenAt: Date.now(),
        backfill: 'pending',
        backfillChangedAt: Date.now(),
      });
      plans.set(subscriptionId, await planBackfill(subscriptionId, 20, ctx));
    }
  });
  afterAll(async () => {
    delete process.env['SUBSCRIPTION_IDS'];
    await emulator.close();
  });

  it('pending, then running with the day reached after each slice, then done', async () => {
    const slices = plans.get(healthy) ?? [];
    const n = slices.length; // 20 days in week slices cut at week boundaries: 3 or 4
    expect(n).toBeGreaterThanOrEqual(3);
    expect((await ctx.coverage.get(healthy))?.backfill).toBe('pending');

    await backfillSlice(slices[0], invocation(1));
    const first = await ctx.coverage.get(healthy);
    expect(first).toMatchObject({ backfill: 'running', backfillSlices: n, backfillSlicesDone: 1 });
    expect(first?.backfillReachedAt).toBe(Date.parse(slices[0]?.from ?? ''));

    // Slices may run out of order: the day reached is where the read has no gap from the plan's end.
    await backfillSlice(slices[n - 1], invocation(1));
    const gap = await ctx.coverage.get(healthy);
    expect(gap).toMatchObject({ backfill: 'running', backfillSlicesDone: 2 });
    expect(gap?.backfillReachedAt).toBe(Date.parse(slices[0]?.from ?? ''));

    let report = await coverageReport(ctx);
    const running = report.subscriptions.find((r) => r.subscriptionId === healthy);
    expect(running?.backfillProgress).toEqual({
      slices: n,
      slicesDone: 2,
      reachedAt: slices[0]?.from,
      reachedDay: slices[0]?.from.slice(0, 10),
      error: null,
    });

    for (const slice of slices.slice(1, n - 1)) {
      await backfillSlice(slice, invocation(1));
      expect((await ctx.coverage.get(healthy))?.backfill).toBe(slice === slices[n - 2] ? 'done' : 'running');
    }
    expect(await ctx.coverage.get(healthy)).toMatchObject({
      backfill: 'done',
      backfillSlicesDone: n,
      backfillReachedAt: Date.parse(slices[n - 1]?.from ?? ''),
    });
    report = await coverageReport(ctx);
    expect(report.totals.backfillPending).toBe(2); // the other two have not run a slice yet
  });

  it('a slice message failing on its last delivery marks the backfill failed, with the reason', async () => {
    emulator.faults.subscription(throttled, { mode: 'throttled', retryAfterInSeconds: 1200 });
    const [slice] = plans.get(throttled) ?? [];

    await expect(backfillSlice(slice, invocation(2))).rejects.toThrow();
    expect((await ctx.coverage.get(throttled))?.backfill).toBe('pending');

    await expect(backfillSlice(slice, invocation(5))).rejects.toThrow();
    const failed = await ctx.coverage.get(throttled);
    expect(failed).toMatchObject({ backfill: 'failed' });
    expect(failed?.backfillError).toMatch(/^slice message poisoned: .*throttled/i);
    emulator.faults.subscription(throttled, undefined);
  });

  it('a slice refused with 403 marks the backfill failed; coverage shows each state', async () => {
    emulator.faults.subscription(refused, { mode: 'forbidden' });
    const [slice] = plans.get(refused) ?? [];
    await expect(backfillSlice(slice, invocation(1))).resolves.toMatchObject({ complete: true });
    const failed = await ctx.coverage.get(refused);
    expect(failed).toMatchObject({ backfill: 'failed' });
    expect(failed?.backfillError).toMatch(/refused/i);

    const settings = {
      TIMELINE_STORAGE: process.env['TIMELINE_STORAGE'] ?? '',
      TABLE_NAME_PREFIX: process.env['TABLE_NAME_PREFIX'] ?? '',
    };
    const text = await runCli(['coverage'], undefined, settings);
    expect(text.stdout).toMatch(new RegExp(`${healthy}\\s+present.*\\sdone\\s`));
    expect(text.stdout).toMatch(new RegExp(`${throttled}\\s+present.*\\sfailed\\s+slice message poisoned`));
    expect(text.stdout).toMatch(new RegExp(`${refused}\\s+present.*\\sfailed\\s`));
  });

  it('vm-timeline backfill moves the column too, and gives no row to a subscription coverage does not list', async () => {
    for (const subscriptionId of [byCli, unwatched])
      emulator.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'vm-1' });
    await ctx.coverage.merge(byCli, {
      presence: 'present',
      firstSeenAt: Date.now(),
      backfill: 'pending',
      backfillChangedAt: Date.now(),
    });
    const run = await runCli(
      ['backfill', '--subscription', byCli, '--subscription', unwatched, '--days', '10'],
      undefined,
      {
        TIMELINE_STORAGE: process.env['TIMELINE_STORAGE'] ?? '',
        TABLE_NAME_PREFIX: process.env['TABLE_NAME_PREFIX'] ?? '',
        ARM_ENDPOINT: emulator.url,
      },
    );
    expect(run.code).toBe(0);
    const row = await ctx.coverage.get(byCli);
    expect(row?.backfill).toBe('done');
    expect(row?.backfillSlicesDone).toBe(row?.backfillSlices);
    expect(await ctx.coverage.get(unwatched)).toBeUndefined();
  });
});
