/** Read use cases shared by the CLI and the HTTP API: a VM's timeline, date and range parsing. */
import { reasonView, type ReasonView } from '../domain/alerts';
import { describeChange } from '../domain/health';
import type { Segment } from '../domain/segments';
import { InstantProblem, parseInstantText } from '../domain/time';
import { InputError } from './errors';
import type { TimelineStore } from './ports';

export interface SegmentView {
  state: string;
  billing: string;
  /** ISO 8601 UTC. */
  start: string;
  /** ISO 8601 UTC; null while open. */
  end: string | null;
  /** Earliest possible start when the change is known only within a window; null when exact. */
  startWindowFrom: string | null;
  source: string;
  operation: string | null;
  caller: string | null;
  /** Who or what made the change and how we know (see `stoppedBy.description` of the alerts); null when unknown. */
  why: string | null;
  /** The Resource Health annotation that explains the change; null when none. */
  reason: ReasonView | null;
}

export interface TimelineView {
  resourceId: string;
  segments: SegmentView[];
}

export function segmentView(s: Segment): SegmentView {
  return {
    state: s.state,
    billing: s.billing,
    start: new Date(s.start).toISOString(),
    end: s.end === undefined ? null : new Date(s.end).toISOString(),
    startWindowFrom: s.startWindowFrom === undefined ? null : new Date(s.startWindowFrom).toISOString(),
    source: s.source,
    operation: s.operation ?? null,
    caller: s.caller ?? null,
    why:
      describeChange({
        start: s.start,
        startWindowFrom: s.startWindowFrom,
        source: s.source,
        operation: s.operation,
        caller: s.caller,
        reason: s.reason,
      }) ?? null,
    reason: reasonView(s.reason),
  };
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/**
 * Parses an ISO 8601 date-time (or date) argument; a date or date-time without an offset is UTC. Names
 * the argument when it is not one, or not a real calendar date (`2026-02-31`).
 */
export function parseInstant(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = parseInstantText(value);
  if ('at' in parsed) return parsed.at;
  if (parsed.problem === InstantProblem.calendar)
    throw new InputError(`${name} is not a valid date: ${JSON.stringify(value)}`);
  throw new InputError(`${name} must be an ISO 8601 date or date-time, got ${JSON.stringify(value)}`);
}

/** Longest window a usage query may cover. */
export const maxRangeInDays = 366;

export function checkRange(from: number, to: number): void {
  if (!(to > from)) throw new InputError('--to must be after --from');
  if (to - from > maxRangeInDays * 86_400_000)
    throw new InputError(`the range may cover at most ${maxRangeInDays} days`);
}

export async function getTimelineView(
  store: TimelineStore,
  resourceId: string,
  range: { from?: number | undefined; to?: number | undefined } = {},
): Promise<TimelineView> {
  const query: { from?: number; to?: number } = {};
  if (range.from !== undefined) query.from = range.from;
  if (range.to !== undefined) query.to = range.to;
  if (range.from !== undefined && range.to !== undefined) checkRange(range.from, range.to);
  const timeline = await store.getTimeline(resourceId, query);
  if (timeline === undefined) throw new NotFoundError(`no timeline recorded for ${resourceId}`);
  return { resourceId: timeline.resourceId, segments: timeline.segments.map(segmentView) };
}
