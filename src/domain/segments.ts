import { billingOf, type Billing } from './billing';
import { compareObservations, observationIdentity, type Observation, type ObservationSource } from './observation';
import type { PowerState } from './power-state';

/** A stretch of time during which a VM stayed in one power state. */
export interface Segment {
  state: PowerState;
  billing: Billing;
  /** Epoch ms: when the state was observed to begin (for a windowed change, the latest possible start). */
  start: number;
  /** Epoch ms: start of the next segment; undefined while open. */
  end?: number | undefined;
  /** Earliest possible start when the change is known only within a window `[startWindowFrom, start]`. */
  startWindowFrom?: number | undefined;
  source: ObservationSource;
  operation?: string | undefined;
  caller?: string | undefined;
}

/** The result of applying one observation to the open segment. */
export interface SegmentStep {
  /** The open segment closed at this end, when the state changed. */
  closedAt?: number;
  /** The segment opened by this observation, when the state changed. */
  opened?: Segment;
}

/**
 * Applies one observation, later than every observation already applied, to the open segment.
 * Equal consecutive states merge; observations without a power state change nothing.
 */
export function applyObservation(open: Segment | undefined, observation: Observation): SegmentStep {
  const { state } = observation;
  if (state === undefined) return {};
  if (open !== undefined && open.state === state) return {};
  const opened: Segment = {
    state,
    billing: billingOf(state),
    start: observation.at,
    source: observation.source,
  };
  if (observation.windowFrom !== undefined) {
    // A window never reaches back past the start of the state it follows.
    const from = open === undefined ? observation.windowFrom : Math.max(observation.windowFrom, open.start);
    if (from < observation.at) opened.startWindowFrom = from;
  }
  if (observation.operation !== undefined) opened.operation = observation.operation;
  if (observation.caller !== undefined) opened.caller = observation.caller;
  return open === undefined ? { opened } : { closedAt: observation.at, opened };
}

/** Sorts and de-duplicates observations into the canonical order. */
export function canonicalObservations(observations: readonly Observation[]): Observation[] {
  const unique = new Map<string, Observation>();
  for (const o of observations) unique.set(observationIdentity(o), o);
  return [...unique.values()].sort(compareObservations);
}

/**
 * A VM's segments from its observations. Pure and order-independent: any permutation and any
 * duplication of the same observations gives the same segments.
 */
export function deriveSegments(observations: readonly Observation[]): Segment[] {
  const segments: Segment[] = [];
  let open: Segment | undefined;
  for (const observation of canonicalObservations(observations)) {
    const step = applyObservation(open, observation);
    if (open !== undefined && step.closedAt !== undefined) open.end = step.closedAt;
    if (step.opened !== undefined) {
      segments.push(step.opened);
      open = step.opened;
    }
  }
  return segments;
}
