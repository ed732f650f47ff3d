/**
 * Coverage: what the app knows of each watched subscription (the `VmCoverage` table). One row per
 * subscription, written by the reconcile timer (presence, backfill), the reconcile worker (outcome,
 * errors), the event path (last event) and read by `vm-timeline coverage` and `GET /api/coverage`.
 */

/** Whether the subscription is (still) among the watched ones. */
export const CoveragePresence = {
  /** Listed by the last discovery (under the management group, configured, or readable). */
  present: 'present',
  /** Was listed before, no longer is: moved out of the group, cancelled, or no longer readable. Not reconciled. */
  gone: 'gone',
} as const;
export type CoveragePresence = (typeof CoveragePresence)[keyof typeof CoveragePresence];

/** How the subscription's last reconcile run ended. */
export const ReconcileOutcome = {
  /** Every page read: deletions applied, the mark advanced. */
  complete: 'complete',
  /** Stopped early (time budget) or some listing failed for another reason: no deletions this run. */
  incomplete: 'incomplete',
  /** ARM throttled the subscription beyond the allowed wait (429 with a long `Retry-After`). */
  throttled: 'throttled',
  /** ARM answered 5xx (after retries) or could not be reached. */
  failing: 'failing',
  /** 403: the app's identity lost its role on the subscription. Never read as "every VM deleted". */
  forbidden: 'forbidden',
  /** 404 SubscriptionNotFound: the subscription vanished. Never read as "every VM deleted". */
  notFound: 'notFound',
  /** The run threw (storage, unexpected); the queue redelivers it. */
  failed: 'failed',
  /** The message failed on its last delivery and went to the poison queue. */
  poisoned: 'poisoned',
} as const;
export type ReconcileOutcome = (typeof ReconcileOutcome)[keyof typeof ReconcileOutcome];

/**
 * The Activity Log backfill of a subscription. The timer sets `pending` when a subscription appears (or
 * comes back); the backfill (issue 13) moves it on through `running` to `done` or `failed`.
 */
export const BackfillState = {
  pending: 'pending',
  running: 'running',
  done: 'done',
  failed: 'failed',
} as const;
export type BackfillState = (typeof BackfillState)[keyof typeof BackfillState];

/**
 * Whether the subscription's events reach the app. `receiving`: an event arrived within the last day;
 * `silent`: none in the last day (an idle subscription raises none either, so this is a hint, not
 * proof of missing wiring); `none`: no event ever received.
 */
export const EventWiring = { receiving: 'receiving', silent: 'silent', none: 'none' } as const;
export type EventWiring = (typeof EventWiring)[keyof typeof EventWiring];

/** One `VmCoverage` row. Times are epoch ms. */
export interface SubscriptionCoverage {
  subscriptionId: string;
  displayName?: string | undefined;
  /** The management group it was found under (management-group mode). */
  managementGroupId?: string | undefined;
  presence: CoveragePresence;
  firstSeenAt: number;
  goneAt?: number | undefined;
  backfill?: BackfillState | undefined;
  backfillChangedAt?: number | undefined;
  lastReconcileAt?: number | undefined;
  lastOutcome?: ReconcileOutcome | undefined;
  lastCompleteAt?: number | undefined;
  /** The last run's error, empty after a complete run. */
  lastError?: string | undefined;
  /** The wait ARM asked for when the last run was throttled. */
  retryAfterInMs?: number | undefined;
  lastEventAt?: number | undefined;
  /** When the subscription's message last went to the poison queue, and why. */
  poisonedAt?: number | undefined;
  poisonReason?: string | undefined;
}

/** Fields to change; `null` clears a field. */
export type CoverageChanges = {
  [K in Exclude<keyof SubscriptionCoverage, 'subscriptionId'>]?: SubscriptionCoverage[K] | null;
};

export interface CoverageStore {
  get(subscriptionId: string): Promise<SubscriptionCoverage | undefined>;
  /** Every row (one per subscription ever watched), in subscription id order. */
  list(): Promise<SubscriptionCoverage[]>;
  /** Merges the changes into the subscription's row, creating it when absent. */
  merge(subscriptionId: string, changes: CoverageChanges): Promise<void>;
}
