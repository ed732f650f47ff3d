/**
 * `checkInvoice`: the timeline's billed hours per VM and UTC day (from `usageReport`, one day at a time:
 * the daily rollups where they are up to date, else the segments) against the hours a Cost Management
 * export metered for the same resource and day.
 *
 * Resource ids match case-insensitively. A scale set that the export bills as one resource (its id is
 * the scale set's) is checked against the sum of its instances' timelines; an instance the export names
 * (`…/virtualMachineScaleSets/<set>/virtualMachines/<n>`) is checked on its own. A VM-day the timeline
 * billed but the export lacks is `absentFromExport` only for days the export covers (it has some row of
 * that day); days outside the export are counted, not judged.
 */
import type { ExportVmDay } from '../domain/cost-export';
import { dayInMs, dayName } from '../domain/daily-usage';
import {
  addTimelineDays,
  checkRow,
  daysOf,
  totalsOf,
  type InvoiceCheckRow,
  type InvoiceCheckTotals,
  type TimelineDay,
} from '../domain/invoice-check';
import { parseComputeResourceId, ResourceKind } from '../domain/resource-id';
import { checkRange } from './queries';
import { usageReport, type UsageReportDependencies } from './usage-report';

function ordinal(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface InvoiceCheckQuery {
  from: number;
  to: number;
  asOf: number;
  toleranceInMinutes: number;
  /** The export's hours per resource and day (days within `[from, to)`). */
  exportDays: readonly ExportVmDay[];
  /** First and last day of any row of the export (`yyyy-mm-dd`): the days it covers. */
  exportFirstDay: string | null;
  exportLastDay: string | null;
}

export interface InvoiceCheckReport {
  from: string;
  to: string;
  toleranceInMinutes: number;
  rows: InvoiceCheckRow[];
  totals: InvoiceCheckTotals & {
    /** VM-days the timeline billed on days the export does not cover (not judged). */
    vmDaysOutsideExport: number;
  };
}

export interface TimelineVm {
  resourceId: string;
  days: Map<number, TimelineDay>;
}

/** The timeline's usage per VM (lower-cased id) and day over `[from, to)`. */
export async function timelineDays(
  deps: UsageReportDependencies,
  from: number,
  to: number,
  asOf: number,
): Promise<Map<string, TimelineVm>> {
  const vms = new Map<string, TimelineVm>();
  for (const day of daysOf(from, to)) {
    const report = await usageReport(deps, { from: day, to: day + dayInMs, asOf });
    for (const row of report.rows) {
      if (!('resourceId' in row)) continue;
      const key = row.resourceId.toLowerCase();
      let vm = vms.get(key);
      if (vm === undefined) {
        vm = { resourceId: row.resourceId, days: new Map() };
        vms.set(key, vm);
      }
      vm.days.set(day, {
        billedSeconds: row.billedSeconds,
        billedSecondsMin: row.billedSecondsMin,
        billedSecondsMax: row.billedSecondsMax,
        unknownSeconds: row.unknownSeconds,
        beforeHistory: false,
      });
    }
  }
  // History begins on the first day with known time; that day and the days before it are "before history".
  for (const vm of vms.values()) {
    const known = [...vm.days.entries()]
      .filter(([, d]) => d.unknownSeconds < dayInMs / 1000)
      .map(([day]) => day);
    const firstKnown = known.length === 0 ? Infinity : Math.min(...known);
    for (const [day, d] of vm.days) d.beforeHistory = day <= firstKnown && d.unknownSeconds > 0;
  }
  return vms;
}

export async function checkInvoice(
  deps: UsageReportDependencies,
  query: InvoiceCheckQuery,
): Promise<InvoiceCheckReport> {
  checkRange(query.from, query.to);
  return compareWithExport(await timelineDays(deps, query.from, query.to, query.asOf), query);
}

/** The report from the timeline's VM-days (see `timelineDays`; empty when nothing was recorded). */
export function compareWithExport(
  timeline: ReadonlyMap<string, TimelineVm>,
  query: InvoiceCheckQuery,
): InvoiceCheckReport {
  const { from, to, toleranceInMinutes } = query;
  /** `<lower id>\n<day>` of timeline VM-days compared with an export row. */
  const compared = new Set<string>();
  const rows: InvoiceCheckRow[] = [];

  for (const exported of query.exportDays) {
    if (exported.day < from || exported.day >= to) continue;
    const id = exported.resourceId.toLowerCase();
    const parsed = parseComputeResourceId(exported.resourceId);
    let day: TimelineDay | undefined;
    if (parsed?.kind === ResourceKind.scaleSet) {
      // Billed per scale set: the sum of its instances.
      const prefix = `${id.replace(/\/+$/, '')}/virtualmachines/`;
      for (const [key, vm] of timeline) {
        if (!key.startsWith(prefix)) continue;
        const instanceDay = vm.days.get(exported.day);
        if (instanceDay === undefined) continue;
        day = day === undefined ? instanceDay : addTimelineDays(day, instanceDay);
        compared.add(`${key}\n${exported.day}`);
      }
    } else {
      day = timeline.get(id)?.days.get(exported.day);
      compared.add(`${id}\n${exported.day}`);
    }
    rows.push(checkRow(exported.resourceId, exported.day, day, exported.hours, toleranceInMinutes));
  }

  let vmDaysOutsideExport = 0;
  for (const [key, vm] of timeline) {
    for (const [day, d] of vm.days) {
      if (d.billedSeconds <= 0 || compared.has(`${key}\n${day}`)) continue;
      const name = dayName(day);
      const covered =
        query.exportFirstDay !== null &&
        query.exportLastDay !== null &&
        name >= query.exportFirstDay &&
        name <= query.exportLastDay;
      if (!covered) {
        vmDaysOutsideExport++;
        continue;
      }
      rows.push(checkRow(vm.resourceId, day, d, undefined, toleranceInMinutes));
    }
  }
  rows.sort(
    (a, b) => ordinal(a.resourceId.toLowerCase(), b.resourceId.toLowerCase()) || ordinal(a.day, b.day),
  );
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    toleranceInMinutes,
    rows,
    totals: { ...totalsOf(rows), vmDaysOutsideExport },
  };
}
