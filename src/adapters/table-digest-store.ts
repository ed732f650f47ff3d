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
import type { FleetDigestSource } from '../app/fleet';
import { forEachLimited } from '../app/concurrency';
import { ServiceFailure } from '../app/errors';
import {
  dayUsageFromDigest,
  DigestError,
  digestChunkKey,
  digestEntities,
  digestIsComplete,
  digestLimits,
  type DigestLimits,
} from './codecs/daily-digest';
import { sdkFailureOf } from './service-errors';
import { textColumn } from './table-columns';

export class TableDailyDigestStore implements DailyDigestStore, FleetDigestSource {
  constructor(
    private readonly table: TableClient,
    private readonly limits: DigestLimits = digestLimits,
  ) {}

  async readDigest(day: string): Promise<DayUsage[] | undefined> {
    const rows: Array<Record<string, unknown>> = [];
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${day}` },
      }))
        rows.push(row);
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined; // no digest table yet
      throw error;
    }
    try {
      return dayUsageFromDigest(rows);
    } catch (error) {
      if (error instanceof DigestError) return undefined;
      throw error;
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
