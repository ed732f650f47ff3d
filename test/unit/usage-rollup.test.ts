import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CurrentState, Timeline, TimeRange } from '../../src/app/ports';
import {
  rollupUsage,
  type DailyDigestStore,
  type DailyUsageRow,
  type DailyUsageStore,
  type DayKeyRange,
  type DayUsage,
  type UsageCurrentRow,
  type UsageSource,
} from '../../src/app/rollup-usage';
import {
  usageReport,
  type GroupedUsageReport,
  type RangeReadingUsageSource,
  type UsageReportRow,
  type VmHistory,
} from '../../src/app/usage-report';
import { deriveCurrent } from '../../src/domain/current';
import { dailyUsageOf, dayInMs, type DetailsChange, type VmAttributes } from '../../src/domain/daily-usage';
import { parseGroupBy } from '../../src/domain/grouping';
import type { Observation } from '../../src/domain/observation';
import { currentKeys, vmKey } from '../../src/domain/resource-id';
import { deriveSegments, type Segment } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';
import { history } from '../support/histories';
import { noLog } from '../support/fakes';
import { usageFields } from '../../src/domain/usage';

const t0 = Date.parse('2026-10-01T00:00:00Z');
const h = 3_600_000;

function vmId(name: string): string {
  return `/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg-${name.length % 2}/providers/Microsoft.Compute/virtualMachines/${name}`;
}

/** In-memory timeline with the store's dirty-marker rule: the earliest segment start a write changed. */
class MemoryUsageSource implements UsageSource {
  readonly observations = new Map<string, Observation[]>();
  readonly dirty = new Map<string, number>();
  readonly details = new Map<string, DetailsChange[]>();
  readonly versions = new Map<string, number>();
  /** Current rows per page of `listCurrentRows`. */
  pageSize = 100;

  record(o: Observation): void {
    const key = vmKey(o.resourceId);
    const list = this.observations.get(key) ?? [];
    const before = deriveSegments(list);
    list.push(o);
    this.observations.set(key, list);
    const after = deriveSegments(list);
    const same = (a: Segment, b: Segment) => JSON.stringify(a) === JSON.stringify(b);
    let changed: number | undefined;
    for (const s of after)
      if (!before.some((b) => same(b, s)))
        changed = Math.min(changed ?? Infinity, s.startWindowFrom ?? s.start);
    for (const s of before)
      if (!after.some((a) => same(a, s)))
        changed = Math.min(changed ?? Infinity, s.startWindowFrom ?? s.start);
    if (changed !== undefined) this.dirty.set(key, Math.min(this.dirty.get(key) ?? Infinity, changed));
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
  }

  setDetails(resourceId: string, at: number, details: VmAttributes): void {
    const key = vmKey(resourceId);
    const list = this.details.get(key) ?? [];
    list.push({ at, details });
    this.details.set(key, list);
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
  }

  current(key: string): CurrentState | undefined {
    const list = this.observations.get(key) ?? [];
    const derived = deriveCurrent(list);
    if (derived === undefined) return undefined;
    const details = this.details.get(key) ?? [];
    const latest = details[details.length - 1];
    const c: CurrentState = { ...derived, subscriptionId: currentKeys(key).partitionKey };
    if (latest !== undefined) {
      c.details = latest.details;
      c.detailsAt = latest.at;
    }
    const dirty = this.dirty.get(key);
    if (dirty !== undefined) c.usageDirtyFrom = dirty;
    return c;
  }

  /** In key order and in pages, as the table gives them (reports work a page of VMs at a time). */
  async *listCurrentRows(): AsyncIterable<UsageCurrentRow[]> {
    const rows: UsageCurrentRow[] = [];
    for (const key of [...this.observations.keys()].sort()) {
      const current = this.current(key);
      if (current !== undefined)
        rows.push({ key, current, etag: String(this.versions.get(key) ?? 0), raw: undefined });
    }
    await Promise.resolve();
    for (let i = 0; i < rows.length; i += this.pageSize) yield rows.slice(i, i + this.pageSize);
  }

  settleUsageDirty(row: UsageCurrentRow, next: number | undefined): Promise<boolean> {
    if (String(this.versions.get(row.key) ?? 0) !== row.etag) return Promise.resolve(false);
    if (next === undefined) this.dirty.delete(row.key);
    else this.dirty.set(row.key, next);
    this.versions.set(row.key, (this.versions.get(row.key) ?? 0) + 1);
    return Promise.resolve(true);
  }

  getDetailsHistory(resourceId: string): Promise<DetailsChange[]> {
    return Promise.resolve([...(this.details.get(vmKey(resourceId)) ?? [])]);
  }

  /** Range reads, as the table store does them (off: the report reads VM by VM). */
  rangeReads = true;
  rangeReadCount = 0;

  get getHistoriesInRange(): RangeReadingUsageSource['getHistoriesInRange'] | undefined {
    if (!this.rangeReads) return undefined;
    return (first, last, options) => {
      this.rangeReadCount += 1;
      const histories = new Map<string, VmHistory>();
      for (const [key, list] of this.observations)
        if (key >= first && key <= last)
          histories.set(key, {
            segments: deriveSegments(list),
            details: options.details ? [...(this.details.get(key) ?? [])] : [],
          });
      return Promise.resolve(histories);
    };
  }

  getTimeline(resourceId: string, range: TimeRange = {}): Promise<Timeline | undefined> {
    const list = this.observations.get(vmKey(resourceId));
    if (list === undefined) return Promise.resolve(undefined);
    const segments = deriveSegments(list).filter(
      (s) =>
        (range.from === undefined || s.end === undefined || s.end > range.from) &&
        (range.to === undefined || s.start < range.to || (s.startWindowFrom ?? s.start) < range.to),
    );
    return Promise.resolve({ resourceId, segments });
  }
}

/** Digests kept whole (a write replaces the day's); the codec and its consistency live in the adapter. */
class MemoryDigestStore implements DailyDigestStore {
  readonly days = new Map<string, DayUsage[]>();
  writes = 0;

  readDigest(day: string): Promise<DayUsage[] | undefined> {
    const entries = this.days.get(day);
    return Promise.resolve(entries === undefined ? undefined : entries.map((e) => ({ ...e })));
  }

  /** Days whose digest write fails (a storage error). */
  readonly failing = new Set<string>();

  writeDigest(day: string, entries: readonly DayUsage[]): Promise<void> {
    if (this.failing.has(day)) return Promise.reject(new Error('digest write failed'));
    this.writes += 1;
    this.days.set(
      day,
      [...entries]
        .map((e) => ({ ...e }))
        .sort((a, b) => (a.vmKey < b.vmKey ? -1 : a.vmKey > b.vmKey ? 1 : 0)),
    );
    return Promise.resolve();
  }

  completeDigestDays(from: string, to: string): Promise<Set<string>> {
    return Promise.resolve(new Set([...this.days.keys()].filter((d) => d >= from && d < to)));
  }
}

class MemoryDailyStore implements DailyUsageStore {
  readonly days = new Map<string, Map<string, DailyUsageRow>>();
  readonly digests = new MemoryDigestStore();
  mark: number | undefined;
  transactions = 0;

  upsertDay(day: string, rows: readonly DailyUsageRow[]): Promise<void> {
    if (rows.length > 100) throw new Error('more than 100 rows in one transaction');
    this.transactions += 1;
    const partition = this.days.get(day) ?? new Map<string, DailyUsageRow>();
    for (const row of rows) partition.set(row.vmKey, { ...row, day });
    this.days.set(day, partition);
    return Promise.resolve();
  }

  async *listDay(day: string, keys: DayKeyRange = {}): AsyncIterable<DailyUsageRow[]> {
    await Promise.resolve();
    const rows = [...(this.days.get(day)?.values() ?? [])].filter(
      (r) =>
        (keys.after === undefined || r.vmKey > keys.after) &&
        (keys.through === undefined || r.vmKey <= keys.through),
    );
    if (rows.length > 0) yield rows;
  }

  getRolledThrough(): Promise<number | undefined> {
    return Promise.resolve(this.mark);
  }

  setRolledThrough(through: number): Promise<void> {
    this.mark = through;
    return Promise.resolve();
  }
}

const fields = usageFields;

/** Every day with rows has a digest holding exactly their figures; a digest of a day without rows is empty. */
function expectDigestsMatchRows(daily: MemoryDailyStore): void {
  const days = new Set([...daily.days.keys(), ...daily.digests.days.keys()]);
  for (const day of days) {
    const rows = [...(daily.days.get(day)?.values() ?? [])]
      .map((r) => ({ vmKey: r.vmKey, ...Object.fromEntries(fields.map((f) => [f, r[f]])) }))
      .sort((a, b) => (a.vmKey < b.vmKey ? -1 : 1));
    expect(daily.digests.days.get(day), day).toEqual(rows);
  }
}

function expectSameRows(actual: UsageReportRow[], expected: UsageReportRow[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => {
    const other = expected[i]!;
    expect('resourceId' in row ? row.resourceId : row.key).toBe(
      'resourceId' in other ? other.resourceId : other.key,
    );
    for (const f of fields) expect(row[f]).toBeCloseTo(other[f], 3);
  });
}

async function report(
  source: MemoryUsageSource,
  daily: MemoryDailyStore,
  from: number,
  to: number,
  asOf: number,
  groupBy?: string,
  fromSegmentsOnly = false,
): Promise<GroupedUsageReport> {
  return usageReport(
    { source, daily },
    { from, to, asOf, groupBy: groupBy === undefined ? undefined : parseGroupBy(groupBy), fromSegmentsOnly },
  );
}

describe('rollupUsage and usageReport', () => {
  it('rewrites a rolled-up day that a late event removed a windowed start from', async () => {
    // Found by the property below: a reconcile window reaching back over midnight is rolled up, then an
    // event at the same instant makes the start exact; the day before must no longer show the window.
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    const id = vmId('c');
    source.record({
      resourceId: id,
      at: t0,
      windowFrom: t0 - 60_000,
      state: 'creating',
      source: 'reconcile',
      dedupeId: 'r',
    });
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => t0 + 30 * h });
    source.record({ resourceId: id, at: t0, state: 'creating', source: 'event', dedupeId: 'e' });
    const asOf = t0 + 4 * 24 * h;
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => asOf - 3 * h });
    const fromRollups = await report(source, daily, t0 - 24 * h, t0, asOf);
    const fromSegments = await report(source, daily, t0 - 24 * h, t0, asOf, undefined, true);
    expectSameRows(fromRollups.rows, fromSegments.rows);
    expect(fromRollups.rows[0]).toMatchObject({ notBilledSeconds: 0, unknownSeconds: 86_400 });
  });

  it('give the segment sums for random histories, windows and late events (property)', async () => {
    const names = ['a', 'bb', 'c'];
    let rangeReads = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(...names.map((n) => history(vmId(n), 12))),
        fc.integer({ min: -30, max: 24 * 5 }),
        fc.integer({ min: 1, max: 24 * 4 }),
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 30, max: 80 }),
        fc.boolean(),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        async (histories, startHour, lengthHours, minute, rollupHour, secondRollup, late) => {
          const source = new MemoryUsageSource();
          source.pageSize = 2; // three VMs: two chunks
          const daily = new MemoryDailyStore();
          const rollupAt = t0 + rollupHour * h;
          const all = histories.flat();
          // First delivery: what happened before the first rollup, except some held back (late).
          const held: Observation[] = [];
          all.forEach((o, i) =>
            o.at <= rollupAt && late[i % late.length] !== true ? source.record(o) : held.push(o),
          );
          await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => rollupAt });
          for (const o of held) source.record(o);
          const asOf = t0 + 4 * 24 * h;
          if (secondRollup)
            await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => asOf - 3 * h });
          expectDigestsMatchRows(daily);
          const from = t0 + startHour * h + minute * 60_000;
          const to = from + lengthHours * h;

          const fromRollups = await report(source, daily, from, to, asOf);
          rangeReads += source.rangeReadCount;
          const fromSegments = await report(source, daily, from, to, asOf, undefined, true);
          expectSameRows(fromRollups.rows, fromSegments.rows);
          // Segments read a window of VMs at a time, or VM by VM: the same.
          source.rangeReads = false;
          expectSameRows((await report(source, daily, from, to, asOf)).rows, fromRollups.rows);
          source.rangeReads = true;
          // Streamed a chunk of VMs at a time: the same rows, none kept in the report.
          const streamed: UsageReportRow[] = [];
          const stream = await usageReport(
            { source, daily },
            { from, to, asOf },
            { onRow: (r) => streamed.push(r) },
          );
          expect(stream.rows).toEqual([]);
          expectSameRows(streamed, fromRollups.rows);
          for (const f of fields) expect(stream.total[f]).toBeCloseTo(fromRollups.total[f], 3);
          // And each VM row is usageOf its whole segment list over the window.
          for (const row of fromRollups.rows) {
            if (!('resourceId' in row)) continue;
            const segments = deriveSegments(source.observations.get(vmKey(row.resourceId)) ?? []);
            const expected = usageOf(segments, from, to, asOf);
            for (const f of fields) expect(row[f]).toBeCloseTo(expected[f], 3);
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(rangeReads).toBeGreaterThan(0);
  }, 60_000);

  it('writes each day partition in transactions of at most 100 rows and settles the markers', async () => {
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    for (let i = 0; i < 250; i++)
      source.record({
        resourceId: vmId(`vm-${i}`),
        at: t0 + 8 * h,
        state: 'running',
        source: 'event',
        dedupeId: `e${i}`,
      });
    const first = await rollupUsage({
      source,
      daily,
      digests: daily.digests,
      log: noLog,
      now: () => t0 + 2 * dayInMs + h,
    });
    expect(first).toMatchObject({ vms: 250, recomputed: 250, rows: 500, transactions: 6, settled: 250 });
    expect(daily.days.get('2026-10-02')?.get(vmKey(vmId('vm-7')))).toMatchObject({
      billedSeconds: 86_400,
      notBilledSeconds: 0,
      unknownSeconds: 0,
    });
    expect(source.dirty.size).toBe(0);

    // Next day: nothing changed, every day written from the current rows, nothing read.
    const second = await rollupUsage({
      source,
      daily,
      digests: daily.digests,
      log: noLog,
      now: () => t0 + 3 * dayInMs + h,
    });
    expect(second).toMatchObject({ recomputed: 0, rows: 250, transactions: 3, settled: 0 });
  });

  it('fixes past days when a late event arrives', async () => {
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    const id = vmId('late');
    source.record({ resourceId: id, at: t0 + 8 * h, state: 'running', source: 'event', dedupeId: '1' });
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => t0 + 3 * dayInMs });
    expect(daily.days.get('2026-10-02')?.get(vmKey(id))?.billedSeconds).toBe(86_400);

    // It was deallocated at noon on the 2nd; we hear of it on the 4th.
    source.record({
      resourceId: id,
      at: t0 + dayInMs + 12 * h,
      state: 'deallocated',
      source: 'event',
      dedupeId: '2',
    });
    const asOf = t0 + 3 * dayInMs + 2 * h;
    const before = await report(source, daily, t0, t0 + 3 * dayInMs, asOf);
    expect(before.rows[0]).toMatchObject({ billedSeconds: 16 * 3600 + 12 * 3600 });

    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => asOf });
    expect(daily.days.get('2026-10-02')?.get(vmKey(id))).toMatchObject({
      billedSeconds: 12 * 3600,
      notBilledSeconds: 12 * 3600,
    });
    expect(daily.days.get('2026-10-03')?.get(vmKey(id))).toMatchObject({
      billedSeconds: 0,
      notBilledSeconds: 86_400,
    });
    expect(source.dirty.size).toBe(0);
  });

  it("keeps a VM dirty and the mark where it was while a day's digest is not written, then writes it", async () => {
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    const id = vmId('late');
    const deps = () => ({ source, daily, digests: daily.digests, log: noLog });
    source.record({ resourceId: id, at: t0 + 8 * h, state: 'running', source: 'event', dedupeId: '1' });
    await rollupUsage({ ...deps(), now: () => t0 + 3 * dayInMs });
    expectDigestsMatchRows(daily);
    // Deallocated at noon on the 2nd, heard of on the 4th, and the 2nd's digest cannot be written.
    source.record({
      resourceId: id,
      at: t0 + dayInMs + 12 * h,
      state: 'deallocated',
      source: 'event',
      dedupeId: '2',
    });
    daily.digests.failing.add('2026-10-02');
    const asOf = t0 + 4 * dayInMs + h;
    const failed = await rollupUsage({ ...deps(), now: () => asOf });
    expect(failed.failed).toBe(1);
    expect(source.dirty.has(vmKey(id))).toBe(true);
    expect(daily.mark).toBe(t0 + 3 * dayInMs);
    expect(daily.days.get('2026-10-02')?.get(vmKey(id))?.billedSeconds).toBe(12 * 3600);
    expect(daily.digests.days.get('2026-10-02')?.[0]?.billedSeconds).toBe(86_400);

    daily.digests.failing.clear();
    const next = await rollupUsage({ ...deps(), now: () => asOf });
    expect(next).toMatchObject({ failed: 0, settled: 1 });
    expect(source.dirty.size).toBe(0);
    expect(daily.mark).toBe(t0 + 4 * dayInMs);
    expect(daily.digests.days.get('2026-10-02')?.[0]?.billedSeconds).toBe(12 * 3600);
    expectDigestsMatchRows(daily);
  });

  it('spreads what a start dated 2010 dirties over runs, at most 31 days of a VM per run, losing none', async () => {
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    const steady = vmId('steady');
    source.record({ resourceId: steady, at: t0, state: 'running', source: 'event', dedupeId: 's' });
    const asOf = t0 + 5 * dayInMs + 3 * h;
    const through = t0 + 5 * dayInMs;
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => asOf });

    // An archive (`vm-timeline ingest`) brings a new VM's start of 2010-01-02.
    const id = vmId('archive');
    const since = Date.parse('2010-01-02T00:00:00Z');
    source.record({ resourceId: id, at: since, state: 'running', source: 'event', dedupeId: 'old' });
    const first = await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => asOf });
    expect(first).toMatchObject({ rows: 31, transactions: 31, carried: 1 });
    expect(source.dirty.get(vmKey(id))).toBe(since + 31 * dayInMs);

    // Meanwhile reports are whole: the days not rolled up yet come from the segments.
    const year = { from: through - 366 * dayInMs, to: through };
    const partial = await report(source, daily, year.from, year.to, asOf);
    const truth = await report(source, daily, year.from, year.to, asOf, undefined, true);
    expectSameRows(partial.rows, truth.rows);

    let runs = 1;
    while (source.dirty.has(vmKey(id)) && runs < 1_000) {
      const summary = await rollupUsage({
        source,
        daily,
        digests: daily.digests,
        log: noLog,
        now: () => asOf,
      });
      expect(summary.rows).toBeLessThanOrEqual(31);
      runs += 1;
    }
    const days = (through - since) / dayInMs;
    expect(runs).toBe(Math.ceil(days / 31));
    const rows = [...daily.days.values()].flatMap((partition) => {
      const row = partition.get(vmKey(id));
      return row === undefined ? [] : [row];
    });
    expect(rows).toHaveLength(days);
    expect(rows.every((row) => row.billedSeconds === 86_400)).toBe(true);
    const after = await report(source, daily, year.from, year.to, asOf);
    expectSameRows(after.rows, truth.rows);
  });

  it('bounds the billed time of a change known only within a window, per day and summed', () => {
    // Started somewhere in [23:00 on the 1st, 02:00 on the 2nd] (reconciler window), stopped later.
    const segments = deriveSegments([
      { resourceId: vmId('w'), at: t0, state: 'deallocated', source: 'event', dedupeId: '1' },
      {
        resourceId: vmId('w'),
        at: t0 + 26 * h,
        windowFrom: t0 + 23 * h,
        state: 'running',
        source: 'reconcile',
        dedupeId: '2',
      },
      { resourceId: vmId('w'), at: t0 + 30 * h, state: 'deallocated', source: 'event', dedupeId: '3' },
    ]);
    const days = dailyUsageOf(segments, t0, t0 + 2 * dayInMs, t0 + 3 * dayInMs);
    expect(
      days.map((d) => [
        d.usage.billedSecondsMin / 3600,
        d.usage.billedSeconds / 3600,
        d.usage.billedSecondsMax / 3600,
      ]),
    ).toEqual([
      [0, 0, 1],
      [4, 5.5, 6],
    ]);
    // The truth (any start in the window) lies within the bounds; the sum matches the whole window.
    const whole = usageOf(segments, t0, t0 + 2 * dayInMs, t0 + 3 * dayInMs);
    expect(whole.billedSecondsMin).toBe(4 * 3600);
    expect(whole.billedSecondsMax).toBe(7 * 3600);
    expect(whole.billedSeconds).toBe(5.5 * 3600);
  });

  it('splits a VM between tag values when its cost center changed mid-window', async () => {
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    const id = vmId('tagged');
    source.record({ resourceId: id, at: t0, state: 'running', source: 'event', dedupeId: '1' });
    source.setDetails(id, t0 + h, {
      vmSize: 'Standard_D2s_v5',
      location: 'westeurope',
      osType: 'Linux',
      tags: { CostCenter: 'cc-1' },
    });
    // Changed on the 3rd at 10:00: the 3rd and later go to cc-2.
    source.setDetails(id, t0 + 2 * dayInMs + 10 * h, {
      vmSize: 'Standard_D2s_v5',
      location: 'westeurope',
      osType: 'Linux',
      tags: { CostCenter: 'cc-2' },
    });
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => t0 + 4 * dayInMs + h });
    const asOf = t0 + 4 * dayInMs + 2 * h;
    for (const segmentsOnly of [false, true]) {
      const grouped = await report(source, daily, t0, t0 + 4 * dayInMs, asOf, 'tag:costcenter', segmentsOnly);
      expect(grouped.rows).toEqual([
        expect.objectContaining({ key: 'cc-1', vms: 1, billedSeconds: 2 * 86_400 }),
        expect.objectContaining({ key: 'cc-2', vms: 1, billedSeconds: 2 * 86_400 }),
      ]);
    }
    const bySize = await report(source, daily, t0, t0 + 4 * dayInMs, asOf, 'vmSize');
    expect(bySize.rows).toEqual([
      expect.objectContaining({ key: 'Standard_D2s_v5', billedSeconds: 4 * 86_400, billedHours: 96 }),
    ]);
  });

  it('counts days of a VM deleted all day from its current row, with no rollup row', async () => {
    const source = new MemoryUsageSource();
    const daily = new MemoryDailyStore();
    const id = vmId('gone');
    source.record({ resourceId: id, at: t0 + 12 * h, state: 'running', source: 'event', dedupeId: '1' });
    source.record({ resourceId: id, at: t0 + 18 * h, state: 'deleted', source: 'event', dedupeId: '2' });
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => t0 + dayInMs + h });
    await rollupUsage({ source, daily, digests: daily.digests, log: noLog, now: () => t0 + 3 * dayInMs + h });
    expect(daily.days.get('2026-10-03')?.has(vmKey(id)) ?? false).toBe(false);
    const r = await report(source, daily, t0, t0 + 3 * dayInMs, t0 + 4 * dayInMs);
    expect(r.rows[0]).toMatchObject({
      billedSeconds: 6 * 3600,
      notBilledSeconds: 6 * 3600 + 2 * 86_400,
      unknownSeconds: 12 * 3600,
    });
  });
});
