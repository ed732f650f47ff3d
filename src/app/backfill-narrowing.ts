/**
 * The backfill's stops known only within a window (a Resource Health record of the Activity Log, whose
 * time is when the record was written; the reconciler's first sighting of a VM the backfill gave a past),
 * narrowed with the same batched availability-metric read as the reconciler's (`narrowStops`). Only the
 * VMs whose history the backfill just changed are looked at; a VM whose region is not known yet (no full
 * listing) keeps its honest window.
 */
import { stopsWithinWindows } from '../domain/availability';
import { forEachLimited } from './concurrency';
import { ensureError } from './errors';
import { narrowStops, type NarrowSummary, type StopCandidate } from './narrow-stops';
import type { AvailabilityMetricsClient, Clock, Logger, TimelineStore } from './ports';
import { parseComputeResourceId } from '../domain/resource-id';

export interface BackfillNarrowing extends NarrowSummary {
  /** VMs with a stop to narrow whose region is unknown (the reconciler's full listing has not seen them). */
  regionUnknown: number;
}

/**
 * Narrows the stops that start inside `range` (`to` exclusive, `Infinity` for a range that reaches now)
 * in the timelines of `resourceIds`. One timeline read per VM,
 * one current-row read per VM with a stop, then ≤ ⌈N/50⌉ metric reads per subscription, region and type.
 */
export async function narrowBackfilledStops(
  resourceIds: readonly string[],
  range: { from: number; to: number },
  deps: { store: TimelineStore; metrics: AvailabilityMetricsClient; log: Logger; now: Clock },
  concurrency = 8,
): Promise<BackfillNarrowing> {
  const candidates: StopCandidate[] = [];
  let regionUnknown = 0;
  await forEachLimited(resourceIds, concurrency, async (resourceId) => {
    try {
      const read = Number.isFinite(range.to) ? range : { from: range.from };
      const segments = (await deps.store.getTimeline(resourceId, read))?.segments ?? [];
      const stops = stopsWithinWindows(segments).filter((s) => s.at >= range.from && s.at < range.to);
      if (stops.length === 0) return;
      const region = (await deps.store.getCurrent(resourceId))?.details?.location;
      const subscriptionId = parseComputeResourceId(resourceId)?.subscriptionId;
      if (region === undefined || subscriptionId === undefined) {
        regionUnknown += 1;
        return;
      }
      for (const stop of stops)
        candidates.push({
          resourceId,
          subscriptionId,
          region,
          state: stop.state,
          windowFrom: stop.windowFrom,
          at: stop.at,
          dedupeId: `backfill|${stop.at}`,
          source: stop.source,
        });
    } catch (error) {
      // The metric only adds precision: a VM that cannot be looked at keeps its window.
      deps.log.warn('backfill stop not narrowed', { vmId: resourceId, error: ensureError(error).message });
    }
  });
  const summary = await narrowStops(candidates, deps);
  return { ...summary, regionUnknown };
}
