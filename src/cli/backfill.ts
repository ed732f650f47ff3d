/** `vm-timeline backfill`: the Activity Log backfill run inline, one subscription after the other. */
import { backfillSubscriptions, type BackfillSummary } from '../app/backfill';
import { recordBackfillProgress } from '../app/coverage-backfill';
import { ExitCode, stringOption, stringsOption, UsageError, type Command } from './command';
import { json, table } from './format';

const day = (ms: number | undefined): string =>
  ms === undefined ? '-' : new Date(ms).toISOString().slice(0, 10);

/** The summary table: one line per subscription, the counts `--json` gives (README "CLI"). */
export function summaryTable(summaries: readonly BackfillSummary[]): string[] {
  const header = [
    'SUBSCRIPTION',
    'RECORDS',
    'OBSERVATIONS',
    'DUPLICATES',
    'VMS',
    'REQUESTS',
    'THROTTLED',
    'METRIC-READS',
    'NARROWED',
    'SET-OPS',
    'SHARPENED',
    'REACHED',
    'DAYS',
  ];
  const line = (s: BackfillSummary): string[] => [
    s.subscriptionId,
    ...[
      s.records,
      s.observations,
      s.duplicates,
      s.vms,
      s.requests,
      s.throttled,
      s.metricReads,
      s.narrowed,
      s.scaleSetRecords,
      s.sharpened,
    ].map(String),
    day(s.reachedAt),
    s.forbidden ? 'forbidden' : s.error !== undefined ? 'failed' : `${s.slicesDone}/${s.slices}`,
  ];
  return table(
    [header, ...summaries.map(line)],
    ['left', ...header.slice(1, -2).map(() => 'right' as const), 'left', 'right'],
  );
}

export const backfillCommand: Command = {
  name: 'backfill',
  synopsis: '',
  summary: "record the last days of each subscription's Activity Log (history before deployment)",
  description: [
    "Reads each subscription's Activity Log (--subscription, repeatable or comma-separated; else",
    'SUBSCRIPTION_IDS; else every subscription the identity can read) for the last --days days (default',
    'BACKFILL_DAYS, 89; the log keeps 90), one week at a time, and records what it says about VMs and',
    'scale-set instances. Progress is stored per week (VmBackfill): a stopped backfill resumes; records',
    'already recorded (or reported by an event) count as duplicates. Progress on stderr; one summary line',
    'per subscription; exit code 1 when a subscription failed or its log could not be read (403).',
    '',
    'Example: vm-timeline backfill --subscription 00000000-0000-0000-0000-000000000000 --days 30 --json',
  ].join('\n'),
  options: {
    subscription: {
      type: 'string',
      value: '<id>',
      multiple: true,
      description: 'subscription to backfill (repeatable; default SUBSCRIPTION_IDS, else every readable one)',
    },
    days: { type: 'string', value: '<n>', description: 'days of history, 1-89 (default BACKFILL_DAYS)' },
  },
  arguments: [],
  async run(invocation) {
    const daysText = stringOption(invocation.options, 'days');
    const days = daysText === undefined ? undefined : Number(daysText);
    if (days !== undefined && (!/^\d+$/.test(daysText ?? '') || days < 1 || days > 89))
      throw new UsageError('--days must be a whole number from 1 to 89 (the Activity Log keeps 90 days)');
    const ctx = invocation.context();
    await ctx.ensureTables();
    const requested = stringsOption(invocation.options, 'subscription');
    let subscriptionIds = requested.length > 0 ? requested : ctx.config.subscriptionIds;
    if (subscriptionIds.length === 0) {
      subscriptionIds = [];
      for await (const id of ctx.management.listSubscriptions()) subscriptionIds.push(id);
    }
    const progress = (message: string) => invocation.io.stderr.write(`${message}\n`);
    const summaries = await backfillSubscriptions(
      subscriptionIds,
      days ?? ctx.config.backfillInDays,
      { ...ctx, reader: ctx.management },
      {
        budgetInMs: ctx.config.reconcileBudgetInSeconds * 1000,
        onPage: (p) =>
          progress(
            `${p.subscriptionId} ${day(p.from)}: ${p.pages} pages, ${p.records} records, ${p.vms} VMs, reached ${day(p.reachedAt)}`,
          ),
      },
    );
    // The coverage report's backfill column of each watched subscription, from the progress just stored.
    for (const summary of summaries) await recordBackfillProgress(ctx, summary.subscriptionId);
    const ok = summaries.every((s) => s.error === undefined && !s.forbidden);
    if (invocation.json) {
      invocation.print(json({ subscriptions: summaries }));
    } else {
      for (const row of summaryTable(summaries)) invocation.print(row);
      for (const s of summaries)
        if (s.error !== undefined) invocation.print(`${s.subscriptionId}: ${s.error}`);
      if (summaries.length === 0) invocation.print('no subscription to backfill');
    }
    return ok ? ExitCode.ok : ExitCode.failure;
  },
};
