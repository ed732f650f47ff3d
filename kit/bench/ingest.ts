/**
 * Ingest benchmark: the event path (`ingestEvent` → TableTimelineStore) against Azurite, compared with
 * what this design can reach on the same Azurite, measured in the same run.
 *
 * The floor: a design that needs R Table requests per event can ingest at most (raw request rate) / R
 * events per second, where the raw request rate is that of single upserts into a table of the size the
 * timeline table reached (Azurite slows as a table grows), at the ingest's concurrency. Targets: the
 * ingest rate ≥ 0.8 of that floor (the app adds little besides its requests), and R ≤ 2.5. The rate
 * against raw upserts into a small fresh table is kept as a figure only: it holds no design to account
 * for its requests per event, nor for the table's size.
 *
 * 1. Raw rate: `rawUpserts` sequential `upsertEntity` calls of observation-shaped rows, then as many at
 *    the ingest concurrency, into a small fresh table.
 * 2. `vms` × `eventsPerVm` certain events (start, restart, powerOff, deallocate, delete; Event Grid and
 *    CloudEvents mixed) spread over days, delivered mostly in order per VM, ~5% swapped with the VM's next
 *    event, ~2% delivered twice, `concurrency` at a time (same-VM concurrency allowed, as in production).
 * 3. `writeEvents` `write` events against the ARM emulator (one instance-view read each).
 * 4. For a sample of VMs, the stored timeline equals `deriveSegments` of the VM's generated observations.
 * 5. The floor's raw rate: `rawUpserts` upserts at the ingest concurrency into the timeline table, now full.
 *
 * Settings: `BENCH_STORAGE` (connection string; default: a fresh in-memory Azurite), `BENCH_EVENTS_PER_VM`,
 * `BENCH_VMS`, `BENCH_CONCURRENCY`, `BENCH_RAW_UPSERTS`, `BENCH_SEED`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { silentLogger } from '../../src/adapters/logger';
import { observationEntity } from '../../src/adapters/codecs/timeline';
import { ingestEvent } from '../../src/app/ingest-event';
import type { IngestResult } from '../../src/app/ingest-outcome';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { vmKey } from '../../src/domain/resource-id';
import { deriveSegments, type Segment } from '../../src/domain/segments';
import { startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import {
  atLeast,
  atMost,
  exactly,
  pool,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  type Target,
  intSetting,
  benchStorage,
  type BenchStorage,
} from './benchmark';
import {
  benchSubscriptionId,
  benchVmResourceId,
  expectedObservation,
  generateWorkload,
  resourceEvent,
  type GeneratedEvent,
} from './events';
import { trafficDelta, watchTableTraffic, type TableTraffic } from './table-traffic';
import { seededRandom } from '../emulator/seeded-random';

/** The ARM emulator, or the reason it cannot be used. */
async function tryStartArmEmulator(): Promise<ArmEmulator | string> {
  try {
    return await startArmEmulator();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function rate(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}

/** Segment fields compared, with undefined ones left out. */
function comparable(segments: readonly Segment[]): Record<string, unknown>[] {
  return segments.map((s) =>
    Object.fromEntries(
      (['state', 'billing', 'start', 'end', 'startWindowFrom', 'source', 'operation', 'caller'] as const)
        .filter((k) => s[k] !== undefined)
        .map((k) => [k, s[k]]),
    ),
  );
}

async function measureRawUpserts(
  ctx: AppContext,
  tableName: string,
  count: number,
  concurrency: number,
  progress: (m: string) => void,
): Promise<{ sequential: number; concurrent: number; requests: number }> {
  const table = ctx.tables.table(tableName);
  await table.createTable();
  const rnd = seededRandom(7);
  const entity = (i: number, round: string) => {
    const resourceId = `/subscriptions/${benchSubscriptionId}/resourceGroups/rg-raw-${i % 20}/providers/Microsoft.Compute/virtualMachines/raw-${i % 1000}`;
    const id = `raw-${round}-${i}`;
    const e = resourceEvent({
      id,
      resourceId,
      operation: i % 2 === 0 ? 'start' : 'deallocate',
      time: Date.now() - Math.floor(rnd() * 86_400_000),
      caller: 'alice@contoso.com',
      schema: 'eventGrid',
    });
    return observationEntity(vmKey(resourceId), expectedObservation(e));
  };
  const before = ctx.tableRequests.requests;
  // Warm-up: connections, table metadata, JIT.
  await pool(
    Array.from({ length: 100 }, (_, i) => entity(i, 'warm')),
    concurrency,
    async (e) => {
      await table.upsertEntity(e, 'Replace');
    },
  );
  const sequentialRows = Array.from({ length: count }, (_, i) => entity(i, 'seq'));
  let t = performance.now();
  for (const e of sequentialRows) await table.upsertEntity(e, 'Replace');
  const sequentialMs = performance.now() - t;
  progress(`raw upserts: ${count} sequential in ${Math.round(sequentialMs)} ms`);
  const concurrentRows = Array.from({ length: count }, (_, i) => entity(i, 'conc'));
  t = performance.now();
  await pool(concurrentRows, concurrency, async (e) => {
    await table.upsertEntity(e, 'Replace');
  });
  const concurrentMs = performance.now() - t;
  progress(`raw upserts: ${count} at concurrency ${concurrency} in ${Math.round(concurrentMs)} ms`);
  return {
    sequential: rate(count, sequentialMs),
    concurrent: rate(count, concurrentMs),
    requests: ctx.tableRequests.requests - before,
  };
}

interface IngestRun {
  ms: number;
  tableRequests: number;
  managementCalls: number;
  outcomes: Record<string, number>;
  redeliveries: number;
  failed: number;
  traffic: Record<string, number>;
  /** Mean milliseconds per request, by kind. */
  latency: Record<string, number>;
  /** CPU seconds used by this process and by Azurite (when known) during the run. */
  cpuSeconds: { bench: number; azurite?: number };
  firstError?: string;
}

/** CPU seconds (user + system) a process has used, from /proc (Linux); undefined elsewhere. */
function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Delivers every event through `ingestEvent`, `concurrency` at a time; a thrown error is redelivered (up to 5 times). */
async function ingestAll(
  ctx: AppContext,
  deliveries: readonly GeneratedEvent[],
  concurrency: number,
  traffic: TableTraffic,
  azuritePid: number | undefined,
): Promise<IngestRun> {
  const outcomes: Record<string, number> = {};
  let redeliveries = 0;
  let failed = 0;
  let firstError: string | undefined;
  const tableBefore = ctx.tableRequests.requests;
  const managementBefore = ctx.management.stats.requests;
  const trafficBefore = traffic.snapshot();
  const latencyBefore = traffic.latency();
  const cpuBefore = process.cpuUsage();
  const azuriteCpuBefore = processCpuSeconds(azuritePid);
  const t = performance.now();
  await pool(deliveries, concurrency, async (event) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const result: IngestResult = await ingestEvent(event.raw, ctx);
        outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
        return;
      } catch (error) {
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        if (attempt >= 5) {
          failed += 1;
          return;
        }
        redeliveries += 1;
      }
    }
  });
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(cpuBefore);
  const azuriteCpuAfter = processCpuSeconds(azuritePid);
  const counts = trafficDelta(traffic.snapshot(), trafficBefore);
  const latencySums = trafficDelta(traffic.latency(), latencyBefore);
  const latency = Object.fromEntries(
    Object.entries(latencySums).map(([kind, total]) => [kind, sig3(total / (counts[kind] ?? 1))]),
  );
  const cpuSeconds: IngestRun['cpuSeconds'] = { bench: sig3((cpu.user + cpu.system) / 1e6) };
  if (azuriteCpuBefore !== undefined && azuriteCpuAfter !== undefined)
    cpuSeconds.azurite = sig3(azuriteCpuAfter - azuriteCpuBefore);
  const run: IngestRun = {
    ms,
    tableRequests: ctx.tableRequests.requests - tableBefore,
    managementCalls: ctx.management.stats.requests - managementBefore,
    outcomes,
    redeliveries,
    failed,
    traffic: counts,
    latency,
    cpuSeconds,
  };
  if (firstError !== undefined) run.firstError = firstError;
  return run;
}

/** Deletes the benchmark's tables from a storage account it did not start. */
async function dropTables(ctx: AppContext, progress: (m: string) => void): Promise<void> {
  for (const name of [...Object.values(ctx.tableNames), `${ctx.config.tablePrefix}Raw`]) {
    try {
      await ctx.tables.table(name).deleteTable();
    } catch (error) {
      progress(`could not delete table ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

export async function runIngestBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const vms = intSetting('BENCH_VMS', 1_000);
  const eventsPerVm = intSetting('BENCH_EVENTS_PER_VM', 10);
  const concurrency = intSetting('BENCH_CONCURRENCY', 16);
  const rawUpserts = intSetting('BENCH_RAW_UPSERTS', 2_000);
  const writeEventCount = intSetting('BENCH_WRITE_EVENTS', 200);
  const seed = intSetting('BENCH_SEED', 20_240_601);
  const sampleSize = 50;

  let tables: BenchStorage | undefined;
  let arm: ArmEmulator | string | undefined;
  let traffic: TableTraffic | undefined;
  let ctx: AppContext | undefined;
  try {
    const t = performance.now();
    tables = await benchStorage();
    const storage = tables.connectionString;
    const azurite = tables.azurite;
    progress(
      azurite === undefined
        ? 'storage: BENCH_STORAGE'
        : `storage: Azurite started in ${Math.round(performance.now() - t)} ms at ${azurite.tableEndpoint}`,
    );
    arm = await tryStartArmEmulator();
    progress(typeof arm === 'string' ? `ARM emulator unavailable: ${arm}` : `ARM emulator at ${arm.url}`);
    const prefix = `b${randomBytes(5).toString('hex')}`;
    ctx = createAppContext(
      loadConfig({
        TIMELINE_STORAGE: storage,
        TABLE_NAME_PREFIX: prefix,
        ARM_ENDPOINT: typeof arm === 'string' ? 'http://127.0.0.1:9' : arm.url,
      }),
      { log: silentLogger },
    );
    traffic = watchTableTraffic(azurite?.tableEndpoint ?? ctx.tables.endpoint);
    await ctx.ensureTables();

    // 1. Raw single-upsert rate of this storage, now.
    const raw = await measureRawUpserts(ctx, `${prefix}Raw`, rawUpserts, concurrency, progress);

    // 2. Certain events.
    const workload = generateWorkload({ vms, eventsPerVm, seed, now: Date.now() });
    progress(
      `ingest: ${workload.counts.deliveries} deliveries (${workload.counts.events} events, ${vms} VMs), concurrency ${concurrency}`,
    );
    const ingest = await ingestAll(ctx, workload.deliveries, concurrency, traffic, azurite?.pid);
    progress(`ingest: done in ${Math.round(ingest.ms)} ms`);
    const events = workload.counts.events;
    const deliveries = workload.counts.deliveries;
    const eventsPerSecond = rate(events, ingest.ms);
    const deliveriesPerSecond = rate(deliveries, ingest.ms);

    // 3. Write events (outcome uncertain: one instance-view read each).
    let writes: Record<string, unknown> | undefined;
    let writeManagementPerEvent: number | undefined;
    if (typeof arm !== 'string') {
      const rnd = seededRandom(seed + 1);
      const states = ['running', 'stopped', 'deallocated'] as const;
      const expected = new Map<string, string>();
      const writeEvents: GeneratedEvent[] = [];
      const now = Date.now();
      for (let i = 0; i < writeEventCount; i++) {
        const powerState = states[Math.floor(rnd() * states.length)] ?? 'running';
        const { id: resourceId } = arm.fleet.addVm({
          subscriptionId: benchSubscriptionId,
          resourceGroup: 'rg-bench-write',
          name: `wvm-${i}`,
          powerState,
        });
        expected.set(resourceId, powerState);
        const id = `${randomBytes(4).toString('hex')}-b000-4000-9000-${i.toString(16).padStart(12, '0')}`;
        writeEvents.push(
          resourceEvent({
            id,
            resourceId,
            operation: 'write',
            time: now - 60_000 + i,
            caller: 'bob@contoso.com',
            schema: i % 2 === 0 ? 'eventGrid' : 'cloudEvents',
          }),
        );
      }
      const emulatorBefore = arm.requests.total;
      progress(`write events: ${writeEventCount} against the ARM emulator`);
      const run = await ingestAll(ctx, writeEvents, concurrency, traffic, azurite?.pid);
      let writeMismatches = 0;
      for (const [resourceId, state] of expected) {
        if ((await ctx.store.getCurrent(resourceId))?.state !== state) writeMismatches += 1;
      }
      writeManagementPerEvent = run.managementCalls / writeEventCount;
      writes = {
        events: writeEventCount,
        eventsPerSecond: sig3(rate(writeEventCount, run.ms)),
        tableRequestsPerEvent: sig3(run.tableRequests / writeEventCount),
        managementCallsPerEvent: sig3(writeManagementPerEvent),
        emulatorRequests: arm.requests.total - emulatorBefore,
        outcomes: run.outcomes,
        redeliveries: run.redeliveries,
        failed: run.failed,
        tableRequestsByKind: run.traffic,
        verifiedVms: expected.size,
        mismatches: writeMismatches,
        ...(run.firstError === undefined ? {} : { firstError: run.firstError }),
      };
    }

    // 4. Correctness: stored timelines of a sample equal the segments derived from the generated observations.
    const ids = [...workload.byVm.keys()];
    const step = Math.max(1, Math.floor(ids.length / sampleSize));
    const sample = ids.filter((_, i) => i % step === 0).slice(0, sampleSize);
    let mismatches = 0;
    const mismatchExamples: unknown[] = [];
    for (const resourceId of sample) {
      const expected = deriveSegments((workload.byVm.get(resourceId) ?? []).map(expectedObservation));
      const stored = (await ctx.store.getTimeline(resourceId))?.segments ?? [];
      if (JSON.stringify(comparable(stored)) !== JSON.stringify(comparable(expected))) {
        mismatches += 1;
        if (mismatchExamples.length < 2)
          mismatchExamples.push({ resourceId, expected: comparable(expected), stored: comparable(stored) });
      }
    }
    progress(`verified ${sample.length} VMs: ${mismatches} mismatches`);

    // Azurite slows down as a table grows (queries scan the whole table): the same upserts, at the same
    // concurrency, into the now full timeline table (partitions no VM uses), for a like-for-like rate.
    const timeline = ctx.tables.table(ctx.tableNames.timeline);
    const filler = Array.from({ length: rawUpserts }, (_, i) => {
      const e = resourceEvent({
        id: `after-${i}`,
        resourceId: benchVmResourceId(`after-${i % 1000}`, 'rg-bench-after'),
        operation: 'start',
        time: Date.now() - i,
        caller: 'alice@contoso.com',
        schema: 'eventGrid',
      });
      return observationEntity(vmKey(e.resourceId), expectedObservation(e));
    });
    let timelineRows = 0;
    for await (const page of timeline
      .listEntities({ queryOptions: { select: ['RowKey'] } })
      .byPage({ maxPageSize: 1000 }))
      timelineRows += page.length;
    const tAfter = performance.now();
    await pool(filler, concurrency, async (e) => {
      await timeline.upsertEntity(e, 'Replace');
    });
    const rawAfter = rate(rawUpserts, performance.now() - tAfter);
    progress(`raw upserts into the full timeline table (${timelineRows} rows): ${Math.round(rawAfter)}/s`);

    const ratioConcurrent = eventsPerSecond / raw.concurrent;
    const ratioSequential = eventsPerSecond / raw.sequential;
    const tableRequestsPerEvent = ingest.tableRequests / events;
    const managementCallsPerEvent = ingest.managementCalls / events;
    // What this design can reach here: the raw request rate into a table of this size, per its requests.
    const floorEventsPerSecond = rawAfter / tableRequestsPerEvent;
    const shareOfFloor = eventsPerSecond / floorEventsPerSecond;
    progress(
      `floor: ${Math.round(rawAfter)} requests/s / ${sig3(tableRequestsPerEvent)} requests per event = ${Math.round(floorEventsPerSecond)} events/s; ingest ${Math.round(eventsPerSecond)} events/s = ${sig3(shareOfFloor)} of it`,
    );
    const targets: Target[] = [
      atLeast(
        'ingestRate / floor (raw request rate into the full table / requests per event)',
        shareOfFloor,
        0.8,
      ),
      atMost('tableRequestsPerEvent', tableRequestsPerEvent, 2.5),
      exactly(
        'managementCallsPerEvent (start, restart, powerOff, deallocate, delete)',
        managementCallsPerEvent,
        0,
      ),
      ...(writeManagementPerEvent === undefined
        ? []
        : [atMost('managementCallsPerWriteEvent', writeManagementPerEvent, 1)]),
      exactly('timelineMismatches', mismatches, 0),
    ];
    return {
      figures: {
        storage: tables.description,
        concurrency,
        rawUpsert: {
          entities: rawUpserts,
          sequentialPerSecond: sig3(raw.sequential),
          concurrentPerSecond: sig3(raw.concurrent),
          rawTableRows: rawUpserts * 2 + 100,
          concurrentIntoFullTimelineTablePerSecond: sig3(rawAfter),
          timelineTableRows: timelineRows,
        },
        workload: { vms, ...workload.counts },
        ingest: {
          seconds: sig3(ingest.ms / 1000),
          eventsPerSecond: sig3(eventsPerSecond),
          deliveriesPerSecond: sig3(deliveriesPerSecond),
          tableRequestsPerEvent: sig3(tableRequestsPerEvent),
          tableRequestsPerDelivery: sig3(ingest.tableRequests / deliveries),
          managementCallsPerEvent: sig3(managementCallsPerEvent),
          outcomes: ingest.outcomes,
          redeliveries: ingest.redeliveries,
          failed: ingest.failed,
          tableRequestsByKind: ingest.traffic,
          meanLatencyMsByKind: ingest.latency,
          cpuSeconds: ingest.cpuSeconds,
          ...(ingest.firstError === undefined ? {} : { firstError: ingest.firstError }),
        },
        floor: {
          target: 'ingestRate / floorEventsPerSecond >= 0.8, tableRequestsPerEvent <= 2.5',
          rawRequestsPerSecondIntoFullTimelineTable: sig3(rawAfter),
          tableRequestsPerEvent: sig3(tableRequestsPerEvent),
          floorEventsPerSecond: sig3(floorEventsPerSecond),
          ingestShareOfFloor: sig3(shareOfFloor),
        },
        ratio: {
          note: 'figures, not targets: raw upserts hold no design to account for its requests per event',
          toConcurrentUpserts: sig3(ratioConcurrent),
          toSequentialUpserts: sig3(ratioSequential),
          toConcurrentUpsertsIntoFullTimelineTable: sig3(eventsPerSecond / rawAfter),
        },
        writeEvents: writes ?? { skipped: typeof arm === 'string' ? arm : 'ARM emulator unavailable' },
        verification: {
          verifiedVms: sample.length,
          mismatches,
          ...(mismatchExamples.length > 0 ? { mismatchExamples } : {}),
        },
      },
      targets,
    };
  } finally {
    traffic?.close();
    if (tables?.azurite === undefined && ctx !== undefined) await dropTables(ctx, progress);
    if (arm !== undefined && typeof arm !== 'string') await arm.close();
    await tables?.stop();
  }
}
