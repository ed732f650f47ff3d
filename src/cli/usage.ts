/** `vm-timeline usage --from --to`: billed / not-billed / unknown time per VM over a window. */
import { computeUsage, checkRange, parseInstant, type UsageReport } from '../app/queries';
import { zeroUsage } from '../domain/usage';
import { isTableMissing } from './cli-errors';
import { ExitCode, requiredOption, type Command } from './command';
import { hours, json, table } from './format';

export const usageCommand: Command = {
  name: 'usage',
  synopsis: '--from <ISO> --to <ISO>',
  summary: 'billed / not billed / unknown hours per VM in [from, to)',
  description: [
    'Billed, not-billed and unknown time of every recorded VM in [from, to), segments clipped at the',
    "edges; time before a VM's first observation, or after now, is unknown. A change known only within",
    'a window is placed at its midpoint; billedSecondsMin / billedSecondsMax bound the billed time.',
  ].join('\n'),
  options: {
    from: {
      type: 'string',
      value: '<ISO>',
      description: 'start of the window, inclusive (ISO 8601, UTC unless an offset is given)',
    },
    to: { type: 'string', value: '<ISO>', description: 'end of the window, exclusive' },
  },
  positionals: { min: 0, max: 0 },
  async run(invocation) {
    const from = parseInstant(requiredOption(invocation.options, 'from'), '--from') ?? 0;
    const to = parseInstant(requiredOption(invocation.options, 'to'), '--to') ?? 0;
    checkRange(from, to);
    const ctx = invocation.context();
    let report: UsageReport;
    try {
      report = await computeUsage(ctx.store, from, to, Date.now());
    } catch (error) {
      if (!isTableMissing(error)) throw error;
      // No tables under this prefix yet: no VM recorded.
      report = {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        rows: [],
        total: { ...zeroUsage },
      };
    }
    if (invocation.json) {
      invocation.print(json(report));
      return ExitCode.ok;
    }
    invocation.print(`usage from ${report.from} to ${report.to} (hours)`);
    const line = (name: string, u: UsageReport['total']) => [
      hours(u.billedSeconds),
      hours(u.notBilledSeconds),
      hours(u.unknownSeconds),
      `${hours(u.billedSecondsMin)}-${hours(u.billedSecondsMax)}`,
      name,
    ];
    const lines = table(
      [
        ['BILLED', 'NOT BILLED', 'UNKNOWN', 'BILLED MIN-MAX', 'VM'],
        ...report.rows.map((row) => line(row.resourceId, row)),
        line('total', report.total),
      ],
      ['right', 'right', 'right', 'right', 'left'],
    );
    lines.forEach((l) => invocation.print(l));
    return ExitCode.ok;
  },
};
