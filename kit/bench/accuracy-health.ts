/**
 * Stops that raise no operation event (part of `npm run accuracy`): the same simulated fleet twice through
 * the app's use cases on Azurite and the emulators, on a simulated clock — "before" with the reconciler
 * and Event Grid resource events only, "after" with Resource Health annotations (guest shutdowns
 * `VirtualMachineStoppedInternally`, evictions `VirtualMachinePreempted`: 90% annotated, 0-5 minutes
 * late, 10% twice, in no order) and the availability metric (metrics batch emulator, every VM). Per kind
 * of stop: the median and worst distance between the true time and the recorded one (the segment's
 * start), the window width, and whether the truth lies inside the recorded bounds; plus every recorded
 * change checked against the truth (a false transition: the new state did not hold at the change, or the
 * old one did not hold where its window begins), and the metric reads per reconcile.
 * Targets: median ≤ 60 s for guest shutdowns after, truth inside the bounds for every stop, no false
 * transition, ≤ ⌈N/50⌉ metric reads per reconcile run with N stops found.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/adapters/logger';
import { ingestEvent } from '../../src/app/ingest-event';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import type { Segment } from '../../src/domain/segments';
import { startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import { EmulatedFleet, EmulatedPowerState, PowerChangeBy } from '../emulator/arm-fleet';
import { startMetricsEmulator, type MetricsEmulator } from '../emulator/metrics-emulator';
import { seededRandom } from '../emulator/seeded-random';
import { sandboxHealthEvent } from '../local/sandbox';
import { Cause, simulateFleet, stateAt, TruthState, type FleetHistory, type TruthVm } from './accuracy-fleet';
import { benchStorage, pool, sig3 } from './benchmark';
import { benchSubscriptionId } from './events';

const minute = 60_000;

export interface HealthAccuracyOptions {
  vms: number;
  days: number;
  intervalInMinutes: number;
  seed: number;
  storage?: string | undefined;
  progress: (message: string) => void;
}

interface StopFigures {
  stops: number;
  /** Stops with no recorded change of that state near them (merged into a longer stretch). */
  notFound: number;
  medianDistanceSeconds: number;
  worstDistanceSeconds: number;
  medianWindowSeconds: number;
  worstWindowSeconds: number;
  truthOutsideBounds: number;
}

interface RunFigures {
  byKind: Record<'guestShutdown' | 'eviction', StopFigures>;
  falseTransitions: number;
  metricReads: number;
  reconcilesWithStops: number;
  /** Largest reads of one run over its bound ⌈N/50⌉ (0 when every run stays within). */
  readsOverBound: number;
  annotationsDelivered: number;
}

const median = (values: number[]): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const emulatedPower = (state: TruthState) =>
  state === TruthState.running
    ? EmulatedPowerState.running
    : state === TruthState.stopped
      ? EmulatedPowerState.stopped
      : EmulatedPowerState.deallocated;

/** The annotations Resource Health would deliver for the silent stops: 90%, 0-5 min late, 10% twice. */
function annotations(
  history: FleetHistory,
  seed: number,
): Array<{ at: number; raw: Record<string, unknown> }> {
  const random = seededRandom(seed);
  const out: Array<{ at: number; raw: Record<string, unknown> }> = [];
  for (const vm of history.vms) {
    for (const t of vm.transitions) {
      if (t.cause !== Cause.guestShutdown && t.cause !== Cause.eviction) continue;
      if (random() >= 0.9) continue;
      const name =
        t.cause === Cause.guestShutdown ? 'VirtualMachineStoppedInternally' : 'VirtualMachinePreempted';
      const raw = sandboxHealthEvent(vm.resourceId, name, t.at);
      const at = t.at + Math.floor(random() * 5 * minute);
      out.push({ at, raw });
      if (random() < 0.1) out.push({ at: at + Math.floor(random() * 5 * minute), raw });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

function falseTransitions(vm: TruthVm, segments: readonly Segment[]): number {
  let count = 0;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    const previous = segments[i - 1] as Segment;
    const truthAt = (at: number) => stateAt(vm, at);
    const before = segment.startWindowFrom ?? segment.start - 1;
    if (truthAt(segment.start) !== segment.state || truthAt(before) !== previous.state) count += 1;
  }
  return count;
}

async function runOnce(
  history: FleetHistory,
  options: HealthAccuracyOptions,
  withHealth: boolean,
  connectionString: string,
): Promise<RunFigures> {
  const intervalInMs = options.intervalInMinutes * minute;
  let simNow = history.from;
  const fleet = new EmulatedFleet(() => simNow);
  let arm: ArmEmulator | undefined;
  let metrics: MetricsEmulator | undefined;
  try {
    arm = await startArmEmulator({ pageSize: 1000, now: () => simNow, fleet });
    for (const vm of history.vms) {
      const name = vm.resourceId.split('/').pop() ?? '';
      fleet.addVm({
        subscriptionId: benchSubscriptionId,
        resourceGroup: 'rg-accuracy',
        name,
        powerState: emulatedPower(vm.initial),
        location: 'westeurope',
      });
    }
    const settings: Record<string, string> = {
      TIMELINE_STORAGE: connectionString,
      TABLE_NAME_PREFIX: `acch${randomBytes(4).toString('hex')}`,
      ARM_ENDPOINT: arm.url,
    };
    if (withHealth) {
      metrics = await startMetricsEmulator(fleet);
      settings['METRICS_ENDPOINT'] = metrics.url;
    }
    const ctx: AppContext = createAppContext(loadConfig(settings), { log: silentLogger, now: () => simNow });
    await ctx.ensureTables();
    const deliveries = [
      ...history.deliveries.map((d) => ({ at: d.at, raw: d.raw })),
      ...(withHealth ? annotations(history, options.seed + 7) : []),
    ].sort((a, b) => a.at - b.at);
    const changes = history.vms
      .flatMap((vm) => vm.transitions.map((t) => ({ vm, t })))
      .sort((a, b) => a.t.at - b.t.at);
    const shuffle = seededRandom(options.seed + 3);
    let nextDelivery = 0;
    let nextChange = 0;
    const figures = { metricReads: 0, reconcilesWithStops: 0, readsOverBound: 0, annotationsDelivered: 0 };
    for (let tick = history.from; tick <= history.to; tick += intervalInMs) {
      // The fleet follows the truth at the true times (the availability metric reads its history).
      while (nextChange < changes.length && (changes[nextChange]?.t.at ?? Infinity) <= tick) {
        const { vm, t } = changes[nextChange] as (typeof changes)[number];
        nextChange += 1;
        simNow = t.at;
        if (t.state === TruthState.deleted) {
          fleet.removeVm(vm.resourceId);
          continue;
        }
        if (fleet.getVm(vm.resourceId) === undefined) continue;
        fleet.setPowerState(vm.resourceId, emulatedPower(t.state), {
          hibernated: t.state === TruthState.hibernated,
          by: t.cause === Cause.guestShutdown ? PowerChangeBy.guest : PowerChangeBy.controlPlane,
        });
      }
      simNow = tick;
      const due: Array<Record<string, unknown>> = [];
      while (nextDelivery < deliveries.length && (deliveries[nextDelivery]?.at ?? Infinity) <= tick) {
        due.push((deliveries[nextDelivery] as { raw: Record<string, unknown> }).raw);
        nextDelivery += 1;
      }
      for (let i = due.length - 1; i > 0; i -= 1) {
        const j = Math.floor(shuffle() * (i + 1));
        [due[i], due[j]] = [due[j] as Record<string, unknown>, due[i] as Record<string, unknown>];
      }
      await pool(due, 8, async (raw) => {
        if (String(raw['eventType']).includes('HealthResources')) figures.annotationsDelivered += 1;
        await ingestEvent(raw, ctx);
      });
      const before = metrics?.requests.total ?? 0;
      const summary = await reconcileSubscription(benchSubscriptionId, ctx, {
        sleep: () => Promise.resolve(),
        detailsRefreshInMinutes: 24 * 60,
      });
      const reads = (metrics?.requests.total ?? 0) - before;
      figures.metricReads += reads;
      if (reads > 0) figures.reconcilesWithStops += 1;
      // One subscription, one region, one type here: the bound is ⌈changes / 50⌉.
      figures.readsOverBound = Math.max(figures.readsOverBound, reads - Math.ceil(summary.changed / 50));
    }

    const kinds = { guestShutdown: [] as number[][], eviction: [] as number[][] };
    const outside = { guestShutdown: 0, eviction: 0 };
    const notFound = { guestShutdown: 0, eviction: 0 };
    let falseCount = 0;
    for (const vm of history.vms) {
      const segments = (await ctx.store.getTimeline(vm.resourceId))?.segments ?? [];
      falseCount += falseTransitions(vm, segments);
      vm.transitions.forEach((t, i) => {
        if (t.cause !== Cause.guestShutdown && t.cause !== Cause.eviction) return;
        const kind = t.cause;
        const nextAt = vm.transitions[i + 1]?.at ?? history.to + intervalInMs;
        // The recorded change to this state that covers the true one: starts after the previous change.
        const previousAt = vm.transitions[i - 1]?.at ?? Number.NEGATIVE_INFINITY;
        const segment = segments.find(
          (s) => s.state === t.state && s.start > previousAt && s.start <= nextAt + intervalInMs,
        );
        if (segment === undefined) {
          notFound[kind] += 1;
          return;
        }
        const from = segment.startWindowFrom ?? segment.start;
        kinds[kind].push([Math.abs(segment.start - t.at) / 1000, (segment.start - from) / 1000]);
        if (t.at < from || t.at > segment.start) outside[kind] += 1;
      });
    }
    const byKind = Object.fromEntries(
      (['guestShutdown', 'eviction'] as const).map((kind) => {
        const rows = kinds[kind];
        const stops: StopFigures = {
          stops: rows.length + notFound[kind],
          notFound: notFound[kind],
          medianDistanceSeconds: sig3(median(rows.map((r) => r[0] as number))),
          worstDistanceSeconds: sig3(Math.max(0, ...rows.map((r) => r[0] as number))),
          medianWindowSeconds: sig3(median(rows.map((r) => r[1] as number))),
          worstWindowSeconds: sig3(Math.max(0, ...rows.map((r) => r[1] as number))),
          truthOutsideBounds: outside[kind],
        };
        return [kind, stops];
      }),
    ) as RunFigures['byKind'];
    return { byKind, falseTransitions: falseCount, ...figures };
  } finally {
    await arm?.close();
    await metrics?.close();
  }
}

export async function runHealthAccuracy(options: HealthAccuracyOptions): Promise<Record<string, unknown>> {
  const intervalInMs = options.intervalInMinutes * minute;
  const to = Math.floor(Date.now() / intervalInMs) * intervalInMs - intervalInMs;
  const from = to - Math.round(options.days * 24 * 60) * minute;
  const history = simulateFleet({ vms: options.vms, from, to, seed: options.seed });
  const tables = await benchStorage('ACCURACY_STORAGE', options.storage);
  try {
    options.progress(`stops without events: ${options.vms} VMs over ${options.days} days, before`);
    const before = await runOnce(history, options, false, tables.connectionString);
    options.progress('stops without events: after (Resource Health annotations and the availability metric)');
    const after = await runOnce(history, options, true, tables.connectionString);
    const targets = [
      {
        target: 'median distance of guest shutdowns after ≤ 60 s',
        value: after.byKind.guestShutdown.medianDistanceSeconds,
        holds: after.byKind.guestShutdown.medianDistanceSeconds <= 60,
      },
      {
        target: 'truth inside the recorded bounds for every stop (after)',
        value: after.byKind.guestShutdown.truthOutsideBounds + after.byKind.eviction.truthOutsideBounds,
        holds: after.byKind.guestShutdown.truthOutsideBounds + after.byKind.eviction.truthOutsideBounds === 0,
      },
      {
        target: 'no false transition from annotations (after ≤ before)',
        value: after.falseTransitions - before.falseTransitions,
        holds: after.falseTransitions <= before.falseTransitions,
      },
      {
        target: 'metric reads per reconcile ≤ ⌈N/50⌉',
        value: after.readsOverBound,
        holds: after.readsOverBound <= 0,
      },
    ];
    return {
      parameters: { ...options, progress: undefined, storage: tables.description },
      before,
      after,
      targets,
    };
  } finally {
    await tables.stop();
  }
}
