/**
 * Readers of Table Storage column values, shared by every table's codec: a row read back may hold a
 * Date, an ISO string or a number for a time, a number or numeric string for a count, and empty strings
 * for absent text. Values that cannot be read (NaN, Infinity, empty) read as undefined.
 */

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

/** A number column (number, Int64 bigint or numeric text). */
export function numberColumn(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value !== '' && !Number.isNaN(Number(value))) return Number(value);
  return undefined;
}
