/**
 * BackfillStore on Azure Table Storage: the `VmBackfill` table, one partition per subscription
 * (PartitionKey = subscription id lower-cased): the plan (`RowKey = plan`), one row per slice
 * (`slice|<from epoch ms, 13 digits>`) with its progress, the recurring read's position (`recent`), and the
 * scale-set-wide operations the log recorded (`op|<scale set key>|<correlation id>`).
 */
import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import {
  backfillCountNames,
  emptyCounts,
  SliceStatus,
  type BackfillPlan,
  type BackfillStore,
  type RecentRead,
  type SliceProgress,
} from '../app/backfill';
import type { ScaleSetOperationRecord } from '../domain/activity-log';
import { parseComputeResourceId, vmKey } from '../domain/resource-id';
import { mergeScaleSetRecords, type ScaleSetOperation } from '../domain/scale-set-operations';
import { compact, dateColumn, msColumn, numberColumn, pad13, textColumn, type Row } from './table-columns';
import { ServiceFailure } from '../app/errors';
import { sdkFailureOf } from './service-errors';

const counters = [...backfillCountNames, 'vms'] as const;

const num = (value: unknown): number => numberColumn(value) ?? 0;

const sliceKey = (from: number): string => `slice|${pad13(from)}`;

/** `op|<scale set key>|<correlation id lower-cased>` (the correlation id holds no key-breaking character). */
const operationKey = (scaleSetId: string, correlationId: string): string =>
  `op|${vmKey(scaleSetId)}|${correlationId.toLowerCase()}`;

function sliceFromRow(row: Row): SliceProgress | undefined {
  const from = msColumn(row['from']);
  const to = msColumn(row['to']);
  const status = row['status'];
  if (from === undefined || to === undefined || typeof status !== 'string') return undefined;
  const progress: SliceProgress = {
    subscriptionId:
      typeof row['subscriptionId'] === 'string' ? row['subscriptionId'] : (row.partitionKey ?? ''),
    from,
    to,
    status: (Object.values(SliceStatus) as string[]).includes(status)
      ? (status as SliceStatus)
      : SliceStatus.pending,
    ...emptyCounts(),
    vms: 0,
    updatedAt: msColumn(row['updatedAt']) ?? 0,
  };
  for (const name of counters) progress[name] = num(row[name]);
  if (typeof row['nextLink'] === 'string' && row['nextLink'] !== '') progress.nextLink = row['nextLink'];
  const reachedAt = msColumn(row['reachedAt']);
  if (reachedAt !== undefined) progress.reachedAt = reachedAt;
  if (typeof row['error'] === 'string' && row['error'] !== '') progress.error = row['error'];
  return progress;
}

/** The `scaleSets` column: JSON scale set id → epoch ms; anything else reads as none. */
function scaleSetsFrom(value: unknown): Record<string, number> | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number'),
    );
  } catch {
    return undefined;
  }
}

export class TableBackfillStore implements BackfillStore {
  constructor(private readonly table: TableClient) {}

  async getPlan(subscriptionId: string): Promise<BackfillPlan | undefined> {
    const row = await this.#get(subscriptionId, 'plan');
    if (row === undefined) return undefined;
    return {
      subscriptionId,
      plannedAt: msColumn(row['plannedAt']) ?? 0,
      from: msColumn(row['from']) ?? 0,
      to: msColumn(row['to']) ?? 0,
      slices: num(row['slices']),
    };
  }

  async createPlan(plan: BackfillPlan): Promise<boolean> {
    try {
      await this.table.createEntity({
        partitionKey: plan.subscriptionId.toLowerCase(),
        rowKey: 'plan',
        plannedAt: new Date(plan.plannedAt),
        from: new Date(plan.from),
        to: new Date(plan.to),
        slices: plan.slices,
      });
      return true;
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.conflict) return false;
      throw error;
    }
  }

  async getSlice(subscriptionId: string, from: number): Promise<SliceProgress | undefined> {
    const row = await this.#get(subscriptionId, sliceKey(from));
    return row === undefined ? undefined : sliceFromRow(row);
  }

  async putSlice(p: SliceProgress): Promise<void> {
    const entity: Record<string, unknown> = {
      partitionKey: p.subscriptionId.toLowerCase(),
      rowKey: sliceKey(p.from),
      subscriptionId: p.subscriptionId,
      from: new Date(p.from),
      to: new Date(p.to),
      status: p.status,
      nextLink: p.nextLink ?? '',
      error: p.error ?? '',
      updatedAt: new Date(p.updatedAt),
    };
    for (const name of counters) entity[name] = p[name];
    if (p.reachedAt !== undefined) entity['reachedAt'] = new Date(p.reachedAt);
    await this.table.upsertEntity(entity as { partitionKey: string; rowKey: string }, 'Replace');
  }

  async listSlices(subscriptionId: string): Promise<SliceProgress[]> {
    const filter = odata`PartitionKey eq ${subscriptionId.toLowerCase()} and RowKey ge ${'slice|'} and RowKey lt ${'slice}'}`;
    const slices: SliceProgress[] = [];
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const slice = sliceFromRow(row);
      if (slice !== undefined) slices.push(slice);
    }
    return slices;
  }

  async getRecentRead(subscriptionId: string): Promise<RecentRead | undefined> {
    const row = await this.#get(subscriptionId, 'recent');
    const readTo = msColumn(row?.['readTo']);
    if (readTo === undefined) return undefined;
    return {
      readTo,
      coveredFrom: msColumn(row?.['coveredFrom']),
      scaleSets: scaleSetsFrom(row?.['scaleSets']),
    };
  }

  async putRecentRead(subscriptionId: string, read: RecentRead): Promise<void> {
    await this.table.upsertEntity(
      compact({
        partitionKey: subscriptionId.toLowerCase(),
        rowKey: 'recent',
        readTo: new Date(read.readTo),
        coveredFrom: dateColumn(read.coveredFrom),
        scaleSets:
          read.scaleSets === undefined || Object.keys(read.scaleSets).length === 0
            ? undefined
            : JSON.stringify(read.scaleSets),
      }),
      'Replace',
    );
  }

  async recordScaleSetOperations(records: readonly ScaleSetOperationRecord[]): Promise<void> {
    // One merge per operation, each status in its own column: the same row whatever the order of reads.
    for (const op of mergeScaleSetRecords(records).values()) {
      const subscriptionId = parseComputeResourceId(op.scaleSetId)?.subscriptionId;
      if (subscriptionId === undefined) continue;
      await this.table.upsertEntity(
        compact({
          partitionKey: subscriptionId.toLowerCase(),
          rowKey: operationKey(op.scaleSetId, op.correlationId),
          kind: 'scaleSetOperation',
          scaleSetId: op.scaleSetId,
          correlationId: op.correlationId,
          operation: op.operation,
          startedAt: dateColumn(op.startedAt),
          acceptedAt: dateColumn(op.acceptedAt),
          succeededAt: dateColumn(op.succeededAt),
          failedAt: dateColumn(op.failedAt),
        }),
        'Merge',
      );
    }
  }

  async listScaleSetOperations(scaleSetId: string): Promise<ScaleSetOperation[]> {
    const subscriptionId = parseComputeResourceId(scaleSetId)?.subscriptionId;
    if (subscriptionId === undefined) return [];
    const prefix = operationKey(scaleSetId, '');
    const filter = odata`PartitionKey eq ${subscriptionId.toLowerCase()} and RowKey ge ${prefix} and RowKey lt ${`${prefix.slice(0, -1)}}`}`;
    const operations: ScaleSetOperation[] = [];
    for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      const operation = textColumn(row['operation']);
      const correlationId = textColumn(row['correlationId']);
      if (operation === undefined || correlationId === undefined) continue;
      operations.push({
        scaleSetId: textColumn(row['scaleSetId']) ?? scaleSetId,
        correlationId,
        operation,
        startedAt: msColumn(row['startedAt']),
        acceptedAt: msColumn(row['acceptedAt']),
        succeededAt: msColumn(row['succeededAt']),
        failedAt: msColumn(row['failedAt']),
      });
    }
    return operations;
  }

  async #get(subscriptionId: string, rowKey: string): Promise<Row | undefined> {
    try {
      return await this.table.getEntity<Record<string, unknown>>(subscriptionId.toLowerCase(), rowKey);
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
  }
}
