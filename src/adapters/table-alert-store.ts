/**
 * The `VmAlerts` table: the stopped-episode index (PartitionKey `stopped`, RowKey `<vm key>|@<episode start,
 * 13 digits>`), the alert outbox (PartitionKey `outbox`, RowKey = CloudEvent id) and the index's last
 * re-sync (PartitionKey `meta`, RowKey `sync`). Every state change is ETag-guarded.
 */
import { odata, type TableClient, type TableEntity } from '@azure/data-tables';
import {
  DeliveryState,
  OutboxStatus,
  type AlertOutbox,
  type EpisodeChanges,
  type EpisodeRecord,
  type EpisodeStart,
  type OutboxRecord,
  type StoppedEpisodeStore,
} from '../app/alert-ports';
import type { CurrentState } from '../app/ports';
import type { AlertEvent } from '../domain/alerts';
import { ObservationSource } from '../domain/observation';
import { currentFromRow } from './codecs/current';
import {
  dateColumn,
  detailsColumns,
  detailsFrom,
  msColumn,
  pad13,
  reasonColumn,
  reasonFrom,
  textColumn,
  type Row,
} from './table-columns';
import { ServiceFailure } from '../app/errors';
import { isSdkFailure, sdkFailureOf } from './service-errors';
import { isTableMissing } from './storage';

export const alertPartitions = { stopped: 'stopped', outbox: 'outbox', meta: 'meta' } as const;

function isObservationSource(value: unknown): value is ObservationSource {
  return Object.values<unknown>(ObservationSource).includes(value);
}

function delivery(value: unknown): DeliveryState | undefined {
  return value === DeliveryState.pending || value === DeliveryState.sent ? value : undefined;
}

/** Table Storage has no null: an absent value is written as '' (merge) and read back as undefined. */
function episodeColumns(changes: EpisodeChanges & Partial<EpisodeStart>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  const set = (name: string, value: unknown) => {
    columns[name] = value ?? '';
  };
  if ('resourceId' in changes) set('resourceId', changes.resourceId);
  if ('since' in changes) set('since', dateColumn(changes.since));
  if ('sinceWindowFrom' in changes) set('sinceWindowFrom', dateColumn(changes.sinceWindowFrom));
  if ('sinceSource' in changes) set('sinceSource', changes.sinceSource);
  if ('operation' in changes) set('operation', changes.operation);
  if ('caller' in changes) set('caller', changes.caller);
  if ('reason' in changes) set('reason', reasonColumn(changes.reason));
  if ('endedAt' in changes) set('endedAt', dateColumn(changes.endedAt));
  if ('detected' in changes) set('detected', changes.detected);
  if ('resolved' in changes) set('resolved', changes.resolved);
  if ('details' in changes) {
    for (const [name, value] of Object.entries(detailsColumns(changes.details))) set(name, value);
  }
  return columns;
}

function episodeFromRow(row: Row): EpisodeRecord | undefined {
  const key = textColumn(row['vmKey']);
  const resourceId = textColumn(row['resourceId']);
  const episodeSince = msColumn(row['episodeSince']);
  const since = msColumn(row['since']);
  if (key === undefined || resourceId === undefined || episodeSince === undefined || since === undefined)
    return undefined;
  const details = detailsFrom(row);
  const source = row['sinceSource'];
  return {
    key,
    resourceId,
    episodeSince,
    since,
    sinceWindowFrom: msColumn(row['sinceWindowFrom']),
    sinceSource: isObservationSource(source) ? source : undefined,
    operation: textColumn(row['operation']),
    caller: textColumn(row['caller']),
    reason: reasonFrom(row['reason']),
    endedAt: msColumn(row['endedAt']),
    details: Object.keys(details).length > 0 ? details : undefined,
    detected: delivery(row['detected']),
    resolved: delivery(row['resolved']),
    etag: row.etag,
  };
}

export function episodeRowKey(key: string, episodeSince: number): string {
  return `${key}|@${pad13(episodeSince)}`;
}

function outboxFromRow(row: Row): OutboxRecord | undefined {
  const raw = textColumn(row['event']);
  const state = row['status'];
  if (raw === undefined) return undefined;
  let event: AlertEvent;
  try {
    event = JSON.parse(raw) as AlertEvent;
  } catch {
    return undefined;
  }
  const attempts = row['attempts'];
  return {
    event,
    status: state === OutboxStatus.sent || state === OutboxStatus.sending ? state : OutboxStatus.pending,
    attempts: typeof attempts === 'number' ? attempts : 0,
    claimUntil: msColumn(row['claimUntil']),
    lastError: textColumn(row['lastError']),
    sentAt: msColumn(row['sentAt']),
    etag: row.etag,
  };
}

export class TableAlertStore implements StoppedEpisodeStore, AlertOutbox {
  #created = false;

  constructor(
    private readonly alerts: TableClient,
    private readonly currentTable: TableClient,
  ) {}

  /** Runs `operation`; when the table does not exist yet, creates it once and runs it again. */
  async #withTable<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (this.#created || !isTableMissing(error)) throw error;
      this.#created = true;
      await this.alerts.createTable();
      return operation();
    }
  }

  async *listEpisodes(): AsyncIterable<EpisodeRecord[]> {
    const filter = odata`PartitionKey eq ${alertPartitions.stopped}`;
    const pages = this.alerts
      .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
      .byPage({ maxPageSize: 1000 });
    try {
      for await (const page of pages) {
        const records = page.map(episodeFromRow).filter((r): r is EpisodeRecord => r !== undefined);
        if (records.length > 0) yield records;
      }
    } catch (error) {
      if (isTableMissing(error)) return;
      throw error;
    }
  }

  async listEpisodesOf(key: string): Promise<EpisodeRecord[]> {
    const filter = odata`PartitionKey eq ${alertPartitions.stopped} and RowKey ge ${`${key}|@`} and RowKey lt ${`${key}|A`}`;
    return this.#withTable(async () => {
      const records: EpisodeRecord[] = [];
      for await (const row of this.alerts.listEntities<Record<string, unknown>>({
        queryOptions: { filter },
      })) {
        const record = episodeFromRow(row);
        if (record !== undefined) records.push(record);
      }
      return records;
    });
  }

  async createEpisode(key: string, episodeSince: number, start: EpisodeStart): Promise<void> {
    const entity: TableEntity = {
      partitionKey: alertPartitions.stopped,
      rowKey: episodeRowKey(key, episodeSince),
      vmKey: key,
      episodeSince: new Date(episodeSince),
      ...episodeColumns(start),
    };
    await this.#withTable(async () => {
      try {
        await this.alerts.createEntity(entity);
      } catch (error) {
        if (sdkFailureOf(error) !== ServiceFailure.conflict) throw error;
        // Redelivery: the episode exists; bring its start up to date without touching its alert state.
        await this.alerts.updateEntity(entity, 'Merge', { etag: '*' });
      }
    });
  }

  async updateEpisode(record: EpisodeRecord, changes: EpisodeChanges): Promise<EpisodeRecord | undefined> {
    const entity: TableEntity = {
      partitionKey: alertPartitions.stopped,
      rowKey: episodeRowKey(record.key, record.episodeSince),
      ...episodeColumns(changes),
    };
    try {
      const response = await this.alerts.updateEntity(entity, 'Merge', { etag: record.etag });
      return { ...record, ...changes, etag: response.etag ?? record.etag };
    } catch (error) {
      if (isSdkFailure(error, ServiceFailure.preconditionFailed, ServiceFailure.notFound)) return undefined;
      throw error;
    }
  }

  async deleteEpisode(record: EpisodeRecord): Promise<boolean> {
    try {
      await this.alerts.deleteEntity(
        alertPartitions.stopped,
        episodeRowKey(record.key, record.episodeSince),
        { etag: record.etag },
      );
      return true;
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return true;
      if (sdkFailureOf(error) === ServiceFailure.preconditionFailed) return false;
      throw error;
    }
  }

  async *listStoppedCurrent(): AsyncIterable<CurrentState[]> {
    const filter = odata`state eq ${'stopped'}`;
    const pages = this.currentTable
      .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
      .byPage({ maxPageSize: 1000 });
    for await (const page of pages) {
      const rows = page.map((row) => currentFromRow(row)?.current).filter((c) => c !== undefined);
      if (rows.length > 0) yield rows;
    }
  }

  async getLastSync(): Promise<number | undefined> {
    try {
      const row = await this.alerts.getEntity<Record<string, unknown>>(alertPartitions.meta, 'sync');
      return msColumn(row['syncedAt']);
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
  }

  async setLastSync(at: number): Promise<void> {
    await this.#withTable(() =>
      this.alerts.upsertEntity(
        { partitionKey: alertPartitions.meta, rowKey: 'sync', syncedAt: new Date(at) },
        'Replace',
      ),
    );
  }

  async enqueue(event: AlertEvent, now: number): Promise<void> {
    const entity: TableEntity = {
      partitionKey: alertPartitions.outbox,
      rowKey: event.id,
      kind: event.data.kind,
      type: event.type,
      resourceId: event.data.resourceId,
      episodeId: event.data.episodeId,
      status: OutboxStatus.pending,
      attempts: 0,
      createdAt: new Date(now),
      event: JSON.stringify(event),
    };
    await this.#withTable(async () => {
      try {
        await this.alerts.createEntity(entity);
      } catch (error) {
        if (sdkFailureOf(error) !== ServiceFailure.conflict) throw error; // already enqueued: the stored alert wins
      }
    });
  }

  async get(id: string): Promise<OutboxRecord | undefined> {
    try {
      return outboxFromRow(await this.alerts.getEntity<Record<string, unknown>>(alertPartitions.outbox, id));
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
  }

  async #transition(
    record: OutboxRecord,
    columns: Record<string, unknown>,
  ): Promise<OutboxRecord | undefined> {
    try {
      const response = await this.alerts.updateEntity(
        { partitionKey: alertPartitions.outbox, rowKey: record.event.id, ...columns },
        'Merge',
        { etag: record.etag },
      );
      return { ...record, etag: response.etag ?? record.etag };
    } catch (error) {
      if (isSdkFailure(error, ServiceFailure.preconditionFailed, ServiceFailure.notFound)) return undefined;
      throw error;
    }
  }

  async claim(record: OutboxRecord, now: number, claimUntil: number): Promise<OutboxRecord | undefined> {
    if (record.status === OutboxStatus.sent) return undefined;
    if (record.status === OutboxStatus.sending && (record.claimUntil ?? 0) > now) return undefined;
    const claimed = await this.#transition(record, {
      status: OutboxStatus.sending,
      claimUntil: new Date(claimUntil),
    });
    return claimed === undefined ? undefined : { ...claimed, status: OutboxStatus.sending, claimUntil };
  }

  async markSent(record: OutboxRecord, now: number): Promise<boolean> {
    const done = await this.#transition(record, {
      status: OutboxStatus.sent,
      sentAt: new Date(now),
      attempts: record.attempts + 1,
      lastError: '',
    });
    return done !== undefined;
  }

  async markFailed(record: OutboxRecord, error: string): Promise<boolean> {
    const done = await this.#transition(record, {
      status: OutboxStatus.pending,
      attempts: record.attempts + 1,
      lastError: error.slice(0, 2_000),
    });
    return done !== undefined;
  }
}
