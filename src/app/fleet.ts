/**
 * The fleet a page at a time (`GET /api/fleet`, the dashboard): filter, sort and page the VMs (or groups
 * of them) of a big fleet in one request, reading only what the page needs:
 *
 * - `VmCurrent` (VMs/1000 requests) lists the fleet, answers the filters and the facets (subscriptions,
 *   resource groups, tags), and knows each VM's open segment;
 * - `VmDailyDigest` (per whole day of the range, a narrow query and a point read per chunk of ~10,000 VMs;
 *   the day's `VmDailyUsage` partition, VMs/1000 pages, when its digest is missing or inconsistent),
 *   walked in step with the current rows (a read or two held per day, not the day), gives the billed time
 *   used to sort and the totals of the whole selection: whole days from the rollup rows, the
 *   time in each VM's open segment from its current row; what neither holds exactly (a partial edge day,
 *   today before a VM's last change) is prorated within bounds (`billedSecondsMin` / `Max`) or counted
 *   unknown until the next rollup;
 * - `VmTimeline` only for the VMs of the page (their segments, and their exact usage from them).
 *
 * A page ends with a continuation token (the sort values of its last VM), so the next page starts after
 * that VM even when VMs were added meanwhile. `version` names the state of the recorded data (the newest
 * `VmCurrent` change and the rollup mark): `unchangedSince(version)` answers with one or two requests
 * whether anything was recorded since.
 */
import { openSegmentOf } from '../domain/current';
import { dayInMs, dayName, dayStartOf } from '../domain/daily-usage';
import { GroupKind, groupKeyOf, type GroupBy } from '../domain/grouping';
import { isPowerState, PowerState } from '../domain/power-state';
import { currentKeys, parseComputeResourceId, vmKey } from '../domain/resource-id';
import { addUsage, usageFields, usageOf, zeroUsage, type UsageSeconds } from '../domain/usage';
import { forEachLimited } from './concurrency';
import { InputError } from './errors';
import { TopK } from './top-k';
import type { CurrentState, TimeRange, Timeline } from './ports';
import { checkRange, segmentView, type SegmentView } from './queries';
import { stoppedStatusOf, type StoppedQueryDependencies } from './stopped';
import type { DayUsage } from './rollup-usage';

/** A `VmCurrent` row with the storage's stamp of its last change (opaque, ordered as text of one format). */
export interface FleetCurrentRow {
  current: CurrentState;
  /** The row's last-modified stamp, as the store gives it (ISO 8601, up to 100 ns). */
  changedAt: string;
}

/** What the fleet listing reads of the timeline tables. */
export interface FleetSource {
  /** Current rows, page by page; `states` (when given) filtered by the store. */
  listFleet(options?: { states?: readonly string[] }): AsyncIterable<FleetCurrentRow[]>;
  /** True when some current row changed after `changedAt` (a stamp `listFleet` returned). */
  changedSince(changedAt: string): Promise<boolean>;
  getTimeline(resourceId: string, range?: TimeRange): Promise<Timeline | undefined>;
}

/** What the fleet listing reads of the daily rollups. */
export interface FleetDailySource {
  /** The usage columns of one day partition, page by page. */
  listDayUsage(day: string): AsyncIterable<DayUsage[]>;
  getRolledThrough(): Promise<number | undefined>;
}

/** What the fleet listing reads of the per-day digests (`VmDailyDigest`). */
export interface FleetDigestSource {
  /**
   * A day's figures of every VM, a few at a time in VM key order, read as they are asked for; undefined
   * when the day has no whole digest. A digest rewritten while it is read ends it with `DigestChangedError`.
   */
  openDigest(day: string): Promise<AsyncIterable<DayUsage[]> | undefined>;
}

/** A day's digest changed (another write) while it was read: its entries so far are not one write's. */
export class DigestChangedError extends Error {
  override name = 'DigestChangedError';
}

export interface FleetDependencies extends StoppedQueryDependencies {
  source: FleetSource;
  daily: FleetDailySource;
  digests: FleetDigestSource;
}

export const FleetSort = {
  /** Stopped (allocated) first (longest first), then the most billed. */
  attention: 'attention',
  billed: 'billed',
  /** Time in Stopped (allocated) within the range (current episode). */
  stopped: 'stopped',
  /** Natural order: vm-2 before vm-10. */
  name: 'name',
  /** Most recent change of state first. */
  lastChange: 'lastChange',
} as const;
export type FleetSort = (typeof FleetSort)[keyof typeof FleetSort];

export const maxFleetPageSize = 200;
export const defaultFleetPageSize = 50;
/** Tag names and values listed in the facets, at most. */
const maxFacetValues = 200;

export interface FleetQuery {
  from: number;
  to: number;
  asOf: number;
  subscription?: string | undefined;
  resourceGroup?: string | undefined;
  /** Tag name (case-insensitive); with `tagValue`, that value (exact). */
  tag?: string | undefined;
  tagValue?: string | undefined;
  states?: readonly string[] | undefined;
  /** Part of the VM's name (case-insensitive). */
  search?: string | undefined;
  sort?: FleetSort | undefined;
  /** Groups instead of VMs (not `vm`). */
  groupBy?: GroupBy | undefined;
  pageSize?: number | undefined;
  continuation?: string | undefined;
  /** Read the page's segments (default true). */
  segments?: boolean | undefined;
}

export interface FleetFigures extends UsageSeconds {
  billedHours: number;
  /** Seconds in Stopped (allocated) within the range (the current episode). */
  stoppedSeconds: number;
}

export interface FleetVm {
  resourceId: string;
  key: string;
  subscriptionId: string;
  resourceGroup: string | null;
  name: string;
  scaleSet: string | null;
  state: string | null;
  billing: string | null;
  since: string | null;
  sinceWindowFrom: string | null;
  lastObservedAt: string | null;
  vmSize: string | null;
  location: string | null;
  priority: string | null;
  tags: Record<string, string>;
  usage: FleetFigures;
  /** `segments` when the page's segments were read (exact), else `rollups`. */
  usageFrom: 'segments' | 'rollups';
  segments?: SegmentView[];
  /** For a VM in Stopped (allocated): its alert state (`withinGrace`, `due`, `sent`, `exempt`). */
  alertState?: string;
}

export interface FleetGroup extends FleetFigures {
  key: string | null;
  vms: number;
  stoppedVms: number;
}

export interface FleetFacets {
  subscriptions: string[];
  resourceGroups: string[];
  tags: Array<{ name: string; values: string[] }>;
  states: Record<string, number>;
}

export interface FleetPage {
  asOf: string;
  from: string;
  to: string;
  sort: FleetSort;
  groupBy: string;
  /** State of the recorded data this answer was made from (see `unchangedSince`). */
  version: string;
  /** The rollups hold whole days before this (ISO 8601); null before the first rollup. */
  rolledThrough: string | null;
  /** The whole selection (every page), from the rollups and current rows. */
  total: FleetFigures & { vms: number; stoppedVms: number };
  /** Facets of the whole fleet, on a first page read without a state filter. */
  facets?: FleetFacets;
  vms?: FleetVm[];
  groups?: FleetGroup[];
  /** Pass as `continuation` for the next page; null on the last. */
  continuation: string | null;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** Display fields of a VM (name with its scale-set instance, resource group...) from its current row. */
export function vmListItem(current: CurrentState) {
  const parsed = parseComputeResourceId(current.resourceId);
  return {
    resourceId: current.resourceId,
    key: vmKey(current.resourceId),
    subscriptionId: current.subscriptionId,
    resourceGroup: parsed?.resourceGroup ?? null,
    name:
      parsed === undefined
        ? current.resourceId
        : parsed.instanceId === undefined
          ? parsed.name
          : `${parsed.name}_${parsed.instanceId}`,
    scaleSet: parsed?.instanceId === undefined ? null : parsed.name,
    state: current.state ?? null,
    billing: current.billing ?? null,
    since: iso(current.since),
    sinceWindowFrom: iso(current.sinceWindowFrom),
    lastObservedAt: iso(current.last.at),
    vmSize: current.details?.vmSize ?? null,
    location: current.details?.location ?? null,
    priority: current.details?.priority ?? null,
    tags: current.details?.tags ?? {},
  };
}

/** A power-state list parameter (`running,stopped`), or an input error naming it. */
export function statesParameter(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const states = value.split(',').map((s) => s.trim());
  const bad = states.find((s) => !isPowerState(s));
  if (bad !== undefined)
    throw new InputError(
      `${name} must be power states (${Object.values(PowerState).join(', ')}) separated by commas, got ${JSON.stringify(bad)}`,
    );
  return states;
}

export function sortParameter(value: string | undefined, name: string): FleetSort | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const sort = (Object.values(FleetSort) as string[]).find(
    (s) => s.toLowerCase() === value.trim().toLowerCase(),
  );
  if (sort === undefined)
    throw new InputError(
      `${name} must be one of ${Object.values(FleetSort).join(', ')}, got ${JSON.stringify(value)}`,
    );
  return sort as FleetSort;
}

export function pageSizeParameter(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value.trim());
  if (!Number.isInteger(n) || n < 1 || n > maxFleetPageSize)
    throw new InputError(
      `${name} must be a whole number from 1 to ${maxFleetPageSize}, got ${JSON.stringify(value)}`,
    );
  return n;
}

// ---- sorting and continuation ----------------------------------------------------------------------

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

type SortValue = number | string;
/** Sort values of an item, each ascending (numbers negated for descending order). */
type Tuple = SortValue[];

function compareTuples(a: Tuple, b: Tuple): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c =
      typeof x === 'number' && typeof y === 'number'
        ? x - y
        : collator.compare(String(x), String(y)) || (String(x) < String(y) ? -1 : 1);
    if (c !== 0) return c;
  }
  return 0;
}

interface Token {
  s: string;
  t: Tuple;
}

function encodeToken(token: Token): string {
  return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

function decodeToken(text: string, sort: string): Token {
  let token: unknown;
  try {
    token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    token = undefined;
  }
  const t = token as Partial<Token> | undefined;
  if (
    t === undefined ||
    t === null ||
    typeof t !== 'object' ||
    typeof t.s !== 'string' ||
    !Array.isArray(t.t) ||
    !t.t.every((v) => typeof v === 'number' || typeof v === 'string')
  )
    throw new InputError('continuation is not a token this route returned');
  if (t.s !== sort) throw new InputError('continuation belongs to another sort or grouping');
  return { s: t.s, t: t.t };
}

/** The page of `items` (sorted by `tuple`, ties broken by the last tuple value) after `token`. */
function page<T>(
  items: T[],
  tuple: (item: T) => Tuple,
  sortName: string,
  pageSize: number,
  continuation: string | undefined,
): { items: T[]; continuation: string | null } {
  const keyed = items.map((item) => ({ item, tuple: tuple(item) }));
  keyed.sort((a, b) => compareTuples(a.tuple, b.tuple));
  let start = 0;
  if (continuation !== undefined) {
    const after = decodeToken(continuation, sortName).t;
    let lo = 0;
    let hi = keyed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareTuples((keyed[mid] as (typeof keyed)[number]).tuple, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const slice = keyed.slice(start, start + pageSize);
  const last = slice[slice.length - 1];
  return {
    items: slice.map((k) => k.item),
    continuation:
      start + pageSize < keyed.length && last !== undefined
        ? encodeToken({ s: sortName, t: last.tuple })
        : null,
  };
}

// ---- figures -------------------------------------------------------------------------------------

interface Candidate {
  current: CurrentState;
  key: string;
  name: string;
  figures: FleetFigures;
}

function figuresOf(usage: UsageSeconds, stoppedSeconds: number): FleetFigures {
  return { ...usage, billedHours: usage.billedSeconds / 3600, stoppedSeconds };
}

function stoppedSecondsOf(current: CurrentState, from: number, to: number, asOf: number): number {
  if (current.state !== PowerState.stopped || current.since === undefined) return 0;
  return Math.max(0, Math.min(to, asOf) - Math.max(from, current.since)) / 1000;
}

/**
 * A VM's usage over `[from, to)` from its rollup rows (`days`: day start → figures) and its current row:
 * exact where the open segment or a whole-day row covers the time; a partial day with a row is prorated
 * within bounds; a rolled-up day without a row is unknown (no observation); time of a day not rolled up
 * yet before the VM's last change goes as the day before went, with billed bounds 0 to all of it.
 */
export function estimateUsage(
  current: CurrentState,
  days: Pick<ReadonlyMap<number, UsageSeconds>, 'get'> | undefined,
  from: number,
  to: number,
  asOf: number,
  rolledThrough: number | undefined,
): UsageSeconds {
  let usage: UsageSeconds = { ...zeroUsage };
  const open = openSegmentOf(current);
  for (let day = dayStartOf(from); day < to; day += dayInMs) {
    const a = Math.max(from, day);
    const b = Math.min(to, day + dayInMs);
    const row = days?.get(day);
    if (open !== undefined && open.start <= a) {
      usage = addUsage(usage, usageOf([open], a, b, asOf));
      continue;
    }
    if (row !== undefined && a === day && b === day + dayInMs) {
      usage = addUsage(usage, row);
      continue;
    }
    // [known, b) lies in the open segment; [a, known) is what the rollups must tell.
    const known = open === undefined ? b : Math.min(b, Math.max(a, open.start));
    if (known < b && open !== undefined) usage = addUsage(usage, usageOf([open], known, b, asOf));
    const seconds = (known - a) / 1000;
    if (seconds <= 0) continue;
    const dayInSeconds = dayInMs / 1000;
    if (row === undefined) {
      // A rolled-up day without a row: the VM had no observation then (unknown, never billed).
      if (rolledThrough !== undefined && day + dayInMs <= rolledThrough) {
        usage = addUsage(usage, { ...zeroUsage, unknownSeconds: seconds });
        continue;
      }
      // Not rolled up yet (today): as the day before went, anywhere from nothing to all of it billed.
      const before = days?.get(day - dayInMs);
      const share = (value: number) => (before === undefined ? 0 : (value / dayInSeconds) * seconds);
      usage = addUsage(usage, {
        billedSeconds: share(before?.billedSeconds ?? 0),
        notBilledSeconds: share(before?.notBilledSeconds ?? 0),
        unknownSeconds: before === undefined ? seconds : share(before.unknownSeconds),
        billedSecondsMin: 0,
        billedSecondsMax: seconds,
      });
      continue;
    }
    const share = seconds / dayInSeconds;
    const min = Math.max(0, row.billedSecondsMin - (dayInSeconds - seconds));
    const max = Math.min(row.billedSecondsMax, seconds);
    usage = addUsage(usage, {
      billedSeconds: Math.min(max, Math.max(min, row.billedSeconds * share)),
      notBilledSeconds: row.notBilledSeconds * share,
      unknownSeconds: row.unknownSeconds * share,
      billedSecondsMin: min,
      billedSecondsMax: max,
    });
  }
  return usage;
}

function matches(current: CurrentState, name: string, query: FleetQuery): boolean {
  if (
    query.subscription !== undefined &&
    current.subscriptionId.toLowerCase() !== query.subscription.toLowerCase()
  )
    return false;
  if (query.resourceGroup !== undefined) {
    const group = parseComputeResourceId(current.resourceId)?.resourceGroup ?? '';
    if (group.toLowerCase() !== query.resourceGroup.toLowerCase()) return false;
  }
  if (query.tag !== undefined) {
    const wanted = query.tag.toLowerCase();
    const entry = Object.entries(current.details?.tags ?? {}).find(([k]) => k.toLowerCase() === wanted);
    if (entry === undefined) return false;
    if (query.tagValue !== undefined && entry[1] !== query.tagValue) return false;
  }
  if (query.states !== undefined && !query.states.includes(current.state ?? '')) return false;
  if (query.search !== undefined && !name.toLowerCase().includes(query.search.toLowerCase())) return false;
  return true;
}

/** The facets of the fleet (subscriptions, resource groups, tags, state counts), a row at a time. */
class Facets {
  readonly #subscriptions = new Set<string>();
  readonly #groups = new Set<string>();
  readonly #tags = new Map<string, Set<string>>();
  readonly #states: Record<string, number> = {};

  add(c: CurrentState): void {
    this.#subscriptions.add(c.subscriptionId.toLowerCase());
    const group = parseComputeResourceId(c.resourceId)?.resourceGroup;
    if (group !== undefined) this.#groups.add(group.toLowerCase());
    const state = c.state ?? 'unknown';
    this.#states[state] = (this.#states[state] ?? 0) + 1;
    for (const [name, value] of Object.entries(c.details?.tags ?? {})) {
      let values = this.#tags.get(name);
      if (values === undefined) {
        if (this.#tags.size >= maxFacetValues) continue;
        values = new Set();
        this.#tags.set(name, values);
      }
      if (values.size < maxFacetValues) values.add(value);
    }
  }

  result(): FleetFacets {
    const sorted = (values: Iterable<string>) => [...values].sort(collator.compare);
    return {
      subscriptions: sorted(this.#subscriptions),
      resourceGroups: sorted(this.#groups),
      tags: sorted(this.#tags.keys()).map((name) => ({ name, values: sorted(this.#tags.get(name) ?? []) })),
      states: this.#states,
    };
  }
}

function nameOf(current: CurrentState): string {
  const parsed = parseComputeResourceId(current.resourceId);
  if (parsed === undefined) return current.resourceId;
  return parsed.instanceId === undefined ? parsed.name : `${parsed.name}_${parsed.instanceId}`;
}

function vmTuple(sort: FleetSort): (c: Candidate) => Tuple {
  switch (sort) {
    case FleetSort.attention:
      return (c) => [
        c.current.state === PowerState.stopped ? 0 : 1,
        -c.figures.stoppedSeconds,
        -c.figures.billedSeconds,
        c.name,
        c.key,
      ];
    case FleetSort.billed:
      return (c) => [-c.figures.billedSeconds, c.name, c.key];
    case FleetSort.stopped:
      return (c) => [-c.figures.stoppedSeconds, -c.figures.billedSeconds, c.name, c.key];
    case FleetSort.name:
      return (c) => [c.name, c.key];
    case FleetSort.lastChange:
      return (c) => [-(c.current.since ?? 0), c.name, c.key];
  }
}

function groupTuple(sort: FleetSort): (g: FleetGroup) => Tuple {
  // A group's key may be null (no such tag): listed last by name.
  const name = (g: FleetGroup): SortValue => (g.key === null ? '\uffff' : g.key);
  if (sort === FleetSort.name) return (g) => [name(g)];
  if (sort === FleetSort.stopped) return (g) => [-g.stoppedSeconds, -g.billedSeconds, name(g)];
  return (g) => [-g.billedSeconds, name(g)];
}

// ---- the range's day figures ---------------------------------------------------------------------

/**
 * The join's assumptions did not hold (the current rows or a day's entries came out of the order the join
 * walks them in, or a digest changed while read): the answer is made again holding each day whole.
 */
class JoinBrokenError extends Error {
  override name = 'JoinBrokenError';
}

/** VM keys in the order `VmCurrent` lists them: PartitionKey (subscription), then RowKey (ordinal). */
function compareCurrentOrder(a: string, b: string): number {
  const x = currentKeysOf(a);
  const y = currentKeysOf(b);
  if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? -1 : 1;
  return compareKeys(x, y);
}

type CurrentKeys = ReturnType<typeof currentKeys>;

function compareKeys(x: CurrentKeys, y: CurrentKeys): number {
  if (x.partitionKey !== y.partitionKey) return x.partitionKey < y.partitionKey ? -1 : 1;
  return x.rowKey < y.rowKey ? -1 : x.rowKey > y.rowKey ? 1 : 0;
}

/** The `VmCurrent` keys of a VM key; undefined for a key that is not subscription-scoped (no such row). */
function currentKeysOf(key: string): CurrentKeys | undefined {
  try {
    return currentKeys(key);
  } catch {
    return undefined;
  }
}

/** One day's figures by VM key, for the current rows a page at a time. */
interface DayFigures {
  /**
   * Makes `get` answer for the keys of a page of current rows: `first` (the first in `VmCurrent` order),
   * `lowest` and `highest` (in VM key order).
   */
  fill(first: string, lowest: string, highest: string): Promise<void>;
  /** The figures of `key` (asked in `VmCurrent` order, each key once or more in a row). */
  get(key: string): UsageSeconds | undefined;
  /** Reads what is left (checking its order). */
  finish(): Promise<void>;
}

/** The next page of `pages` is asked for as soon as one is taken (one page ahead, never more). */
async function* readAhead<T>(pages: AsyncIterable<T>): AsyncIterable<T> {
  const iterator = pages[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    for (;;) {
      const result = await next;
      if (result.done === true) return;
      next = iterator.next();
      next.catch(() => undefined); // awaited in the next round
      yield result.value;
    }
  } finally {
    await iterator.return?.();
  }
}

/**
 * A day's entries (VM key order, as the digest and the day partition hold them) joined with the current
 * rows (`VmCurrent` order) in step: it holds the entries of one read (a digest column, a partition page)
 * past the page of current rows, not the day. Where the two orders differ (a subscription id that is a
 * prefix of another sorts after it as a VM key, `|` being after letters and digits), the entries passed
 * that the current rows have not reached yet wait in `#ahead`. Entries out of VM key order, or current
 * rows out of `VmCurrent` order, break the join (`JoinBrokenError`): nothing is guessed.
 */
class DayCursor implements DayFigures {
  #entries: DayUsage[] = [];
  #index = 0;
  #done = false;
  #lastRead: string | undefined;
  readonly #ahead = new Map<string, UsageSeconds>();
  #lastKey: string | undefined;
  #lastFigures: UsageSeconds | undefined;
  #iterator: AsyncIterator<DayUsage[]> | undefined;

  constructor(private readonly open: () => Promise<AsyncIterable<DayUsage[]>>) {}

  async fill(first: string, lowest: string, highest: string): Promise<void> {
    this.#iterator ??= readAhead(await this.open())[Symbol.asyncIterator]();
    for (;;) {
      // Entries before the page's keys (in VM key order) are for none of them: dropped, or kept for the
      // rows after them in `VmCurrent` order (those the page's rows are not asked for need not be read).
      while (this.#index < this.#entries.length) {
        const e = this.#entries[this.#index] as DayUsage;
        if (e.vmKey >= lowest) break;
        this.#index += 1;
        if (compareCurrentOrder(e.vmKey, first) > 0) this.#ahead.set(e.vmKey, e);
      }
      const last = this.#entries[this.#entries.length - 1];
      if (this.#done || (this.#index < this.#entries.length && last !== undefined && last.vmKey > highest))
        return;
      const result = await this.#read();
      if (result === undefined) return;
      this.#entries = this.#index > 0 ? this.#entries.slice(this.#index) : this.#entries;
      this.#index = 0;
      for (const e of result) this.#entries.push(e);
    }
  }

  async #read(): Promise<DayUsage[] | undefined> {
    let result: IteratorResult<DayUsage[]>;
    try {
      result = await (this.#iterator as AsyncIterator<DayUsage[]>).next();
    } catch (error) {
      if (error instanceof DigestChangedError) throw new JoinBrokenError(error.message);
      throw error;
    }
    if (result.done === true) {
      this.#done = true;
      return undefined;
    }
    for (const e of result.value) {
      if (this.#lastRead !== undefined && !(e.vmKey > this.#lastRead))
        throw new JoinBrokenError('day entries out of VM key order');
      this.#lastRead = e.vmKey;
    }
    return result.value;
  }

  get(key: string): UsageSeconds | undefined {
    if (key === this.#lastKey) return this.#lastFigures;
    this.#lastKey = key;
    this.#lastFigures = this.#find(key);
    return this.#lastFigures;
  }

  #find(key: string): UsageSeconds | undefined {
    if (this.#ahead.size > 0) {
      const ahead = this.#ahead.get(key);
      if (ahead !== undefined) {
        this.#ahead.delete(key);
        return ahead;
      }
    }
    while (this.#index < this.#entries.length) {
      const e = this.#entries[this.#index] as DayUsage;
      if (e.vmKey === key) {
        this.#index += 1;
        return e;
      }
      // An entry after the key: the key has none (the entries come in VM key order).
      if (e.vmKey > key) return undefined;
      this.#index += 1;
      // Before the key: a VM the current rows passed (no current row: dropped), or one they reach later.
      if (compareCurrentOrder(e.vmKey, key) > 0) this.#ahead.set(e.vmKey, e);
    }
    return undefined;
  }

  /** Drops the entries waiting for current rows that went by (those before `key` in `VmCurrent` order). */
  passed(key: string): void {
    for (const k of this.#ahead.keys()) if (compareCurrentOrder(k, key) < 0) this.#ahead.delete(k);
  }

  get waiting(): number {
    return this.#ahead.size;
  }

  async finish(): Promise<void> {
    if (this.#iterator === undefined) return;
    while (!this.#done) await this.#read();
  }
}

/** A day's figures read whole into a map (when the join cannot be used). */
class WholeDay implements DayFigures {
  #figures: Promise<Map<string, UsageSeconds>> | undefined;
  #map: Map<string, UsageSeconds> | undefined;
  constructor(private readonly read: () => Promise<Map<string, UsageSeconds>>) {}
  async fill(): Promise<void> {
    this.#figures ??= this.read();
    this.#map = await this.#figures;
  }
  get(key: string): UsageSeconds | undefined {
    return this.#map?.get(key);
  }
  finish(): Promise<void> {
    return this.fill();
  }
}

// ---- the use case --------------------------------------------------------------------------------

/** The version's parts: the newest `VmCurrent` stamp and the rollup mark. */
function versionOf(changedAt: string, rolledThrough: number | undefined): string {
  return `${changedAt}|${rolledThrough ?? ''}`;
}

/** True when nothing was recorded since the answer `version` names (one or two Table requests). */
export async function unchangedSince(
  deps: Pick<FleetDependencies, 'source' | 'daily'>,
  version: string,
): Promise<boolean> {
  const [changedAt, rolled] = version.split('|');
  if (changedAt === undefined || rolled === undefined || changedAt === '') return false;
  const rolledThrough = await deps.daily.getRolledThrough();
  if (String(rolledThrough ?? '') !== rolled) return false;
  return !(await deps.source.changedSince(changedAt));
}

const timelineConcurrency = 16;

export async function fleetPage(deps: FleetDependencies, query: FleetQuery): Promise<FleetPage> {
  try {
    return await fleetPageWith(deps, query, true);
  } catch (error) {
    if (!(error instanceof JoinBrokenError)) throw error;
    return fleetPageWith(deps, query, false);
  }
}

/**
 * The page; `join` walks each day's entries in step with the current rows (holding a read's worth of
 * each day), else each day is read whole first (what a broken join falls back on).
 */
async function fleetPageWith(deps: FleetDependencies, query: FleetQuery, join: boolean): Promise<FleetPage> {
  const { from, to, asOf } = query;
  checkRange(from, to);
  if (query.tagValue !== undefined && query.tag === undefined)
    throw new InputError('tagValue needs tag (the tag name)');
  const sort = query.sort ?? FleetSort.attention;
  const groupBy = query.groupBy?.kind === GroupKind.vm ? undefined : query.groupBy;
  const pageSize = query.pageSize ?? defaultFleetPageSize;
  const sortName = groupBy === undefined ? sort : `${sort}:${groupByText(groupBy)}`;
  const after = query.continuation === undefined ? undefined : decodeToken(query.continuation, sortName).t;

  // The rollup mark and the range's rolled-up days (complete days only: a partial edge day's row is
  // prorated; later days have no rows yet) are read while the first page of current rows comes.
  const rolledThroughPromise = deps.daily.getRolledThrough();
  rolledThroughPromise.catch(() => undefined); // awaited below
  const wholeDays: number[] = [];
  for (let day = dayStartOf(from); day < to && day + dayInMs <= asOf; day += dayInMs) wholeDays.push(day);
  // Each day's figures: its digest (a few rows), else its partition (the digest is an index, never the
  // truth); which of the two is known before the current rows come (the digests' heads, 8 at a time).
  const digests = new Map<number, Promise<AsyncIterable<DayUsage[]> | undefined>>();
  const opened = forEachLimited(wholeDays, 8, async (day) => {
    const digest = deps.digests.openDigest(dayName(day));
    digests.set(day, digest);
    await digest.catch(() => undefined);
  });
  const openDay = async (day: number): Promise<AsyncIterable<DayUsage[]>> => {
    await opened;
    return (await digests.get(day)) ?? deps.daily.listDayUsage(dayName(day));
  };
  const readWhole = async (day: number): Promise<Map<string, UsageSeconds>> => {
    const figures = new Map<string, UsageSeconds>();
    const digest = await openDay(day);
    try {
      for await (const entries of digest) for (const e of entries) figures.set(e.vmKey, e);
      return figures;
    } catch (error) {
      if (!(error instanceof DigestChangedError)) throw error;
    }
    figures.clear();
    for await (const rows of deps.daily.listDayUsage(dayName(day)))
      for (const r of rows) figures.set(r.vmKey, r);
    return figures;
  };
  const cursors = join ? wholeDays.map((day) => new DayCursor(() => openDay(day))) : [];
  const byDay = new Map<number, DayFigures>(
    wholeDays.map((day, i) => [day, join ? (cursors[i] as DayCursor) : new WholeDay(() => readWhole(day))]),
  );
  const dayFigures = [...byDay.values()];

  // The current rows stream through once, a page at a time: each VM of the selection is figured, added
  // to the totals (and its group), and offered to the page; nothing else of it is kept. The page is the
  // pageSize + 1 first VMs after the continuation in sort order (the extra one says whether more follow).
  const facets = query.continuation === undefined && query.states === undefined ? new Facets() : undefined;
  const total = { ...figuresOf(zeroUsage, 0), vms: 0, stoppedVms: 0 };
  let totalUsage: UsageSeconds = { ...zeroUsage };
  const groups = new Map<string | null, FleetGroup>();
  const tuple = vmTuple(sort);
  const top = new TopK<{ item: Candidate; tuple: Tuple }>(pageSize + 1, (a, b) =>
    compareTuples(a.tuple, b.tuple),
  );
  let changedAt = '';
  const states = query.states === undefined ? {} : { states: query.states };
  let rolledThrough: number | undefined;
  let previous: CurrentKeys | undefined;
  const selected: Array<{ current: CurrentState; name: string; key: string }> = [];
  for await (const page of readAhead(deps.source.listFleet(states))) {
    rolledThrough = await rolledThroughPromise;
    // The page's VMs of the selection, then each day's entries up to the last of them.
    selected.length = 0;
    let lowest: string | undefined;
    let highest = '';
    for (const row of page) {
      const current = row.current;
      if (compareStamps(row.changedAt, changedAt) > 0) changedAt = row.changedAt;
      facets?.add(current);
      const name = nameOf(current);
      if (!matches(current, name, query)) continue;
      const key = vmKey(current.resourceId);
      if (key > highest) highest = key;
      if (lowest === undefined || key < lowest) lowest = key;
      selected.push({ current, name, key });
    }
    const first = selected[0]?.key;
    if (first === undefined || lowest === undefined) continue;
    await Promise.all(dayFigures.map((d) => d.fill(first, lowest, highest)));
    for (const { current, name, key } of selected) {
      if (join) {
        const keys = currentKeysOf(key);
        if (keys === undefined || (previous !== undefined && compareKeys(previous, keys) >= 0))
          throw new JoinBrokenError('current rows out of VmCurrent order');
        // A new subscription: entries that waited for rows the listing went past are dropped.
        if (previous?.partitionKey !== keys.partitionKey)
          for (const cursor of cursors) if (cursor.waiting > 0) cursor.passed(key);
        previous = keys;
      }
      const days = { get: (day: number) => byDay.get(day)?.get(key) };
      const usage = estimateUsage(current, days, from, to, asOf, rolledThrough);
      const figures = figuresOf(usage, stoppedSecondsOf(current, from, to, asOf));
      const stopped = current.state === PowerState.stopped;
      totalUsage = addUsage(totalUsage, usage);
      total.vms += 1;
      total.stoppedSeconds += figures.stoppedSeconds;
      if (stopped) total.stoppedVms += 1;
      if (groupBy !== undefined) {
        const groupKey = groupKeyOf(groupBy, current.resourceId, current.details);
        const g = groups.get(groupKey) ?? {
          key: groupKey,
          vms: 0,
          stoppedVms: 0,
          ...figuresOf(zeroUsage, 0),
        };
        for (const f of usageFields) g[f] += figures[f];
        g.billedHours = g.billedSeconds / 3600;
        g.stoppedSeconds += figures.stoppedSeconds;
        g.vms += 1;
        if (stopped) g.stoppedVms += 1;
        groups.set(groupKey, g);
        continue;
      }
      const candidate: Candidate = { current, key, name, figures };
      const t = tuple(candidate);
      if (after === undefined || compareTuples(t, after) > 0) top.offer({ item: candidate, tuple: t });
    }
  }
  rolledThrough = await rolledThroughPromise;
  // What is left of each day is read too (its order checked): an entry out of order there breaks the join.
  await Promise.all(dayFigures.map((d) => d.finish()));
  Object.assign(total, totalUsage, { billedHours: totalUsage.billedSeconds / 3600 });

  const answer: FleetPage = {
    asOf: new Date(asOf).toISOString(),
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    sort,
    groupBy: groupBy === undefined ? GroupKind.vm : groupByText(groupBy),
    version: versionOf(changedAt, rolledThrough),
    rolledThrough: iso(rolledThrough),
    total,
    continuation: null,
  };
  if (facets !== undefined) answer.facets = facets.result();

  if (groupBy !== undefined) {
    const paged = page([...groups.values()], groupTuple(sort), sortName, pageSize, query.continuation);
    answer.groups = paged.items;
    answer.continuation = paged.continuation;
    return answer;
  }

  const kept = top.sorted();
  const onPage = kept.slice(0, pageSize);
  const last = onPage[onPage.length - 1];
  const withSegments = query.segments !== false;
  const vms: FleetVm[] = onPage.map(({ item: c }) => ({
    ...vmListItem(c.current),
    usage: c.figures,
    usageFrom: 'rollups',
  }));
  const work: Array<Promise<void>> = [];
  if (withSegments) {
    work.push(
      forEachLimited(vms, timelineConcurrency, async (vm) => {
        const timeline = await deps.source.getTimeline(vm.resourceId, { from, to });
        const segments = timeline?.segments ?? [];
        vm.segments = segments.map(segmentView);
        vm.usage = figuresOf(usageOf(segments, from, to, asOf), vm.usage.stoppedSeconds);
        vm.usageFrom = 'segments';
      }),
    );
  }
  // Alert states of the page's VMs in Stopped (allocated): the episode index (one query) with the current
  // rows the listing read, not a point read of every stopped VM of the fleet.
  const stoppedOnPage = new Map<string, { vm: FleetVm; current: CurrentState }>();
  onPage.forEach(({ item }, i) => {
    const vm = vms[i];
    if (vm !== undefined && item.current.state === PowerState.stopped)
      stoppedOnPage.set(item.current.resourceId.toLowerCase(), { vm, current: item.current });
  });
  if (stoppedOnPage.size > 0) {
    work.push(
      (async () => {
        for await (const records of deps.alerts.listEpisodes()) {
          for (const record of records) {
            const onPageVm =
              record.endedAt === undefined ? stoppedOnPage.get(record.resourceId.toLowerCase()) : undefined;
            if (onPageVm === undefined) continue;
            const status = stoppedStatusOf(record, onPageVm.current, deps.alertRules, asOf);
            if (status.endedAt === undefined) onPageVm.vm.alertState = status.alertState;
          }
        }
      })(),
    );
  }
  await Promise.all(work);
  answer.vms = vms;
  answer.continuation =
    kept.length > pageSize && last !== undefined ? encodeToken({ s: sortName, t: last.tuple }) : null;
  return answer;
}

function groupByText(groupBy: GroupBy): string {
  return groupBy.kind === GroupKind.tag ? `tag:${groupBy.tag ?? ''}` : groupBy.kind;
}

/** Orders two storage stamps (ISO 8601 with up to 7 fraction digits); '' is the oldest. */
export function compareStamps(a: string, b: string): number {
  const norm = (s: string) => {
    const m = /^(.*?)(?:\.(\d+))?Z$/.exec(s);
    return m === null ? s : `${m[1] ?? ''}.${(m[2] ?? '').padEnd(7, '0')}Z`;
  };
  const x = a === '' ? '' : norm(a);
  const y = b === '' ? '' : norm(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
