import { isTransitional, OperationIndex, unexplainedScaleSetObservations } from './activity-log';
import { billingOf, type Billing } from './billing';
import type { ChangeReason } from './change-reason';
import {
  compareObservations,
  observationIdentity,
  sinceStateBegan,
  type Observation,
  type ObservationSource,
} from './observation';
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
  /** Why the change happened, when Resource Health said so. */
  reason?: ChangeReason | undefined;
}

/** The result of applying one observation to the open segment. */
export interface SegmentStep {
  /** The open segment closed at this end, when the state changed. */
  closedAt?: number;
  /** The segment opened by this observation, when the state changed. */
  opened?: Segment;
  /**
   * The observation has the same time as the open segment's start but another state: the later one in
   * the canonical order wins, which may merge with the segment before; only the whole history decides.
   */
  needsHistory?: true;
}

function openSegment(
  previous: Segment | undefined,
  observation: Observation & { state: PowerState },
): Segment {
  const opened: Segment = {
    state: observation.state,
    billing: billingOf(observation.state),
    start: observation.at,
    source: observation.source,
  };
  if (observation.windowFrom !== undefined) {
    // A window never reaches back past the start of the state it follows (`sinceStateBegan`: up to
    // there; with no state before it, nothing to window).
    const from =
      previous === undefined
        ? observation.windowFrom === sinceStateBegan
          ? undefined
          : observation.windowFrom
        : Math.max(observation.windowFrom, previous.start);
    if (from !== undefined && from < observation.at) opened.startWindowFrom = from;
  }
  if (observation.operation !== undefined) opened.operation = observation.operation;
  if (observation.caller !== undefined) opened.caller = observation.caller;
  if (observation.reason !== undefined) opened.reason = observation.reason;
  return opened;
}

function hasState(o: Observation): o is Observation & { state: PowerState } {
  return o.state !== undefined;
}

/**
 * Applies one observation, later than every observation already applied, to the open segment.
 * Equal consecutive states merge; observations without a power state change nothing.
 */
export function applyObservation(open: Segment | undefined, observation: Observation): SegmentStep {
  // An operation that failed after its Activity Log start record leaves no transitional state behind:
  // which one it was only the whole history tells.
  if (!hasState(observation))
    return open !== undefined && isTransitional(open.state) && observation.correlationId !== undefined
      ? { needsHistory: true }
      : {};
  if (open !== undefined && open.state === observation.state) return {};
  if (open !== undefined && open.start === observation.at) return { needsHistory: true };
  const opened = openSegment(open, observation);
  return open === undefined ? { opened } : { closedAt: observation.at, opened };
}

/**
 * Sorts and de-duplicates observations into the canonical order. Activity Log observations that repeat
 * an event of the same operation, the transitional state of an operation that failed, and what a
 * scale-set-wide operation gave an instance when it is not the one explanation of its change, are left out.
 */
export function canonicalObservations(observations: readonly Observation[]): Observation[] {
  const unique = new Map<string, Observation>();
  for (const o of observations) unique.set(observationIdentity(o), o);
  const operations = new OperationIndex(unique.values());
  const sorted = [...unique.values()].filter((o) => !operations.ignores(o)).sort(compareObservations);
  const unexplained = unexplainedScaleSetObservations(sorted);
  return unexplained.size === 0 ? sorted : sorted.filter((o) => !unexplained.has(o));
}

/**
 * A VM's segments from its observations. Pure and order-independent: any permutation and any
 * duplication of the same observations gives the same segments.
 */
export function deriveSegments(observations: readonly Observation[]): Segment[] {
  const segments: Segment[] = [];
  for (const observation of canonicalObservations(observations)) {
    if (!hasState(observation)) continue;
    let open = segments[segments.length - 1];
    if (open !== undefined && open.state === observation.state) continue;
    if (open !== undefined && open.start === observation.at) {
      // Two states at one instant: the later observation wins; the earlier leaves no zero-length segment.
      segments.pop();
      open = segments[segments.length - 1];
      if (open !== undefined && open.state === observation.state) {
        delete open.end;
        continue;
      }
    }
    if (open !== undefined) open.end = observation.at;
    segments.push(openSegment(open, observation));
  }
  return segments;
}
