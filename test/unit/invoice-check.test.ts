import { describe, expect, it } from 'vitest';
import { compareWithExport, type TimelineVm } from '../../src/app/invoice-check';
import {
  checkRow,
  InvoiceReason,
  InvoiceVerdict,
  verdictOf,
  type TimelineDay,
} from '../../src/domain/invoice-check';

const h = 3600;
const known = (billedHours: number, extra: Partial<TimelineDay> = {}): TimelineDay => ({
  billedSeconds: billedHours * h,
  billedSecondsMin: billedHours * h,
  billedSecondsMax: billedHours * h,
  unknownSeconds: 0,
  beforeHistory: false,
  ...extra,
});

describe('verdictOf', () => {
  it('agrees within the tolerance and not beyond it', () => {
    expect(verdictOf(known(10), 10 + 4 / 60, 5)).toEqual({ verdict: InvoiceVerdict.agrees, reason: null });
    expect(verdictOf(known(10), 10 + 6 / 60, 5)).toEqual({
      verdict: InvoiceVerdict.timelineShort,
      reason: null,
    });
    expect(verdictOf(known(10), 9, 5)).toEqual({ verdict: InvoiceVerdict.timelineLong, reason: null });
  });

  it('gives the reason the timeline knows: a window, unknown time, a day before history began', () => {
    const windowed = known(10, { billedSecondsMin: 9 * h, billedSecondsMax: 11 * h });
    expect(verdictOf(windowed, 10.8, 5)).toEqual({
      verdict: InvoiceVerdict.timelineShort,
      reason: InvoiceReason.window,
    });
    const unknown = known(10, { unknownSeconds: 3 * h });
    expect(verdictOf(unknown, 12, 5)).toEqual({
      verdict: InvoiceVerdict.timelineShort,
      reason: InvoiceReason.unknownTime,
    });
    expect(verdictOf({ ...unknown, beforeHistory: true }, 12, 5).reason).toBe(InvoiceReason.beforeHistory);
    // More than the unknown time can explain.
    expect(verdictOf(unknown, 14, 5)).toEqual({ verdict: InvoiceVerdict.timelineShort, reason: null });
  });

  it('names a VM the timeline never saw and a billed VM-day the export lacks', () => {
    expect(verdictOf(undefined, 5, 5).verdict).toBe(InvoiceVerdict.unknownToTimeline);
    expect(verdictOf(known(3), undefined, 5).verdict).toBe(InvoiceVerdict.absentFromExport);
    expect(checkRow('/x', Date.parse('2026-11-03T00:00:00Z'), known(3), undefined, 5)).toEqual({
      resourceId: '/x',
      day: '2026-11-03',
      timelineHours: 3,
      exportHours: null,
      differenceHours: 3,
      verdict: 'absentFromExport',
      reason: null,
    });
  });
});

describe('compareWithExport', () => {
  const d3 = Date.parse('2026-11-03T00:00:00Z');
  const d4 = Date.parse('2026-11-04T00:00:00Z');
  const base = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute';
  const timeline = new Map<string, TimelineVm>([
    [
      `${base}/virtualmachines/web`.toLowerCase(),
      {
        resourceId: `${base}/virtualMachines/web`,
        days: new Map([
          [d3, known(10)],
          [d4, known(5)],
        ]),
      },
    ],
    [
      `${base}/virtualmachinescalesets/api/virtualmachines/0`.toLowerCase(),
      {
        resourceId: `${base}/virtualMachineScaleSets/api/virtualMachines/0`,
        days: new Map([[d3, known(24)]]),
      },
    ],
    [
      `${base}/virtualmachinescalesets/api/virtualmachines/1`.toLowerCase(),
      {
        resourceId: `${base}/virtualMachineScaleSets/api/virtualMachines/1`,
        days: new Map([[d3, known(12)]]),
      },
    ],
  ]);
  const query = {
    from: d3,
    to: d4 + 86_400_000,
    asOf: d4 + 2 * 86_400_000,
    toleranceInMinutes: 5,
    exportFirstDay: '2026-11-03',
    exportLastDay: '2026-11-03',
  };

  it('matches ids case-insensitively, sums a scale set billed as one, and does not judge days the export lacks', () => {
    const report = compareWithExport(timeline, {
      ...query,
      exportDays: [
        { resourceId: `${base}/VIRTUALMACHINES/WEB`, day: d3, hours: 10, cost: 1, costUnknown: false },
        {
          resourceId: `${base}/virtualMachineScaleSets/api`,
          day: d3,
          hours: 36,
          cost: 3.6,
          costUnknown: false,
        },
        { resourceId: `${base}/virtualMachines/ghost`, day: d3, hours: 24, cost: 2.4, costUnknown: false },
      ],
    });
    expect(report.rows.map((r) => [r.resourceId.split('/').at(-1), r.day, r.verdict])).toEqual([
      ['ghost', '2026-11-03', 'unknownToTimeline'],
      ['WEB', '2026-11-03', 'agrees'],
      ['api', '2026-11-03', 'agrees'],
    ]);
    expect(report.totals).toMatchObject({
      vmDays: 3,
      agreeingVmDays: 2,
      timelineHours: 46,
      exportHours: 70,
      vmDaysOutsideExport: 1,
    });
  });

  it('flags a billed VM-day the export covers but lacks', () => {
    const report = compareWithExport(timeline, { ...query, exportLastDay: '2026-11-04', exportDays: [] });
    expect(report.rows.filter((r) => r.verdict === 'absentFromExport').map((r) => r.day)).toEqual([
      '2026-11-03',
      '2026-11-04',
      '2026-11-03',
      '2026-11-03',
    ]);
  });
});
