import { app, output, type InvocationContext, type Timer } from '@azure/functions';
import { invocationLogger } from '../src/adapters/logger';
import { planBackfill } from '../src/app/backfill';
import { resolveSubscriptions } from '../src/app/reconcile-subscription';
import { appContext } from '../src/composition';
import { loadConfig } from '../src/config';
import { backfillQueue } from './backfillSlice';

/** The queue that fans reconcile out: one message `{ subscriptionId }` per subscription. */
export const reconcileQueue = output.storageQueue({
  queueName: 'reconcile-subscriptions',
  connection: 'TIMELINE_STORAGE',
});

export interface ReconcileMessage {
  subscriptionId: string;
}

/**
 * Timer on `%RECONCILE_SCHEDULE%`: enqueues one message per subscription (the configured ones, else every
 * subscription the identity can read); `reconcileSubscription` does the work, on as many instances as needed.
 */
export async function reconcile(timer: Timer, context: InvocationContext): Promise<void> {
  const ctx = await appContext(loadConfig);
  const subscriptionIds = await resolveSubscriptions(ctx.management, ctx.config.subscriptionIds);
  const messages = subscriptionIds.map((subscriptionId) => ({ subscriptionId }));
  context.extraOutputs.set(reconcileQueue, messages);
  // A subscription watched for the first time (no backfill recorded) gets its Activity Log history.
  const slices = [];
  for (const subscriptionId of subscriptionIds)
    slices.push(...(await planBackfill(subscriptionId, ctx.config.backfillDays, ctx)));
  if (slices.length > 0) context.extraOutputs.set(backfillQueue, slices);
  invocationLogger(context).info('reconcile enqueued', {
    subscriptions: messages.length,
    backfillSlices: slices.length,
    isPastDue: timer.isPastDue,
  });
}

app.timer('reconcile', {
  schedule: '%RECONCILE_SCHEDULE%',
  extraOutputs: [reconcileQueue, backfillQueue],
  handler: reconcile,
});
