/**
 * Usage over `[from, to)` per VM or per group, with billed bounds and optional costs, read mostly from the
 * daily rollups: whole days that are rolled up come from their `VmDailyUsage` partition (one query per
 * day), and only what the rollups do not hold exactly is read from segments: the days of VMs whose
 * segments changed since the last rollup (`usageDirtyFrom`) and edge days (windows that are not whole
 * days) of VMs with a transition on them. Days after the rollup mark of a VM that did not change lie in
 * its open segment and come from its current row. The result equals the segment sums (`usageOf` of each VM's segments).
 *
 * Time of a VM outside the days it has usage for (before its first observation, after the query time)
 * is unknown, and goes to the group of its current details.
 */
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
import { GroupKind, groupByValues, groupKeyOf, parseGroupBy, type GroupBy } from '../domain/grouping';
import type { PriceTable } from '../domain/prices';
import type { Segment } from '../domain/segments';
import { addUsage, usageOf, usageOnly, zeroUsage, type UsageSeconds } from '../domain/usage';
import { InputError } from './errors';
import { checkRange } from './queries';
import { forEachLimited } from './concurrency';
import {
  type DailyUsageStore,
  type DayKeyRange,
  type UsageCurrentRow,
  type UsageSource,
} from './rollup-usage';

/** What a range read of the timeline table gives for one VM. */
export interface VmHistory {
  segments: Segment[];
  /** Details history, when asked for. */
  details: DetailsChange[];
}

/**
 * A `UsageSource` that can also read the segments (and details history) of every VM whose key lies in
 * `[first, last]` in one range read of the timeline table, instead of one query per VM.
 */
export interface RangeReadingUsageSource extends UsageSource {
  getHistoriesInRange(
    first: string,
    last: string,
    options: { details: boolean },
  ): Promise<Map<string, VmHistory>>;
}

export interface UsageReportDependencies {
  /** Read VM by VM when it has no `getHistoriesInRange`. */
  source: UsageSource & Partial<Pick<RangeReadingUsageSource, 'getHistoriesInRange'>>;
  daily: DailyUsageStore;
}

export interface UsageQuery {
  from: number;
  to: number;
  /** The moment the data is read: later time is unknown. */
  asOf: number;
  groupBy?: GroupBy | undefined;
  prices?: PriceTable | undefined;
  /** Compute everything from segments, ignoring the rollups (the baseline; for checks and benchmarks). */
  fromSegmentsOnly?: boolean;
}

export interface UsageFigures extends UsageSeconds {
  billedHours: number;
  /** Billed hours × hourly rate, when prices were given: the priced part only (see `unpricedBilledSeconds`). */
  cost?: number | null;
  /** Billed seconds for which no rate matched (present when prices were given and some did not match). */
  unpricedBilledSeconds?: number;
}

export type UsageReportRow = UsageFigures & ({ resourceId: string } | { key: string | null; vms: number });

export interface UnpricedVm {
  resourceId: string;
  /** The UTC day (`yyyy-mm-dd`) when the price file holds resources' own rates (priced day by day). */
  day?: string;
  vmSize: string | null;
  location: string | null;
  osType: string | null;
  priority: string | null;
  billedSeconds: number;
}

export interface GroupedUsageReport {
  from: string;
  to: string;
  asOf: string;
  groupBy: string;
  currency?: string | undefined;
  rows: UsageReportRow[];
  total: UsageFigures;
  /** VMs with billed time no rate matched: listed, never priced at 0. */
  unpriced?: UnpricedVm[];
  /** Where the figures came from: rolled-up day partitions read, VMs read from segments. */
  sources: { dayPartitions: number; vmsFromSegments: number };
}

/** A group-by parameter (`--group-by`, `groupBy`), or an input error naming it. */
export function groupByParameter(value: string | undefined, name: string): GroupBy | undefined {
  if (value === undefined) return undefined;
  const groupBy = parseGroupBy(value);
  if (groupBy === undefined)
    throw new InputError(`${name} must be one of ${groupByValues}, got ${JSON.stringify(value)}`);
  return groupBy;
}

export function groupByName(groupBy: GroupBy | undefined): string {
  if (groupBy === undefined) return GroupKind.vm;
  return groupBy.kind === GroupKind.tag ? `tag:${groupBy.tag ?? ''}` : groupBy.kind;
}

/** Usage of one VM attributed to one set of details. */
interface Bucket {
  details: VmAttributes | undefined;
  /** The day, when priced day by day. */
  day: number | undefined;
  usage: UsageSeconds;
}

/** Usage of one VM by details (and by day, when the VM's rate may change from day to day). */
class VmUsage {
  readonly buckets = new Map<string, Bucket>();
  coveredSeconds = 0;
  constructor(
    readonly resourceId: string,
    readonly current: VmAttributes | undefined,
    readonly byDay: boolean,
  ) {}

  add(details: VmAttributes | undefined, usage: UsageSeconds, day: number): void {
    const bucketDay = this.byDay ? day : undefined;
    const id = `${bucketDay ?? ''}\n${JSON.stringify(details ?? null)}`;
    const bucket = this.buckets.get(id);
    if (bucket === undefined) this.buckets.set(id, { details, day: bucketDay, usage: { ...usage } });
    else bucket.usage = addUsage(bucket.usage, usage);
    this.coveredSeconds += usage.billedSeconds + usage.notBilledSeconds + usage.unknownSeconds;
  }
}

const concurrency = 16;
/**
 * VMs that need their segments are read in windows of this many consecutive VMs of a chunk: one range read
 * of the window when at least a quarter of its VMs need segments (the edge day of a window that does not
 * start at midnight: most VMs with a change that day), else one query per VM.
 */
const rangeReadVms = 100;

export interface UsageReportOptions {
  /**
   * Grouped by VM: each VM's row as soon as its chunk of VMs (a page of `VmCurrent`, in VM key order) is
   * complete, instead of in `rows`; memory then holds one chunk of VMs, not the fleet. A returned promise
   * is awaited before the report goes on (a slow reader holds the report back instead of rows piling up).
   */
  onRow?: (row: UsageReportRow) => unknown;
  /** Told after each page of `VmCurrent` rows is read, before its VMs are summed (awaited). */
  onPage?: () => void | Promise<void>;
}

export async function usageReport(
  deps: UsageReportDependencies,
  query: UsageQuery,
  options: UsageReportOptions = {},
): Promise<GroupedUsageReport> {
  const { from, to, asOf } = query;
  checkRange(from, to);
  const segmentsOnly = query.fromSegmentsOnly === true;
  const wholeRolledDays: number[] = [];
  for (let day = dayStartOf(from); day < to; day += dayInMs) {
    // Rows exist only for complete days; a day not rolled up yet reads an empty partition.
    if (!segmentsOnly && day >= from && day + dayInMs <= to && day + dayInMs <= asOf)
      wholeRolledDays.push(day);
  }
  const assembler = new Assembler(query, options.onRow !== undefined);
  let vmsFromSegments = 0;
  // Chunks of VMs in key order; chunk i reads the day rows with keys in (last key of chunk i-1, its
  // last key], the last chunk to the end, so every day row is read once.
  let previousKey: string | undefined;
  let pending: UsageCurrentRow[] | undefined;
  const run = async (rows: UsageCurrentRow[], through: string | undefined) => {
    const chunk = await chunkUsage(deps, query, rows, wholeRolledDays, { after: previousKey, through });
    vmsFromSegments += chunk.vmsFromSegments;
    for (const row of assembler.add(chunk.vms.values())) await options.onRow?.(row);
    previousKey = through;
  };
  for await (const page of deps.source.listCurrentRows()) {
    await options.onPage?.();
    if (pending !== undefined) await run(pending, pending[pending.length - 1]?.key);
    pending = page;
  }
  await run(pending ?? [], undefined);
  return assembler.finish({ dayPartitions: wholeRolledDays.length, vmsFromSegments });
}

/** Usage of one chunk of VMs (and of rollup rows in its key range without a current row). */
async function chunkUsage(
  deps: UsageReportDependencies,
  query: UsageQuery,
  currents: readonly UsageCurrentRow[],
  wholeRolledDays: readonly number[],
  keys: DayKeyRange,
): Promise<{ vms: Map<string, VmUsage>; vmsFromSegments: number }> {
  const { from, to, asOf } = query;
  const needDetails =
    query.prices !== undefined ||
    (query.groupBy !== undefined &&
      query.groupBy.kind !== GroupKind.vm &&
      query.groupBy.kind !== GroupKind.subscription &&
      query.groupBy.kind !== GroupKind.resourceGroup);
  const segmentsOnly = query.fromSegmentsOnly === true;
  const byDay = query.prices?.hasResourceRates === true;
  const vms = new Map<string, VmUsage>();
  /** Per VM: whole days (epoch ms) read from the rollup rows. */
  const fromRows = new Map<string, Set<number>>();
  const segmentWork: Array<{ row: UsageCurrentRow; usage: VmUsage; days: number[]; window: number }> = [];
  const synthWork: Array<{ row: UsageCurrentRow; usage: VmUsage; days: number[] }> = [];
  const rolled = new Set(wholeRolledDays);
  for (const [index, row] of currents.entries()) {
    const { current } = row;
    const usage = new VmUsage(current.resourceId, current.details, byDay);
    vms.set(row.key, usage);
    const open = openSegmentOf(current);
    const dirty = current.usageDirtyFrom;
    // Segments changed since the last rollup only from the dirty day on (a change always marks the
    // start of the segment it closed, which began by the rollup mark, so no earlier day is stale).
    const segmentFrom = segmentsOnly ? -Infinity : dirty === undefined ? Infinity : dayStartOf(dirty);
    const segmentDays: number[] = [];
    const rowDays = new Set<number>();
    const synthDays: number[] = [];
    for (let day = dayStartOf(from); day < to; day += dayInMs) {
      const covered = open !== undefined && open.start <= day;
      if (day >= segmentFrom) segmentDays.push(day);
      else if (rolled.has(day)) rowDays.add(day);
      else if (covered) synthDays.push(day);
      else segmentDays.push(day); // an edge day or today, with a transition on it
    }
    if (rowDays.size > 0) fromRows.set(row.key, rowDays);
    if (segmentDays.length > 0)
      segmentWork.push({ row, usage, days: segmentDays, window: Math.floor(index / rangeReadVms) });
    if (synthDays.length > 0) synthWork.push({ row, usage, days: synthDays });
  }

  // Rolled-up whole days: one query per day partition.
  await forEachLimited(wholeRolledDays, 8, async (day) => {
    for await (const page of deps.daily.listDay(dayName(day), keys)) {
      for (const r of page) {
        const vm = vms.get(r.vmKey);
        if (vm === undefined) {
          // A VM with rollups but no current row (not expected): count its rows as they are.
          const orphan = new VmUsage(r.resourceId, r.details, byDay);
          vms.set(r.vmKey, orphan);
          orphan.add(r.details, usageOnly(r), day);
        } else if (fromRows.get(r.vmKey)?.delete(day) === true) vm.add(r.details, usageOnly(r), day);
      }
    }
  });
  // Rolled-up days with no row: a VM deleted all day (no row is written for it), or one that did not
  // exist yet. The first lie in the open segment.
  const byKey = new Map(currents.map((c) => [c.key, c]));
  for (const [key, days] of fromRows) {
    if (days.size === 0) continue;
    const vm = vms.get(key);
    const row = byKey.get(key);
    if (vm === undefined || row === undefined) continue;
    const open = openSegmentOf(row.current);
    const covered = [...days].filter((day) => open !== undefined && open.start <= day);
    if (covered.length > 0) synthWork.push({ row, usage: vm, days: covered });
  }
  // Days wholly in a VM's open segment: from its current row.
  await forEachLimited(synthWork, concurrency, async ({ row, usage, days }) => {
    const { current } = row;
    const open = openSegmentOf(current);
    if (open === undefined) return;
    const history =
      needDetails && current.detailsAt !== undefined && current.detailsAt >= (days[0] ?? 0) + dayInMs
        ? await deps.source.getDetailsHistory(current.resourceId)
        : [];
    for (const day of days) {
      const a = Math.max(from, day);
      const b = Math.min(to, day + dayInMs);
      usage.add(detailsForDay(history, day + dayInMs, current.details), usageOf([open], a, b, asOf), day);
    }
  });

  // Days the rollups do not hold exactly: from segments, a window of VMs in one range read when enough
  // of its VMs need them, else VM by VM.
  type Work = (typeof segmentWork)[number];
  const span = (days: number[]) => ({
    a: Math.max(from, days[0] ?? from),
    b: Math.min(to, (days[days.length - 1] ?? from) + dayInMs),
  });
  const addDays = ({ row, usage, days }: Work, segments: Segment[], history: DetailsChange[]) => {
    const { a, b } = span(days);
    const wanted = new Set(days);
    for (const d of dailyUsageOf(segments, a, b, asOf)) {
      if (!wanted.has(d.day)) continue;
      usage.add(detailsForDay(history, d.day + dayInMs, row.current.details), d.usage, d.day);
    }
  };
  const wantsDetails = (work: Work) => needDetails && work.row.current.detailsAt !== undefined;
  const windows = new Map<number, Work[]>();
  for (const work of segmentWork) {
    const list = windows.get(work.window) ?? [];
    list.push(work);
    windows.set(work.window, list);
  }
  const ranged: Work[][] = [];
  const single: Work[] = [];
  for (const [window, works] of windows) {
    const windowVms = Math.min(rangeReadVms, currents.length - window * rangeReadVms);
    if (deps.source.getHistoriesInRange !== undefined && works.length >= Math.max(2, windowVms / 4))
      ranged.push(works);
    else single.push(...works);
  }
  await Promise.all([
    forEachLimited(ranged, 4, async (works) => {
      const first = works[0]?.row.key ?? '';
      const last = works[works.length - 1]?.row.key ?? '';
      const histories =
        (await deps.source.getHistoriesInRange?.(first, last, { details: works.some(wantsDetails) })) ??
        new Map<string, VmHistory>();
      for (const work of works) {
        const history = histories.get(work.row.key);
        const { a, b } = span(work.days);
        const segments = overlapping(history?.segments ?? [], a, b);
        if (segments.length === 0) continue;
        addDays(work, segments, wantsDetails(work) ? (history?.details ?? []) : []);
      }
    }),
    forEachLimited(single, concurrency, async (work) => {
      const { a, b } = span(work.days);
      const timeline = await deps.source.getTimeline(work.row.current.resourceId, { from: a, to: b });
      const segments: Segment[] = timeline?.segments ?? [];
      if (segments.length === 0) return;
      const history = wantsDetails(work)
        ? await deps.source.getDetailsHistory(work.row.current.resourceId)
        : [];
      addDays(work, segments, history);
    }),
  ]);

  return { vms, vmsFromSegments: segmentWork.length };
}

/**
 * The segments (in start order) that overlap `[from, to)`, as `getTimeline` with that range gives them:
 * a segment starting at or after `to` only when its start window opens before `to`, and none after it.
 */
function overlapping(segments: readonly Segment[], from: number, to: number): Segment[] {
  const result: Segment[] = [];
  for (const segment of segments) {
    if (segment.end !== undefined && segment.end <= from) continue;
    if (segment.start >= to) {
      if (segment.startWindowFrom !== undefined && segment.startWindowFrom < to) result.push(segment);
      break;
    }
    result.push(segment);
  }
  return result;
}


interface Accumulator {
  usage: UsageSeconds;
  cost: number;
  unpricedBilledSeconds: number;
  /**
   * VMs counted in the group. A VM is summed within one chunk, so a count is enough: a set of their ids
   * would hold the whole fleet in memory until the report ends.
   */
  vms: number;
}

function newAccumulator(): Accumulator {
  return { usage: { ...zeroUsage }, cost: 0, unpricedBilledSeconds: 0, vms: 0 };
}

function figures(acc: Accumulator, prices: PriceTable | undefined): UsageFigures {
  const f: UsageFigures = { ...acc.usage, billedHours: acc.usage.billedSeconds / 3600 };
  if (prices !== undefined) {
    f.cost = acc.unpricedBilledSeconds > 0 && acc.cost === 0 ? null : acc.cost;
    if (acc.unpricedBilledSeconds > 0) f.unpricedBilledSeconds = acc.unpricedBilledSeconds;
  }
  return f;
}

/** Sums VMs into groups and the total as chunks of VMs complete; rows of VMs go out as they come. */
class Assembler {
  readonly #groupBy: GroupBy;
  readonly #windowInSeconds: number;
  readonly #groups = new Map<string | null, Accumulator>();
  readonly #total = newAccumulator();
  readonly #unpriced = new Map<string, UnpricedVm>();

  constructor(
    private readonly query: UsageQuery,
    private readonly streaming: boolean,
  ) {
    this.#groupBy = query.groupBy ?? { kind: GroupKind.vm };
    this.#windowInSeconds = (query.to - query.from) / 1000;
  }

  get #streaming(): boolean {
    return this.streaming && this.#groupBy.kind === GroupKind.vm;
  }

  /** Adds a chunk of VMs; streaming by VM, returns their rows (by resource id) instead of keeping them. */
  add(vms: Iterable<VmUsage>): UsageReportRow[] {
    const chunk: Array<[string | null, Accumulator]> = [];
    for (const vm of vms) {
      // The groups this VM counts in (a tag changed within the range: more than one), each counted once.
      const touched = new Set<Accumulator>();
      for (const bucket of vm.buckets.values())
        this.#add(
          touched,
          groupKeyOf(this.#groupBy, vm.resourceId, bucket.details),
          vm.resourceId,
          bucket.details,
          bucket.usage,
          bucket.day,
        );
      const residual = this.#windowInSeconds - vm.coveredSeconds;
      if (residual > 1e-6)
        this.#add(touched, groupKeyOf(this.#groupBy, vm.resourceId, vm.current), vm.resourceId, vm.current, {
          ...zeroUsage,
          unknownSeconds: residual,
        });
      for (const acc of touched) acc.vms += 1;
      if (this.#streaming) {
        const acc = this.#groups.get(vm.resourceId);
        if (acc !== undefined) chunk.push([vm.resourceId, acc]);
        this.#groups.delete(vm.resourceId);
      }
    }
    return chunk.sort(([a], [b]) => byKey(a, b)).map(([key, acc]) => this.#row(key, acc));
  }

  finish(sources: GroupedUsageReport['sources']): GroupedUsageReport {
    const { query } = this;
    const rows: UsageReportRow[] = [...this.#groups.entries()]
      .sort(([a], [b]) => byKey(a, b))
      .map(([key, acc]) => this.#row(key, acc));
    const report: GroupedUsageReport = {
      from: new Date(query.from).toISOString(),
      to: new Date(query.to).toISOString(),
      asOf: new Date(query.asOf).toISOString(),
      groupBy: groupByName(this.#groupBy),
      rows,
      total: figures(this.#total, query.prices),
      sources,
    };
    if (query.prices !== undefined) {
      report.currency = query.prices.currency;
      report.unpriced = [...this.#unpriced.values()].sort(
        (a, b) => a.resourceId.localeCompare(b.resourceId) || (a.day ?? '').localeCompare(b.day ?? ''),
      );
    }
    return report;
  }

  #row(key: string | null, acc: Accumulator): UsageReportRow {
    return this.#groupBy.kind === GroupKind.vm
      ? { resourceId: key ?? '', ...figures(acc, this.query.prices) }
      : { key, vms: acc.vms, ...figures(acc, this.query.prices) };
  }

  #add(
    touched: Set<Accumulator>,
    key: string | null,
    resourceId: string,
    details: VmAttributes | undefined,
    u: UsageSeconds,
    day?: number,
  ): void {
    const { prices } = this.query;
    const acc = this.#groups.get(key) ?? newAccumulator();
    this.#groups.set(key, acc);
    acc.usage = addUsage(acc.usage, u);
    touched.add(acc);
    this.#total.usage = addUsage(this.#total.usage, u);
    // The total counts usage, not VMs: a set of every VM would be the whole fleet in memory.
    if (prices === undefined || u.billedSeconds === 0) return;
    const rate = prices.rateOf(details, resourceId, day);
    if (rate === undefined) {
      acc.unpricedBilledSeconds += u.billedSeconds;
      this.#total.unpricedBilledSeconds += u.billedSeconds;
      const id = `${resourceId}\n${day ?? ''}\n${JSON.stringify(details ?? null)}`;
      const listed = this.#unpriced.get(id);
      if (listed !== undefined) listed.billedSeconds += u.billedSeconds;
      else
        this.#unpriced.set(id, {
          resourceId,
          ...(day === undefined ? {} : { day: dayName(day) }),
          vmSize: details?.vmSize ?? null,
          location: details?.location ?? null,
          osType: details?.osType ?? null,
          priority: details?.priority ?? null,
          billedSeconds: u.billedSeconds,
        });
    } else {
      const cost = (u.billedSeconds / 3600) * rate;
      acc.cost += cost;
      this.#total.cost += cost;
    }
  }
}

function byKey(a: string | null, b: string | null): number {
  return a === null ? 1 : b === null ? -1 : a.toLowerCase().localeCompare(b.toLowerCase());
}
