/** Readers of Table Storage column values shared by the table adapters. */

/** A time column (Date, ISO string or epoch ms) as epoch ms; undefined when absent or not a finite time. */
export function ms(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string' && value !== '') {
    const parsed = Date.parse(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
