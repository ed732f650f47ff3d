/**
 * TimelineStore on Azure Table Storage.
 *
 * `VmTimeline` holds, per VM partition, the raw observations (`o|…`), the derived segments (`s|…`) and
 * markers (`m|…`); `VmCurrent` holds one row per VM. An observation later than the VM's latest is
 * appended with three requests (read current, one entity-group transaction, conditional current update);
 * a late or duplicated one re-derives the VM's segments from all its observations. Every current-state
 * write is ETag-guarded, and a writer that loses a race re-derives, so concurrent writers lose nothing.
 */
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import {
  RecordOutcome,
  type CurrentState,
  type RecordManyResult,
  type VmDetails,
  type RecordOptions,
  type TimeRange,
  type Timeline,
  type TimelineStore,
} from '../app/ports';
import type { UsageCurrentRow } from '../app/rollup-usage';
import type { RangeReadingUsageSource, VmHistory } from '../app/usage-report';
import { compareStamps, type FleetCurrentRow, type FleetSource } from '../app/fleet';
import { advanceCurrent, deriveCurrent, isAfter, openSegmentOf } from '../domain/current';
import { OperationIndex } from '../domain/activity-log';
import { ObservationSource, observationIdentity, type Observation } from '../domain/observation';
import { PermanentInputError } from '../app/errors';
import { currentKeys, keyProblemOf, resourceIdFromKey, vmKey } from '../domain/resource-id';
import type { DetailsChange } from '../domain/daily-usage';
import { applyObservation, deriveSegments, type Segment } from '../domain/segments';
import {
  currentEntity,
  currentFromRow,
  detailsPatch,
  fleetCurrentColumns,
  sameCurrentColumns,
  versionOf,
  withUsageDirtyFrom,
  type StoredCurrent,
} from './codecs/current';
import {
  detailsChangeFromRow,
  detailsEntity,
  markerEntity,
  markerRowKey,
  observationEntity,
  observationFromRow,
  resourceIdOfRow,
  rowPrefix,
  sameSegment,
  segmentEntity,
  segmentFromRow,
  segmentRowKey,
} from './codecs/timeline';
import { compact, type Row } from './table-columns';
import { ServiceFailure } from '../app/errors';
import { isSdkFailure, sdkFailureOf } from './service-errors';

/** A row's Timestamp as the service wrote it (full precision), '' when absent. */
function stampOf(row: Record<string, unknown>): string {
  const value = row['timestamp'];
  if (typeof value === 'string') return value;
  return value instanceof Date ? value.toISOString() : '';
}

/** Raised when a VM stays contended past every retry; transient, so the platform redelivers. */
export class ConcurrencyError extends Error {
  override name = 'ConcurrencyError';
}

const maxAttempts = 12;

/** What one `record` call has done so far across its retries. */
interface Attempt {
  stored: boolean;
}
const maxTransactionOperations = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function backoff(attempt: number): Promise<void> {
  return sleep(Math.random() * Math.min(1_000, 10 * 2 ** attempt));
}

/** A VM's current row changed (after the write succeeded). */
export interface CurrentChange {
  key: string;
  before: CurrentState | undefined;
  after: CurrentState;
  /** Earliest segment start whose row was written or deleted; undefined when no segment changed. */
  changedFrom: number | undefined;
}

export interface TimelineStoreOptions {
  /** Called after every successful current-row write (alert episodes, usage rollups). Errors propagate. */
  onCurrentChange?: (change: CurrentChange) => Promise<void>;
  /** Current rows kept in memory, validated by ETag on write (default 50,000; 0 turns the cache off). */
  cacheSize?: number;
}

export class TableTimelineStore implements TimelineStore, RangeReadingUsageSource, FleetSource {
  /**
   * Current rows this process wrote or read last, with their ETags. Only an optimisation: every write is
   * conditional on the cached ETag, and a stale entry makes that write fail and the VM be re-derived.
   */
  readonly #cache = new Map<string, StoredCurrent>();
  readonly #cacheSize: number;
  readonly #onCurrentChange: ((change: CurrentChange) => Promise<void>) | undefined;

  constructor(
    private readonly timeline: TableClient,
    private readonly currentTable: TableClient,
    options: TimelineStoreOptions = {},
  ) {
    this.#cacheSize = options.cacheSize ?? 50_000;
    this.#onCurrentChange = options.onCurrentChange;
  }

  async record(observation: Observation, options: RecordOptions = {}): Promise<RecordOutcome> {
    // Never let a key storage cannot hold reach it (in Azurite a lone surrogate in a key breaks every
    // later entity-group transaction until restart); a 400 on our own keys is as permanent.
    const problem =
      keyProblemOf(observation.resourceId, observation.dedupeId) ??
      (options.marker === undefined ? undefined : keyProblemOf(observation.resourceId, options.marker));
    if (problem !== undefined) throw new PermanentInputError(problem);
    try {
      return await this.#record(observation, options);
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.invalid)
        throw new PermanentInputError('storage refused the observation (400 Bad Request)', { cause: error });
      throw error;
    }
  }

  async #record(observation: Observation, options: RecordOptions): Promise<RecordOutcome> {
    const key = vmKey(observation.resourceId);
    const attempt: Attempt = { stored: false };
    for (let n = 0; n < maxAttempts; n++) {
      const stored = n === 0 && this.#cache.has(key) ? this.#cache.get(key) : await this.#readCurrent(key);
      // Activity Log observations may repeat or cancel others of their operation: only the whole
      // history tells, so they always take the re-derivation; so does an event of an operation whose
      // log record opened the current segment (the event then replaces it).
      const append =
        observation.source !== ObservationSource.activityLog &&
        (stored === undefined ||
          (isAfter(observation, stored.current.last) &&
            !(
              observation.correlationId !== undefined &&
              stored.current.sinceSource === ObservationSource.activityLog
            )));
      const outcome = append
        ? await this.#append(key, stored, observation, options, attempt)
        : await this.#rederive(key, stored, observation, options, attempt);
      // A retry after our own write finds the observation stored: it is still ours, not a duplicate.
      if (outcome !== 'conflict') return attempt.stored ? RecordOutcome.recorded : outcome;
      await backoff(n);
    }
    throw new ConcurrencyError('too many concurrent writers on one VM');
  }

  async recordMany(all: readonly Observation[]): Promise<RecordManyResult> {
    // Keys storage cannot hold never reach it (as in `record`): those observations are rejected.
    const observations = all.filter((o) => keyProblemOf(o.resourceId, o.dedupeId) === undefined);
    const rejected = all.length - observations.length;
    const first = observations[0];
    if (first === undefined) return { recorded: 0, duplicate: 0, rejected };
    const key = vmKey(first.resourceId);
    if (observations.some((o) => vmKey(o.resourceId) !== key))
      throw new RangeError('recordMany takes observations of one VM');
    const attempt: Attempt = { stored: false };
    for (let n = 0; n < maxAttempts; n++) {
      const stored = await this.#readCurrent(key);
      const counts = { recorded: 0 };
      const outcome = await this.#rederive(key, stored, observations, { counts }, attempt);
      if (outcome !== 'conflict')
        return { recorded: counts.recorded, duplicate: observations.length - counts.recorded, rejected };
      await backoff(n);
    }
    throw new ConcurrencyError('too many concurrent writers on one VM');
  }

  async hasMarker(resourceId: string, marker: string): Promise<boolean> {
    try {
      await this.timeline.getEntity(vmKey(resourceId), markerRowKey(marker), {
        queryOptions: { select: ['RowKey'] },
      });
      return true;
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return false;
      throw error;
    }
  }

  async getCurrent(resourceId: string): Promise<CurrentState | undefined> {
    return (await this.#readCurrent(vmKey(resourceId)))?.current;
  }

  async *listCurrent(subscriptionId: string): AsyncIterable<CurrentState[]> {
    const filter = odata`PartitionKey eq ${subscriptionId.toLowerCase()}`;
    yield* this.#currentPages(filter);
  }

  async *listScaleSetCurrent(scaleSetId: string): AsyncIterable<CurrentState[]> {
    // Instances' VmCurrent RowKeys all start with `<scale set's row key>|virtualmachines|`; `}` follows `|`.
    const { partitionKey, rowKey } = currentKeys(`${vmKey(scaleSetId)}|virtualmachines|`);
    const filter = odata`PartitionKey eq ${partitionKey} and RowKey gt ${rowKey} and RowKey lt ${`${rowKey.slice(0, -1)}}`}`;
    yield* this.#currentPages(filter);
  }

  async *listAllCurrent(): AsyncIterable<CurrentState[]> {
    yield* this.#currentPages(undefined);
  }

  /**
   * Current rows with their Timestamp (the fleet listing), optionally only those in `states`: only the
   * columns the fleet reads (`fleetCurrentColumns`), or with `wholeRows` every column (to compare).
   */
  async *listFleet(
    options: { states?: readonly string[]; wholeRows?: boolean } = {},
  ): AsyncIterable<FleetCurrentRow[]> {
    const filter =
      options.states === undefined || options.states.length === 0
        ? undefined
        : options.states.map((state) => odata`state eq ${state}`).join(' or ');
    const select = options.wholeRows === true ? undefined : [...fleetCurrentColumns];
    const pages = this.currentTable
      .listEntities<Record<string, unknown>>({
        queryOptions: compact({ filter, select }),
      })
      .byPage({ maxPageSize: 1000 });
    for await (const page of pages) {
      const rows: FleetCurrentRow[] = [];
      for (const row of page) {
        const parsed = currentFromRow(row);
        if (parsed !== undefined) rows.push({ current: parsed.current, changedAt: stampOf(row) });
      }
      if (rows.length > 0) yield rows;
    }
  }

  /**
   * True when a current row's Timestamp is after `changedAt` (a stamp `listFleet` gave): one query
   * (`Timestamp ge` the stamp's millisecond, keys only) that finds nothing when nothing changed.
   */
  async changedSince(changedAt: string): Promise<boolean> {
    const since = Date.parse(changedAt);
    if (Number.isNaN(since)) return true;
    const filter = odata`Timestamp ge ${new Date(since)}`;
    const pages = this.currentTable
      .listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['PartitionKey', 'RowKey', 'Timestamp'] },
      })
      .byPage({ maxPageSize: 1000 });
    for await (const page of pages)
      if (page.some((row) => compareStamps(stampOf(row), changedAt) > 0)) return true;
    return false;
  }

  async getTimeline(resourceId: string, range: TimeRange = {}): Promise<Timeline | undefined> {
    const key = vmKey(resourceId);
    const filter = odata`PartitionKey eq ${key} and RowKey ge ${rowPrefix.segment} and RowKey lt ${'s}'}`;
    const segments: Segment[] = [];
    let displayId: string | undefined;
    for await (const row of this.timeline.listEntities<Record<string, unknown>>({
      queryOptions: { filter },
    })) {
      const segment = segmentFromRow(row);
      if (segment === undefined) continue;
      displayId ??= resourceIdOfRow(row);
      if (range.from !== undefined && segment.end !== undefined && segment.end <= range.from) continue;
      if (range.to !== undefined && segment.start >= range.to) {
        // A change known only within a window that opens before `to` may still fall inside the range.
        if (segment.startWindowFrom !== undefined && segment.startWindowFrom < range.to)
          segments.push(segment);
        break; // rows come in start order: stop paging
      }
      segments.push(segment);
    }
    if (segments.length === 0) {
      const current = await this.#readCurrent(key);
      if (current === undefined) return undefined;
      return { resourceId: current.current.resourceId, segments };
    }
    return { resourceId: displayId ?? resourceIdFromKey(key), segments };
  }

  async updateDetails(resourceId: string, details: VmDetails, detailsAt: number): Promise<boolean> {
    const key = vmKey(resourceId);
    const patch = detailsPatch(key, details, detailsAt);
    try {
      // Merge touches only these columns, so it cannot undo a concurrent timeline write.
      await this.currentTable.updateEntity(patch, 'Merge', { etag: '*' });
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return false;
      throw error;
    }
    // Details history (`d|<epoch ms>` in the VM's timeline partition): usage is attributed to the
    // details that held on each day, so a mid-month tag change splits.
    await this.timeline.upsertEntity(detailsEntity(key, resourceId, detailsAt, details), 'Replace');
    return true;
  }

  /** The VM's recorded details changes (`d|` rows), oldest first. */
  async getDetailsHistory(resourceId: string): Promise<DetailsChange[]> {
    const key = vmKey(resourceId);
    const filter = odata`PartitionKey eq ${key} and RowKey ge ${'d|'} and RowKey lt ${'d}'}`;
    const changes: DetailsChange[] = [];
    for await (const row of this.timeline.listEntities<Record<string, unknown>>({
      queryOptions: { filter },
    })) {
      const change = detailsChangeFromRow(row);
      if (change !== undefined) changes.push(change);
    }
    return changes;
  }

  /**
   * The segments (and with `details` the details history) of every VM whose key lies in `[first, last]`:
   * one range query of the timeline table per row kind, instead of one query per VM (usage reports read
   * the edge days of a window of VMs this way).
   */
  async getHistoriesInRange(
    first: string,
    last: string,
    options: { details: boolean },
  ): Promise<Map<string, VmHistory>> {
    const histories = new Map<string, VmHistory>();
    const historyOf = (key: string): VmHistory => {
      const known = histories.get(key);
      if (known !== undefined) return known;
      const created: VmHistory = { segments: [], details: [] };
      histories.set(key, created);
      return created;
    };
    const read = async (low: string, high: string, take: (row: Row) => void) => {
      const filter = odata`PartitionKey ge ${first} and PartitionKey le ${last} and RowKey ge ${low} and RowKey lt ${high}`;
      for await (const row of this.timeline.listEntities<Record<string, unknown>>({
        queryOptions: { filter },
      }))
        take(row);
    };
    await Promise.all([
      read(rowPrefix.segment, 's}', (row) => {
        const segment = segmentFromRow(row);
        if (segment !== undefined) historyOf(row.partitionKey ?? '').segments.push(segment);
      }),
      options.details
        ? read(rowPrefix.details, 'd}', (row) => {
            const change = detailsChangeFromRow(row);
            if (change !== undefined) historyOf(row.partitionKey ?? '').details.push(change);
          })
        : Promise.resolve(),
    ]);
    return histories;
  }

  /** Every `VmCurrent` row with its ETag, page by page (the usage rollup settles dirty markers with it). */
  async *listCurrentRows(): AsyncIterable<UsageCurrentRow[]> {
    const pages = this.currentTable.listEntities<Record<string, unknown>>().byPage({ maxPageSize: 1000 });
    for await (const page of pages) {
      const rows: UsageCurrentRow[] = [];
      for (const row of page) {
        const parsed = currentFromRow(row);
        if (parsed !== undefined)
          rows.push({ key: parsed.key, current: parsed.current, etag: parsed.etag, raw: row });
      }
      if (rows.length > 0) yield rows;
    }
  }

  /**
   * Sets the row's `usageDirtyFrom` to `next` (undefined: removes it) only if the row did not move since
   * it was listed (ETag). Replace of the row as listed, so columns written by others are kept. False when
   * another writer changed the row meanwhile: its marker then stays for the next rollup.
   */
  async settleUsageDirty(row: UsageCurrentRow, next: number | undefined): Promise<boolean> {
    const raw = row.raw as Row;
    try {
      const response = await this.currentTable.updateEntity(withUsageDirtyFrom(raw, next), 'Replace', {
        etag: row.etag,
      });
      const current: CurrentState = { ...row.current };
      if (next === undefined) delete current.usageDirtyFrom;
      else current.usageDirtyFrom = next;
      const version = versionOf(raw);
      this.#remember(
        row.key,
        response.etag === undefined ? undefined : { current, etag: response.etag, version, key: row.key },
      );
      return true;
    } catch (error) {
      if (isSdkFailure(error, ServiceFailure.preconditionFailed, ServiceFailure.notFound)) return false;
      throw error;
    }
  }

  /** Re-derives a VM's segments and current state from its stored observations (repair). */
  async rebuild(resourceId: string): Promise<void> {
    const key = vmKey(resourceId);
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const stored = await this.#readCurrent(key);
      if ((await this.#rederive(key, stored, undefined, {}, { stored: false })) !== 'conflict') return;
      await backoff(attempt);
    }
    throw new ConcurrencyError('too many concurrent writers on one VM');
  }

  async *#currentPages(filter: string | undefined): AsyncIterable<CurrentState[]> {
    const pages = this.currentTable
      .listEntities<Record<string, unknown>>(filter === undefined ? {} : { queryOptions: { filter } })
      .byPage({ maxPageSize: 1000 });
    for await (const page of pages) {
      const rows: CurrentState[] = [];
      for (const row of page) {
        const parsed = currentFromRow(row);
        if (parsed === undefined) continue;
        rows.push(parsed.current);
        // A listing (the reconciler's diff) is followed by writes to the changed VMs: spare their reads.
        this.#remember(parsed.key, parsed);
      }
      if (rows.length > 0) yield rows;
    }
  }

  async #readCurrent(key: string): Promise<StoredCurrent | undefined> {
    const { partitionKey, rowKey } = currentKeys(key);
    try {
      const row: Row = await this.currentTable.getEntity<Record<string, unknown>>(partitionKey, rowKey);
      const stored = currentFromRow(row);
      this.#remember(key, stored);
      return stored;
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) {
        this.#cache.delete(key);
        return undefined;
      }
      throw error;
    }
  }

  /** Fast path: the observation is the VM's latest. */
  async #append(
    key: string,
    stored: StoredCurrent | undefined,
    observation: Observation,
    options: RecordOptions,
    attempt: Attempt,
  ): Promise<RecordOutcome | 'conflict'> {
    const open = openSegmentOf(stored?.current);
    const step = applyObservation(open, observation);
    if (step.needsHistory) return this.#rederive(key, stored, observation, options, attempt);
    const actions: TransactionAction[] = [['create', observationEntity(key, observation)]];
    if (options.marker !== undefined)
      actions.push(['create', markerEntity(key, options.marker, observation)]);
    if (open !== undefined && step.closedAt !== undefined) {
      const closed = segmentEntity(key, observation.resourceId, { ...open, end: step.closedAt });
      actions.push(['update', closed, 'Replace', { etag: '*' }]);
    }
    if (step.opened !== undefined)
      actions.push(['upsert', segmentEntity(key, observation.resourceId, step.opened), 'Replace']);
    try {
      await this.timeline.submitTransaction(actions);
    } catch (error) {
      const failure = sdkFailureOf(error);
      // 409: this observation (or marker) is already stored. 404: the open segment row is missing.
      // Either way the partition and the current row may disagree: re-derive from what is stored.
      if (failure === ServiceFailure.conflict || failure === ServiceFailure.notFound) {
        const outcome = await this.#rederive(key, stored, undefined, {}, attempt);
        if (outcome === 'conflict') return outcome;
        return failure === ServiceFailure.conflict ? RecordOutcome.duplicate : 'conflict';
      }
      throw error;
    }
    attempt.stored = true;
    const base: CurrentState | undefined = stored?.current;
    const next = advanceCurrent(base, observation, step.opened);
    const current: CurrentState = { ...base, ...next, subscriptionId: currentKeys(key).partitionKey };
    if (step.opened !== undefined && base?.lastSeenAt !== undefined) delete current.lastSeenAt;
    const changedFrom =
      step.opened === undefined
        ? undefined
        : (open?.start ?? step.opened.startWindowFrom ?? step.opened.start);
    const written = await this.#writeCurrent(key, current, stored, changedFrom);
    if (!written) {
      // Another writer moved the current row since we read it: re-derive so both observations count.
      await this.rebuild(observation.resourceId);
    }
    return RecordOutcome.recorded;
  }

  /** Slow path: re-derive every segment of the VM from its stored observations (plus a new one). */
  async #rederive(
    key: string,
    stored: StoredCurrent | undefined,
    observation: Observation | readonly Observation[] | undefined,
    options: RecordOptions & { counts?: { recorded: number } },
    attempt: Attempt,
  ): Promise<RecordOutcome | 'conflict'> {
    const rows = await this.#readPartition(key);
    const observations: Observation[] = [];
    const storedSegments = new Map<string, Segment>();
    const markers = new Set<string>();
    for (const row of rows) {
      const rowKey = row.rowKey ?? '';
      if (rowKey.startsWith(rowPrefix.observation)) {
        const o = observationFromRow(row);
        if (o !== undefined) observations.push(o);
      } else if (rowKey.startsWith(rowPrefix.segment)) {
        const s = segmentFromRow(row);
        if (s !== undefined) storedSegments.set(rowKey, s);
      } else if (rowKey.startsWith(rowPrefix.marker)) {
        markers.add(rowKey);
      }
    }
    let duplicate = false;
    const actionsAfter: TransactionAction[] = [];
    const incoming: readonly Observation[] =
      observation === undefined ? [] : 'dedupeId' in observation ? [observation] : observation;
    const identities = new Set(observations.map(observationIdentity));
    const operations = new OperationIndex(observations);
    let added = 0;
    for (const o of incoming) {
      const identity = observationIdentity(o);
      const markerKey = options.marker === undefined ? undefined : markerRowKey(options.marker);
      // The same observation, the same marker, or an Activity Log record of an operation an event
      // already reported: nothing new.
      const repeated =
        identities.has(identity) ||
        (markerKey !== undefined && markers.has(markerKey)) ||
        operations.repeats(o);
      if (repeated) continue;
      identities.add(identity);
      operations.add(o);
      observations.push(o);
      added += 1;
      actionsAfter.push(['create', observationEntity(key, o)]);
      if (options.marker !== undefined) actionsAfter.push(['create', markerEntity(key, options.marker, o)]);
    }
    duplicate = incoming.length > 0 && added === 0;
    if (options.counts !== undefined) options.counts.recorded += added;
    const resourceId =
      incoming[0]?.resourceId ??
      stored?.current.resourceId ??
      observations[0]?.resourceId ??
      resourceIdFromKey(key);
    const segments = deriveSegments(observations);
    const actions: TransactionAction[] = [];
    let changedFrom: number | undefined;
    const changed = (start: number) => {
      changedFrom = changedFrom === undefined ? start : Math.min(changedFrom, start);
    };
    const wanted = new Map(segments.map((s) => [segmentRowKey(s.start), s]));
    for (const [rowKey, segment] of wanted) {
      const existing = storedSegments.get(rowKey);
      if (existing === undefined || !sameSegment(existing, segment)) {
        actions.push(['upsert', segmentEntity(key, resourceId, segment), 'Replace']);
        changed(segment.startWindowFrom ?? segment.start);
      }
    }
    for (const [rowKey, segment] of storedSegments) {
      if (!wanted.has(rowKey)) {
        actions.push(['delete', { partitionKey: key, rowKey }]);
        changed(segment.startWindowFrom ?? segment.start);
      }
    }
    try {
      await this.#submitInChunks([...actions, ...actionsAfter]);
    } catch (error) {
      // 409: someone stored it meanwhile; 404: a segment we delete is already gone. Start over.
      if (isSdkFailure(error, ServiceFailure.conflict, ServiceFailure.notFound)) return 'conflict';
      throw error;
    }
    if (actionsAfter.length > 0) attempt.stored = true;
    const derived = deriveCurrent(observations);
    if (derived === undefined) return duplicate ? RecordOutcome.duplicate : RecordOutcome.recorded;
    const base = stored?.current;
    const current: CurrentState = { ...base, ...derived, subscriptionId: currentKeys(key).partitionKey };
    if (base?.state !== derived.state || base?.since !== derived.since) delete current.lastSeenAt;
    const dirtyAlready =
      changedFrom === undefined ||
      (stored?.current.usageDirtyFrom !== undefined && stored.current.usageDirtyFrom <= changedFrom);
    const unchanged =
      stored !== undefined && sameCurrentColumns(key, stored.current, current) && dirtyAlready;
    if (!unchanged && !(await this.#writeCurrent(key, current, stored, changedFrom))) return 'conflict';
    return duplicate ? RecordOutcome.duplicate : RecordOutcome.recorded;
  }

  async #readPartition(key: string): Promise<Row[]> {
    const filter = odata`PartitionKey eq ${key}`;
    const rows: Row[] = [];
    for await (const row of this.timeline.listEntities<Record<string, unknown>>({ queryOptions: { filter } }))
      rows.push(row);
    return rows;
  }

  /** Submits actions as entity-group transactions; creates (observations, markers) go in the last one. */
  async #submitInChunks(actions: TransactionAction[]): Promise<void> {
    for (let i = 0; i < actions.length; i += maxTransactionOperations) {
      await this.timeline.submitTransaction(actions.slice(i, i + maxTransactionOperations));
    }
  }

  /** Conditional write of the current row; false when another writer got there first. */
  async #writeCurrent(
    key: string,
    current: CurrentState,
    stored: StoredCurrent | undefined,
    changedFrom: number | undefined,
  ): Promise<boolean> {
    const version = (stored?.version ?? 0) + 1;
    const dirty = [stored?.current.usageDirtyFrom, changedFrom].filter((t): t is number => t !== undefined);
    const next: CurrentState = { ...current };
    if (dirty.length > 0) next.usageDirtyFrom = Math.min(...dirty);
    const entity = currentEntity(key, next, version);
    let etag: string | undefined;
    try {
      const response =
        stored === undefined
          ? await this.currentTable.createEntity(entity)
          : await this.currentTable.updateEntity(entity, 'Replace', { etag: stored.etag });
      etag = response.etag;
    } catch (error) {
      this.#cache.delete(key);
      if (
        isSdkFailure(
          error,
          ServiceFailure.preconditionFailed,
          ServiceFailure.conflict,
          ServiceFailure.notFound,
        )
      )
        return false;
      throw error;
    }
    this.#remember(key, etag === undefined ? undefined : { current: next, etag, version, key });
    if (this.#onCurrentChange !== undefined) {
      await this.#onCurrentChange({ key, before: stored?.current, after: next, changedFrom });
    }
    return true;
  }

  #remember(key: string, stored: StoredCurrent | undefined): void {
    this.#cache.delete(key);
    if (stored === undefined || this.#cacheSize === 0) return;
    this.#cache.set(key, stored);
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
  }
}
