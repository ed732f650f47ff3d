import type { InvocationContext, Timer } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { evaluateAlerts, type EvaluationSummary } from '../src/app/evaluate-alerts';
import { alertOptionsFrom } from '../src/composition';

/**
 * Timer on `%ALERT_SCHEDULE%` (every minute): evaluates the Stopped (allocated) alerts from the stopped
 * index (cost grows with the stopped VMs, not the fleet), publishes pending alerts, emits the metric.
 */
export function stoppedAllocatedAlertsHandler(contextOf: ContextFactory) {
  return async function stoppedAllocatedAlerts(
    timer: Timer,
    context: InvocationContext,
  ): Promise<EvaluationSummary> {
    const ctx = await contextOf();
    const log = invocationLogger(context);
    const summary = await evaluateAlerts({ ...ctx, log }, alertOptionsFrom(ctx.config));
    log.info('stopped allocated alerts evaluated', { ...summary, isPastDue: timer.isPastDue });
    return summary;
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const stoppedAllocatedAlerts = stoppedAllocatedAlertsHandler(hostContext);

export const stoppedAllocatedAlertsFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'timer',
  name: 'stoppedAllocatedAlerts',
  options: { schedule: '%ALERT_SCHEDULE%', handler: stoppedAllocatedAlertsHandler(contextOf) },
});
