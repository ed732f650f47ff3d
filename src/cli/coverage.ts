/** `vm-timeline coverage`: per watched subscription, last complete reconcile, last event, backfill, errors. */
import { coverageReport } from '../app/coverage';
import { ExitCode, type Command } from './command';
import { json, table } from './format';

export const coverageCommand: Command = {
  name: 'coverage',
  synopsis: '',
  summary: 'which subscriptions are watched: last complete reconcile, last event, backfill, errors',
  description: [
    'Prints one line per subscription the app watches or watched (the VmCoverage table, kept by the',
    'reconcile timer and workers): present or gone (no longer under the management group / configured /',
    'readable), the last complete reconcile, how the last run ended (complete, incomplete, throttled,',
    'failing, forbidden: the identity lost access, notFound: the subscription vanished, failed, poisoned),',
    'the last event received and what that hints of the event wiring (EVENTS: receiving: within a day;',
    'silent: none for a day, which an idle subscription also shows; none: never), the event wiring an ARM',
    'read found (WIRING, resource events/health events, read about once a day by the reconcile: wired,',
    'missing, forbidden: the identity may not read Event Grid there, unknown: the read failed; - before the',
    'first read), the Activity Log backfill state (pending, running with the day reached back to, done,',
    'failed: a slice refused or its message poisoned) and the last error. Exit code 1 when a present',
    'subscription needs attention (last run not complete).',
    'JSON: { asOf, subscriptions: [{ subscriptionId, displayName, managementGroupId, presence,',
    'lastCompleteReconcileAt, lastOutcome, lastError, lastEventAt, eventWiring, wiringFound: { resourceEvents,',
    'healthEvents, checkedAt, error }, backfill, backfillProgress: { slices, slicesDone, reachedAt, reachedDay,',
    'error }, poisonReason, ... }], totals }.',
    '',
    'Example: vm-timeline coverage --json',
  ].join('\n'),
  options: {},
  arguments: [],
  async run(invocation) {
    const ctx = invocation.context();
    await ctx.ensureTables();
    const report = await coverageReport(ctx);
    const ok = report.totals.attention === 0;
    if (invocation.json) {
      invocation.print(json(report));
      return ok ? ExitCode.ok : ExitCode.failure;
    }
    const when = (value: string | null) => (value === null ? '-' : value.slice(0, 16).replace('T', ' '));
    const rows = report.subscriptions.map((r) => [
      r.subscriptionId,
      r.presence,
      when(r.lastCompleteReconcileAt),
      r.lastOutcome ?? '-',
      when(r.lastEventAt),
      r.eventWiring,
      r.wiringFound.checkedAt === null
        ? '-'
        : `${r.wiringFound.resourceEvents ?? '-'}/${r.wiringFound.healthEvents ?? '-'}`,
      r.backfill === 'running' && r.backfillProgress?.reachedDay
        ? `running (${r.backfillProgress.reachedDay})`
        : (r.backfill ?? '-'),
      r.poisonReason ?? r.lastError ?? r.backfillProgress?.error ?? r.wiringFound.error ?? '',
    ]);
    for (const line of table(
      [
        [
          'SUBSCRIPTION',
          'PRESENCE',
          'LAST COMPLETE',
          'LAST RUN',
          'LAST EVENT',
          'EVENTS',
          'WIRING',
          'BACKFILL',
          'ERROR',
        ],
        ...rows,
      ],
      ['left'],
    ))
      invocation.print(line);
    const t = report.totals;
    invocation.print(
      `present: ${t.present}, gone: ${t.gone}, complete: ${t.complete}, attention: ${t.attention}, backfill pending: ${t.backfillPending}, no event for a day: ${t.withoutRecentEvents}, wiring missing: ${t.wiringMissing}`,
    );
    return ok ? ExitCode.ok : ExitCode.failure;
  },
};
