/**
 * Use case: the post-step of an Activity Log read (backfill slice or recurring read) over the scale sets
 * whose scale-set-wide operations it just kept, like the stops' narrowing over the VMs it changed
 * (backfill-narrowing.ts). For each such scale set: its kept operations (one query), its instances' current
 * rows (one key-range query), and the timeline of each instance whose open segment began at or after the
 * set's earliest operation (an instance unchanged since then has nothing to sharpen). What one operation
 * alone explains is recorded (`sharpenInstance`, scale-set-operations.ts); derivation re-checks it against
 * the whole history, so the timeline is the same whichever of the change and the records came first.
 */
import { ensureError } from './errors';
import { forEachLimited } from './concurrency';
import type { Logger, TimelineStore } from './ports';
import { sharpenInstance, type ScaleSetOperation } from '../domain/scale-set-operations';

export interface SharpenSummary {
  /** Instance timelines read. */
  instances: number;
  /** Changes narrowed to an operation. */
  sharpened: number;
}

/**
 * Sharpens the changes of the instances of `scaleSetIds` that one kept operation alone explains, within
 * `complete`: the stretch over which the log is known to hold every record (a window reaching outside it
 * could hold an operation not read yet, so it is left as it is).
 */
export async function sharpenScaleSetChanges(
  scaleSetIds: Iterable<string>,
  complete: { from: number; to: number },
  deps: {
    store: TimelineStore;
    backfills: { listScaleSetOperations(scaleSetId: string): Promise<ScaleSetOperation[]> };
    log: Logger;
  },
  concurrency = 8,
): Promise<SharpenSummary> {
  const summary: SharpenSummary = { instances: 0, sharpened: 0 };
  if (!(complete.to > complete.from)) return summary;
  for (const scaleSetId of scaleSetIds) {
    const operations = await deps.backfills.listScaleSetOperations(scaleSetId);
    const times = operations.flatMap((op) =>
      [op.startedAt, op.acceptedAt, op.succeededAt, op.failedAt].filter((t): t is number => t !== undefined),
    );
    if (times.length === 0) continue;
    const earliest = Math.min(...times);
    const changed: string[] = [];
    for await (const page of deps.store.listScaleSetCurrent(scaleSetId))
      for (const current of page)
        if (current.since !== undefined && current.since >= earliest) changed.push(current.resourceId);
    await forEachLimited(changed, concurrency, async (resourceId) => {
      try {
        summary.instances += 1;
        const segments = (await deps.store.getTimeline(resourceId, { from: earliest }))?.segments ?? [];
        const found = sharpenInstance(resourceId, segments, operations, complete);
        if (found.length === 0) return;
        const result = await deps.store.recordMany(found.flatMap((f) => f.observations));
        if (result.recorded > 0) summary.sharpened += found.length;
        for (const f of found)
          deps.log.info('instance change sharpened by a scale-set-wide operation', {
            vmId: resourceId,
            correlationId: f.correlationId,
            windowFrom: f.windowFrom,
            windowTo: f.windowTo,
            recorded: result.recorded,
          });
      } catch (error) {
        // Precision only: an instance that cannot be looked at keeps its window.
        deps.log.warn('instance change not sharpened', {
          vmId: resourceId,
          error: ensureError(error).message,
        });
      }
    });
  }
  return summary;
}
