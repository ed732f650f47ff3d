import { output, type InvocationContext } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import {
  backfillMessageOf,
  backfillSlice as backfillOne,
  type BackfillSliceResult,
} from '../src/app/backfill';

/** One message `{ subscriptionId, from, to }` per subscription and time slice of its Activity Log. */
export const backfillQueue = output.storageQueue({
  queueName: 'backfill-slices',
  connection: 'TIMELINE_STORAGE',
});

/**
 * Queue trigger: reads one slice of a subscription's Activity Log into observations, resuming where its
 * stored progress stopped. Near its time budget it sends the same message again (the next invocation
 * resumes); a transient failure throws so the queue redelivers; a malformed message is dropped.
 */
export function backfillSliceHandler(contextOf: ContextFactory) {
  return async function backfillSlice(
    message: unknown,
    context: InvocationContext,
  ): Promise<BackfillSliceResult | undefined> {
    const log = invocationLogger(context);
    const slice = backfillMessageOf(message);
    if (slice === undefined) {
      log.warn('backfill message rejected', { reason: 'expected { subscriptionId, from, to }' });
      return undefined;
    }
    const ctx = await contextOf();
    const result = await backfillOne(
      slice,
      { ...ctx, reader: ctx.management, log },
      { budgetInMs: ctx.config.reconcileBudgetSeconds * 1000 },
    );
    if (!result.complete) context.extraOutputs.set(backfillQueue, [message]);
    return result;
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const backfillSlice = backfillSliceHandler(hostContext);

export const backfillSliceFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'storageQueue',
  name: 'backfillSlice',
  options: {
    queueName: 'backfill-slices',
    connection: 'TIMELINE_STORAGE',
    extraOutputs: [backfillQueue],
    handler: backfillSliceHandler(contextOf),
  },
});
