/**
 * `VmDailyUsage` on Azure Table Storage: one partition per UTC day (`yyyy-mm-dd`), one row per VM
 * (RowKey = VM key), written in entity-group transactions of up to 100 rows. The rollup's progress mark
 * lives in the same table, in the partition `rollup` (not a day, so day queries never see it).
 */
import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import type { DailyUsageRow, DailyUsageStore, DayKeyRange, DayUsage } from '../app/rollup-usage';
import type { FleetDailySource } from '../app/fleet';
import type { VmAttributes } from '../domain/daily-usage';
import { tagsFrom } from './table-columns';
import { usageFields } from '../domain/usage';
import { numberColumn, textColumn } from './table-columns';
import { ServiceFailure } from '../app/errors';
import { sdkFailureOf } from './service-errors';

const maxTransactionOperations = 100;
const markPartition = 'rollup';
const markRow = 'all';

export function dailyUsageEntity(row: DailyUsageRow): TableEntity {
  const entity: TableEntity = {
    partitionKey: row.day,
    rowKey: row.vmKey,
    resourceId: row.resourceId,
    subscriptionId: row.subscriptionId,
    resourceGroup: row.resourceGroup,
    billedSeconds: row.billedSeconds,
    notBilledSeconds: row.notBilledSeconds,
    unknownSeconds: row.unknownSeconds,
    billedSecondsMin: row.billedSecondsMin,
    billedSecondsMax: row.billedSecondsMax,
  };
  const d = row.details;
  if (d?.vmSize !== undefined) entity['vmSize'] = d.vmSize;
  if (d?.location !== undefined) entity['location'] = d.location;
  if (d?.osType !== undefined) entity['osType'] = d.osType;
  if (d?.priority !== undefined) entity['priority'] = d.priority;
  if (d?.tags !== undefined) entity['tags'] = JSON.stringify(d.tags);
  // Doubles stay doubles: a whole number would otherwise be sent as Int32 and read back the same.
  for (const name of usageFields)
    entity[name] = { value: String(numberColumn(entity[name]) ?? 0), type: 'Double' };
  return entity;
}

function dailyUsageFromRow(row: Record<string, unknown>): DailyUsageRow | undefined {
  const day = textColumn(row['partitionKey']);
  const vmKey = textColumn(row['rowKey']);
  const resourceId = textColumn(row['resourceId']);
  if (day === undefined || vmKey === undefined || resourceId === undefined) return undefined;
  const details: VmAttributes = {};
  const vmSize = textColumn(row['vmSize']);
  const location = textColumn(row['location']);
  const osType = textColumn(row['osType']);
  const priority = textColumn(row['priority']);
  const tags = tagsFrom(row['tags']);
  if (vmSize !== undefined) details.vmSize = vmSize;
  if (location !== undefined) details.location = location;
  if (osType !== undefined) details.osType = osType;
  if (priority !== undefined) details.priority = priority;
  if (tags !== undefined) details.tags = tags;
  return {
    day,
    vmKey,
    resourceId,
    subscriptionId: textColumn(row['subscriptionId']) ?? '',
    resourceGroup: textColumn(row['resourceGroup']) ?? '',
    billedSeconds: numberColumn(row['billedSeconds']) ?? 0,
    notBilledSeconds: numberColumn(row['notBilledSeconds']) ?? 0,
    unknownSeconds: numberColumn(row['unknownSeconds']) ?? 0,
    billedSecondsMin: numberColumn(row['billedSecondsMin']) ?? 0,
    billedSecondsMax: numberColumn(row['billedSecondsMax']) ?? 0,
    details,
  };
}

export class TableDailyUsageStore implements DailyUsageStore, FleetDailySource {
  constructor(private readonly table: TableClient) {}

  async upsertDay(day: string, rows: readonly DailyUsageRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += maxTransactionOperations) {
      const actions: TransactionAction[] = rows
        .slice(i, i + maxTransactionOperations)
        .map((row) => ['upsert', dailyUsageEntity({ ...row, day }), 'Replace']);
      await this.table.submitTransaction(actions);
    }
  }

  async *listDay(day: string, keys: DayKeyRange = {}): AsyncIterable<DailyUsageRow[]> {
    let filter = odata`PartitionKey eq ${day}`;
    if (keys.after !== undefined) filter += odata` and RowKey gt ${keys.after}`;
    if (keys.through !== undefined) filter += odata` and RowKey le ${keys.through}`;
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
      .byPage({ maxPageSize: 1000 });
    try {
      for await (const page of pages) {
        const rows = page.map(dailyUsageFromRow).filter((r): r is DailyUsageRow => r !== undefined);
        if (rows.length > 0) yield rows;
      }
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return; // no rollup table yet
      throw error;
    }
  }

  /** The usage columns only (no details) of one day partition: the fleet listing sorts and sums them. */
  async *listDayUsage(day: string): AsyncIterable<DayUsage[]> {
    const filter = odata`PartitionKey eq ${day}`;
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['RowKey', ...usageFields] } })
      .byPage({ maxPageSize: 1000 });
    try {
      for await (const page of pages) {
        const rows: DayUsage[] = [];
        for (const row of page) {
          const vmKey = textColumn(row['rowKey']);
          if (vmKey === undefined) continue;
          rows.push({
            vmKey,
            billedSeconds: numberColumn(row['billedSeconds']) ?? 0,
            notBilledSeconds: numberColumn(row['notBilledSeconds']) ?? 0,
            unknownSeconds: numberColumn(row['unknownSeconds']) ?? 0,
            billedSecondsMin: numberColumn(row['billedSecondsMin']) ?? 0,
            billedSecondsMax: numberColumn(row['billedSecondsMax']) ?? 0,
          });
        }
        if (rows.length > 0) yield rows;
      }
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return;
      throw error;
    }
  }

  async getRolledThrough(): Promise<number | undefined> {
    try {
      const row = await this.table.getEntity<Record<string, unknown>>(markPartition, markRow);
      const value = row['rolledThrough'];
      return value instanceof Date
        ? value.getTime()
        : typeof value === 'string'
          ? Date.parse(value)
          : undefined;
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
  }

  async setRolledThrough(through: number): Promise<void> {
    await this.table.upsertEntity(
      { partitionKey: markPartition, rowKey: markRow, rolledThrough: new Date(through) },
      'Replace',
    );
  }
}
