import { billingOf, type Billing } from './billing';
import type { ChangeReason } from './change-reason';
import { canonicalObservations, deriveSegments, type Segment } from './segments';
import { compareObservations, type Observation, type ObservationSource } from './observation';
import type { PowerState, Provisioning } from './power-state';

/** The latest applied observation's place in the canonical order. */
export interface ObservationPosition {
  at: number;
  source: ObservationSource;
  dedupeId: string;
}

/** What the VM is in now, by the latest observation (the `VmCurrent` row, without its details). */
export interface CurrentTimelineState {
  resourceId: string;
  /** Undefined until an observation with a power state arrives (provisioning-only history). */
  state?: PowerState | undefined;
  billing?: Billing | undefined;
  /** Start of the open segment. */
  since?: number | undefined;
  sinceWindowFrom?: number | undefined;
  /** Source, operation and caller of the change that opened the segment. */
  sinceSource?: ObservationSource | undefined;
  operation?: string | undefined;
  caller?: string | undefined;
  /** Why the change that opened the segment happened, when Resource Health said so. */
  reason?: ChangeReason | undefined;
  provisioning?: Provisioning | undefined;
  last: ObservationPosition;
}

export function positionOf(o: Observation): ObservationPosition {
  return { at: o.at, source: o.source, dedupeId: o.dedupeId };
}

/** True when `o` comes after the position in the canonical order (so it can be appended). */
export function isAfter(o: Observation, position: ObservationPosition): boolean {
  return compareObservations(o, { ...position, resourceId: '' }) > 0;
}

/** The open segment the current state describes. */
export function openSegmentOf(current: CurrentTimelineState | undefined): Segment | undefined {
  if (current?.state === undefined || current.since === undefined) return undefined;
  const open: Segment = {
    state: current.state,
    billing: billingOf(current.state),
    start: current.since,
    source: current.sinceSource ?? 'event',
  };
  if (current.sinceWindowFrom !== undefined) open.startWindowFrom = current.sinceWindowFrom;
  if (current.operation !== undefined) open.operation = current.operation;
  if (current.caller !== undefined) open.caller = current.caller;
  if (current.reason !== undefined) open.reason = current.reason;
  return open;
}

/** Appends one observation that comes after `current.last`. */
export function advanceCurrent(
  current: CurrentTimelineState | undefined,
  o: Observation,
  opened?: Segment,
): CurrentTimelineState {
  const next: CurrentTimelineState =
    current === undefined
      ? { resourceId: o.resourceId, last: positionOf(o) }
      : { ...current, last: positionOf(o) };
  if (opened !== undefined) {
    next.state = opened.state;
    next.billing = opened.billing;
    next.since = opened.start;
    next.sinceWindowFrom = opened.startWindowFrom;
    next.sinceSource = opened.source;
    next.operation = opened.operation;
    next.caller = opened.caller;
    next.reason = opened.reason;
  }
  if (o.provisioning !== undefined) next.provisioning = o.provisioning;
  return next;
}

/** The current state from a VM's whole history: what `advanceCurrent` reaches applied in order. */
export function deriveCurrent(observations: readonly Observation[]): CurrentTimelineState | undefined {
  const ordered = canonicalObservations(observations);
  const latest = ordered[ordered.length - 1];
  if (latest === undefined) return undefined;
  const segments = deriveSegments(ordered);
  const open = segments[segments.length - 1];
  let current = advanceCurrent(undefined, latest, open);
  current = { ...current, resourceId: latest.resourceId };
  for (let i = ordered.length - 1; i >= 0; i--) {
    const provisioning = ordered[i]?.provisioning;
    if (provisioning !== undefined) {
      current.provisioning = provisioning;
      break;
    }
  }
  return current;
}
