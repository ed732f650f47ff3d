import { output, type InvocationContext } from '@azure/functions';
import { dequeueCountOf, hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import {
  backfillMessageOf,
  backfillSlice as backfillOne,
  type BackfillSliceResult,
} from '../src/app/backfill';
import { recordBackfillProgress } from '../src/app/coverage-backfill';

/** One message `{ subscriptionId, from, to }` per subscription and time slice of its Activity Log. */
export const backfillQueue = output.storageQueue({
  queueName: 'backfill-slices',
  connection: 'TIMELINE_STORAGE',
});

/**
 * Queue trigger: reads one slice of a subscription's Activity Log into observations, resuming where its
 * stored progress stopped. Near its time budget it sends the same message again (the next invocation
 * resumes); a transient failure throws so the queue redelivers; a malformed message is dropped. Each run
 * brings the subscription's coverage row (backfill column) up to date from the stored progress.
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
    const deps = { ...ctx, reader: ctx.management, log };
    let result: BackfillSliceResult;
    try {
      result = await backfillOne(slice, deps, { budgetInMs: ctx.config.reconcileBudgetInSeconds * 1000 });
    } catch (error) {
      await recordBackfillProgress(deps, slice.subscriptionId, {
        error,
        dequeueCount: dequeueCountOf(context),
      });
      throw error;
    }
    if (!result.complete) context.extraOutputs.set(backfillQueue, [message]);
    // The coverage report's backfill column: running with the day reached, done, or failed.
    await recordBackfillProgress(deps, slice.subscriptionId);
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
