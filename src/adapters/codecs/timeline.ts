/**
 * The `VmTimeline` codec: the only module that reads and writes its columns. One partition per VM
 * (PartitionKey = VM key); rows `o|` observations, `s|` segments, `m|` markers, `d|` details changes
 * (README "Tables").
 */
import type { TableEntity } from '@azure/data-tables';
import type { VmDetails } from '../../app/ports';
import { billingOf } from '../../domain/billing';
import type { DetailsChange } from '../../domain/daily-usage';
import type { Observation } from '../../domain/observation';
import { isPowerState } from '../../domain/power-state';
import { escapeKeyValue, resourceIdFromKey } from '../../domain/resource-id';
import type { Segment } from '../../domain/segments';
import {
  compact,
  dateColumn,
  detailsFrom,
  filledDetailsColumns,
  msColumn,
  pad13,
  provisioningColumns,
  provisioningFrom,
  reasonColumn,
  reasonFrom,
  sourceFrom,
  textColumn,
  type Row,
} from '../table-columns';

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

/** The resource id as a row spelled it (any row kind), undefined when absent. */
export function resourceIdOfRow(row: Row): string | undefined {
  return textColumn(row['resourceId']);
}

export function observationEntity(partitionKey: string, o: Observation): TableEntity {
  return compact({
    partitionKey,
    rowKey: observationRowKey(o),
    kind: 'observation',
    resourceId: o.resourceId,
    at: new Date(o.at),
    windowFrom: dateColumn(o.windowFrom),
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
    end: dateColumn(s.end),
    startWindowFrom: dateColumn(s.startWindowFrom),
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

/** The `m|` row: the observation a marker (an event id) was recorded with. */
export function markerEntity(key: string, marker: string, observation: Observation): TableEntity {
  return {
    partitionKey: key,
    rowKey: markerRowKey(marker),
    kind: 'marker',
    observation: observationRowKey(observation),
  };
}

/** The `d|` row: the details that hold from `at` (usage is attributed to the details of each day). */
export function detailsEntity(key: string, resourceId: string, at: number, details: VmDetails): TableEntity {
  return {
    ...filledDetailsColumns(details),
    partitionKey: key,
    rowKey: detailsRowKey(at),
    kind: 'details',
    resourceId,
    at: new Date(at),
  };
}

/** A `d|` row of the VM's timeline partition: the details recorded at `at`. */
export function detailsChangeFromRow(row: Row): DetailsChange | undefined {
  const at = msColumn(row['at']);
  if (at === undefined) return undefined;
  return { at, details: detailsFrom(row) };
}
