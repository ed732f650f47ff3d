/**
 * UTC days and per-day usage: what a `VmDailyUsage` row holds, computed from a VM's segments, and the
 * details (size, location, OS type, priority, tags) that held on a day.
 */
import type { Segment } from './segments';
import { usageOf, type UsageSeconds } from './usage';

export const dayInMs = 86_400_000;

export function dayStartOf(t: number): number {
  return Math.floor(t / dayInMs) * dayInMs;
}

/** `yyyy-mm-dd` of the UTC day holding `t`. */
export function dayName(t: number): string {
  return new Date(dayStartOf(t)).toISOString().slice(0, 10);
}

/** Start (epoch ms) of a `yyyy-mm-dd` day; undefined when the text is not one. */
export function dayFromName(name: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(name)) return undefined;
  const t = Date.parse(`${name}T00:00:00Z`);
  return Number.isNaN(t) ? undefined : t;
}

/** What the reconciler's full listing says of a VM (the same shape as the app's VmDetails). */
export interface VmAttributes {
  vmSize?: string | undefined;
  location?: string | undefined;
  osType?: string | undefined;
  priority?: string | undefined;
  tags?: Record<string, string> | undefined;
}

/** Details as recorded at one moment (a `d|` row of the VM's timeline partition). */
export interface DetailsChange {
  at: number;
  details: VmAttributes;
}

/**
 * Details that held on the day ending at `dayEnd`: the latest recorded before the day's end, else the
 * earliest recorded (a VM's details are first listed some time after it appears), else `fallback`.
 */
export function detailsForDay(
  history: readonly DetailsChange[],
  dayEnd: number,
  fallback?: VmAttributes,
): VmAttributes | undefined {
  let chosen: DetailsChange | undefined;
  let earliest: DetailsChange | undefined;
  for (const change of history) {
    if (earliest === undefined || change.at < earliest.at) earliest = change;
    if (change.at < dayEnd && (chosen === undefined || change.at >= chosen.at)) chosen = change;
  }
  return (chosen ?? earliest)?.details ?? fallback;
}

/** True when some segment (a windowed start counted from its earliest time) overlaps `[from, to)`. */
export function existedDuring(segments: readonly Segment[], from: number, to: number): boolean {
  return segments.some((s) => (s.startWindowFrom ?? s.start) < to && (s.end ?? Infinity) > from);
}

export interface DayUsage {
  /** Start of the UTC day (epoch ms). */
  day: number;
  /** The part of the day counted: `[from, to)`, the whole day unless clipped by the window. */
  from: number;
  to: number;
  usage: UsageSeconds;
}

/**
 * A VM's usage in `[from, to)` split by UTC day, for the days on which it existed (some segment overlaps
 * the day). The sum over the days equals `usageOf(segments, from, to, asOf)` minus the unknown time of
 * the days on which the VM did not exist.
 */
export function dailyUsageOf(
  segments: readonly Segment[],
  from: number,
  to: number,
  asOf: number,
): DayUsage[] {
  const days: DayUsage[] = [];
  for (let day = dayStartOf(from); day < to; day += dayInMs) {
    const a = Math.max(from, day);
    const b = Math.min(to, day + dayInMs);
    if (!existedDuring(segments, day, day + dayInMs)) continue;
    days.push({ day, from: a, to: b, usage: usageOf(segments, a, b, asOf) });
  }
  return days;
}
