import { output, type InvocationContext, type Timer } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { planBackfill } from '../src/app/backfill';
import { discoverWatchedSubscriptions } from '../src/app/coverage';
import { backfillQueue } from './backfillSlice';

/** The queue that fans reconcile out: one message `{ subscriptionId }` per subscription. */
export const reconcileQueue = output.storageQueue({
  queueName: 'reconcile-subscriptions',
  connection: 'TIMELINE_STORAGE',
});

/**
 * Timer on `%RECONCILE_SCHEDULE%`: discovers the watched subscriptions (under `WATCH_MANAGEMENT_GROUP`,
 * else the configured ones, else every readable one), updates coverage (appeared: backfill pending;
 * disappeared: gone) and enqueues one message per subscription; `reconcileSubscription` does the work.
 */
export function reconcileHandler(contextOf: ContextFactory) {
  return async function reconcile(timer: Timer, context: InvocationContext): Promise<void> {
    const ctx = await contextOf();
    const log = invocationLogger(context);
    const discovery = await discoverWatchedSubscriptions(
      { ...ctx, log },
      { managementGroupId: ctx.config.managementGroupId, subscriptionIds: ctx.config.subscriptionIds },
    );
    const messages = discovery.subscriptionIds.map((subscriptionId) => ({ subscriptionId }));
    context.extraOutputs.set(reconcileQueue, messages);
    // A subscription watched for the first time (no backfill recorded) gets its Activity Log history.
    const slices = [];
    for (const subscriptionId of discovery.subscriptionIds)
      slices.push(...(await planBackfill(subscriptionId, ctx.config.backfillInDays, ctx)));
    if (slices.length > 0) context.extraOutputs.set(backfillQueue, slices);
    log.info('reconcile enqueued', {
      subscriptions: messages.length,
      backfillSlices: slices.length,
      appeared: discovery.appeared.length,
      disappeared: discovery.disappeared.length,
      isPastDue: timer.isPastDue,
    });
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const reconcile = reconcileHandler(hostContext);

export const reconcileFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'timer',
  name: 'reconcile',
  options: {
    schedule: '%RECONCILE_SCHEDULE%',
    extraOutputs: [reconcileQueue, backfillQueue],
    handler: reconcileHandler(contextOf),
  },
});
