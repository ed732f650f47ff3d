/**
 * `VmInvoiceCheck` on Azure Table Storage: one partition per UTC day (`yyyy-mm-dd`), one row per checked
 * resource (RowKey = VM key, as in `VmDailyUsage`; a scale set billed as one resource has its own key),
 * written in entity-group transactions of up to 100 rows per day.
 */
import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import type { InvoiceCheckStore, StoredInvoiceCheckRow } from '../app/invoice-agreement';
import { InvoiceReason, InvoiceVerdict } from '../domain/invoice-check';
import { vmKey } from '../domain/resource-id';
import { ServiceFailure } from '../app/errors';
import { sdkFailureOf } from './service-errors';

const maxTransactionOperations = 100;
const verdicts = new Set<string>(Object.values(InvoiceVerdict));
const reasons = new Set<string>(Object.values(InvoiceReason));

function double(value: number | null): { value: string; type: 'Double' } | null {
  return value === null ? null : { value: String(value), type: 'Double' };
}

export function invoiceCheckEntity(row: StoredInvoiceCheckRow): TableEntity {
  const entity: TableEntity = {
    partitionKey: row.day,
    rowKey: vmKey(row.resourceId),
    resourceId: row.resourceId,
    verdict: row.verdict,
    reason: row.reason ?? '',
    exportName: row.exportName,
    checkedAt: new Date(row.checkedAt),
    toleranceInMinutes: { value: String(row.toleranceInMinutes), type: 'Double' },
  };
  // Absent hours stay absent (a VM unknown to the timeline has no timeline hours).
  for (const name of ['timelineHours', 'exportHours', 'differenceHours'] as const) {
    const value = double(row[name]);
    if (value !== null) entity[name] = value;
  }
  return entity;
}

function hours(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

export function invoiceCheckFromRow(row: Record<string, unknown>): StoredInvoiceCheckRow | undefined {
  const day = row['partitionKey'];
  const resourceId = row['resourceId'];
  const verdict = row['verdict'];
  if (typeof day !== 'string' || typeof resourceId !== 'string' || typeof verdict !== 'string')
    return undefined;
  if (!verdicts.has(verdict)) return undefined;
  const reason = typeof row['reason'] === 'string' && reasons.has(row['reason']) ? row['reason'] : null;
  const checkedAt = row['checkedAt'];
  return {
    resourceId,
    day,
    timelineHours: hours(row['timelineHours']),
    exportHours: hours(row['exportHours']),
    differenceHours: hours(row['differenceHours']),
    verdict: verdict as InvoiceVerdict,
    reason: reason as InvoiceReason | null,
    exportName: typeof row['exportName'] === 'string' ? row['exportName'] : '',
    checkedAt:
      checkedAt instanceof Date
        ? checkedAt.toISOString()
        : typeof checkedAt === 'string'
          ? new Date(checkedAt).toISOString()
          : '',
    toleranceInMinutes: typeof row['toleranceInMinutes'] === 'number' ? row['toleranceInMinutes'] : 0,
  };
}

export class TableInvoiceCheckStore implements InvoiceCheckStore {
  constructor(private readonly table: TableClient) {}

  async upsertRows(rows: readonly StoredInvoiceCheckRow[]): Promise<void> {
    // One entity per day and key (a transaction may not touch a row twice): the last row wins.
    const byDay = new Map<string, Map<string, TableEntity>>();
    for (const row of rows) {
      const entities = byDay.get(row.day) ?? new Map<string, TableEntity>();
      const entity = invoiceCheckEntity(row);
      entities.set(String(entity.rowKey), entity);
      byDay.set(row.day, entities);
    }
    for (const day of byDay.values()) {
      const entities = [...day.values()];
      for (let i = 0; i < entities.length; i += maxTransactionOperations) {
        const actions: TransactionAction[] = entities
          .slice(i, i + maxTransactionOperations)
          .map((entity) => ['upsert', entity, 'Replace']);
        await this.table.submitTransaction(actions);
      }
    }
  }

  async *listDay(day: string): AsyncIterable<StoredInvoiceCheckRow[]> {
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${day}` } })
      .byPage({ maxPageSize: 1000 });
    try {
      for await (const page of pages) {
        const rows = page.map(invoiceCheckFromRow).filter((r): r is StoredInvoiceCheckRow => r !== undefined);
        if (rows.length > 0) yield rows;
      }
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return; // no check stored yet
      throw error;
    }
  }
}
