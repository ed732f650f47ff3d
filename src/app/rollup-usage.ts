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
import { usageOf, type UsageSeconds } from '../domain/usage';
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
  log: Logger;
  now: () => number;
  /** Days of one VM recomputed per run at most (default `maxRecomputedDaysPerVm`). */
  maxRecomputedDaysPerVm?: number | undefined;
}

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
  };
  let complete = true;
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
    await forEachLimited(
      planned.filter((vm) => vm.settle !== 'keep'),
      concurrency,
      async (vm) => {
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
      },
    );
  }
  if (complete && (mark === undefined || through > mark)) await deps.daily.setRolledThrough(through);
  deps.log.info('usage rollup done', { ...summary, complete });
  return summary;
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
