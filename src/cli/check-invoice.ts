/** `vm-timeline check-invoice --export <file|folder> --from <day> --to <day>`: the timeline against the invoice. */
import { InputError } from '../app/errors';
import { checkInvoice, compareWithExport, type InvoiceCheckReport } from '../app/invoice-check';
import { storeInvoiceCheck } from '../app/invoice-agreement';
import { checkRange } from '../app/queries';
import { dayFromName } from '../domain/daily-usage';
import { csvField } from '../domain/prices';
import { isTableMissing } from '../adapters/storage';
import { ExitCode, requiredOption, stringOption, type Command } from './command';
import { allRunsOption, readExport, statsLine } from './cost-export';
import { json, table } from './format';

function dayOption(value: string, name: string): number {
  const day = dayFromName(value.trim());
  if (day === undefined)
    throw new InputError(`${name} must be a day (yyyy-mm-dd), got ${JSON.stringify(value)}`);
  return day;
}

const csvHeader = [
  'resourceId',
  'day',
  'timelineHours',
  'exportHours',
  'differenceHours',
  'verdict',
  'reason',
] as const;

function share(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${((part / whole) * 100).toFixed(1)}%`;
}

function hoursText(value: number | null): string {
  return value === null ? '-' : value.toFixed(2);
}

export const checkInvoiceCommand: Command = {
  name: 'check-invoice',
  synopsis: '--export <file|folder|container URL> --from <day> --to <day>',
  summary: "the timeline's billed hours per VM and day against a Cost Management export",
  description: [
    "Per VM and UTC day in [from, to): the timeline's billed hours next to the hours the export metered",
    '(Virtual Machines usage rows; FOCUS 1.0 or legacy actual/amortized CSV, gzip, or Parquet), the',
    'difference and a verdict: agrees (within the tolerance), timelineShort, timelineLong,',
    'unknownToTimeline (the export bills a VM the timeline never saw), absentFromExport (the timeline',
    'billed a VM-day the export lacks, on a day the export covers). A difference that the timeline',
    'bounds explain has a reason: window (a change known only within a window), unknownTime,',
    'beforeHistory (the day is before or is the day the VM was first observed). A scale set billed',
    'as one resource is checked against the sum of its instances. Totals: the share of VM-days and of',
    'hours that agree. Exit code 0 whatever the verdicts; 2 for unusable input. --store keeps the rows',
    'in the VmInvoiceCheck table (replacing earlier checks of the same VM-days) for the dashboard.',
    '',
    'Example: vm-timeline check-invoice --export ./exports/2026-11 --from 2026-11-01 --to 2026-12-01',
  ].join('\n'),
  options: {
    export: {
      type: 'string',
      value: '<file|folder|container URL>',
      description:
        'a Cost Management export file, a folder of them (.csv, .csv.gz, .parquet), or the blob container (https://<account>.blob.core.windows.net/<container>[/<prefix>]) scheduled exports write to',
    },
    'all-runs': allRunsOption,
    from: { type: 'string', value: '<day>', description: 'first day, yyyy-mm-dd (UTC)' },
    to: { type: 'string', value: '<day>', description: 'day after the last, yyyy-mm-dd (exclusive)' },
    'tolerance-minutes': {
      type: 'string',
      value: '<n>',
      description: 'a VM-day agrees when the hours differ by at most this (default 5)',
    },
    csv: { type: 'boolean', description: 'print the rows as CSV' },
    store: {
      type: 'boolean',
      description: 'also keep the rows in the VmInvoiceCheck table (the dashboard shows the agreement)',
    },
  },
  arguments: [],
  async run(invocation) {
    const location = requiredOption(invocation.options, 'export');
    const from = dayOption(requiredOption(invocation.options, 'from'), '--from');
    const to = dayOption(requiredOption(invocation.options, 'to'), '--to');
    checkRange(from, to);
    const toleranceText = stringOption(invocation.options, 'tolerance-minutes') ?? '5';
    const toleranceInMinutes = Number(toleranceText);
    if (!/^\d+(\.\d+)?$/.test(toleranceText.trim()) || !Number.isFinite(toleranceInMinutes))
      throw new InputError('--tolerance-minutes must be a number of minutes >= 0');
    const exported = await readExport(location, '--export', {
      range: { from, to },
      allRuns: invocation.options['all-runs'] === true,
    });
    const stats = exported.stats();
    const ctx = invocation.context();
    let report: InvoiceCheckReport;
    const query = {
      from,
      to,
      asOf: Date.now(),
      toleranceInMinutes,
      exportDays: exported.vmDays(),
      exportFirstDay: stats.firstDay,
      exportLastDay: stats.lastDay,
    };
    try {
      report = await checkInvoice({ source: ctx.store, daily: ctx.daily }, query);
    } catch (error) {
      if (!isTableMissing(error)) throw error;
      // No tables under this prefix yet: the timeline knows no VM.
      report = compareWithExport(new Map(), query);
    }
    if (invocation.options['store'] === true) {
      await ctx.ensureTables();
      const stored = await storeInvoiceCheck(ctx.invoiceChecks, report.rows, {
        exportName: location,
        checkedAt: query.asOf,
        toleranceInMinutes,
      });
      invocation.io.stderr.write(`stored ${stored} rows in ${ctx.tableNames.invoiceCheck}\n`);
    }
    if (invocation.json) {
      invocation.print(json({ ...report, export: stats }));
      return ExitCode.ok;
    }
    if (invocation.options['csv'] === true) {
      invocation.print(csvHeader.join(','));
      for (const row of report.rows) invocation.print(csvHeader.map((c) => csvField(row[c])).join(','));
      return ExitCode.ok;
    }
    const t = report.totals;
    invocation.print(
      `invoice check from ${report.from.slice(0, 10)} to ${report.to.slice(0, 10)} (hours, tolerance ${toleranceInMinutes} min)`,
    );
    table(
      [
        ['TIMELINE', 'EXPORT', 'DIFF', 'VERDICT', 'REASON', 'DAY', 'VM'],
        ...report.rows.map((r) => [
          hoursText(r.timelineHours),
          hoursText(r.exportHours),
          hoursText(r.differenceHours),
          r.verdict,
          r.reason ?? '',
          r.day,
          r.resourceId,
        ]),
      ],
      ['right', 'right', 'right', 'left', 'left', 'left', 'left'],
    ).forEach((l) => invocation.print(l));
    invocation.print(
      `agree: ${t.agreeingVmDays} of ${t.vmDays} VM-days (${share(t.agreeingVmDays, t.vmDays)}), ${t.agreeingExportHours.toFixed(2)} of ${t.exportHours.toFixed(2)} export hours (${share(t.agreeingExportHours, t.exportHours)}); timeline ${t.timelineHours.toFixed(2)} hours`,
    );
    const others = Object.entries(t.verdicts)
      .filter(([v, n]) => v !== 'agrees' && n > 0)
      .map(([v, n]) => `${n} ${v}`);
    if (others.length > 0) invocation.print(`disagree: ${others.join(', ')}`);
    if (t.vmDaysOutsideExport > 0)
      invocation.print(
        `not judged: ${t.vmDaysOutsideExport} billed VM-days on days the export does not cover`,
      );
    invocation.io.stderr.write(`${statsLine(stats)}\n`);
    return ExitCode.ok;
  },
};
