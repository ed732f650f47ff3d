/** `vm-timeline backfill`'s summary table shows every count `--json` gives, in its column. */
import { describe, expect, it } from 'vitest';
import type { BackfillSummary } from '../../src/app/backfill';
import { summaryTable } from '../../src/cli/backfill';

const summary = (over: Partial<BackfillSummary>): BackfillSummary => ({
  subscriptionId: '00000000-0000-4000-8000-000000000001',
  pages: 4,
  records: 11,
  observations: 12,
  duplicates: 13,
  skipped: 1,
  rejected: 2,
  requests: 14,
  throttled: 15,
  metricReads: 16,
  narrowed: 17,
  scaleSetRecords: 18,
  sharpened: 19,
  slices: 3,
  slicesDone: 2,
  vms: 20,
  reachedAt: Date.UTC(2026, 10, 3, 12),
  forbidden: false,
  ...over,
});

describe('backfill summary table', () => {
  it('puts each count under its header, the day reached and the slices done', () => {
    const [header, row] = summaryTable([summary({})]).map((line) => line.trim().split(/\s+/));
    expect(header).toEqual([
      'SUBSCRIPTION',
      'RECORDS',
      'OBSERVATIONS',
      'DUPLICATES',
      'VMS',
      'REQUESTS',
      'THROTTLED',
      'METRIC-READS',
      'NARROWED',
      'SET-OPS',
      'SHARPENED',
      'REACHED',
      'DAYS',
    ]);
    const cell = (name: string) => row?.[header?.indexOf(name) ?? -1];
    expect(
      ['RECORDS', 'OBSERVATIONS', 'DUPLICATES', 'VMS', 'REQUESTS', 'THROTTLED'].map(cell),
    ).toEqual(['11', '12', '13', '20', '14', '15']);
    expect(['METRIC-READS', 'NARROWED', 'SET-OPS', 'SHARPENED'].map(cell)).toEqual(['16', '17', '18', '19']);
    expect(cell('REACHED')).toBe('2026-11-03');
    expect(cell('DAYS')).toBe('2/3');
  });

  it('says forbidden or failed instead of the slices', () => {
    const lines = summaryTable([summary({ forbidden: true }), summary({ error: 'boom', reachedAt: undefined })]);
    expect(lines[1]?.trim().split(/\s+/).slice(-2)).toEqual(['2026-11-03', 'forbidden']);
    expect(lines[2]?.trim().split(/\s+/).slice(-2)).toEqual(['-', 'failed']);
  });
});
