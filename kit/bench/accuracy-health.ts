/**
 * Stops that raise no operation event (part of `npm run accuracy`): a seeded fleet whose VMs run and stop
 * over and over, by the guest OS (`VirtualMachineStoppedInternally`), by Spot eviction
 * (`VirtualMachinePreempted`, Spot VMs only) and by the platform after a host crash
 * (`VirtualMachineHostCrashed`, the VM left Stopped until its owner starts it), besides operations that
 * raise resource events (starts, deallocations, power-offs: 1-30 s late, 10% twice, 5% never). It runs
 * twice through the app's use cases on Azurite and the emulators, on a simulated clock: "before" with the
 * reconciler and the resource events only, "after" with Resource Health events (each silent stop
 * annotated with probability 0.9, 0-5 minutes late, 10% twice, in no order; the platform's also
 * `AvailabilityStatusChanged` Unavailable) and the availability metric (metrics batch emulator, every VM),
 * plus annotations that contradict the listing (`VirtualMachineStoppedInternally` / `…Preempted` about a
 * VM the listing shows running: a guest reboot, a stale annotation; one VM in three, up to three a day). Per kind of stop: the median and worst
 * distance between the true time and the recorded one (the segment's start), the window width, and whether
 * the truth lies inside the recorded bounds; plus every recorded change checked against the truth (a false
 * transition: the new state did not hold at the change, or the old one did not hold where its window
 * begins), and the metric reads per reconcile.
 * Targets: median ≤ 60 s for guest shutdowns after, truth inside the bounds for every stop, no false
 * transition (with annotations dropped, duplicated and contradicting the listing), ≤ ⌈N/50⌉ metric reads
 * per reconcile run with N stops found.
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
import { sandboxAvailabilityEvent, sandboxHealthEvent } from '../local/sandbox';
import { TruthState } from './accuracy-fleet';
import { benchStorage, pool, sig3 } from './benchmark';
import { benchSubscriptionId, benchVmResourceId, resourceEvent, type VmOperation } from './events';

const minute = 60_000;
const hour = 60 * minute;

export interface HealthAccuracyOptions {
  vms: number;
  days: number;
  intervalInMinutes: number;
  seed: number;
  storage?: string | undefined;
  progress: (message: string) => void;
}

/** The kinds of stop that raise no operation event. */
export const StopKind = {
  guestShutdown: 'guestShutdown',
  eviction: 'eviction',
  platformStop: 'platformStop',
} as const;
export type StopKind = (typeof StopKind)[keyof typeof StopKind];
const stopKinds = Object.values(StopKind);

/** How a change came about: an operation that raises a resource event, or a stop that raises none. */
type ChangeCause = StopKind | 'start' | 'deallocate' | 'powerOff';

interface Change {
  at: number;
  state: TruthState;
  cause: ChangeCause;
}

interface StopsVm {
  resourceId: string;
  spot: boolean;
  initial: TruthState;
  transitions: Change[];
}

interface StopsHistory {
  from: number;
  to: number;
  vms: StopsVm[];
  /** Resource events as Event Grid delivers them. */
  deliveries: Array<{ at: number; raw: Record<string, unknown> }>;
}

const stopState: Readonly<Record<StopKind, TruthState>> = {
  guestShutdown: TruthState.stopped,
  eviction: TruthState.deallocated,
  platformStop: TruthState.stopped,
};

const annotationOf: Readonly<Record<StopKind, string>> = {
  guestShutdown: 'VirtualMachineStoppedInternally',
  eviction: 'VirtualMachinePreempted',
  platformStop: 'VirtualMachineHostCrashed',
};

/**
 * Each VM (one in three Spot) runs 1-6 hours, stops (Spot: 60% eviction, 20% guest, 20% deallocate;
 * others: 40% guest, 30% platform, 15% deallocate, 15% power-off), stays down 20 minutes to 4 hours and
 * is started again. Operations raise resource events, delivered 1-30 s late (5% later, up to 5 minutes),
 * 10% twice, 5% never.
 */
function simulateStops(options: { vms: number; from: number; to: number; seed: number }): StopsHistory {
  const rnd = seededRandom(options.seed);
  const vms: StopsVm[] = [];
  const deliveries: StopsHistory['deliveries'] = [];
  const pick = (choices: ReadonlyArray<readonly [ChangeCause, number]>): ChangeCause => {
    let roll = rnd();
    for (const [cause, weight] of choices) {
      if (roll < weight) return cause;
      roll -= weight;
    }
    return choices[choices.length - 1]?.[0] ?? 'deallocate';
  };
  for (let i = 0; i < options.vms; i++) {
    const spot = i % 3 === 0;
    const resourceId = benchVmResourceId(`stop-${String(i).padStart(4, '0')}`, 'rg-accuracy');
    const transitions: Change[] = [];
    let t = options.from + rnd() * 3 * hour;
    while (t < options.to) {
      const cause = spot
        ? pick([
            ['eviction', 0.6],
            ['guestShutdown', 0.2],
            ['deallocate', 0.2],
          ])
        : pick([
            ['guestShutdown', 0.4],
            ['platformStop', 0.3],
            ['deallocate', 0.15],
            ['powerOff', 0.15],
          ]);
      const state =
        cause === 'deallocate'
          ? TruthState.deallocated
          : cause === 'powerOff'
            ? TruthState.stopped
            : stopState[cause as StopKind];
      transitions.push({ at: Math.round(t), state, cause });
      t += 20 * minute + rnd() * 220 * minute;
      if (t >= options.to) break;
      transitions.push({ at: Math.round(t), state: TruthState.running, cause: 'start' });
      t += hour + rnd() * 5 * hour;
    }
    transitions.forEach((change, n) => {
      if (change.cause !== 'start' && change.cause !== 'deallocate' && change.cause !== 'powerOff') return;
      if (rnd() < 0.05) return;
      const event = resourceEvent({
        id: `stop-${i}-${n}`,
        resourceId,
        operation: change.cause satisfies VmOperation,
        time: change.at,
        caller: 'alice@contoso.com',
        schema: n % 4 === 3 ? 'cloudEvents' : 'eventGrid',
      });
      const delay = rnd() < 0.95 ? 1_000 + rnd() * 29_000 : 30_000 + rnd() * 270_000;
      deliveries.push({ at: change.at + delay, raw: event.raw });
      if (rnd() < 0.1) deliveries.push({ at: change.at + delay * (2 + rnd() * 2), raw: event.raw });
    });
    vms.push({ resourceId, spot, initial: TruthState.running, transitions });
  }
  deliveries.sort((a, b) => a.at - b.at);
  return { from: options.from, to: options.to, vms, deliveries };
}

/** The VM's true state at `at`. */
function stateAt(vm: StopsVm, at: number): TruthState {
  let state = vm.initial;
  for (const t of vm.transitions) {
    if (t.at > at) break;
    state = t.state;
  }
  return state;
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
  byKind: Record<StopKind, StopFigures>;
  falseTransitions: number;
  metricReads: number;
  reconcilesWithStops: number;
  /** Largest reads of one run over its bound ⌈N/50⌉ (0 when every run stays within). */
  readsOverBound: number;
  healthEventsDelivered: number;
  /** Annotations delivered about a VM the listing showed running (none may make a transition). */
  contradictionsDelivered: number;
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

interface HealthDelivery {
  at: number;
  raw: Record<string, unknown>;
  contradicts?: true;
}

/**
 * What Resource Health delivers: each silent stop annotated with probability 0.9, 0-5 min late, 10% twice
 * (the platform's also an availability change to Unavailable, as often); and, for one VM in three, up
 * to three annotations a day that contradict the listing (the VM runs for 30 minutes either side).
 */
function healthDeliveries(history: StopsHistory, seed: number): HealthDelivery[] {
  const random = seededRandom(seed);
  const out: HealthDelivery[] = [];
  const deliver = (raw: Record<string, unknown>, trueAt: number, contradicts = false): void => {
    const at = trueAt + Math.floor(random() * 5 * minute);
    out.push(contradicts ? { at, raw, contradicts } : { at, raw });
    if (random() < 0.1) out.push({ at: at + Math.floor(random() * 5 * minute), raw });
  };
  history.vms.forEach((vm, index) => {
    for (const t of vm.transitions) {
      if (!(stopKinds as readonly string[]).includes(t.cause)) continue;
      const kind = t.cause as StopKind;
      if (random() < 0.9) deliver(sandboxHealthEvent(vm.resourceId, annotationOf[kind], t.at), t.at);
      if (kind !== StopKind.guestShutdown && random() < 0.9)
        deliver(sandboxAvailabilityEvent(vm.resourceId, 'Available', 'Unavailable', t.at + 1000), t.at);
    }
    if (index % 3 !== 1) return;
    // A guest reboot or a stale annotation: the listing shows the VM running all along.
    const days = Math.max(1, Math.round((history.to - history.from) / (24 * hour)));
    for (let n = 0; n < 3 * days; n++) {
      const at = history.from + random() * days * 24 * hour;
      const quiet = vm.transitions.every((t) => Math.abs(t.at - at) > 30 * minute);
      if (!quiet || stateAt(vm, at) !== TruthState.running) continue;
      const name = vm.spot && random() < 0.5 ? 'VirtualMachinePreempted' : 'VirtualMachineStoppedInternally';
      deliver(sandboxHealthEvent(vm.resourceId, name, at), at, true);
    }
  });
  return out.sort((a, b) => a.at - b.at);
}

function falseTransitions(vm: StopsVm, segments: readonly Segment[]): number {
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
  history: StopsHistory,
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
        priority: vm.spot ? 'Spot' : 'Regular',
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
    const deliveries: HealthDelivery[] = [
      ...history.deliveries,
      ...(withHealth ? healthDeliveries(history, options.seed + 7) : []),
    ].sort((a, b) => a.at - b.at);
    const changes = history.vms
      .flatMap((vm) => vm.transitions.map((t) => ({ vm, t })))
      .sort((a, b) => a.t.at - b.t.at);
    const shuffle = seededRandom(options.seed + 3);
    let nextDelivery = 0;
    let nextChange = 0;
    const figures = {
      metricReads: 0,
      reconcilesWithStops: 0,
      readsOverBound: 0,
      healthEventsDelivered: 0,
      contradictionsDelivered: 0,
    };
    for (let tick = history.from; tick <= history.to; tick += intervalInMs) {
      // The fleet follows the truth at the true times (the availability metric reads its history).
      while (nextChange < changes.length && (changes[nextChange]?.t.at ?? Infinity) <= tick) {
        const { vm, t } = changes[nextChange] as (typeof changes)[number];
        nextChange += 1;
        simNow = t.at;
        fleet.setPowerState(vm.resourceId, emulatedPower(t.state), {
          by: t.cause === StopKind.guestShutdown ? PowerChangeBy.guest : PowerChangeBy.controlPlane,
        });
      }
      simNow = tick;
      const due: HealthDelivery[] = [];
      while (nextDelivery < deliveries.length && (deliveries[nextDelivery]?.at ?? Infinity) <= tick) {
        due.push(deliveries[nextDelivery] as HealthDelivery);
        nextDelivery += 1;
      }
      for (let i = due.length - 1; i > 0; i -= 1) {
        const j = Math.floor(shuffle() * (i + 1));
        [due[i], due[j]] = [due[j] as HealthDelivery, due[i] as HealthDelivery];
      }
      await pool(due, 8, async (delivery) => {
        if (String(delivery.raw['eventType']).includes('HealthResources')) figures.healthEventsDelivered += 1;
        if (delivery.contradicts === true) figures.contradictionsDelivered += 1;
        await ingestEvent(delivery.raw, ctx);
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

    const rows = Object.fromEntries(stopKinds.map((k) => [k, [] as number[][]])) as Record<
      StopKind,
      number[][]
    >;
    const outside = Object.fromEntries(stopKinds.map((k) => [k, 0])) as Record<StopKind, number>;
    const notFound = Object.fromEntries(stopKinds.map((k) => [k, 0])) as Record<StopKind, number>;
    let falseCount = 0;
    for (const vm of history.vms) {
      const segments = (await ctx.store.getTimeline(vm.resourceId))?.segments ?? [];
      falseCount += falseTransitions(vm, segments);
      vm.transitions.forEach((t, i) => {
        if (!(stopKinds as readonly string[]).includes(t.cause)) return;
        const kind = t.cause as StopKind;
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
        rows[kind].push([Math.abs(segment.start - t.at) / 1000, (segment.start - from) / 1000]);
        if (t.at < from || t.at > segment.start) outside[kind] += 1;
      });
    }
    const byKind = Object.fromEntries(
      stopKinds.map((kind) => {
        const stops: StopFigures = {
          stops: rows[kind].length + notFound[kind],
          notFound: notFound[kind],
          medianDistanceSeconds: sig3(median(rows[kind].map((r) => r[0] as number))),
          worstDistanceSeconds: sig3(Math.max(0, ...rows[kind].map((r) => r[0] as number))),
          medianWindowSeconds: sig3(median(rows[kind].map((r) => r[1] as number))),
          worstWindowSeconds: sig3(Math.max(0, ...rows[kind].map((r) => r[1] as number))),
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
  const history = simulateStops({ vms: options.vms, from, to, seed: options.seed });
  const tables = await benchStorage('ACCURACY_STORAGE', options.storage);
  const startedAt = Date.now();
  try {
    options.progress(`stops without events: ${options.vms} VMs over ${options.days} days, before`);
    const before = await runOnce(history, options, false, tables.connectionString);
    options.progress('stops without events: after (Resource Health events and the availability metric)');
    const after = await runOnce(history, options, true, tables.connectionString);
    const outside = (run: RunFigures) => stopKinds.reduce((n, k) => n + run.byKind[k].truthOutsideBounds, 0);
    const targets = [
      {
        target: 'median distance of guest shutdowns after ≤ 60 s',
        value: after.byKind.guestShutdown.medianDistanceSeconds,
        holds: after.byKind.guestShutdown.medianDistanceSeconds <= 60,
      },
      {
        target: 'truth inside the recorded bounds for every stop (before and after)',
        value: outside(after) + outside(before),
        holds: outside(after) + outside(before) === 0,
      },
      {
        target: 'no false transition (annotations dropped, duplicated, contradicting the listing)',
        value: after.falseTransitions,
        holds: after.falseTransitions === 0 && after.contradictionsDelivered > 0,
      },
      {
        target: 'metric reads per reconcile ≤ ⌈N/50⌉',
        value: after.readsOverBound,
        holds: after.readsOverBound <= 0,
      },
    ];
    return {
      parameters: { ...options, progress: undefined, storage: tables.description },
      durationSeconds: sig3((Date.now() - startedAt) / 1000),
      before,
      after,
      targets,
    };
  } finally {
    await tables.stop();
  }
}
