/**
 * Per-VM work of a run: each listed VM the listing alone does not settle gets its power state (one
 * instance-view read when the listing has none), the decision of `decideVm`, and the write it asks for.
 * The work runs beside the listing (at most `concurrency` at once); one VM's failure never stops the others.
 */
import type { InstanceViewStatus } from '../../domain/power-state';
import { vmKey } from '../../domain/resource-id';
import type { ListedPage, ListedVm } from '../ports';
import {
  decideVm,
  listedState,
  readState,
  settledByListing,
  VmDecisionKind,
  type ObservedState,
} from './decide';
import { updateDetails } from './details';
import { reconcileDefaults } from './options';
import type { KnownVm } from './mark';
import type { RunState } from './run-state';

/**
 * Settles at once the VMs whose listed state matches their row (most of them: no request); queues the
 * others. Waits only when the queue is long.
 */
export async function onPage(run: RunState, page: ListedPage, fetchedAt: number): Promise<void> {
  for (const vm of page.vms) {
    if (!settled(run, vm, fetchedAt)) run.tasks.push(() => reconcileVm(run, vm, fetchedAt));
  }
  if (run.tasks.size > reconcileDefaults.maxBacklog) await run.tasks.drain();
}

/** True when the listing confirms the VM's row: counted as seen, nothing to write. */
function settled(run: RunState, vm: ListedVm, pageAt: number): boolean {
  let key: string;
  try {
    key = vmKey(vm.resourceId);
  } catch {
    return false;
  }
  const known = run.known.get(key);
  const facts = { subscriptionId: run.subscriptionId, vm, key, known, mark: run.mark };
  if (known === undefined || !settledByListing(facts, pageAt)) return false;
  known.seen = true;
  run.summary.seen += 1;
  return true;
}

/** The VM's power state from the listing, or from one instance-view read when the listing has none. */
async function observe(
  run: RunState,
  vm: ListedVm,
  pageAt: number,
  key: string,
  known: KnownVm | undefined,
): Promise<ObservedState | undefined> {
  const listed = listedState(vm, pageAt);
  if (listed !== undefined) return listed;
  let statuses: InstanceViewStatus[] | undefined;
  try {
    statuses = await run.deps.management.getInstanceView(vm.resourceId, run.settings.call);
  } catch (error) {
    run.fail('instance view read failed', vm.resourceId, error, key, known);
    return undefined;
  }
  const read = readState(statuses, run.deps.now());
  if (read === undefined) {
    run.summary.unknown += 1;
    run.unconfirm(key, known);
    run.deps.log.warn('power state unknown', { vmId: vm.resourceId, subscriptionId: run.subscriptionId });
  }
  return read;
}

/** One listed VM the listing did not settle: observe, decide, record. */
async function reconcileVm(run: RunState, vm: ListedVm, pageAt: number): Promise<void> {
  let key: string;
  try {
    key = vmKey(vm.resourceId);
  } catch (error) {
    run.fail('listed VM not reconciled', vm.resourceId, error, '', undefined);
    return;
  }
  const known = run.known.get(key);
  if (known !== undefined) known.seen = true;
  const observed = await observe(run, vm, pageAt, key, known);
  if (observed === undefined) return;
  run.summary.seen += 1;
  const decision = decideVm({ subscriptionId: run.subscriptionId, vm, key, known, mark: run.mark }, observed);
  if (decision.kind === VmDecisionKind.unchanged) {
    await updateDetails(run, vm, key, known);
    return;
  }
  const { observation, isNew, previousState } = decision;
  try {
    const outcome = await run.deps.store.record(observation, { marker: observation.dedupeId });
    if (outcome === 'recorded') {
      if (isNew) run.summary.new += 1;
      else run.summary.changed += 1;
      if (decision.stopCandidate !== undefined) run.stopCandidates.push(decision.stopCandidate);
    }
    run.deps.log.info(isNew ? 'new VM recorded' : 'power state change recorded', {
      vmId: vm.resourceId,
      subscriptionId: run.subscriptionId,
      state: observed.state,
      previousState,
      windowFrom: observation.windowFrom,
      at: observed.at,
      outcome,
    });
  } catch (error) {
    run.fail('power state change not recorded', vm.resourceId, error, key, known);
    return;
  }
  if (known === undefined) {
    run.known.set(key, {
      resourceId: vm.resourceId,
      state: observed.state,
      lastAt: observed.at,
      details: '',
      seen: true,
    });
  } else {
    known.state = observed.state;
    known.lastAt = observed.at;
  }
  if (isNew) run.fresh.add(key);
  await updateDetails(run, vm, key, run.known.get(key));
}
