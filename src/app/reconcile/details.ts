/**
 * Details (size, location, OS type, priority, tags) on the `VmCurrent` rows: stored when a listing brings
 * ones that differ from the row (scale-set instances come with theirs), and from the full VM listing
 * when it is due (every `detailsRefreshInMinutes`, or when new VMs appeared).
 */
import { vmKey } from '../../domain/resource-id';
import { forEachLimited } from '../concurrency';
import { ensureError } from '../errors';
import type { ListedVm } from '../ports';
import { detailsListingDue, detailsUpdateDue } from './decide';
import { readListing } from './listing';
import { detailsFingerprint, type KnownVm } from './mark';
import type { RunState } from './run-state';

/** Stores the listed details of a VM when they differ from its row (or it is new this run). */
export async function updateDetails(
  run: RunState,
  vm: ListedVm,
  key: string,
  known: KnownVm | undefined,
): Promise<void> {
  if (vm.details === undefined || known === undefined) return;
  if (!detailsUpdateDue(vm.details, known, run.fresh.has(key))) return;
  try {
    if (await run.deps.store.updateDetails(vm.resourceId, vm.details, run.deps.now())) {
      known.details = detailsFingerprint(vm.details);
      run.fresh.delete(key);
      run.summary.detailsUpdated += 1;
    }
  } catch (error) {
    run.summary.failed += 1;
    run.deps.log.error('details not updated', {
      vmId: vm.resourceId,
      subscriptionId: run.subscriptionId,
      error: ensureError(error).message,
    });
  }
}

/**
 * Reads the full listing when it is due and time is left; returns when that listing began (the lease
 * keeps it as `detailsAt`), undefined when it was not read to its end.
 */
export async function refreshDetails(run: RunState): Promise<number | undefined> {
  const { now, management } = run.deps;
  if (!detailsListingDue(run.lease.detailsAt, now(), run.settings.detailsRefreshInMs, run.fresh.size))
    return undefined;
  if (run.listingOver || run.budget.nearEnd()) return undefined;
  const startedAt = now();
  const pages = management.listVmDetails(run.subscriptionId, run.settings.call);
  const ok = await readListing(run, 'details', pages, async (page) => {
    await forEachLimited(page.vms, run.settings.concurrency, async (vm) => {
      const key = vmKey(vm.resourceId);
      await updateDetails(run, vm, key, run.known.get(key));
    });
  });
  return ok ? startedAt : undefined;
}
