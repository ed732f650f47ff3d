/**
 * Brings the daily usage rollups (`VmDailyUsage`) up to date.
 *
 * - A VM with `usageDirtyFrom` (its segments changed since it was last rolled up) has its days recomputed
 *   from its segments, from the marked day (or the rollup mark, if earlier) to yesterday; then the marker
 *   is cleared only if the current row did not move meanwhile (ETag).
 * - A VM without one has, by construction, its open segment starting (at the latest) by the rollup mark (`rolled
 *   through`, one for the whole table): the days from the mark to yesterday lie wholly in that segment and
 *   are written from the current row alone, with no read. A daily run therefore reads the current rows
 *   (VMs/1000 requests), the segments of the VMs that changed, and writes VMs/100 transactions per day.
 * - A VM deleted for a whole day gets no row for it when nothing changed (the report counts that day from
 *   the current row); days before a VM's first observation have no row.
 * - Bounded work per VM: one run recomputes at most `maxRecomputedDaysPerVm` days of a VM, oldest first,
 *   and leaves its dirty marker at the first day not written, so a late observation from long ago (a
 *   `start` of 2010 in an archive) is spread over runs (31 days per VM per run) instead of one run writing
 *   thousands of rows. Nothing is dropped: the report reads days from the marker on from the segments.
 * Per-VM isolation: one VM that fails is logged with its key, stays dirty, and the mark does not move.
 *
 * The per-day digest (`VmDailyDigest`, what the fleet listing reads instead of a whole day partition) is
 * written after the day rows and before any dirty marker is cleared or the mark moves, so a run that
 * stops halfway leaves work that the next run does again: the days from the mark on (every VM's new days)
 * get their digest rebuilt from their partition (VMs/1000 reads a day); an older day that dirty VMs
 * recomputed gets its digest patched (read, their entries replaced, written; rebuilt from the partition
 * when it is missing or inconsistent). A day whose digest fails keeps its VMs dirty. Digests missing
 * from days rolled up before the digest existed are built, newest first, `maxDigestBackfillDaysPerRun`
 * a run, back `digestBackfillWindowInDays`.
 */
import { forEachLimited } from './concurrency';
import type { CurrentState, Logger, Timeline, TimeRange } from './ports';
import { openSegmentOf } from '../domain/current';
import {
  dailyUsageOf,
  dayInMs,
  dayName,
  dayStartOf,
  detailsForDay,
  type DetailsChange,
  type VmAttributes,
} from '../domain/daily-usage';
import { parseComputeResourceId } from '../domain/resource-id';
import type { Segment } from '../domain/segments';
import { usageOf, usageOnly, type UsageSeconds } from '../domain/usage';
import { ensureError } from './errors';

/** One `VmDailyUsage` row. */
export interface DailyUsageRow extends UsageSeconds {
  /** `yyyy-mm-dd` (PartitionKey). */
  day: string;
  /** RowKey. */
  vmKey: string;
  resourceId: string;
  subscriptionId: string;
  resourceGroup: string;
  /** Size, location, OS type, priority and tags that held that day. */
  details?: VmAttributes | undefined;
}

/** One VM's figures of one rolled-up day (the usage columns of its `VmDailyUsage` row). */
export interface DayUsage extends UsageSeconds {
  vmKey: string;
}

/** VM keys (RowKeys) after `after` and up to `through`; either end open when undefined. */
export interface DayKeyRange {
  after?: string | undefined;
  through?: string | undefined;
}

export interface DailyUsageStore {
  /** Upserts rows of one day partition (entity-group transactions of up to 100). */
  upsertDay(day: string, rows: readonly DailyUsageRow[]): Promise<void>;
  /** Rows of one day partition, page by page; with `keys`, only VM keys in that range. */
  listDay(day: string, keys?: DayKeyRange): AsyncIterable<DailyUsageRow[]>;
  /** Start of the first day not yet rolled up for VMs without a dirty marker; undefined before the first run. */
  getRolledThrough(): Promise<number | undefined>;
  setRolledThrough(through: number): Promise<void>;
}

/** The per-day digest of the day rows (`VmDailyDigest`): every VM's usage figures of a day in a few rows. */
export interface DailyDigestStore {
  /** The digest of a day in VM key order; undefined when there is none or it is not whole and consistent. */
  readDigest(day: string): Promise<DayUsage[] | undefined>;
  /** Replaces the digest of a day: `entries` in any order, one per VM key. */
  writeDigest(day: string, entries: readonly DayUsage[]): Promise<void>;
  /** The days from `from` to before `to` (`yyyy-mm-dd`) that have a whole digest. */
  completeDigestDays(from: string, to: string): Promise<Set<string>>;
}

/** A `VmCurrent` row as the rollup lists it: parsed, with its ETag and the row as stored. */
export interface UsageCurrentRow {
  key: string;
  current: CurrentState;
  etag: string;
  /** The stored row (opaque to callers). */
  readonly raw: unknown;
}

/** What the rollup and the usage report read of the timeline tables. */
export interface UsageSource {
  listCurrentRows(): AsyncIterable<UsageCurrentRow[]>;
  /** Sets (or with undefined clears) `usageDirtyFrom` only if the row's ETag is unchanged. */
  settleUsageDirty(row: UsageCurrentRow, next: number | undefined): Promise<boolean>;
  getDetailsHistory(resourceId: string): Promise<DetailsChange[]>;
  getTimeline(resourceId: string, range?: TimeRange): Promise<Timeline | undefined>;
}

export interface RollupDependencies {
  source: UsageSource;
  daily: DailyUsageStore;
  digests: DailyDigestStore;
  log: Logger;
  now: () => number;
  /** Days of one VM recomputed per run at most (default `maxRecomputedDaysPerVm`). */
  maxRecomputedDaysPerVm?: number | undefined;
}

/** Days before today whose missing digests the rollup builds: the longest range a report reads. */
export const digestBackfillWindowInDays = 366;
/** Missing digests built per run at most (each reads its day partition). */
export const maxDigestBackfillDaysPerRun = 7;

/**
 * Days of one VM a rollup run recomputes at most: a month (31 rows) covers what Event Grid and the
 * reconciler can change late (a day or two) in one run; anything older is carried to the next runs.
 */
export const maxRecomputedDaysPerVm = 31;

export interface RollupSummary {
  /** Days before this (epoch ms, a UTC midnight) are rolled up. */
  through: string;
  vms: number;
  /** VMs whose days were recomputed from segments. */
  recomputed: number;
  rows: number;
  transactions: number;
  settled: number;
  /** Markers left because the row moved during the run (picked up by the next run). */
  moved: number;
  /** VMs with more days to recompute than one run does: their marker moved to the first day not written. */
  carried: number;
  failed: number;
  /** Day digests written (new days rebuilt, older days patched). */
  digests: number;
  /** Digests built for days rolled up before they existed. */
  digestsBackfilled: number;
}

/** Where a segment may have begun at the earliest. */
export function earliestStart(segment: Segment): number {
  return segment.startWindowFrom ?? segment.start;
}

function rowBase(key: string, current: CurrentState) {
  const parsed = parseComputeResourceId(current.resourceId);
  return {
    vmKey: key,
    resourceId: current.resourceId,
    subscriptionId: current.subscriptionId,
    resourceGroup: parsed?.resourceGroup.toLowerCase() ?? '',
  };
}

/** Details of a VM on the day ending at `dayEnd`, reading its history only when they changed since `since`. */
export function needsDetailsHistory(current: CurrentState, since: number | undefined): boolean {
  return current.detailsAt !== undefined && (since === undefined || current.detailsAt >= since);
}

interface PlannedVm {
  row: UsageCurrentRow;
  rows: DailyUsageRow[];
  /** The dirty marker to leave (undefined: clear); `keep` when the marker needs no write. */
  settle: number | undefined | 'keep';
  ok: boolean;
}

const concurrency = 16;

export async function rollupUsage(deps: RollupDependencies, asOf = deps.now()): Promise<RollupSummary> {
  const through = dayStartOf(asOf);
  const mark = await deps.daily.getRolledThrough();
  const summary: RollupSummary = {
    through: new Date(through).toISOString(),
    vms: 0,
    recomputed: 0,
    rows: 0,
    transactions: 0,
    settled: 0,
    moved: 0,
    carried: 0,
    failed: 0,
    digests: 0,
    digestsBackfilled: 0,
  };
  let complete = true;
  // Days from the mark on: their digests are rebuilt from the partition after the rows are written.
  const fresh = new Set<string>();
  if (mark !== undefined) for (let day = mark; day < through; day += dayInMs) fresh.add(dayName(day));
  // Older days written for dirty VMs: the entries to patch into their digests.
  const patches = new Map<string, Map<string, DayUsage>>();
  // Dirty VMs by day written: they stay dirty when that day's digest is not written.
  const dirtyByDay = new Map<string, PlannedVm[]>();
  const toSettle: PlannedVm[] = [];
  const noteWritten = (vm: PlannedVm, row: DailyUsageRow) => {
    if (mark === undefined || fresh.has(row.day)) fresh.add(row.day);
    else {
      const patch = patches.get(row.day) ?? new Map<string, DayUsage>();
      patch.set(row.vmKey, dayUsageOf(row));
      patches.set(row.day, patch);
    }
    if (vm.settle === 'keep') return;
    const vms = dirtyByDay.get(row.day) ?? [];
    vms.push(vm);
    dirtyByDay.set(row.day, vms);
  };
  for await (const page of deps.source.listCurrentRows()) {
    summary.vms += page.length;
    const planned: PlannedVm[] = [];
    await forEachLimited(page, concurrency, async (row) => {
      try {
        planned.push(await planVm(deps, row, mark, through, asOf, summary));
      } catch (error) {
        complete = false;
        summary.failed += 1;
        deps.log.error('usage rollup failed for a VM', { vmKey: row.key, error: ensureError(error).message });
      }
    });
    // Write per day partition, up to 100 rows per transaction; a failed transaction fails its VMs.
    const byDay = new Map<string, Array<{ vm: PlannedVm; row: DailyUsageRow }>>();
    for (const vm of planned)
      for (const r of vm.rows) {
        const list = byDay.get(r.day) ?? [];
        list.push({ vm, row: r });
        byDay.set(r.day, list);
      }
    const batches: Array<{ day: string; items: Array<{ vm: PlannedVm; row: DailyUsageRow }> }> = [];
    for (const [day, items] of byDay)
      for (let i = 0; i < items.length; i += 100) batches.push({ day, items: items.slice(i, i + 100) });
    await forEachLimited(batches, concurrency, async ({ day, items }) => {
      try {
        await deps.daily.upsertDay(
          day,
          items.map((i) => i.row),
        );
        summary.rows += items.length;
        summary.transactions += 1;
        for (const item of items) noteWritten(item.vm, item.row);
      } catch (error) {
        complete = false;
        deps.log.error('usage rollup write failed', {
          day,
          vms: items.length,
          error: ensureError(error).message,
        });
        for (const item of items) item.vm.ok = false;
      }
    });
    // Markers are settled once the digests of the days written are (below); the rows are not kept.
    for (const vm of planned) {
      vm.rows = [];
      if (vm.settle !== 'keep') toSettle.push(vm);
    }
  }
  const written = [...new Set([...fresh, ...patches.keys()])].sort();
  await forEachLimited(written, 4, async (day) => {
    try {
      await writeDayDigest(deps, day, fresh.has(day) ? undefined : patches.get(day));
      summary.digests += 1;
    } catch (error) {
      complete = false;
      deps.log.error('usage digest write failed', { day, error: ensureError(error).message });
      for (const vm of dirtyByDay.get(day) ?? []) vm.ok = false;
    }
  });
  await forEachLimited(toSettle, concurrency, async (vm) => {
    if (!vm.ok) {
      summary.failed += 1;
      return;
    }
    try {
      if (await deps.source.settleUsageDirty(vm.row, vm.settle === 'keep' ? undefined : vm.settle))
        summary.settled += 1;
      else summary.moved += 1;
    } catch (error) {
      summary.failed += 1;
      deps.log.error('usage marker not settled', {
        vmKey: vm.row.key,
        error: ensureError(error).message,
      });
    }
  });
  try {
    summary.digestsBackfilled = await backfillDigests(deps, through, new Set(written));
  } catch (error) {
    // Missing digests only cost speed (readers use the day partitions): the mark still moves.
    deps.log.error('usage digest backfill failed', { error: ensureError(error).message });
  }
  if (complete && (mark === undefined || through > mark)) await deps.daily.setRolledThrough(through);
  deps.log.info('usage rollup done', { ...summary, complete });
  return summary;
}

function dayUsageOf(row: DailyUsageRow): DayUsage {
  return { vmKey: row.vmKey, ...usageOnly(row) };
}

/**
 * Writes the digest of `day`: the digest there with `patch` (figures by VM key) applied when it is whole,
 * else (or without a patch) rebuilt from the day partition.
 */
export async function writeDayDigest(
  deps: Pick<RollupDependencies, 'daily' | 'digests'>,
  day: string,
  patch?: ReadonlyMap<string, DayUsage>,
): Promise<void> {
  if (patch !== undefined) {
    const before = await deps.digests.readDigest(day);
    if (before !== undefined) {
      const merged = new Map(before.map((e) => [e.vmKey, e]));
      for (const [key, e] of patch) merged.set(key, e);
      await deps.digests.writeDigest(day, [...merged.values()]);
      return;
    }
  }
  const entries: DayUsage[] = [];
  for await (const page of deps.daily.listDay(day)) for (const row of page) entries.push(dayUsageOf(row));
  await deps.digests.writeDigest(day, entries);
}

/** Builds the missing (or half-written) digests of recent days, newest first, a few per run. */
async function backfillDigests(deps: RollupDependencies, through: number, written: ReadonlySet<string>) {
  const from = through - digestBackfillWindowInDays * dayInMs;
  const whole = await deps.digests.completeDigestDays(dayName(from), dayName(through));
  let built = 0;
  for (let day = through - dayInMs; day >= from && built < maxDigestBackfillDaysPerRun; day -= dayInMs) {
    const name = dayName(day);
    if (whole.has(name) || written.has(name)) continue;
    await writeDayDigest(deps, name);
    built += 1;
  }
  return built;
}

async function planVm(
  deps: RollupDependencies,
  row: UsageCurrentRow,
  mark: number | undefined,
  through: number,
  asOf: number,
  summary: RollupSummary,
): Promise<PlannedVm> {
  const { current } = row;
  const open = openSegmentOf(current);
  const dirty = current.usageDirtyFrom;
  const base = rowBase(row.key, current);
  const clean = dirty === undefined && mark !== undefined && (open === undefined || open.start <= mark);
  if (clean) {
    // Days from the mark to yesterday lie wholly in the open segment: no read.
    const rows: DailyUsageRow[] = [];
    if (open !== undefined && open.state !== 'deleted' && mark < through) {
      const history = needsDetailsHistory(current, mark)
        ? await deps.source.getDetailsHistory(current.resourceId)
        : [];
      for (let day = mark; day < through; day += dayInMs) {
        rows.push({
          ...base,
          day: dayName(day),
          ...usageOf([open], day, day + dayInMs, asOf),
          details: detailsForDay(history, day + dayInMs, current.details),
        });
      }
    }
    return { row, rows, settle: 'keep', ok: true };
  }
  summary.recomputed += 1;
  const from = Math.min(dirty === undefined ? Infinity : dayStartOf(dirty), mark ?? -Infinity);
  const range: TimeRange = Number.isFinite(from) ? { from } : {};
  const timeline = await deps.source.getTimeline(current.resourceId, range);
  const segments = timeline?.segments ?? [];
  const rows: DailyUsageRow[] = [];
  const first = segments[0];
  let carry: number | undefined;
  if (first !== undefined) {
    const start = Number.isFinite(from) ? from : dayStartOf(earliestStart(first));
    const history =
      current.detailsAt === undefined ? [] : await deps.source.getDetailsHistory(current.resourceId);
    const cap = deps.maxRecomputedDaysPerVm ?? maxRecomputedDaysPerVm;
    const end = Math.min(through, dayStartOf(start) + cap * dayInMs);
    if (end < through) {
      carry = end;
      summary.carried += 1;
    }
    if (start < end) {
      const byDay = new Map(dailyUsageOf(segments, start, end, asOf).map((d) => [d.day, d.usage]));
      // A recomputed day on which the VM no longer existed (a late event removed the window that
      // reached into it) still gets a row, all unknown, so no stale row from an earlier run survives.
      if (Number.isFinite(from)) {
        for (let day = dayStartOf(start); day < end; day += dayInMs) {
          if (!byDay.has(day)) byDay.set(day, usageOf(segments, day, day + dayInMs, asOf));
        }
      }
      for (const [day, usage] of byDay) {
        rows.push({
          ...base,
          day: dayName(day),
          ...usage,
          details: detailsForDay(history, day + dayInMs, current.details),
        });
      }
    }
  }
  // A VM stays dirty from its open segment's earliest start when its (latest possible) start lies after
  // the days rolled up, so that "clean" always means "the days from the mark on lie in the open segment".
  const last = segments[segments.length - 1];
  const stillOpen = last !== undefined && last.end === undefined ? last : undefined;
  const openFrom =
    stillOpen !== undefined && stillOpen.start > through ? earliestStart(stillOpen) : undefined;
  // Days from `carry` on are left for the next runs: the marker stays at the first of them.
  const next = carry === undefined ? openFrom : Math.min(carry, openFrom ?? carry);
  return { row, rows, settle: next === dirty ? 'keep' : next, ok: true };
}
