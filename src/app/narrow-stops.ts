/**
 * Use case: stops the reconciler found only within a window, narrowed with the VM availability metric.
 * One `metrics:getBatch` read per 50 VMs of one subscription, region and resource type; the narrowed
 * window is recorded as an observation of the same state (never a new transition), with the metric's
 * reason (1 → 0: from inside the guest; values stop: control plane).
 */
import { narrowStop, StopKind } from '../domain/availability';
import { ReasonSource } from '../domain/change-reason';
import { MetricReasonName } from '../domain/health';
import { ObservationSource, type Observation } from '../domain/observation';
import { PowerState } from '../domain/power-state';
import { parseComputeResourceId, ResourceKind, vmKey } from '../domain/resource-id';
import { ensureError } from './errors';
import type { AvailabilityMetricsClient, Logger, ManagementOptions, TimelineStore } from './ports';

export const maxResourcesPerMetricsBatch = 50;

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
}

export interface NarrowSummary {
  candidates: number;
  narrowed: number;
  metricReads: number;
  failedReads: number;
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

export async function narrowStops(
  candidates: readonly StopCandidate[],
  deps: { metrics: AvailabilityMetricsClient; store: TimelineStore; log: Logger },
  options: ManagementOptions = {},
): Promise<NarrowSummary> {
  const summary: NarrowSummary = {
    candidates: candidates.length,
    narrowed: 0,
    metricReads: 0,
    failedReads: 0,
  };
  const groups = new Map<string, StopCandidate[]>();
  for (const c of candidates) {
    const type = typeOf(c.resourceId);
    if (type === undefined || !couldBeGuestShutdown(c.state)) continue;
    const group = `${c.subscriptionId.toLowerCase()}|${c.region.toLowerCase()}|${type}`;
    groups.set(group, [...(groups.get(group) ?? []), c]);
  }
  for (const [group, members] of groups) {
    const [subscriptionId = '', region = '', resourceType = ''] = group.split('|');
    for (let i = 0; i < members.length; i += maxResourcesPerMetricsBatch) {
      const batch = members.slice(i, i + maxResourcesPerMetricsBatch);
      const from = Math.min(...batch.map((c) => c.windowFrom));
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
          source: ObservationSource.reconcile,
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
