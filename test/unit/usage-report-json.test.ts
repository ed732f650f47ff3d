import { describe, expect, it } from 'vitest';
import { usageReport, type UsageReportRow } from '../../src/app/usage-report';
import { failureTrailer, usageReportJson } from '../../src/app/usage-report-json';
import { parseGroupBy } from '../../src/domain/grouping';
import { GeneratedFleet, noRollups } from '../support/generated-fleet';

const t0 = Date.parse('2026-10-01T00:00:00Z');
const day = 86_400_000;
const query = { from: t0, to: t0 + day, asOf: t0 + 2 * day };
const noFailure = () => {
  throw new Error('unexpected failure');
};

async function textOf(pieces: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const piece of pieces) text += piece;
  return text;
}

/** Lets the report run as far as it can without the reader. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('usageReportJson', () => {
  it('grouped, writes the text of JSON.stringify of the report, with a newline per page', async () => {
    const fleet = () => new GeneratedFleet({ vms: 2_500, pageSize: 1_000, t0 });
    const q = { ...query, groupBy: parseGroupBy('tag:team') };
    const text = await textOf(
      usageReportJson({ source: fleet(), daily: noRollups }, q, { onFailure: noFailure }),
    );
    // A newline (JSON whitespace) per page after the first keeps the connection moving.
    expect(text.match(/\n/g)).toHaveLength(2);
    expect(text.replace(/\n/g, '')).toBe(
      JSON.stringify(await usageReport({ source: fleet(), daily: noRollups }, q)),
    );
  });

  it('by VM, writes the rows as the report streams them, in one document', async () => {
    const fleet = () => new GeneratedFleet({ vms: 2_500, pageSize: 1_000, t0 });
    const text = await textOf(
      usageReportJson({ source: fleet(), daily: noRollups }, query, { onFailure: noFailure }),
    );
    const rows: UsageReportRow[] = [];
    const report = await usageReport({ source: fleet(), daily: noRollups }, query, {
      onRow: (r) => rows.push(r),
    });
    expect(text).toBe(JSON.stringify({ ...report, rows }));
    expect(rows).toHaveLength(2_500);
  });

  it('writes an empty fleet as an empty report', async () => {
    const fleet = () => new GeneratedFleet({ vms: 0, pageSize: 1_000, t0 });
    const text = await textOf(
      usageReportJson({ source: fleet(), daily: noRollups }, query, { onFailure: noFailure }),
    );
    expect(text).toBe(JSON.stringify(await usageReport({ source: fleet(), daily: noRollups }, query)));
  });

  it('reads pages only as the reader takes the text (the report waits), and stops when the reader leaves', async () => {
    const fleet = new GeneratedFleet({ vms: 40_000, pageSize: 1_000, t0 });
    const pieces = usageReportJson({ source: fleet, daily: noRollups }, query, { onFailure: noFailure });
    const iterator = pieces[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatch(/^\{"from":"2026-10-01T00:00:00.000Z",.*"rows":\[$/);
    await settle();
    // A chunk of ~700 KB of rows is over the high-water mark: the report waits for the reader.
    expect(fleet.pagesRead).toBeLessThanOrEqual(3);
    await iterator.next();
    await iterator.return?.();
    const after = fleet.pagesRead;
    await settle();
    expect(fleet.pagesRead).toBeLessThanOrEqual(after + 1);
    expect(fleet.pagesRead).toBeLessThan(fleet.pages);
  });

  it('ends with the failure line, and tells onFailure, when the report fails after the answer began', async () => {
    const fleet = new GeneratedFleet({
      vms: 5_000,
      pageSize: 1_000,
      t0,
      beforePage: (p) => {
        if (p === 2) throw new Error('page 3 failed');
      },
    });
    const failures: Array<[string, number]> = [];
    const text = await textOf(
      usageReportJson({ source: fleet, daily: noRollups }, query, {
        onFailure: (error, rows) => failures.push([(error as Error).message, rows]),
      }),
    );
    expect(text.endsWith(`}${failureTrailer}`)).toBe(true);
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
    expect(failures).toEqual([['page 3 failed', 1_000]]);
  });

  it('rejects the first read when the report fails before its first page', async () => {
    const fleet = new GeneratedFleet({
      vms: 5_000,
      pageSize: 1_000,
      t0,
      beforePage: () => {
        throw new Error('unreachable');
      },
    });
    const iterator = usageReportJson({ source: fleet, daily: noRollups }, query, { onFailure: noFailure })[
      Symbol.asyncIterator
    ]();
    await expect(iterator.next()).rejects.toThrow('unreachable');
  });
});
