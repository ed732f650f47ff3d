import type { InvocationContext, Timer } from '@azure/functions';
import type { FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { evaluateAlerts, type EvaluationSummary } from '../src/app/evaluate-alerts';
import { alertOptionsFrom, appContext } from '../src/composition';
import { loadConfig } from '../src/config';

/**
 * Timer on `%ALERT_SCHEDULE%` (every minute): evaluates the Stopped (allocated) alerts from the stopped
 * index (cost grows with the stopped VMs, not the fleet), publishes pending alerts, emits the metric.
 */
export async function stoppedAllocatedAlerts(
  timer: Timer,
  context: InvocationContext,
): Promise<EvaluationSummary> {
  const ctx = await appContext(loadConfig);
  const log = invocationLogger(context);
  const summary = await evaluateAlerts({ ...ctx, log }, alertOptionsFrom(ctx.config));
  log.info('stopped allocated alerts evaluated', { ...summary, isPastDue: timer.isPastDue });
  return summary;
}

export const stoppedAllocatedAlertsFunction: FunctionRegistration = {
  kind: 'timer',
  name: 'stoppedAllocatedAlerts',
  options: { schedule: '%ALERT_SCHEDULE%', handler: stoppedAllocatedAlerts },
};
