import { Billing } from './billing';
import type { Segment } from './segments';

/** Seconds of one VM in a window `[from, to)`, split by billing. */
export interface UsageSeconds {
  /** Best estimate: a change known only within a window is placed at the window's midpoint. */
  billedSeconds: number;
  notBilledSeconds: number;
  /** Before the first observation, or after `asOf`. */
  unknownSeconds: number;
  /** Fewest billed seconds the observations allow (every windowed change placed to bill least). */
  billedSecondsMin: number;
  /** Most billed seconds the observations allow. */
  billedSecondsMax: number;
}

export const zeroUsage: Readonly<UsageSeconds> = Object.freeze({
  billedSeconds: 0,
  notBilledSeconds: 0,
  unknownSeconds: 0,
  billedSecondsMin: 0,
  billedSecondsMax: 0,
});

/** The fields of `UsageSeconds`, in report order (columns, sums, comparisons). */
export const usageFields = [
  'billedSeconds',
  'notBilledSeconds',
  'unknownSeconds',
  'billedSecondsMin',
  'billedSecondsMax',
] as const satisfies ReadonlyArray<keyof UsageSeconds>;

/** The usage figures of a row that holds more (a day row, a digest entry), as a value of their own. */
export function usageOnly(row: UsageSeconds): UsageSeconds {
  const usage = { ...zeroUsage };
  for (const field of usageFields) usage[field] = row[field];
  return usage;
}

export function addUsage(a: UsageSeconds, b: UsageSeconds): UsageSeconds {
  const sum = { ...zeroUsage };
  for (const field of usageFields) sum[field] = a[field] + b[field];
  return sum;
}

type Placement = 'estimate' | 'min' | 'max';

function overlapInMs(start: number, end: number, from: number, to: number): number {
  return Math.max(0, Math.min(end, to) - Math.max(start, from));
}

/** Where a segment's start is placed for one placement policy. */
function placedStart(previous: Segment | undefined, segment: Segment, placement: Placement): number {
  const from = segment.startWindowFrom;
  if (from === undefined) return segment.start;
  if (placement === 'estimate') return from + (segment.start - from) / 2;
  const enteringBilled = segment.billing === Billing.billed;
  const leavingBilled = previous?.billing === Billing.billed;
  if (enteringBilled === leavingBilled) return segment.start; // no effect on billed seconds
  // min: start billed states as late as possible and end them as early as possible; max: the opposite.
  const late = placement === 'min' ? enteringBilled : leavingBilled;
  return late ? segment.start : from;
}

/** Billed / not-billed / unknown milliseconds for one placement policy. */
function tally(segments: readonly Segment[], from: number, to: number, asOf: number, placement: Placement) {
  const ms = { billed: 0, notBilled: 0, known: 0 };
  const limit = Math.min(to, asOf);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === undefined) continue;
    const next = segments[i + 1];
    const start = placedStart(segments[i - 1], segment, placement);
    const end = next === undefined ? (segment.end ?? asOf) : placedStart(segment, next, placement);
    const overlap = overlapInMs(start, end, from, limit);
    if (overlap === 0) continue;
    ms.known += overlap;
    if (segment.billing === Billing.billed) ms.billed += overlap;
    else if (segment.billing === Billing.notBilled) ms.notBilled += overlap;
  }
  return ms;
}

/**
 * A VM's usage in `[from, to)` from its segments (in order). Segments are clipped at the edges; time
 * before the first segment and after `asOf` (the moment the data was read) is unknown.
 */
export function usageOf(segments: readonly Segment[], from: number, to: number, asOf: number): UsageSeconds {
  if (!(to > from)) return { ...zeroUsage };
  const estimate = tally(segments, from, to, asOf, 'estimate');
  const min = tally(segments, from, to, asOf, 'min');
  const max = tally(segments, from, to, asOf, 'max');
  const total = to - from;
  return {
    billedSeconds: estimate.billed / 1000,
    notBilledSeconds: estimate.notBilled / 1000,
    unknownSeconds: (total - estimate.billed - estimate.notBilled) / 1000,
    billedSecondsMin: min.billed / 1000,
    billedSecondsMax: max.billed / 1000,
  };
}
