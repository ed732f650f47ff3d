/**
 * The daily invoice check (`invoiceCheck` timer): reads the scheduled export in the app's storage, checks
 * the timeline against it over the days it covers (at most the last 31 complete UTC days), stores the
 * rows (`VmInvoiceCheck`), logs the agreement and alerts through the alert topic when the share of
 * VM-days that agree falls below the setting.
 */
import type { AlertPublisher } from './alert-ports';
import { compareWithExport, timelineDays } from './invoice-check';
import { storeInvoiceCheck, type InvoiceCheckStore } from './invoice-agreement';
import type { Logger } from './ports';
import type { UsageReportDependencies } from './usage-report';
import type { ExportAccumulator } from '../domain/cost-export';
import { dayFromName, dayInMs, dayStartOf } from '../domain/daily-usage';
import { agreementPercent, invoiceAgreementEvent } from '../domain/invoice-check';

/** Port: reads an export (a blob container URL) into an accumulator over `[from, to)`. */
export type ExportReader = (
  location: string,
  range: { from: number; to: number },
) => Promise<ExportAccumulator>;

export interface ScheduledInvoiceCheckDependencies extends UsageReportDependencies {
  readExport: ExportReader;
  invoiceChecks: InvoiceCheckStore;
  alertPublisher: AlertPublisher | undefined;
  log: Logger;
}

export interface ScheduledInvoiceCheckOptions {
  now: number;
  container: string;
  toleranceInMinutes: number;
  /** Alert when the share of agreeing VM-days is below this percent; 0: never. */
  alertBelowPercent: number;
  lookbackInDays?: number;
}

export interface ScheduledInvoiceCheckSummary {
  from: string | null;
  to: string | null;
  vmDays: number;
  agreeingVmDays: number;
  agreementPercent: number;
  alerted: boolean;
}

export async function runScheduledInvoiceCheck(
  deps: ScheduledInvoiceCheckDependencies,
  options: ScheduledInvoiceCheckOptions,
): Promise<ScheduledInvoiceCheckSummary> {
  const today = dayStartOf(options.now);
  const earliest = today - (options.lookbackInDays ?? 31) * dayInMs;
  const exported = await deps.readExport(options.container, { from: earliest, to: today });
  const stats = exported.stats();
  const first = stats.firstDay === null ? undefined : dayFromName(stats.firstDay);
  const last = stats.lastDay === null ? undefined : dayFromName(stats.lastDay);
  if (first === undefined || last === undefined || last < earliest) {
    deps.log.warn('invoice check: the export covers no recent day', { container: options.container });
    return { from: null, to: null, vmDays: 0, agreeingVmDays: 0, agreementPercent: 100, alerted: false };
  }
  const from = Math.max(first, earliest);
  const to = Math.min(last + dayInMs, today);
  const query = {
    from,
    to,
    asOf: options.now,
    toleranceInMinutes: options.toleranceInMinutes,
    exportDays: exported.vmDays(),
    exportFirstDay: stats.firstDay,
    exportLastDay: stats.lastDay,
  };
  const report = compareWithExport(await timelineDays(deps, from, to, options.now), query);
  await storeInvoiceCheck(deps.invoiceChecks, report.rows, {
    exportName: options.container,
    checkedAt: options.now,
    toleranceInMinutes: options.toleranceInMinutes,
  });
  const percent = agreementPercent(report.totals);
  const summary = {
    from: report.from,
    to: report.to,
    vmDays: report.totals.vmDays,
    agreeingVmDays: report.totals.agreeingVmDays,
    agreementPercent: percent,
    alerted: false,
  };
  deps.log.info('invoice check run', {
    ...summary,
    verdicts: report.totals.verdicts,
    rowsRead: stats.rowsRead,
  });
  if (options.alertBelowPercent > 0 && report.totals.vmDays > 0 && percent < options.alertBelowPercent) {
    const event = invoiceAgreementEvent({
      from,
      to,
      now: options.now,
      totals: report.totals,
      thresholdPercent: options.alertBelowPercent,
      exportName: options.container,
    });
    if (deps.alertPublisher === undefined) {
      deps.log.warn('invoice agreement below the alert setting (no alert topic: logged only)', event.data);
    } else {
      await deps.alertPublisher.publish(event);
      summary.alerted = true;
      deps.log.warn('invoice agreement below the alert setting: alert published', {
        ...event.data,
        eventId: event.id,
      });
    }
  }
  return summary;
}
