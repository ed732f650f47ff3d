import type { InvocationContext } from '@azure/functions';
import type { FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { recordReconcileFailure, recordReconcileOutcome } from '../src/app/coverage';
import { reconcileSubscription as reconcileOne, type ReconcileSummary } from '../src/app/reconcile-subscription';
import { isSubscriptionId, queueMessageFields } from '../src/app/queue-message';
import { appContext, reconcileOptionsFrom } from '../src/composition';
import { loadConfig } from '../src/config';

/** The subscription id of a queue message `{ subscriptionId }` (object or JSON text); undefined when malformed. */
export function subscriptionIdOf(message: unknown): string | undefined {
  const id = queueMessageFields(message)?.['subscriptionId'];
  return isSubscriptionId(id) ? id : undefined;
}

/**
 * Queue trigger: reconciles one subscription and records the outcome in coverage. A malformed message is
 * logged and dropped (retrying cannot fix it); a failure is recorded (as poisoned on the last delivery)
 * and thrown so the queue redelivers it.
 */
export async function reconcileSubscription(
  message: unknown,
  context: InvocationContext,
): Promise<ReconcileSummary | undefined> {
  const log = invocationLogger(context);
  const subscriptionId = subscriptionIdOf(message);
  if (subscriptionId === undefined) {
    log.warn('reconcile message rejected', { reason: 'expected { subscriptionId }' });
    return undefined;
  }
  const ctx = await appContext(loadConfig);
  const deps = { ...ctx, log };
  let summary: ReconcileSummary;
  try {
    summary = await reconcileOne(subscriptionId, deps, reconcileOptionsFrom(ctx.config));
  } catch (error) {
    const dequeueCount = context.triggerMetadata?.['dequeueCount'];
    await recordReconcileFailure(
      deps,
      subscriptionId,
      error,
      typeof dequeueCount === 'number' ? dequeueCount : undefined,
    ).catch(() => log.warn('coverage not recorded', { subscriptionId }));
    throw error;
  }
  await recordReconcileOutcome(deps, summary);
  return summary;
}

export const reconcileSubscriptionFunction: FunctionRegistration = {
  kind: 'storageQueue',
  name: 'reconcileSubscription',
  options: {
    queueName: 'reconcile-subscriptions',
    connection: 'TIMELINE_STORAGE',
    handler: reconcileSubscription,
  },
};
