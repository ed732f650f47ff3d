import { app, type InvocationContext, type Timer } from '@azure/functions';
import { invocationLogger } from '../src/adapters/logger';
import { runScheduledInvoiceCheck } from '../src/app/scheduled-invoice-check';
import { appContext } from '../src/composition';
import { loadConfig } from '../src/config';

/**
 * Timer on `%INVOICE_CHECK_SCHEDULE%`: checks the timeline against the scheduled cost export in
 * `COST_EXPORT_CONTAINER` (nothing to do when it is empty), stores the rows and alerts below
 * `INVOICE_AGREEMENT_ALERT_PERCENT`.
 */
export async function invoiceCheckTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const ctx = await appContext(loadConfig);
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
}

app.timer('invoiceCheck', { schedule: '%INVOICE_CHECK_SCHEDULE%', handler: invoiceCheckTimer });
