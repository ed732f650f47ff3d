/**
 * Row layouts of the timeline tables (the documented data contract) and their mapping to domain values.
 */
import type { TableEntity, TableEntityResult } from '@azure/data-tables';
import type { CurrentState, VmDetails } from '../app/ports';
import { billingOf } from '../domain/billing';
import type { ObservationPosition } from '../domain/current';
import type { DetailsChange } from '../domain/daily-usage';
import { ReasonSource, type ChangeReason } from '../domain/change-reason';
import { ObservationSource, type Observation } from '../domain/observation';
import { isPowerState, ProvisioningState, type Provisioning } from '../domain/power-state';
import { tagsOf } from '../domain/tags';
import { currentKeys, escapeKeyValue, resourceIdFromKey } from '../domain/resource-id';
import type { Segment } from '../domain/segments';
import { msColumn, numberColumn, textColumn } from './table-columns';

export type Row = TableEntityResult<Record<string, unknown>>;

export function pad13(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString().padStart(13, '0');
}

export const rowPrefix = { observation: 'o|', segment: 's|', marker: 'm|', details: 'd|' } as const;

export function observationRowKey(o: Pick<Observation, 'at' | 'source' | 'dedupeId'>): string {
  return `${rowPrefix.observation}${pad13(o.at)}|${o.source}|${escapeKeyValue(o.dedupeId)}`;
}

export function segmentRowKey(start: number): string {
  return `${rowPrefix.segment}${pad13(start)}`;
}

/** Details history row of a VM's timeline partition: `d|<epoch ms, 13 digits>`. */
export function detailsRowKey(at: number): string {
  return `${rowPrefix.details}${pad13(at)}`;
}

export function markerRowKey(marker: string): string {
  return `${rowPrefix.marker}${escapeKeyValue(marker)}`;
}

function date(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}

/** Drops undefined properties (Table Storage has no null). */
function compact<T extends Record<string, unknown>>(entity: T): T {
  for (const key of Object.keys(entity)) if (entity[key] === undefined) delete entity[key];
  return entity;
}

/** The `reason` column: a Resource Health reason as JSON (one column, so the row's shape stays flat). */
export function reasonColumn(r: ChangeReason | undefined): string | undefined {
  if (r === undefined) return undefined;
  return JSON.stringify(
    compact({
      source: r.source,
      name: r.name,
      at: r.at,
      summary: r.summary,
      context: r.context,
      category: r.category,
    }),
  );
}

/** Inverse of `reasonColumn`; undefined when absent or not such a reason. */
export function reasonFrom(value: unknown): ChangeReason | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const r = parsed as Record<string, unknown>;
    const source = (Object.values(ReasonSource) as unknown[]).includes(r['source'])
      ? (r['source'] as ReasonSource)
      : undefined;
    if (source === undefined || typeof r['name'] !== 'string' || typeof r['at'] !== 'number')
      return undefined;
    return compact({
      source,
      name: r['name'],
      at: r['at'],
      summary: textColumn(r['summary']),
      context: textColumn(r['context']),
      category: textColumn(r['category']),
    });
  } catch {
    return undefined;
  }
}

/** The provisioning columns (inverse of `provisioningFrom`). */
function provisioningColumns(p: Provisioning | undefined): Record<string, string | undefined> {
  return {
    provisioningState: p?.state,
    provisioningSubState: p?.subState,
    provisioningErrorCode: p?.errorCode,
  };
}

export function observationEntity(partitionKey: string, o: Observation): TableEntity {
  return compact({
    partitionKey,
    rowKey: observationRowKey(o),
    kind: 'observation',
    resourceId: o.resourceId,
    at: new Date(o.at),
    windowFrom: date(o.windowFrom),
    state: o.state,
    source: o.source,
    dedupeId: o.dedupeId,
    ...provisioningColumns(o.provisioning),
    operation: o.operation,
    eventType: o.eventType,
    caller: o.caller,
    correlationId: o.correlationId,
    reason: reasonColumn(o.reason),
  });
}

function provisioningFrom(row: Row, prefix = 'provisioning'): Provisioning | undefined {
  const state = textColumn(row[`${prefix}State`]);
  if (state === undefined) return undefined;
  const known = (Object.values(ProvisioningState) as string[]).includes(state);
  const p: Provisioning = { state: known ? (state as ProvisioningState) : ProvisioningState.unknown };
  const sub = textColumn(row[`${prefix}SubState`]);
  const code = textColumn(row[`${prefix}ErrorCode`]);
  if (sub !== undefined) p.subState = sub;
  if (code !== undefined) p.errorCode = code;
  return p;
}

function sourceFrom(value: unknown): ObservationSource {
  return (Object.values(ObservationSource) as unknown[]).includes(value)
    ? (value as ObservationSource)
    : ObservationSource.event;
}

export function observationFromRow(row: Row): Observation | undefined {
  const at = msColumn(row['at']);
  const dedupeId = textColumn(row['dedupeId']);
  if (at === undefined || dedupeId === undefined) return undefined;
  const state = row['state'];
  return compact({
    resourceId: textColumn(row['resourceId']) ?? resourceIdFromKey(row.partitionKey ?? ''),
    at,
    windowFrom: msColumn(row['windowFrom']),
    state: isPowerState(state) ? state : undefined,
    source: sourceFrom(row['source']),
    dedupeId,
    provisioning: provisioningFrom(row),
    operation: textColumn(row['operation']),
    eventType: textColumn(row['eventType']),
    caller: textColumn(row['caller']),
    correlationId: textColumn(row['correlationId']),
    reason: reasonFrom(row['reason']),
  });
}

export function segmentEntity(partitionKey: string, resourceId: string, s: Segment): TableEntity {
  return compact({
    partitionKey,
    rowKey: segmentRowKey(s.start),
    kind: 'segment',
    resourceId,
    state: s.state,
    billing: s.billing,
    start: new Date(s.start),
    end: date(s.end),
    startWindowFrom: date(s.startWindowFrom),
    source: s.source,
    operation: s.operation,
    caller: s.caller,
    reason: reasonColumn(s.reason),
  });
}

export function segmentFromRow(row: Row): Segment | undefined {
  const start = msColumn(row['start']);
  const state = row['state'];
  if (start === undefined || !isPowerState(state)) return undefined;
  return compact({
    state,
    billing: billingOf(state),
    start,
    end: msColumn(row['end']),
    startWindowFrom: msColumn(row['startWindowFrom']),
    source: sourceFrom(row['source']),
    operation: textColumn(row['operation']),
    caller: textColumn(row['caller']),
    reason: reasonFrom(row['reason']),
  });
}

export function sameSegment(a: Segment, b: Segment): boolean {
  return (
    a.state === b.state &&
    a.start === b.start &&
    a.end === b.end &&
    a.startWindowFrom === b.startWindowFrom &&
    a.source === b.source &&
    a.operation === b.operation &&
    a.caller === b.caller &&
    reasonColumn(a.reason) === reasonColumn(b.reason)
  );
}

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
    since: date(c.since),
    sinceWindowFrom: date(c.sinceWindowFrom),
    sinceSource: c.sinceSource,
    operation: c.operation,
    caller: c.caller,
    reason: reasonColumn(c.reason),
    ...provisioningColumns(c.provisioning),
    lastObservedAt: new Date(c.last.at),
    lastSource: c.last.source,
    lastDedupeId: c.last.dedupeId,
    lastSeenAt: date(c.lastSeenAt),
    vmSize: c.details?.vmSize,
    location: c.details?.location,
    osType: c.details?.osType,
    priority: c.details?.priority,
    tags: c.details?.tags === undefined ? undefined : JSON.stringify(c.details.tags),
    detailsAt: date(c.detailsAt),
    usageDirtyFrom: date(c.usageDirtyFrom),
    version,
  });
}

export interface StoredCurrent {
  current: CurrentState;
  etag: string;
  version: number;
  key: string;
}

/** The `tags` column (JSON object of strings); undefined when absent or not such an object. */
export function tagsFrom(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    return tagsOf(parsed as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

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
  const details: VmDetails = compact({
    vmSize: textColumn(row['vmSize']),
    location: textColumn(row['location']),
    osType: textColumn(row['osType']),
    priority: textColumn(row['priority']),
    tags: tagsFrom(row['tags']),
  });
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
  return { current, etag: row.etag, version: numberColumn(row['version']) ?? 0, key };
}

/** A `d|` row of the VM's timeline partition: the details recorded at `at`. */
export function detailsChangeFromRow(row: Row): DetailsChange | undefined {
  const at = msColumn(row['at']);
  if (at === undefined) return undefined;
  const details: VmDetails = compact({
    vmSize: textColumn(row['vmSize']),
    location: textColumn(row['location']),
    osType: textColumn(row['osType']),
    priority: textColumn(row['priority']),
    tags: tagsFrom(row['tags']),
  });
  return { at, details };
}
