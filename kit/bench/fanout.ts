/**
 * Management-group fan-out benchmark (`npm run bench -- fanout`): `BENCH_FANOUT_SUBSCRIPTIONS` (200)
 * subscriptions × `BENCH_FANOUT_VMS` (500) VMs under one management group of the ARM emulator, their
 * current rows and reconcile marks seeded in Azurite (a steady fleet: what earlier sweeps left).
 *
 * One sweep = the reconcile timer's work (`discoverWatchedSubscriptions`: the group's descendants, the
 * coverage rows) and then one `reconcileSubscription` + `recordReconcileOutcome` per subscription, as
 * the queue trigger runs them. Swept:
 * - serially in this process (the CLI's inline `reconcile`), the baseline;
 * - through the fan-out with 1, 4 and 16 (`BENCH_FANOUT_WORKERS`) worker processes, each with its own
 *   app context (ARM client, Table clients), taking one subscription at a time from a shared queue (this
 *   process hands them out over IPC, as the Storage queue does): per sweep the management requests
 *   (= pages: the emulator counts them), Table requests (each worker's counter), wall time, and each
 *   worker's peak resident memory (`maxRSS`);
 * - once more with the most workers and `BENCH_FANOUT_THROTTLED` (10) subscriptions throttled
 *   (`Retry-After` 20 minutes) and `BENCH_FANOUT_FAILING` (5) answering 503 to everything: the others
 *   complete, and the sweep takes about as long as without faults.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TransactionAction } from '@azure/data-tables';
import { silentLogger } from '../../src/adapters/logger';
import { currentEntity } from '../../src/adapters/codecs/current';
import { discoverWatchedSubscriptions, recordReconcileOutcome } from '../../src/app/coverage';
import type { CurrentState } from '../../src/app/ports';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { billingOf } from '../../src/domain/billing';
import type { PowerState } from '../../src/domain/power-state';
import { vmKey } from '../../src/domain/resource-id';
import { startArmEmulator, type ArmEmulator, type EmulatedPowerState } from '../emulator/arm-emulator';
import {
  atMost,
  benchStorage,
  exactly,
  intSetting,
  pool,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
} from './benchmark';

const groupId = 'bench-fanout';
const states: readonly EmulatedPowerState[] = ['running', 'running', 'deallocated', 'stopped'];

function subscriptionIdOf(i: number): string {
  return `00000000-0000-0000-fa00-${String(i).padStart(12, '0')}`;
}

function context(storage: string, prefix: string, armEndpoint: string): AppContext {
  return createAppContext(
    loadConfig({
      TIMELINE_STORAGE: storage,
      TABLE_NAME_PREFIX: prefix,
      ARM_ENDPOINT: armEndpoint,
      WATCH_MANAGEMENT_GROUP: groupId,
    }),
    { log: silentLogger },
  );
}

/** One subscription's run as a worker reports it. */
interface RunReport {
  subscriptionId: string;
  complete: boolean;
  outcome: string | undefined;
  durationMs: number;
}

interface WorkerDone {
  maxRssMb: number;
  tableRequests: number;
}

type ToWorker = { subscriptionId: string } | { done: true };
type FromWorker = { ready: true } | { report: RunReport } | { finished: WorkerDone };

/** Worker process: takes subscriptions from the parent until told it is done, then reports its peak RSS. */
async function worker(): Promise<void> {
  const [armEndpoint = '', storage = '', prefix = ''] = process.argv.slice(3);
  const ctx = context(storage, prefix, armEndpoint);
  const send = (message: FromWorker): void => {
    process.send?.(message);
  };
  process.on('message', (message: ToWorker) => {
    if ('done' in message) {
      const finished: FromWorker = {
        finished: {
          maxRssMb: process.resourceUsage().maxRSS / 1024,
          tableRequests: ctx.tableRequests.requests,
        },
      };
      process.send?.(finished, () => process.exit(0));
      return;
    }
    void (async () => {
      const startedAt = performance.now();
      let report: RunReport;
      try {
        const summary = await reconcileSubscription(message.subscriptionId, ctx, { budgetInMs: 240_000 });
        const outcome = await recordReconcileOutcome(ctx, summary);
        report = {
          subscriptionId: message.subscriptionId,
          complete: summary.complete,
          outcome,
          durationMs: performance.now() - startedAt,
        };
      } catch (error) {
        report = {
          subscriptionId: message.subscriptionId,
          complete: false,
          outcome: `threw: ${error instanceof Error ? error.message : String(error)}`,
          durationMs: performance.now() - startedAt,
        };
      }
      send({ report });
      send({ ready: true });
    })();
  });
  send({ ready: true });
  await new Promise<void>(() => {});
}

interface SweepResult {
  wallMs: number;
  managementRequests: number;
  tableRequests: number;
  complete: number;
  reports: RunReport[];
  /** Per worker (one entry for the serial sweep: this process). */
  maxRssMb: number[];
}

/** The timer's discovery, then the subscriptions through `workers` worker processes. */
async function fanOutSweep(
  ctx: AppContext,
  emulator: ArmEmulator,
  storage: string,
  prefix: string,
  workers: number,
): Promise<SweepResult> {
  // Workers start first (warm instances, as the Functions host keeps them); the sweep is timed from the timer on.
  const queue: string[] = [];
  const reports: RunReport[] = [];
  const finished: WorkerDone[] = [];
  const idle: ChildProcess[] = [];
  let dispatching = false;
  let allReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (allReady = resolve));
  const give = (child: ChildProcess): void => {
    const next = queue.shift();
    child.send(next === undefined ? { done: true } : { subscriptionId: next });
  };
  const exited = Array.from(
    { length: workers },
    () =>
      new Promise<void>((resolve, reject) => {
        const child: ChildProcess = fork(__filename, ['--fanout-worker', emulator.url, storage, prefix], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        child.on('message', (message: FromWorker) => {
          if ('report' in message) reports.push(message.report);
          else if ('finished' in message) finished.push(message.finished);
          else if (dispatching) give(child);
          else {
            idle.push(child);
            if (idle.length === workers) allReady();
          }
        });
        child.on('error', reject);
        child.on('exit', (code) =>
          code === 0 || code === null ? resolve() : reject(new Error(`worker exit ${code}`)),
        );
      }),
  );
  await ready;
  emulator.resetCounters();
  const tableBefore = ctx.tableRequests.requests;
  const startedAt = performance.now();
  const { subscriptionIds } = await discoverWatchedSubscriptions(ctx, { managementGroupId: groupId });
  queue.push(...subscriptionIds);
  dispatching = true;
  for (const child of idle.splice(0)) give(child);
  await Promise.all(exited);
  return {
    wallMs: performance.now() - startedAt,
    managementRequests: emulator.requests.total,
    tableRequests:
      ctx.tableRequests.requests - tableBefore + finished.reduce((sum, f) => sum + f.tableRequests, 0),
    complete: reports.filter((r) => r.complete).length,
    reports,
    maxRssMb: finished.map((f) => sig3(f.maxRssMb)),
  };
}

/** The same work one subscription after another in this process (the CLI's inline reconcile). */
async function serialSweep(ctx: AppContext, emulator: ArmEmulator): Promise<SweepResult> {
  emulator.resetCounters();
  const tableBefore = ctx.tableRequests.requests;
  const startedAt = performance.now();
  const { subscriptionIds } = await discoverWatchedSubscriptions(ctx, { managementGroupId: groupId });
  const reports: RunReport[] = [];
  for (const subscriptionId of subscriptionIds) {
    const t = performance.now();
    const summary = await reconcileSubscription(subscriptionId, ctx, { budgetInMs: 240_000 });
    const outcome = await recordReconcileOutcome(ctx, summary);
    reports.push({ subscriptionId, complete: summary.complete, outcome, durationMs: performance.now() - t });
  }
  return {
    wallMs: performance.now() - startedAt,
    managementRequests: emulator.requests.total,
    tableRequests: ctx.tableRequests.requests - tableBefore,
    complete: reports.filter((r) => r.complete).length,
    reports,
    maxRssMb: [sig3(process.resourceUsage().maxRSS / 1024)],
  };
}

/** Current rows (100 per transaction) and a complete-run mark per subscription: a steady fleet. */
async function seed(
  ctx: AppContext,
  emulator: ArmEmulator,
  subscriptions: number,
  vms: number,
): Promise<void> {
  const at = Date.now() - 10 * 60_000;
  const current = ctx.tables.table(ctx.tableNames.current);
  const batches: TransactionAction[][] = [];
  for (let s = 0; s < subscriptions; s++) {
    const subscriptionId = subscriptionIdOf(s);
    emulator.fleet.moveSubscription(subscriptionId, groupId);
    const rows: TransactionAction[] = [];
    for (let v = 0; v < vms; v++) {
      const powerState = states[v % states.length] ?? 'running';
      const vm = emulator.fleet.addVm({
        subscriptionId,
        resourceGroup: `rg-${v % 10}`,
        name: `vm-${String(v).padStart(5, '0')}`,
        powerState,
      });
      const state = powerState as PowerState;
      const row: CurrentState = {
        resourceId: vm.id,
        subscriptionId,
        state,
        billing: billingOf(state),
        since: at,
        sinceSource: 'reconcile',
        last: { at, source: 'reconcile', dedupeId: 'seed' },
      };
      rows.push(['upsert', currentEntity(vmKey(vm.id), row, 1), 'Replace']);
      if (rows.length === 100) batches.push(rows.splice(0));
    }
    if (rows.length > 0) batches.push(rows.splice(0));
  }
  await pool(batches, 8, async (batch) => {
    await current.submitTransaction(batch);
  });
  await pool(
    Array.from({ length: subscriptions }, (_, s) => subscriptionIdOf(s)),
    8,
    async (subscriptionId) => {
      const lease = await ctx.runs.acquire(subscriptionId, 'seed', at, at);
      if (lease === undefined) throw new Error('could not seed the reconcile mark');
      await ctx.runs.release(lease, {
        mark: { startedAt: at, unconfirmed: {} },
        detailsAt: Date.now(),
        endedAt: at,
        complete: true,
      });
    },
  );
}

function figuresOf(sweep: SweepResult, subscriptions: number): Record<string, unknown> {
  const durations = sweep.reports.map((r) => r.durationMs).sort((a, b) => a - b);
  return {
    wallMs: sig3(sweep.wallMs),
    managementRequests: sweep.managementRequests,
    managementRequestsPerSubscription: sig3(sweep.managementRequests / subscriptions),
    tableRequests: sweep.tableRequests,
    tableRequestsPerSubscription: sig3(sweep.tableRequests / subscriptions),
    complete: sweep.complete,
    slowestSubscriptionMs: sig3(durations.at(-1) ?? 0),
    medianSubscriptionMs: sig3(durations[Math.floor(durations.length / 2)] ?? 0),
    peakRssMbPerWorker: sweep.maxRssMb,
  };
}

export async function runFanoutBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const subscriptions = intSetting('BENCH_FANOUT_SUBSCRIPTIONS', 200);
  const vms = intSetting('BENCH_FANOUT_VMS', 500);
  const workerCounts = (process.env['BENCH_FANOUT_WORKERS'] ?? '1,4,16')
    .split(',')
    .map((n) => Number(n.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  const throttled = Math.min(intSetting('BENCH_FANOUT_THROTTLED', 10), subscriptions);
  const failing = Math.min(intSetting('BENCH_FANOUT_FAILING', 5), subscriptions - throttled);
  const storage = await benchStorage();
  const emulator = await startArmEmulator({ pageSize: 1000 });
  try {
    const prefix = `f${randomBytes(4).toString('hex')}`;
    const ctx = context(storage.connectionString, prefix, emulator.url);
    await ctx.ensureTables();
    emulator.fleet.addManagementGroup(groupId);
    progress(`seeding ${subscriptions} subscriptions x ${vms} VMs`);
    await seed(ctx, emulator, subscriptions, vms);

    progress('serial sweep');
    const serial = await serialSweep(ctx, emulator);
    const sweeps: Record<string, SweepResult> = {};
    for (const workers of workerCounts) {
      progress(`fan-out sweep, ${workers} worker(s)`);
      sweeps[workers] = await fanOutSweep(ctx, emulator, storage.connectionString, prefix, workers);
    }
    const most = Math.max(...workerCounts);
    const faulty = new Set<string>();
    for (let i = 0; i < throttled; i++) {
      emulator.faults.subscription(subscriptionIdOf(i * 7), { mode: 'throttled', retryAfterInSeconds: 1200 });
      faulty.add(subscriptionIdOf(i * 7));
    }
    for (let i = 0; i < failing; i++) {
      const id = subscriptionIdOf(subscriptions - 1 - i * 3);
      emulator.faults.subscription(id, { mode: 'failing', status: 503 });
      faulty.add(id);
    }
    progress(`fan-out sweep, ${most} workers, ${throttled} throttled and ${failing} failing`);
    const withFaults = await fanOutSweep(ctx, emulator, storage.connectionString, prefix, most);
    emulator.faults.reset();
    const healthyComplete = withFaults.reports.filter(
      (r) => !faulty.has(r.subscriptionId) && r.complete,
    ).length;
    const faultyOutcomes: Record<string, number> = {};
    for (const r of withFaults.reports.filter((x) => faulty.has(x.subscriptionId)))
      faultyOutcomes[r.outcome ?? 'none'] = (faultyOutcomes[r.outcome ?? 'none'] ?? 0) + 1;
    const slowestFaultyMs = Math.max(
      1,
      ...withFaults.reports.filter((r) => faulty.has(r.subscriptionId)).map((r) => r.durationMs),
    );
    const coverage = await ctx.coverage.list();
    const pagesPerSweep = subscriptions * (Math.ceil(vms / 1000) + 1) + Math.ceil(subscriptions / 1000);
    const fastest = sweeps[most] ?? serial;

    return {
      figures: {
        storage: storage.description,
        fleet: { subscriptions, vms, pageSize: 1000, workerCounts },
        pagesPerSweep,
        serial: figuresOf(serial, subscriptions),
        fanOut: Object.fromEntries(Object.entries(sweeps).map(([w, s]) => [w, figuresOf(s, subscriptions)])),
        withFaults: {
          workers: most,
          throttled,
          failing,
          ...figuresOf(withFaults, subscriptions),
          healthyComplete,
          faultyOutcomes,
          slowestFaultyRunMs: sig3(slowestFaultyMs),
        },
        speedupOverSerial: Object.fromEntries(
          Object.entries(sweeps).map(([w, s]) => [w, sig3(serial.wallMs / s.wallMs)]),
        ),
        coverageRows: coverage.length,
      },
      targets: [
        exactly('serial sweep: subscriptions complete', serial.complete, subscriptions),
        exactly(`${most} workers: subscriptions complete`, fastest.complete, subscriptions),
        // The floor: one status page per 1,000 VMs and one scale-set listing per subscription, plus the
        // descendants pages; nothing else for a fleet that did not change.
        exactly(`${most} workers: management requests = pages`, fastest.managementRequests, pagesPerSweep),
        atMost(
          `${most} workers: Table requests per subscription`,
          fastest.tableRequests / subscriptions,
          // current rows (1 page per 1,000) + lease take (read, write) + release + coverage merge, + the timer's share
          Math.ceil(vms / 1000) + 6,
        ),
        atMost(`${most} workers: peak RSS per worker, MB`, Math.max(...fastest.maxRssMb), 200),
        exactly(
          'with faults: healthy subscriptions complete',
          healthyComplete,
          subscriptions - throttled - failing,
        ),
        // A faulty subscription holds one worker for its own (retried) run, never the others: the sweep
        // takes at most that run longer than without faults (10% slack for a shared machine).
        atMost(
          'with faults: extra wall time / slowest faulty run',
          (withFaults.wallMs - fastest.wallMs) / slowestFaultyMs,
          1.1,
        ),
        exactly(
          'with faults: faulty subscriptions reported throttled or failing',
          (faultyOutcomes['throttled'] ?? 0) + (faultyOutcomes['failing'] ?? 0),
          throttled + failing,
        ),
      ],
    };
  } finally {
    await emulator.close();
    await storage.stop();
  }
}

if (require.main === module && process.argv[2] === '--fanout-worker') {
  worker().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
