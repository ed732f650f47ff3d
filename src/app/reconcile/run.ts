/**
 * Use case: reconcile one subscription. Lists every VM's power state (statusOnly, page by page) and every
 * uniform scale set's instances, compares with the `VmCurrent` rows, and records what changed through
 * the same `store.record` as the event path, stamped with the window `[last seen, page time]`.
 *
 * - A VM absent from a complete listing (every page read) is deleted, after one instance-view read
 *   confirms it is gone (a listing that shifts between pages can skip a VM).
 * - A missing power state costs one instance-view read; still missing, the VM is unknown: nothing changes.
 * - A failed page, a 5xx or a throttle beyond the allowed wait: no deletions and no new mark this run.
 * - One VM's failure never stops the others. A run that nears its time budget stops between pages.
 * - Two runs of one subscription are kept apart by a lease; their observations share stable ids anyway.
 *
 * The parts: `decide` (pure decisions), `listing` (pages, budget, pacing), `vms` (per-VM work),
 * `deletions`, `details`, and this file, the run's steps under its lease.
 */
import { randomUUID } from 'node:crypto';
import { ensureError } from '../errors';
import { narrowStops } from '../narrow-stops';
import { nextMark } from './decide';
import { recordDeletions } from './deletions';
import { refreshDetails } from './details';
import { listEverything } from './listing';
import { reconcileDefaults, runSettings, type ReconcileDependencies, type ReconcileOptions } from './options';
import { RunState } from './run-state';
import { anotherRunInProgress, emptySummary, type ReconcileSummary } from './summary';
import { onPage } from './vms';

/** What the steps leave for the lease's release. */
interface StepsResult {
  /** When the listing began: the next mark's `startedAt`. */
  listingStartedAt: number;
  /** When the full (details) listing began, when it was read this run. */
  detailsAt: number | undefined;
}

/**
 * The run's steps, in order. A new step of the subscription's run (another read of the subscription, more
 * narrowing of what was recorded) goes here, reading and adding to `run`.
 */
async function steps(run: RunState): Promise<StepsResult> {
  const { deps } = run;
  await run.loadKnown();
  const listingStartedAt = deps.now();
  try {
    await listEverything(run, (page, fetchedAt) => onPage(run, page, fetchedAt));
  } finally {
    // Per-VM work still in flight belongs to this run (and marks VMs seen before deletions).
    await run.tasks.drain();
  }
  if (run.complete) await recordDeletions(run, listingStartedAt);
  if (deps.metrics !== undefined && run.stopCandidates.length > 0) {
    const narrowing = await narrowStops(
      run.stopCandidates,
      { ...deps, metrics: deps.metrics },
      run.settings.call,
    );
    run.summary.metricReads = narrowing.metricReads;
    run.summary.narrowed = narrowing.narrowed;
  }
  const detailsAt = await refreshDetails(run);
  return { listingStartedAt, detailsAt };
}

/** Reconciles one subscription; see the module comment. Storage failures (not per-VM) throw. */
export async function reconcileSubscription(
  subscriptionId: string,
  deps: ReconcileDependencies,
  options: ReconcileOptions = {},
): Promise<ReconcileSummary> {
  const runId = options.runId ?? randomUUID();
  const startedAt = deps.now();
  const settings = runSettings(options);
  const lease = await deps.runs.acquire(
    subscriptionId,
    runId,
    startedAt,
    startedAt + settings.budgetInMs + reconcileDefaults.leaseMarginInMs,
  );
  if (lease === undefined) {
    deps.log.info('reconcile skipped', { subscriptionId, runId, reason: anotherRunInProgress });
    return { ...emptySummary(subscriptionId, runId, deps.now() - startedAt), skipped: anotherRunInProgress };
  }
  const run = new RunState(subscriptionId, deps, settings, lease);
  let released = false;
  try {
    const { listingStartedAt, detailsAt } = await steps(run);
    const summary = run.summary;
    summary.complete = run.complete;
    run.countRequests();
    const mark = nextMark({
      complete: run.complete,
      listingStartedAt,
      unconfirmed: run.unconfirmed,
      maxUnconfirmed: run.settings.maxUnconfirmed,
    });
    if (run.complete && mark === undefined)
      deps.log.warn('reconcile mark not advanced', { subscriptionId, unconfirmed: run.unconfirmed.size });
    const endedAt = deps.now();
    summary.durationInMs = endedAt - startedAt;
    released = true;
    const kept = await deps.runs.release(lease, { mark, detailsAt, endedAt, complete: run.complete });
    if (!kept) deps.log.warn('reconcile lease lost', { subscriptionId, runId });
    deps.log.info('reconcile summary', {
      subscriptionId,
      runId,
      seen: summary.seen,
      changed: summary.changed,
      new: summary.new,
      deleted: summary.deleted,
      unknown: summary.unknown,
      failed: summary.failed,
      detailsUpdated: summary.detailsUpdated,
      requests: summary.requests,
      throttled: summary.throttled,
      pages: summary.pages,
      complete: summary.complete,
      stoppedEarly: summary.stoppedEarly,
      pacedMs: summary.pacedInMs,
      durationMs: summary.durationInMs,
    });
    return summary;
  } finally {
    if (!released) {
      // A failure mid-run: free the subscription, learn nothing.
      await deps.runs.release(lease, { endedAt: deps.now(), complete: false }).catch((error: unknown) =>
        deps.log.warn('reconcile lease not released', {
          subscriptionId,
          runId,
          error: ensureError(error).message,
        }),
      );
    }
  }
}
