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
  type UsageReportRow,
} from '../app/usage-report';
import { groupByValues, type GroupBy } from '../domain/grouping';
import { csvField, parsePrices, PriceTable } from '../domain/prices';
import { zeroUsage } from '../domain/usage';
import { isTableMissing } from '../adapters/storage';
import { ExitCode, requiredOption, stringOption, type Command } from './command';
import { columns, hours, json, table } from './format';
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

/** CSV lines of a report: the header, a line per row, the `total` line. */
function csvLines(report: Pick<GroupedUsageReport, 'groupBy' | 'currency'>, priced: boolean) {
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
  return {
    header: header.join(','),
    row: (r: UsageReportRow) => ('resourceId' in r ? line(r.resourceId, r) : line(r.key, r, r.vms)),
    total: (f: UsageFigures) => line('total', f),
  };
}

/** The report as CSV: one line per row, then a `total` line. */
export function usageCsv(report: GroupedUsageReport): string[] {
  const csv = csvLines(report, report.currency !== undefined || report.unpriced !== undefined);
  return [csv.header, ...report.rows.map(csv.row), csv.total(report.total)];
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
        "hourly rates, CSV (vmSize,region,os,hourlyRate,currency[,priority][,resourceId,day]) or JSON; a VM's own rate for a day wins; see `vm-timeline prices`",
    },
    csv: { type: 'boolean', description: 'print CSV' },
  },
  arguments: [],
  async run(invocation) {
    const from = parseInstant(requiredOption(invocation.options, 'from'), '--from') ?? 0;
    const to = parseInstant(requiredOption(invocation.options, 'to'), '--to') ?? 0;
    checkRange(from, to);
    const groupBy = groupByParameter(stringOption(invocation.options, 'group-by'), '--group-by');
    const pricesFile = stringOption(invocation.options, 'prices');
    const prices = pricesFile === undefined ? undefined : await readPrices(pricesFile);
    const ctx = invocation.context();
    const asOf = Date.now();
    const priced = prices !== undefined;
    const format = invocation.json ? 'json' : invocation.options['csv'] === true ? 'csv' : 'text';
    const byVm = groupBy === undefined || groupBy.kind === 'vm';
    const money = (f: UsageFigures) =>
      priced ? [f.cost === null || f.cost === undefined ? 'n/a' : f.cost.toFixed(2)] : [];
    const cells = (name: string, u: UsageFigures) => [
      hours(u.billedSeconds),
      hours(u.notBilledSeconds),
      hours(u.unknownSeconds),
      `${hours(u.billedSecondsMin)}-${hours(u.billedSecondsMax)}`,
      ...money(u),
      name,
    ];
    const heading = [
      'BILLED',
      'NOT BILLED',
      'UNKNOWN',
      'BILLED MIN-MAX',
      ...(priced ? [`COST ${prices.currency ?? ''}`.trim()] : []),
      byVm ? 'VM' : groupByName(groupBy).toUpperCase(),
    ];
    const align = [
      'right',
      'right',
      'right',
      'right',
      ...(priced ? (['right'] as const) : []),
      'left',
    ] as const;
    const title = (from: string, to: string) => `usage from ${from} to ${to} (hours)`;

    // By VM the rows are printed as each chunk of VMs completes: nothing of the whole fleet is held.
    const csv = csvLines({ groupBy: 'vm', currency: prices?.currency }, priced);
    const widths = [10, 10, 10, 19, ...(priced ? [12] : [])];
    const line = columns(widths, align);
    const headingLine = columns(widths);
    let started = false;
    let held: string | undefined;
    const start = () => {
      if (started) return;
      started = true;
      if (format === 'json') {
        invocation.print('{');
        for (const [name, value] of [
          ['from', new Date(from).toISOString()],
          ['to', new Date(to).toISOString()],
          ['asOf', new Date(asOf).toISOString()],
          ['groupBy', 'vm'],
        ])
          invocation.print(`  ${JSON.stringify(name)}: ${JSON.stringify(value)},`);
        invocation.print('  "rows": [');
      } else if (format === 'csv') invocation.print(csv.header);
      else {
        invocation.print(title(new Date(from).toISOString(), new Date(to).toISOString()));
        invocation.print(headingLine(heading));
      }
    };
    const onRow = (row: UsageReportRow) => {
      start();
      if (format === 'json') {
        if (held !== undefined) invocation.print(`${held},`);
        held = `    ${JSON.stringify(row)}`;
      } else if (format === 'csv') invocation.print(csv.row(row));
      else invocation.print(line(cells('resourceId' in row ? row.resourceId : '', row)));
    };
    let report: GroupedUsageReport;
    try {
      report = await usageReport(
        { source: ctx.store, daily: ctx.daily },
        { from, to, asOf, groupBy, prices },
        byVm ? { onRow } : {},
      );
    } catch (error) {
      if (!isTableMissing(error) || started) throw error;
      // No tables under this prefix yet: no VM recorded.
      report = emptyReport(from, to, asOf, groupBy);
    }
    if (byVm) {
      start();
      if (format === 'json') {
        if (held !== undefined) invocation.print(held);
        const { from: _f, to: _t, asOf: _a, groupBy: _g, rows: _r, ...rest } = report;
        const tail = Object.entries(rest).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
        invocation.print(tail.length === 0 ? '  ]' : '  ],');
        invocation.print(`${tail.join(',\n')}\n}`);
        return ExitCode.ok;
      }
      if (format === 'csv') {
        invocation.print(csv.total(report.total));
        return ExitCode.ok;
      }
      invocation.print(line(cells('total', report.total)));
    } else if (format === 'json') {
      invocation.print(json(report));
      return ExitCode.ok;
    } else if (format === 'csv') {
      usageCsv(report).forEach((l) => invocation.print(l));
      return ExitCode.ok;
    } else {
      invocation.print(title(report.from, report.to));
      const lines = table(
        [
          heading,
          ...report.rows.map((row) =>
            cells('resourceId' in row ? row.resourceId : (row.key ?? '(none)'), row),
          ),
          cells('total', report.total),
        ],
        [...align],
      );
      lines.forEach((l) => invocation.print(l));
    }
    for (const u of report.unpriced ?? [])
      invocation.print(
        `no rate: ${u.resourceId}${u.day === undefined ? '' : ` on ${u.day}`} (${u.vmSize ?? 'size?'}, ${u.location ?? 'region?'}, ${u.osType ?? 'os?'}${u.priority === null ? '' : `, ${u.priority}`}) ${hours(u.billedSeconds)} billed hours not priced`,
      );
    return ExitCode.ok;
  },
};
