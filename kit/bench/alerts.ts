/**
 * Alerts benchmark (`npm run bench -- alerts`): `evaluateAlerts` on Azurite, with an in-process publisher
 * that counts what it is given.
 *
 * 1. `BENCH_ALERT_VMS` (2,000) VMs recorded by one reconcile run, 5% of them in Stopped (allocated): the
 *    stopped-episode index is filled by the store's current-row listener, as in production.
 * 2. An hour later (past the 15-minute grace): the first evaluation publishes one Detected per stopped VM.
 * 3. The same evaluation again: nothing new, nothing published (never spammed); its Table requests and
 *    time are the steady-state cost of an evaluation.
 * 4. A tenth of the stopped VMs started, reconciled, evaluated: one Resolved each.
 * 5. Baseline, in the same run: finding the stopped VMs by reading every `VmCurrent` row (what an
 *    evaluation would cost without the index).
 *
 * The floor of a steady evaluation: what it must read, read raw in the same run: the episode partition
 * and, past the grace period, each stopped VM's current row (its state and tags now decide), one after
 * the other as the evaluation reads them. Targets: raw time / evaluation time ≥ 0.8, and its Table
 * requests ≤ those raw reads + 1 (the last re-sync's row); no target in seconds, which on a shared
 * machine's Azurite would say nothing about the design.
 *
 * Settings: `BENCH_STORAGE` (connection string; default: a fresh in-memory Azurite), `BENCH_ALERT_VMS`.
 */
import { randomBytes } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { alertPartitions } from '../../src/adapters/table-alert-store';
import { silentLogger } from '../../src/adapters/logger';
import type { AlertPublisher } from '../../src/app/alert-ports';
import { evaluateAlerts, type AlertOptions } from '../../src/app/evaluate-alerts';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import type { AlertEvent } from '../../src/domain/alerts';
import { PowerState } from '../../src/domain/power-state';
import { currentKeys, vmKey } from '../../src/domain/resource-id';
import { EmulatedPowerState, startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import {
  atLeast,
  atMost,
  exactly,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  intSetting,
  benchStorage,
  type BenchStorage,
} from './benchmark';

const subscriptionId = '00000000-0000-0000-0000-00000000a1e7';

class CountingPublisher implements AlertPublisher {
  readonly destination = 'bench';
  readonly events: AlertEvent[] = [];
  publish(event: AlertEvent): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }
}

export async function runAlertsBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const vms = intSetting('BENCH_ALERT_VMS', 2_000);
  const stoppedCount = Math.max(1, Math.round(vms * 0.05));
  const restartedCount = Math.max(1, Math.round(stoppedCount / 10));
  let tables: BenchStorage | undefined;
  let emulator: ArmEmulator | undefined;
  try {
    tables = await benchStorage();
    const storage = tables.connectionString;
    let now = Date.now() - 2 * 3_600_000;
    emulator = await startArmEmulator({ pageSize: 1000, now: () => now });
    const ids: string[] = [];
    for (let i = 0; i < vms; i++) {
      const vm = emulator.fleet.addVm({
        subscriptionId,
        resourceGroup: `rg-${i % 10}`,
        name: `vm-${String(i).padStart(6, '0')}`,
        // Every 20th VM: Stopped (allocated).
        powerState: i % 20 === 0 ? EmulatedPowerState.stopped : EmulatedPowerState.running,
      });
      ids.push(vm.id);
    }
    const publisher = new CountingPublisher();
    const base = createAppContext(
      loadConfig({
        TIMELINE_STORAGE: storage,
        TABLE_NAME_PREFIX: `b${randomBytes(4).toString('hex')}`,
        ARM_ENDPOINT: emulator.url,
      }),
      { log: silentLogger, now: () => now },
    );
    const ctx = { ...base, alertPublisher: publisher };
    await ctx.ensureTables();
    const options: AlertOptions = {
      graceInMinutes: 15,
      expectedStoppedPatterns: [],
      autoDeallocateAfterInMinutes: 0,
      autoDeallocateDryRun: false,
    };

    let t = performance.now();
    await reconcileSubscription(subscriptionId, ctx, { sleep: () => Promise.resolve() });
    progress(
      `seeded ${vms} VMs (${stoppedCount} stopped) by one reconcile in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    const measure = async (sync: boolean) => {
      const requests = ctx.tableRequests.requests;
      const published = publisher.events.length;
      const started = performance.now();
      const summary = await evaluateAlerts(ctx, { ...options, sync });
      return {
        summary,
        ms: performance.now() - started,
        tableRequests: ctx.tableRequests.requests - requests,
        published: publisher.events.length - published,
      };
    };

    now += 3_600_000;
    const first = await measure(true);
    progress(
      `first evaluation: ${first.published} published, ${Math.round(first.ms)} ms, ${first.tableRequests} Table requests`,
    );
    now += 60_000;
    const steady = await measure(false);
    progress(
      `steady evaluation: ${steady.published} published, ${Math.round(steady.ms)} ms, ${steady.tableRequests} Table requests`,
    );

    // The floor of that steady evaluation: its reads, raw.
    const stopped = ids.filter((_, i) => i % 20 === 0);
    const floorBefore = ctx.tableRequests.requests;
    const floorStarted = performance.now();
    const episodes = ctx.tables.table(ctx.tableNames.alerts);
    const filter = odata`PartitionKey eq ${alertPartitions.stopped}`;
    let episodesRead = 0;
    for await (const page of episodes
      .listEntities({ queryOptions: { filter } })
      .byPage({ maxPageSize: 1000 }))
      episodesRead += page.length;
    const currentTable = ctx.tables.table(ctx.tableNames.current);
    for (const id of stopped) {
      const { partitionKey, rowKey } = currentKeys(vmKey(id));
      await currentTable.getEntity(partitionKey, rowKey);
    }
    const floorMs = performance.now() - floorStarted;
    const floorRequests = ctx.tableRequests.requests - floorBefore;
    progress(
      `floor: the same reads raw in ${Math.round(floorMs)} ms, ${floorRequests} requests: the evaluation at ${sig3(floorMs / steady.ms)} of it`,
    );

    now += 60_000;
    for (const id of stopped.slice(0, restartedCount))
      emulator.fleet.setPowerState(id, EmulatedPowerState.running);
    await reconcileSubscription(subscriptionId, ctx, { sleep: () => Promise.resolve() });
    now += 60_000;
    const resolved = await measure(false);
    progress(
      `after ${restartedCount} starts: ${resolved.published} published, ${Math.round(resolved.ms)} ms`,
    );

    // Baseline: every current row read to find the stopped ones.
    const scanRequests = ctx.tableRequests.requests;
    t = performance.now();
    let scannedStopped = 0;
    for await (const page of ctx.store.listAllCurrent())
      scannedStopped += page.filter((row) => row.state === PowerState.stopped).length;
    const scanMs = performance.now() - t;
    const scanTableRequests = ctx.tableRequests.requests - scanRequests;

    const detected = publisher.events.filter((e) => e.type.toLowerCase().endsWith('detected')).length;
    return {
      figures: {
        vms,
        stoppedVms: stoppedCount,
        firstEvaluation: {
          ms: sig3(first.ms),
          tableRequests: first.tableRequests,
          published: first.published,
          pastGrace: first.summary.pastGrace,
        },
        steadyEvaluation: {
          ms: sig3(steady.ms),
          tableRequests: steady.tableRequests,
          published: steady.published,
        },
        afterStarts: {
          started: restartedCount,
          ms: sig3(resolved.ms),
          tableRequests: resolved.tableRequests,
          published: resolved.published,
          resolvedEnqueued: resolved.summary.enqueued.resolved,
        },
        baselineFullScan: {
          ms: sig3(scanMs),
          tableRequests: scanTableRequests,
          stoppedFound: scannedStopped,
        },
        steadyFloor: {
          target: 'rawReadMs / steadyEvaluationMs >= 0.8; steady Table requests <= raw reads + 1',
          rawReadMs: sig3(floorMs),
          rawReadTableRequests: floorRequests,
          episodesRead,
          steadyShareOfFloor: sig3(floorMs / steady.ms),
        },
        steadyToFullScanTimeRatio: sig3(steady.ms / scanMs),
        detectedPublished: detected,
        storage: tables.description,
      },
      targets: [
        exactly('firstEvaluationPublished', first.published, stoppedCount),
        exactly('steadyEvaluationPublished', steady.published, 0),
        exactly('resolvedPublished', resolved.published, restartedCount),
        // The index, not the fleet: the episodes (a page per 1,000), each stopped VM's current row, the sync row.
        atMost('steadyEvaluationTableRequests (raw reads + 1)', steady.tableRequests, floorRequests + 1),
        atLeast(
          'steadyEvaluation: rawReadTime / evaluationTime (share of the floor)',
          floorMs / steady.ms,
          0.8,
        ),
      ],
    };
  } finally {
    await emulator?.close();
    await tables?.stop();
  }
}
