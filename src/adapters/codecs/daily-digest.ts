/**
 * The `VmDailyDigest` codec: the only module that reads and writes its columns (README "Tables").
 *
 * One partition per UTC day (PartitionKey = `yyyy-mm-dd`), holding every VM's usage figures of that day
 * (the usage columns of its `VmDailyUsage` partition) in a few chunk rows (RowKey = `0000`, `0001`, ...).
 * A chunk holds data columns `d0`, `d1`, ... of at most `columnChars` UTF-16 characters each, and as many
 * of them as keep the entity under 1 MiB both as Azure counts it (UTF-16) and as its JSON body goes on
 * the wire (UTF-8, escapes): `chunkBytes` in all. Each data column is a JSON array of entries in VM key
 * order, `[shared, "rest of the key", billed, notBilled, unknown]` (+ `billedMin, billedMax` when they
 * differ from billed), the key front-coded against the entry before it in the same column (`shared` =
 * characters in common, never splitting a surrogate pair).
 *
 * Every chunk carries `format`, `generation` (one id per write of the whole digest), `chunks` (how many
 * chunks that write made), `vms` (entries in this chunk) and `columns`. A digest is complete when chunks
 * `0` to `chunks - 1` all carry the generation and count of chunk `0000`; chunks after them are leftovers
 * of an earlier, longer write (ignored, then deleted). Anything else (a chunk missing, another
 * generation, an entry that does not parse, keys out of order, a count that differs) is inconsistent:
 * the reader says so, and callers read the day partition instead.
 */
import type { TableEntity } from '@azure/data-tables';
import type { DayUsage } from '../../app/rollup-usage';
import { numberColumn, textColumn } from '../table-columns';

export const digestFormat = 1;

export interface DigestLimits {
  /** UTF-16 characters of one data column (Azure: a string property up to 64 KiB, 32 Ki characters). */
  columnChars: number;
  /** Bytes of a chunk's data columns, each counted as the larger of UTF-16 and its JSON text in UTF-8. */
  chunkBytes: number;
}

/** Under Azure's limits: 32,768 characters a string, 1 MiB an entity (the rest for names and counts). */
export const digestLimits: DigestLimits = { columnChars: 32_000, chunkBytes: 1_000_000 };

/** Data columns of one chunk at most (an entity has up to 252 properties). */
const maxColumns = 240;
/** Chunks of one digest at most (four-digit row keys). */
const maxChunks = 10_000;
/** Bytes counted per data column besides its value (property name and type). */
const columnOverheadBytes = 32;

/** The RowKey of chunk `index`. */
export function digestChunkKey(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= maxChunks)
    throw new RangeError('digest chunk index out of range');
  return String(index).padStart(4, '0');
}

/** A digest that cannot be used (missing chunk, other generation, corrupt entry). */
export class DigestError extends Error {
  override name = 'DigestError';
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** Characters `key` shares with `previous` at the start, never ending inside a surrogate pair. */
function sharedPrefix(previous: string, key: string): number {
  const n = Math.min(previous.length, key.length);
  let i = 0;
  while (i < n && previous.charCodeAt(i) === key.charCodeAt(i)) i++;
  if (i > 0 && isHighSurrogate(key.charCodeAt(i - 1))) i--;
  return i;
}

function entryText(previous: string, e: DayUsage): string {
  const shared = sharedPrefix(previous, e.vmKey);
  const values: Array<number | string> = [
    shared,
    e.vmKey.slice(shared),
    e.billedSeconds,
    e.notBilledSeconds,
    e.unknownSeconds,
  ];
  if (e.billedSecondsMin !== e.billedSeconds || e.billedSecondsMax !== e.billedSeconds)
    values.push(e.billedSecondsMin, e.billedSecondsMax);
  return JSON.stringify(values);
}

/** What a data column costs in an entity: the larger of its UTF-16 size and its JSON text in UTF-8. */
function columnBytes(text: string): number {
  return Math.max(text.length * 2, Buffer.byteLength(JSON.stringify(text), 'utf8')) + columnOverheadBytes;
}

function checkEntry(e: DayUsage): void {
  for (const value of [
    e.billedSeconds,
    e.notBilledSeconds,
    e.unknownSeconds,
    e.billedSecondsMin,
    e.billedSecondsMax,
  ])
    if (!Number.isFinite(value)) throw new RangeError('digest figures must be finite numbers');
}

/**
 * The chunk rows of one day's digest: `entries` in any order, one per VM key. Throws a RangeError on a
 * duplicate key, a figure that is not a finite number, or an entry larger than a column.
 */
export function digestEntities(
  day: string,
  entries: readonly DayUsage[],
  generation: string,
  limits: DigestLimits = digestLimits,
): TableEntity[] {
  const sorted = [...entries].sort((a, b) => (a.vmKey < b.vmKey ? -1 : a.vmKey > b.vmKey ? 1 : 0));
  // Columns: JSON arrays of whole entries, each at most `columnChars`, front-coded within the column.
  const columns: Array<{ text: string; vms: number }> = [];
  let items: string[] = [];
  let length = 2; // the brackets
  let previous = '';
  const close = () => {
    if (items.length > 0) columns.push({ text: `[${items.join(',')}]`, vms: items.length });
    items = [];
    length = 2;
    previous = '';
  };
  sorted.forEach((e, i) => {
    checkEntry(e);
    if (i > 0 && sorted[i - 1]?.vmKey === e.vmKey)
      throw new RangeError('digest entries must have distinct VM keys');
    let text = entryText(previous, e);
    if (items.length > 0 && length + 1 + text.length > limits.columnChars) {
      close();
      text = entryText(previous, e);
    }
    if (2 + text.length > limits.columnChars) throw new RangeError('a digest entry is larger than a column');
    length += (items.length > 0 ? 1 : 0) + text.length;
    items.push(text);
    previous = e.vmKey;
  });
  close();
  // Chunks: as many columns as fit the entity budget.
  const chunks: Array<Array<{ text: string; vms: number }>> = [[]];
  let bytes = 0;
  for (const column of columns) {
    const cost = columnBytes(column.text);
    if (cost > limits.chunkBytes) throw new RangeError('a digest column is larger than a chunk');
    const current = chunks[chunks.length - 1] ?? [];
    if (current.length > 0 && (bytes + cost > limits.chunkBytes || current.length >= maxColumns)) {
      chunks.push([column]);
      bytes = cost;
    } else {
      current.push(column);
      bytes += cost;
    }
  }
  if (chunks.length > maxChunks) throw new RangeError('a digest needs more chunks than row keys allow');
  return chunks.map((chunk, index) => {
    const entity: TableEntity = {
      partitionKey: day,
      rowKey: digestChunkKey(index),
      format: digestFormat,
      generation,
      chunks: chunks.length,
      vms: chunk.reduce((n, c) => n + c.vms, 0),
      columns: chunk.length,
    };
    chunk.forEach((c, i) => (entity[`d${i}`] = c.text));
    return entity;
  });
}

const isCount = (value: number | undefined, max: number): value is number =>
  value !== undefined && Number.isInteger(value) && value >= 0 && value <= max;

/** Head of the digest: its generation and chunk count, from chunk `0000`. */
function headOf(rows: ReadonlyMap<string, Record<string, unknown>>): { generation: string; chunks: number } {
  const head = rows.get(digestChunkKey(0));
  if (head === undefined) throw new DigestError('the digest has no chunk 0000');
  const generation = textColumn(head['generation']);
  const chunks = numberColumn(head['chunks']);
  if (generation === undefined || !isCount(chunks, maxChunks) || chunks < 1)
    throw new DigestError('chunk 0000 has no generation or chunk count');
  return { generation, chunks };
}

function byRowKey(rows: readonly Record<string, unknown>[]): Map<string, Record<string, unknown>> {
  const map = new Map<string, Record<string, unknown>>();
  for (const row of rows) {
    const key = textColumn(row['rowKey']);
    if (key !== undefined) map.set(key, row);
  }
  return map;
}

/** Checks the chunks `0` to `chunks - 1` carry the head's generation and count; returns them in order. */
function chunksOf(rows: ReadonlyMap<string, Record<string, unknown>>): Array<Record<string, unknown>> {
  const { generation, chunks } = headOf(rows);
  const list: Array<Record<string, unknown>> = [];
  for (let i = 0; i < chunks; i++) {
    const row = rows.get(digestChunkKey(i));
    if (row === undefined) throw new DigestError('a digest chunk is missing');
    if (textColumn(row['generation']) !== generation || numberColumn(row['chunks']) !== chunks)
      throw new DigestError('a digest chunk belongs to another write');
    list.push(row);
  }
  return list;
}

/**
 * True when the rows (of one day, any order; only `rowKey`, `generation` and `chunks` are read) make a
 * complete digest: what the rollup checks with a narrow query before reading a whole digest.
 */
export function digestIsComplete(rows: readonly Record<string, unknown>[]): boolean {
  try {
    chunksOf(byRowKey(rows));
    return true;
  } catch (error) {
    if (error instanceof DigestError) return false;
    throw error;
  }
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function decodeColumn(text: string, previousKey: string | undefined, out: DayUsage[]): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DigestError('a digest column is not JSON');
  }
  if (!Array.isArray(parsed)) throw new DigestError('a digest column is not a list of entries');
  let last = previousKey;
  let previous = '';
  for (const entry of parsed as unknown[]) {
    if (!Array.isArray(entry) || (entry.length !== 5 && entry.length !== 7))
      throw new DigestError('a digest entry has the wrong shape');
    const [shared, rest, billed, notBilled, unknown, min = billed, max = billed] = entry as unknown[];
    if (
      typeof shared !== 'number' ||
      !Number.isInteger(shared) ||
      shared < 0 ||
      shared > previous.length ||
      typeof rest !== 'string' ||
      !finite(billed) ||
      !finite(notBilled) ||
      !finite(unknown) ||
      !finite(min) ||
      !finite(max)
    )
      throw new DigestError('a digest entry has the wrong shape');
    const vmKey = previous.slice(0, shared) + rest;
    if (vmKey === '' || (last !== undefined && !(vmKey > last)))
      throw new DigestError('digest entries are not in VM key order');
    out.push({
      vmKey,
      billedSeconds: billed,
      notBilledSeconds: notBilled,
      unknownSeconds: unknown,
      billedSecondsMin: min,
      billedSecondsMax: max,
    });
    previous = vmKey;
    last = vmKey;
  }
  return last;
}

/** What a complete digest's chunk `0000` says: its write and how many chunks that write made. */
export interface DigestHead {
  generation: string;
  chunks: number;
}

/**
 * The head of a complete digest from its rows' `rowKey`, `generation` and `chunks` (of one day, any
 * order): undefined when there are none; a `DigestError` when they do not make a complete digest.
 */
export function digestHeadOf(rows: readonly Record<string, unknown>[]): DigestHead | undefined {
  if (rows.length === 0) return undefined;
  const byKey = byRowKey(rows);
  chunksOf(byKey);
  return headOf(byKey);
}

/**
 * The entries of one chunk of the digest `head` names, a data column at a time (in VM key order, each
 * after `last.key`, which it advances): decoded as they are asked for, so that a reader holds one column's
 * entries, never the day's. A `DigestError` when the chunk belongs to another write or does not parse.
 */
export function* digestChunkEntries(
  row: Record<string, unknown>,
  head: DigestHead,
  last: { key: string | undefined },
): Generator<DayUsage[]> {
  if (textColumn(row['generation']) !== head.generation || numberColumn(row['chunks']) !== head.chunks)
    throw new DigestError('a digest chunk belongs to another write');
  if (numberColumn(row['format']) !== digestFormat)
    throw new DigestError('a digest chunk has an unknown format');
  const columns = numberColumn(row['columns']);
  const vms = numberColumn(row['vms']);
  if (!isCount(columns, maxColumns) || !isCount(vms, Number.MAX_SAFE_INTEGER))
    throw new DigestError('a digest chunk has no column or VM count');
  let count = 0;
  for (let c = 0; c < columns; c++) {
    const text = row[`d${c}`];
    if (typeof text !== 'string') throw new DigestError('a digest column is missing');
    const out: DayUsage[] = [];
    last.key = decodeColumn(text, last.key, out);
    count += out.length;
    if (count > vms) throw new DigestError('a digest chunk holds another number of VMs than it says');
    if (c === columns - 1 && count !== vms)
      throw new DigestError('a digest chunk holds another number of VMs than it says');
    yield out;
  }
  if (columns === 0 && vms !== 0)
    throw new DigestError('a digest chunk holds another number of VMs than it says');
}

/**
 * A day's figures (in VM key order) from its digest rows (any order, as a partition query returns them):
 * undefined when there are none; a `DigestError` naming the problem when they do not make a complete,
 * consistent digest.
 */
export function dayUsageFromDigest(rows: readonly Record<string, unknown>[]): DayUsage[] | undefined {
  if (rows.length === 0) return undefined;
  const byKey = byRowKey(rows);
  const head = headOf(byKey);
  const out: DayUsage[] = [];
  const last = { key: undefined as string | undefined };
  for (const row of chunksOf(byKey))
    for (const entries of digestChunkEntries(row, head, last)) out.push(...entries);
  return out;
}
