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
 * comes back); each backfill slice run moves it on from its `VmBackfill` progress: `running` (with the
 * day reached), `done` (every slice read), `failed` (a slice refused with 403, or a slice message gone to
 * the poison queue).
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

/**
 * What an ARM read of the subscription's Event Grid wiring found, per topic type (the `Microsoft.Resources.Subscriptions`
 * and `Microsoft.ResourceNotifications.HealthResources` system topics): `wired`: a topic of that type has a
 * provisioned event subscription delivering to a `vmEvents` Azure Function; `missing`: no topic of that type,
 * or none of its event subscriptions delivers to `vmEvents`; `forbidden`: the identity may not read Event
 * Grid there (403); `unknown`: the read failed otherwise (throttled, 5xx) or was cut short by its budget.
 * This is the proof the event-inferred `EventWiring` cannot give.
 */
export const WiringCheck = {
  wired: 'wired',
  missing: 'missing',
  forbidden: 'forbidden',
  unknown: 'unknown',
} as const;
export type WiringCheck = (typeof WiringCheck)[keyof typeof WiringCheck];

/** The system topic types whose event subscriptions carry the app's events. */
export const WiredTopicType = {
  resources: 'Microsoft.Resources.Subscriptions',
  health: 'Microsoft.ResourceNotifications.HealthResources',
} as const;
export type WiredTopicType = (typeof WiredTopicType)[keyof typeof WiredTopicType];

/** One system topic of a subscription (SystemTopics_ListBySubscription). */
export interface SystemTopicInfo {
  id: string;
  topicType: string;
}

/** One event subscription of a system topic (SystemTopicEventSubscriptions_ListBySystemTopic). */
export interface TopicEventSubscriptionInfo {
  name: string;
  /** `AzureFunction`, `WebHook`, ... */
  endpointType?: string | undefined;
  /** The destination resource id (`{function app id}/functions/{name}` for `AzureFunction`). */
  destinationResourceId?: string | undefined;
  provisioningState?: string | undefined;
}

/** Reads a subscription's Event Grid wiring (Reader covers both: `Microsoft.EventGrid/systemTopics/read`, `.../eventSubscriptions/read`). */
export interface EventWiringReader {
  /** The subscription's system topics, page by page following `nextLink`. */
  listSystemTopics(
    subscriptionId: string,
    options?: { abortSignal?: AbortSignal },
  ): AsyncIterable<SystemTopicInfo[]>;
  /** The event subscriptions of one system topic (by resource id), page by page. */
  listTopicEventSubscriptions(
    systemTopicId: string,
    options?: { abortSignal?: AbortSignal },
  ): AsyncIterable<TopicEventSubscriptionInfo[]>;
}

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
  /** Backfill progress (from `VmBackfill`): slices planned and done, the oldest time read back to without a gap. */
  backfillSlices?: number | undefined;
  backfillSlicesDone?: number | undefined;
  backfillReachedAt?: number | undefined;
  /** Why the backfill failed. */
  backfillError?: string | undefined;
  /** The last ARM read of the Event Grid wiring (at most about once a day per subscription). */
  wiringCheckedAt?: number | undefined;
  resourceEventsWiring?: WiringCheck | undefined;
  healthEventsWiring?: WiringCheck | undefined;
  /** Why the last wiring read was not conclusive (403, 5xx, budget). */
  wiringError?: string | undefined;
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
