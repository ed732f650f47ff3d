/** `vm-timeline reconcile`: the reconciler's use case run inline, one subscription after the other. */
import { reconcileAll, type ReconcileSummary } from '../app/reconcile';
import { reconcileOptionsFrom } from '../composition';
import { ExitCode, stringsOption, type Command } from './command';
import { json, table } from './format';

function line(s: ReconcileSummary): string[] {
  const state =
    s.error !== undefined
      ? 'failed'
      : s.skipped !== undefined
        ? 'skipped'
        : s.complete
          ? 'complete'
          : 'partial';
  return [
    s.subscriptionId,
    String(s.seen),
    String(s.changed),
    String(s.new),
    String(s.deleted),
    String(s.unknown),
    String(s.failed),
    String(s.requests),
    String(s.throttled),
    `${(s.durationInMs / 1000).toFixed(1)}s`,
    state,
  ];
}

/** The `--json` names of the summary's fields that differ from the code's (the output's names stay). */
const jsonNames: Partial<Record<string, string>> = { durationInMs: 'durationMs', pacedInMs: 'pacedMs' };

/** A summary as `--json` prints it: its fields in their order, under their JSON names. */
const summaryJson = (s: ReconcileSummary): Record<string, unknown> =>
  Object.fromEntries(Object.entries(s).map(([name, value]) => [jsonNames[name] ?? name, value]));

export const reconcileCommand: Command = {
  name: 'reconcile',
  synopsis: '',
  summary: "list every VM's power state now and record what changed (what raises no event)",
  description: [
    'Runs the reconciler inline: for each subscription (--subscription, repeatable or comma-separated;',
    'else SUBSCRIPTION_IDS; else every subscription the identity can read) lists every VM with',
    "statusOnly=true and every uniform scale set's instances, compares with VmCurrent and records what",
    'changed, stamped with the window in which it happened. Deletions only after a complete listing.',
    'Size, location, OS type, priority and tags are refreshed when older than DETAILS_REFRESH_MINUTES;',
    '--details refreshes them now (after changing tags, e.g. expected-stopped).',
    'Prints one line per subscription; exit code 1 when a subscription failed or was left partial.',
    '',
    'Example: vm-timeline reconcile --subscription 00000000-0000-0000-0000-000000000000 --json',
  ].join('\n'),
  options: {
    subscription: {
      type: 'string',
      value: '<id>',
      multiple: true,
      description:
        'subscription to reconcile (repeatable; default SUBSCRIPTION_IDS, else every readable one)',
    },
    details: {
      type: 'boolean',
      description: 'refresh size, location, OS type, priority and tags now, whatever their age',
    },
  },
  arguments: [],
  async run(invocation) {
    const ctx = invocation.context();
    await ctx.ensureTables();
    const requested = stringsOption(invocation.options, 'subscription');
    const subscriptionIds = requested.length > 0 ? requested : ctx.config.subscriptionIds;
    const progress = (message: string) => invocation.io.stderr.write(`${message}\n`);
    const summaries = await reconcileAll(
      {
        ...ctx,
        log: {
          ...ctx.log,
          info: (message, properties) => {
            if (message === 'reconcile summary' && !invocation.json) {
              const id = properties?.['subscriptionId'];
              progress(`reconciled ${typeof id === 'string' ? id : ''}`);
            }
            ctx.log.info(message, properties);
          },
        },
      },
      {
        ...reconcileOptionsFrom(ctx.config),
        ...(invocation.options['details'] === true ? { detailsRefreshInMinutes: 0 } : {}),
        subscriptionIds,
        managementGroupId: ctx.config.managementGroupId,
      },
    );
    const ok = summaries.every((s) => s.error === undefined && (s.complete || s.skipped !== undefined));
    if (invocation.json) {
      invocation.print(json({ subscriptions: summaries.map(summaryJson) }));
    } else {
      const header = [
        'SUBSCRIPTION',
        'SEEN',
        'CHANGED',
        'NEW',
        'DELETED',
        'UNKNOWN',
        'FAILED',
        'REQUESTS',
        'THROTTLED',
        'TIME',
        'RUN',
      ];
      for (const row of table(
        [header, ...summaries.map(line)],
        ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
      ))
        invocation.print(row);
      for (const s of summaries)
        if (s.error !== undefined) invocation.print(`${s.subscriptionId}: ${s.error}`);
      if (summaries.length === 0) invocation.print('no subscription to reconcile');
    }
    return ok ? ExitCode.ok : ExitCode.failure;
  },
};
