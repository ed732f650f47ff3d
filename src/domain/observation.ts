import type { ChangeReason } from './change-reason';
import type { PowerState, Provisioning } from './power-state';

/** Where an observation came from. */
export const ObservationSource = {
  /** An Event Grid event whose outcome is certain (start, powerOff, deallocate, delete...). */
  event: 'event',
  /** An instance-view read triggered by an event whose outcome was uncertain (write, redeploy...). */
  instanceView: 'instanceView',
  /** The periodic reconciler: a state found changed, known only within a window. */
  reconcile: 'reconcile',
  /** The subscription's Activity Log (backfill and the recurring read): each operation's start and end. */
  activityLog: 'activityLog',
  /**
   * A Resource Health annotation (or the read it asked for) placing or explaining a change. Ranked first
   * at one instant, so any other observation of that instant wins.
   */
  resourceHealth: 'resourceHealth',
} as const;
export type ObservationSource = (typeof ObservationSource)[keyof typeof ObservationSource];

/** At one instant the later source wins: the Activity Log fills the past and never overrides the others. */
const sourceRank: Readonly<Record<ObservationSource, number>> = {
  resourceHealth: -1,
  activityLog: 0,
  event: 1,
  instanceView: 2,
  reconcile: 3,
};

/**
 * `windowFrom` of a read that found a VM it knew nothing about yet (its earlier observations may be on
 * their way: events arrive in any order): the change happened at some time within the state it follows.
 * Derivation bounds it by the start of that state, whichever order the observations came in; with no
 * state before, there is no change to window. (Epoch 0: a time no real observation has.)
 */
export const sinceStateBegan = 0;

/**
 * One fact about one VM: at `at` it was in `state`. Observations are stored raw; segments are derived.
 * An observation without `state` records provisioning only (a failed or cancelled operation) and does
 * not change the power timeline.
 */
export interface Observation {
  /** Resource id as the source spelled it (display only; keys are lower-cased). */
  resourceId: string;
  /** Epoch ms at which `state` held: the event time, or when the reconciler or a read saw it. */
  at: number;
  /**
   * Earliest time the change to `state` may have happened (reconciler window `[windowFrom, at]`);
   * `sinceStateBegan` when the source knew nothing of the VM before (see there).
   */
  windowFrom?: number | undefined;
  state?: PowerState | undefined;
  source: ObservationSource;
  /** Makes the observation unique: the event id, the reconcile run id, or the Activity Log record's `eventDataId`. */
  dedupeId: string;
  provisioning?: Provisioning | undefined;
  /** Management operation (`Microsoft.Compute/virtualMachines/powerOff/action`), when known. */
  operation?: string | undefined;
  eventType?: string | undefined;
  /** Who did it, from the event's claims. */
  caller?: string | undefined;
  correlationId?: string | undefined;
  /** Why the change happened, when Resource Health said so. */
  reason?: ChangeReason | undefined;
}

/** Total order used everywhere: time, then source, then dedupe id. Deterministic for any input order. */
export function compareObservations(a: Observation, b: Observation): number {
  if (a.at !== b.at) return a.at - b.at;
  const rank = sourceRank[a.source] - sourceRank[b.source];
  if (rank !== 0) return rank;
  return a.dedupeId < b.dedupeId ? -1 : a.dedupeId > b.dedupeId ? 1 : 0;
}

/** Identity of an observation: two deliveries with the same identity are the same fact. */
export function observationIdentity(o: Pick<Observation, 'at' | 'source' | 'dedupeId'>): string {
  return `${o.at}|${o.source}|${o.dedupeId}`;
}
