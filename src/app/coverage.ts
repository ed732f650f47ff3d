/**
 * Use cases of coverage: which subscriptions are watched (discovered each reconcile timer run), how each
 * one's last reconcile ended, when its last event arrived, whether it still needs a backfill.
 *
 * - A subscription that appears (new under the management group, newly configured or readable, or back
 *   after it was gone) is marked `backfill: pending`.
 * - A subscription no longer listed is marked `gone` and no longer reconciled; its VMs keep their last
 *   known state (nothing is recorded as deleted).
 * - A run refused with 403 or 404 SubscriptionNotFound is reported as `forbidden` / `notFound`; the
 *   reconciler records no deletion for an incomplete run, so lost access never reads as "every VM deleted".
 */
import { ensureError, failureOf, ServiceError, ServiceFailure } from './errors';
import {
  BackfillState,
  CoveragePresence,
  EventWiring,
  ReconcileOutcome,
  WiredTopicType,
  WiringCheck,
  type CoverageChanges,
  type CoverageStore,
  type EventWiringReader,
  type SubscriptionCoverage,
  type TopicEventSubscriptionInfo,
} from './coverage-ports';
import type { Clock, Logger, ManagementClient, ManagementOptions } from './ports';
import type { ReconcileSummary } from './reconcile';
import { listWatchedSubscriptions, type WatchScope } from './watched-subscriptions';

export interface CoverageDependencies {
  coverage: CoverageStore;
  log: Logger;
  now: Clock;
}

export interface Discovery {
  /** The subscriptions to reconcile this run, in listing order, de-duplicated. */
  subscriptionIds: string[];
  /** Listed now, not (or gone) before: marked backfill pending. */
  appeared: string[];
  /** Present before, not listed now: marked gone. */
  disappeared: string[];
}

/**
 * The Functions host's default `maxDequeueCount` for Storage Queue triggers (host.json
 * `extensions.queues.maxDequeueCount`): after this many failed deliveries the message goes to `<queue>-poison`.
 */
export const maxDequeueCount = 5;

/** An event within this long counts as `receiving`. */
export const eventWiringWindowInMs = 24 * 60 * 60_000;

/**
 * Lists the watched subscriptions and brings the coverage rows up to date: appeared ones get a row
 * (backfill pending), disappeared ones are marked gone. Writes only rows that change. A failed listing
 * throws and changes nothing.
 */
export async function discoverWatchedSubscriptions(
  deps: CoverageDependencies & { management: ManagementClient },
  scope: WatchScope,
  options: ManagementOptions = {},
): Promise<Discovery> {
  const listed = await listWatchedSubscriptions(deps.management, scope, options);
  const known = new Map((await deps.coverage.list()).map((row) => [row.subscriptionId.toLowerCase(), row]));
  const now = deps.now();
  const discovery: Discovery = { subscriptionIds: [], appeared: [], disappeared: [] };
  const listedKeys = new Set<string>();
  for (const subscription of listed) {
    const id = subscription.subscriptionId;
    listedKeys.add(id.toLowerCase());
    discovery.subscriptionIds.push(id);
    const row = known.get(id.toLowerCase());
    const changes: CoverageChanges = {};
    // A row with no first-seen time was written by the event path before any discovery listed it.
    const discovered = row !== undefined && row.firstSeenAt > 0;
    if (!discovered || row.presence === CoveragePresence.gone) {
      Object.assign(changes, {
        presence: CoveragePresence.present,
        goneAt: null,
        backfill: BackfillState.pending,
        backfillChangedAt: now,
      } satisfies CoverageChanges);
      if (!discovered) changes.firstSeenAt = now;
      discovery.appeared.push(id);
    }
    if (subscription.displayName !== undefined && subscription.displayName !== row?.displayName)
      changes.displayName = subscription.displayName;
    const group = scope.managementGroupId ?? null;
    if ((row?.managementGroupId ?? null) !== group) changes.managementGroupId = group;
    if (Object.keys(changes).length > 0) await deps.coverage.merge(id, changes);
  }
  for (const row of known.values()) {
    if (row.presence === CoveragePresence.gone || listedKeys.has(row.subscriptionId.toLowerCase())) continue;
    await deps.coverage.merge(row.subscriptionId, { presence: CoveragePresence.gone, goneAt: now });
    discovery.disappeared.push(row.subscriptionId);
  }
  for (const subscriptionId of discovery.appeared)
    deps.log.info('watched subscription appeared', { subscriptionId, backfill: BackfillState.pending });
  for (const subscriptionId of discovery.disappeared)
    deps.log.warn('watched subscription disappeared', { subscriptionId });
  return discovery;
}

/** How a run ended, from its summary; undefined when it did nothing (another run held the lease). */
export function outcomeOf(summary: ReconcileSummary): ReconcileOutcome | undefined {
  if (summary.skipped !== undefined) return undefined;
  if (summary.error !== undefined) return ReconcileOutcome.failed;
  if (summary.complete) return ReconcileOutcome.complete;
  const error = summary.listingError;
  if (error === undefined) return ReconcileOutcome.incomplete;
  switch (error.failure) {
    case ServiceFailure.throttled:
      return ReconcileOutcome.throttled;
    case ServiceFailure.forbidden:
      return ReconcileOutcome.forbidden;
    case ServiceFailure.subscriptionNotFound:
      return ReconcileOutcome.notFound;
    case ServiceFailure.unavailable:
    case ServiceFailure.unreachable:
      return ReconcileOutcome.failing;
    default:
      return ReconcileOutcome.incomplete;
  }
}

function describe(summary: ReconcileSummary): string | null {
  if (summary.error !== undefined) return summary.error;
  const error = summary.listingError;
  if (error === undefined) return summary.stoppedEarly ? 'stopped near its time budget' : null;
  const statusCode = error.statusCode;
  const status = statusCode === undefined ? '' : ` (${statusCode}${error.code ? ` ${error.code}` : ''})`;
  return `${error.message}${status}`;
}

/** Records a run's outcome on the subscription's coverage row. */
export async function recordReconcileOutcome(
  deps: CoverageDependencies,
  summary: ReconcileSummary,
): Promise<ReconcileOutcome | undefined> {
  const outcome = outcomeOf(summary);
  if (outcome === undefined) return undefined;
  const now = deps.now();
  const changes: CoverageChanges = {
    lastReconcileAt: now,
    lastOutcome: outcome,
    lastError: describe(summary),
    retryAfterInMs: summary.listingError?.retryAfterInMs ?? null,
  };
  if (outcome === ReconcileOutcome.complete) {
    changes.lastCompleteAt = now;
    changes.poisonedAt = null;
    changes.poisonReason = null;
  }
  await deps.coverage.merge(summary.subscriptionId, changes);
  return outcome;
}

/**
 * Records a run that threw. On the last delivery (`dequeueCount >= maxDequeueCount`) the host moves the
 * message to the poison queue next: the row says so, with the reason.
 */
export async function recordReconcileFailure(
  deps: CoverageDependencies,
  subscriptionId: string,
  error: unknown,
  dequeueCount: number | undefined,
): Promise<ReconcileOutcome> {
  const reason = ensureError(error).message;
  const now = deps.now();
  const poisoned = dequeueCount !== undefined && dequeueCount >= maxDequeueCount;
  const changes: CoverageChanges = {
    lastReconcileAt: now,
    lastOutcome: poisoned ? ReconcileOutcome.poisoned : ReconcileOutcome.failed,
    lastError: reason,
  };
  if (poisoned) {
    changes.poisonedAt = now;
    changes.poisonReason = reason;
    deps.log.error('reconcile message poisoned', { subscriptionId, dequeueCount, reason });
  }
  await deps.coverage.merge(subscriptionId, changes);
  return changes.lastOutcome as ReconcileOutcome;
}

/** Time between two ARM reads of a subscription's Event Grid wiring (it changes rarely). */
const wiringCheckIntervalInMs = 24 * 60 * 60_000;

/** Time before an inconclusive wiring read (`unknown`) is tried again. */
const wiringRetryIntervalInMs = 60 * 60_000;

/** Budget of one wiring read: pages (topics plus the two topics' event subscriptions) and time. */
const wiringCheckBudget = { maxPages: 10, timeInMs: 20_000 } as const;

/** The function our event subscriptions deliver to. */
const eventFunctionName = 'vmEvents';

/** A provisioned event subscription that delivers to a `vmEvents` Azure Function (of any function app). */
function deliversToEventFunction(subscription: TopicEventSubscriptionInfo): boolean {
  const state = subscription.provisioningState ?? 'Succeeded';
  return (
    subscription.endpointType?.toLowerCase() === 'azurefunction' &&
    (subscription.destinationResourceId ?? '')
      .toLowerCase()
      .endsWith(`/functions/${eventFunctionName.toLowerCase()}`) &&
    state.toLowerCase() === 'succeeded'
  );
}

export interface WiringFound {
  resourceEvents: WiringCheck;
  healthEvents: WiringCheck;
  /** Why a type is `forbidden` / `unknown`. */
  error?: string | undefined;
  /** Pages read. */
  pages: number;
}

/** The HTTP status a service error carries, for the message only. */
const statusOf = (error: unknown): number | undefined =>
  error instanceof ServiceError ? error.statusCode : undefined;

class WiringBudgetExceeded extends Error {
  override name = 'WiringBudgetExceeded';
}

/**
 * Reads the subscription's Event Grid wiring: its system topics of the two types, then each one's event
 * subscriptions, within `maxPages` pages (a read cut short says `unknown`, never `missing`).
 */
export async function readEventWiring(
  reader: EventWiringReader,
  subscriptionId: string,
  options: { maxPages?: number; abortSignal?: AbortSignal } = {},
): Promise<WiringFound> {
  const maxPages = options.maxPages ?? wiringCheckBudget.maxPages;
  const callOptions = options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal };
  let pages = 0;
  const countPage = (): void => {
    pages += 1;
    if (pages > maxPages) throw new WiringBudgetExceeded(`wiring read stopped after ${maxPages} pages`);
  };
  const failed = (error: unknown): { check: WiringCheck; error: string } => ({
    check: failureOf(error) === ServiceFailure.forbidden ? WiringCheck.forbidden : WiringCheck.unknown,
    error: `${ensureError(error).message}${statusOf(error) === undefined ? '' : ` (${statusOf(error)})`}`,
  });

  const topics = new Map<WiredTopicType, string[]>();
  try {
    for await (const page of reader.listSystemTopics(subscriptionId, callOptions)) {
      countPage();
      for (const topic of page) {
        const type = Object.values(WiredTopicType).find(
          (t) => t.toLowerCase() === topic.topicType.toLowerCase(),
        );
        if (type !== undefined) topics.set(type, [...(topics.get(type) ?? []), topic.id]);
      }
    }
  } catch (error) {
    const { check, error: reason } = failed(error);
    return { resourceEvents: check, healthEvents: check, error: reason, pages };
  }

  const errors: string[] = [];
  const checkType = async (type: WiredTopicType): Promise<WiringCheck> => {
    try {
      for (const topicId of topics.get(type) ?? []) {
        for await (const page of reader.listTopicEventSubscriptions(topicId, callOptions)) {
          countPage();
          if (page.some(deliversToEventFunction)) return WiringCheck.wired;
        }
      }
      return WiringCheck.missing;
    } catch (error) {
      const result = failed(error);
      errors.push(result.error);
      return result.check;
    }
  };
  const resourceEvents = await checkType(WiredTopicType.resources);
  const healthEvents = await checkType(WiredTopicType.health);
  return { resourceEvents, healthEvents, error: errors.length > 0 ? errors.join('; ') : undefined, pages };
}

/** Outcomes after which the wiring is worth reading (not a throttled, failing, forbidden or vanished subscription). */
const wiringReadAfter: ReadonlySet<ReconcileOutcome | undefined> = new Set([
  ReconcileOutcome.complete,
  ReconcileOutcome.incomplete,
]);

/**
 * After a subscription's reconcile run: reads its Event Grid wiring when the last read is older than
 * `intervalInMs` (about once a day), within its budget, and stores what it found on the coverage row.
 * Never throws (a failure is logged): the reconcile's own outcome stands.
 */
export async function checkEventWiringWhenDue(
  deps: CoverageDependencies & { wiring: EventWiringReader },
  subscriptionId: string,
  outcome: ReconcileOutcome | undefined,
  options: { intervalInMs?: number; maxPages?: number; timeInMs?: number } = {},
): Promise<WiringFound | undefined> {
  if (!wiringReadAfter.has(outcome)) return undefined;
  try {
    const row = await deps.coverage.get(subscriptionId);
    const now = deps.now();
    // An inconclusive read (throttled, 5xx, budget) is tried again sooner than a conclusive one.
    const inconclusive =
      row?.resourceEventsWiring === WiringCheck.unknown || row?.healthEventsWiring === WiringCheck.unknown;
    const interval =
      options.intervalInMs ?? (inconclusive ? wiringRetryIntervalInMs : wiringCheckIntervalInMs);
    if (row?.wiringCheckedAt !== undefined && now - row.wiringCheckedAt < interval) return undefined;
    const found = await readEventWiring(deps.wiring, subscriptionId, {
      maxPages: options.maxPages ?? wiringCheckBudget.maxPages,
      abortSignal: AbortSignal.timeout(options.timeInMs ?? wiringCheckBudget.timeInMs),
    });
    await deps.coverage.merge(subscriptionId, {
      wiringCheckedAt: now,
      resourceEventsWiring: found.resourceEvents,
      healthEventsWiring: found.healthEvents,
      wiringError: found.error ?? null,
    });
    const fields = {
      subscriptionId,
      resourceEvents: found.resourceEvents,
      healthEvents: found.healthEvents,
      pages: found.pages,
    };
    if (found.resourceEvents === WiringCheck.wired && found.healthEvents === WiringCheck.wired)
      deps.log.info('event wiring found', fields);
    else deps.log.warn('event wiring not found', { ...fields, reason: found.error });
    return found;
  } catch (error) {
    deps.log.warn('event wiring not checked', { subscriptionId, error: ensureError(error).message });
    return undefined;
  }
}

/**
 * Notes when each subscription's last event arrived, writing at most once per `intervalInMs` per
 * subscription and process (an event burst costs one write). Holds one number per subscription.
 */
export class EventArrivals {
  readonly #written = new Map<string, number>();
  constructor(
    private readonly coverage: CoverageStore,
    private readonly intervalInMs = 5 * 60_000,
  ) {}

  async note(subscriptionId: string, at: number): Promise<boolean> {
    const key = subscriptionId.toLowerCase();
    const last = this.#written.get(key);
    if (last !== undefined && at - last < this.intervalInMs) return false;
    this.#written.set(key, at);
    try {
      await this.coverage.merge(subscriptionId, { lastEventAt: at });
    } catch (error) {
      this.#written.delete(key);
      throw error;
    }
    return true;
  }
}

/**
 * The subscription an Event Grid or CloudEvents event came from: its `topic` / `source`
 * (`/subscriptions/{id}` for the subscription system topic), else its `subject` / `data.resourceUri`.
 */
export function eventSubscriptionId(event: unknown): string | undefined {
  if (event === null || typeof event !== 'object') return undefined;
  const e = event as Record<string, unknown>;
  const data = (e['data'] ?? {}) as Record<string, unknown>;
  for (const value of [e['topic'], e['source'], e['subject'], data['resourceUri']]) {
    if (typeof value !== 'string') continue;
    const id = /^\/subscriptions\/([A-Za-z0-9-]{1,64})(\/|$)/i.exec(value)?.[1];
    if (id !== undefined) return id;
  }
  return undefined;
}

/** Notes an event's arrival for its subscription's coverage; a failed write is logged, never thrown. */
export async function noteEventArrival(
  arrivals: EventArrivals,
  event: unknown,
  at: number,
  log: Logger,
): Promise<void> {
  const subscriptionId = eventSubscriptionId(event);
  if (subscriptionId === undefined) return;
  try {
    await arrivals.note(subscriptionId, at);
  } catch (error) {
    log.warn('event arrival not noted', { subscriptionId, error: ensureError(error).message });
  }
}

/** One line of the coverage report: times as ISO 8601 UTC, `null` when unknown. */
export interface CoverageReportRow {
  subscriptionId: string;
  displayName: string | null;
  managementGroupId: string | null;
  presence: CoveragePresence;
  firstSeenAt: string | null;
  goneAt: string | null;
  lastCompleteReconcileAt: string | null;
  lastReconcileAt: string | null;
  lastOutcome: ReconcileOutcome | null;
  lastError: string | null;
  retryAfterInMs: number | null;
  lastEventAt: string | null;
  eventWiring: EventWiring;
  backfill: BackfillState | null;
  /** Where the backfill got to (null before its first slice run): slices done of planned, the day reached. */
  backfillProgress: {
    slices: number;
    slicesDone: number;
    /** Oldest time read back to without a gap, and its UTC day. */
    reachedAt: string | null;
    reachedDay: string | null;
    error: string | null;
  } | null;
  poisonedAt: string | null;
  poisonReason: string | null;
  /**
   * The event wiring found by the last ARM read (about daily; `null` before the first): per topic type,
   * `wired` / `missing` / `forbidden` / `unknown`. Proof of the wiring, where `eventWiring` is a hint.
   */
  wiringFound: {
    resourceEvents: WiringCheck | null;
    healthEvents: WiringCheck | null;
    checkedAt: string | null;
    error: string | null;
  };
}

export interface CoverageReport {
  asOf: string;
  /** Rows by presence (present first), then by subscription id. */
  subscriptions: CoverageReportRow[];
  totals: {
    present: number;
    gone: number;
    /** Present subscriptions whose last run was complete. */
    complete: number;
    /** Present subscriptions whose last run was not complete (or never ran). */
    attention: number;
    backfillPending: number;
    /** Present subscriptions with no event in the last day (or never). */
    withoutRecentEvents: number;
    /** Present subscriptions whose last wiring read found either event subscription missing. */
    wiringMissing: number;
  };
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function wiringOf(row: SubscriptionCoverage, now: number): EventWiring {
  if (row.lastEventAt === undefined) return EventWiring.none;
  return now - row.lastEventAt <= eventWiringWindowInMs ? EventWiring.receiving : EventWiring.silent;
}

/** The coverage report (CLI `coverage`, `GET /api/coverage`). */
export async function coverageReport(
  deps: Pick<CoverageDependencies, 'coverage' | 'now'>,
): Promise<CoverageReport> {
  const now = deps.now();
  const rows = (await deps.coverage.list()).sort(
    (a, b) =>
      Number(a.presence === CoveragePresence.gone) - Number(b.presence === CoveragePresence.gone) ||
      a.subscriptionId.localeCompare(b.subscriptionId),
  );
  const subscriptions = rows.map((row): CoverageReportRow => ({
    subscriptionId: row.subscriptionId,
    displayName: row.displayName ?? null,
    managementGroupId: row.managementGroupId ?? null,
    presence: row.presence,
    firstSeenAt: iso(row.firstSeenAt || undefined),
    goneAt: iso(row.goneAt),
    lastCompleteReconcileAt: iso(row.lastCompleteAt),
    lastReconcileAt: iso(row.lastReconcileAt),
    lastOutcome: row.lastOutcome ?? null,
    lastError: row.lastError ?? null,
    retryAfterInMs: row.retryAfterInMs ?? null,
    lastEventAt: iso(row.lastEventAt),
    eventWiring: wiringOf(row, now),
    backfill: row.backfill ?? null,
    backfillProgress:
      row.backfillSlices === undefined
        ? null
        : {
            slices: row.backfillSlices,
            slicesDone: row.backfillSlicesDone ?? 0,
            reachedAt: iso(row.backfillReachedAt),
            reachedDay: iso(row.backfillReachedAt)?.slice(0, 10) ?? null,
            error: row.backfillError ?? null,
          },
    poisonedAt: iso(row.poisonedAt),
    poisonReason: row.poisonReason ?? null,
    wiringFound: {
      resourceEvents: row.resourceEventsWiring ?? null,
      healthEvents: row.healthEventsWiring ?? null,
      checkedAt: iso(row.wiringCheckedAt),
      error: row.wiringError ?? null,
    },
  }));
  const present = subscriptions.filter((r) => r.presence === CoveragePresence.present);
  return {
    asOf: new Date(now).toISOString(),
    subscriptions,
    totals: {
      present: present.length,
      gone: subscriptions.length - present.length,
      complete: present.filter((r) => r.lastOutcome === ReconcileOutcome.complete).length,
      attention: present.filter((r) => r.lastOutcome !== ReconcileOutcome.complete).length,
      backfillPending: present.filter((r) => r.backfill === BackfillState.pending).length,
      withoutRecentEvents: present.filter((r) => r.eventWiring !== EventWiring.receiving).length,
      wiringMissing: present.filter(
        (r) =>
          r.wiringFound.resourceEvents === WiringCheck.missing ||
          r.wiringFound.healthEvents === WiringCheck.missing,
      ).length,
    },
  };
}
