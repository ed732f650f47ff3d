import type { InvocationContext, Timer } from '@azure/functions';
import type { FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { rollupUsage } from '../src/app/rollup-usage';
import { appContext } from '../src/composition';
import { loadConfig } from '../src/config';

/** Timer on `%ROLLUP_SCHEDULE%`: brings the daily usage rollups (`VmDailyUsage`) up to date. */
export async function rollupUsageTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const ctx = await appContext(loadConfig);
  const log = invocationLogger(context);
  const summary = await rollupUsage({ source: ctx.store, daily: ctx.daily, log, now: ctx.now });
  log.info('usage rollup run', { ...summary, isPastDue: timer.isPastDue });
}

export const rollupUsageFunction: FunctionRegistration = {
  kind: 'timer',
  name: 'rollupUsage',
  options: { schedule: '%ROLLUP_SCHEDULE%', handler: rollupUsageTimer },
};
