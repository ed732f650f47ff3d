/**
 * Usage benchmark: a month's usage of a fleet (default 2,000 VMs; the 10,000 with BENCH_USAGE_VMS) grouped by a tag, from the daily rollups, on Azurite;
 * and in the same run the same answer computed from the raw segments (the ratio of the times).
 *
 * Seeding writes straight through the adapters' row layouts: per VM one entity-group transaction of its
 * segments and details history (`VmTimeline`), current rows in transactions per subscription, and the
 * day rows (`VmDailyUsage`) computed from the same segments, 100 per transaction, and each day's digest
 * (`VmDailyDigest`) by the rollup's own writer. Every VM has 0–3
 * transitions in the month, some known only within a reconcile window; one in 20 changes cost center
 * mid-month. Then: the grouped report, the same from segments only (must be equal), and one daily rollup
 * run (rows for one more day for every VM).
 *
 * The floor: the report cannot be faster than reading its input, every `VmCurrent` row and the month's
 * day partitions, so the same reads are made raw (the SDK's listing, pages of 1,000, the report's
 * concurrency, no mapping, no sums) in the same run. Targets: the report's time as a share of that floor
 * (raw time / report time) ≥ 0.8, and its Table requests ≤ the raw reads' + 1 (the rollup's progress
 * row). A time in seconds on a shared machine's Azurite would say nothing about the design.
 *
 * Settings: `BENCH_USAGE_VMS` (2000), `BENCH_USAGE_DAYS` (30), `BENCH_STORAGE`, `BENCH_CONCURRENCY` (32).
 * The fleet is 10,000 VMs; on Azurite 3.35, which scans the whole table on every request, seeding
 * 300,000 day rows does not finish in reasonable time on 2 cores, so the default is 2,000 (request counts
 * scale as 30 day partitions × pages; `BENCH_USAGE_VMS=10000 BENCH_USAGE_DAYS=3` measures the full fleet).
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { odata, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { silentLogger } from '../../src/adapters/logger';
import { currentEntity } from '../../src/adapters/codecs/current';
import { detailsEntity, segmentEntity } from '../../src/adapters/codecs/timeline';
import type { CurrentState } from '../../src/app/ports';
import { rollupUsage, writeDayDigest, type DailyUsageRow } from '../../src/app/rollup-usage';
import { usageReport, type GroupedUsageReport } from '../../src/app/usage-report';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { billingOf } from '../../src/domain/billing';
import {
  dailyUsageOf,
  dayInMs,
  dayName,
  dayStartOf,
  detailsForDay,
  type DetailsChange,
} from '../../src/domain/daily-usage';
import { parseGroupBy } from '../../src/domain/grouping';
import type { PowerState } from '../../src/domain/power-state';
import { currentKeys, vmKey } from '../../src/domain/resource-id';
import type { Segment } from '../../src/domain/segments';
import {
  atLeast,
  atMost,
  exactly,
  pool,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  intSetting,
  benchStorage,
  type BenchStorage,
} from './benchmark';
import { seededRandom } from '../emulator/seeded-random';
import { usageFields } from '../../src/domain/usage';
import { forEachLimited } from '../../src/app/concurrency';

const sizes = ['Standard_D2s_v5', 'Standard_D4s_v5', 'Standard_F4s_v2', 'Standard_E8s_v5'];

export interface SeedVm {
  resourceId: string;
  key: string;
  segments: Segment[];
  history: DetailsChange[];
}

/**
 * VM `i` of a seeded fleet. Its history starts 10 days before `monthStart`, shifted by `i` seconds, as its
 * details history is: no two VMs share a row key, as no two real VMs' first records share a millisecond
 * (Azurite 3.37 looks a written row up by its row key first, then scans every row with that key for the
 * partition: rows sharing one key across 10,000 partitions made seeding quadratic).
 */
export function seedVm(i: number, monthStart: number, days: number, rnd: () => number): SeedVm {
  const skewInMs = i * 1000;
  const subscription = `00000000-0000-4000-8000-${(i % 10).toString().padStart(12, '0')}`;
  const resourceId = `/subscriptions/${subscription}/resourceGroups/rg-${i % 50}/providers/Microsoft.Compute/virtualMachines/vm-${i}`;
  const times = Array.from(
    { length: Math.floor(rnd() * 4) },
    () => monthStart + Math.floor(rnd() * days * dayInMs),
  ).sort((a, b) => a - b);
  const segments: Segment[] = [];
  let state: PowerState = rnd() < 0.8 ? 'running' : 'deallocated';
  let start = monthStart - 10 * dayInMs + skewInMs;
  for (const at of [...times, undefined]) {
    const segment: Segment = { state, billing: billingOf(state), start, source: 'event' };
    if (segments.length > 0 && rnd() < 0.3) {
      segment.startWindowFrom = start - 5 * 60_000;
      segment.source = 'reconcile';
    }
    if (at !== undefined) segment.end = at;
    segments.push(segment);
    if (at === undefined) break;
    start = at;
    state = state === 'running' ? 'deallocated' : 'running';
  }
  const details = { vmSize: sizes[i % sizes.length], location: 'westeurope', osType: 'Linux' };
  const history: DetailsChange[] = [
    {
      at: monthStart - 9 * dayInMs + skewInMs,
      details: { ...details, tags: { costCenter: `cc-${i % 20}` } },
    },
  ];
  if (i % 20 === 0)
    history.push({
      at: monthStart + Math.floor(days / 2) * dayInMs + 3_600_000 + skewInMs,
      details: { ...details, tags: { costCenter: 'cc-moved' } },
    });
  return { resourceId, key: vmKey(resourceId), segments, history };
}

function currentOf(vm: SeedVm): CurrentState {
  const open = vm.segments[vm.segments.length - 1] as Segment;
  const latest = vm.history[vm.history.length - 1] as DetailsChange;
  const current: CurrentState = {
    resourceId: vm.resourceId,
    subscriptionId: currentKeys(vm.key).partitionKey,
    state: open.state,
    billing: open.billing,
    since: open.start,
    sinceSource: open.source,
    last: { at: open.start, source: open.source, dedupeId: `seed-${vm.key.length}` },
    details: latest.details,
    detailsAt: latest.at,
  };
  if (open.startWindowFrom !== undefined) current.sinceWindowFrom = open.startWindowFrom;
  return current;
}

export async function seed(
  ctx: AppContext,
  vms: SeedVm[],
  monthStart: number,
  days: number,
  asOf: number,
  concurrency: number,
  progress: (m: string) => void,
): Promise<number> {
  const t = performance.now();
  const timeline = ctx.tables.table(ctx.tableNames.timeline);
  await pool(vms, concurrency, async (vm) => {
    const actions: TransactionAction[] = [
      ...vm.segments.map((s): TransactionAction => [
        'upsert',
        segmentEntity(vm.key, vm.resourceId, s),
        'Replace',
      ]),
      ...vm.history.map((c): TransactionAction => [
        'upsert',
        detailsEntity(vm.key, vm.resourceId, c.at, c.details),
        'Replace',
      ]),
    ];
    await timeline.submitTransaction(actions);
  });
  progress(`seeded ${vms.length} timeline partitions in ${Math.round(performance.now() - t)} ms`);
  const current = ctx.tables.table(ctx.tableNames.current);
  const bySubscription = new Map<string, TableEntity[]>();
  for (const vm of vms) {
    const entity = currentEntity(vm.key, currentOf(vm), 1);
    const list = bySubscription.get(entity.partitionKey) ?? [];
    list.push(entity);
    bySubscription.set(entity.partitionKey, list);
  }
  const currentBatches = [...bySubscription.values()].flatMap((list) =>
    Array.from({ length: Math.ceil(list.length / 100) }, (_, i) => list.slice(i * 100, i * 100 + 100)),
  );
  await pool(currentBatches, concurrency, async (batch) => {
    await current.submitTransaction(batch.map((e): TransactionAction => ['upsert', e, 'Replace']));
  });
  const byDay = new Map<string, DailyUsageRow[]>();
  for (const vm of vms) {
    const c = currentOf(vm);
    for (const d of dailyUsageOf(vm.segments, monthStart, monthStart + days * dayInMs, asOf)) {
      const list = byDay.get(dayName(d.day)) ?? [];
      list.push({
        day: dayName(d.day),
        vmKey: vm.key,
        resourceId: vm.resourceId,
        subscriptionId: c.subscriptionId,
        resourceGroup: vm.resourceId.split('/')[4]?.toLowerCase() ?? '',
        ...d.usage,
        details: detailsForDay(vm.history, d.day + dayInMs),
      });
      byDay.set(dayName(d.day), list);
    }
  }
  const dayBatches = [...byDay.entries()].flatMap(([day, rows]) =>
    Array.from({ length: Math.ceil(rows.length / 100) }, (_, i) => ({
      day,
      rows: rows.slice(i * 100, i * 100 + 100),
    })),
  );
  await pool(dayBatches, concurrency, async ({ day, rows }) => ctx.daily.upsertDay(day, rows));
  // Each day's digest, as the rollup writes it (from the day partition).
  await pool([...byDay.keys()], 4, (day) => writeDayDigest(ctx, day));
  // The rollup is up to date through yesterday.
  await ctx.daily.setRolledThrough(dayStartOf(asOf) - dayInMs);
  const ms = performance.now() - t;
  progress(
    `seeded ${vms.length} VMs x ${days} days (${dayBatches.length} day transactions) in ${Math.round(ms)} ms`,
  );
  return ms;
}

/** What differs between a seeded VM and the same history recorded through the ingest path. */
export interface SeedCheck {
  vms: number;
  /** VMs whose segments, current row, details history or day rows differ ([] when none). */
  differing: string[];
}

/**
 * Checks the seeding against the app's own write path: a sample of `vms` is recorded again through the
 * store (`recordMany` of one observation per segment start, as events and reconciles record them, then
 * `updateDetails` per details change) into tables of another prefix on the same storage; its segments,
 * current row and details history must equal the seeded ones, and the seeded day rows must equal the
 * rollup of the ingested segments.
 */
export async function checkSeedAgainstIngest(
  seeded: AppContext,
  storage: string,
  sample: readonly SeedVm[],
  monthStart: number,
  days: number,
  asOf: number,
): Promise<SeedCheck> {
  const ingested = createAppContext(
    loadConfig({ TIMELINE_STORAGE: storage, TABLE_NAME_PREFIX: `c${randomBytes(4).toString('hex')}` }),
    { log: silentLogger },
  );
  await ingested.ensureTables();
  const differing: string[] = [];
  const rolled = new Map<string, Map<string, DailyUsageRow>>();
  for (let day = monthStart; day < monthStart + days * dayInMs; day += dayInMs) {
    const rows = new Map<string, DailyUsageRow>();
    for await (const page of seeded.daily.listDay(dayName(day))) for (const r of page) rows.set(r.vmKey, r);
    rolled.set(dayName(day), rows);
  }
  await forEachLimited(sample, 8, async (vm) => {
    await ingested.store.recordMany(
      vm.segments.map((s, n) => ({
        resourceId: vm.resourceId,
        at: s.start,
        windowFrom: s.startWindowFrom,
        state: s.state,
        source: s.source,
        dedupeId: `seed-${n}`,
      })),
    );
    for (const change of vm.history)
      await ingested.store.updateDetails(vm.resourceId, change.details, change.at);
    const [a, b, ca, cb, da, db] = await Promise.all([
      seeded.store.getTimeline(vm.resourceId),
      ingested.store.getTimeline(vm.resourceId),
      seeded.store.getCurrent(vm.resourceId),
      ingested.store.getCurrent(vm.resourceId),
      seeded.store.getDetailsHistory(vm.resourceId),
      ingested.store.getDetailsHistory(vm.resourceId),
    ]);
    const currentOfInterest = (c: CurrentState | undefined) => [
      c?.state,
      c?.billing,
      c?.since,
      c?.sinceWindowFrom,
      c?.sinceSource,
      c?.details,
      c?.detailsAt,
    ];
    let same =
      isDeepStrictEqual(a?.segments, b?.segments) &&
      isDeepStrictEqual(currentOfInterest(ca), currentOfInterest(cb)) &&
      isDeepStrictEqual(da, db);
    for (const d of dailyUsageOf(b?.segments ?? [], monthStart, monthStart + days * dayInMs, asOf)) {
      const row = rolled.get(dayName(d.day))?.get(vm.key);
      if (row === undefined || usageFields.some((f) => row[f] !== d.usage[f])) same = false;
    }
    if (!same) differing.push(vm.resourceId);
  });
  return { vms: sample.length, differing };
}

/**
 * The report's input read raw: every current row, then the month's whole-day partitions (8 at a time, as
 * the report reads them), pages of 1,000.
 */
async function rawReads(
  ctx: AppContext,
  monthStart: number,
  days: number,
): Promise<{ ms: number; tableRequests: number; rows: number }> {
  const before = ctx.tableRequests.requests;
  const t = performance.now();
  let rows = 0;
  for await (const page of ctx.tables
    .table(ctx.tableNames.current)
    .listEntities()
    .byPage({ maxPageSize: 1000 }))
    rows += page.length;
  const daily = ctx.tables.table(ctx.tableNames.dailyUsage);
  const dayList = Array.from({ length: days }, (_, i) => dayName(monthStart + i * dayInMs));
  await forEachLimited(dayList, 8, async (day) => {
    const filter = odata`PartitionKey eq ${day}`;
    for await (const page of daily.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: 1000 }))
      rows += page.length;
  });
  return { ms: performance.now() - t, tableRequests: ctx.tableRequests.requests - before, rows };
}

function sameAnswer(a: GroupedUsageReport, b: GroupedUsageReport): number {
  let mismatches = 0;
  const other = new Map(b.rows.map((r) => ['key' in r ? r.key : r.resourceId, r]));
  for (const row of a.rows) {
    const twin = other.get('key' in row ? row.key : row.resourceId);
    if (twin === undefined || usageFields.some((f) => Math.abs(row[f] - twin[f]) > 1e-3)) mismatches += 1;
  }
  return mismatches + Math.abs(a.rows.length - b.rows.length);
}

export async function runUsageBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const vmCount = intSetting('BENCH_USAGE_VMS', 2_000);
  const days = intSetting('BENCH_USAGE_DAYS', 30);
  const concurrency = intSetting('BENCH_CONCURRENCY', 32);
  let tables: BenchStorage | undefined;
  try {
    tables = await benchStorage();
    const storage = tables.connectionString;
    const ctx = createAppContext(
      loadConfig({ TIMELINE_STORAGE: storage, TABLE_NAME_PREFIX: `b${randomBytes(4).toString('hex')}` }),
      { log: silentLogger },
    );
    await ctx.ensureTables();
    const asOf = Date.now();
    const monthStart = dayStartOf(asOf) - (days + 5) * dayInMs;
    const monthEnd = monthStart + days * dayInMs;
    const rnd = seededRandom(20_261_127);
    const vms = Array.from({ length: vmCount }, (_, i) => seedVm(i, monthStart, days, rnd));
    const seedMs = await seed(ctx, vms, monthStart, days, asOf, concurrency, progress);

    const deps = { source: ctx.store, daily: ctx.daily };
    const query = { from: monthStart, to: monthEnd, asOf, groupBy: parseGroupBy('tag:costCenter') };
    await usageReport(deps, { ...query, from: monthEnd - dayInMs }); // warm-up: connections, JIT
    let before = ctx.tableRequests.requests;
    let t = performance.now();
    const fromRollups = await usageReport(deps, query);
    const rollupMs = performance.now() - t;
    const rollupRequests = ctx.tableRequests.requests - before;
    progress(`month by tag from rollups: ${Math.round(rollupMs)} ms, ${rollupRequests} requests`);

    const floor = await rawReads(ctx, monthStart, days);
    const shareOfFloor = floor.ms / rollupMs;
    progress(
      `floor: the same rows read raw in ${Math.round(floor.ms)} ms, ${floor.tableRequests} requests (${floor.rows} rows): the report at ${sig3(shareOfFloor)} of it`,
    );

    before = ctx.tableRequests.requests;
    t = performance.now();
    const fromSegments = await usageReport(deps, { ...query, fromSegmentsOnly: true });
    const segmentsMs = performance.now() - t;
    const segmentsRequests = ctx.tableRequests.requests - before;
    progress(`month by tag from segments: ${Math.round(segmentsMs)} ms, ${segmentsRequests} requests`);
    const mismatches = sameAnswer(fromRollups, fromSegments);

    // One daily rollup run: yesterday for every VM, from the current rows alone.
    before = ctx.tableRequests.requests;
    t = performance.now();
    const daily = await rollupUsage({ ...deps, digests: ctx.digests, log: silentLogger, now: () => asOf });
    const dailyMs = performance.now() - t;
    const dailyRequests = ctx.tableRequests.requests - before;
    progress(
      `daily rollup: ${Math.round(dailyMs)} ms, ${dailyRequests} requests, ${daily.transactions} transactions`,
    );

    return {
      figures: {
        vms: vmCount,
        days,
        seedSeconds: sig3(seedMs / 1000),
        groups: fromRollups.rows.length,
        fromRollups: {
          ms: Math.round(rollupMs),
          tableRequests: rollupRequests,
          sources: fromRollups.sources,
        },
        fromSegments: { ms: Math.round(segmentsMs), tableRequests: segmentsRequests },
        floor: {
          target: 'rawReadMs / reportMs >= 0.8; report Table requests <= raw reads + 1',
          rawReadMs: Math.round(floor.ms),
          rawReadTableRequests: floor.tableRequests,
          rowsRead: floor.rows,
          reportShareOfFloor: sig3(shareOfFloor),
        },
        speedup: sig3(segmentsMs / rollupMs),
        mismatches,
        dailyRollup: {
          ms: Math.round(dailyMs),
          tableRequests: dailyRequests,
          transactions: daily.transactions,
          rows: daily.rows,
          segmentReads: daily.recomputed,
          digests: daily.digests,
          digestsBackfilled: daily.digestsBackfilled,
        },
      },
      targets: [
        atLeast('monthByTag: rawReadTime / reportTime (share of the floor)', shareOfFloor, 0.8),
        atMost(
          'monthByTagTableRequests (raw reads of its input + 1)',
          rollupRequests,
          floor.tableRequests + 1,
        ),
        exactly('groupsDifferingFromSegments', mismatches, 0),
      ],
    };
  } finally {
    await tables?.stop();
  }
}
