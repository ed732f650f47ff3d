/**
 * Deletions: a VM a complete listing did not return is read once more (a listing that shifts between
 * pages can skip one). Gone (404): its deletion is recorded with the window since it was last seen.
 * Still there: not deleted, and not confirmed either (its last-seen time is kept for the next run).
 * Only a complete run calls this: an incomplete, throttled or refused listing deletes nothing.
 */
import type { InstanceViewStatus } from '../../domain/power-state';
import { forEachLimited } from '../concurrency';
import { deletionCandidates, deletionObservation } from './decide';
import type { RunState } from './run-state';

/** Confirms and records the deletion of every VM absent from the listing that began at `listingStartedAt`. */
export async function recordDeletions(run: RunState, listingStartedAt: number): Promise<void> {
  const { management, store, log, now } = run.deps;
  const absent = deletionCandidates(run.known, listingStartedAt);
  await forEachLimited(absent, run.settings.concurrency, async ([key, known]) => {
    let statuses: InstanceViewStatus[] | undefined;
    try {
      statuses = await management.getInstanceView(known.resourceId, run.settings.call);
    } catch (error) {
      run.fail('deletion not confirmed', known.resourceId, error, key, known);
      return;
    }
    if (statuses !== undefined) {
      // Still there: the listing skipped it (it moved between pages). Not deleted; not confirmed either.
      run.unconfirm(key, known);
      log.warn('VM absent from listing but present', {
        vmId: known.resourceId,
        subscriptionId: run.subscriptionId,
      });
      return;
    }
    const observation = deletionObservation(key, known, run.mark, now());
    try {
      const outcome = await store.record(observation, { marker: observation.dedupeId });
      if (outcome === 'recorded') run.summary.deleted += 1;
      log.info('deletion recorded', {
        vmId: known.resourceId,
        subscriptionId: run.subscriptionId,
        windowFrom: observation.windowFrom,
        at: observation.at,
        outcome,
      });
    } catch (error) {
      run.fail('deletion not recorded', known.resourceId, error, key, known);
    }
  });
}
