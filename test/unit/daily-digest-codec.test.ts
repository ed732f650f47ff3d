import type { TableEntity } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import {
  dayUsageFromDigest,
  DigestError,
  digestEntities,
  digestIsComplete,
  digestLimits,
} from '../../src/adapters/codecs/daily-digest';
import type { DayUsage } from '../../src/app/rollup-usage';
import { vmKey } from '../../src/domain/resource-id';

const day = '2026-08-02';

function entry(i: number, sub = '00000000-0000-0000-0000-00000000d1g0'): DayUsage {
  const billed = (i * 7919) % 86_401;
  return {
    vmKey: vmKey(
      `/subscriptions/${sub}/resourceGroups/rg-${i % 7}/providers/Microsoft.Compute/virtualMachines/vm-${i}`,
    ),
    billedSeconds: billed,
    notBilledSeconds: 86_400 - billed,
    unknownSeconds: 0,
    // One in 5 known only within a window: bounds apart from the billed time, fractions.
    billedSecondsMin: i % 5 === 0 ? Math.max(0, billed - 1234.5) : billed,
    billedSecondsMax: i % 5 === 0 ? Math.min(86_400, billed + 0.125) : billed,
  };
}

/** A written entity as a partition query returns it (string and number columns come back as written). */
const readBack = (entities: TableEntity[]): Array<Record<string, unknown>> =>
  entities.map((e) => ({ ...e, etag: 'W/"x"', timestamp: '2026-08-03T00:00:00Z' }));

const byKey = (entries: DayUsage[]) =>
  [...entries].sort((a, b) => (a.vmKey < b.vmKey ? -1 : a.vmKey > b.vmKey ? 1 : 0));

/** Entity size as Azure counts it: 4 + keys in UTF-16 + per property 8 + name in UTF-16 + value. */
function azureEntityBytes(entity: TableEntity): number {
  let bytes = 4 + (entity.partitionKey.length + entity.rowKey.length) * 2;
  for (const [name, value] of Object.entries(entity)) {
    if (name === 'partitionKey' || name === 'rowKey') continue;
    bytes += 8 + name.length * 2 + (typeof value === 'string' ? 4 + value.length * 2 : 8);
  }
  return bytes;
}

describe('the VmDailyDigest codec', () => {
  it('round-trips every figure of every VM, in VM key order, whatever order they come in', () => {
    const entries = Array.from({ length: 500 }, (_, i) => entry(i)).reverse();
    const entities = digestEntities(day, entries, 'g1');
    expect(entities).toHaveLength(1);
    expect(entities[0]).toMatchObject({
      partitionKey: day,
      rowKey: '0000',
      generation: 'g1',
      chunks: 1,
      vms: 500,
    });
    expect(dayUsageFromDigest(readBack(entities))).toEqual(byKey(entries));
  });

  it('packs 10,000 VMs in one entity, a few dozen characters each (keys front-coded)', () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => entry(i));
    const entities = digestEntities(day, entries, 'g');
    const chars = entities.reduce(
      (n, e) => n + Object.values(e).reduce((m: number, v) => m + (typeof v === 'string' ? v.length : 0), 0),
      0,
    );
    expect(entities).toHaveLength(1);
    expect(chars / entries.length).toBeLessThan(40);
    expect(dayUsageFromDigest(readBack(entities))).toEqual(byKey(entries));
  });

  it('keeps each column and entity under the storage limits, over several chunks', () => {
    // Long keys and entries that share little with the one before: 60,000 VMs over several entities.
    const entries = Array.from({ length: 60_000 }, (_, i) => ({
      ...entry(i, `${String(i % 97).padStart(2, '0')}000000-0000-0000-0000-0000000000ab`),
      vmKey: `${(i * 2_654_435_761) % 4_294_967_296}|${'x'.repeat(40)}|vm-${i}`,
    }));
    const entities = digestEntities(day, entries, 'big');
    expect(entities.length).toBeGreaterThan(1);
    entities.forEach((e, i) => {
      expect(e.rowKey).toBe(String(i).padStart(4, '0'));
      expect(e['chunks']).toBe(entities.length);
      expect(azureEntityBytes(e)).toBeLessThanOrEqual(1024 * 1024);
      // The entity's JSON body in UTF-8 (what the emulator checks): under 1 MiB too.
      expect(Buffer.byteLength(JSON.stringify(e), 'utf8')).toBeLessThanOrEqual(1024 * 1024);
      for (const [name, value] of Object.entries(e))
        if (/^d\d+$/.test(name)) expect((value as string).length).toBeLessThanOrEqual(32 * 1024);
    });
    expect(dayUsageFromDigest(readBack(entities))).toEqual(byKey(entries));
  });

  it('cuts columns and chunks exactly at the limits it is given', () => {
    const entries = Array.from({ length: 40 }, (_, i) => entry(i));
    const limits = { columnChars: 300, chunkBytes: 2 * (2 * 300 + 32) };
    const entities = digestEntities(day, entries, 'small', limits);
    expect(entities.length).toBeGreaterThan(2);
    for (const e of entities) {
      const columns = Object.entries(e).filter(([name]) => /^d\d+$/.test(name));
      expect(columns.length).toBe(e['columns']);
      expect(columns.length).toBeLessThanOrEqual(2);
      for (const [, text] of columns) expect((text as string).length).toBeLessThanOrEqual(300);
    }
    // Every column but the last is filled until the next entry (under 100 characters here) would not fit.
    const columns = entities.flatMap((e) =>
      Array.from({ length: e['columns'] as number }, (_, c) => e[`d${c}`] as string),
    );
    for (const text of columns.slice(0, -1)) expect(text.length).toBeGreaterThan(300 - 100);
    expect(dayUsageFromDigest(readBack(entities))).toEqual(byKey(entries));
  });

  it('keeps VM keys with escapes, non-ASCII letters and surrogate pairs exact', () => {
    const keys = [
      'subscriptions|s|resourcegroups|r%7cg|providers|microsoft.compute|virtualmachines|vm%25a',
      'subscriptions|s|resourcegroups|räksmörgås|providers|microsoft.compute|virtualmachines|vm',
      'subscriptions|s|resourcegroups|grupo-ñ|providers|microsoft.compute|virtualmachines|"quoted"\\',
      'subscriptions|s|resourcegroups|g|providers|microsoft.compute|virtualmachines|vm-\u{1f600}',
      'subscriptions|s|resourcegroups|g|providers|microsoft.compute|virtualmachines|vm-\u{1f601}',
      'subscriptions|s|resourcegroups|g|providers|microsoft.compute|virtualmachines|vm-\u{1f601}-2',
    ];
    const entries = keys.map((k, i) => ({ ...entry(i), vmKey: k }));
    const entities = digestEntities(day, entries, 'esc');
    const data = entities[0]?.['d0'] as string;
    // No lone surrogate is stored (the service would replace it): the pair is never split.
    expect(data).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    expect(dayUsageFromDigest(readBack(entities))?.map((e) => e.vmKey)).toEqual([...keys].sort());
    expect(dayUsageFromDigest(readBack(entities))).toEqual(byKey(entries));
  });

  it('writes a day without VMs as one empty chunk, read back as no VMs (not as no digest)', () => {
    const entities = digestEntities(day, [], 'empty');
    expect(entities).toHaveLength(1);
    expect(dayUsageFromDigest(readBack(entities))).toEqual([]);
    expect(dayUsageFromDigest([])).toBeUndefined();
  });

  it('refuses duplicate keys and figures that are not numbers', () => {
    expect(() => digestEntities(day, [entry(1), entry(1)], 'g')).toThrow(/distinct/);
    expect(() => digestEntities(day, [{ ...entry(1), billedSeconds: NaN }], 'g')).toThrow(/finite/);
  });

  describe('rejects a digest that is not whole and consistent', () => {
    const entries = Array.from({ length: 40 }, (_, i) => entry(i));
    const written = () => readBack(digestEntities(day, entries, 'g1', { columnChars: 300, chunkBytes: 700 }));
    const corrupt: Array<[string, (rows: Array<Record<string, unknown>>) => void, RegExp]> = [
      ['a chunk missing', (rows) => rows.splice(1, 1), /missing/],
      ['no chunk 0000', (rows) => rows.splice(0, 1), /0000/],
      [
        'a chunk of another write',
        (rows) => Object.assign(rows[1] ?? {}, { generation: 'g0' }),
        /another write/,
      ],
      ['another chunk count', (rows) => Object.assign(rows[2] ?? {}, { chunks: 99 }), /another write/],
      [
        'a column cut short',
        (rows) => Object.assign(rows[1] ?? {}, { d0: (rows[1]?.['d0'] as string).slice(0, -5) }),
        /not JSON/,
      ],
      ['a column missing', (rows) => delete rows[1]?.['d0'], /column is missing/],
      ['a VM count that differs', (rows) => Object.assign(rows[0] ?? {}, { vms: 1 }), /number of VMs/],
      [
        'an entry of the wrong shape',
        (rows) => Object.assign(rows[0] ?? {}, { d0: '[[0,"k",1,2]]', vms: 1 }),
        /shape/,
      ],
      [
        'a figure that is not a number',
        (rows) => Object.assign(rows[0] ?? {}, { d0: '[[0,"k",1,2,"3"]]', vms: 1 }),
        /shape/,
      ],
      [
        'a prefix longer than the key before',
        (rows) => Object.assign(rows[0] ?? {}, { d0: '[[5,"k",1,2,3]]', vms: 1 }),
        /shape/,
      ],
      [
        'keys out of order',
        (rows) => Object.assign(rows[0] ?? {}, { d0: '[[0,"b",1,2,3],[0,"a",1,2,3]]', vms: 2 }),
        /order/,
      ],
      ['an unknown format', (rows) => Object.assign(rows[0] ?? {}, { format: 2 }), /format/],
    ];
    it.each(corrupt)('%s', (_, spoil, message) => {
      const rows = written();
      expect(rows.length).toBeGreaterThan(3);
      expect(dayUsageFromDigest(rows)).toEqual(byKey(entries));
      spoil(rows);
      expect(() => dayUsageFromDigest(rows)).toThrow(DigestError);
      expect(() => dayUsageFromDigest(rows)).toThrow(message);
    });

    it('ignores chunks an earlier, longer write left after the count', () => {
      const rows = written();
      const longer = readBack(
        digestEntities(day, [...entries, ...Array.from({ length: 40 }, (_, i) => entry(100 + i))], 'g0', {
          columnChars: 300,
          chunkBytes: 700,
        }),
      );
      const leftovers = longer.slice(rows.length);
      expect(leftovers.length).toBeGreaterThan(0);
      expect(dayUsageFromDigest([...leftovers, ...rows])).toEqual(byKey(entries));
    });

    it('tells complete from half-written by the generation columns alone', () => {
      const narrow = (rows: Array<Record<string, unknown>>) =>
        rows.map((r) => ({ rowKey: r['rowKey'], generation: r['generation'], chunks: r['chunks'] }));
      const rows = written();
      expect(digestIsComplete(narrow(rows))).toBe(true);
      // A rewrite stopped after its first chunks (chunk 0000 is written last).
      const next = readBack(digestEntities(day, entries, 'g2', { columnChars: 300, chunkBytes: 700 }));
      const half = [...rows];
      half[1] = next[1] ?? {};
      expect(digestIsComplete(narrow(half))).toBe(false);
      expect(() => dayUsageFromDigest(half)).toThrow(DigestError);
      expect(digestIsComplete([])).toBe(false);
    });
  });

  it('uses the documented limits by default', () => {
    expect(digestLimits.columnChars).toBeLessThanOrEqual(32 * 1024);
    expect(digestLimits.chunkBytes).toBeLessThan(1024 * 1024);
  });
});
