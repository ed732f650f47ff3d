/**
 * Accuracy of history from day one (`npm run accuracy`, section `history`): a seeded fleet over a 90-day
 * history whose operations take 20 s to 3 min (billing changes when an operation starts: Starting is
 * billed, Deallocating is not; a delete bills until it completes), Event Grid events at completion, and
 * each operation's Activity Log records (Started, Accepted, Succeeded; one correlation id, the event's)
 * and a Resource Health record for each stop that raises no operation (guest shutdown:
 * `VirtualMachineStoppedInternally`; Spot eviction: `VirtualMachinePreempted`), queryable 3-20 minutes
 * after their time, in the ARM emulator's Activity Log served over HTTP.
 *
 * The app is deployed on day `deployDay`: at that time the subscription is reconciled, then backfilled
 * through the real use case (`backfillSubscriptions`, the CLI's inline run of `backfillSlice`) from the
 * emulator's log into Azurite; from then on, every `interval` simulated minutes, the emulator is set to
 * the truth (instance views show `starting` / `stopping` / `deallocating` while an operation runs), the
 * due events are ingested, the subscription reconciled and the recent log read (`readRecentActivityLog`,
 * as the `activityLog` timer does). The same events and reconciles also go into a second set of tables
 * that never reads the log: the timeline without the Activity Log. The run goes on 30 simulated minutes
 * past the window's end (no changes after it) so that the log's late records of the last operations are
 * read; events before the deployment are never delivered (nothing was subscribed).
 *
 * Figures, per window (backfilled days `[from, deploy)`, live days `[deploy, to)`) and per timeline (with
 * and without the log): true and attributed billed seconds, the signed and absolute error, VMs whose
 * truth lies outside `[billedSecondsMin, billedSecondsMax]`. On backfilled days the log says nothing
 * about a VM before its first record: that stretch is unknown (reported with the truth's billed seconds
 * in it) and the error and the bounds are measured on the time the timeline covers (without the log,
 * the backfilled days are all unknown: nothing is covered).
 *
 * Options (`npm run accuracy -- --parts history ...` or the environment): `--history-vms` (20),
 * `--history-days` (63), `--deploy-day` (60), `--interval` (5), `--seed` (1). The live days cost one tick
 * per interval (two reconciles, a recent read): the 90-day history deployed on day 60 is
 * `--history-days 90`, about 25 minutes on a loaded 2-core machine.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/adapters/logger';
import {
  backfillSubscriptions,
  readRecentActivityLog,
  type BackfillDependencies,
  type BackfillSummary,
} from '../../src/app/backfill';
import { ingestEvent } from '../../src/app/ingest-event';
import type { IngestOutcome } from '../../src/app/ingest-outcome';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import type { Segment } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';
import { ActivityLogOperation, wireTimestamp } from '../emulator/arm-activity-log';
import { startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import { EmulatedPowerState, type EmulatedFleet } from '../emulator/arm-fleet';
import { seededRandom } from '../emulator/seeded-random';
import {
  Cause,
  deliveryDelayInMs,
  operationDurationInMs,
  simulateFleet,
  trueBilledMs,
  TruthState,
  type Delivery,
  type FleetHistory,
  type Transition,
  type TruthVm,
} from './accuracy-fleet';
import { benchStorage, pool, sig3, type BenchStorage } from './benchmark';
import { benchSubscriptionId, resourceEvent } from './events';

export interface HistoryAccuracyOptions {
  vms: number;
  /** Length of the history (at most the log's 90 days); the days after `deployDay` are live. */
  historyDays: number;
  /** The day the app is deployed (default 60): days before it are backfilled, days after it live. */
  deployDay: number;
  intervalInMinutes: number;
  seed: number;
  /** `BACKFILL_DAYS` of the deployment (default 89). */
  backfillDays?: number;
  /** Uniform scale sets of 4 instances driven by scale-set-wide operations only (default 0). */
  scaleSets?: number;
  storage?: string | undefined;
  progress: (message: string) => void;
}

const minute = 60_000;
const day = 24 * 60 * minute;
/** The log's records appear 3-20 minutes late: the run goes on this long past the window's end. */
const tailInMs = 30 * minute;
const round = (seconds: number): number => Math.round(seconds * 1000) / 1000;
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

const logOperation: Partial<Record<Cause, ActivityLogOperation>> = {
  start: ActivityLogOperation.start,
  restart: ActivityLogOperation.restart,
  powerOff: ActivityLogOperation.powerOff,
  deallocate: ActivityLogOperation.deallocate,
  hibernate: ActivityLogOperation.deallocate,
  delete: ActivityLogOperation.delete,
};

/** What the instance view shows while an operation runs (a restart and a delete show the state before). */
const runningOperationState: Partial<Record<Cause, EmulatedPowerState>> = {
  start: EmulatedPowerState.starting,
  powerOff: EmulatedPowerState.stopping,
  deallocate: EmulatedPowerState.deallocating,
  hibernate: EmulatedPowerState.deallocating,
};

/** Event Grid may deliver an event more than once: a failed ingest is retried like a redelivery. */
export async function ingestWithRetry(raw: unknown, ctx: AppContext): Promise<IngestOutcome> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return (await ingestEvent(raw, ctx)).outcome;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
}

function emulatedPower(state: TruthState): EmulatedPowerState {
  if (state === TruthState.running) return EmulatedPowerState.running;
  if (state === TruthState.stopped) return EmulatedPowerState.stopped;
  return EmulatedPowerState.deallocated;
}

/** The instance view at `at`: the truth, with the transitional state while an operation runs. */
function syncFleet(fleet: EmulatedFleet, history: FleetHistory, at: number): void {
  for (const vm of history.vms) {
    let state: TruthState = vm.initial;
    let running: EmulatedPowerState | undefined;
    for (const t of vm.transitions) {
      if ((t.operationStartedAt ?? t.at) > at) break;
      if (t.at <= at) state = t.state;
      running =
        t.completedAt !== undefined && at < t.completedAt ? runningOperationState[t.cause] : undefined;
    }
    const emulated = fleet.getVm(vm.resourceId);
    if (state === TruthState.deleted) {
      if (emulated !== undefined) fleet.removeVm(vm.resourceId);
      continue;
    }
    if (emulated === undefined) continue;
    const power = running ?? emulatedPower(state);
    const hibernated = running === undefined && state === TruthState.hibernated;
    if (emulated.powerState !== power || emulated.hibernated !== hibernated)
      fleet.setPowerState(vm.resourceId, power, { hibernated });
  }
}

/** Resource Health's annotation of a stop that raises no operation (guest shutdown, Spot eviction). */
const healthAnnotation: Partial<Record<Cause, string>> = {
  guestShutdown: 'VirtualMachineStoppedInternally',
  eviction: 'VirtualMachinePreempted',
};

/** A `ResourceHealth` record of the log (shape of the activity-log.md sample: `properties.eventProperties`). */
function healthRecord(resourceId: string, at: number, details: string, n: number): Record<string, unknown> {
  const localized = (value: string) => ({ value, localizedValue: value });
  return {
    resourceId,
    eventTimestamp: wireTimestamp(at),
    eventDataId: `health-${n}`,
    correlationId: `health-corr-${n}`,
    category: localized('ResourceHealth'),
    operationName: localized('Microsoft.Resourcehealth/healthevent/Updated/action'),
    level: 'Critical',
    status: localized('Updated'),
    properties: {
      eventProperties: JSON.stringify({
        title: 'Virtual machine stopped',
        details,
        type: 'Downtime',
        cause: details === 'VirtualMachinePreempted' ? 'PlatformInitiated' : 'UserInitiated',
        currentHealthStatus: 'Unavailable',
        previousHealthStatus: 'Available',
      }),
    },
  };
}

/**
 * Every operation's Started, Accepted and Succeeded records with the event's correlation id, and a
 * Resource Health record for each stop that raises no operation (the log holds both), 3-20 minutes late.
 */
function writeActivityLog(arm: ArmEmulator, history: FleetHistory, seed: number): number {
  const lag = seededRandom(seed + 11);
  const lagInMs = () => 3 * minute + Math.floor(lag() * 17 * minute);
  let records = 0;
  for (const vm of history.vms)
    for (const t of vm.transitions) {
      const annotation = healthAnnotation[t.cause];
      if (annotation !== undefined) {
        arm.fleet.activityLog.addRecord(healthRecord(vm.resourceId, t.at, annotation, records), lagInMs());
        records += 1;
        continue;
      }
      const operation = logOperation[t.cause];
      if (operation === undefined || t.operationStartedAt === undefined || t.completedAt === undefined)
        continue;
      arm.fleet.activityLog.addOperation({
        resourceId: vm.resourceId,
        operation,
        startedAt: t.operationStartedAt,
        durationInMs: t.completedAt - t.operationStartedAt,
        hibernate: t.cause === Cause.hibernate,
        ...(t.eventId === undefined ? {} : { correlationId: `corr-${t.eventId}` }),
        lagInMs,
      });
      records += 3;
    }
  return records;
}

const instancesPerScaleSet = 4;

/** One scale-set-wide operation: its records name the scale set only (the instances are in the request body). */
interface ScaleSetOperation {
  scaleSetId: string;
  operation: ActivityLogOperation;
  startedAt: number;
  durationInMs: number;
  correlationId: string;
}

interface ScaleSetFleet {
  vms: TruthVm[];
  deliveries: Delivery[];
  operations: ScaleSetOperation[];
  events: number;
  dropped: number;
}

/**
 * Scale sets whose instances only scale-set-wide operations drive: every day near 08:00 a start, near 18:00
 * a deallocate (1 in 5 a power-off), each of a random subset of the instances (each named with
 * probability 3/4), taking 20 s to 3 min (billing changes when it starts). The operation's Event Grid
 * event names the scale set (the app re-lists its instances); its log records name the scale set too.
 * No per-instance record exists: before the deployment the log says nothing about the instances.
 */
function simulateScaleSets(count: number, from: number, to: number, seed: number): ScaleSetFleet {
  const rnd = seededRandom(seed + 23);
  const fleet: ScaleSetFleet = { vms: [], deliveries: [], operations: [], events: 0, dropped: 0 };
  for (let i = 0; i < count; i += 1) {
    const scaleSetId = `/subscriptions/${benchSubscriptionId}/resourceGroups/rg-accuracy/providers/Microsoft.Compute/virtualMachineScaleSets/acc-ss-${i}`;
    const states: TruthState[] = Array.from({ length: instancesPerScaleSet }, () => TruthState.deallocated);
    const transitions: Transition[][] = states.map(() => []);
    let n = 0;
    for (let dayStart = Math.floor(from / day) * day; dayStart < to; dayStart += day) {
      for (const hour of [8, 18]) {
        const cause = hour === 8 ? Cause.start : rnd() < 0.2 ? Cause.powerOff : Cause.deallocate;
        const startedAt = dayStart + hour * 60 * minute + Math.floor(rnd() * 60 * minute);
        const { min, max } = operationDurationInMs;
        const durationInMs = Math.round(min + rnd() * (max - min));
        const completedAt = startedAt + durationInMs;
        const named = states.map(() => rnd() < 0.75);
        if (startedAt < from || completedAt >= to) continue;
        const target =
          cause === Cause.start
            ? TruthState.running
            : cause === Cause.powerOff
              ? TruthState.stopped
              : TruthState.deallocated;
        for (const [k, state] of states.entries()) {
          if (named[k] !== true || state === target) continue;
          transitions[k]?.push({
            at: startedAt,
            state: target,
            cause,
            operationStartedAt: startedAt,
            completedAt,
          });
          states[k] = target;
        }
        const eventId = `acc-ss-${i}-${n}`;
        n += 1;
        const operation =
          cause === Cause.start
            ? ActivityLogOperation.start
            : cause === Cause.powerOff
              ? ActivityLogOperation.powerOff
              : ActivityLogOperation.deallocate;
        fleet.operations.push({
          scaleSetId,
          operation,
          startedAt,
          durationInMs,
          correlationId: `corr-${eventId}`,
        });
        const generated = resourceEvent({
          id: eventId,
          resourceId: scaleSetId,
          operation,
          time: completedAt,
          caller: 'automation@contoso.com',
          schema: 'eventGrid',
        });
        const name = `Microsoft.Compute/virtualMachineScaleSets/${operation}/action`;
        const data = generated.raw['data'] as Record<string, unknown>;
        data['operationName'] = name;
        data['authorization'] = { ...(data['authorization'] as object), action: name };
        fleet.events += 1;
        if (rnd() < 0.05) fleet.dropped += 1;
        else
          fleet.deliveries.push({
            at: completedAt + deliveryDelayInMs(rnd),
            eventId,
            resourceId: scaleSetId,
            raw: generated.raw,
          });
      }
    }
    for (const [k, list] of transitions.entries())
      fleet.vms.push({
        resourceId: `${scaleSetId}/virtualMachines/${k}`,
        habit: 'businessHours',
        initial: TruthState.deallocated,
        transitions: list,
      });
  }
  fleet.deliveries.sort((a, b) => a.at - b.at);
  return fleet;
}

/** Start of the first segment (the timeline knows nothing before it). */
function knownFrom(segments: readonly Segment[]): number | undefined {
  const first = segments[0];
  return first === undefined ? undefined : (first.startWindowFrom ?? first.start);
}

interface WindowRow {
  trueBilledSeconds: number;
  billedSeconds: number;
  billedSecondsMin: number;
  billedSecondsMax: number;
  unknownSeconds: number;
  /** True billed seconds in the stretch the timeline does not cover (before its first segment). */
  trueBilledSecondsUnknown: number;
  errorSeconds: number;
  truthInsideBounds: boolean;
}

/** One VM's figures in `[from, to)`: the error on the time its timeline covers. */
function windowRow(vm: TruthVm, segments: readonly Segment[], from: number, to: number): WindowRow {
  const covered = Math.min(to, Math.max(from, knownFrom(segments) ?? to));
  const usage = usageOf(segments, from, to, to);
  const truth = trueBilledMs(vm, from, to) / 1000;
  const truthUnknown = trueBilledMs(vm, from, covered) / 1000;
  return {
    trueBilledSeconds: round(truth),
    billedSeconds: round(usage.billedSeconds),
    billedSecondsMin: round(usage.billedSecondsMin),
    billedSecondsMax: round(usage.billedSecondsMax),
    unknownSeconds: round(usage.unknownSeconds),
    trueBilledSecondsUnknown: round(truthUnknown),
    errorSeconds: round(usage.billedSeconds - (truth - truthUnknown)),
    // On the covered time (the bounds count nothing where the timeline knows nothing); millisecond
    // rounding of stored times: a tolerance of 1 ms per bound.
    truthInsideBounds:
      usage.billedSecondsMin - 0.001 <= truth - truthUnknown &&
      truth - truthUnknown <= usage.billedSecondsMax + 0.001,
  };
}

function windowTotals(rows: readonly WindowRow[], resourceIds: readonly string[]) {
  const trueCovered = sum(rows.map((r) => r.trueBilledSeconds - r.trueBilledSecondsUnknown));
  const error = sum(rows.map((r) => r.errorSeconds));
  const outside = rows.flatMap((r, i) => (r.truthInsideBounds ? [] : [resourceIds[i] ?? '']));
  return {
    trueBilledSeconds: round(sum(rows.map((r) => r.trueBilledSeconds))),
    trueBilledSecondsCovered: round(trueCovered),
    trueBilledSecondsUnknown: round(sum(rows.map((r) => r.trueBilledSecondsUnknown))),
    unknownSeconds: round(sum(rows.map((r) => r.unknownSeconds))),
    attributedBilledSeconds: round(sum(rows.map((r) => r.billedSeconds))),
    billedSecondsMin: round(sum(rows.map((r) => r.billedSecondsMin))),
    billedSecondsMax: round(sum(rows.map((r) => r.billedSecondsMax))),
    errorSeconds: round(error),
    absoluteErrorSeconds: round(sum(rows.map((r) => Math.abs(r.errorSeconds)))),
    errorPercent: trueCovered === 0 ? 0 : sig3((Math.abs(error) / trueCovered) * 100),
    absoluteErrorPercent:
      trueCovered === 0 ? 0 : sig3((sum(rows.map((r) => Math.abs(r.errorSeconds))) / trueCovered) * 100),
    vmsWithTruthOutsideBounds: outside.length,
    outsideBounds: outside.slice(0, 20),
  };
}

function context(storage: string, arm: ArmEmulator, now: () => number): AppContext {
  return createAppContext(
    loadConfig({
      TIMELINE_STORAGE: storage,
      TABLE_NAME_PREFIX: `ach${randomBytes(4).toString('hex')}`,
      ARM_ENDPOINT: arm.url,
    }),
    { log: silentLogger, now },
  );
}

export async function runHistoryAccuracy(options: HistoryAccuracyOptions): Promise<Record<string, unknown>> {
  const { progress } = options;
  if (options.deployDay >= options.historyDays)
    throw new RangeError('--deploy-day must be earlier than --history-days');
  const intervalInMs = options.intervalInMinutes * minute;
  // The run goes on `tailInMs` past `to`, which must stay in the past (the app rejects future events).
  const to = Math.floor((Date.now() - tailInMs) / intervalInMs) * intervalInMs - intervalInMs;
  const from = to - Math.round(options.historyDays * 24 * 60) * minute;
  const deployAt = from + Math.round((options.deployDay * day) / intervalInMs) * intervalInMs;
  const history = simulateFleet({ vms: options.vms, from, to, seed: options.seed, operationDurations: true });
  const sets = simulateScaleSets(options.scaleSets ?? 0, from, to, options.seed);
  // The instances join the fleet for the instance views, the deliveries and the figures.
  const fleetHistory: FleetHistory = {
    ...history,
    vms: [...history.vms, ...sets.vms],
    deliveries: [...history.deliveries, ...sets.deliveries].sort((a, b) => a.at - b.at),
  };
  const transitions = sum(history.vms.map((vm) => vm.transitions.length));
  const operations = history.vms.flatMap((vm) => vm.transitions.filter((t) => t.completedAt !== undefined));
  const durations = operations.map((t) => ((t.completedAt ?? 0) - (t.operationStartedAt ?? 0)) / 1000);

  let tables: BenchStorage | undefined;
  let arm: ArmEmulator | undefined;
  let simNow = deployAt;
  const started = performance.now();
  try {
    tables = await benchStorage('ACCURACY_STORAGE', options.storage);
    arm = await startArmEmulator({ pageSize: 1000, now: () => simNow });
    for (const vm of history.vms) {
      const name = vm.resourceId.split('/').pop() ?? '';
      arm.fleet.addVm({ subscriptionId: benchSubscriptionId, resourceGroup: 'rg-accuracy', name });
    }
    for (let i = 0; i < (options.scaleSets ?? 0); i += 1)
      arm.fleet.addScaleSet({
        subscriptionId: benchSubscriptionId,
        resourceGroup: 'rg-accuracy',
        name: `acc-ss-${i}`,
        capacity: instancesPerScaleSet,
        instance: { powerState: EmulatedPowerState.deallocated },
      });
    let logRecords = writeActivityLog(arm, history, options.seed);
    const setLag = seededRandom(options.seed + 29);
    for (const op of sets.operations) {
      arm.fleet.activityLog.addOperation({
        resourceId: op.scaleSetId,
        operation: op.operation,
        startedAt: op.startedAt,
        durationInMs: op.durationInMs,
        correlationId: op.correlationId,
        lagInMs: () => 3 * minute + Math.floor(setLag() * 17 * minute),
      });
      logRecords += 3;
    }
    progress(
      `history: ${options.vms} VMs over ${options.historyDays} days, deployed on day ${options.deployDay}: ${transitions} transitions, ${operations.length} operations (${logRecords} log records), ${history.events} events`,
    );
    const withLog = context(tables.connectionString, arm, () => simNow);
    const withoutLog = context(tables.connectionString, arm, () => simNow);
    await withLog.ensureTables();
    await withoutLog.ensureTables();
    const reconcile = async (ctx: AppContext) =>
      reconcileSubscription(benchSubscriptionId, ctx, {
        sleep: () => Promise.resolve(),
        detailsRefreshInMinutes: 24 * 60,
      });

    // The deployment: the first reconcile sees the subscription, then its backfill runs.
    syncFleet(arm.fleet, fleetHistory, deployAt);
    await reconcile(withLog);
    await reconcile(withoutLog);
    const deps: BackfillDependencies = {
      ...withLog,
      reader: withLog.management,
      log: silentLogger,
      sleep: () => Promise.resolve(),
    };
    let t = performance.now();
    const [backfill] = await backfillSubscriptions([benchSubscriptionId], options.backfillDays ?? 89, deps, {
      budgetInMs: 24 * 3_600_000,
    });
    const backfillMs = performance.now() - t;
    if (backfill === undefined || backfill.error !== undefined)
      throw new Error(`backfill failed: ${backfill?.error ?? 'no summary'}`);
    progress(
      `backfill: ${backfill.records} records, ${backfill.observations} observations, ${backfill.pages} pages in ${Math.round(backfillMs / 1000)} s`,
    );

    // Live days.
    const shuffle = seededRandom(options.seed + 1);
    const deliveries = fleetHistory.deliveries.filter((d) => d.at > deployAt);
    const outcomes: Record<string, number> = {};
    const recent = { reads: 0, records: 0, observations: 0, duplicates: 0, scaleSetRecords: 0, sharpened: 0 };
    let next = 0;
    let reconciles = 0;
    let liveMs = 0;
    t = performance.now();
    for (let tick = deployAt + intervalInMs; tick <= to + tailInMs; tick += intervalInMs) {
      simNow = tick;
      syncFleet(arm.fleet, fleetHistory, tick);
      const due: unknown[] = [];
      while (next < deliveries.length && (deliveries[next]?.at ?? Infinity) <= tick) {
        due.push(deliveries[next]?.raw);
        next += 1;
      }
      for (let i = due.length - 1; i > 0; i -= 1) {
        const j = Math.floor(shuffle() * (i + 1));
        [due[i], due[j]] = [due[j], due[i]];
      }
      for (const ctx of [withLog, withoutLog])
        await pool(due, 8, async (raw) => {
          const outcome = await ingestWithRetry(raw, ctx);
          if (ctx === withLog) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        });
      await reconcile(withLog);
      await reconcile(withoutLog);
      reconciles += 1;
      const read = await readRecentActivityLog(benchSubscriptionId, deps);
      recent.reads += 1;
      recent.records += read.records;
      recent.observations += read.observations;
      recent.duplicates += read.duplicates;
      recent.scaleSetRecords += read.scaleSetRecords;
      recent.sharpened += read.sharpened;
      if ((tick - deployAt) % day === 0)
        progress(
          `live day ${Math.round((tick - deployAt) / day)}: ${next} deliveries, ${reconciles} ticks, ${((performance.now() - started) / 1000).toFixed(0)} s`,
        );
    }
    liveMs = performance.now() - t;

    const ids = fleetHistory.vms.map((vm) => vm.resourceId);
    const windows = { backfilled: { from, to: deployAt }, live: { from: deployAt, to } };
    const rows = {
      withLog: { backfilled: [] as WindowRow[], live: [] as WindowRow[] },
      withoutLog: { backfilled: [] as WindowRow[], live: [] as WindowRow[] },
    };
    for (const vm of fleetHistory.vms)
      for (const [name, ctx] of [
        ['withLog', withLog],
        ['withoutLog', withoutLog],
      ] as const) {
        const segments = (await ctx.store.getTimeline(vm.resourceId, { from, to }))?.segments ?? [];
        for (const w of ['backfilled', 'live'] as const)
          rows[name][w].push(windowRow(vm, segments, windows[w].from, windows[w].to));
      }
    const report = {
      withLog: {
        backfilled: windowTotals(rows.withLog.backfilled, ids),
        live: windowTotals(rows.withLog.live, ids),
      },
      withoutLog: {
        backfilled: windowTotals(rows.withoutLog.backfilled, ids),
        live: windowTotals(rows.withoutLog.live, ids),
      },
    };
    // The scale sets' instances alone (the last `sets.vms.length` rows).
    const instanceIds = ids.slice(history.vms.length);
    const instanceRows = (rowsOf: WindowRow[]) => rowsOf.slice(history.vms.length);
    const scaleSetReport = {
      scaleSets: options.scaleSets ?? 0,
      instances: sets.vms.length,
      operations: sets.operations.length,
      instanceTransitions: sum(sets.vms.map((vm) => vm.transitions.length)),
      eventsDropped: sets.dropped,
      withLog: { live: windowTotals(instanceRows(rows.withLog.live), instanceIds) },
      withoutLog: { live: windowTotals(instanceRows(rows.withoutLog.live), instanceIds) },
    };
    const outside = new Set(
      [...rows.withLog.backfilled, ...rows.withLog.live].flatMap((r, i) =>
        r.truthInsideBounds ? [] : [ids[i % ids.length] ?? ''],
      ),
    );
    const targets = [
      {
        name: 'history: vmsWithTruthOutsideBounds',
        value: outside.size,
        target: '= 0',
        holds: outside.size === 0,
      },
      {
        name: 'history: live days errorPercent (with the Activity Log)',
        value: report.withLog.live.errorPercent,
        target: '<= 0.1',
        holds: report.withLog.live.errorPercent <= 0.1,
      },
      {
        name: 'history: backfilled days errorPercent',
        value: report.withLog.backfilled.errorPercent,
        target: '<= 0.5',
        holds: report.withLog.backfilled.errorPercent <= 0.5,
      },
    ];
    const describe = (summary: BackfillSummary) => ({
      records: summary.records,
      observations: summary.observations,
      duplicates: summary.duplicates,
      skipped: summary.skipped,
      rejected: summary.rejected,
      slices: summary.slices,
      pages: summary.pages,
      vms: summary.vms,
      seconds: sig3(backfillMs / 1000),
    });
    return {
      parameters: {
        vms: options.vms,
        historyDays: options.historyDays,
        deployDay: options.deployDay,
        backfillDays: options.backfillDays ?? 89,
        reconcileIntervalInMinutes: options.intervalInMinutes,
        seed: options.seed,
        from: new Date(from).toISOString(),
        deployedAt: new Date(deployAt).toISOString(),
        to: new Date(to).toISOString(),
        storage: tables.description,
      },
      workload: {
        transitions,
        operations: operations.length,
        operationSeconds: {
          min: sig3(Math.min(...durations)),
          median: sig3([...durations].sort((a, b) => a - b)[Math.floor(durations.length / 2)] ?? 0),
          max: sig3(Math.max(...durations)),
        },
        silentTransitions: transitions - operations.length,
        logRecords,
        events: history.events,
        droppedEvents: history.dropped.size,
        deliveredLive: next,
        ingestOutcomes: outcomes,
        ticks: reconciles,
        backfill: describe(backfill),
        recentReads: recent,
      },
      scaleSets: scaleSetReport,
      timing: {
        seconds: sig3((performance.now() - started) / 1000),
        backfillSeconds: sig3(backfillMs / 1000),
        liveSeconds: sig3(liveMs / 1000),
      },
      ...report,
      targets,
      failingVms: [...outside],
    };
  } finally {
    await arm?.close();
    await tables?.stop();
  }
}
