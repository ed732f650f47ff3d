/** `vm-timeline usage --from --to [--group-by] [--prices] [--csv]`: usage per VM or group over a window. */
import { readFile } from 'node:fs/promises';
import { ensureError, InputError } from '../app/errors';
import { checkRange, parseInstant } from '../app/queries';
import {
  groupByName,
  groupByParameter,
  usageReport,
  type GroupedUsageReport,
  type UsageFigures,
} from '../app/usage-report';
import { groupByValues, type GroupBy } from '../domain/grouping';
import { csvField, parsePrices, PriceTable } from '../domain/prices';
import { zeroUsage } from '../domain/usage';
import { isTableMissing } from './cli-errors';
import { ExitCode, requiredOption, stringOption, type Command } from './command';
import { hours, json, table } from './format';
import { usageFields } from '../domain/usage';

/** Reads a price file (CSV or JSON); errors name the option. */
export async function readPrices(file: string): Promise<PriceTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`--prices: cannot read ${file}: ${ensureError(error).message}`);
  }
  try {
    return new PriceTable(parsePrices(text));
  } catch (error) {
    throw new InputError(`--prices: ${ensureError(error).message}`);
  }
}

function emptyReport(
  from: number,
  to: number,
  asOf: number,
  groupBy: GroupBy | undefined,
): GroupedUsageReport {
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    asOf: new Date(asOf).toISOString(),
    groupBy: groupByName(groupBy),
    rows: [],
    total: { ...zeroUsage, billedHours: 0 },
    sources: { dayPartitions: 0, vmsFromSegments: 0 },
  };
}

const csvColumns = [...usageFields, 'billedHours'] as const;

/** The report as CSV: one line per row, then a `total` line. */
export function usageCsv(report: GroupedUsageReport): string[] {
  const priced = report.currency !== undefined || report.unpriced !== undefined;
  const first = report.groupBy === 'vm' ? 'resourceId' : 'key';
  const header = [
    first,
    ...(first === 'key' ? ['vms'] : []),
    ...csvColumns,
    ...(priced ? ['cost', 'currency'] : []),
  ];
  const line = (name: string | null, f: UsageFigures, vms?: number) =>
    [
      csvField(name),
      ...(first === 'key' ? [csvField(vms ?? '')] : []),
      ...csvColumns.map((c) => csvField(f[c])),
      ...(priced ? [csvField(f.cost ?? ''), csvField(report.currency ?? '')] : []),
    ].join(',');
  return [
    header.join(','),
    ...report.rows.map((r) => ('resourceId' in r ? line(r.resourceId, r) : line(r.key, r, r.vms))),
    line('total', report.total),
  ];
}

export const usageCommand: Command = {
  name: 'usage',
  synopsis: '--from <ISO> --to <ISO>',
  summary: 'billed / not billed / unknown hours per VM or group in [from, to), with costs',
  description: [
    'Billed, not-billed and unknown time of every recorded VM in [from, to), segments clipped at the',
    "edges; time before a VM's first observation, or after now, is unknown. A change known only within",
    'a window is placed at its midpoint; billedSecondsMin / billedSecondsMax bound the billed time.',
    'Whole days come from the daily rollups (VmDailyUsage) where they are up to date, the rest from',
    'the segments: the answer is the same. --group-by sums per subscription, resource group, size,',
    'location or tag value, with the details (tags...) that held on each day. --prices adds costs.',
    '',
    'Example: vm-timeline usage --from 2026-11-01 --to 2026-12-01 --group-by tag:team --prices prices.csv',
  ].join('\n'),
  options: {
    from: {
      type: 'string',
      value: '<ISO>',
      description: 'start of the window, inclusive (ISO 8601, UTC unless an offset is given)',
    },
    to: { type: 'string', value: '<ISO>', description: 'end of the window, exclusive' },
    'group-by': { type: 'string', value: '<group>', description: `one of ${groupByValues} (default vm)` },
    prices: {
      type: 'string',
      value: '<file>',
      description:
        'hourly rates, CSV (vmSize,region,os,hourlyRate,currency[,priority]) or JSON; see `vm-timeline prices`',
    },
    csv: { type: 'boolean', description: 'print CSV' },
  },
  positionals: { min: 0, max: 0 },
  async run(invocation) {
    const from = parseInstant(requiredOption(invocation.options, 'from'), '--from') ?? 0;
    const to = parseInstant(requiredOption(invocation.options, 'to'), '--to') ?? 0;
    checkRange(from, to);
    const groupBy = groupByParameter(stringOption(invocation.options, 'group-by'), '--group-by');
    const pricesFile = stringOption(invocation.options, 'prices');
    const prices = pricesFile === undefined ? undefined : await readPrices(pricesFile);
    const ctx = invocation.context();
    const asOf = Date.now();
    let report: GroupedUsageReport;
    try {
      report = await usageReport(
        { source: ctx.store, daily: ctx.daily },
        { from, to, asOf, groupBy, prices },
      );
    } catch (error) {
      if (!isTableMissing(error)) throw error;
      // No tables under this prefix yet: no VM recorded.
      report = emptyReport(from, to, asOf, groupBy);
    }
    if (invocation.json) {
      invocation.print(json(report));
      return ExitCode.ok;
    }
    if (invocation.options['csv'] === true) {
      usageCsv(report).forEach((l) => invocation.print(l));
      return ExitCode.ok;
    }
    invocation.print(`usage from ${report.from} to ${report.to} (hours)`);
    const priced = prices !== undefined;
    const money = (f: UsageFigures) =>
      priced ? [f.cost === null || f.cost === undefined ? 'n/a' : f.cost.toFixed(2)] : [];
    const line = (name: string, u: UsageFigures) => [
      hours(u.billedSeconds),
      hours(u.notBilledSeconds),
      hours(u.unknownSeconds),
      `${hours(u.billedSecondsMin)}-${hours(u.billedSecondsMax)}`,
      ...money(u),
      name,
    ];
    const heading = groupBy === undefined || groupBy.kind === 'vm' ? 'VM' : report.groupBy.toUpperCase();
    const lines = table(
      [
        [
          'BILLED',
          'NOT BILLED',
          'UNKNOWN',
          'BILLED MIN-MAX',
          ...(priced ? [`COST ${prices.currency ?? ''}`.trim()] : []),
          heading,
        ],
        ...report.rows.map((row) => line('resourceId' in row ? row.resourceId : (row.key ?? '(none)'), row)),
        line('total', report.total),
      ],
      ['right', 'right', 'right', 'right', ...(priced ? (['right'] as const) : []), 'left'],
    );
    lines.forEach((l) => invocation.print(l));
    for (const u of report.unpriced ?? [])
      invocation.print(
        `no rate: ${u.resourceId} (${u.vmSize ?? 'size?'}, ${u.location ?? 'region?'}, ${u.osType ?? 'os?'}${u.priority === null ? '' : `, ${u.priority}`}) ${hours(u.billedSeconds)} billed hours not priced`,
      );
    return ExitCode.ok;
  },
};
