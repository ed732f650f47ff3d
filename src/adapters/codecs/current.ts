/**
 * The `VmCurrent` codec: the only module that reads and writes its columns. PartitionKey = subscription
 * id (lower-cased), RowKey = the rest of the VM key (README "Tables").
 */
import type { TableEntity } from '@azure/data-tables';
import type { CurrentState, VmDetails } from '../../app/ports';
import { billingOf } from '../../domain/billing';
import type { ObservationPosition } from '../../domain/current';
import { isPowerState } from '../../domain/power-state';
import { currentKeys, resourceIdFromKey } from '../../domain/resource-id';
import {
  compact,
  dateColumn,
  detailsColumns,
  detailsFrom,
  filledDetailsColumns,
  msColumn,
  numberColumn,
  provisioningColumns,
  provisioningFrom,
  reasonColumn,
  reasonFrom,
  sourceFrom,
  textColumn,
  type Row,
} from '../table-columns';

/** `VmCurrent` row: PartitionKey = subscription id (lower-cased), RowKey = the rest of the VM key. */
export function currentEntity(key: string, c: CurrentState, version: number): TableEntity {
  const { partitionKey, rowKey } = currentKeys(key);
  return compact({
    partitionKey,
    rowKey,
    resourceId: c.resourceId,
    vmKey: key,
    state: c.state,
    billing: c.billing,
    since: dateColumn(c.since),
    sinceWindowFrom: dateColumn(c.sinceWindowFrom),
    sinceSource: c.sinceSource,
    operation: c.operation,
    caller: c.caller,
    reason: reasonColumn(c.reason),
    ...provisioningColumns(c.provisioning),
    lastObservedAt: new Date(c.last.at),
    lastSource: c.last.source,
    lastDedupeId: c.last.dedupeId,
    lastSeenAt: dateColumn(c.lastSeenAt),
    ...detailsColumns(c.details),
    detailsAt: dateColumn(c.detailsAt),
    usageDirtyFrom: dateColumn(c.usageDirtyFrom),
    version,
  });
}

export interface StoredCurrent {
  current: CurrentState;
  etag: string;
  version: number;
  key: string;
}

/**
 * The columns the fleet listing reads (`$select` of `listFleet`): what `currentFromRow` needs to accept a
 * row (`vmKey`, `lastObservedAt`, `lastDedupeId`) and the fields the fleet uses: the resource id,
 * subscription (PartitionKey), state and open segment's start (`since`, `sinceWindowFrom`), the last
 * observation's time, and the details it shows, filters, groups and exempts by (`vmSize`, `location`,
 * `priority`, `tags`); `Timestamp` for the answer's version. Of such a row `currentFromRow` gives those
 * fields as from the whole row, and leaves the others (caller, operation, reason, provisioning...) out.
 */
export const fleetCurrentColumns = [
  'PartitionKey',
  'RowKey',
  'Timestamp',
  'vmKey',
  'resourceId',
  'state',
  'since',
  'sinceWindowFrom',
  'lastObservedAt',
  'lastDedupeId',
  'vmSize',
  'location',
  'priority',
  'tags',
] as const;

export function currentFromRow(row: Row): StoredCurrent | undefined {
  const key = textColumn(row['vmKey']);
  const lastAt = msColumn(row['lastObservedAt']);
  const lastDedupeId = textColumn(row['lastDedupeId']);
  if (key === undefined || lastAt === undefined || lastDedupeId === undefined) return undefined;
  const state = row['state'];
  const last: ObservationPosition = {
    at: lastAt,
    source: sourceFrom(row['lastSource']),
    dedupeId: lastDedupeId,
  };
  const details: VmDetails = detailsFrom(row);
  const current: CurrentState = compact({
    resourceId: textColumn(row['resourceId']) ?? resourceIdFromKey(key),
    subscriptionId: row.partitionKey ?? '',
    state: isPowerState(state) ? state : undefined,
    billing: isPowerState(state) ? billingOf(state) : undefined,
    since: msColumn(row['since']),
    sinceWindowFrom: msColumn(row['sinceWindowFrom']),
    sinceSource: row['sinceSource'] === undefined ? undefined : sourceFrom(row['sinceSource']),
    operation: textColumn(row['operation']),
    caller: textColumn(row['caller']),
    reason: reasonFrom(row['reason']),
    provisioning: provisioningFrom(row),
    last,
    lastSeenAt: msColumn(row['lastSeenAt']),
    details: Object.keys(details).length > 0 ? details : undefined,
    detailsAt: msColumn(row['detailsAt']),
    usageDirtyFrom: msColumn(row['usageDirtyFrom']),
  });
  return { current, etag: row.etag, version: versionOf(row), key };
}

/**
 * The Merge patch of `updateDetails`: the details columns ('' for an absent one, as Merge cannot remove
 * a column) and `detailsAt`; never a timeline column.
 */
export function detailsPatch(key: string, details: VmDetails, detailsAt: number): TableEntity {
  return { ...currentKeys(key), detailsAt: new Date(detailsAt), ...filledDetailsColumns(details) };
}

/** The row as listed with `usageDirtyFrom` set to `next` (undefined: removed), every other column kept. */
export function withUsageDirtyFrom(row: Row, next: number | undefined): TableEntity {
  const entity: TableEntity = { partitionKey: row.partitionKey ?? '', rowKey: row.rowKey ?? '' };
  for (const [name, value] of Object.entries(row))
    if (name !== 'etag' && name !== 'timestamp' && !name.startsWith('odata.')) entity[name] = value;
  if (next === undefined) delete entity['usageDirtyFrom'];
  else entity['usageDirtyFrom'] = new Date(next);
  return entity;
}

/** The `version` column of a row as listed (0 when absent). */
export function versionOf(row: Row): number {
  return numberColumn(row['version']) ?? 0;
}

const columnValue = (value: unknown): unknown => (value instanceof Date ? value.getTime() : value);

/**
 * True when both states encode to the same `VmCurrent` columns, the version and the usage mark aside
 * (the record path compares those apart): derived from `currentEntity`, so no column can be forgotten.
 */
export function sameCurrentColumns(key: string, a: CurrentState, b: CurrentState): boolean {
  const left = currentEntity(key, { ...a, usageDirtyFrom: undefined }, 0);
  const right = currentEntity(key, { ...b, usageDirtyFrom: undefined }, 0);
  const names = new Set([...Object.keys(left), ...Object.keys(right)]);
  for (const name of names) if (columnValue(left[name]) !== columnValue(right[name])) return false;
  return true;
}
