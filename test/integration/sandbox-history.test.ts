/**
 * The sandbox's Activity Log: 90 days of generated history (before the app "was deployed") that the
 * backfill reads over HTTP from the management emulator, and live operations' Started / Succeeded records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { backfillSubscriptions, readRecentActivityLog } from '../../src/app/backfill';
import { readActivityLogRecord } from '../../src/domain/activity-log';
import type { AppContext } from '../../src/composition';
import { startSandbox, type Sandbox } from '../../kit/local/sandbox';
import { dropTables, testContext, testSettings } from '../support/app';

const day = 86_400_000;

describe('sandbox Activity Log history', () => {
  let sandbox: Sandbox;
  let ctx: AppContext;
  let clock = Date.now();

  it('holds 90 days of operations in the emulated log', () => {
    const log = sandbox.emulator.fleet.activityLog;
    expect(log.size).toBeGreaterThan(4000);
    const query = { from: clock - 89.5 * day, to: clock - 85 * day };
    expect(log.query(sandbox.subscriptionId, query, clock).length).toBeGreaterThan(0);
  });

  beforeAll(async () => {
    sandbox = await startSandbox({ log: silentLogger, now: () => clock });
    await sandbox.seedHistory(() => Promise.resolve(200));
    ctx = await testContext(testSettings(sandbox.armEndpoint));
  });
  afterAll(async () => {
    await sandbox.stop();
    await dropTables(ctx);
  });

  it('backfills weeks of billed / not-billed history with transitional states (90 days are in the log)', async () => {
    const [summary] = await backfillSubscriptions([sandbox.subscriptionId], 21, {
      ...ctx,
      reader: ctx.management,
      log: silentLogger,
    });
    expect(summary?.error).toBeUndefined();
    expect(summary?.vms).toBeGreaterThanOrEqual(9);
    expect(summary?.records).toBeGreaterThan(500);
    expect(summary?.reachedAt).toBeLessThan(clock - 20 * day);
    const web = sandbox.emulator.fleet.listVms(sandbox.subscriptionId).find((vm) => vm.name === 'web-01');
    const old = await ctx.store.getTimeline(web?.id ?? '', { from: clock - 18 * day, to: clock - 8 * day });
    const states = new Set(old?.segments.map((s) => s.state));
    for (const state of ['starting', 'running', 'deallocating', 'deallocated'])
      expect(states).toContain(state);
    expect(old?.segments.every((s) => s.source === 'activityLog')).toBe(true);
  }, 120_000);

  it('gives live operations Started and Succeeded records, queryable minutes later', async () => {
    const before = sandbox.emulator.fleet.activityLog.size;
    // A guest shutdown writes nothing to the log: step until an operation did.
    for (let i = 0; i < 20 && sandbox.emulator.fleet.activityLog.size === before; i++) sandbox.step();
    const added = sandbox.emulator.fleet.activityLog.size - before;
    expect(added).toBeGreaterThanOrEqual(3);
    const early = await readRecentActivityLog(sandbox.subscriptionId, {
      ...ctx,
      reader: ctx.management,
      log: silentLogger,
    });
    expect(early.records).toBe(0);
    clock += 25 * 60_000;
    const recent = await readRecentActivityLog(sandbox.subscriptionId, {
      ...ctx,
      reader: ctx.management,
      log: silentLogger,
    });
    expect(recent.forbidden).toBe(false);
    expect(recent.records).toBeGreaterThanOrEqual(added);
  });

  it('gives a scale-set-wide action its Started, Accepted and Succeeded records, naming the scale set', () => {
    const [scaleSet] = sandbox.emulator.fleet.listScaleSets(sandbox.subscriptionId);
    const log = sandbox.emulator.fleet.activityLog;
    const ofSet = () =>
      log
        .query(sandbox.subscriptionId, { from: clock - day, to: clock + day }, clock + day)
        .filter((r) => String(r['resourceId']).toLowerCase() === scaleSet?.id.toLowerCase());
    // About 1 step in 17 is a scale-set-wide action.
    for (let i = 0; i < 400 && ofSet().length === 0; i++) sandbox.step();
    const records = ofSet();
    expect(records.map((r) => (r['status'] as { value: string }).value).sort()).toEqual([
      'Accepted',
      'Started',
      'Succeeded',
    ]);
    expect(new Set(records.map((r) => r['correlationId'])).size).toBe(1);
    for (const record of records)
      expect(readActivityLogRecord(record, clock + day)).toMatchObject({
        kind: 'scaleSetOperation',
        record: { scaleSetId: scaleSet?.id, correlationId: records[0]?.['correlationId'] },
      });
  });
});
