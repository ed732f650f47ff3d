/**
 * BackfillStore on Azure Table Storage: the `VmBackfill` table, one partition per subscription
 * (PartitionKey = subscription id lower-cased): the plan (`RowKey = plan`), one row per slice
 * (`slice|<from epoch ms, 13 digits>`) with its progress, and the recurring read's position (`recent`).
 */
import type { TableClient } from '@azure/data-tables';
import { odata } from '@azure/data-tables';
import {
  emptyCounts,
  SliceStatus,
  type BackfillPlan,
  type BackfillStore,
  type SliceProgress,
} from '../app/backfill';
import { msColumn, numberColumn, pad13, type Row } from './table-columns';
import { ServiceFailure } from '../app/errors';
import { sdkFailureOf } from './service-errors';

const counters = [
  'pages',
  'records',
  'observations',
  'duplicates',
  'skipped',
  'rejected',
  'requests',
  'throttled',
  'metricReads',
  'narrowed',
  'vms',
] as const;

const num = (value: unknown): number => numberColumn(value) ?? 0;

const sliceKey = (from: number): string => `slice|${pad13(from)}`;

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

  async getRecentReadTo(subscriptionId: string): Promise<number | undefined> {
    return msColumn((await this.#get(subscriptionId, 'recent'))?.['readTo']);
  }

  async putRecentReadTo(subscriptionId: string, to: number): Promise<void> {
    await this.table.upsertEntity(
      { partitionKey: subscriptionId.toLowerCase(), rowKey: 'recent', readTo: new Date(to) },
      'Replace',
    );
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
