import type { InvocationContext, Timer } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { readRecentActivityLog } from '../src/app/backfill';
import { resolveSubscriptions } from '../src/app/reconcile';

/**
 * Timer on `%ACTIVITY_LOG_SCHEDULE%`: reads each watched subscription's recent Activity Log (since the
 * last read, the last hour at most), so starts and deallocations are placed where billing changed.
 */
export function activityLogHandler(contextOf: ContextFactory) {
  return async function activityLog(timer: Timer, context: InvocationContext): Promise<void> {
    const log = invocationLogger(context);
    const ctx = await contextOf();
    const subscriptionIds = await resolveSubscriptions(ctx.management, ctx.config.subscriptionIds);
    for (const subscriptionId of subscriptionIds) {
      const result = await readRecentActivityLog(subscriptionId, { ...ctx, reader: ctx.management, log });
      log.info('activity log read', { ...result, isPastDue: timer.isPastDue });
    }
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const activityLog = activityLogHandler(hostContext);

export const activityLogFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'timer',
  name: 'activityLog',
  options: { schedule: '%ACTIVITY_LOG_SCHEDULE%', handler: activityLogHandler(contextOf) },
});
