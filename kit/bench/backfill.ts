/**
 * Backfill benchmark: `backfillSubscriptions` (the CLI's inline backfill) of one subscription's Activity
 * Log from the ARM emulator over HTTP into Azurite, against the floor: the same observations recorded
 * through the store directly (`recordMany`, each VM's whole history at once) into fresh tables on the
 * same Azurite.
 *
 * History: `vms` VMs over `days` days; on each day a VM is used with probability `BENCH_BACKFILL_USE`
 * percent (default 37: about 2.2 records per VM and day, so 1,000 VMs × 90 days ≈ 200,000 records):
 * started in the morning and deallocated in the evening, each operation taking 20 s to 3 min and
 * writing Started, Accepted and Succeeded records 3-20 minutes late.
 *
 * Figures: management requests (= pages + throttling retries), records per second vs the floor's,
 * Table requests by kind (each flush re-reads the VM's partition: counted), peak memory (this
 * process holds the emulator's records too). Targets: requests = pages + throttled; the stored
 * timelines equal the floor's for a sample of VMs.
 *
 * Settings: `BENCH_BACKFILL_VMS` (1,000), `BENCH_BACKFILL_DAYS` (89: the log keeps 90, a backfill asks
 * at most 89.9), `BENCH_BACKFILL_USE` (37), `BENCH_STORAGE`, `BENCH_SEED`.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/adapters/logger';
import { backfillSubscriptions, type BackfillDependencies } from '../../src/app/backfill';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { readActivityLogRecord } from '../../src/domain/activity-log';
import type { Observation } from '../../src/domain/observation';
import { vmKey } from '../../src/domain/resource-id';
import { startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import { seededRandom } from '../emulator/seeded-random';
import {
  atLeast,
  benchStorage,
  exactly,
  intSetting,
  pool,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  type BenchStorage,
} from './benchmark';
import { trafficDelta, watchTableTraffic, type TableTraffic } from './table-traffic';

const hour = 3_600_000;
const day = 24 * hour;
const subscriptionId = '00000000-0000-0000-0000-0000000bf013';

/** Peak RSS and heap of this process, sampled every 200 ms. */
function watchMemory(): { stop(): { rssMb: number; heapMb: number } } {
  let rss = 0;
  let heap = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { rssMb: sig3(rss / 2 ** 20), heapMb: sig3(heap / 2 ** 20) };
    },
  };
}

function generateHistory(
  arm: ArmEmulator,
  vms: number,
  days: number,
  usePercent: number,
  seed: number,
  now: number,
): { vmIds: string[]; records: number } {
  const random = seededRandom(seed);
  const vmIds = Array.from(
    { length: vms },
    (_, i) =>
      arm.fleet.addVm({
        subscriptionId,
        resourceGroup: `rg-bf-${i % 20}`,
        name: `bf-${i}`,
        powerState: 'deallocated',
      }).id,
  );
  let records = 0;
  // Whole past days inside the backfill's range (`days` back from now), none in the future.
  const firstDay = Math.floor(now / day) * day - (days - 1) * day;
  for (let d = 0; d < days; d++) {
    for (const resourceId of vmIds) {
      if (random() * 100 >= usePercent) continue;
      for (const [operation, at] of [
        ['start', firstDay + d * day + 7 * hour + random() * 3 * hour],
        ['deallocate', firstDay + d * day + 17 * hour + random() * 4 * hour],
      ] as const) {
        if (at > now - hour) continue;
        arm.fleet.activityLog.addOperation({
          resourceId,
          operation,
          startedAt: Math.floor(at),
          durationInMs: 20_000 + Math.floor(random() * 160_000),
          lagInMs: 3 * 60_000 + Math.floor(random() * 17 * 60_000),
        });
        records += 3;
      }
    }
  }
  return { vmIds, records };
}

function context(storage: string, arm: ArmEmulator): AppContext {
  return createAppContext(
    loadConfig({
      TIMELINE_STORAGE: storage,
      TABLE_NAME_PREFIX: `b${randomBytes(5).toString('hex')}`,
      ARM_ENDPOINT: arm.url,
    }),
    { log: silentLogger },
  );
}

export async function runBackfillBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const vms = intSetting('BENCH_BACKFILL_VMS', 1_000);
  const days = Math.min(intSetting('BENCH_BACKFILL_DAYS', 89), 89);
  const usePercent = intSetting('BENCH_BACKFILL_USE', 37);
  const seed = intSetting('BENCH_SEED', 20_240_601);
  const concurrency = 8;
  let tables: BenchStorage | undefined;
  let arm: ArmEmulator | undefined;
  let traffic: TableTraffic | undefined;
  const contexts: AppContext[] = [];
  try {
    tables = await benchStorage();
    arm = await startArmEmulator({ enforceRateLimits: true });
    const now = Date.now();
    const history = generateHistory(arm, vms, days, usePercent, seed, now);
    progress(`history: ${vms} VMs × ${days} days, ${history.records} records`);

    // The backfill, as `vm-timeline backfill` runs it.
    const ctx = context(tables.connectionString, arm);
    contexts.push(ctx);
    await ctx.ensureTables();
    traffic = watchTableTraffic(tables.azurite?.tableEndpoint ?? ctx.tables.endpoint);
    const deps: BackfillDependencies = { ...ctx, reader: ctx.management, log: silentLogger };
    const armBefore = { ...arm.requests };
    const trafficBefore = traffic.snapshot();
    const tableBefore = ctx.tableRequests.requests;
    let memory = watchMemory();
    let t = performance.now();
    const [summary] = await backfillSubscriptions([subscriptionId], days, deps, {
      budgetInMs: 3_600_000,
      concurrency,
    });
    const backfillMs = performance.now() - t;
    const backfillMemory = memory.stop();
    if (summary === undefined || summary.error !== undefined)
      throw new Error(`backfill failed: ${summary?.error ?? 'no summary'}`);
    const backfillTraffic = trafficDelta(traffic.snapshot(), trafficBefore);
    const backfillTableRequests = ctx.tableRequests.requests - tableBefore;
    const managementRequests = arm.requests.activityLog - armBefore.activityLog;
    const throttled = arm.requests.throttled - armBefore.throttled;
    progress(
      `backfill: ${summary.records} records, ${summary.observations} observations, ${summary.pages} pages, ${managementRequests} requests in ${Math.round(backfillMs)} ms`,
    );

    // The floor: the same observations through the store directly, each VM's whole history at once.
    const byVm = new Map<string, Observation[]>();
    for (const record of arm.fleet.activityLog.query(
      subscriptionId,
      { from: now - days * day, to: now },
      now,
    )) {
      const decision = readActivityLogRecord(record, now);
      if (decision.kind !== 'observe') continue;
      const key = vmKey(decision.observation.resourceId);
      byVm.set(key, [...(byVm.get(key) ?? []), decision.observation]);
    }
    const floorCtx = context(tables.connectionString, arm);
    contexts.push(floorCtx);
    await floorCtx.ensureTables();
    const floorTrafficBefore = traffic.snapshot();
    const floorTableBefore = floorCtx.tableRequests.requests;
    memory = watchMemory();
    t = performance.now();
    let floorObservations = 0;
    await pool([...byVm.values()], concurrency, async (observations) => {
      const { recorded } = await floorCtx.store.recordMany(observations);
      floorObservations += recorded;
    });
    const floorMs = performance.now() - t;
    const floorMemory = memory.stop();
    const floorTraffic = trafficDelta(traffic.snapshot(), floorTrafficBefore);
    const floorTableRequests = floorCtx.tableRequests.requests - floorTableBefore;
    progress(`floor: ${floorObservations} observations recorded directly in ${Math.round(floorMs)} ms`);

    // Same outcome: a sample of timelines equal.
    const ids = [...byVm.values()].map((list) => list[0]?.resourceId ?? '');
    const step = Math.max(1, Math.floor(ids.length / 50));
    const sample = ids.filter((_, i) => i % step === 0).slice(0, 50);
    let mismatches = 0;
    for (const resourceId of sample) {
      const a = (await ctx.store.getTimeline(resourceId))?.segments ?? [];
      const b = (await floorCtx.store.getTimeline(resourceId))?.segments ?? [];
      if (JSON.stringify(a) !== JSON.stringify(b)) mismatches += 1;
    }

    const recordsPerSecond = (summary.records * 1000) / backfillMs;
    const floorRecordsPerSecond = (summary.records * 1000) / floorMs;
    const partitionReads = backfillTraffic['query'] ?? 0;
    return {
      figures: {
        storage: tables.description,
        history: { vms, days, usePercent, generatedRecords: history.records, vmsRead: summary.vms },
        backfill: {
          seconds: sig3(backfillMs / 1000),
          records: summary.records,
          observations: summary.observations,
          duplicates: summary.duplicates,
          skipped: summary.skipped,
          slices: summary.slices,
          pages: summary.pages,
          managementRequests,
          throttled,
          recordsPerSecond: sig3(recordsPerSecond),
          tableRequests: backfillTableRequests,
          tableRequestsByKind: backfillTraffic,
          tableRequestsPerRecord: sig3(backfillTableRequests / Math.max(1, summary.records)),
          partitionQueriesPerVm: sig3(partitionReads / Math.max(1, summary.vms)),
          peakMemory: backfillMemory,
        },
        floor: {
          note: "the same observations through the store's recordMany directly, each VM's history at once",
          seconds: sig3(floorMs / 1000),
          observations: floorObservations,
          recordsPerSecond: sig3(floorRecordsPerSecond),
          tableRequests: floorTableRequests,
          tableRequestsByKind: floorTraffic,
          peakMemory: floorMemory,
        },
        ratio: { backfillToFloor: sig3(recordsPerSecond / floorRecordsPerSecond) },
        verification: { verifiedVms: sample.length, mismatches },
      },
      targets: [
        exactly(
          'managementRequests - (pages + throttled)',
          managementRequests - (summary.pages + throttled),
          0,
        ),
        exactly('observations: backfill - floor', summary.observations - floorObservations, 0),
        exactly('timelineMismatches', mismatches, 0),
        atLeast('backfill records/s / floor records/s', recordsPerSecond / floorRecordsPerSecond, 0.5),
      ],
    };
  } finally {
    traffic?.close();
    if (tables?.azurite === undefined)
      for (const ctx of contexts)
        for (const name of Object.values(ctx.tableNames))
          await ctx.tables
            .table(name)
            .deleteTable()
            .catch(() => undefined);
    await arm?.close();
    await tables?.stop();
  }
}
