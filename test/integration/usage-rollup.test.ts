import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { rollupUsage } from '../../src/app/rollup-usage';
import { usageReport } from '../../src/app/usage-report';
import { main } from '../../kit/cli';
import type { AppContext } from '../../src/composition';
import { parseGroupBy } from '../../src/domain/grouping';
import { vmKey } from '../../src/domain/resource-id';
import { dropTables, testContext } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { observation } from '../support/histories';

const sub = '00000000-0000-0000-0000-0000000000cc';
const vmId = (name: string, group = 'RG-Usage') =>
  `/subscriptions/${sub}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`;
const t = (iso: string) => Date.parse(iso);
const obs = observation;
const day = 86_400;

describe('usage rollups on Azurite', () => {
  let ctx: AppContext;
  const a = vmId('web-01');
  const b = vmId('hpc-01', 'RG-Batch');
  beforeAll(async () => {
    ctx = await testContext();
    await ctx.store.record(obs(a, '2026-09-01T00:00:00Z', 'running', 'a1'));
    await ctx.store.record(obs(b, '2026-09-02T06:00:00Z', 'running', 'b1'));
    await ctx.store.record(obs(b, '2026-09-02T18:00:00Z', 'deallocated', 'b2'));
    // Details as the reconciler lists them: web-01 moves from cost center cc-1 to cc-2 on the 4th.
    const details = { vmSize: 'Standard_D2s_v5', location: 'westeurope', osType: 'Linux' };
    await ctx.store.updateDetails(a, { ...details, tags: { costCenter: 'cc-1' } }, t('2026-09-01T00:10:00Z'));
    await ctx.store.updateDetails(a, { ...details, tags: { costCenter: 'cc-2' } }, t('2026-09-04T12:00:00Z'));
    await ctx.store.updateDetails(
      b,
      { ...details, vmSize: 'Standard_F4s_v2', tags: { costCenter: 'cc-1' } },
      t('2026-09-02T06:10:00Z'),
    );
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

  it('writes one row per VM and day with the details that held then, and clears the markers', async () => {
    const summary = await rollupUsage(deps(), t('2026-09-06T00:05:00Z'));
    expect(summary).toMatchObject({ vms: 2, recomputed: 2, settled: 2, failed: 0 });

    const rows = [];
    for await (const page of ctx.daily.listDay('2026-09-03')) rows.push(...page);
    expect(rows.find((r) => r.vmKey === vmKey(a))).toMatchObject({
      resourceId: a,
      subscriptionId: sub,
      resourceGroup: 'rg-usage',
      billedSeconds: day,
      notBilledSeconds: 0,
      unknownSeconds: 0,
      billedSecondsMin: day,
      billedSecondsMax: day,
      details: {
        vmSize: 'Standard_D2s_v5',
        location: 'westeurope',
        osType: 'Linux',
        tags: { costCenter: 'cc-1' },
      },
    });
    const fourth = [];
    for await (const page of ctx.daily.listDay('2026-09-04')) fourth.push(...page);
    expect(fourth.find((r) => r.vmKey === vmKey(a))?.details?.tags).toEqual({ costCenter: 'cc-2' });
    expect((await ctx.store.getCurrent(a))?.usageDirtyFrom).toBeUndefined();
    expect(await ctx.daily.getRolledThrough()).toBe(t('2026-09-06T00:00:00Z'));
  });

  it('groups a month by tag across the tag change, same as from segments', async () => {
    const asOf = t('2026-09-06T00:30:00Z');
    const query = {
      from: t('2026-09-01T00:00:00Z'),
      to: t('2026-09-06T00:00:00Z'),
      asOf,
      groupBy: parseGroupBy('tag:costCenter'),
    };
    const fromRollups = await usageReport({ source: ctx.store, daily: ctx.daily }, query);
    const fromSegments = await usageReport(
      { source: ctx.store, daily: ctx.daily },
      { ...query, fromSegmentsOnly: true },
    );
    expect(fromRollups.sources).toEqual({ dayPartitions: 5, vmsFromSegments: 0 });
    expect(fromRollups.rows).toEqual(fromSegments.rows);
    expect(fromRollups.rows).toEqual([
      expect.objectContaining({ key: 'cc-1', vms: 2, billedSeconds: 3 * day + 12 * 3600 }),
      expect.objectContaining({ key: 'cc-2', vms: 1, billedSeconds: 2 * day }),
    ]);
  });

  it('stays exact when a late event changes rolled-up days, before and after the next rollup', async () => {
    // web-01 was in fact deallocated from noon on the 2nd to 06:00 on the 3rd.
    await ctx.store.record(obs(a, '2026-09-02T12:00:00Z', 'deallocated', 'a2'));
    await ctx.store.record(obs(a, '2026-09-03T06:00:00Z', 'running', 'a3'));
    expect((await ctx.store.getCurrent(a))?.usageDirtyFrom).toBe(t('2026-09-01T00:00:00Z'));
    const query = {
      from: t('2026-09-01T00:00:00Z'),
      to: t('2026-09-06T00:00:00Z'),
      asOf: t('2026-09-06T01:00:00Z'),
    };
    const dirty = await usageReport({ source: ctx.store, daily: ctx.daily }, query);
    expect(dirty.sources.vmsFromSegments).toBe(1);
    expect(dirty.rows.find((r) => 'resourceId' in r && r.resourceId === a)).toMatchObject({
      billedSeconds: 5 * day - 18 * 3600,
      notBilledSeconds: 18 * 3600,
    });
    await rollupUsage(deps(), t('2026-09-06T01:00:00Z'));
    const clean = await usageReport({ source: ctx.store, daily: ctx.daily }, query);
    expect(clean.sources.vmsFromSegments).toBe(0);
    expect(clean.rows).toEqual(dirty.rows);
  });

  it('prints usage grouped by tag with costs, and lists a VM with no rate', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'prices-'));
    const file = path.join(dir, 'prices.csv');
    await writeFile(file, 'vmSize,region,os,hourlyRate,currency\nStandard_D2s_v5,westeurope,linux,0.1,USD\n');
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      stdin: (async function* () {})(),
      env: {},
    };
    const common = ['--storage', tableConnectionString(), '--table-prefix', ctx.config.tablePrefix];
    const args = [
      'usage',
      '--from',
      '2026-09-01',
      '--to',
      '2026-09-06',
      '--group-by',
      'tag:costCenter',
      '--prices',
      file,
    ];
    expect(await main([...args, ...common, '--json'], io)).toBe(0);
    const report = JSON.parse(out.join('')) as {
      rows: Array<{ key: string; cost: number | null; unpricedBilledSeconds?: number }>;
      total: { cost: number };
      currency: string;
      unpriced: Array<{ resourceId: string; vmSize: string }>;
    };
    expect(report.currency).toBe('USD');
    expect(report.unpriced).toEqual([expect.objectContaining({ resourceId: b, vmSize: 'Standard_F4s_v2' })]);
    const cc1 = report.rows.find((r) => r.key === 'cc-1');
    expect(cc1?.unpricedBilledSeconds).toBe(12 * 3600);
    expect(report.total.cost).toBeCloseTo(((5 * day - 18 * 3600) / 3600) * 0.1, 6);

    out.length = 0;
    expect(await main([...args, ...common, '--csv'], io)).toBe(0);
    const csv = out.join('').trim().split('\n');
    expect(csv[0]).toBe(
      'key,vms,billedSeconds,notBilledSeconds,unknownSeconds,billedSecondsMin,billedSecondsMax,billedHours,cost,currency',
    );
    expect(csv.at(-1)).toMatch(/^total,/);

    out.length = 0;
    expect(
      await main(
        ['usage', '--from', '2026-09-01', '--to', '2026-09-06', '--group-by', 'colour', ...common],
        io,
      ),
    ).toBe(2);
    expect(err.join('')).toContain('--group-by must be one of');
  });
});
