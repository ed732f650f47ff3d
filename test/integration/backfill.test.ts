import { InvocationContext, type Timer } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillQueue, backfillSlice as backfillSliceFunction } from '../../functions/backfillSlice';
import { reconcile } from '../../functions/reconcile';
import { silentLogger } from '../../src/adapters/logger';
import {
  backfillSlice,
  backfillSubscriptions,
  readRecentActivityLog,
  sliceRange,
  type BackfillDependencies,
  type BackfillSummary,
} from '../../src/app/backfill';
import type { AppContext } from '../../src/composition';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { seededRandom } from '../../kit/emulator/seeded-random';
import { dropTables, testContext, testSettings, uniquePrefix } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { runCli } from '../support/cli';

const sub = '00000000-0000-0000-0000-0000000b0f01';
const denied = '00000000-0000-0000-0000-0000000b0f02';
const hour = 3_600_000;
const day = 24 * hour;

/** Each VM: a start at 08:00 and a deallocate at 18:00 every day, operations taking 20 s to 3 min. */
function generateHistory(arm: ArmEmulator, vmIds: readonly string[], days: number, now: number): number {
  const random = seededRandom(13);
  let records = 0;
  const firstDay = Math.floor(now / day) * day - days * day;
  for (let d = 0; d < days; d++) {
    for (const resourceId of vmIds) {
      for (const [operation, at] of [
        ['start', firstDay + d * day + 8 * hour],
        ['deallocate', firstDay + d * day + 18 * hour],
      ] as const) {
        arm.fleet.activityLog.addOperation({
          resourceId,
          operation,
          startedAt: at + Math.floor(random() * 60_000),
          durationInMs: 20_000 + Math.floor(random() * 160_000),
          lagInMs: 3 * 60_000 + Math.floor(random() * 17 * 60_000),
        });
        records += 3;
      }
    }
  }
  return records;
}

describe('Activity Log backfill (emulator over HTTP, Azurite)', () => {
  let arm: ArmEmulator;
  let ctx: AppContext;
  let deps: BackfillDependencies;
  let vmIds: string[];
  const now = Date.now();
  let generated = 0;

  beforeAll(async () => {
    arm = await startArmEmulator({ activityLogPageSize: 50 });
    vmIds = ['web-01', 'web-02', 'db-01'].map(
      (name) => arm.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name }).id,
    );
    arm.fleet.addSubscription(denied);
    generated = generateHistory(arm, vmIds, 6, now);
    ctx = await testContext(testSettings(arm.url));
    deps = { ...ctx, reader: ctx.management, log: silentLogger };
  });
  afterAll(async () => {
    await dropTables(ctx);
    await arm.close();
  });

  it('records days of history with billing boundaries at each operation start, and a second run adds nothing', async () => {
    const before = arm.requests.activityLog;
    const [first] = await backfillSubscriptions([sub], 7, deps);
    expect(first).toMatchObject({ subscriptionId: sub, forbidden: false, vms: 3, throttled: 0 });
    expect(first?.error).toBeUndefined();
    // Every generated record already queryable is read once; requests are the pages.
    expect(first?.records).toBeLessThanOrEqual(generated);
    expect(first?.records).toBeGreaterThan(generated - 3 * 3 * 2);
    expect(first?.requests).toBe(arm.requests.activityLog - before);
    expect(first?.requests).toBe(first?.pages);
    expect(first?.observations).toBe(first?.records);

    const timeline = await ctx.store.getTimeline(vmIds[0] ?? '', { from: now - 3 * day, to: now - 2 * day });
    const states = timeline?.segments.map((s) => s.state);
    expect(states).toEqual(expect.arrayContaining(['starting', 'running', 'deallocating', 'deallocated']));
    for (const segment of timeline?.segments ?? []) {
      expect(segment.source).toBe('activityLog');
      if (segment.state === 'starting') expect(segment.billing).toBe('billed');
      if (segment.state === 'deallocating') expect(segment.billing).toBe('notBilled');
    }

    const [second] = await backfillSubscriptions([sub], 7, deps);
    expect(second?.observations).toBe(0);
    // Past days are done; only today's slice is read again, and all it holds is duplicates.
    expect(second?.duplicates).toBe(second?.records);
    expect(await ctx.store.getTimeline(vmIds[0] ?? '', { from: now - 3 * day, to: now - 2 * day })).toEqual(
      timeline,
    );
  });

  it('records the same timelines whether a week is read as one slice or as seven day slices', async () => {
    const week = await testContext(testSettings(arm.url));
    const days = await testContext(testSettings(arm.url));
    const range = { subscriptionId: sub, from: now - 6 * day, to: now };
    const weekDeps = { ...week, reader: week.management, log: silentLogger };
    const dayDeps = { ...days, reader: days.management, log: silentLogger };
    while (!(await backfillSlice(range, weekDeps)).complete);
    const daySlices = sliceRange(range.from, range.to, day);
    expect(daySlices.length).toBeGreaterThanOrEqual(6);
    for (const slice of daySlices)
      while (!(await backfillSlice({ subscriptionId: sub, ...slice }, dayDeps)).complete);
    for (const resourceId of vmIds) {
      const one = await week.store.getTimeline(resourceId);
      // At least five whole days of history fall in the range whatever the hour of the run: 4 segments a day
      // (starting, running, deallocating, deallocated).
      expect(one?.segments.length).toBeGreaterThanOrEqual(20);
      expect(await days.store.getTimeline(resourceId)).toEqual(one);
    }
    await dropTables(week);
    await dropTables(days);
  });

  it('resumes a slice stopped at its time budget where it stopped, reading each page once', async () => {
    const other = await testContext(testSettings(arm.url));
    const resumeDeps = { ...other, reader: other.management, log: silentLogger };
    const slice = { subscriptionId: sub, from: now - 6 * day, to: now };
    const before = arm.requests.activityLog;
    let clock = now;
    const slow = { ...resumeDeps, now: () => (clock += 30_000) };
    const partial = await backfillSlice(slice, slow, { budgetInMs: 60_000 });
    expect(partial.complete).toBe(false);
    expect(partial.progress.nextLink).toBeDefined();
    const pagesBefore = partial.progress.pages;
    let result = partial;
    while (!result.complete) result = await backfillSlice(slice, resumeDeps);
    expect(result.progress.status).toBe('done');
    expect(arm.requests.activityLog - before).toBe(result.progress.pages);
    expect(result.progress.pages).toBeGreaterThan(pagesBefore);
    expect(result.progress.observations).toBe(result.progress.records);
    await dropTables(other);
  });

  it('an inline run records each VM once per flush across its slices; one stopped after a flush resumes there to the same timelines', async () => {
    const clean = await testContext(testSettings(arm.url));
    let recordManyCalls = 0;
    const recordMany = clean.store.recordMany.bind(clean.store);
    const countingStore = Object.assign(Object.create(clean.store) as typeof clean.store, {
      recordMany: (observations: Parameters<typeof recordMany>[0]) => {
        recordManyCalls += 1;
        return recordMany(observations);
      },
    });
    const [whole] = await backfillSubscriptions([sub], 13, {
      ...clean,
      store: countingStore,
      reader: clean.management,
      log: silentLogger,
    });
    expect(whole?.error).toBeUndefined();
    expect(whole?.slices).toBeGreaterThanOrEqual(2);
    // One flush for the whole run: each VM's partition read once, not once per slice.
    expect(recordManyCalls).toBe(vmIds.length);

    // A run that fails on a page past the middle, buffering 20 observations (a flush per page): what was
    // flushed stays, the rest is read again.
    expect(whole?.pages).toBeGreaterThanOrEqual(3);
    const failAt = Math.ceil((whole?.pages ?? 0) / 2) + 1;
    const stopped = await testContext(testSettings(arm.url));
    let pages = 0;
    const failing = {
      stats: stopped.management.stats,
      readActivityLogPage: (...args: Parameters<typeof stopped.management.readActivityLogPage>) => {
        pages += 1;
        if (pages === failAt) return Promise.reject(new Error('connection reset'));
        return stopped.management.readActivityLogPage(...args);
      },
    };
    // One clock for both runs: the same slices (today's, read again later, would be read again).
    const stoppedDeps = { ...stopped, reader: failing, log: silentLogger, now: () => now };
    const [first] = await backfillSubscriptions([sub], 13, stoppedDeps, { maxBufferedObservations: 20 });
    expect(first?.error).toBe('connection reset');
    const saved = await stopped.backfills.listSlices(sub);
    expect(saved.some((s) => s.nextLink !== undefined || s.status === 'done')).toBe(true);
    const [resumed] = await backfillSubscriptions([sub], 13, stoppedDeps, { maxBufferedObservations: 20 });
    expect(resumed?.error).toBeUndefined();
    // Resumed where the stored progress ended: fewer pages than a whole run.
    expect(pages - failAt).toBeLessThan(whole?.pages ?? 0);
    for (const resourceId of vmIds)
      expect(await stopped.store.getTimeline(resourceId)).toEqual(await clean.store.getTimeline(resourceId));
    await dropTables(clean);
    await dropTables(stopped);
  });

  it('waits out 429 Retry-After and reports a subscription whose log it may not read (403) without retrying', async () => {
    arm.faults.throttleNext(1, { kinds: ['activityLog'], retryAfterInSeconds: 1 });
    const recent = await readRecentActivityLog(sub, deps);
    expect(recent.throttled).toBe(1);
    expect(recent.forbidden).toBe(false);

    arm.faults.failNext(Infinity, { kinds: ['activityLog'], status: 403 });
    const before = arm.requests.activityLog;
    const [summary] = await backfillSubscriptions([denied], 5, deps);
    expect(summary).toMatchObject({ subscriptionId: denied, forbidden: true });
    expect(arm.requests.activityLog - before).toBe(1);
    arm.faults.reset();
  });

  it('CLI: prints progress on stderr and a summary per subscription', async () => {
    const common = [
      '--storage',
      tableConnectionString(),
      '--table-prefix',
      uniquePrefix(),
      '--arm-endpoint',
      arm.url,
    ];
    const run = await runCli(['backfill', '--subscription', sub, '--days', '3', '--json', ...common]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/pages, \d+ records, \d VMs, reached \d{4}-\d\d-\d\d/);
    const summaries = (JSON.parse(run.stdout) as { subscriptions: BackfillSummary[] }).subscriptions;
    const cliNow = Date.now();
    expect(summaries.map((s) => [s.subscriptionId, s.vms])).toEqual([[sub, 3]]);
    // Week slices: the last 3 days fall into one or two (cut at multiples of a week since the epoch).
    expect([
      sliceRange(cliNow - 3 * day, cliNow).length,
      sliceRange(cliNow - 3 * day - 60_000, cliNow - 60_000).length,
    ]).toContain(summaries[0]?.slices);
    expect(summaries[0]?.observations).toBeGreaterThan(0);
    const bad = await runCli(['backfill', '--days', '120', ...common]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--days');
  });

  it('function app: the reconcile timer plans a new subscription once; the queue function reads a slice', async () => {
    Object.assign(process.env, testSettings(arm.url), { SUBSCRIPTION_IDS: sub });
    const timer: Timer = {
      isPastDue: false,
      schedule: { adjustForDST: false },
      scheduleStatus: { last: '', next: '', lastUpdated: '' },
    };
    const context = () =>
      new InvocationContext({ functionName: 'reconcile', invocationId: 't', logHandler: () => {} });
    const first = context();
    await reconcile(timer, first);
    const slices = first.extraOutputs.get(backfillQueue) as Array<{
      subscriptionId: string;
      from: string;
      to: string;
    }>;
    // BACKFILL_DAYS (89) in week slices.
    const plannedTo = Date.parse(slices[0]?.to ?? '');
    expect(slices.length).toBe(sliceRange(plannedTo - 89 * day, plannedTo).length);
    expect(slices.length).toBeGreaterThanOrEqual(13);
    expect(slices.every((s) => s.subscriptionId === sub)).toBe(true);
    const again = context();
    await reconcile(timer, again);
    expect(again.extraOutputs.get(backfillQueue)).toBeUndefined();

    const result = await backfillSliceFunction(JSON.stringify(slices[0]), context());
    expect(result?.complete).toBe(true);
    expect(result?.progress.records).toBeGreaterThan(0);
    expect(await backfillSliceFunction('{"subscriptionId":"x"}', context())).toBeUndefined();
  });
});
