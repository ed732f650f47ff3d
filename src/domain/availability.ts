/**
 * The VM availability metric (`VmAvailabilityMetric`, PT1M) narrows a change the reconciler found only
 * within a window. Per minute: 1 = running the whole minute, 0 = unavailable (a shutdown from inside the
 * guest emits 0), no value = not emitting (a stop or deallocate through the control plane stops the
 * metric). Pure.
 */
import type { ObservationSource } from './observation';
import { PowerState } from './power-state';
import type { Segment } from './segments';

export const minuteInMs = 60_000;

/** One minute of the series: `average` undefined when the VM emitted nothing that minute. */
export interface AvailabilityPoint {
  /** Start of the minute (epoch ms). */
  at: number;
  average?: number | undefined;
}

export const StopKind = {
  /** The series went 1 → 0: shut down from inside the guest OS. */
  guest: 'guest',
  /** The series went 1 → no value: stopped or deallocated through the control plane. */
  controlPlane: 'controlPlane',
} as const;
export type StopKind = (typeof StopKind)[keyof typeof StopKind];

export interface NarrowedWindow {
  /** Earliest possible time of the change (epoch ms). */
  windowFrom: number;
  /** Latest possible time of the change (epoch ms). */
  at: number;
  kind: StopKind;
}

/**
 * Narrows a stop known within `[windowFrom, at]` with the series. The VM ran at the start of the last
 * minute whose value is 1 (it emitted 1 in it), so the stop is after that minute's start; the minute that
 * ends where the window begins counts too (a stop in the window's first minute shows against it). A following
 * minute of 0 (unavailable the whole minute) bounds it from above at that minute's start. A following gap
 * (no value) says "control plane" but bounds nothing from above: a gap may also be a value not published
 * yet. Undefined when the series says nothing inside the window. Bounds only ever shrink.
 */
export function narrowStop(
  points: readonly AvailabilityPoint[],
  windowFrom: number,
  at: number,
): NarrowedWindow | undefined {
  const inside = [...points]
    .filter((p) => p.at + minuteInMs >= windowFrom && p.at < at)
    .sort((a, b) => a.at - b.at);
  let lastRunning = -1;
  for (let i = 0; i < inside.length; i++) if (inside[i]?.average === 1) lastRunning = i;
  if (lastRunning < 0) return undefined;
  const running = inside[lastRunning] as AvailabilityPoint;
  const from = Math.max(windowFrom, running.at);
  const after = inside.slice(lastRunning + 1);
  const firstDown = after.find((p) => p.average !== undefined && p.average === 0);
  const partial = after.find((p) => p.average !== undefined && p.average > 0 && p.average < 1);
  if (firstDown !== undefined || partial !== undefined) {
    // A 0 (or a fraction) after the last 1: the guest shut down; by the first whole minute of 0 it was down.
    const to = firstDown === undefined ? at : Math.min(at, firstDown.at);
    return to > from ? { windowFrom: from, at: to, kind: StopKind.guest } : undefined;
  }
  if (after.length > 0 && after.every((p) => p.average === undefined))
    return { windowFrom: from, at, kind: StopKind.controlPlane };
  return undefined;
}

/** A stop the timeline knows only within `[windowFrom, at]`, which the metric may narrow. */
export interface StopWithinWindow {
  windowFrom: number;
  at: number;
  state: PowerState;
  /** Source of the observation that opened the stopped segment. */
  source: ObservationSource;
}

/** Operations of Resource Health records in the Activity Log (`Microsoft.Resourcehealth/healthevent/…`). */
const healthRecordOperation = /^microsoft\.resourcehealth\//i;

/**
 * The stops of a timeline that no management operation explains and nothing places yet: a change from
 * running (or starting) to Stopped (allocated) opened by the reconciler (its first sighting of a VM the
 * backfill later gave a past) or by a Resource Health record of the Activity Log, without a reason. Its
 * window is the segment's own, else the start of the state it followed: the change came after that.
 */
export function stopsWithinWindows(segments: readonly Segment[]): StopWithinWindow[] {
  const stops: StopWithinWindow[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    const previous = segments[i - 1] as Segment;
    if (segment.state !== PowerState.stopped || segment.reason !== undefined) continue;
    if (previous.state !== PowerState.running && previous.state !== PowerState.starting) continue;
    if (segment.operation !== undefined && !healthRecordOperation.test(segment.operation)) continue;
    const windowFrom = Math.max(segment.startWindowFrom ?? previous.start, previous.start);
    if (windowFrom < segment.start)
      stops.push({ windowFrom, at: segment.start, state: segment.state, source: segment.source });
  }
  return stops;
}
