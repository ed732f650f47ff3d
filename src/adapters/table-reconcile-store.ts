/**
 * ReconcileRunStore on Azure Table Storage: the `VmReconcileRuns` table, one row per subscription
 * (PartitionKey = subscription id lower-cased, RowKey `latest`). The row holds the lease (`leaseUntil`,
 * `runId`, taken with an ETag-guarded write) and the mark of the last complete run (`startedAt`,
 * `unconfirmed`, `detailsAt`).
 */
import type { TableClient, TableEntity } from '@azure/data-tables';
import type {
  ReconcileLease,
  ReconcileMark,
  ReconcileMarkReader,
  ReconcileRelease,
  ReconcileRunStore,
} from '../app/ports';
import { msColumn, type Row } from './table-columns';
import { ServiceFailure } from '../app/errors';
import { isSdkFailure, sdkFailureOf } from './service-errors';

export const reconcileRowKey = 'latest';

/** A Table string property holds at most 64 KiB (32 K UTF-16 characters): the JSON is split in chunks. */
const chunkLength = 30_000;
const maxChunks = 30;

function unconfirmedFrom(row: Row): Record<string, number> {
  const chunks = typeof row['unconfirmedChunks'] === 'number' ? row['unconfirmedChunks'] : 0;
  let json = '';
  for (let i = 0; i < Math.min(chunks, maxChunks); i++) {
    const part = row[`unconfirmed${i}`];
    if (typeof part === 'string') json += part;
  }
  if (json === '') return {};
  try {
    const parsed: unknown = JSON.parse(json);
    const result: Record<string, number> = {};
    if (parsed !== null && typeof parsed === 'object') {
      for (const [key, value] of Object.entries(parsed as Record<string, unknown>))
        if (typeof value === 'number' && Number.isFinite(value)) result[key] = value;
    }
    return result;
  } catch {
    return {};
  }
}

/** The map as JSON in `unconfirmed0..n-1`, with `unconfirmedChunks` = n (stale columns past n are ignored). */
function unconfirmedColumns(unconfirmed: Record<string, number>): Record<string, string | number> {
  const json = JSON.stringify(unconfirmed);
  const chunks = Math.ceil(json.length / chunkLength);
  if (chunks > maxChunks) throw new RangeError('unconfirmed map too large for one row');
  const columns: Record<string, string | number> = { unconfirmedChunks: chunks };
  for (let i = 0; i < chunks; i++)
    columns[`unconfirmed${i}`] = json.slice(i * chunkLength, (i + 1) * chunkLength);
  return columns;
}

function markFrom(row: Row): ReconcileMark | undefined {
  const startedAt = msColumn(row['startedAt']);
  if (startedAt === undefined) return undefined;
  return { startedAt, unconfirmed: unconfirmedFrom(row) };
}

export class TableReconcileRunStore implements ReconcileRunStore, ReconcileMarkReader {
  constructor(private readonly table: TableClient) {}

  /** The last complete run's mark; undefined before the first one. */
  async getMark(subscriptionId: string): Promise<ReconcileMark | undefined> {
    try {
      const row = await this.table.getEntity<Record<string, unknown>>(
        subscriptionId.toLowerCase(),
        reconcileRowKey,
      );
      return markFrom(row);
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
  }

  async acquire(
    subscriptionId: string,
    runId: string,
    now: number,
    leaseUntil: number,
  ): Promise<ReconcileLease | undefined> {
    const partitionKey = subscriptionId.toLowerCase();
    const lease = { leaseUntil: new Date(leaseUntil), runId, leaseTakenAt: new Date(now) };
    let row: Row | undefined;
    try {
      row = await this.table.getEntity<Record<string, unknown>>(partitionKey, reconcileRowKey);
    } catch (error) {
      if (sdkFailureOf(error) !== ServiceFailure.notFound) throw error;
    }
    try {
      if (row === undefined) {
        const created = await this.table.createEntity({ partitionKey, rowKey: reconcileRowKey, ...lease });
        return { subscriptionId, runId, etag: created.etag ?? '*' };
      }
      const heldUntil = msColumn(row['leaseUntil']);
      if (heldUntil !== undefined && heldUntil > now && row['runId'] !== runId) return undefined;
      const updated = await this.table.updateEntity(
        { partitionKey, rowKey: reconcileRowKey, ...lease },
        'Merge',
        { etag: row.etag ?? '*' },
      );
      return {
        subscriptionId,
        runId,
        mark: markFrom(row),
        detailsAt: msColumn(row['detailsAt']),
        etag: updated.etag ?? '*',
      };
    } catch (error) {
      // 409: another run created the row first; 412: another run took the lease between read and write.
      // Or our own write took effect, its answer was lost (reset, timeout) and the SDK's retry of it got
      // the 409 / 412: then the row names this run, and the lease is ours.
      if (isSdkFailure(error, ServiceFailure.conflict, ServiceFailure.preconditionFailed))
        return this.#ownLease(subscriptionId, runId);
      throw error;
    }
  }

  /** The lease when the row names this run (its write landed), else undefined. */
  async #ownLease(subscriptionId: string, runId: string): Promise<ReconcileLease | undefined> {
    let row: Row;
    try {
      row = await this.table.getEntity<Record<string, unknown>>(
        subscriptionId.toLowerCase(),
        reconcileRowKey,
      );
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
    if (row['runId'] !== runId) return undefined;
    return {
      subscriptionId,
      runId,
      mark: markFrom(row),
      detailsAt: msColumn(row['detailsAt']),
      etag: row.etag ?? '*',
    };
  }

  async release(lease: ReconcileLease, release: ReconcileRelease): Promise<boolean> {
    const entity: TableEntity<Record<string, unknown>> = {
      partitionKey: lease.subscriptionId.toLowerCase(),
      rowKey: reconcileRowKey,
      leaseUntil: new Date(0),
      runId: '',
      lastRunId: lease.runId,
      lastEndedAt: new Date(release.endedAt),
      lastComplete: release.complete,
    };
    if (release.mark !== undefined) {
      entity['startedAt'] = new Date(release.mark.startedAt);
      entity['unconfirmedCount'] = Object.keys(release.mark.unconfirmed).length;
      Object.assign(entity, unconfirmedColumns(release.mark.unconfirmed));
    }
    if (release.detailsAt !== undefined) entity['detailsAt'] = new Date(release.detailsAt);
    try {
      await this.table.updateEntity(entity, 'Merge', { etag: lease.etag });
      return true;
    } catch (error) {
      // 412: the lease expired and another run took the row; its mark wins. 404: the row was removed.
      if (isSdkFailure(error, ServiceFailure.preconditionFailed, ServiceFailure.notFound)) return false;
      throw error;
    }
  }
}
