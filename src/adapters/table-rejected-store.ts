/**
 * `VmRejectedEvents`: events that can never be processed, kept with the reason so nothing is dropped
 * silently. PartitionKey = UTC day received (`yyyy-mm-dd`), RowKey = SHA-256 of the event as delivered,
 * so a redelivered bad event overwrites its own row instead of piling up.
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import type { RejectedEvent, RejectedEventStore, TimeRange } from '../app/ports';

/** Longest serialised event kept (Table Storage properties are at most 64 KiB of UTF-16). */
export const maxRawLength = 30_000;

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class TableRejectedEventStore implements RejectedEventStore {
  constructor(private readonly table: TableClient) {}

  async record(rejected: RejectedEvent): Promise<void> {
    const raw = rejected.raw.length > maxRawLength ? rejected.raw.slice(0, maxRawLength) : rejected.raw;
    await this.table.upsertEntity(
      {
        partitionKey: day(rejected.receivedAt),
        rowKey: createHash('sha256').update(rejected.raw).digest('hex'),
        reason: rejected.reason,
        eventId: rejected.eventId?.slice(0, 256),
        resourceUri: rejected.resourceUri?.slice(0, 1024),
        raw,
        rawTruncated: raw.length < rejected.raw.length,
        rawLength: rejected.raw.length,
        receivedAt: new Date(rejected.receivedAt),
      },
      'Replace',
    );
  }

  async *list(range: TimeRange = {}): AsyncIterable<RejectedEvent> {
    const from = day(range.from ?? 0);
    const to = day((range.to ?? Date.UTC(9999, 0, 1)) - 1);
    const filter = odata`PartitionKey ge ${from} and PartitionKey le ${to}`;
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const receivedAt =
        row['receivedAt'] instanceof Date
          ? row['receivedAt'].getTime()
          : Date.parse(String(row['receivedAt']));
      const reason = typeof row['reason'] === 'string' ? row['reason'] : '';
      const raw = typeof row['raw'] === 'string' ? row['raw'] : '';
      const item: RejectedEvent = { reason, raw, receivedAt };
      if (typeof row['eventId'] === 'string') item.eventId = row['eventId'];
      if (typeof row['resourceUri'] === 'string') item.resourceUri = row['resourceUri'];
      yield item;
    }
  }
}
