/**
 * The coverage report's backfill column, driven by the backfill's own progress (`VmBackfill`): after each
 * slice run the subscription's row says `running` with the day reached, then `done`, or `failed` (a slice
 * refused with 403, or a slice message that failed on its last delivery and goes to the poison queue).
 */
import { sliceRange, SliceStatus, type BackfillStore } from './backfill';
import { maxDequeueCount, type CoverageDependencies } from './coverage';
import { BackfillState, type CoverageChanges } from './coverage-ports';
import { ensureError } from './errors';

export interface BackfillProgressSummary {
  state: BackfillState;
  slices: number;
  slicesDone: number;
  /** The oldest time read back to from the plan's end without a gap (undefined before the first page). */
  reachedAt?: number | undefined;
  error?: string | undefined;
}

/** The backfill state of a subscription from its plan and slice rows; undefined when none is planned. */
async function backfillProgressOf(
  backfills: Pick<BackfillStore, 'getPlan' | 'listSlices'>,
  subscriptionId: string,
): Promise<BackfillProgressSummary | undefined> {
  const plan = await backfills.getPlan(subscriptionId);
  if (plan === undefined) return undefined;
  const rows = new Map((await backfills.listSlices(subscriptionId)).map((s) => [s.from, s]));
  // The plan's slices, newest first (as planned); the day reached is where the first unfinished one got to.
  const planned = sliceRange(plan.from, plan.to);
  let slicesDone = 0;
  let reachedAt: number | undefined;
  let contiguous = true;
  let error: string | undefined;
  let started = false;
  for (const slice of planned) {
    const row = rows.get(slice.from);
    if (row !== undefined) started = true;
    if (row?.status === SliceStatus.forbidden) error ??= row.error ?? 'Activity Log not readable (403)';
    if (row?.status === SliceStatus.done) {
      slicesDone += 1;
      if (contiguous) reachedAt = slice.from;
      continue;
    }
    if (contiguous && row?.reachedAt !== undefined)
      reachedAt = Math.min(reachedAt ?? Infinity, row.reachedAt);
    contiguous = false;
  }
  const state =
    error !== undefined
      ? BackfillState.failed
      : slicesDone === planned.length
        ? BackfillState.done
        : started
          ? BackfillState.running
          : BackfillState.pending;
  return { state, slices: planned.length, slicesDone, reachedAt, error };
}

/**
 * After a backfill slice run (or its failure): brings the subscription's coverage row up to date from
 * the stored progress. A failure on the message's last delivery (`dequeueCount >= maxDequeueCount`)
 * marks the backfill failed with the reason. A subscription with no coverage row (not listed by the
 * reconcile timer) gets none. Never throws: the slice's own outcome stands.
 */
export async function recordBackfillProgress(
  deps: CoverageDependencies & { backfills: Pick<BackfillStore, 'getPlan' | 'listSlices'> },
  subscriptionId: string,
  failure?: { error: unknown; dequeueCount: number | undefined },
): Promise<BackfillProgressSummary | undefined> {
  try {
    const progress = await backfillProgressOf(deps.backfills, subscriptionId);
    if (progress === undefined) return undefined;
    const poisoned =
      failure !== undefined && failure.dequeueCount !== undefined && failure.dequeueCount >= maxDequeueCount;
    if (poisoned && progress.state !== BackfillState.done) {
      progress.state = BackfillState.failed;
      progress.error = `slice message poisoned: ${ensureError(failure.error).message}`;
    }
    const row = await deps.coverage.get(subscriptionId);
    // Only a watched subscription (one the reconcile timer listed) has a coverage row to bring up to date.
    if (row === undefined) return progress;
    const changes: CoverageChanges = {
      backfill: progress.state,
      backfillSlices: progress.slices,
      backfillSlicesDone: progress.slicesDone,
      backfillReachedAt: progress.reachedAt ?? null,
      backfillError: progress.error ?? null,
    };
    // A failed backfill stays failed until a later slice run finds it done (a resent message succeeded).
    if (row.backfill === BackfillState.failed && progress.state === BackfillState.running && !poisoned) {
      delete changes.backfill;
      delete changes.backfillError;
    }
    if (changes.backfill !== undefined && changes.backfill !== row?.backfill)
      changes.backfillChangedAt = deps.now();
    await deps.coverage.merge(subscriptionId, changes);
    if (changes.backfill === BackfillState.failed && row?.backfill !== BackfillState.failed)
      deps.log.error('backfill failed', { subscriptionId, reason: progress.error });
    return progress;
  } catch (error) {
    deps.log.warn('backfill progress not recorded', { subscriptionId, error: ensureError(error).message });
    return undefined;
  }
}
