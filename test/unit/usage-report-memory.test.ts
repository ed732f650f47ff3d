/**
 * The usage report over a fleet too big to seed (test/support/generated-fleet.ts: made up page by page,
 * nothing kept there): heap measured before the first page and when the report asks for the page after
 * the last, while it still holds whatever it kept of the others.
 */
import { describe, expect, it } from 'vitest';
import type { UsageSource } from '../../src/app/rollup-usage';
import { usageReport, type UsageReportRow } from '../../src/app/usage-report';
import { parseGroupBy } from '../../src/domain/grouping';
import { GeneratedFleet as Fleet, noRollups } from '../support/generated-fleet';

const t0 = Date.parse('2026-10-01T00:00:00Z');
const day = 86_400_000;
const vmCount = 40_000;
const pageSize = 1_000;

class GeneratedFleet extends Fleet {
  constructor() {
    super({ vms: vmCount, pageSize, t0 });
  }
}

describe('usageReport memory', () => {
  it('grouped by tag, holds the groups, not every VM of the fleet, until the report ends', async () => {
    const source = new GeneratedFleet();
    const report = await usageReport(
      { source, daily: noRollups },
      { from: t0, to: t0 + day, asOf: t0 + 2 * day, groupBy: parseGroupBy('tag:team') },
    );
    const rows = report.rows as Array<Extract<UsageReportRow, { key: string | null }>>;
    expect(rows.map((r) => [r.key, r.vms])).toEqual([
      ['t-0', vmCount / 4],
      ['t-1', vmCount / 4],
      ['t-2', vmCount / 4],
      ['t-3', vmCount / 4],
    ]);
    expect(report.total.billedSeconds).toBe(vmCount * 86_400);
    // Holding every VM's id would be ~24 MB more at the end than at the start; a page of VMs is ~0.6 MB.
    expect(source.heapAtEndInMB - source.heapBeforeInMB).toBeLessThan(6);
  }, 120_000);

  it('grouped by VM, writes the first row before the last page of VMs is read', async () => {
    const source = new GeneratedFleet();
    let rowsBeforeLastPage = 0;
    let pagesRead = 0;
    const counting: UsageSource = {
      ...source,
      listCurrentRows: async function* () {
        for await (const page of source.listCurrentRows()) {
          pagesRead += 1;
          if (pagesRead === Math.ceil(vmCount / pageSize)) rowsBeforeLastPage = written;
          yield page;
        }
      },
      settleUsageDirty: () => source.settleUsageDirty(),
      getDetailsHistory: () => source.getDetailsHistory(),
      getTimeline: () => source.getTimeline(),
    };
    let written = 0;
    const report = await usageReport(
      { source: counting, daily: noRollups },
      { from: t0, to: t0 + day, asOf: t0 + 2 * day },
      { onRow: () => (written += 1) },
    );
    expect(report.rows).toEqual([]);
    expect(written).toBe(vmCount);
    expect(rowsBeforeLastPage).toBeGreaterThan(vmCount / 2);
    expect(source.heapAtEndInMB - source.heapBeforeInMB).toBeLessThan(6);
  }, 120_000);
});
