/**
 * `VmDailyDigest` on Azurite: the rollup writes each day's digest equal to its day rows, patches the
 * older days that dirty VMs recompute, rebuilds half-written and missing digests; the store's chunks stay
 * under the storage limits (the emulator checks them) and read back whole over several entities.
 */
import { odata } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { TableDailyDigestStore } from '../../src/adapters/table-digest-store';
import { DigestChangedError } from '../../src/app/fleet';
import { maxDigestBackfillDaysPerRun, rollupUsage, type DayUsage } from '../../src/app/rollup-usage';
import type { AppContext } from '../../src/composition';
import { vmKey } from '../../src/domain/resource-id';
import { usageFields } from '../../src/domain/usage';
import { dropTables, testContext } from '../support/app';
import { observation as obs } from '../support/histories';

const sub = '00000000-0000-0000-0000-0000000000dd';
const vmId = (name: string) =>
  `/subscriptions/${sub}/resourceGroups/RG-Digest/providers/Microsoft.Compute/virtualMachines/${name}`;
const t = (iso: string) => Date.parse(iso);
const h = 3600;

describe('VmDailyDigest on Azurite', () => {
  let ctx: AppContext;
  const a = vmId('web-01');
  const b = vmId('hpc-01');
  const c = vmId('räksmörgås-01');
  beforeAll(async () => {
    ctx = await testContext();
    await ctx.store.record(obs(a, '2026-09-01T00:00:00Z', 'running', 'a1'));
    await ctx.store.record(obs(b, '2026-09-02T06:00:00Z', 'running', 'b1'));
    await ctx.store.record(obs(b, '2026-09-02T18:00:00Z', 'deallocated', 'b2'));
    await ctx.store.record(obs(c, '2026-09-01T12:00:00Z', 'stopped', 'c1'));
  });
  afterAll(async () => {
    await dropTables(ctx);
  });

  const deps = () => ({
    source: ctx.store,
    daily: ctx.daily,
    digests: ctx.digests,
    log: silentLogger,
    now: ctx.now,
  });
  /** The usage columns of a day partition, in VM key order. */
  async function dayRows(day: string): Promise<DayUsage[]> {
    const rows: DayUsage[] = [];
    for await (const page of ctx.daily.listDay(day))
      for (const r of page)
        rows.push({ vmKey: r.vmKey, ...Object.fromEntries(usageFields.map((f) => [f, r[f]])) } as DayUsage);
    return rows.sort((x, y) => (x.vmKey < y.vmKey ? -1 : 1));
  }
  const digestTable = () => ctx.tables.table(ctx.tableNames.dailyDigest);

  it("writes every rolled-up day's digest, equal to its day rows", async () => {
    const summary = await rollupUsage(deps(), t('2026-09-04T00:05:00Z'));
    expect(summary).toMatchObject({ vms: 3, failed: 0 });
    for (const day of ['2026-09-01', '2026-09-02', '2026-09-03']) {
      const rows = await dayRows(day);
      expect(rows.length).toBeGreaterThan(0);
      expect(await ctx.digests.readDigest(day), day).toEqual(rows);
    }
    expect((await ctx.digests.readDigest('2026-09-02'))?.find((e) => e.vmKey === vmKey(b))).toMatchObject({
      billedSeconds: 12 * h,
      notBilledSeconds: 6 * h,
      unknownSeconds: 6 * h,
    });
  });

  it("patches an older day's digest when a late event changes a VM's rolled-up day", async () => {
    // web-01 was in fact deallocated from noon to 18:00 on the 2nd.
    await ctx.store.record(obs(a, '2026-09-02T12:00:00Z', 'deallocated', 'a2'));
    await ctx.store.record(obs(a, '2026-09-02T18:00:00Z', 'running', 'a3'));
    const before = await digestTable().getEntity('2026-09-02', '0000');
    const summary = await rollupUsage(deps(), t('2026-09-04T01:00:00Z'));
    expect(summary).toMatchObject({ recomputed: 1, settled: 1, failed: 0 });
    const after = await digestTable().getEntity('2026-09-02', '0000');
    expect(after['generation']).not.toBe(before['generation']);
    const digest = await ctx.digests.readDigest('2026-09-02');
    expect(digest).toEqual(await dayRows('2026-09-02'));
    expect(digest?.find((e) => e.vmKey === vmKey(a))).toMatchObject({
      billedSeconds: 18 * h,
      notBilledSeconds: 6 * h,
    });
    expect((await ctx.store.getCurrent(a))?.usageDirtyFrom).toBeUndefined();
  });

  it('rebuilds a half-written digest and builds missing ones, newest first, a few a run', async () => {
    // The 2nd as a crash mid-write leaves it (chunk 0000 names a second chunk that is not there); the
    // 1st as an install rolled up before digests existed (none).
    await digestTable().updateEntity({ partitionKey: '2026-09-02', rowKey: '0000', chunks: 2 }, 'Merge');
    await digestTable().deleteEntity('2026-09-01', '0000');
    expect(await ctx.digests.readDigest('2026-09-02')).toBeUndefined();
    expect(await ctx.digests.readDigest('2026-09-01')).toBeUndefined();
    const summary = await rollupUsage(deps(), t('2026-09-04T02:00:00Z'));
    expect(summary.digestsBackfilled).toBe(maxDigestBackfillDaysPerRun);
    expect(await ctx.digests.readDigest('2026-09-02')).toEqual(await dayRows('2026-09-02'));
    expect(await ctx.digests.readDigest('2026-09-01')).toEqual(await dayRows('2026-09-01'));
    // Days before any row get an empty digest (a day without VMs, not a missing digest).
    expect(await ctx.digests.readDigest('2026-08-31')).toEqual([]);
    const next = await rollupUsage(deps(), t('2026-09-04T03:00:00Z'));
    expect(next.digestsBackfilled).toBe(maxDigestBackfillDaysPerRun);
    expect(await ctx.digests.readDigest(`2026-08-${31 - maxDigestBackfillDaysPerRun}`)).toEqual([]);
  });

  it('spreads a big digest over several chunk entities under the limits, and deletes a longer one’s leftovers', async () => {
    // The real limits: keys of 100+ characters sharing little, 30,000 VMs (the emulator refuses a string
    // over 32 Ki characters and an entity body over 1 MiB).
    const entries = Array.from({ length: 30_000 }, (_, i) => ({
      vmKey: `subscriptions|${String((i * 7919) % 30_011).padStart(8, '0')}-0000-0000-0000-000000000000|resourcegroups|rg|providers|microsoft.compute|virtualmachines|vm-${i}`,
      billedSeconds: (i * 13) % 86_401,
      notBilledSeconds: 86_400 - ((i * 13) % 86_401),
      unknownSeconds: 0,
      billedSecondsMin: (i * 13) % 86_401,
      billedSecondsMax: (i * 13) % 86_401,
    }));
    await ctx.digests.writeDigest('2026-07-01', entries);
    const chunks = async (day: string) => {
      const keys: string[] = [];
      for await (const row of digestTable().listEntities({
        queryOptions: { filter: odata`PartitionKey eq ${day}`, select: ['RowKey'] },
      }))
        keys.push(row.rowKey ?? '');
      return keys;
    };
    expect((await chunks('2026-07-01')).length).toBeGreaterThan(1);
    const sorted = [...entries].sort((x, y) => (x.vmKey < y.vmKey ? -1 : 1));
    expect(await ctx.digests.readDigest('2026-07-01')).toEqual(sorted);

    // Small limits: many chunks, then a shorter digest over it leaves none of the old ones.
    const small = new TableDailyDigestStore(digestTable(), { columnChars: 600, chunkBytes: 1300 });
    await small.writeDigest('2026-07-02', sorted.slice(0, 120));
    const many = await chunks('2026-07-02');
    expect(many.length).toBeGreaterThan(5);
    expect(await small.readDigest('2026-07-02')).toEqual(sorted.slice(0, 120));
    await small.writeDigest('2026-07-02', sorted.slice(0, 30));
    const fewer = await chunks('2026-07-02');
    expect(fewer.length).toBeLessThan(many.length);
    expect(fewer).toEqual(fewer.map((_, i) => String(i).padStart(4, '0')));
    expect(await small.readDigest('2026-07-02')).toEqual(sorted.slice(0, 30));
  }, 60_000);

  it('reads a digest chunk by chunk, a column at a time, and says when a chunk of another write comes', async () => {
    const entries = Array.from({ length: 200 }, (_, i) => ({
      vmKey: `subscriptions|s|resourcegroups|rg|providers|microsoft.compute|virtualmachines|vm-${String(i).padStart(3, '0')}`,
      billedSeconds: i,
      notBilledSeconds: 86_400 - i,
      unknownSeconds: 0,
      billedSecondsMin: i,
      billedSecondsMax: i,
    }));
    const small = new TableDailyDigestStore(digestTable(), { columnChars: 600, chunkBytes: 1300 });
    await small.writeDigest('2026-06-01', entries);
    const read = async (day: string) => {
      const digest = await small.openDigest(day);
      if (digest === undefined) return undefined;
      const columns: DayUsage[][] = [];
      for await (const column of digest) columns.push(column);
      return columns;
    };
    const columns = (await read('2026-06-01')) ?? [];
    expect(columns.length).toBeGreaterThan(5);
    expect(Math.max(...columns.map((c) => c.length))).toBeLessThan(30);
    expect(columns.flat()).toEqual(entries);
    expect(await read('2026-05-31')).toBeUndefined();

    // A write over it after its heads were read: the chunks read then belong to the other write.
    const digest = await small.openDigest('2026-06-01');
    await small.writeDigest('2026-06-01', entries.slice(0, 150));
    const late = (async () => {
      for await (const column of digest ?? []) void column;
    })();
    await expect(late).rejects.toThrow(DigestChangedError);
    // Half-written (chunk 0000 names a chunk that is not there): no digest.
    await digestTable().updateEntity({ partitionKey: '2026-06-01', rowKey: '0000', chunks: 99 }, 'Merge');
    expect(await small.openDigest('2026-06-01')).toBeUndefined();
  });
});
