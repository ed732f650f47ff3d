/**
 * Reconcile benchmark (`npm run bench -- reconcile`): `reconcileSubscription` against the ARM emulator and
 * Azurite.
 *
 * 1. `BENCH_VMS` (10,000) VMs in one subscription, their history seeded straight into the tables (one
 *    observation and one open segment each, the current rows, and a complete-run mark with fresh
 *    details), then 1% changed in the emulator with no event: one reconcile run, measured (management
 *    requests, Table requests, wall time).
 * 2. Another 1% changed, then the same fleet polled the way per-VM tools do: one instance-view GET per VM,
 *    its current row read, a write when it changed. Ratios of requests and of time.
 * 3. `BENCH_MEMORY_VMS` (100,000) VMs, current rows seeded, one reconcile run in a child process: its peak
 *    resident memory (`process.resourceUsage().maxRSS`). The emulator (and its fleet) stays in this process.
 *
 * The floor of step 1: what a run cannot avoid, done raw in the same run: the listing alone (emulator +
 * SDK), every current row of the subscription read (pages of 1,000), and 3 Table requests per change
 * (upserts, 16 at a time as the run's per-VM work). Target: that floor's time / the run's ≥ 0.8 (the run
 * overlaps listing and Table work, so it may beat the sum); no target in seconds, which on a shared
 * machine's Azurite would say nothing about the design. Peak memory keeps an absolute bound.
 *
 * Settings: `BENCH_STORAGE` (connection string; default: a fresh in-memory Azurite), `BENCH_VMS`,
 * `BENCH_MEMORY_VMS` (0 skips step 3).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { odata, type TransactionAction } from '@azure/data-tables';
import { createArmClient } from '../../src/adapters/arm';
import { silentLogger } from '../../src/adapters/logger';
import { currentEntity } from '../../src/adapters/codecs/current';
import { observationEntity, segmentEntity } from '../../src/adapters/codecs/timeline';
import type { CurrentState, ReconcileRunStore, TimelineStore } from '../../src/app/ports';
import { reconcileSubscription, type ReconcileSummary } from '../../src/app/reconcile';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { billingOf } from '../../src/domain/billing';
import type { Observation } from '../../src/domain/observation';
import { parseInstanceView, PowerState } from '../../src/domain/power-state';
import { currentKeys, vmKey } from '../../src/domain/resource-id';
import { startArmEmulator, type ArmEmulator, type EmulatedPowerState } from '../emulator/arm-emulator';
import {
  atLeast,
  atMost,
  exactly,
  pool,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  benchStorage,
  type BenchStorage,
} from './benchmark';

const subscriptionId = '00000000-0000-0000-0000-00000000bec0';
const seedStates: readonly EmulatedPowerState[] = ['running', 'running', 'running', 'deallocated', 'stopped'];
const nextState: Readonly<Record<string, EmulatedPowerState>> = {
  running: 'stopped',
  stopped: 'deallocated',
  deallocated: 'running',
};

function intSetting(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

function context(storage: string, prefix: string, armEndpoint: string): AppContext {
  return createAppContext(
    loadConfig({ TIMELINE_STORAGE: storage, TABLE_NAME_PREFIX: prefix, ARM_ENDPOINT: armEndpoint }),
    { log: silentLogger },
  );
}

/** Adds `count` VMs to the emulated fleet; returns their ids. */
function addFleet(emulator: ArmEmulator, count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const vm = emulator.fleet.addVm({
      subscriptionId,
      resourceGroup: `rg-${i % 20}`,
      name: `vm-${String(i).padStart(6, '0')}`,
      powerState: seedStates[i % seedStates.length] ?? 'running',
    });
    ids.push(vm.id);
  }
  return ids;
}

/**
 * Seeds what earlier runs would have left: the current rows (100 per transaction), one observation and
 * its open segment for the VMs in `withHistory`, and a complete-run mark with fresh details.
 */
async function seed(
  ctx: AppContext,
  emulator: ArmEmulator,
  ids: readonly string[],
  at: number,
  withHistory: ReadonlySet<string>,
): Promise<void> {
  const timeline = ctx.tables.table(ctx.tableNames.timeline);
  const currentTable = ctx.tables.table(ctx.tableNames.current);
  const rows = ids.map((resourceId) => {
    const state = (emulator.fleet.getVm(resourceId)?.powerState ?? 'running') as PowerState;
    const o: Observation = { resourceId, at, state, source: 'reconcile', dedupeId: 'seed' };
    const current: CurrentState = {
      resourceId,
      subscriptionId,
      state,
      billing: billingOf(state),
      since: at,
      sinceSource: 'reconcile',
      last: { at, source: 'reconcile', dedupeId: 'seed' },
    };
    return { key: vmKey(resourceId), o, current };
  });
  {
    // Only VMs the benchmark will change need their history: the others are never written.
    const changing = rows.filter((row) => withHistory.has(row.current.resourceId));
    await pool(changing, 32, async ({ key, o, current }) => {
      const segment = {
        state: o.state ?? PowerState.unknown,
        billing: billingOf(o.state ?? 'unknown'),
        start: at,
        source: o.source,
      };
      await timeline.submitTransaction([
        ['create', observationEntity(key, o)],
        ['upsert', segmentEntity(key, current.resourceId, segment), 'Replace'],
      ]);
    });
  }
  const batches: TransactionAction[][] = [];
  for (let i = 0; i < rows.length; i += 100)
    batches.push(
      rows.slice(i, i + 100).map(({ key, current }) => ['upsert', currentEntity(key, current, 1), 'Replace']),
    );
  await pool(batches, 8, async (batch) => {
    await currentTable.submitTransaction(batch);
  });
  const lease = await ctx.runs.acquire(subscriptionId, 'seed', at, at);
  if (lease === undefined) throw new Error('could not seed the reconcile mark');
  await ctx.runs.release(lease, {
    mark: { startedAt: at, unconfirmed: {} },
    detailsAt: Date.now(),
    endedAt: at,
    complete: true,
  });
  // Sanity: the partition keys we wrote are the ones the store reads.
  if (rows[0] !== undefined && currentKeys(rows[0].key).partitionKey !== subscriptionId.toLowerCase())
    throw new Error('unexpected current-row partition');
}

/** Every 100th VM, from `offset`. */
function onePercent(ids: readonly string[], offset: number): string[] {
  return ids.filter((_, i) => i % 100 === offset);
}

/** Changes the VMs' power state with no event; returns how many. */
function change(emulator: ArmEmulator, ids: readonly string[]): number {
  let changed = 0;
  for (const id of ids) {
    const vm = emulator.fleet.getVm(id);
    if (vm === undefined) continue;
    emulator.fleet.setPowerState(id, nextState[vm.powerState] ?? 'running');
    changed += 1;
  }
  return changed;
}

/** The emulator's and the SDK's share: every status page read, nothing else. */
async function listingOnlyMs(ctx: AppContext): Promise<number> {
  const t = performance.now();
  for await (const page of ctx.management.listVmStatuses(subscriptionId)) void page;
  return performance.now() - t;
}

/** The raw Table work a run cannot avoid: the subscription's current rows read, 3 upserts per change. */
async function rawTableWorkMs(ctx: AppContext, changes: number): Promise<{ ms: number; requests: number }> {
  const before = ctx.tableRequests.requests;
  const t = performance.now();
  const filter = odata`PartitionKey eq ${subscriptionId}`;
  for await (const page of ctx.tables
    .table(ctx.tableNames.current)
    .listEntities({ queryOptions: { filter } })
    .byPage({ maxPageSize: 1000 }))
    void page;
  const timeline = ctx.tables.table(ctx.tableNames.timeline);
  const rows = Array.from({ length: 3 * changes }, (_, i) => ({
    partitionKey: 'bench-floor',
    rowKey: `r${String(i).padStart(6, '0')}`,
    kind: 'floor',
    at: new Date(),
  }));
  await pool(rows, 16, async (row) => {
    await timeline.upsertEntity(row, 'Replace');
  });
  return { ms: performance.now() - t, requests: ctx.tableRequests.requests - before };
}

/**
 * Per-VM polling: the current rows read once (as the reconciler does), then one instance-view GET per VM
 * and a write when it changed. Only the management side differs from the reconciler.
 */
async function pollEveryVm(ctx: AppContext, ids: readonly string[]): Promise<number> {
  const states = new Map<string, string | undefined>();
  for await (const page of ctx.store.listCurrent(subscriptionId))
    for (const row of page) states.set(vmKey(row.resourceId), row.state);
  let changed = 0;
  await pool(ids, 16, async (resourceId) => {
    const statuses = await ctx.management.getInstanceView(resourceId);
    const state = parseInstanceView(statuses).powerState;
    if (state === PowerState.unknown || states.get(vmKey(resourceId)) === state) return;
    const at = Date.now();
    await ctx.store.record({ resourceId, at, state, source: 'instanceView', dedupeId: `poll:${at}` });
    changed += 1;
  });
  return changed;
}

interface MemoryChildResult {
  maxRssMb: number;
  summary: ReconcileSummary;
}

/** The VM of index `i`, as `addFleet` makes it. */
function fleetVm(i: number): { resourceId: string; state: PowerState } {
  return {
    resourceId: `/subscriptions/${subscriptionId}/resourceGroups/rg-${i % 20}/providers/Microsoft.Compute/virtualMachines/vm-${String(i).padStart(6, '0')}`,
    state: seedStates[i % seedStates.length] ?? 'running',
  };
}

/**
 * Child process of step 3: one reconcile run over HTTP to the emulator, then its peak RSS on stdout. The
 * current rows come in pages of 1,000 from an in-process store, as the Table adapter yields them (Azurite
 * takes many minutes to hold 100,000 rows in one partition); nothing changes, so nothing is written.
 */
async function memoryChild(): Promise<void> {
  const [armEndpoint = '', countText = '0'] = process.argv.slice(3);
  const count = Number(countText);
  const at = Date.now() - 10 * 60_000;
  const store = {
    async *listCurrent(): AsyncIterable<CurrentState[]> {
      for (let i = 0; i < count; i += 1000) {
        const page: CurrentState[] = [];
        for (let j = i; j < Math.min(count, i + 1000); j++) {
          const { resourceId: built, state } = fleetVm(j);
          // Flat, as a string parsed from a Table response is.
          const resourceId = JSON.parse(JSON.stringify(built)) as string;
          page.push({
            resourceId,
            subscriptionId,
            state,
            since: at,
            last: { at, source: 'reconcile', dedupeId: 'seed' },
          });
        }
        yield await Promise.resolve(page);
      }
    },
    record: () => Promise.resolve('recorded' as const),
    updateDetails: () => Promise.resolve(true),
  } as unknown as TimelineStore;
  const runs: ReconcileRunStore = {
    acquire: (subscription, runId) =>
      Promise.resolve({
        subscriptionId: subscription,
        runId,
        mark: { startedAt: at, unconfirmed: {} },
        detailsAt: Date.now(),
        etag: '*',
      }),
    release: () => Promise.resolve(true),
  };
  const management = createArmClient({ endpoint: armEndpoint });
  const summary = await reconcileSubscription(
    subscriptionId,
    { store, runs, management, log: silentLogger, now: Date.now },
    { budgetInMs: 1_800_000 },
  );
  const result: MemoryChildResult = { maxRssMb: process.resourceUsage().maxRSS / 1024, summary };
  process.stdout.write(JSON.stringify(result));
}

function runMemoryChild(armEndpoint: string, count: number): Promise<MemoryChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--memory-child', armEndpoint, String(count)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory child exited with ${code}`));
      try {
        resolve(JSON.parse(out) as MemoryChildResult);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

export async function runReconcileBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const vms = intSetting('BENCH_VMS', 10_000);
  const memoryVms = intSetting('BENCH_MEMORY_VMS', 100_000);
  let tables: BenchStorage | undefined;
  let emulator: ArmEmulator | undefined;
  try {
    tables = await benchStorage();
    const storage = tables.connectionString;
    emulator = await startArmEmulator();
    const prefix = `b${randomBytes(4).toString('hex')}`;
    const ctx = context(storage, prefix, emulator.url);
    await ctx.ensureTables();

    // 1. 10,000 VMs, 1% changed.
    const ids = addFleet(emulator, vms);
    const forReconcile = onePercent(ids, 7);
    const forPolling = onePercent(ids, 53);
    let t = performance.now();
    await seed(ctx, emulator, ids, Date.now() - 10 * 60_000, new Set([...forReconcile, ...forPolling]));
    progress(`seeded ${vms} VMs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const listingMs = await listingOnlyMs(ctx);
    progress(`listing only (emulator + SDK): ${Math.round(listingMs)} ms`);
    const changed = change(emulator, forReconcile);
    const tableBefore = ctx.tableRequests.requests;
    const statusBefore = new Map(ctx.tableRequests.byStatus);
    emulator.resetCounters();
    t = performance.now();
    const summary = await reconcileSubscription(subscriptionId, ctx);
    const reconcileMs = performance.now() - t;
    const reconcileTable = ctx.tableRequests.requests - tableBefore;
    const reconcileTableByStatus = Object.fromEntries(
      [...ctx.tableRequests.byStatus].map(([code, n]) => [code, n - (statusBefore.get(code) ?? 0)]),
    );
    progress(`reconcile Table requests by status: ${JSON.stringify(reconcileTableByStatus)}`);
    const reconcileManagement = summary.requests;
    const currentPages = Math.ceil(vms / 1000);
    /** The run row: read, take the lease, release with the new mark. */
    const leaseRequests = 3;
    progress(`reconcile: ${JSON.stringify(summary)}`);

    const rawTable = await rawTableWorkMs(ctx, changed);
    const floorMs = listingMs + rawTable.ms;
    progress(
      `floor: listing ${Math.round(listingMs)} ms + raw Table work ${Math.round(rawTable.ms)} ms (${rawTable.requests} requests); the run at ${sig3(floorMs / reconcileMs)} of it`,
    );

    // 2. Per-VM polling baseline on the same fleet, after another 1% changed.
    const changedForPolling = change(emulator, forPolling);
    const pollTableBefore = ctx.tableRequests.requests;
    const pollManagementBefore = ctx.management.stats.requests;
    t = performance.now();
    const polledChanges = await pollEveryVm(ctx, ids);
    const pollMs = performance.now() - t;
    const pollTable = ctx.tableRequests.requests - pollTableBefore;
    const pollManagement = ctx.management.stats.requests - pollManagementBefore;
    progress(`polling: ${pollManagement} management, ${pollTable} Table requests, ${Math.round(pollMs)} ms`);

    // 3. Peak memory of a reconcile process at 100,000 VMs.
    let memory: MemoryChildResult | undefined;
    if (memoryVms > 0) {
      emulator.fleet.removeSubscription(subscriptionId);
      addFleet(emulator, memoryVms);
      // The emulator builds every VM of the subscription for each page: 1,000 a page keeps it bounded
      // (and a larger page only costs the reconciler more memory).
      emulator.pageSize = 1000;
      t = performance.now();
      memory = await runMemoryChild(emulator.url, memoryVms);
      progress(
        `memory run: ${Math.round(memory.maxRssMb)} MB peak RSS, ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }

    const targets = [
      exactly('changesRecorded', summary.changed, changed),
      atMost('managementRequests', reconcileManagement, summary.pages + summary.unknown),
      atMost('tableRequestsBesidesLeaseRow', reconcileTable - leaseRequests, currentPages + 3 * changed),
      atLeast('floorTime / reconcileTime (share of the floor)', floorMs / reconcileMs, 0.8),
    ];
    if (memory !== undefined) {
      targets.push(atMost('peakRssMb100k', memory.maxRssMb, 300));
      targets.push(exactly('memoryRunSeen', memory.summary.seen, memoryVms));
    }
    return {
      figures: {
        vms,
        changed,
        listPages: summary.pages,
        currentPages,
        reconcile: {
          listingOnlyMs: sig3(listingMs),
          managementRequests: reconcileManagement,
          tableRequests: reconcileTable,
          tableRequestsByStatus: reconcileTableByStatus,
          leaseRowRequests: leaseRequests,
          wallTimeMs: sig3(reconcileMs),
          complete: summary.complete,
        },
        floor: {
          target: '(listingOnlyMs + rawTableMs) / reconcile wallTimeMs >= 0.8',
          listingOnlyMs: sig3(listingMs),
          rawTableMs: sig3(rawTable.ms),
          rawTableRequests: rawTable.requests,
          shareOfFloor: sig3(floorMs / reconcileMs),
        },
        perVmPolling: {
          changed: changedForPolling,
          recorded: polledChanges,
          managementRequests: pollManagement,
          tableRequests: pollTable,
          wallTimeMs: sig3(pollMs),
        },
        ratios: {
          managementRequests: sig3(pollManagement / Math.max(1, reconcileManagement)),
          tableRequests: sig3(pollTable / Math.max(1, reconcileTable)),
          time: sig3(pollMs / Math.max(1, reconcileMs)),
        },
        memory:
          memory === undefined
            ? 'skipped (BENCH_MEMORY_VMS=0)'
            : {
                vms: memoryVms,
                peakRssMb: sig3(memory.maxRssMb),
                wallTimeMs: memory.summary.durationInMs,
                pages: memory.summary.pages,
                pageSize: 1000,
                measuredIn:
                  'child process: one reconcileSubscription over HTTP to the emulator (in the parent); current rows from an in-process store',
              },
        storage: tables.description,
      },
      targets,
    };
  } finally {
    await emulator?.close();
    await tables?.stop();
  }
}

if (require.main === module && process.argv[2] === '--memory-child') {
  memoryChild().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
