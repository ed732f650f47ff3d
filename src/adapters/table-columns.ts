/**
 * Readers and writers of Table Storage column values, shared by every table's codec: a row read back may
 * hold a Date, an ISO string or a number for a time, a number, Int64 (`{ value, type: 'Int64' }` or
 * bigint) or numeric string for a count, and empty strings for absent text. Values that cannot be read
 * (NaN, Infinity, empty) read as undefined. Also the column groups several tables share (reason,
 * provisioning, VM details).
 */
import type { TableEntityResult } from '@azure/data-tables';
import type { VmDetails } from '../app/ports';
import { ReasonSource, type ChangeReason } from '../domain/change-reason';
import { ObservationSource } from '../domain/observation';
import { ProvisioningState, type Provisioning } from '../domain/power-state';
import { tagsOf } from '../domain/tags';

/** A row as the Tables SDK reads it back (the one row type of every codec). */
export type Row = TableEntityResult<Record<string, unknown>>;

/** Epoch ms of a time column (Date, ISO text or number). */
export function msColumn(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string' && value !== '') {
    const parsed = Date.parse(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return undefined;
}

/** A non-empty text column. */
export function textColumn(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A number column (number, Int64 as bigint or `{ value, type: 'Int64' }`, or numeric text). */
export function numberColumn(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && value !== null && 'value' in value) return numberColumn(value.value);
  if (typeof value === 'string' && value !== '' && !Number.isNaN(Number(value))) return Number(value);
  return undefined;
}

/** A time column to write: a Date (Edm.DateTime), undefined stays absent. */
export function dateColumn(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}

/** A time as 13 digits, so row keys sort by time. */
export function pad13(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString().padStart(13, '0');
}

/** Drops undefined properties (Table Storage has no null). */
export function compact<T extends Record<string, unknown>>(entity: T): T {
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

/** A column holding a JSON object; undefined when absent, not JSON, or not an object. */
function jsonObjectColumn(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** Inverse of `reasonColumn`; undefined when absent or not such a reason. */
export function reasonFrom(value: unknown): ChangeReason | undefined {
  const r = jsonObjectColumn(value);
  if (r === undefined) return undefined;
  const source = (Object.values(ReasonSource) as unknown[]).includes(r['source'])
    ? (r['source'] as ReasonSource)
    : undefined;
  if (source === undefined || typeof r['name'] !== 'string' || typeof r['at'] !== 'number') return undefined;
  return compact({
    source,
    name: r['name'],
    at: r['at'],
    summary: textColumn(r['summary']),
    context: textColumn(r['context']),
    category: textColumn(r['category']),
  });
}

/** The provisioning columns (inverse of `provisioningFrom`). */
export function provisioningColumns(p: Provisioning | undefined): Record<string, string | undefined> {
  return {
    provisioningState: p?.state,
    provisioningSubState: p?.subState,
    provisioningErrorCode: p?.errorCode,
  };
}

/** Inverse of `provisioningColumns`. */
export function provisioningFrom(row: Row): Provisioning | undefined {
  const state = textColumn(row['provisioningState']);
  if (state === undefined) return undefined;
  const known = (Object.values(ProvisioningState) as string[]).includes(state);
  const p: Provisioning = { state: known ? (state as ProvisioningState) : ProvisioningState.unknown };
  const sub = textColumn(row['provisioningSubState']);
  const code = textColumn(row['provisioningErrorCode']);
  if (sub !== undefined) p.subState = sub;
  if (code !== undefined) p.errorCode = code;
  return p;
}

/** An `ObservationSource` column (`event` when absent or unknown). */
export function sourceFrom(value: unknown): ObservationSource {
  return (Object.values(ObservationSource) as unknown[]).includes(value)
    ? (value as ObservationSource)
    : ObservationSource.event;
}

/** The `tags` column (JSON object of strings); undefined when absent or not such an object. */
export function tagsFrom(value: unknown): Record<string, string> | undefined {
  const parsed = jsonObjectColumn(value);
  return parsed === undefined ? undefined : tagsOf(parsed);
}

/** The VM details columns (`vmSize`, `location`, `osType`, `priority`, `tags` as JSON). */
export function detailsColumns(d: VmDetails | undefined): Record<string, string | undefined> {
  return {
    vmSize: d?.vmSize,
    location: d?.location,
    osType: d?.osType,
    priority: d?.priority,
    tags: d?.tags === undefined ? undefined : JSON.stringify(d.tags),
  };
}

/**
 * The VM details columns with '' for an absent one: a Merge cannot remove a column, and a details row
 * names every column (an absent one reads back as undefined).
 */
export function filledDetailsColumns(d: VmDetails): Record<string, string> {
  const columns: Record<string, string> = {};
  for (const [name, value] of Object.entries(detailsColumns(d))) columns[name] = value ?? '';
  return columns;
}

/** Inverse of `detailsColumns`: only the columns present. */
export function detailsFrom(row: Record<string, unknown>): VmDetails {
  return compact({
    vmSize: textColumn(row['vmSize']),
    location: textColumn(row['location']),
    osType: textColumn(row['osType']),
    priority: textColumn(row['priority']),
    tags: tagsFrom(row['tags']),
  });
}
