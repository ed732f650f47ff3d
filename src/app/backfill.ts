/**
 * Use case: a subscription's Activity Log becomes observations (source `activityLog`).
 *
 * - `planBackfill`: when a subscription has no backfill recorded, its last `days` are cut into slices
 *   (one queue message each) and the plan is recorded, so it happens once.
 * - `backfillSlice`: reads one slice page by page (`nextLink`), records each VM's observations together,
 *   stores progress (the next page) after every flush so a stopped or failed run resumes there, paces by
 *   `x-ms-ratelimit-remaining-subscription-reads` and stops near its time budget. A log that cannot be read
 *   (403) is reported once and not retried.
 * - `readRecentActivityLog`: the recurring read of the recent log (since the last read, at most the last
 *   hour plus the log's lag), same recording.
 * Records are idempotent (same `eventDataId` → duplicate), so re-reading a page or a slice adds nothing.
 * With the availability metric configured, the stops a flush leaves known only within a window (a
 * Resource Health record, a reconciler's first sighting) are narrowed by the reconciler's batched read.
 */
import { parseRecordTime, readActivityLogRecord, type ScaleSetOperationRecord } from '../domain/activity-log';
import type { Observation } from '../domain/observation';
import type { ScaleSetOperation } from '../domain/scale-set-operations';
import { vmKey } from '../domain/resource-id';
import { narrowBackfilledStops } from './backfill-narrowing';
import { sharpenScaleSetChanges } from './scale-set-sharpening';
import { forEachLimited } from './concurrency';
import { ensureError, failureOf, ServiceFailure } from './errors';
import type { AvailabilityMetricsClient, Clock, Logger, ManagementStats, TimelineStore } from './ports';
import { isSubscriptionId, queueMessageFields } from './queue-message';

const dayInMs = 86_400_000;

/** One page of the Activity Log, as the API returned it. */
export interface ActivityLogPage {
  /** Raw records (wire JSON), newest first. */
  records: unknown[];
  /** The next page, absent on the last. */
  nextLink?: string | undefined;
}

export interface ActivityLogReadOptions {
  abortSignal?: AbortSignal;
}

/** Reads a subscription's Activity Log (`Microsoft.Insights/eventtypes/management/values`). */
export interface ActivityLogReader {
  /**
   * The first page of `[from, to]` (epoch ms), or the page `nextLink` names. A refused read throws a
   * ServiceError (`forbidden` when the identity may not read the log); throttling beyond the allowed
   * wait throws ThrottledError.
   */
  readActivityLogPage(
    subscriptionId: string,
    range: { from: number; to: number },
    nextLink?: string,
    options?: ActivityLogReadOptions,
  ): Promise<ActivityLogPage>;
  readonly stats: ManagementStats;
}

export const SliceStatus = {
  pending: 'pending',
  done: 'done',
  forbidden: 'forbidden',
} as const;
export type SliceStatus = (typeof SliceStatus)[keyof typeof SliceStatus];

/** Counters of a slice or a run. */
export interface BackfillCounts {
  pages: number;
  records: number;
  observations: number;
  duplicates: number;
  skipped: number;
  rejected: number;
  requests: number;
  throttled: number;
  /** `metrics:getBatch` reads made to narrow stops known only within a window. */
  metricReads: number;
  /** Stops narrowed to the minute where the availability metric shows them. */
  narrowed: number;
  /** Records of scale-set-wide power operations kept (by operation, in `VmBackfill`). */
  scaleSetRecords: number;
  /** Instance changes narrowed to the one scale-set-wide operation that explains them. */
  sharpened: number;
}

/** Progress of one slice (the `VmBackfill` row `slice|<from>`). */
export interface SliceProgress extends BackfillCounts {
  subscriptionId: string;
  from: number;
  to: number;
  status: SliceStatus;
  /** The page to read next (the slice resumes there). */
  nextLink?: string | undefined;
  /** Oldest `eventTimestamp` reached so far (pages come newest first). */
  reachedAt?: number | undefined;
  /** VM keys seen (count only is stored). */
  vms: number;
  error?: string | undefined;
  updatedAt: number;
}

export interface BackfillPlan {
  subscriptionId: string;
  plannedAt: number;
  from: number;
  to: number;
  slices: number;
}

/** The `VmBackfill` table: plans, slice progress and the recurring read's position. */
export interface BackfillStore {
  getPlan(subscriptionId: string): Promise<BackfillPlan | undefined>;
  /** Records the plan unless one exists; false when another planner got there first. */
  createPlan(plan: BackfillPlan): Promise<boolean>;
  getSlice(subscriptionId: string, from: number): Promise<SliceProgress | undefined>;
  putSlice(progress: SliceProgress): Promise<void>;
  listSlices(subscriptionId: string): Promise<SliceProgress[]>;
  /** The recurring read's position: where the last one ended, and since when the reads follow each other without a gap. */
  getRecentRead(subscriptionId: string): Promise<RecentRead | undefined>;
  putRecentRead(subscriptionId: string, read: RecentRead): Promise<void>;
  /**
   * Keeps records of scale-set-wide operations (rows `op|<scale set key>|<correlation id>`, one column per
   * status): merging, so records read in any order or twice make the same row.
   */
  recordScaleSetOperations(records: readonly ScaleSetOperationRecord[]): Promise<void>;
  /** The operations kept for one scale set (all of its 90 days: a few hundred rows at most). */
  listScaleSetOperations(scaleSetId: string): Promise<ScaleSetOperation[]>;
}

export interface RecentRead {
  /** End of the last recurring read (epoch ms). */
  readTo: number;
  /** Start of the stretch the recurring reads have covered without a gap (epoch ms). */
  coveredFrom?: number | undefined;
  /**
   * Scale sets whose scale-set-wide records the recent reads saw, with the newest record's time (epoch
   * ms): their instances are looked at again by the reads of the next hour (see `scaleSetRevisitInMs`).
   */
  scaleSets?: Record<string, number> | undefined;
}

/**
 * How long the recurring reads keep looking at a scale set after its last scale-set-wide record: a change
 * recorded after the records were read (a late re-list, the reconciler) can be sharpened only once the
 * log is known complete past it, 20 minutes later, by which time the reads no longer return the records.
 */
const scaleSetRevisitInMs = 60 * 60_000;
/** At most this many scale sets are kept for the next reads (the newest). */
const maxRevisitedScaleSets = 200;

export interface BackfillDependencies {
  store: TimelineStore;
  backfills: BackfillStore;
  reader: ActivityLogReader;
  log: Logger;
  now: Clock;
  sleep?: (ms: number) => Promise<void>;
  /** The VM availability metric; when absent, stops keep their windows. */
  metrics?: AvailabilityMetricsClient | undefined;
}

export interface BackfillOptions {
  /** Time budget of one invocation (default 240 s): it stops between pages before it. */
  budgetInMs?: number;
  /** Below this many remaining subscription reads, wait before the next page (default 50). */
  pacingThreshold?: number;
  /** VMs recorded at once (default 8). */
  concurrency?: number;
  /** Observations buffered before they are written (default 20,000; 100,000 in `backfillSubscriptions`). */
  maxBufferedObservations?: number;
  /** Called after every page (CLI progress). */
  onPage?: (progress: SliceProgress) => void;
  /** Collects the keys of the VMs read (a run over many slices counts each VM once). */
  seenVms?: Set<string>;
}

/** One queue message: a subscription and a time slice. */
export interface BackfillMessage {
  subscriptionId: string;
  /** ISO 8601. */
  from: string;
  to: string;
}

export interface BackfillSliceResult {
  progress: SliceProgress;
  /** False when it stopped near its budget (the message should be sent again to resume). */
  complete: boolean;
  /** False when the slice was done already and nothing was read. */
  read: boolean;
}

const defaults = {
  budgetInMs: 240_000,
  pacingThreshold: 50,
  concurrency: 8,
  maxBuffered: 20_000,
  /**
   * The inline run (`backfillSubscriptions`) buffers across slices: 100,000 observations (a 1,000-VM
   * subscription's 89 days in about two flushes; a few tens of MB).
   */
  maxBufferedInline: 100_000,
};

/**
 * Default length of a slice: a week. A queue message records every VM's observations once its slice is
 * read, and recording re-reads the VM's partition: day slices re-read each VM's history up to 89 times
 * (the backfill benchmark measured 10 Table requests per record more than recording it at once); a week
 * (at most about 15,000 records for 1,000 VMs, inside one flush) keeps a message to a few minutes of
 * reading. The inline run buffers across slices and records once per 100,000 observations.
 */
export const sliceLengthInMs = 7 * dayInMs;

/**
 * The slices of `[from, to]`, newest first (recent history is the most useful), cut at multiples of the
 * length since the epoch (UTC day starts) so that a backfill asked for again finds the progress of the
 * same slices.
 */
export function sliceRange(
  from: number,
  to: number,
  lengthInMs = sliceLengthInMs,
): Array<{ from: number; to: number }> {
  const slices: Array<{ from: number; to: number }> = [];
  let end = to;
  let start = Math.floor((to - 1) / lengthInMs) * lengthInMs;
  while (end > from) {
    slices.push({ from: Math.max(from, start), to: end });
    end = start;
    start -= lengthInMs;
  }
  return slices;
}

/** The log answers 400 to a start time past its 90 days: slices are read from no earlier than this. */
export const retentionInMs = 90 * dayInMs - 10 * 60_000;

/**
 * Plans the backfill of a subscription when none is recorded: returns its slice messages (empty when a
 * backfill was already planned). `days` is kept inside the log's 90-day retention.
 */
export async function planBackfill(
  subscriptionId: string,
  days: number,
  deps: Pick<BackfillDependencies, 'backfills' | 'now' | 'log'>,
  force = false,
): Promise<BackfillMessage[]> {
  if (!force && (await deps.backfills.getPlan(subscriptionId)) !== undefined) return [];
  const to = deps.now();
  const from = to - Math.min(days, 89.9) * dayInMs;
  const slices = sliceRange(from, to);
  const created = await deps.backfills.createPlan({
    subscriptionId,
    plannedAt: to,
    from,
    to,
    slices: slices.length,
  });
  if (!created && !force) return [];
  deps.log.info('backfill planned', { subscriptionId, days, slices: slices.length });
  return slices.map((s) => ({
    subscriptionId,
    from: new Date(s.from).toISOString(),
    to: new Date(s.to).toISOString(),
  }));
}

/** The message as sent, or undefined when malformed. */
export function backfillMessageOf(
  message: unknown,
): { subscriptionId: string; from: number; to: number } | undefined {
  const m = queueMessageFields(message) as Partial<Record<keyof BackfillMessage, unknown>> | undefined;
  const subscriptionId = m?.subscriptionId;
  const from = typeof m?.from === 'string' ? Date.parse(m.from) : NaN;
  const to = typeof m?.to === 'string' ? Date.parse(m.to) : NaN;
  if (!isSubscriptionId(subscriptionId)) return undefined;
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) return undefined;
  return { subscriptionId, from, to };
}

export function emptyCounts(): BackfillCounts {
  return {
    pages: 0,
    records: 0,
    observations: 0,
    duplicates: 0,
    skipped: 0,
    rejected: 0,
    requests: 0,
    throttled: 0,
    metricReads: 0,
    narrowed: 0,
    scaleSetRecords: 0,
    sharpened: 0,
  };
}

/** The names of the counts (a slice's stored columns besides `vms`). */
export const backfillCountNames = Object.keys(emptyCounts()) as ReadonlyArray<keyof BackfillCounts>;

/** Adds every count of `counts` into `total`; returns `total`. */
function addCounts<T extends BackfillCounts>(total: T, counts: BackfillCounts): T {
  for (const name of backfillCountNames) total[name] += counts[name];
  return total;
}

/** Reads pages of one range, buffering observations per VM and recording them. */
class LogReading {
  readonly #buffer = new Map<string, Observation[]>();
  #buffered = 0;
  /** Records of scale-set-wide operations read since the last flush. */
  #scaleSetRecords: ScaleSetOperationRecord[] = [];
  /**
   * The stretch of the log this reading (with the recurring reads before it, when contiguous) has read:
   * pages come newest first, so it reaches from the oldest record read (or a range's start once its last
   * page is read) to the newest range's end.
   */
  readonly covered = { from: Infinity, to: -Infinity };
  /** Scale sets read since the reading began (lower-cased id → id, newest record time). */
  readonly scaleSetsSeen = new Map<string, { scaleSetId: string; at: number }>();
  /** Scale sets the next sharpening looks at besides those of its records (recent reads' earlier ones). */
  revisit: string[] = [];
  readonly vms: Set<string>;
  readonly startedAt: number;
  slowestPageInMs = 0;

  constructor(
    private readonly deps: BackfillDependencies,
    private readonly options: BackfillOptions,
    /** Where records and flush results are counted (the slice being read: a run over slices moves it). */
    public counts: BackfillCounts,
    /** The time range of what is buffered (the stops a flush narrows lie in it): a run over slices widens it. */
    public range: { from: number; to: number },
  ) {
    this.startedAt = deps.now();
    this.vms = options.seenVms ?? new Set<string>();
  }

  /** A page of `range` was read (`last`: its last page): the log is read from its oldest record on. */
  reached(range: { from: number; to: number }, records: readonly unknown[], last: boolean): void {
    this.covered.to = Math.max(this.covered.to, range.to);
    let from = last ? range.from : Infinity;
    for (const raw of records) {
      const at =
        typeof raw === 'object' && raw !== null
          ? parseRecordTime((raw as Record<string, unknown>)['eventTimestamp'] as string | undefined)
          : undefined;
      if (at !== undefined) from = Math.min(from, at);
    }
    // Other records of the oldest instant may be on the next page: only what is later is complete.
    this.covered.from = Math.min(this.covered.from, last ? from : from + 1);
  }

  take(records: readonly unknown[], now: number): number | undefined {
    let oldest: number | undefined;
    for (const raw of records) {
      this.counts.records += 1;
      const decision = readActivityLogRecord(raw, now);
      if (decision.kind === 'scaleSetOperation') {
        this.#scaleSetRecords.push(decision.record);
        this.counts.scaleSetRecords += 1;
        const { scaleSetId, at } = decision.record;
        const seen = this.scaleSetsSeen.get(scaleSetId.toLowerCase());
        this.scaleSetsSeen.set(scaleSetId.toLowerCase(), { scaleSetId, at: Math.max(at, seen?.at ?? at) });
      } else if (decision.kind === 'skip') this.counts.skipped += 1;
      else if (decision.kind === 'reject') {
        this.counts.rejected += 1;
        this.deps.log.debug('activity log record rejected', { reason: decision.reason });
      } else {
        const key = vmKey(decision.observation.resourceId);
        const list = this.#buffer.get(key) ?? [];
        list.push(decision.observation);
        this.#buffer.set(key, list);
        this.#buffered += 1;
        this.vms.add(key);
        oldest = Math.min(oldest ?? Infinity, decision.observation.at);
      }
    }
    return oldest;
  }

  get full(): boolean {
    return this.#buffered >= (this.options.maxBufferedObservations ?? defaults.maxBuffered);
  }

  /** Records every buffered VM's observations together. Per-VM failures are collected, then the first thrown. */
  async flush(): Promise<void> {
    const batches = [...this.#buffer.values()];
    this.#buffer.clear();
    this.#buffered = 0;
    const scaleSetRecords = this.#scaleSetRecords;
    this.#scaleSetRecords = [];
    // Kept before the instances' records: a failed flush is read again, and the operations stay.
    if (scaleSetRecords.length > 0) await this.deps.backfills.recordScaleSetOperations(scaleSetRecords);
    const failures: Error[] = [];
    const changed: string[] = [];
    await forEachLimited(batches, this.options.concurrency ?? defaults.concurrency, async (batch) => {
      try {
        const result = await this.deps.store.recordMany(batch);
        if (result.recorded > 0 && batch[0] !== undefined) changed.push(batch[0].resourceId);
        this.counts.observations += result.recorded;
        this.counts.duplicates += result.duplicate;
        this.counts.rejected += result.rejected ?? 0;
      } catch (error) {
        failures.push(ensureError(error));
        this.deps.log.error('activity log observations not recorded', {
          vmId: batch[0]?.resourceId,
          error: ensureError(error).message,
        });
      }
    });
    if (failures[0] !== undefined) throw failures[0];
    await this.narrow(changed);
    await this.sharpen(scaleSetRecords);
  }

  /**
   * The instances' changes that one of the scale-set-wide operations just kept alone explains, narrowed
   * to it (scale-set-sharpening.ts), inside the stretch the log is known complete over: what was read,
   * less the log's lag at its newest end (records reach the API up to 20 minutes late).
   */
  async sharpen(records: readonly ScaleSetOperationRecord[]): Promise<void> {
    const complete = {
      from: this.covered.from,
      to: Math.min(this.covered.to, this.deps.now() - activityLogLagInMs),
    };
    if (!(complete.to > complete.from)) return;
    const scaleSets = new Map(records.map((r) => [r.scaleSetId.toLowerCase(), r.scaleSetId]));
    for (const id of this.revisit) scaleSets.set(id.toLowerCase(), id);
    this.revisit = [];
    if (scaleSets.size === 0) return;
    const summary = await sharpenScaleSetChanges(
      scaleSets.values(),
      complete,
      this.deps,
      this.options.concurrency ?? defaults.concurrency,
    );
    this.counts.sharpened += summary.sharpened;
  }

  /** The metric narrows the stops of the VMs whose history this flush changed (precision only: never fails the slice). */
  async narrow(resourceIds: readonly string[]): Promise<void> {
    const metrics = this.deps.metrics;
    if (metrics === undefined || resourceIds.length === 0) return;
    // A range that reaches now also covers what the reconciler saw after it was planned (a first sighting).
    const reachesNow = this.range.to >= this.deps.now() - activityLogLagInMs;
    const narrowing = await narrowBackfilledStops(
      resourceIds,
      { from: this.range.from, to: reachesNow ? Infinity : this.range.to + 1 },
      { ...this.deps, metrics },
      this.options.concurrency ?? defaults.concurrency,
    );
    this.counts.metricReads += narrowing.metricReads;
    this.counts.narrowed += narrowing.narrowed;
    if (narrowing.candidates > 0 || narrowing.regionUnknown > 0)
      this.deps.log.info('backfill stops narrowed', {
        candidates: narrowing.candidates,
        narrowed: narrowing.narrowed,
        metricReads: narrowing.metricReads,
        failedReads: narrowing.failedReads,
        pastRetention: narrowing.pastRetention,
        regionUnknown: narrowing.regionUnknown,
      });
  }

  nearBudget(): boolean {
    const budget = this.options.budgetInMs ?? defaults.budgetInMs;
    const elapsed = this.deps.now() - this.startedAt;
    return elapsed + Math.max(this.slowestPageInMs * 2, budget * 0.05) >= budget;
  }

  /** Waits when ARM's remaining subscription reads run low (they refill at about 25 a second). */
  async pace(): Promise<void> {
    const remaining = Number(
      this.deps.reader.stats.remaining?.['x-ms-ratelimit-remaining-subscription-reads'],
    );
    const threshold = this.options.pacingThreshold ?? defaults.pacingThreshold;
    if (!Number.isFinite(remaining) || remaining >= threshold) return;
    const delayInMs = Math.ceil(((threshold - remaining) / 25) * 1000);
    this.deps.log.debug('activity log pacing', { remaining, delayInMs });
    await (this.deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms))))(delayInMs);
  }
}

/**
 * Reads one slice of a subscription's log from where it stopped. Safe to run again: a done slice
 * returns at once; records read twice are duplicates.
 */
export async function backfillSlice(
  slice: { subscriptionId: string; from: number; to: number },
  deps: BackfillDependencies,
  options: BackfillOptions = {},
): Promise<BackfillSliceResult> {
  const [result] = await readSlices([slice], deps, options);
  if (result === undefined) throw new Error('backfill slice not read');
  return result;
}

type Slice = { subscriptionId: string; from: number; to: number };

/** Where a slice starts: its stored progress, or its result at once (done already, or past retention). */
async function openSlice(
  slice: Slice,
  deps: BackfillDependencies,
): Promise<
  { result: BackfillSliceResult } | { progress: SliceProgress; range: { from: number; to: number } }
> {
  const stored = await deps.backfills.getSlice(slice.subscriptionId, slice.from);
  // A slice done up to an earlier end (today's, read again later) is read again: records are idempotent.
  const finished = stored !== undefined && stored.status !== SliceStatus.pending;
  if (finished && (stored.to >= slice.to || stored.status === SliceStatus.forbidden))
    return { result: { progress: stored, complete: true, read: false } };
  if (finished) {
    Object.assign(stored, emptyCounts());
    stored.status = SliceStatus.pending;
    stored.to = slice.to;
    delete stored.nextLink;
  }
  // A message that waited long in the queue must not ask for more than the log keeps.
  const range = { from: Math.max(slice.from, deps.now() - retentionInMs), to: slice.to };
  if (range.from >= range.to) {
    const expired: SliceProgress = {
      ...slice,
      ...emptyCounts(),
      status: SliceStatus.done,
      vms: 0,
      error: 'past the Activity Log retention',
      updatedAt: deps.now(),
    };
    await deps.backfills.putSlice(expired);
    return { result: { progress: expired, complete: true, read: false } };
  }
  const progress: SliceProgress = stored ?? {
    ...slice,
    ...emptyCounts(),
    status: SliceStatus.pending,
    vms: 0,
    updatedAt: deps.now(),
  };
  return { progress, range };
}

/**
 * Reads slices of one subscription one after the other into one buffer, recorded when it is full, near
 * the budget or after the last slice: a run over many slices (the CLI's) reads each VM's partition once
 * per flush instead of once per slice. A slice's progress is stored only after the flush that holds every
 * page read up to its `nextLink`, so a stopped run resumes each slice where its stored records end (slices
 * read but not yet flushed are read again). Returns one result per slice reached; the last is incomplete
 * when the run stopped near its budget.
 */
async function readSlices(
  slices: readonly Slice[],
  deps: BackfillDependencies,
  options: BackfillOptions,
): Promise<BackfillSliceResult[]> {
  const results: BackfillSliceResult[] = [];
  const reading = new LogReading(deps, options, emptyCounts(), { from: Infinity, to: -Infinity });
  /** Slices read since the last flush, with what they counted since their last save. */
  let unsaved: Array<{ progress: SliceProgress; counts: BackfillCounts }> = [];
  const before = { requests: deps.reader.stats.requests, throttled: deps.reader.stats.throttled };
  const countRequests = (counts: BackfillCounts): void => {
    counts.requests += deps.reader.stats.requests - before.requests;
    counts.throttled += deps.reader.stats.throttled - before.throttled;
    before.requests = deps.reader.stats.requests;
    before.throttled = deps.reader.stats.throttled;
  };
  /** Records the buffer, then stores the progress of every slice read since (the flush covers their pages). */
  const flushAndSave = async (): Promise<void> => {
    await reading.flush();
    for (const { progress, counts } of unsaved) {
      addCounts(progress, counts);
      Object.assign(counts, emptyCounts());
      progress.vms = Math.max(progress.vms, reading.vms.size);
      progress.updatedAt = deps.now();
      await deps.backfills.putSlice(progress);
    }
    unsaved = unsaved.filter((u) => u.progress.status === SliceStatus.pending);
    reading.range = { from: Infinity, to: -Infinity };
  };
  for (const [index, slice] of slices.entries()) {
    if (index > 0 && reading.nearBudget()) break;
    const opened = await openSlice(slice, deps);
    if ('result' in opened) {
      results.push(opened.result);
      continue;
    }
    const { progress, range } = opened;
    const counts = emptyCounts();
    unsaved.push({ progress, counts });
    reading.counts = counts;
    reading.range = {
      from: Math.min(reading.range.from, range.from),
      to: Math.max(reading.range.to, range.to),
    };
    const lastSlice = index === slices.length - 1;
    const fields = { subscriptionId: slice.subscriptionId, from: new Date(slice.from).toISOString() };
    try {
      for (;;) {
        const requestedAt = deps.now();
        const page = await deps.reader.readActivityLogPage(slice.subscriptionId, range, progress.nextLink);
        reading.slowestPageInMs = Math.max(reading.slowestPageInMs, deps.now() - requestedAt);
        counts.pages += 1;
        countRequests(counts);
        const oldest = reading.take(page.records, deps.now());
        if (oldest !== undefined) progress.reachedAt = Math.min(progress.reachedAt ?? Infinity, oldest);
        const last = page.nextLink === undefined;
        reading.reached(range, page.records, last);
        // Stored only by the next flush, which records this page first.
        progress.nextLink = page.nextLink;
        if (last) progress.status = SliceStatus.done;
        const stop = !last && reading.nearBudget();
        if ((last && lastSlice) || reading.full || stop) await flushAndSave();
        options.onPage?.({ ...progress, ...addCounts(addCounts(emptyCounts(), progress), counts) });
        if (last) {
          deps.log.info('backfill slice read', { ...fields, records: progress.records + counts.records });
          results.push({ progress, complete: true, read: true });
          break;
        }
        if (stop) {
          deps.log.warn('backfill stopped near its time budget', fields);
          results.push({ progress, complete: false, read: true });
          return results;
        }
        await reading.pace();
      }
    } catch (value) {
      const error = ensureError(value);
      if (failureOf(error) === ServiceFailure.forbidden) {
        // The identity may not read this subscription's log: reported, not retried.
        countRequests(counts);
        progress.status = SliceStatus.forbidden;
        progress.error = error.message;
        delete progress.nextLink;
        await flushAndSave();
        deps.log.error('activity log not readable', { ...fields, error: error.message });
        results.push({ progress, complete: true, read: true });
        return results;
      }
      // Transient: keep what was read up to the last flush; the message is redelivered and resumes there.
      deps.log.warn('backfill slice interrupted', { ...fields, error: error.message });
      throw error;
    }
  }
  if (unsaved.length > 0) await flushAndSave();
  return results;
}

export interface RecentReadResult extends BackfillCounts {
  subscriptionId: string;
  from: number;
  to: number;
  forbidden: boolean;
}

/** The log's records reach the API up to 20 minutes late: each recurring read overlaps the last by this. */
export const activityLogLagInMs = 20 * 60_000;

/**
 * The recurring read of the recent log: from the last read's end (less the log's lag), at most the last
 * hour, to now. Idempotent like the backfill.
 */
export async function readRecentActivityLog(
  subscriptionId: string,
  deps: BackfillDependencies,
  options: BackfillOptions = {},
): Promise<RecentReadResult> {
  const to = deps.now();
  const last = await deps.backfills.getRecentRead(subscriptionId);
  const from = Math.max(to - 60 * 60_000, (last?.readTo ?? 0) - activityLogLagInMs);
  // Reads that overlap the last one extend its gap-free stretch; after a gap it starts again.
  const coveredFrom =
    last !== undefined && from <= last.readTo ? Math.min(last.coveredFrom ?? from, from) : from;
  const counts = emptyCounts();
  const reading = new LogReading(deps, options, counts, { from, to });
  reading.covered.from = coveredFrom;
  const before = { requests: deps.reader.stats.requests, throttled: deps.reader.stats.throttled };
  let nextLink: string | undefined;
  let forbidden = false;
  try {
    do {
      const page = await deps.reader.readActivityLogPage(subscriptionId, { from, to }, nextLink);
      counts.pages += 1;
      reading.take(page.records, deps.now());
      nextLink = page.nextLink;
      // The gap-free stretch counts only once this read is whole (then `covered` is [coveredFrom, to]).
      if (nextLink === undefined) reading.covered.to = to;
      if (reading.full) await reading.flush();
    } while (nextLink !== undefined && !reading.nearBudget());
    // The scale sets the last hour's reads saw are looked at again (their records are no longer read).
    const scaleSets = recentScaleSets(last?.scaleSets, reading.scaleSetsSeen, to);
    if (nextLink === undefined) reading.revisit = Object.keys(scaleSets);
    await reading.flush();
    if (nextLink === undefined)
      await deps.backfills.putRecentRead(subscriptionId, { readTo: to, coveredFrom, scaleSets });
  } catch (value) {
    const error = ensureError(value);
    if (failureOf(error) !== ServiceFailure.forbidden) throw error;
    forbidden = true;
    deps.log.error('activity log not readable', { subscriptionId, error: error.message });
  }
  counts.requests = deps.reader.stats.requests - before.requests;
  counts.throttled = deps.reader.stats.throttled - before.throttled;
  return { subscriptionId, from, to, forbidden, ...counts };
}

/** The scale sets to keep looking at: the last reads' and this one's, seen within the revisit time. */
function recentScaleSets(
  kept: Record<string, number> | undefined,
  seen: ReadonlyMap<string, { scaleSetId: string; at: number }>,
  now: number,
): Record<string, number> {
  const merged = new Map<string, { scaleSetId: string; at: number }>();
  for (const [scaleSetId, at] of Object.entries(kept ?? {}))
    merged.set(scaleSetId.toLowerCase(), { scaleSetId, at });
  for (const [key, entry] of seen)
    merged.set(key, {
      scaleSetId: entry.scaleSetId,
      at: Math.max(entry.at, merged.get(key)?.at ?? entry.at),
    });
  const fresh = [...merged.values()]
    .filter((e) => e.at >= now - scaleSetRevisitInMs)
    .sort((a, b) => b.at - a.at)
    .slice(0, maxRevisitedScaleSets);
  return Object.fromEntries(fresh.map((e) => [e.scaleSetId, e.at]));
}

export interface BackfillSummary extends BackfillCounts {
  subscriptionId: string;
  slices: number;
  slicesDone: number;
  vms: number;
  /** Oldest event time reached (epoch ms). */
  reachedAt?: number | undefined;
  /** The log could not be read (403). */
  forbidden: boolean;
  error?: string | undefined;
}

/**
 * Backfills subscriptions inline (the CLI): the last `days` of each, slice after slice, each resumed
 * from its stored progress. One subscription's failure never stops the others.
 */
export async function backfillSubscriptions(
  subscriptionIds: readonly string[],
  days: number,
  deps: BackfillDependencies,
  options: BackfillOptions = {},
): Promise<BackfillSummary[]> {
  const summaries: BackfillSummary[] = [];
  for (const subscriptionId of subscriptionIds) {
    const summary: BackfillSummary = {
      subscriptionId,
      ...emptyCounts(),
      slices: 0,
      slicesDone: 0,
      vms: 0,
      forbidden: false,
    };
    const seenVms = new Set<string>();
    try {
      const messages = await planBackfill(subscriptionId, days, deps, true);
      summary.slices = messages.length;
      let pending = messages.flatMap((m) => backfillMessageOf(m) ?? []);
      const run: BackfillOptions = {
        ...options,
        seenVms,
        maxBufferedObservations: options.maxBufferedObservations ?? defaults.maxBufferedInline,
      };
      while (pending.length > 0 && !summary.forbidden) {
        // One buffer across the slices: each VM's partition is read once per flush, not once per slice.
        const results = await readSlices(pending, deps, run);
        const completed = results.filter((r) => r.complete);
        pending = pending.slice(completed.length);
        for (const result of completed) {
          summary.slicesDone += 1;
          if (!result.read) continue;
          addCounts(summary, result.progress);
          if (result.progress.reachedAt !== undefined)
            summary.reachedAt = Math.min(summary.reachedAt ?? Infinity, result.progress.reachedAt);
          if (result.progress.status === SliceStatus.forbidden) {
            summary.forbidden = true;
            summary.error = result.progress.error;
            break;
          }
        }
      }
    } catch (value) {
      summary.error = ensureError(value).message;
    }
    summary.vms = seenVms.size;
    summaries.push(summary);
  }
  return summaries;
}
