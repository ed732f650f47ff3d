import { app, output, type InvocationContext, type Timer } from '@azure/functions';
import { invocationLogger } from '../src/adapters/logger';
import { resolveSubscriptions } from '../src/app/reconcile-subscription';
import { appContext } from '../src/composition';
import { loadConfig } from '../src/config';

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
  invocationLogger(context).info('reconcile enqueued', {
    subscriptions: messages.length,
    isPastDue: timer.isPastDue,
  });
}

app.timer('reconcile', {
  schedule: '%RECONCILE_SCHEDULE%',
  extraOutputs: [reconcileQueue],
  handler: reconcile,
});
