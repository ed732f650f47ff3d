/**
 * CoverageStore on Azure Table Storage: the `VmCoverage` table, one row per watched subscription in one
 * partition (PartitionKey `subscription`, RowKey = subscription id lower-cased), so the whole report is
 * one partition query. Times are stored as DateTime columns; a cleared field is stored as `''`.
 */
import { odata, type TableClient } from '@azure/data-tables';
import {
  BackfillState,
  CoveragePresence,
  ReconcileOutcome,
  WiringCheck,
  type CoverageChanges,
  type CoverageStore,
  type SubscriptionCoverage,
} from '../app/coverage-ports';
import { msColumn, numberColumn, textColumn, type Row } from './table-columns';
import { ServiceFailure } from '../app/errors';
import { sdkFailureOf } from './service-errors';

export const coveragePartitionKey = 'subscription';

/** Longest error text kept (Table string properties hold at most 32 K characters). */
const maxErrorLength = 2_000;

const timeFields = [
  'firstSeenAt',
  'goneAt',
  'backfillChangedAt',
  'lastReconcileAt',
  'lastCompleteAt',
  'lastEventAt',
  'poisonedAt',
  'wiringCheckedAt',
  'backfillReachedAt',
] as const;

function oneOf<T extends string>(values: Record<string, T>, value: unknown): T | undefined {
  return Object.values(values).find((v) => v === value);
}

function fromRow(row: Row): SubscriptionCoverage {
  return {
    subscriptionId: textColumn(row['subscriptionId']) ?? row.rowKey ?? '',
    displayName: textColumn(row['displayName']),
    managementGroupId: textColumn(row['managementGroupId']),
    presence: oneOf(CoveragePresence, row['presence']) ?? CoveragePresence.present,
    firstSeenAt: msColumn(row['firstSeenAt']) ?? 0,
    goneAt: msColumn(row['goneAt']),
    backfill: oneOf(BackfillState, row['backfill']),
    backfillChangedAt: msColumn(row['backfillChangedAt']),
    lastReconcileAt: msColumn(row['lastReconcileAt']),
    lastOutcome: oneOf(ReconcileOutcome, row['lastOutcome']),
    lastCompleteAt: msColumn(row['lastCompleteAt']),
    lastError: textColumn(row['lastError']),
    retryAfterInMs: typeof row['retryAfterInMs'] === 'number' ? row['retryAfterInMs'] : undefined,
    lastEventAt: msColumn(row['lastEventAt']),
    poisonedAt: msColumn(row['poisonedAt']),
    poisonReason: textColumn(row['poisonReason']),
    backfillSlices: numberColumn(row['backfillSlices']),
    backfillSlicesDone: numberColumn(row['backfillSlicesDone']),
    backfillReachedAt: msColumn(row['backfillReachedAt']),
    backfillError: textColumn(row['backfillError']),
    wiringCheckedAt: msColumn(row['wiringCheckedAt']),
    resourceEventsWiring: oneOf(WiringCheck, row['resourceEventsWiring']),
    healthEventsWiring: oneOf(WiringCheck, row['healthEventsWiring']),
    wiringError: textColumn(row['wiringError']),
  };
}

function toColumns(changes: CoverageChanges): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(changes) as [string, unknown][]) {
    if (value === undefined) continue;
    if (value === null) columns[name] = '';
    else if ((timeFields as readonly string[]).includes(name)) columns[name] = new Date(value as number);
    else if (
      typeof value === 'string' &&
      (name === 'lastError' || name === 'poisonReason' || name === 'wiringError' || name === 'backfillError')
    )
      columns[name] = value.slice(0, maxErrorLength);
    else columns[name] = value;
  }
  return columns;
}

export class TableCoverageStore implements CoverageStore {
  constructor(private readonly table: TableClient) {}

  async get(subscriptionId: string): Promise<SubscriptionCoverage | undefined> {
    try {
      return fromRow(
        await this.table.getEntity<Record<string, unknown>>(
          coveragePartitionKey,
          subscriptionId.toLowerCase(),
        ),
      );
    } catch (error) {
      if (sdkFailureOf(error) === ServiceFailure.notFound) return undefined;
      throw error;
    }
  }

  async list(): Promise<SubscriptionCoverage[]> {
    const rows: SubscriptionCoverage[] = [];
    const entities = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${coveragePartitionKey}` },
    });
    for await (const row of entities) rows.push(fromRow(row));
    return rows;
  }

  async merge(subscriptionId: string, changes: CoverageChanges): Promise<void> {
    await this.table.upsertEntity(
      {
        partitionKey: coveragePartitionKey,
        rowKey: subscriptionId.toLowerCase(),
        subscriptionId,
        ...toColumns(changes),
      },
      'Merge',
    );
  }
}
