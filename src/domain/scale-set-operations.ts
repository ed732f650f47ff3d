/**
 * Scale-set-wide operations of the Activity Log (`Microsoft.Compute/virtualMachineScaleSets/{start,
 * powerOff,deallocate,restart}/action`): their records name the scale set, not the instances (the instance
 * ids are in the request body, which the log does not carry). Pure.
 *
 * The rule of the house: a new source may sharpen a time, never invent a transition. So an operation
 * sharpens an instance's change only when it is the one explanation of a change already recorded:
 * - the instance has a recorded change to the operation's final state (start / restart → running,
 *   powerOff → stopped, deallocate → deallocated or hibernated), known only within a window (a re-list,
 *   a read, the reconciler), not explained by anything else (no reason: no Resource Health annotation, no
 *   availability-metric narrowing), from another state; a read or the reconciler may have seen the
 *   instance in the operation's transitional state while it ran (part of the same change);
 * - the operation Succeeded, and its first record (Started / Accepted) and its Succeeded record lie inside
 *   that window;
 * - it is the only operation of that scale set ending in that state whose span meets the window (a Failed
 *   one may have changed some instances; one whose outcome is not known yet may still), and the log is
 *   known complete over the whole window (records reach the log up to 20 minutes late);
 * - no other observation of the instance lies in the window (a per-instance record, event, annotation):
 *   this one is checked again by derivation (`unexplainedScaleSetObservations`), so the timeline does not
 *   depend on whether such a record arrived before or after the sharpening.
 * When the re-list that recorded the change carries the operation's own correlation id (its Event Grid
 * event triggered it), that is still no proof the instance was among the instance ids of its request
 * body: the rules above decide, not the correlation id.
 * Then the instance gets what a per-instance operation would have given: the transitional state at the
 * first record, the final state at Succeeded, source `activityLog`, with the operation's correlation id,
 * and dedupe ids from the correlation id (a second read adds nothing). A Failed operation sharpens nothing.
 *
 * History before the deployment: an instance driven only by scale-set-wide operations has no per-instance
 * record and no recorded change to sharpen; its past stays unknown (which instances an operation named is
 * not in the log, so no rule that places them is provably honest).
 */
import { isTransitional, scaleSetWideStates, type ScaleSetOperationRecord } from './activity-log';
import { ObservationSource, type Observation } from './observation';
import type { Segment } from './segments';

/** What the log said of one scale-set-wide operation so far (its records merged). */
export interface ScaleSetOperation {
  scaleSetId: string;
  correlationId: string;
  operation: string;
  startedAt?: number | undefined;
  acceptedAt?: number | undefined;
  succeededAt?: number | undefined;
  /** Failed or Canceled. */
  failedAt?: number | undefined;
}

/** Merges records into operations, by scale set and correlation id (case-insensitive); the earliest time of each status wins. */
export function mergeScaleSetRecords(
  records: Iterable<ScaleSetOperationRecord>,
  into: Map<string, ScaleSetOperation> = new Map(),
): Map<string, ScaleSetOperation> {
  const column = {
    started: 'startedAt',
    accepted: 'acceptedAt',
    succeeded: 'succeededAt',
    failed: 'failedAt',
  } as const;
  for (const r of records) {
    const key = `${r.scaleSetId.toLowerCase()}|${r.correlationId.toLowerCase()}`;
    const op = into.get(key) ?? {
      scaleSetId: r.scaleSetId,
      correlationId: r.correlationId,
      operation: r.operation,
    };
    const name = column[r.status];
    op[name] = Math.min(op[name] ?? Infinity, r.at);
    into.set(key, op);
  }
  return into;
}

/** When the operation began: its first record (Started / Accepted). */
function beganAt(op: ScaleSetOperation): number | undefined {
  const times = [op.startedAt, op.acceptedAt].filter((t): t is number => t !== undefined);
  return times.length === 0 ? undefined : Math.min(...times);
}

/** The span the operation may have acted in: unknown ends reach as far as they may. */
function spanOf(op: ScaleSetOperation): { from: number; to: number } {
  const end = op.failedAt ?? op.succeededAt;
  const from = beganAt(op) ?? end ?? Number.NEGATIVE_INFINITY;
  // A failed or unfinished operation may have acted until its end, or until now.
  return {
    from,
    to: op.failedAt !== undefined || op.succeededAt === undefined ? Infinity : (end ?? Infinity),
  };
}

/** Sources whose window is a read's or a listing's: what the log may sharpen. */
const windowedSources: ReadonlySet<ObservationSource> = new Set([
  ObservationSource.instanceView,
  ObservationSource.reconcile,
]);

/** A change known only within a window (a read's or a listing's), with no other explanation. */
function sharpenable(segment: Segment): boolean {
  return (
    segment.startWindowFrom !== undefined &&
    windowedSources.has(segment.source) &&
    segment.reason === undefined
  );
}

/** One change of an instance an operation explains, and the observations it sharpens it to. */
export interface Sharpening {
  correlationId: string;
  /** The change's honest window before. */
  windowFrom: number;
  windowTo: number;
  observations: Observation[];
}

/**
 * The changes of one instance (its segments, in order) that one operation of its scale set alone explains
 * (see the module comment), with the observations that sharpen each. `complete` is the stretch over which
 * the log is known to hold every record of the scale set (a window outside it may hold an operation not
 * read yet).
 */
export function sharpenInstance(
  resourceId: string,
  segments: readonly Segment[],
  operations: readonly ScaleSetOperation[],
  complete: { from: number; to: number },
): Sharpening[] {
  const out: Sharpening[] = [];
  for (let i = 1; i < segments.length; i += 1) {
    const segment = segments[i] as Segment;
    if (!sharpenable(segment)) continue;
    // The operation seen in progress by a read or the reconciler (the instance in a transitional state
    // between its old and its final state) is part of the same change.
    const inProgress = segments[i - 1] as Segment;
    const seenRunning = i >= 2 && isTransitional(inProgress.state) && sharpenable(inProgress);
    const first = seenRunning ? inProgress : segment;
    const previous = segments[seenRunning ? i - 2 : i - 1] as Segment;
    const window = {
      from: Math.max(first.startWindowFrom ?? first.start, previous.start),
      to: segment.start,
    };
    if (window.from < complete.from || window.to > complete.to) continue;
    const candidates = operations.filter((op) => {
      const verb = scaleSetWideStates(op.operation);
      if (verb === undefined || !verb.end.includes(segment.state) || verb.end.includes(previous.state))
        return false;
      const span = spanOf(op);
      return span.from <= window.to && span.to >= window.from;
    });
    const [op] = candidates;
    if (candidates.length !== 1 || op === undefined) continue;
    const began = beganAt(op);
    const verb = scaleSetWideStates(op.operation);
    if (
      op.failedAt !== undefined ||
      op.succeededAt === undefined ||
      began === undefined ||
      verb === undefined
    )
      continue;
    // Strictly after the last sighting: at that very instant the old state was seen (derivation agrees).
    if (began <= window.from || op.succeededAt > window.to) continue;
    // Seen in progress: in this operation's transitional state, while it ran.
    if (
      seenRunning &&
      (inProgress.state !== verb.begin || inProgress.start < began || inProgress.start > op.succeededAt)
    )
      continue;
    const common = {
      resourceId,
      source: ObservationSource.activityLog,
      operation: op.operation,
      correlationId: op.correlationId,
    };
    out.push({
      correlationId: op.correlationId,
      windowFrom: window.from,
      windowTo: window.to,
      observations: [
        { ...common, at: began, state: verb.begin, dedupeId: scaleSetDedupeId(op.correlationId, 'begin') },
        {
          ...common,
          at: op.succeededAt,
          state: segment.state,
          dedupeId: scaleSetDedupeId(op.correlationId, 'end'),
        },
      ],
    });
  }
  return out;
}

/** Stable per operation and phase: a second read of the same operation adds nothing. */
function scaleSetDedupeId(correlationId: string, phase: 'begin' | 'end'): string {
  return `scaleSet|${correlationId.toLowerCase()}|${phase}`;
}
