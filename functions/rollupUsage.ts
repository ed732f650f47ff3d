import type { InvocationContext, Timer } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { rollupUsage } from '../src/app/rollup-usage';

/**
 * Timer on `%ROLLUP_SCHEDULE%`: brings the daily usage rollups (`VmDailyUsage`) and their digests
 * (`VmDailyDigest`) up to date.
 */
export function rollupUsageTimerHandler(contextOf: ContextFactory) {
  return async function rollupUsageTimer(timer: Timer, context: InvocationContext): Promise<void> {
    const ctx = await contextOf();
    const log = invocationLogger(context);
    const summary = await rollupUsage({
      source: ctx.store,
      daily: ctx.daily,
      digests: ctx.digests,
      log,
      now: ctx.now,
    });
    log.info('usage rollup run', { ...summary, isPastDue: timer.isPastDue });
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const rollupUsageTimer = rollupUsageTimerHandler(hostContext);

export const rollupUsageFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'timer',
  name: 'rollupUsage',
  options: { schedule: '%ROLLUP_SCHEDULE%', handler: rollupUsageTimerHandler(contextOf) },
});
