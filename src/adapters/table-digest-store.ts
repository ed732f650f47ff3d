/**
 * `VmDailyDigest` on Azure Table Storage: one partition per UTC day holding every VM's usage figures of
 * that day in a few chunk rows (codec: `codecs/daily-digest.ts`). A write puts chunks `0001`... first and
 * chunk `0000` (which names the write's generation and chunk count) last, then deletes chunks an earlier,
 * longer write left: a reader that meets a write halfway finds chunks of two generations and reads the
 * day partition instead.
 */
import { randomBytes } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import type { DailyDigestStore, DayUsage } from '../app/rollup-usage';
import { DigestChangedError, type FleetDigestSource } from '../app/fleet';
import { forEachLimited } from '../app/concurrency';
import { ServiceFailure } from '../app/errors';
import {
  DigestError,
  digestChunkEntries,
  digestChunkKey,
  digestHeadOf,
  digestEntities,
  digestIsComplete,
  digestLimits,
  type DigestHead,
  type DigestLimits,
} from './codecs/daily-digest';
import { sdkFailureOf } from './service-errors';
import { textColumn } from './table-columns';

export class TableDailyDigestStore implements DailyDigestStore, FleetDigestSource {
  constructor(
    private readonly table: TableClient,
    private readonly limits: DigestLimits = digestLimits,
  ) {}

  /** The whole digest, read as the fleet route reads it (`openDigest`); undefined when it is not whole. */
  async readDigest(day: string): Promise<DayUsage[] | undefined> {
    const digest = await this.openDigest(day);
    if (digest === undefined) return undefined;
    const entries: DayUsage[] = [];
    try {
      for await (const chunk of digest) for (const e of chunk) entries.push(e);
    } catch (error) {
      if (error instanceof DigestChangedError) return undefined;
      throw error;
    }
    return entries;
  }

  /**
   * A day's figures chunk by chunk (VM key order, a data column's entries at a time), read as they are
   * asked for: one narrow query (the chunks' generation and count) says whether the day has a complete
   * digest (undefined when not), then one point read per chunk, the next one read while the one before
   * is decoded. A chunk rewritten meanwhile (another write) ends the listing with a `DigestChangedError`.
   */
  async openDigest(day: string): Promise<AsyncIterable<DayUsage[]> | undefined> {
    const rows: Array<Record<string, unknown>> = [];
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${day}`, select: ['RowKey', 'generation', 'chunks'] },
      }))
        rows.push(row);
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined; // no digest table yet
      throw error;
    }
    let head;
    try {
      head = digestHeadOf(rows);
    } catch (error) {
      if (error instanceof DigestError) return undefined;
      throw error;
    }
    if (head === undefined) return undefined;
    return this.#chunks(day, head);
  }

  async *#chunks(day: string, head: DigestHead): AsyncIterable<DayUsage[]> {
    const read = async (index: number): Promise<Record<string, unknown> | undefined> => {
      try {
        return await this.table.getEntity<Record<string, unknown>>(day, digestChunkKey(index));
      } catch (error) {
        if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
        throw error;
      }
    };
    const last = { key: undefined as string | undefined };
    let next: Promise<Record<string, unknown> | undefined> | undefined = read(0);
    for (let index = 0; next !== undefined; index++) {
      const row = await next;
      next = index + 1 < head.chunks ? read(index + 1) : undefined;
      // Awaited by the next round; a failure while this chunk is decoded must not go unhandled.
      next?.catch(() => undefined);
      if (row === undefined) throw new DigestChangedError('a digest chunk went away while it was read');
      try {
        yield* digestChunkEntries(row, head, last);
      } catch (error) {
        if (error instanceof DigestError) throw new DigestChangedError(error.message);
        throw error;
      }
    }
  }

  async writeDigest(day: string, entries: readonly DayUsage[]): Promise<void> {
    const generation = randomBytes(8).toString('hex');
    const entities = digestEntities(day, entries, generation, this.limits);
    const [head, ...rest] = entities;
    await forEachLimited(rest, 4, async (entity) => {
      await this.table.upsertEntity(entity, 'Replace');
    });
    if (head !== undefined) await this.table.upsertEntity(head, 'Replace');
    // Leftovers of an earlier, longer write (ignored by readers, deleted here).
    const after = digestChunkKey(entities.length - 1);
    const leftovers: string[] = [];
    for await (const row of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${day} and RowKey gt ${after}`, select: ['RowKey'] },
    })) {
      const key = textColumn(row['rowKey']);
      if (key !== undefined) leftovers.push(key);
    }
    await forEachLimited(leftovers, 4, async (key) => {
      try {
        await this.table.deleteEntity(day, key);
      } catch (error) {
        if (sdkFailureOf(error) !== ServiceFailure.notFound) throw error;
      }
    });
  }

  async completeDigestDays(from: string, to: string): Promise<Set<string>> {
    const byDay = new Map<string, Array<Record<string, unknown>>>();
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: {
          filter: odata`PartitionKey ge ${from} and PartitionKey lt ${to}`,
          select: ['PartitionKey', 'RowKey', 'generation', 'chunks'],
        },
      })) {
        const day = textColumn(row['partitionKey']);
        if (day === undefined) continue;
        const rows = byDay.get(day) ?? [];
        rows.push(row);
        byDay.set(day, rows);
      }
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return new Set();
      throw error;
    }
    return new Set([...byDay].filter(([, rows]) => digestIsComplete(rows)).map(([day]) => day));
  }
}
