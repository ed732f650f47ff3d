/**
 * Accuracy harness (`npm run accuracy`): a simulated month of a VM fleet with realistic habits goes through
 * the app's own use cases (ingestEvent, reconcileSubscription) on Table Storage (Azurite) and the ARM
 * emulator, on a simulated clock; the attributed billed seconds are compared with the simulated truth.
 * Prints ONE JSON report on stdout (progress on stderr); exit code 0 when every target holds, 1 otherwise.
 *
 * - Truth: `kit/bench/accuracy-fleet.ts` (seeded). Operations that raise events in Azure (start, restart,
 *   power off, deallocate, hibernate, delete) are delivered Event-Grid-like: 1 s to 10 min late, 10% twice,
 *   in no particular order, 5% never. Guest shutdowns and Spot-like evictions raise none.
 * - Every `interval` simulated minutes: the emulator's fleet is set to the truth at that time, the
 *   deliveries due by then are ingested (shuffled, 8 at a time), then the subscription is reconciled with
 *   `now` = that time. Event delivery is simulated here rather than with `kit/local/event-delivery.ts`,
 *   which runs on the wall clock over HTTP.
 * - Per VM: true billed seconds in `[from, to)`, attributed (`usageOf` of the stored segments), the error,
 *   and whether the truth lies in `[billedSecondsMin, billedSecondsMax]`. "Explained" error: a billing
 *   change known only from a reconcile (no event, its event dropped, or delivered after the window's end)
 *   is placed at the midpoint of a window of at most one interval: off by up to half an interval.
 *
 * Parameters (`--name value` or the environment): `--vms` / `ACCURACY_VMS` (100), `--days` /
 * `ACCURACY_DAYS` (30), `--interval` / `ACCURACY_INTERVAL_MINUTES` (5), `--seed` / `ACCURACY_SEED` (1),
 * `ACCURACY_STORAGE` (a connection string; default: a fresh in-memory Azurite). The simulated window ends
 * at the current time (events in the future or before 2010 are rejected by the app).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { silentLogger } from '../../src/adapters/logger';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { usageOf } from '../../src/domain/usage';
import { startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import {
  Cause,
  isBilled,
  simulateFleet,
  syncEmulatedFleet,
  trueBilledMs,
  type TruthVm,
} from './accuracy-fleet';
import { runHealthAccuracy } from './accuracy-health';
import { ingestWithRetry, runHistoryAccuracy } from './accuracy-history';
import { pool, sig3, benchStorage, type BenchStorage } from './benchmark';
import { benchSubscriptionId } from './events';
import { seededRandom } from '../emulator/seeded-random';

export interface AccuracyOptions {
  vms: number;
  days: number;
  intervalInMinutes: number;
  seed: number;
  storage?: string | undefined;
  progress: (message: string) => void;
}

export interface VmAccuracy {
  resourceId: string;
  habit: string;
  transitions: number;
  /** Transitions that raised no event (guest shutdown, eviction). */
  silentTransitions: number;
  droppedEvents: number;
  /** Events delivered only after the simulated window's end. */
  eventsDeliveredAfterEnd: number;
  trueBilledSeconds: number;
  billedSeconds: number;
  billedSecondsMin: number;
  billedSecondsMax: number;
  unknownSeconds: number;
  errorSeconds: number;
  /** Half an interval per billing change known only from a reconcile. */
  explainedErrorSeconds: number;
  truthInsideBounds: boolean;
  eventOnly: boolean;
}

function parameter(argv: readonly string[], flag: string, env: string, fallback: number): number {
  const index = argv.indexOf(flag);
  const raw = index >= 0 ? argv[index + 1] : process.env[env];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${flag} must be a positive number`);
  return value;
}

const minute = 60_000;
const round = (seconds: number): number => Math.round(seconds * 1000) / 1000;

function explainedErrorSeconds(vm: TruthVm, delivered: ReadonlySet<string>, intervalInMs: number): number {
  let previous = vm.initial;
  let changes = 0;
  for (const t of vm.transitions) {
    // No event, its event dropped, or delivered only after the window's end.
    const knownOnlyByReconcile = t.eventId === undefined || !delivered.has(t.eventId);
    if (knownOnlyByReconcile && isBilled(previous) !== isBilled(t.state)) changes += 1;
    previous = t.state;
  }
  return (changes * intervalInMs) / 2 / 1000;
}

export async function runAccuracy(options: AccuracyOptions): Promise<Record<string, unknown>> {
  const { progress } = options;
  const intervalInMs = options.intervalInMinutes * minute;
  // The window ends at the last whole interval before now.
  const to = Math.floor(Date.now() / intervalInMs) * intervalInMs - intervalInMs;
  const from = to - Math.round(options.days * 24 * 60) * minute;
  const history = simulateFleet({ vms: options.vms, from, to, seed: options.seed });
  progress(
    `simulated ${options.vms} VMs over ${options.days} days: ${history.vms.reduce((n, vm) => n + vm.transitions.length, 0)} transitions, ${history.events} events (${history.dropped.size} dropped, ${history.duplicates} duplicated)`,
  );

  let tables: BenchStorage | undefined;
  let emulator: ArmEmulator | undefined;
  let simNow = from;
  const started = performance.now();
  try {
    tables = await benchStorage('ACCURACY_STORAGE', options.storage);
    const storage = tables.connectionString;
    emulator = await startArmEmulator({ pageSize: 1000, now: () => simNow });
    for (const vm of history.vms) {
      const name = vm.resourceId.split('/').pop() ?? '';
      emulator.fleet.addVm({ subscriptionId: benchSubscriptionId, resourceGroup: 'rg-accuracy', name });
    }
    const ctx = createAppContext(
      loadConfig({
        TIMELINE_STORAGE: storage,
        TABLE_NAME_PREFIX: `acc${randomBytes(4).toString('hex')}`,
        ARM_ENDPOINT: emulator.url,
      }),
      { log: silentLogger, now: () => simNow },
    );
    await ctx.ensureTables();

    const shuffle = seededRandom(options.seed + 1);
    const outcomes: Record<string, number> = {};
    let next = 0;
    let reconciles = 0;
    let reconcileMs = 0;
    let ingestMs = 0;
    let changed = 0;
    let deleted = 0;
    let incomplete = 0;
    for (let tick = from; tick <= to; tick += intervalInMs) {
      simNow = tick;
      syncEmulatedFleet(emulator.fleet, history, tick);
      const due: unknown[] = [];
      while (next < history.deliveries.length && (history.deliveries[next]?.at ?? Infinity) <= tick) {
        due.push(history.deliveries[next]?.raw);
        next += 1;
      }
      // Event Grid: no particular order within what is due.
      for (let i = due.length - 1; i > 0; i -= 1) {
        const j = Math.floor(shuffle() * (i + 1));
        [due[i], due[j]] = [due[j], due[i]];
      }
      let t = performance.now();
      await pool(due, 8, async (raw) => {
        const outcome = await ingestWithRetry(raw, ctx);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      });
      ingestMs += performance.now() - t;
      t = performance.now();
      const summary = await reconcileSubscription(benchSubscriptionId, ctx, {
        sleep: () => Promise.resolve(),
        detailsRefreshInMinutes: 24 * 60,
      });
      reconcileMs += performance.now() - t;
      reconciles += 1;
      changed += summary.changed;
      deleted += summary.deleted;
      if (!summary.complete) incomplete += 1;
      if ((tick - from) % (24 * 60 * minute) === 0 && tick > from)
        progress(
          `day ${Math.round((tick - from) / (24 * 60 * minute))}: ${next} deliveries, ${reconciles} reconciles, ${((performance.now() - started) / 1000).toFixed(0)} s`,
        );
    }
    const simulationMs = performance.now() - started;

    const delivered = new Set(history.deliveries.slice(0, next).map((d) => d.eventId));
    const rows: VmAccuracy[] = [];
    for (const vm of history.vms) {
      const timeline = await ctx.store.getTimeline(vm.resourceId, { from, to });
      const usage = usageOf(timeline?.segments ?? [], from, to, to);
      const truth = trueBilledMs(vm, from, to) / 1000;
      const silent = vm.transitions.filter((t) => t.eventId === undefined).length;
      const droppedEvents = vm.transitions.filter(
        (t) => t.eventId !== undefined && history.dropped.has(t.eventId),
      ).length;
      rows.push({
        resourceId: vm.resourceId,
        habit: vm.habit,
        transitions: vm.transitions.length,
        silentTransitions: silent,
        droppedEvents,
        eventsDeliveredAfterEnd: vm.transitions.filter(
          (t) => t.eventId !== undefined && !history.dropped.has(t.eventId) && !delivered.has(t.eventId),
        ).length,
        trueBilledSeconds: round(truth),
        billedSeconds: round(usage.billedSeconds),
        billedSecondsMin: round(usage.billedSecondsMin),
        billedSecondsMax: round(usage.billedSecondsMax),
        unknownSeconds: round(usage.unknownSeconds),
        errorSeconds: round(usage.billedSeconds - truth),
        explainedErrorSeconds: explainedErrorSeconds(vm, delivered, intervalInMs),
        // Millisecond rounding of stored times: a tolerance of 1 ms per bound.
        truthInsideBounds: usage.billedSecondsMin - 0.001 <= truth && truth <= usage.billedSecondsMax + 0.001,
        eventOnly: silent === 0,
      });
    }

    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
    const trueTotal = sum(rows.map((r) => r.trueBilledSeconds));
    const attributedTotal = sum(rows.map((r) => r.billedSeconds));
    const errorTotal = attributedTotal - trueTotal;
    const absoluteErrorTotal = sum(rows.map((r) => Math.abs(r.errorSeconds)));
    const outOfBounds = rows.filter((r) => !r.truthInsideBounds);
    const eventOnly = rows.filter((r) => r.eventOnly);
    const eventOnlyBeyond = eventOnly.filter(
      (r) => Math.abs(r.errorSeconds) > r.explainedErrorSeconds + 0.001,
    );
    const errorPercent = trueTotal === 0 ? 0 : (Math.abs(errorTotal) / trueTotal) * 100;
    const targets = [
      {
        name: 'vmsWithTruthOutsideBounds',
        value: outOfBounds.length,
        target: '= 0',
        holds: outOfBounds.length === 0,
      },
      { name: 'totalErrorPercent', value: sig3(errorPercent), target: '<= 0.5', holds: errorPercent <= 0.5 },
      {
        name: 'eventOnlyVmsBeyondExplainedError',
        value: eventOnlyBeyond.length,
        target: '= 0',
        holds: eventOnlyBeyond.length === 0,
      },
    ];
    const byHabit: Record<string, { vms: number; trueBilledSeconds: number; errorSeconds: number }> = {};
    for (const r of rows) {
      const h = (byHabit[r.habit] ??= { vms: 0, trueBilledSeconds: 0, errorSeconds: 0 });
      h.vms += 1;
      h.trueBilledSeconds = round(h.trueBilledSeconds + r.trueBilledSeconds);
      h.errorSeconds = round(h.errorSeconds + r.errorSeconds);
    }
    return {
      parameters: {
        vms: options.vms,
        days: options.days,
        reconcileIntervalInMinutes: options.intervalInMinutes,
        seed: options.seed,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        storage: tables.description,
      },
      machine: {
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
        node: process.version,
      },
      workload: {
        transitions: sum(rows.map((r) => r.transitions)),
        silentTransitions: sum(rows.map((r) => r.silentTransitions)),
        guestShutdowns: history.vms.reduce(
          (n, vm) => n + vm.transitions.filter((t) => t.cause === Cause.guestShutdown).length,
          0,
        ),
        evictions: history.vms.reduce(
          (n, vm) => n + vm.transitions.filter((t) => t.cause === Cause.eviction).length,
          0,
        ),
        events: history.events,
        droppedEvents: history.dropped.size,
        duplicatedDeliveries: history.duplicates,
        deliveries: history.deliveries.length,
        deliveredBeforeEnd: next,
        ingestOutcomes: outcomes,
        reconciles,
        reconcileChanges: changed,
        reconcileDeletions: deleted,
        incompleteReconciles: incomplete,
      },
      timing: {
        simulationSeconds: sig3(simulationMs / 1000),
        ingestSeconds: sig3(ingestMs / 1000),
        reconcileSeconds: sig3(reconcileMs / 1000),
        tableRequests: ctx.tableRequests.requests,
      },
      totals: {
        vms: rows.length,
        trueBilledSeconds: round(trueTotal),
        attributedBilledSeconds: round(attributedTotal),
        billedSecondsMin: round(sum(rows.map((r) => r.billedSecondsMin))),
        billedSecondsMax: round(sum(rows.map((r) => r.billedSecondsMax))),
        unknownSeconds: round(sum(rows.map((r) => r.unknownSeconds))),
        errorSeconds: round(errorTotal),
        absoluteErrorSeconds: round(absoluteErrorTotal),
        errorPercent: sig3(errorPercent),
        vmsWithTruthInsideBounds: rows.length - outOfBounds.length,
      },
      eventOnlyVms: {
        vms: eventOnly.length,
        errorSeconds: round(sum(eventOnly.map((r) => r.errorSeconds))),
        absoluteErrorSeconds: round(sum(eventOnly.map((r) => Math.abs(r.errorSeconds)))),
        explainedErrorSeconds: round(sum(eventOnly.map((r) => r.explainedErrorSeconds))),
        beyondExplained: eventOnlyBeyond.map((r) => r.resourceId),
      },
      byHabit,
      targets,
      failingVms: [...new Set([...outOfBounds, ...eventOnlyBeyond])],
      vms: rows,
    };
  } finally {
    await emulator?.close();
    await tables?.stop();
  }
}

const parts = ['fleet', 'stops', 'history'] as const;
type Part = (typeof parts)[number];

function partsOf(argv: readonly string[]): Set<Part> {
  const index = argv.indexOf('--parts');
  const raw = (index >= 0 ? argv[index + 1] : process.env['ACCURACY_PARTS'])?.trim() || parts.join(',');
  const chosen = raw.split(',').map((p) => p.trim());
  const unknown = chosen.filter((p) => !(parts as readonly string[]).includes(p));
  if (unknown.length > 0) throw new RangeError(`--parts takes a list of ${parts.join(', ')}`);
  return new Set(chosen as Part[]);
}

async function main(argv: readonly string[]): Promise<number> {
  const chosen = partsOf(argv);
  const progress = (message: string) => process.stderr.write(`[accuracy] ${message}\n`);
  const interval = parameter(argv, '--interval', 'ACCURACY_INTERVAL_MINUTES', 5);
  const seed = Math.round(parameter(argv, '--seed', 'ACCURACY_SEED', 1));
  const storage = process.env['ACCURACY_STORAGE']?.trim();
  const report: Record<string, unknown> = {};
  const targets: Array<{ holds: boolean }> = [];
  if (chosen.has('fleet')) {
    const fleet = await runAccuracy({
      vms: Math.round(parameter(argv, '--vms', 'ACCURACY_VMS', 100)),
      days: parameter(argv, '--days', 'ACCURACY_DAYS', 30),
      intervalInMinutes: interval,
      seed,
      storage,
      progress,
    });
    Object.assign(report, fleet);
    targets.push(...(fleet['targets'] as Array<{ holds: boolean }>));
  }
  // Stops that raise no operation event: before / after Resource Health annotations and the metric.
  if (chosen.has('stops')) {
    const stops = await runHealthAccuracy({
      vms: Math.round(parameter(argv, '--stops-vms', 'ACCURACY_STOPS_VMS', 120)),
      days: parameter(argv, '--stops-days', 'ACCURACY_STOPS_DAYS', 1),
      intervalInMinutes: interval,
      seed,
      storage,
      progress,
    });
    report['stopsWithoutEvents'] = stops;
    targets.push(...(stops['targets'] as Array<{ holds: boolean }>));
  }
  // Operations that take minutes, the Activity Log, and a deployment that backfills its history.
  if (chosen.has('history')) {
    const history = await runHistoryAccuracy({
      vms: Math.round(parameter(argv, '--history-vms', 'ACCURACY_HISTORY_VMS', 20)),
      // The model is 90 days deployed on day 60 (30 live days: about 25 minutes here); by default
      // 3 live days keep the run to a few minutes.
      historyDays: parameter(argv, '--history-days', 'ACCURACY_HISTORY_DAYS', 63),
      deployDay: parameter(argv, '--deploy-day', 'ACCURACY_DEPLOY_DAY', 60),
      scaleSets: Math.round(parameter(argv, '--history-scale-sets', 'ACCURACY_HISTORY_SCALE_SETS', 0)),
      intervalInMinutes: interval,
      seed,
      storage,
      progress,
    });
    report['history'] = history;
    targets.push(...(history['targets'] as Array<{ holds: boolean }>));
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return targets.every((t) => t.holds) ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
