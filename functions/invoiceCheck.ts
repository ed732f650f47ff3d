import type { InvocationContext, Timer } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { runScheduledInvoiceCheck } from '../src/app/scheduled-invoice-check';

/**
 * Timer on `%INVOICE_CHECK_SCHEDULE%`: checks the timeline against the scheduled cost export in
 * `COST_EXPORT_CONTAINER` (nothing to do when it is empty), stores the rows and alerts below
 * `INVOICE_AGREEMENT_ALERT_PERCENT`.
 */
export function invoiceCheckTimerHandler(contextOf: ContextFactory) {
  return async function invoiceCheckTimer(timer: Timer, context: InvocationContext): Promise<void> {
    const ctx = await contextOf();
    const log = invocationLogger(context);
    const container = ctx.config.costExportContainer;
    if (container === undefined) {
      log.info('invoice check skipped: COST_EXPORT_CONTAINER is empty', { isPastDue: timer.isPastDue });
      return;
    }
    await runScheduledInvoiceCheck(
      { ...ctx, source: ctx.store, log },
      {
        now: ctx.now(),
        container,
        toleranceInMinutes: 5,
        alertBelowPercent: ctx.config.invoiceAgreementAlertPercent,
      },
    );
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const invoiceCheckTimer = invoiceCheckTimerHandler(hostContext);

export const invoiceCheckFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'timer',
  name: 'invoiceCheck',
  options: { schedule: '%INVOICE_CHECK_SCHEDULE%', handler: invoiceCheckTimerHandler(contextOf) },
});
