/**
 * The timeline against the invoice: per resource and UTC day, the timeline's billed hours next to the
 * hours a Cost Management export metered, and a verdict with the likely reason of a difference.
 *
 * The timeline's billed time is an estimate within bounds: a change known only within a window may
 * lie anywhere in it (`billedSecondsMin`..`billedSecondsMax`), and unknown time (before a VM's first
 * observation, or with no power state) may have been billed or not. The verdict compares the estimate
 * with the export within a tolerance; a difference the bounds explain gets that reason.
 */
import { dayInMs, dayName } from './daily-usage';

export const InvoiceVerdict = {
  agrees: 'agrees',
  timelineShort: 'timelineShort',
  timelineLong: 'timelineLong',
  unknownToTimeline: 'unknownToTimeline',
  absentFromExport: 'absentFromExport',
} as const;
export type InvoiceVerdict = (typeof InvoiceVerdict)[keyof typeof InvoiceVerdict];

export const InvoiceReason = {
  /** A change known only within a window: the export lies within the timeline's billed bounds. */
  window: 'window',
  /** The day has unknown time that would explain the difference. */
  unknownTime: 'unknownTime',
  /** The day is before (or the day of) the VM's first observation. */
  beforeHistory: 'beforeHistory',
} as const;
export type InvoiceReason = (typeof InvoiceReason)[keyof typeof InvoiceReason];

/** What the timeline says of one resource on one day (summed over a scale set's instances). */
export interface TimelineDay {
  billedSeconds: number;
  billedSecondsMin: number;
  billedSecondsMax: number;
  unknownSeconds: number;
  /** The day is before, or is, the day the VM's history begins. */
  beforeHistory: boolean;
}

export interface InvoiceCheckRow {
  resourceId: string;
  /** `yyyy-mm-dd` (UTC). */
  day: string;
  timelineHours: number | null;
  exportHours: number | null;
  differenceHours: number | null;
  verdict: InvoiceVerdict;
  reason: InvoiceReason | null;
}

export interface InvoiceCheckTotals {
  vmDays: number;
  agreeingVmDays: number;
  timelineHours: number;
  exportHours: number;
  /** Hours of the VM-days that agree, counted on the export's side. */
  agreeingExportHours: number;
  verdicts: Record<InvoiceVerdict, number>;
}

const secondsPerHour = 3600;

function round(hours: number): number {
  return Math.round(hours * 1e6) / 1e6;
}

/** Verdict and reason of one resource-day. */
export function verdictOf(
  timeline: TimelineDay | undefined,
  exportHours: number | undefined,
  toleranceInMinutes: number,
): { verdict: InvoiceVerdict; reason: InvoiceReason | null } {
  if (timeline === undefined) return { verdict: InvoiceVerdict.unknownToTimeline, reason: null };
  const tolerance = (toleranceInMinutes * 60) / secondsPerHour;
  const estimate = timeline.billedSeconds / secondsPerHour;
  const metered = exportHours ?? 0;
  const difference = estimate - metered;
  if (Math.abs(difference) <= tolerance) return { verdict: InvoiceVerdict.agrees, reason: null };
  const verdict =
    exportHours === undefined
      ? InvoiceVerdict.absentFromExport
      : difference < 0
        ? InvoiceVerdict.timelineShort
        : InvoiceVerdict.timelineLong;
  const min = timeline.billedSecondsMin / secondsPerHour - tolerance;
  const max = timeline.billedSecondsMax / secondsPerHour + tolerance;
  const unknown = timeline.unknownSeconds / secondsPerHour;
  let reason: InvoiceReason | null = null;
  if (metered >= min && metered <= max) reason = InvoiceReason.window;
  else if (unknown > 0 && metered >= min && metered <= max + unknown)
    reason = timeline.beforeHistory ? InvoiceReason.beforeHistory : InvoiceReason.unknownTime;
  return { verdict, reason };
}

/** One row of the report. */
export function checkRow(
  resourceId: string,
  day: number,
  timeline: TimelineDay | undefined,
  exportHours: number | undefined,
  toleranceInMinutes: number,
): InvoiceCheckRow {
  const { verdict, reason } = verdictOf(timeline, exportHours, toleranceInMinutes);
  const timelineHours = timeline === undefined ? null : round(timeline.billedSeconds / secondsPerHour);
  const metered = exportHours === undefined ? null : round(exportHours);
  return {
    resourceId,
    day: dayName(day),
    timelineHours,
    exportHours: metered,
    differenceHours: timelineHours === null ? null : round(timelineHours - (metered ?? 0)),
    verdict,
    reason,
  };
}

export function totalsOf(rows: readonly InvoiceCheckRow[]): InvoiceCheckTotals {
  const verdicts = Object.fromEntries(Object.values(InvoiceVerdict).map((v) => [v, 0])) as Record<
    InvoiceVerdict,
    number
  >;
  let agreeingVmDays = 0;
  let timelineHours = 0;
  let exportHours = 0;
  let agreeingExportHours = 0;
  for (const row of rows) {
    verdicts[row.verdict]++;
    timelineHours += row.timelineHours ?? 0;
    exportHours += row.exportHours ?? 0;
    if (row.verdict === InvoiceVerdict.agrees) {
      agreeingVmDays++;
      agreeingExportHours += row.exportHours ?? 0;
    }
  }
  return {
    vmDays: rows.length,
    agreeingVmDays,
    timelineHours: round(timelineHours),
    exportHours: round(exportHours),
    agreeingExportHours: round(agreeingExportHours),
    verdicts,
  };
}

/** Adds one VM's day to a scale set's (a scale set billed as one resource is checked as the sum of its instances). */
export function addTimelineDays(a: TimelineDay, b: TimelineDay): TimelineDay {
  return {
    billedSeconds: a.billedSeconds + b.billedSeconds,
    billedSecondsMin: a.billedSecondsMin + b.billedSecondsMin,
    billedSecondsMax: a.billedSecondsMax + b.billedSecondsMax,
    unknownSeconds: a.unknownSeconds + b.unknownSeconds,
    beforeHistory: a.beforeHistory || b.beforeHistory,
  };
}

/** UTC days `[from, to)` as epoch ms starts. */
export function daysOf(from: number, to: number): number[] {
  const days: number[] = [];
  for (let d = Math.floor(from / dayInMs) * dayInMs; d < to; d += dayInMs) days.push(d);
  return days;
}

/** CloudEvent type of a low invoice agreement (a public interface: see README "Alerts"). */
export const invoiceAgreementLowEventType = 'VmBillingTimeline.InvoiceAgreementLow';
export const invoiceAgreementEventSource = '/vm-billing-timeline/invoice-check';

/** The low-agreement alert as published (CloudEvents 1.0 attributes). */
export interface InvoiceAgreementEvent {
  id: string;
  type: typeof invoiceAgreementLowEventType;
  source: string;
  subject: string;
  time: string;
  data: {
    from: string;
    to: string;
    /** Share of VM-days that agree, in percent. */
    agreementPercent: number;
    thresholdPercent: number;
    vmDays: number;
    agreeingVmDays: number;
    verdicts: Record<InvoiceVerdict, number>;
    exportName: string;
  };
}

/** Percent of VM-days that agree; 100 when nothing was checked. */
export function agreementPercent(totals: InvoiceCheckTotals): number {
  return totals.vmDays === 0 ? 100 : round((totals.agreeingVmDays / totals.vmDays) * 100);
}

/** The alert of one check (one id per checked range: a retried run publishes the same event). */
export function invoiceAgreementEvent(input: {
  from: number;
  to: number;
  now: number;
  totals: InvoiceCheckTotals;
  thresholdPercent: number;
  exportName: string;
}): InvoiceAgreementEvent {
  const from = dayName(input.from);
  const to = dayName(input.to);
  return {
    id: `invoice-agreement|${from}|${to}`,
    type: invoiceAgreementLowEventType,
    source: invoiceAgreementEventSource,
    subject: `invoice-check/${from}/${to}`,
    time: new Date(input.now).toISOString(),
    data: {
      from,
      to,
      agreementPercent: agreementPercent(input.totals),
      thresholdPercent: input.thresholdPercent,
      vmDays: input.totals.vmDays,
      agreeingVmDays: input.totals.agreeingVmDays,
      verdicts: input.totals.verdicts,
      exportName: input.exportName,
    },
  };
}
