/**
 * Ground truth for the accuracy harness: a seeded month of a VM fleet with realistic habits, as a list of
 * power-state transitions per VM (the truth), the events Azure raises for those that raise one, and their
 * Event-Grid-like deliveries (delays, duplicates, reordering, drops). Pure: no I/O, no clock.
 */
import { benchVmResourceId, resourceEvent, type VmOperation } from './events';
import { EmulatedPowerState, type EmulatedFleet } from '../emulator/arm-fleet';
import { seededRandom } from '../emulator/seeded-random';

/** What the VM really is in: `hibernated` is deallocated with hibernation; `deleted` is gone. */
export const TruthState = {
  running: 'running',
  stopped: 'stopped',
  deallocated: 'deallocated',
  hibernated: 'hibernated',
  deleted: 'deleted',
} as const;
export type TruthState = (typeof TruthState)[keyof typeof TruthState];

export const Habit = {
  businessHours: 'businessHours',
  developer: 'developer',
  spot: 'spot',
  alwaysOn: 'alwaysOn',
  ephemeral: 'ephemeral',
} as const;
export type Habit = (typeof Habit)[keyof typeof Habit];

/** How a transition came about: an operation that raises an event, or one that raises none. */
export const Cause = {
  start: 'start',
  restart: 'restart',
  powerOff: 'powerOff',
  deallocate: 'deallocate',
  hibernate: 'hibernate',
  delete: 'delete',
  /** Shut down from inside the guest OS: Stopped (allocated), no event. */
  guestShutdown: 'guestShutdown',
  /** Spot-like eviction: the platform deallocates, no event. */
  eviction: 'eviction',
} as const;
export type Cause = (typeof Cause)[keyof typeof Cause];

const eventOperation: Partial<Record<Cause, VmOperation>> = {
  start: 'start',
  restart: 'restart',
  powerOff: 'powerOff',
  deallocate: 'deallocate',
  hibernate: 'deallocate',
  delete: 'delete',
};

const causeState: Readonly<Record<Cause, TruthState>> = {
  start: TruthState.running,
  restart: TruthState.running,
  powerOff: TruthState.stopped,
  guestShutdown: TruthState.stopped,
  deallocate: TruthState.deallocated,
  eviction: TruthState.deallocated,
  hibernate: TruthState.hibernated,
  delete: TruthState.deleted,
};

export function isBilled(state: TruthState): boolean {
  return state === TruthState.running || state === TruthState.stopped;
}

export interface Transition {
  /** Epoch ms. */
  at: number;
  state: TruthState;
  cause: Cause;
  /** Id of the event raised for it; undefined when the operation raises none. */
  eventId?: string | undefined;
  /**
   * With operation durations (`FleetOptions.operationDurations`): when the operation was accepted (its
   * Started / Accepted records) and when it completed (its Succeeded record and its event). Billing
   * changes at `at`: the start of a start, power-off or deallocate (Starting is billed, Deallocating is
   * not, per the billing table), the completion of a delete (the table names no Deleting power state).
   */
  operationStartedAt?: number | undefined;
  completedAt?: number | undefined;
}

export interface TruthVm {
  resourceId: string;
  habit: Habit;
  initial: TruthState;
  transitions: Transition[];
}

export interface Delivery {
  /** When Event Grid delivers it (epoch ms). */
  at: number;
  eventId: string;
  resourceId: string;
  raw: Record<string, unknown>;
}

export interface FleetHistory {
  from: number;
  to: number;
  vms: TruthVm[];
  deliveries: Delivery[];
  /** Event ids never delivered. */
  dropped: Set<string>;
  events: number;
  duplicates: number;
}

export interface FleetOptions {
  vms: number;
  /** Simulated window `[from, to)`, epoch ms. */
  from: number;
  to: number;
  seed: number;
  /** Share of events never delivered (default 0.05). */
  dropRate?: number;
  /** Share of events delivered twice (default 0.1). */
  duplicateRate?: number;
  /**
   * Operations take 20 s to 3 min (seeded apart from the habits, so the transitions stay those of the
   * same seed without durations); their events carry the completion time. Default: instantaneous.
   */
  operationDurations?: boolean;
}

/** An operation's duration: 20 s to 3 min. */
export const operationDurationInMs = { min: 20_000, max: 180_000 } as const;

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

/** The habit of the i-th VM: 40% business hours, 15% each of developer, Spot, always on, ephemeral. */
function habitOf(index: number): Habit {
  const bucket = index % 20;
  if (bucket < 8) return Habit.businessHours;
  if (bucket < 11) return Habit.developer;
  if (bucket < 14) return Habit.spot;
  if (bucket < 17) return Habit.alwaysOn;
  return Habit.ephemeral;
}

/** Event Grid delivery delay: mostly seconds, sometimes minutes. */
export function deliveryDelayInMs(rnd: () => number): number {
  const roll = rnd();
  if (roll < 0.7) return 1_000 + rnd() * 29_000;
  if (roll < 0.95) return 30_000 + rnd() * 150_000;
  return 3 * minute + rnd() * 7 * minute;
}

function pickCause(rnd: () => number, choices: ReadonlyArray<readonly [Cause, number]>): Cause {
  let roll = rnd();
  for (const [cause, weight] of choices) {
    if (roll < weight) return cause;
    roll -= weight;
  }
  return choices[choices.length - 1]?.[0] ?? Cause.deallocate;
}

/** One VM's transitions in `[from, to)` from its habit. */
function simulateVm(habit: Habit, from: number, to: number, rnd: () => number): Omit<TruthVm, 'resourceId'> {
  const transitions: Array<Omit<Transition, 'eventId'>> = [];
  const add = (at: number, cause: Cause): void => {
    if (at <= from || at >= to) return;
    const last = transitions[transitions.length - 1];
    if (last !== undefined && at <= last.at) return;
    transitions.push({ at: Math.round(at), cause, state: causeState[cause] });
  };
  const firstDay = Math.floor(from / day) * day;
  let initial: TruthState = TruthState.running;
  switch (habit) {
    case Habit.businessHours:
    case Habit.ephemeral: {
      initial = TruthState.deallocated;
      let state: TruthState = initial;
      for (let d = firstDay; d < to; d += day) {
        const weekday = new Date(d).getUTCDay();
        if (weekday === 0 || weekday === 6) continue;
        if (state !== TruthState.running) {
          add(d + 7.5 * hour + rnd() * 2 * hour, Cause.start);
          state = TruthState.running;
        }
        // 10% of evenings it is forgotten and keeps running overnight.
        if (rnd() < 0.1) continue;
        const cause = pickCause(rnd, [
          [Cause.deallocate, 0.72],
          [Cause.powerOff, 0.14], // Stopped (allocated) overnight: still billed
          [Cause.guestShutdown, 0.08],
          [Cause.hibernate, 0.06],
        ]);
        add(d + 17 * hour + rnd() * 2.5 * hour, cause);
        state = causeState[cause];
      }
      if (habit === Habit.ephemeral) {
        const deleteAt = from + (2 + rnd() * Math.max(0, (to - from) / day - 3)) * day;
        while (transitions.length > 0 && (transitions[transitions.length - 1]?.at ?? 0) >= deleteAt - minute)
          transitions.pop();
        add(deleteAt, Cause.delete);
      }
      break;
    }
    case Habit.developer: {
      initial = TruthState.deallocated;
      let t = from + rnd() * 6 * hour;
      while (t < to) {
        add(t, Cause.start);
        t += hour + rnd() * 3 * hour;
        add(
          t,
          pickCause(rnd, [
            [Cause.deallocate, 0.4],
            [Cause.hibernate, 0.3],
            [Cause.guestShutdown, 0.2],
            [Cause.powerOff, 0.1],
          ]),
        );
        t += 2 * hour + rnd() * 18 * hour;
      }
      break;
    }
    case Habit.spot: {
      let t = from + rnd() * 2 * day;
      while (t < to) {
        add(t, Cause.eviction);
        t += 30 * minute + rnd() * 6 * hour;
        add(t, Cause.start);
        t += day * (0.5 + rnd() * 3);
      }
      break;
    }
    case Habit.alwaysOn: {
      let t = from + rnd() * 2 * day;
      while (t < to) {
        add(t, Cause.restart);
        t += day * (1 + rnd() * 2);
      }
      break;
    }
  }
  return { habit, initial, transitions };
}

/** A seeded fleet history: truth per VM, the raised events and their deliveries. */
export function simulateFleet(options: FleetOptions): FleetHistory {
  const rnd = seededRandom(options.seed);
  const dropRate = options.dropRate ?? 0.05;
  const duplicateRate = options.duplicateRate ?? 0.1;
  const vms: TruthVm[] = [];
  const deliveries: Delivery[] = [];
  const dropped = new Set<string>();
  let events = 0;
  let duplicates = 0;
  const callers = ['alice@contoso.com', 'bob@contoso.com', 'automation@contoso.com'];
  const durationRnd = seededRandom(options.seed + 7);
  for (let i = 0; i < options.vms; i += 1) {
    const resourceId = benchVmResourceId(`acc-${String(i).padStart(4, '0')}`, 'rg-accuracy');
    const vm = simulateVm(habitOf(i), options.from, options.to, rnd);
    const transitions: Transition[] = vm.transitions.map((t, n) => {
      const operation = eventOperation[t.cause];
      if (operation === undefined) return t;
      const eventId = `acc-${i}-${n}`;
      events += 1;
      let timing: Pick<Transition, 'operationStartedAt' | 'completedAt'> = {};
      if (options.operationDurations === true) {
        const { min, max } = operationDurationInMs;
        let durationInMs = Math.round(min + durationRnd() * (max - min));
        if (t.cause === Cause.delete) {
          // A delete bills until it completes: it started `durationInMs` earlier, after the last change.
          const previousAt = vm.transitions[n - 1]?.at ?? options.from;
          durationInMs = Math.min(durationInMs, Math.max(1_000, t.at - previousAt - 1_000));
          timing = { operationStartedAt: t.at - durationInMs, completedAt: t.at };
        } else timing = { operationStartedAt: t.at, completedAt: t.at + durationInMs };
      }
      const generated = resourceEvent({
        id: eventId,
        resourceId,
        operation,
        time: timing.completedAt ?? t.at,
        caller: callers[n % callers.length] ?? 'alice@contoso.com',
        schema: n % 4 === 3 ? 'cloudEvents' : 'eventGrid',
      });
      if (t.cause === Cause.hibernate) {
        const data = generated.raw['data'] as { httpRequest: { url: string } };
        data.httpRequest.url = `https://management.azure.com${resourceId}/deallocate?hibernate=true&api-version=2024-07-01`;
      }
      if (rnd() < dropRate) {
        dropped.add(eventId);
      } else {
        const delay = deliveryDelayInMs(rnd);
        const eventAt = timing.completedAt ?? t.at;
        deliveries.push({ at: eventAt + delay, eventId, resourceId, raw: generated.raw });
        if (rnd() < duplicateRate) {
          duplicates += 1;
          deliveries.push({ at: eventAt + delay * (2 + rnd() * 2), eventId, resourceId, raw: generated.raw });
        }
      }
      return { ...t, eventId, ...timing };
    });
    vms.push({ resourceId, habit: vm.habit, initial: vm.initial, transitions });
  }
  deliveries.sort((a, b) => a.at - b.at);
  return { from: options.from, to: options.to, vms, deliveries, dropped, events, duplicates };
}

/** The VM's true state at `at`. */
export function stateAt(vm: TruthVm, at: number): TruthState {
  let state = vm.initial;
  for (const t of vm.transitions) {
    if (t.at > at) break;
    state = t.state;
  }
  return state;
}

/** True billed milliseconds in `[from, to)`. */
export function trueBilledMs(vm: TruthVm, from: number, to: number): number {
  let billed = 0;
  let state = vm.initial;
  let since = from;
  for (const t of vm.transitions) {
    if (t.at >= to) break;
    if (t.at > since) {
      if (isBilled(state)) billed += t.at - since;
      since = t.at;
    }
    state = t.state;
  }
  if (isBilled(state) && to > since) billed += to - since;
  return billed;
}

/** Sets the emulated fleet to the truth at `at`: deleted VMs removed, the others in their power state. */
export function syncEmulatedFleet(fleet: EmulatedFleet, history: FleetHistory, at: number): void {
  for (const vm of history.vms) {
    const state = stateAt(vm, at);
    const emulated = fleet.getVm(vm.resourceId);
    if (state === TruthState.deleted) {
      if (emulated !== undefined) fleet.removeVm(vm.resourceId);
      continue;
    }
    if (emulated === undefined) continue;
    const hibernated = state === TruthState.hibernated;
    const power =
      state === TruthState.running
        ? EmulatedPowerState.running
        : state === TruthState.stopped
          ? EmulatedPowerState.stopped
          : EmulatedPowerState.deallocated;
    if (emulated.powerState !== power || emulated.hibernated !== hibernated)
      fleet.setPowerState(vm.resourceId, power, { hibernated });
  }
}
