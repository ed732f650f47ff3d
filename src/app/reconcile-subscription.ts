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
 */
import { randomUUID } from 'node:crypto';
import { ObservationSource, type Observation } from '../domain/observation';
import { parseInstanceView, PowerState, type InstanceViewStatus } from '../domain/power-state';
import { vmKey } from '../domain/resource-id';
import { forEachLimited } from './concurrency';
import { listWatchedSubscriptions } from './watched-subscriptions';
import { ensureError } from './errors';
import { couldBeGuestShutdown, narrowStops, type StopCandidate } from './narrow-stops';
import type {
  AvailabilityMetricsClient,
  Clock,
  ListedPage,
  ListedVm,
  Logger,
  ManagementClient,
  ReconcileLease,
  ReconcileMark,
  ReconcileRunStore,
  TimelineStore,
} from './ports';
import {
  detailsFingerprint,
  flatString,
  highCostGetRemaining,
  lastSeenOf,
  pacingDelayInMs,
  reconcileDedupeId,
  type KnownVm,
} from './reconcile-mark';

export interface ReconcileDependencies {
  store: TimelineStore;
  management: ManagementClient;
  /**
   * The VM availability metric: when present, stops found only within a window are narrowed with one
   * batched read per 50 VMs of one region and type (see `narrowStops`).
   */
  metrics?: AvailabilityMetricsClient | undefined;
  runs: ReconcileRunStore;
  log: Logger;
  now: Clock;
}

export interface ReconcileOptions {
  /** Time budget of one subscription run (default 240 s): the run stops between pages before it. */
  budgetInMs?: number;
  /** Refresh size, location, OS type, priority and tags when older than this (default 60). */
  detailsRefreshInMinutes?: number;
  runId?: string;
  /** Waits (pacing); injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Below this many HighCostGet requests left, wait before the next page (default 30). */
  pacingThreshold?: number;
  /** Most VMs a run may leave unconfirmed and still advance the mark (default 500). */
  maxUnconfirmed?: number;
  /** Per-VM writes and reads in flight at once (default 16). */
  concurrency?: number;
  abortSignal?: AbortSignal;
}

export interface ReconcileSummary {
  subscriptionId: string;
  runId: string;
  /** `metrics:getBatch` reads made to narrow stops found within a window (≤ ⌈N/50⌉ per region and type). */
  metricReads?: number;
  /** Stops whose window the availability metric narrowed. */
  narrowed?: number;
  /** VMs listed with a known power state. */
  seen: number;
  /** Recorded state changes of known VMs. */
  changed: number;
  /** VMs recorded for the first time (or again after a deletion). */
  new: number;
  deleted: number;
  /** VMs whose power state stayed missing: nothing changed for them. */
  unknown: number;
  /** Per-VM failures (logged with the VM id). */
  failed: number;
  /** VMs whose details (size, location, OS type, priority, tags) were updated. */
  detailsUpdated: number;
  /** Management requests (wire attempts) made by this run. */
  requests: number;
  throttled: number;
  pages: number;
  /** Every page of VMs and of every scale set was read: deletions were applied and the mark advanced. */
  complete: boolean;
  durationMs: number;
  stoppedEarly: boolean;
  /** Time spent waiting for the rate limit to refill. */
  pacedMs: number;
  /** Set when the run did nothing (another run holds the subscription). */
  skipped?: string | undefined;
  /** Set when the run failed as a whole (reconcileAll only). */
  error?: string | undefined;
  /** The first listing failure of the run (throttle, 5xx, 403, 404): what coverage reports. */
  listingError?: ListingError | undefined;
}

/** Why a listing failed, as the management adapter's error said it. */
export interface ListingError {
  /** `ThrottledError`, `ManagementUnavailableError`, `ManagementRequestError`, ... */
  name: string;
  message: string;
  statusCode?: number | undefined;
  /** ARM error code (`AuthorizationFailed`, `SubscriptionNotFound`, ...). */
  code?: string | undefined;
  retryAfterInMs?: number | undefined;
}

export const anotherRunInProgress = 'another run in progress';

const defaults = {
  budgetInMs: 240_000,
  detailsRefreshInMinutes: 60,
  pacingThreshold: 30,
  maxUnconfirmed: 500,
  concurrency: 16,
  /** Queued per-VM tasks past which the listing waits for them before the next page. */
  maxBacklog: 1_000,
  /** The lease outlives the budget by this much (a crashed run frees the subscription after it). */
  leaseMarginInMs: 60_000,
} as const;

function emptySummary(subscriptionId: string, runId: string, durationMs: number): ReconcileSummary {
  return {
    subscriptionId,
    runId,
    seen: 0,
    changed: 0,
    new: 0,
    deleted: 0,
    unknown: 0,
    failed: 0,
    detailsUpdated: 0,
    requests: 0,
    throttled: 0,
    pages: 0,
    complete: false,
    durationMs,
    stoppedEarly: false,
    pacedMs: 0,
  };
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Per-VM work (writes, instance-view reads) running at most `limit` at a time while the listing goes on,
 * so one page's writes never hold up the next page's request.
 */
class TaskQueue {
  #active = 0;
  readonly #queue: (() => Promise<void>)[] = [];
  readonly #idle: (() => void)[] = [];
  constructor(
    private readonly limit: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  get size(): number {
    return this.#active + this.#queue.length;
  }

  push(task: () => Promise<void>): void {
    this.#queue.push(task);
    this.#pump();
  }

  /** Resolves when every task pushed so far has ended. */
  drain(): Promise<void> {
    return this.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#active < this.limit && this.#queue.length > 0) {
      const task = this.#queue.shift();
      if (task === undefined) break;
      this.#active += 1;
      task()
        .catch(this.onError)
        .finally(() => {
          this.#active -= 1;
          this.#pump();
          if (this.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}

function isThrottled(error: Error): boolean {
  return error.name === 'ThrottledError';
}

function retryAfterOf(error: Error): number | undefined {
  const value = (error as { retryAfterInMs?: unknown }).retryAfterInMs;
  return typeof value === 'number' ? value : undefined;
}

function listingErrorOf(error: Error): ListingError {
  const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
  return {
    name: error.name,
    message: error.message,
    statusCode: typeof statusCode === 'number' ? statusCode : undefined,
    code: typeof code === 'string' ? code : undefined,
    retryAfterInMs: retryAfterOf(error),
  };
}

/** 403 (the identity lost access) or 404 SubscriptionNotFound: the whole subscription, not one listing. */
export function isSubscriptionWide(error: ListingError): boolean {
  return error.statusCode === 403 || (error.statusCode === 404 && error.code === 'SubscriptionNotFound');
}

/** One subscription run's state. */
class Run {
  readonly summary: ReconcileSummary;
  readonly known = new Map<string, KnownVm>();
  /** Stops recorded within a window this run, for the availability metric. */
  readonly stopCandidates: StopCandidate[] = [];
  /** VMs recorded as new (or re-created): their details are due. */
  readonly fresh = new Set<string>();
  /** VMs this run could not confirm, with their last-seen time. */
  readonly unconfirmed = new Map<string, number>();
  complete = true;
  /** Set after a throttle beyond the allowed wait or an abort: no more listing requests. */
  halted = false;
  slowestPageInMs = 0;
  readonly startedAt: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly budgetInMs: number;
  readonly requestsBefore: number;
  readonly throttledBefore: number;
  readonly tasks: TaskQueue;

  constructor(
    readonly subscriptionId: string,
    readonly deps: ReconcileDependencies,
    readonly options: ReconcileOptions,
    readonly lease: ReconcileLease,
  ) {
    this.startedAt = deps.now();
    this.sleep = options.sleep ?? defaultSleep;
    this.budgetInMs = options.budgetInMs ?? defaults.budgetInMs;
    this.requestsBefore = deps.management.stats.requests;
    this.throttledBefore = deps.management.stats.throttled;
    this.summary = emptySummary(subscriptionId, lease.runId, 0);
    this.tasks = new TaskQueue(options.concurrency ?? defaults.concurrency, (error) => {
      this.summary.failed += 1;
      deps.log.error('reconcile task failed', {
        subscriptionId,
        runId: lease.runId,
        error: ensureError(error).message,
      });
    });
  }

  get mark(): ReconcileMark | undefined {
    return this.lease.mark;
  }

  /** True when one more page might not fit in the budget. */
  nearBudget(): boolean {
    const elapsed = this.deps.now() - this.startedAt;
    return elapsed + Math.max(this.slowestPageInMs * 2, this.budgetInMs * 0.05) >= this.budgetInMs;
  }

  async loadKnown(): Promise<void> {
    for await (const page of this.deps.store.listCurrent(this.subscriptionId)) {
      for (const row of page) {
        this.known.set(flatString(vmKey(row.resourceId)), {
          resourceId: row.resourceId,
          state: row.state,
          lastAt: row.last.at,
          lastSeenAt: row.lastSeenAt,
          details: detailsFingerprint(row.details),
          seen: false,
          location: row.details?.location,
        });
      }
    }
  }

  unconfirm(key: string, known: KnownVm | undefined): void {
    if (known === undefined || known.state === undefined || known.state === PowerState.deleted) return;
    if (!this.unconfirmed.has(key)) this.unconfirmed.set(key, lastSeenOf(key, known, this.mark));
  }

  fail(message: string, vmId: string, error: unknown, key: string, known: KnownVm | undefined): void {
    this.summary.failed += 1;
    this.unconfirm(key, known);
    this.deps.log.error(message, {
      vmId,
      subscriptionId: this.subscriptionId,
      runId: this.lease.runId,
      error: ensureError(error).message,
    });
  }

  /**
   * Reads one listing to its end. Returns false when it failed (the listing is then incomplete).
   * Budget and pacing are checked between pages.
   */
  async readListing(
    what: string,
    pages: AsyncIterable<ListedPage>,
    onPage: (page: ListedPage, fetchedAt: number) => Promise<void>,
  ): Promise<boolean> {
    let requestedAt = this.deps.now();
    try {
      for await (const page of pages) {
        const fetchedAt = this.deps.now();
        this.slowestPageInMs = Math.max(this.slowestPageInMs, fetchedAt - requestedAt);
        this.summary.pages += 1;
        await onPage(page, fetchedAt);
        if (this.nearBudget()) {
          this.summary.stoppedEarly = true;
          this.deps.log.warn('reconcile stopped near its time budget', {
            subscriptionId: this.subscriptionId,
            runId: this.lease.runId,
            listing: what,
          });
          return false;
        }
        await this.pace();
        requestedAt = this.deps.now();
      }
      return true;
    } catch (error) {
      this.listingFailed(what, error);
      return false;
    }
  }

  listingFailed(what: string, value: unknown): void {
    const error = ensureError(value);
    const listingError = listingErrorOf(error);
    // Throttled, aborted, forbidden or gone: every other listing of the subscription would fail alike.
    if (isThrottled(error) || error.name === 'AbortError' || isSubscriptionWide(listingError))
      this.halted = true;
    this.summary.listingError ??= listingError;
    this.deps.log.warn(isThrottled(error) ? 'reconcile listing throttled' : 'reconcile listing failed', {
      subscriptionId: this.subscriptionId,
      runId: this.lease.runId,
      listing: what,
      error: error.message,
      retryAfterInMs: retryAfterOf(error),
    });
  }

  async pace(): Promise<void> {
    const threshold = this.options.pacingThreshold ?? defaults.pacingThreshold;
    const wanted = pacingDelayInMs(highCostGetRemaining(this.deps.management.stats.remaining), threshold);
    if (wanted <= 0) return;
    const left = this.budgetInMs - (this.deps.now() - this.startedAt);
    const delay = Math.min(wanted, Math.max(0, left / 2));
    if (delay <= 0) return;
    this.deps.log.debug('reconcile pacing', { subscriptionId: this.subscriptionId, delayInMs: delay });
    this.summary.pacedMs += delay;
    await this.sleep(delay);
  }

  /** The VM's power state from the listing, or from one instance-view read when the listing has none. */
  async stateOf(
    vm: ListedVm,
    pageAt: number,
    key: string,
    known: KnownVm | undefined,
  ): Promise<{ state: PowerState; at: number; statuses: InstanceViewStatus[] | undefined } | undefined> {
    const listed = parseInstanceView(vm.statuses);
    if (listed.powerState !== PowerState.unknown)
      return { state: listed.powerState, at: pageAt, statuses: vm.statuses };
    let statuses: InstanceViewStatus[] | undefined;
    try {
      statuses = await this.deps.management.getInstanceView(vm.resourceId, this.callOptions());
    } catch (error) {
      this.fail('instance view read failed', vm.resourceId, error, key, known);
      return undefined;
    }
    const readAt = this.deps.now();
    const state = statuses === undefined ? PowerState.unknown : parseInstanceView(statuses).powerState;
    if (state === PowerState.unknown) {
      this.summary.unknown += 1;
      this.unconfirm(key, known);
      this.deps.log.warn('power state unknown', { vmId: vm.resourceId, subscriptionId: this.subscriptionId });
      return undefined;
    }
    return { state, at: readAt, statuses };
  }

  callOptions(): { abortSignal?: AbortSignal } {
    return this.options.abortSignal === undefined ? {} : { abortSignal: this.options.abortSignal };
  }

  async reconcileVm(vm: ListedVm, pageAt: number): Promise<void> {
    let key: string;
    try {
      key = vmKey(vm.resourceId);
    } catch (error) {
      this.fail('listed VM not reconciled', vm.resourceId, error, '', undefined);
      return;
    }
    const known = this.known.get(key);
    if (known !== undefined) known.seen = true;
    const found = await this.stateOf(vm, pageAt, key, known);
    if (found === undefined) return;
    this.summary.seen += 1;
    const { state, at } = found;
    const previous = known?.state;
    const isNew = previous === undefined || previous === PowerState.deleted;
    // Same state, or a newer observation (an event) already says more: nothing to record.
    if (known !== undefined && !isNew && (previous === state || known.lastAt >= at)) {
      await this.refreshListedDetails(vm, key, known);
      return;
    }
    // A VM seen for the first time starts its history now (no window); a re-created one has a window.
    const lastSeen =
      known === undefined || previous === undefined ? undefined : lastSeenOf(key, known, this.mark);
    const dedupeId = reconcileDedupeId(state, lastSeen);
    const observation: Observation = {
      resourceId: vm.resourceId,
      at,
      state,
      source: ObservationSource.reconcile,
      dedupeId,
    };
    if (lastSeen !== undefined && lastSeen < at) observation.windowFrom = lastSeen;
    const provisioning = parseInstanceView(found.statuses).provisioning;
    if (provisioning !== undefined) observation.provisioning = provisioning;
    try {
      const outcome = await this.deps.store.record(observation, { marker: dedupeId });
      if (outcome === 'recorded') {
        if (isNew) this.summary.new += 1;
        else this.summary.changed += 1;
        const region = known?.location ?? vm.details?.location;
        if (observation.windowFrom !== undefined && region !== undefined && couldBeGuestShutdown(state))
          this.stopCandidates.push({
            resourceId: vm.resourceId,
            subscriptionId: this.subscriptionId,
            region,
            state,
            windowFrom: observation.windowFrom,
            at,
            dedupeId,
          });
      }
      this.deps.log.info(isNew ? 'new VM recorded' : 'power state change recorded', {
        vmId: vm.resourceId,
        subscriptionId: this.subscriptionId,
        state,
        previousState: previous,
        windowFrom: observation.windowFrom,
        at,
        outcome,
      });
    } catch (error) {
      this.fail('power state change not recorded', vm.resourceId, error, key, known);
      return;
    }
    if (known === undefined) {
      this.known.set(key, {
        resourceId: vm.resourceId,
        state,
        lastAt: at,
        details: '',
        seen: true,
      });
    } else {
      known.state = state;
      known.lastAt = at;
    }
    if (isNew) this.fresh.add(key);
    await this.refreshListedDetails(vm, key, this.known.get(key));
  }

  /** Details that came with the listing (scale-set instances): stored when they differ from the row. */
  async refreshListedDetails(vm: ListedVm, key: string, known: KnownVm | undefined): Promise<void> {
    if (vm.details === undefined || known === undefined) return;
    await this.updateDetails(vm, key, known);
  }

  async updateDetails(vm: ListedVm, key: string, known: KnownVm): Promise<void> {
    const fingerprint = detailsFingerprint(vm.details);
    if (vm.details === undefined || (fingerprint === known.details && !this.fresh.has(key))) return;
    try {
      if (await this.deps.store.updateDetails(vm.resourceId, vm.details, this.deps.now())) {
        known.details = fingerprint;
        this.fresh.delete(key);
        this.summary.detailsUpdated += 1;
      }
    } catch (error) {
      this.summary.failed += 1;
      this.deps.log.error('details not updated', {
        vmId: vm.resourceId,
        subscriptionId: this.subscriptionId,
        error: ensureError(error).message,
      });
    }
  }

  /**
   * Settles at once the VMs whose listed state matches their row (most of them: no request); queues the
   * others. Waits only when the queue is long.
   */
  async onPage(page: ListedPage, fetchedAt: number): Promise<void> {
    for (const vm of page.vms) {
      if (!this.settledByListing(vm, fetchedAt)) this.tasks.push(() => this.reconcileVm(vm, fetchedAt));
    }
    if (this.tasks.size > defaults.maxBacklog) await this.tasks.drain();
  }

  /** True when the listing confirms the VM's recorded state and details: counted, nothing to write. */
  settledByListing(vm: ListedVm, pageAt: number): boolean {
    let key: string;
    try {
      key = vmKey(vm.resourceId);
    } catch {
      return false;
    }
    const known = this.known.get(key);
    if (known === undefined || known.state === undefined || known.state === PowerState.deleted) return false;
    const state = parseInstanceView(vm.statuses).powerState;
    if (state === PowerState.unknown) return false;
    if (state !== known.state && known.lastAt < pageAt) return false;
    if (vm.details !== undefined && detailsFingerprint(vm.details) !== known.details) return false;
    known.seen = true;
    this.summary.seen += 1;
    return true;
  }

  async listEverything(): Promise<void> {
    const management = this.deps.management;
    const call = this.callOptions();
    if (
      !(await this.readListing('vms', management.listVmStatuses(this.subscriptionId, call), (p, at) =>
        this.onPage(p, at),
      ))
    )
      this.complete = false;
    if (this.halted || this.summary.stoppedEarly) {
      this.complete = false;
      return;
    }
    const scaleSetIds: string[] = [];
    try {
      for await (const ids of management.listScaleSets(this.subscriptionId, call)) {
        this.summary.pages += 1;
        scaleSetIds.push(...ids);
      }
    } catch (error) {
      this.listingFailed('scaleSets', error);
      this.complete = false;
      return;
    }
    for (const scaleSetId of scaleSetIds) {
      if (this.halted || this.summary.stoppedEarly) {
        this.complete = false;
        return;
      }
      const ok = await this.readListing(
        'scaleSetInstances',
        management.listScaleSetInstances(scaleSetId, call),
        (p, at) => this.onPage(p, at),
      );
      if (!ok) this.complete = false;
    }
  }

  /** Known VMs absent from this complete listing, confirmed gone by one read each, are deleted. */
  async recordDeletions(listingStartedAt: number): Promise<void> {
    const absent = [...this.known.entries()].filter(
      ([, k]) =>
        !k.seen && k.state !== undefined && k.state !== PowerState.deleted && k.lastAt < listingStartedAt,
    );
    await forEachLimited(absent, this.options.concurrency ?? defaults.concurrency, async ([key, known]) => {
      let statuses: InstanceViewStatus[] | undefined;
      try {
        statuses = await this.deps.management.getInstanceView(known.resourceId, this.callOptions());
      } catch (error) {
        this.fail('deletion not confirmed', known.resourceId, error, key, known);
        return;
      }
      if (statuses !== undefined) {
        // Still there: the listing skipped it (it moved between pages). Not deleted; not confirmed either.
        this.unconfirm(key, known);
        this.deps.log.warn('VM absent from listing but present', {
          vmId: known.resourceId,
          subscriptionId: this.subscriptionId,
        });
        return;
      }
      const at = this.deps.now();
      const lastSeen = lastSeenOf(key, known, this.mark);
      const dedupeId = reconcileDedupeId(PowerState.deleted, lastSeen);
      const observation: Observation = {
        resourceId: known.resourceId,
        at,
        state: PowerState.deleted,
        source: ObservationSource.reconcile,
        dedupeId,
      };
      if (lastSeen < at) observation.windowFrom = lastSeen;
      try {
        const outcome = await this.deps.store.record(observation, { marker: dedupeId });
        if (outcome === 'recorded') this.summary.deleted += 1;
        this.deps.log.info('deletion recorded', {
          vmId: known.resourceId,
          subscriptionId: this.subscriptionId,
          windowFrom: observation.windowFrom,
          at,
          outcome,
        });
      } catch (error) {
        this.fail('deletion not recorded', known.resourceId, error, key, known);
      }
    });
  }

  /** Full listing (size, location, OS type, priority, tags): when due or when new VMs appeared. */
  async refreshDetails(): Promise<number | undefined> {
    const refreshInMs = (this.options.detailsRefreshInMinutes ?? defaults.detailsRefreshInMinutes) * 60_000;
    const detailsAt = this.lease.detailsAt;
    const due = detailsAt === undefined || this.deps.now() - detailsAt >= refreshInMs;
    if (!due && this.fresh.size === 0) return undefined;
    if (this.halted || this.summary.stoppedEarly || this.nearBudget()) return undefined;
    const startedAt = this.deps.now();
    const ok = await this.readListing(
      'details',
      this.deps.management.listVmDetails(this.subscriptionId, this.callOptions()),
      async (page) => {
        await forEachLimited(page.vms, this.options.concurrency ?? defaults.concurrency, async (vm) => {
          const key = vmKey(vm.resourceId);
          const known = this.known.get(key);
          if (known !== undefined) await this.updateDetails(vm, key, known);
        });
      },
    );
    return ok ? startedAt : undefined;
  }

  nextMark(listingStartedAt: number): ReconcileMark | undefined {
    if (!this.complete) return undefined;
    const max = this.options.maxUnconfirmed ?? defaults.maxUnconfirmed;
    if (this.unconfirmed.size > max) {
      this.deps.log.warn('reconcile mark not advanced', {
        subscriptionId: this.subscriptionId,
        unconfirmed: this.unconfirmed.size,
      });
      return undefined;
    }
    return { startedAt: listingStartedAt, unconfirmed: Object.fromEntries(this.unconfirmed) };
  }
}

/** Reconciles one subscription; see the module comment. Storage failures (not per-VM) throw. */
export async function reconcileSubscription(
  subscriptionId: string,
  deps: ReconcileDependencies,
  options: ReconcileOptions = {},
): Promise<ReconcileSummary> {
  const runId = options.runId ?? randomUUID();
  const startedAt = deps.now();
  const budgetInMs = options.budgetInMs ?? defaults.budgetInMs;
  const lease = await deps.runs.acquire(
    subscriptionId,
    runId,
    startedAt,
    startedAt + budgetInMs + defaults.leaseMarginInMs,
  );
  if (lease === undefined) {
    deps.log.info('reconcile skipped', { subscriptionId, runId, reason: anotherRunInProgress });
    return { ...emptySummary(subscriptionId, runId, deps.now() - startedAt), skipped: anotherRunInProgress };
  }
  const run = new Run(subscriptionId, deps, options, lease);
  let released = false;
  try {
    await run.loadKnown();
    const listingStartedAt = deps.now();
    try {
      await run.listEverything();
    } finally {
      // Per-VM work still in flight belongs to this run (and marks VMs seen before deletions).
      await run.tasks.drain();
    }
    if (run.complete) await run.recordDeletions(listingStartedAt);
    if (deps.metrics !== undefined && run.stopCandidates.length > 0) {
      const narrowing = await narrowStops(
        run.stopCandidates,
        { ...deps, metrics: deps.metrics },
        run.callOptions(),
      );
      run.summary.metricReads = narrowing.metricReads;
      run.summary.narrowed = narrowing.narrowed;
    }
    const detailsAt = await run.refreshDetails();
    const summary = run.summary;
    summary.complete = run.complete;
    summary.requests = deps.management.stats.requests - run.requestsBefore;
    summary.throttled = deps.management.stats.throttled - run.throttledBefore;
    const mark = run.nextMark(listingStartedAt);
    const endedAt = deps.now();
    summary.durationMs = endedAt - startedAt;
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
      pacedMs: summary.pacedMs,
      durationMs: summary.durationMs,
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

export interface ReconcileAllOptions extends ReconcileOptions {
  /** Subscriptions to reconcile; empty or absent: the management group's, else every readable one. */
  subscriptionIds?: readonly string[] | undefined;
  /** Management group whose subscriptions are reconciled when no subscription is given. */
  managementGroupId?: string | undefined;
}

/**
 * The configured subscriptions (de-duplicated), else those under the management group, else every
 * subscription the identity can read.
 */
export async function resolveSubscriptions(
  management: ManagementClient,
  configured: readonly string[] | undefined,
  options: { abortSignal?: AbortSignal; managementGroupId?: string | undefined } = {},
): Promise<string[]> {
  const { managementGroupId, ...call } = options;
  const scope =
    configured !== undefined && configured.length > 0
      ? { subscriptionIds: configured }
      : { managementGroupId };
  return (await listWatchedSubscriptions(management, scope, call)).map((s) => s.subscriptionId);
}

/** Reconciles every subscription one after the other (the CLI's inline run). One failing never stops the rest. */
export async function reconcileAll(
  deps: ReconcileDependencies,
  options: ReconcileAllOptions = {},
): Promise<ReconcileSummary[]> {
  const { subscriptionIds, managementGroupId, ...runOptions } = options;
  const ids = await resolveSubscriptions(
    deps.management,
    subscriptionIds,
    options.abortSignal === undefined
      ? { managementGroupId }
      : { abortSignal: options.abortSignal, managementGroupId },
  );
  const summaries: ReconcileSummary[] = [];
  for (const subscriptionId of ids) {
    const startedAt = deps.now();
    try {
      summaries.push(await reconcileSubscription(subscriptionId, deps, { ...runOptions, runId: undefined }));
    } catch (value) {
      const error = ensureError(value);
      deps.log.error('reconcile failed', { subscriptionId, error: error.message });
      summaries.push({ ...emptySummary(subscriptionId, '', deps.now() - startedAt), error: error.message });
    }
  }
  return summaries;
}
