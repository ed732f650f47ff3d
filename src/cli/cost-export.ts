/**
 * Reading a Cost Management export for a command: a file, a folder or a blob container URL (read with
 * DefaultAzureCredential); errors become input errors (exit 2) naming the file.
 */
import { readCostExport } from '../adapters/cost-export-files';
import { InputError } from '../app/errors';
import { CostExportError, ExportAccumulator, SkipReason, type ExportStats } from '../domain/cost-export';

export async function readExport(
  location: string,
  option: string,
  options: { includeLicences?: boolean; range?: { from: number; to: number }; allRuns?: boolean } = {},
): Promise<ExportAccumulator> {
  const accumulator = new ExportAccumulator(options.range);
  try {
    await readCostExport(location, accumulator, {
      includeLicences: options.includeLicences === true,
      blobs: { allRuns: options.allRuns === true },
    });
  } catch (error) {
    if (error instanceof CostExportError) throw new InputError(`${option}: ${error.message}`);
    throw error;
  }
  const stats = accumulator.stats();
  if (stats.rowsRead === 0) throw new InputError(`${option}: ${location} holds no rows`);
  return accumulator;
}

const reasonText: Record<SkipReason, string> = {
  notUsage: 'not usage (purchases, taxes, adjustments)',
  unusedCommitment: 'unused reservation / savings plan',
  notVmCompute: 'not VM compute (disks, bandwidth, other services)',
  licence: 'licences billed apart',
  notVmResource: 'VM meter on another resource type',
  notHourly: 'unit not hours',
  notDaily: 'charge period not within one day',
  badValue: 'unreadable number or date',
  outsideRange: 'outside the days asked',
};

/** One line: rows read, kept and skipped with the reasons. */
export function statsLine(stats: ExportStats): string {
  const reasons = Object.entries(stats.skipped)
    .map(([reason, n]) => `${n} ${reasonText[reason as SkipReason]}`)
    .join(', ');
  return `read ${stats.rowsRead} rows from ${stats.files} file(s) (${stats.formats.join(', ')}): kept ${stats.rowsKept}, skipped ${stats.rowsSkipped}${reasons === '' ? '' : ` (${reasons})`}`;
}

/** The `--all-runs` option of the commands that read an export. */
export const allRunsOption = {
  type: 'boolean',
  description:
    'with a container URL: read every export run under it, not only the newest of each export and period',
} as const;
