/**
 * Use case: stops the reconciler (or the Activity Log backfill) found only within a window, narrowed with
 * the VM availability metric. One `metrics:getBatch` read per 50 VMs of one subscription, region and
 * resource type whose windows fit in one read's span; the narrowed window is recorded as an observation
 * of the same state (never a new transition), with the metric's reason (1 → 0: from inside the guest;
 * values stop: control plane). The metric is kept 93 days: an older window is not asked for.
 */
import { minuteInMs, narrowStop, StopKind } from '../domain/availability';
import { ReasonSource } from '../domain/change-reason';
import { MetricReasonName } from '../domain/health';
import { ObservationSource, type Observation } from '../domain/observation';
import { PowerState } from '../domain/power-state';
import { parseComputeResourceId, ResourceKind, vmKey } from '../domain/resource-id';
import { ensureError } from './errors';
import type { AvailabilityMetricsClient, Clock, Logger, ManagementOptions, TimelineStore } from './ports';

export const maxResourcesPerMetricsBatch = 50;
/** Platform metrics are kept 93 days at PT1M: a stop older than that is not asked for. */
export const metricsRetentionInMs = 93 * 86_400_000;
/**
 * Longest span one read asks for (a window longer than this is read for its last part only, where a stop
 * before its latest possible time shows): keeps a reply of 50 VMs at PT1M to 50 × 1,380 points.
 */
export const maxMetricsSpanInMs = 23 * 3_600_000;

/** A stop known within `[windowFrom, at]`. */
export interface StopCandidate {
  resourceId: string;
  subscriptionId: string;
  region: string;
  state: PowerState;
  windowFrom: number;
  at: number;
  /** Dedupe id of the reconcile observation (the narrowing's own id derives from it). */
  dedupeId: string;
  /** Source of the narrowing observation (default `reconcile`; the backfill's keep the source of the change). */
  source?: ObservationSource | undefined;
}

export interface NarrowSummary {
  candidates: number;
  narrowed: number;
  metricReads: number;
  failedReads: number;
  /** Candidates not asked for: their whole window is past the metric's 93 days. */
  pastRetention: number;
}

/** Only a VM left in Stopped (allocated) can have been shut down from inside the guest. */
export function couldBeGuestShutdown(state: PowerState): boolean {
  return state === PowerState.stopped;
}

function typeOf(resourceId: string): string | undefined {
  const kind = parseComputeResourceId(resourceId)?.kind;
  if (kind === ResourceKind.vm) return 'microsoft.compute/virtualmachines';
  if (kind === ResourceKind.scaleSetInstance)
    return 'microsoft.compute/virtualmachinescalesets/virtualmachines';
  return undefined;
}

/**
 * The part of a candidate's window one read asks for: its last `maxMetricsSpanInMs`, inside the retention,
 * from the minute before it (a stop in the window's first minute shows against that minute's 1).
 */
function readFrom(c: StopCandidate, now: number): number {
  return Math.max(c.windowFrom - minuteInMs, c.at - maxMetricsSpanInMs, now - metricsRetentionInMs);
}

/**
 * Batches of one group: at most 50 VMs whose windows (ordered by their end) fit in one read's span. The
 * reconciler's windows all end at its run, so its stops batch by 50; a backfill's spread over weeks.
 */
function batchesOf(members: readonly StopCandidate[], now: number): StopCandidate[][] {
  const batches: StopCandidate[][] = [];
  let batch: StopCandidate[] = [];
  let from = Infinity;
  for (const c of [...members].sort((a, b) => a.at - b.at)) {
    const start = Math.min(from, readFrom(c, now));
    if (
      batch.length === maxResourcesPerMetricsBatch ||
      (batch.length > 0 && c.at - start > maxMetricsSpanInMs)
    ) {
      batches.push(batch);
      batch = [];
      from = Infinity;
    }
    batch.push(c);
    from = Math.min(from, readFrom(c, now));
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export async function narrowStops(
  candidates: readonly StopCandidate[],
  deps: { metrics: AvailabilityMetricsClient; store: TimelineStore; log: Logger; now?: Clock },
  options: ManagementOptions = {},
): Promise<NarrowSummary> {
  const summary: NarrowSummary = {
    candidates: candidates.length,
    narrowed: 0,
    metricReads: 0,
    failedReads: 0,
    pastRetention: 0,
  };
  const now = (deps.now ?? Date.now)();
  const groups = new Map<string, StopCandidate[]>();
  for (const c of candidates) {
    const type = typeOf(c.resourceId);
    if (type === undefined || !couldBeGuestShutdown(c.state)) continue;
    if (c.at <= now - metricsRetentionInMs) {
      summary.pastRetention += 1;
      continue;
    }
    const group = `${c.subscriptionId.toLowerCase()}|${c.region.toLowerCase()}|${type}`;
    groups.set(group, [...(groups.get(group) ?? []), c]);
  }
  for (const [group, members] of groups) {
    const [subscriptionId = '', region = '', resourceType = ''] = group.split('|');
    for (const batch of batchesOf(members, now)) {
      const from = Math.min(...batch.map((c) => readFrom(c, now)));
      const to = Math.max(...batch.map((c) => c.at));
      let series: Awaited<ReturnType<AvailabilityMetricsClient['getAvailability']>>;
      summary.metricReads += 1;
      try {
        series = await deps.metrics.getAvailability(
          { subscriptionId, region, resourceType, resourceIds: batch.map((c) => c.resourceId), from, to },
          options,
        );
      } catch (error) {
        // The metric only adds precision: a failed read leaves the honest reconciler window.
        summary.failedReads += 1;
        deps.log.warn('availability metric read failed', {
          subscriptionId,
          region,
          vms: batch.length,
          error: ensureError(error).message,
        });
        continue;
      }
      for (const c of batch) {
        const narrowed = narrowStop(series.get(vmKey(c.resourceId)) ?? [], c.windowFrom, c.at);
        // Only an earlier latest-possible time is recorded: an observation of the same state at the listing's
        // own time would not reopen the segment (the listing's observation comes first in the canonical order).
        if (narrowed === undefined || narrowed.at >= c.at) continue;
        const guest = narrowed.kind === StopKind.guest;
        const observation: Observation = {
          resourceId: c.resourceId,
          at: narrowed.at,
          state: c.state,
          source: c.source ?? ObservationSource.reconcile,
          dedupeId: `${c.dedupeId}|metric`,
          reason: {
            source: ReasonSource.availabilityMetric,
            name: guest ? MetricReasonName.guestShutdown : MetricReasonName.controlPlaneStop,
            at: narrowed.at,
            summary: guest ? '1 → 0' : '1 → no value',
          },
        };
        if (narrowed.windowFrom < narrowed.at) observation.windowFrom = narrowed.windowFrom;
        try {
          if ((await deps.store.record(observation)) === 'recorded') summary.narrowed += 1;
          deps.log.info('stop window narrowed', {
            vmId: c.resourceId,
            kind: narrowed.kind,
            windowFrom: narrowed.windowFrom,
            at: narrowed.at,
          });
        } catch (error) {
          deps.log.error('narrowed window not recorded', {
            vmId: c.resourceId,
            error: ensureError(error).message,
          });
        }
      }
    }
  }
  return summary;
}
