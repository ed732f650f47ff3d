import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { CurrentState } from '../../src/app/ports';
import type { DailyUsageStore, UsageCurrentRow, UsageSource } from '../../src/app/rollup-usage';
import { usageReport, type UsageReportRow } from '../../src/app/usage-report';
import { parseGroupBy } from '../../src/domain/grouping';
import { currentKeys, vmKey } from '../../src/domain/resource-id';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const t0 = Date.parse('2026-10-01T00:00:00Z');
const day = 86_400_000;
const vmCount = 40_000;
const pageSize = 1_000;
/** Long names, so that holding every VM's id shows: ~40,000 × 600 characters ≈ 24 MB. */
const padding = 'x'.repeat(560);
const idOf = (i: number) =>
  `/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg-${i % 7}/providers/Microsoft.Compute/virtualMachines/vm-${i}-${padding}`;

function heapInMB(): number {
  gc();
  return process.memoryUsage().heapUsed / 1e6;
}

/**
 * A fleet made up page by page as the report reads it (nothing kept here): every VM running since
 * before the range, tagged with one of 4 teams. Heap is measured before the first page and when the
 * report asks for the page after the last, while it still holds whatever it kept of the others.
 */
class GeneratedFleet implements UsageSource {
  heapBeforeInMB = 0;
  heapAtEndInMB = 0;

  async *listCurrentRows(): AsyncIterable<UsageCurrentRow[]> {
    this.heapBeforeInMB = heapInMB();
    for (let p = 0; p * pageSize < vmCount; p++) {
      await Promise.resolve();
      const rows: UsageCurrentRow[] = [];
      for (let i = p * pageSize; i < Math.min(vmCount, (p + 1) * pageSize); i++) {
        const resourceId = idOf(i);
        const key = vmKey(resourceId);
        const current: CurrentState = {
          resourceId,
          subscriptionId: currentKeys(key).partitionKey,
          state: 'running',
          billing: 'billed',
          since: t0 - day,
          last: { at: t0 - day, source: 'event', dedupeId: `e${i}` },
          details: { tags: { team: `t-${i % 4}` } },
          detailsAt: t0 - 2 * day,
        };
        rows.push({ key, current, etag: '1', raw: undefined });
      }
      yield rows;
    }
    this.heapAtEndInMB = heapInMB();
  }

  settleUsageDirty(): Promise<boolean> {
    return Promise.resolve(true);
  }

  getDetailsHistory(): Promise<never[]> {
    return Promise.resolve([]);
  }

  getTimeline(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

const noRollups: DailyUsageStore = {
  upsertDay: () => Promise.resolve(),
  // eslint-disable-next-line require-yield
  async *listDay() {
    await Promise.resolve();
  },
  getRolledThrough: () => Promise.resolve(undefined),
  setRolledThrough: () => Promise.resolve(),
};

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
