/** Human-readable output: aligned columns and hours. */

export type Align = 'left' | 'right';

/** Rows (first row: headings) as aligned lines; columns separated by two spaces, no trailing spaces. */
export function table(rows: ReadonlyArray<readonly string[]>, align: readonly Align[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const width = widths[i] ?? cell.length;
        return align[i] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

/**
 * A line formatter for rows printed as they come (no table in memory): columns of at least `widths`
 * characters, as `table` aligns them.
 */
export function columns(
  widths: readonly number[],
  align: readonly Align[] = [],
): (row: readonly string[]) => string {
  return (row) =>
    row
      .map((cell, i) => {
        const width = Math.max(widths[i] ?? 0, cell.length);
        return align[i] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
}

/** Seconds as hours with two decimals. */
export function hours(seconds: number): string {
  return (seconds / 3600).toFixed(2);
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
