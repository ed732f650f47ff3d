/**
 * The reconciler's decisions, pure: from a listed VM, what the run keeps of its `VmCurrent` row
 * (`KnownVm`) and the last complete run's mark, what to record. No I/O, no clock: the run applies them.
 *
 * - A listed power state the row already holds (or that a newer observation already passed): nothing to
 *   record; details that differ from the row are refreshed.
 * - A VM without a row, or whose row has no power state yet (provisioning only) or says deleted: a new
 *   VM, recorded at the listing's time (a re-created one with the window since it was last seen).
 * - A different state: recorded with the window `[last seen, listed at]`, where last seen comes from the
 *   row and the mark; a stop that could be a guest shutdown becomes a metric-narrowing candidate.
 * - A VM a complete listing did not return is a deletion candidate (confirmed by one read before it is
 *   recorded); an incomplete listing has none.
 */
import { ObservationSource, type Observation } from '../../domain/observation';
import { parseInstanceView, PowerState, type InstanceViewStatus } from '../../domain/power-state';
import { couldBeGuestShutdown, type StopCandidate } from '../narrow-stops';
import type { ListedVm, ReconcileMark, VmDetails } from '../ports';
import { detailsFingerprint, lastSeenOf, reconcileDedupeId, type KnownVm } from './mark';

/** A VM's power state as observed: from the listing (at the page's time) or from one instance-view read. */
export interface ObservedState {
  state: PowerState;
  at: number;
  /** The statuses it was parsed from (their provisioning state goes with the observation). */
  statuses: InstanceViewStatus[] | undefined;
}

/** The power state the listing gives, at the page's time; undefined when it has none (one read is due). */
export function listedState(vm: ListedVm, pageAt: number): ObservedState | undefined {
  const state = parseInstanceView(vm.statuses).powerState;
  return state === PowerState.unknown ? undefined : { state, at: pageAt, statuses: vm.statuses };
}

/**
 * The power state an instance-view read gives (`undefined` statuses: the VM is gone), at the read's time;
 * undefined when it is still unknown (nothing changes for the VM).
 */
export function readState(
  statuses: InstanceViewStatus[] | undefined,
  readAt: number,
): ObservedState | undefined {
  const state = statuses === undefined ? PowerState.unknown : parseInstanceView(statuses).powerState;
  return state === PowerState.unknown ? undefined : { state, at: readAt, statuses };
}

/** One listed VM and what the run knows of it. */
export interface VmFacts {
  subscriptionId: string;
  vm: ListedVm;
  /** `vmKey(vm.resourceId)`. */
  key: string;
  /** The VM's row as the run keeps it; undefined when it has none. */
  known: KnownVm | undefined;
  /** The last complete run's mark; undefined before the first. */
  mark: ReconcileMark | undefined;
}

export const VmDecisionKind = { unchanged: 'unchanged', record: 'record' } as const;

export type VmDecision =
  | {
      kind: typeof VmDecisionKind.unchanged;
      /** The listing carries details that differ from the row's: they are due for an update. */
      detailsChanged: boolean;
    }
  | {
      kind: typeof VmDecisionKind.record;
      observation: Observation;
      /** Seen for the first time, or again after a deletion. */
      isNew: boolean;
      previousState: PowerState | undefined;
      /** Kept for the availability metric when the observation is recorded (not a duplicate). */
      stopCandidate: StopCandidate | undefined;
    };

/** True when the run's row of the VM has a live power state (not absent, not provisioning only, not deleted). */
function hasLiveState(known: KnownVm | undefined): known is KnownVm & { state: PowerState } {
  return known?.state !== undefined && known.state !== PowerState.deleted;
}

/** True when listed details exist and differ from the row's. */
function detailsChanged(listed: VmDetails | undefined, known: KnownVm): boolean {
  return listed !== undefined && detailsFingerprint(listed) !== known.details;
}

/** What to record for a VM observed in `observed`; see the module comment. */
export function decideVm(facts: VmFacts, observed: ObservedState): VmDecision {
  const { vm, key, known, mark } = facts;
  const { state, at } = observed;
  // Same state, or a newer observation (an event) already says more: nothing to record.
  if (hasLiveState(known) && (known.state === state || known.lastAt >= at))
    return { kind: VmDecisionKind.unchanged, detailsChanged: detailsChanged(vm.details, known) };
  const previousState = known?.state;
  const isNew = previousState === undefined || previousState === PowerState.deleted;
  // A VM seen for the first time starts its history now (no window); a re-created one has a window.
  const lastSeen =
    known === undefined || previousState === undefined ? undefined : lastSeenOf(key, known, mark);
  const dedupeId = reconcileDedupeId(state, lastSeen);
  const observation: Observation = {
    resourceId: vm.resourceId,
    at,
    state,
    source: ObservationSource.reconcile,
    dedupeId,
  };
  if (lastSeen !== undefined && lastSeen < at) observation.windowFrom = lastSeen;
  const provisioning = parseInstanceView(observed.statuses).provisioning;
  if (provisioning !== undefined) observation.provisioning = provisioning;
  return {
    kind: VmDecisionKind.record,
    observation,
    isNew,
    previousState,
    stopCandidate: stopCandidateOf(facts, observation),
  };
}

/**
 * A stop recorded within a window, in a known region, that could have been a shutdown from inside the
 * guest: the availability metric can narrow it.
 */
function stopCandidateOf(facts: VmFacts, observation: Observation): StopCandidate | undefined {
  const region = facts.known?.location ?? facts.vm.details?.location;
  const { windowFrom, state } = observation;
  if (windowFrom === undefined || region === undefined || state === undefined) return undefined;
  if (!couldBeGuestShutdown(state)) return undefined;
  return {
    resourceId: observation.resourceId,
    subscriptionId: facts.subscriptionId,
    region,
    state,
    windowFrom,
    at: observation.at,
    dedupeId: observation.dedupeId,
  };
}

/**
 * True when the listing alone confirms the VM's row (state and details): counted as seen, no request,
 * nothing written. Most VMs of a steady run are settled so.
 */
export function settledByListing(facts: VmFacts, pageAt: number): boolean {
  if (!hasLiveState(facts.known)) return false;
  const observed = listedState(facts.vm, pageAt);
  if (observed === undefined) return false;
  const decision = decideVm(facts, observed);
  return decision.kind === VmDecisionKind.unchanged && !decision.detailsChanged;
}

/**
 * True when the listed details are to be stored: they differ from the row's, or the VM was recorded as
 * new this run (`fresh`: its row has none yet).
 */
export function detailsUpdateDue(listed: VmDetails | undefined, known: KnownVm, fresh: boolean): boolean {
  return listed !== undefined && (fresh || detailsChanged(listed, known));
}

/**
 * The last-seen time to keep for a VM this run could not confirm (a failed read or write, an unknown
 * state); undefined when there is nothing to confirm (no row, no power state, deleted).
 */
export function unconfirmedSince(
  key: string,
  known: KnownVm | undefined,
  mark: ReconcileMark | undefined,
): number | undefined {
  return hasLiveState(known) ? lastSeenOf(key, known, mark) : undefined;
}

/**
 * The VMs a complete listing that began at `listingStartedAt` did not return: live rows, not seen, with no
 * observation since the listing began (a VM created meanwhile is not absent).
 */
export function deletionCandidates(
  known: ReadonlyMap<string, KnownVm>,
  listingStartedAt: number,
): [string, KnownVm][] {
  return [...known.entries()].filter(([, k]) => !k.seen && hasLiveState(k) && k.lastAt < listingStartedAt);
}

/** The deletion of a VM confirmed gone at `at`, with the window since it was last seen. */
export function deletionObservation(
  key: string,
  known: KnownVm,
  mark: ReconcileMark | undefined,
  at: number,
): Observation {
  const lastSeen = lastSeenOf(key, known, mark);
  const observation: Observation = {
    resourceId: known.resourceId,
    at,
    state: PowerState.deleted,
    source: ObservationSource.reconcile,
    dedupeId: reconcileDedupeId(PowerState.deleted, lastSeen),
  };
  if (lastSeen < at) observation.windowFrom = lastSeen;
  return observation;
}

/**
 * True when the full listing (details) is due: never read, older than the refresh interval, or VMs
 * recorded as new this run need theirs.
 */
export function detailsListingDue(
  detailsAt: number | undefined,
  now: number,
  refreshInMs: number,
  freshVms: number,
): boolean {
  return detailsAt === undefined || now - detailsAt >= refreshInMs || freshVms > 0;
}

/**
 * The mark a run leaves: its listing's start and the VMs it could not confirm; none when the listing was
 * incomplete or more than `maxUnconfirmed` VMs are unconfirmed (the last mark then stays).
 */
export function nextMark(run: {
  complete: boolean;
  listingStartedAt: number;
  unconfirmed: ReadonlyMap<string, number>;
  maxUnconfirmed: number;
}): ReconcileMark | undefined {
  if (!run.complete || run.unconfirmed.size > run.maxUnconfirmed) return undefined;
  return { startedAt: run.listingStartedAt, unconfirmed: Object.fromEntries(run.unconfirmed) };
}
