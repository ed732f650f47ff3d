import type { InvocationContext } from '@azure/functions';
import { dequeueCountOf, hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { reconcileQueuedSubscription } from '../src/app/queued-reconcile';
import type { ReconcileSummary } from '../src/app/reconcile';
import { isSubscriptionId, queueMessageFields } from '../src/app/queue-message';
import { reconcileOptionsFrom } from '../src/composition';

/** The subscription id of a queue message `{ subscriptionId }` (object or JSON text); undefined when malformed. */
export function subscriptionIdOf(message: unknown): string | undefined {
  const id = queueMessageFields(message)?.['subscriptionId'];
  return isSubscriptionId(id) ? id : undefined;
}

/**
 * Queue trigger: reconciles one subscription and records the outcome in coverage (and, about once a day,
 * the Event Grid wiring an ARM read finds there). A malformed message is
 * logged and dropped (retrying cannot fix it); a failure is recorded (as poisoned on the last delivery)
 * and thrown so the queue redelivers it.
 */
export function reconcileSubscriptionHandler(contextOf: ContextFactory) {
  return async function reconcileSubscription(
    message: unknown,
    context: InvocationContext,
  ): Promise<ReconcileSummary | undefined> {
    const log = invocationLogger(context);
    const subscriptionId = subscriptionIdOf(message);
    if (subscriptionId === undefined) {
      log.warn('reconcile message rejected', { reason: 'expected { subscriptionId }' });
      return undefined;
    }
    const ctx = await contextOf();
    return reconcileQueuedSubscription(
      subscriptionId,
      { ...ctx, log, wiring: ctx.management },
      reconcileOptionsFrom(ctx.config),
      dequeueCountOf(context),
    );
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const reconcileSubscription = reconcileSubscriptionHandler(hostContext);

export const reconcileSubscriptionFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'storageQueue',
  name: 'reconcileSubscription',
  options: {
    queueName: 'reconcile-subscriptions',
    connection: 'TIMELINE_STORAGE',
    handler: reconcileSubscriptionHandler(contextOf),
  },
});
