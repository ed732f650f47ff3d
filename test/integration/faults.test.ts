/**
 * Faults lose nothing: a simulated day of a fleet (kit/bench/accuracy-fleet.ts) goes through ingestion and
 * reconciles twice, once directly and once through fault proxies in front of Azurite's Table endpoint and
 * the management emulator (503s, timeouts, connection resets, slow answers) with two concurrent workers,
 * failed deliveries resent whole as Event Grid does. The stored observations and segments must be the
 * same. Plus a worker that dies between its timeline write and its current-row write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateFleet, syncEmulatedFleet, type FleetHistory } from '../../kit/bench/accuracy-fleet';
import { benchSubscriptionId } from '../../kit/bench/events';
import { silentLogger } from '../../src/adapters/logger';
import { createArmClient } from '../../src/adapters/arm';
import { TableTimelineStore } from '../../src/adapters/table-timeline-store';
import { ingestEvent } from '../../src/app/ingest-event';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { usageOf } from '../../src/domain/usage';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { dropTables, uniquePrefix } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { startFaultProxy, type FaultProxy } from '../../kit/fault-proxy';

// The 200-VM fleet (about 40 s on 2 shared cores); FAULTS_VMS=50 for a quicker local run.
const vms = Number(process.env['FAULTS_VMS'] ?? 200);
const minute = 60_000;
const intervalInMs = 30 * minute;
const maxBatch = 10;

interface Clock {
  now: number;
}

interface Run {
  emulator: ArmEmulator;
  clock: Clock;
  /** Workers sharing the tables: each gets every delivery, as two scaled-out instances may. */
  workers: AppContext[];
  redeliveries: number;
  reconcileRetries: number;
}

function context(storage: string, prefix: string, armEndpoint: string, clock: Clock): AppContext {
  const ctx = createAppContext(
    loadConfig({ TIMELINE_STORAGE: storage, TABLE_NAME_PREFIX: prefix, ARM_ENDPOINT: armEndpoint }),
    { log: silentLogger, now: () => clock.now },
  );
  // Quick management retries: the proxies fail fast.
  return {
    ...ctx,
    management: createArmClient({ endpoint: armEndpoint, retryDelayInMs: 20, maxRetryDelayInMs: 200 }),
  };
}

async function startRun(
  history: FleetHistory,
  build: (emulator: ArmEmulator, clock: Clock) => Promise<AppContext[]>,
): Promise<Run> {
  const clock = { now: history.from };
  const emulator = await startArmEmulator({ pageSize: 50, now: () => clock.now });
  for (const vm of history.vms) {
    const name = vm.resourceId.split('/').pop() ?? '';
    emulator.fleet.addVm({ subscriptionId: benchSubscriptionId, resourceGroup: 'rg-accuracy', name });
  }
  const workers = await build(emulator, clock);
  await workers[0]?.ensureTables();
  return { emulator, clock, workers, redeliveries: 0, reconcileRetries: 0 };
}

/** One worker's delivery of a batch, resent whole until every event of it succeeds. */
async function deliverUntilAcknowledged(
  run: Run,
  worker: AppContext,
  batch: readonly unknown[],
): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const results = await Promise.allSettled(batch.map((raw) => ingestEvent(raw, worker)));
    if (results.every((r) => r.status === 'fulfilled')) return;
    if (attempt >= 30) throw new Error('delivery still failing after 30 attempts');
    run.redeliveries += 1;
  }
}

/** The subscription's reconcile at `clock.now`, run again (same time) until complete with no VM failed. */
async function reconcileUntilComplete(run: Run): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    const summaries = await Promise.all(
      run.workers.map((w) =>
        reconcileSubscription(benchSubscriptionId, w, { sleep: () => Promise.resolve() }).catch(
          () => undefined,
        ),
      ),
    );
    if (summaries.some((s) => s !== undefined && s.skipped === undefined && s.complete && s.failed === 0))
      return;
    if (attempt >= 30) throw new Error('reconcile still incomplete after 30 attempts');
    run.reconcileRetries += 1;
  }
}

async function simulateDay(run: Run, history: FleetHistory): Promise<void> {
  let next = 0;
  for (let tick = history.from; tick <= history.to; tick += intervalInMs) {
    run.clock.now = tick;
    syncEmulatedFleet(run.emulator.fleet, history, tick);
    const due: unknown[] = [];
    while (next < history.deliveries.length && (history.deliveries[next]?.at ?? Infinity) <= tick) {
      due.push(history.deliveries[next]?.raw);
      next += 1;
    }
    const batches: unknown[][] = [];
    for (let i = 0; i < due.length; i += maxBatch) batches.push(due.slice(i, i + maxBatch));
    await Promise.all(
      run.workers.map(async (worker) => {
        for (const batch of batches) await deliverUntilAcknowledged(run, worker, batch);
      }),
    );
    await reconcileUntilComplete(run);
  }
}

interface Snapshot {
  /** `PartitionKey RowKey` of every observation row. */
  observations: string[];
  /** Per VM: its segments and billed / not-billed / unknown seconds. */
  vms: Record<string, unknown>;
}

async function snapshot(ctx: AppContext, history: FleetHistory): Promise<Snapshot> {
  const observations: string[] = [];
  for await (const row of ctx.tables.table(ctx.tableNames.timeline).listEntities({
    queryOptions: { select: ['PartitionKey', 'RowKey'] },
  })) {
    if (row.rowKey?.startsWith('o|')) observations.push(`${row.partitionKey} ${row.rowKey}`);
  }
  const result: Record<string, unknown> = {};
  for (const vm of history.vms) {
    const timeline = await ctx.store.getTimeline(vm.resourceId);
    const segments = timeline?.segments ?? [];
    result[vm.resourceId] = {
      segments: segments.map((s) => [s.state, s.billing, s.start, s.end, s.startWindowFrom]),
      usage: usageOf(segments, history.from, history.to, history.to),
    };
  }
  return { observations: observations.sort(), vms: result };
}

describe('faults', () => {
  const now = Date.now();
  const to = Math.floor(now / intervalInMs) * intervalInMs - intervalInMs;
  const history = simulateFleet({ vms, from: to - 24 * 60 * minute, to, seed: 8 });
  const cleanup: Array<() => Promise<void>> = [];
  let clean: Snapshot;

  // Generous timeouts: the clean 200-VM day takes about 40 s on an idle 2-core machine, several times that
  // when the machine is shared; a timeout here says nothing about the code.
  beforeAll(async () => {
    const prefix = uniquePrefix();
    const run = await startRun(history, (emulator, clock) =>
      Promise.resolve([context(tableConnectionString(), prefix, emulator.url, clock)]),
    );
    const ctx = run.workers[0] as AppContext;
    cleanup.push(
      () => run.emulator.close(),
      () => dropTables(ctx),
    );
    await simulateDay(run, history);
    clean = await snapshot(ctx, history);
  }, 240_000);

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it(`stores the same observations and segments for every VM of a ${vms}-VM day under 503s, timeouts, resets and slow answers, with two concurrent workers`, async () => {
    const rates = { unavailable: 0.03, reset: 0.03, timeout: 0.01, slow: 0.03 };
    const tableEndpoint = new URL(/TableEndpoint=([^;]+)/.exec(tableConnectionString())?.[1] ?? '');
    const tableProxy: FaultProxy = await startFaultProxy({
      target: tableEndpoint.origin,
      rates,
      seed: 11,
      timeoutInMs: 200,
      slowInMs: 50,
    });
    cleanup.push(() => tableProxy.close());
    const storage = tableConnectionString().replace(
      /TableEndpoint=[^;]+/,
      `TableEndpoint=${tableProxy.url}${tableEndpoint.pathname}`,
    );
    const prefix = uniquePrefix();
    let armProxy: FaultProxy | undefined;
    const run = await startRun(history, async (emulator, clock) => {
      armProxy = await startFaultProxy({
        target: emulator.url,
        rates,
        seed: 12,
        timeoutInMs: 200,
        slowInMs: 50,
      });
      return [context(storage, prefix, armProxy.url, clock), context(storage, prefix, armProxy.url, clock)];
    });
    cleanup.push(
      () => run.emulator.close(),
      async () => armProxy?.close(),
    );

    await simulateDay(run, history);
    tableProxy.setRates({});
    const faulty = await snapshot(run.workers[0] as AppContext, history);
    cleanup.push(() => dropTables(run.workers[0] as AppContext));

    // Faults were injected and retried through.
    expect(
      tableProxy.counts.unavailable + tableProxy.counts.resetBefore + tableProxy.counts.resetAfter,
    ).toBeGreaterThan(0);
    expect((armProxy?.counts.requests ?? 0) > 0).toBe(true);
    // Zero lost observations, none extra; identical segments and seconds (no double counting).
    expect(faulty.observations).toEqual(clean.observations);
    expect(faulty.vms).toEqual(clean.vms);
    const length = (history.to - history.from) / 1000;
    for (const [resourceId, vm] of Object.entries(faulty.vms)) {
      const usage = (vm as { usage: ReturnType<typeof usageOf> }).usage;
      expect(usage.billedSeconds + usage.notBilledSeconds + usage.unknownSeconds, resourceId).toBeCloseTo(
        length,
        3,
      );
    }
  }, 240_000);

  it('a reconcile whose lease write took effect but whose answer was lost still runs, and the next one too', async () => {
    const tableEndpoint = new URL(/TableEndpoint=([^;]+)/.exec(tableConnectionString())?.[1] ?? '');
    const proxy = await startFaultProxy({ target: tableEndpoint.origin });
    cleanup.push(() => proxy.close());
    const storage = tableConnectionString().replace(
      /TableEndpoint=[^;]+/,
      `TableEndpoint=${proxy.url}${tableEndpoint.pathname}`,
    );
    const prefix = uniquePrefix();
    const run = await startRun(history, (emulator, clock) =>
      Promise.resolve([context(storage, prefix, emulator.url, clock)]),
    );
    const worker = run.workers[0] as AppContext;
    cleanup.push(
      () => run.emulator.close(),
      () => dropTables(worker),
    );
    const leaseRow = (method: string) => (r: { method: string; url: string }) =>
      r.method === method && r.url.includes(worker.tableNames.reconcileRuns);
    const reconcile = () =>
      reconcileSubscription(benchSubscriptionId, worker, { sleep: () => Promise.resolve() });

    // The first run creates the lease row; its answer is lost, the SDK's retry gets 409.
    proxy.failNext('resetAfter', leaseRow('POST'));
    const first = await reconcile();
    expect(first.skipped).toBeUndefined();
    expect(first.complete).toBe(true);
    // A later run takes the lease with an ETag-guarded merge; its answer is lost, the retry gets 412.
    run.clock.now += intervalInMs;
    proxy.failNext('resetAfter', leaseRow('PATCH'));
    const second = await reconcile();
    expect(second.skipped).toBeUndefined();
    expect(second.complete).toBe(true);
    expect(proxy.counts.resetAfter).toBe(2);
    // Released: the next run at the same moment is not kept out.
    const third = await reconcile();
    expect(third.skipped).toBeUndefined();
  });

  it('a worker that dies between the timeline write and the current-row write: the redelivery completes the VM as a clean run does', async () => {
    const prefix = uniquePrefix();
    const clock = { now: history.from };
    const worker = context(tableConnectionString(), prefix, 'http://127.0.0.1:9', clock);
    await worker.ensureTables();
    cleanup.push(() => dropTables(worker));
    // The current table of the dying worker: every create / update throws after the transaction went through.
    const current = worker.tables.table(worker.tableNames.current);
    const dying = new Proxy(current, {
      get(target, property, receiver) {
        if (property === 'createEntity' || property === 'updateEntity')
          return () => Promise.reject(new Error('worker killed'));
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const dyingWorker = {
      ...worker,
      store: new TableTimelineStore(worker.tables.table(worker.tableNames.timeline), dying),
    };
    const vmsWithEvents = history.vms
      .filter((vm) => vm.transitions.some((t) => t.eventId !== undefined))
      .slice(0, 10);
    const deliveries = history.deliveries.filter((d) =>
      vmsWithEvents.some((vm) => vm.resourceId === d.resourceId),
    );
    clock.now = history.to;
    let killed = 0;
    for (const d of deliveries) {
      // A duplicate delivery writes nothing, so only first deliveries die.
      await ingestEvent(d.raw, dyingWorker).catch(() => (killed += 1));
      // Event Grid redelivers to a healthy worker.
      await ingestEvent(d.raw, worker);
    }
    expect(killed).toBeGreaterThan(0);
    const reference = context(tableConnectionString(), uniquePrefix(), 'http://127.0.0.1:9', clock);
    await reference.ensureTables();
    cleanup.push(() => dropTables(reference));
    for (const d of deliveries) await ingestEvent(d.raw, reference);
    for (const vm of vmsWithEvents) {
      const [got, want] = await Promise.all([
        worker.store.getTimeline(vm.resourceId),
        reference.store.getTimeline(vm.resourceId),
      ]);
      expect(got?.segments, vm.resourceId).toEqual(want?.segments);
      const [gotCurrent, wantCurrent] = await Promise.all([
        worker.store.getCurrent(vm.resourceId),
        reference.store.getCurrent(vm.resourceId),
      ]);
      expect(gotCurrent?.state, vm.resourceId).toBe(wantCurrent?.state);
      expect(gotCurrent?.since, vm.resourceId).toBe(wantCurrent?.since);
    }
  }, 60_000);
});
