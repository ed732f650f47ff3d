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

/**
 * The first `length` characters of `text`, one fewer when the cut would split a surrogate pair (a lone
 * half is not UTF-8; the stored copy stays a faithful prefix of the event).
 */
export function prefixOf(text: string, length: number): string {
  if (text.length <= length) return text;
  const last = text.charCodeAt(length - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length);
}

/** A column value that Table Storage can hold: lone surrogates (already counted as a rejection) as U+FFFD. */
function column(text: string | undefined, length: number): string | undefined {
  return text === undefined ? undefined : prefixOf(text, length).toWellFormed();
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class TableRejectedEventStore implements RejectedEventStore {
  constructor(private readonly table: TableClient) {}

  async record(rejected: RejectedEvent): Promise<void> {
    const raw = column(rejected.raw, maxRawLength) ?? '';
    await this.table.upsertEntity(
      {
        partitionKey: day(rejected.receivedAt),
        rowKey: createHash('sha256').update(rejected.raw).digest('hex'),
        reason: rejected.reason,
        eventId: column(rejected.eventId, 256),
        resourceUri: column(rejected.resourceUri, 1024),
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
