/**
 * `GET /api/fleet` on Azurite: a fleet larger than a page, paged with continuation tokens, sorted,
 * filtered, grouped; totals of the whole selection from the rollups; 304 when nothing was recorded.
 */
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetHandler } from '../../functions/fleet';
import {
  DigestChangedError,
  fleetPage,
  type FleetDependencies,
  type FleetGroup,
  type FleetPage,
  type FleetQuery,
  type FleetVm,
} from '../../src/app/fleet';
import { rollupUsage } from '../../src/app/rollup-usage';
import { usageReport } from '../../src/app/usage-report';
import type { AppContext } from '../../src/composition';
import { parseGroupBy } from '../../src/domain/grouping';
import type { PowerState } from '../../src/domain/power-state';
import { dropTables, testContext, testSettings } from '../support/app';

const t = (iso: string) => Date.parse(iso);
const now = t('2026-08-04T12:00:00Z');
const subs = ['00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-0000000000f2'];
const vmCount = 23;

function vmId(i: number): string {
  return `/subscriptions/${subs[i % 2]}/resourceGroups/rg-${i % 3}/providers/Microsoft.Compute/virtualMachines/vm-${i}`;
}

/** The daily rollup (rows and digests) as of `now`. */
const rollUp = (ctx: AppContext) =>
  rollupUsage({ source: ctx.store, daily: ctx.daily, digests: ctx.digests, log: ctx.log, now: () => now });

/** The fleet source's methods (a store object's, bound), to replace one of them. */
const sourceOf = ({ source }: FleetDependencies): FleetDependencies['source'] => ({
  listFleet: (options) => source.listFleet(options),
  changedSince: (changedAt) => source.changedSince(changedAt),
  getTimeline: (resourceId, range) => source.getTimeline(resourceId, range),
});

/** The same dependencies with no digest: each day is read from its partition. */
const withoutDigestsOf = (deps: FleetDependencies): FleetDependencies => ({
  ...deps,
  digests: { openDigest: () => Promise.resolve(undefined) },
});

/** Every page of a query, following the continuations. */
async function allPages(deps: FleetDependencies, query: FleetQuery): Promise<FleetPage[]> {
  const pages: FleetPage[] = [];
  let continuation: string | undefined;
  do {
    const p = await fleetPage(deps, { ...query, continuation });
    pages.push(p);
    continuation = p.continuation ?? undefined;
  } while (continuation !== undefined);
  return pages;
}

describe('GET /api/fleet', () => {
  let ctx: AppContext;
  const clock = now;
  let handler: ReturnType<typeof fleetHandler>;

  beforeAll(async () => {
    ctx = await testContext(testSettings(), { now: () => clock });
    handler = fleetHandler(() => Promise.resolve(ctx));
    for (let i = 1; i <= vmCount; i++) {
      const resourceId = vmId(i);
      await ctx.store.record({
        resourceId,
        at: t('2026-08-01T00:00:00Z') + i * 60_000,
        state: 'running',
        source: 'event',
        dedupeId: `start-${i}`,
      });
      // Every third VM was powered off (Stopped (allocated)), every fourth deallocated, at different times.
      const off: PowerState | undefined = i % 3 === 0 ? 'stopped' : i % 4 === 0 ? 'deallocated' : undefined;
      if (off !== undefined)
        await ctx.store.record({
          resourceId,
          at: t('2026-08-02T00:00:00Z') + i * 3_600_000,
          state: off,
          source: 'event',
          dedupeId: `off-${i}`,
        });
      const tags: Record<string, string> = { team: i % 2 === 0 ? 'even' : 'odd' };
      if (i === 7) tags['cost=center'] = 'a=b';
      await ctx.store.updateDetails(
        resourceId,
        { vmSize: 'Standard_D2s_v5', tags },
        t('2026-08-01T00:00:00Z'),
      );
    }
    await rollUp(ctx);
  });
  afterAll(async () => {
    await dropTables(ctx);
  });

  async function get(query: string, headers: Record<string, string> = {}): Promise<HttpResponseInit> {
    const request = new HttpRequest({ method: 'GET', url: `http://localhost/api/fleet?${query}`, headers });
    return handler(request, new InvocationContext({ functionName: 'fleet' }));
  }
  async function page(query: string): Promise<FleetPage> {
    const response = await get(query);
    expect(response.status, JSON.stringify(response.jsonBody)).toBe(200);
    return response.jsonBody as FleetPage;
  }
  const range = 'from=2026-08-01T00:00:00Z&to=2026-08-04T00:00:00Z';
  const names = (p: FleetPage) => (p.vms ?? []).map((vm) => vm.name);

  it('pages the whole fleet in natural name order, each VM once, with its segments', async () => {
    const seen: FleetVm[] = [];
    let continuation: string | null = null;
    let pages = 0;
    do {
      const p: FleetPage = await page(
        `${range}&sort=name&pageSize=10${continuation === null ? '' : `&continuation=${encodeURIComponent(continuation)}`}`,
      );
      expect(p.total.vms).toBe(vmCount);
      expect(p.vms?.length).toBeLessThanOrEqual(10);
      seen.push(...(p.vms ?? []));
      continuation = p.continuation;
      pages += 1;
    } while (continuation !== null);
    expect(pages).toBe(3);
    expect(seen.map((vm) => vm.name)).toEqual(Array.from({ length: vmCount }, (_, i) => `vm-${i + 1}`));
    const vm3 = seen[2] as FleetVm;
    expect(vm3.segments?.map((s) => s.state)).toEqual(['running', 'stopped']);
    expect(vm3.usageFrom).toBe('segments');
    // vm-3: running from 00:03 on Aug 1, Stopped (allocated) from 03:00 on Aug 2: billed all along.
    expect(vm3.usage.billedSeconds).toBeCloseTo(3 * 86_400 - 180, 0);
    expect(vm3.usage.stoppedSeconds).toBeCloseTo(45 * 3600, 0);
    // vm-4: deallocated from 04:00 on Aug 2.
    expect((seen[3] as FleetVm).usage.billedSeconds).toBeCloseTo(28 * 3600 - 240, 0);
  });

  it('opens on Stopped (allocated) VMs, longest stopped first, then the most billed', async () => {
    const p = await page(`${range}&pageSize=10`);
    expect(p.sort).toBe('attention');
    const stopped = (p.vms ?? []).filter((vm) => vm.state === 'stopped').map((vm) => vm.name);
    expect(stopped).toEqual(['vm-3', 'vm-6', 'vm-9', 'vm-12', 'vm-15', 'vm-18', 'vm-21']);
    expect(names(p).slice(0, 7)).toEqual(stopped);
    // Then the VMs running all along (most billed), before the deallocated ones.
    const rest = (p.vms ?? []).slice(7);
    for (let i = 1; i < rest.length; i++)
      expect((rest[i - 1] as FleetVm).usage.billedSeconds).toBeGreaterThanOrEqual(
        (rest[i] as FleetVm).usage.billedSeconds - 1,
      );
    expect(p.total.stoppedVms).toBe(7);
    expect(p.facets?.subscriptions).toEqual(subs);
    expect(p.facets?.tags.find((tag) => tag.name === 'cost=center')?.values).toEqual(['a=b']);
  });

  it('totals the whole selection from the rollups, as the usage report does', async () => {
    const p = await page(`${range}&pageSize=1`);
    const report = await usageReport(
      { source: ctx.store, daily: ctx.daily },
      { from: t('2026-08-01T00:00:00Z'), to: t('2026-08-04T00:00:00Z'), asOf: now },
    );
    expect(p.vms).toHaveLength(1);
    expect(p.total.vms).toBe(vmCount);
    expect(p.total.billedSeconds).toBeCloseTo(report.total.billedSeconds, 3);
    expect(p.total.notBilledSeconds).toBeCloseTo(report.total.notBilledSeconds, 3);
    expect(p.total.unknownSeconds).toBeCloseTo(report.total.unknownSeconds, 3);
  });

  it('sorts by billed hours, time stopped and last change', async () => {
    const billed = await page(`${range}&sort=billed&pageSize=${vmCount}&segments=false`);
    const hours = (billed.vms ?? []).map((vm) => vm.usage.billedSeconds);
    expect(hours).toEqual([...hours].sort((a, b) => b - a));
    expect((billed.vms ?? [])[0]?.usageFrom).toBe('rollups');
    expect((billed.vms ?? [])[0]?.segments).toBeUndefined();
    const stopped = await page(`${range}&sort=stopped&state=stopped`);
    expect(names(stopped)).toEqual(['vm-3', 'vm-6', 'vm-9', 'vm-12', 'vm-15', 'vm-18', 'vm-21']);
    expect(stopped.vms?.every((vm) => vm.alertState !== undefined)).toBe(true);
    const last = await page(`${range}&sort=lastChange&pageSize=2`);
    expect(names(last)).toEqual(['vm-21', 'vm-20']);
  });

  it('filters by subscription, resource group, state, name and a tag whose name holds "="', async () => {
    const sub = await page(`${range}&subscription=${subs[0]?.toUpperCase()}&sort=name&pageSize=50`);
    expect(names(sub)).toEqual(Array.from({ length: 11 }, (_, i) => `vm-${2 * (i + 1)}`));
    const group = await page(`${range}&resourceGroup=RG-0&state=stopped&sort=name`);
    expect(names(group)).toEqual(['vm-3', 'vm-6', 'vm-9', 'vm-12', 'vm-15', 'vm-18', 'vm-21']);
    const search = await page(`${range}&search=M-1&sort=name`);
    expect(names(search)).toEqual(['vm-1', ...Array.from({ length: 10 }, (_, i) => `vm-${10 + i}`)]);
    expect(search.total.vms).toBe(11);
    const tag = await page(
      `${range}&tag=${encodeURIComponent('cost=center')}&tagValue=${encodeURIComponent('a=b')}`,
    );
    expect(names(tag)).toEqual(['vm-7']);
    const team = await page(`${range}&tag=TEAM&tagValue=odd&state=deallocated&sort=name`);
    expect(names(team)).toEqual([]);
    const even = await page(`${range}&tag=team&tagValue=even&state=deallocated&sort=name`);
    expect(names(even)).toEqual(['vm-4', 'vm-8', 'vm-16', 'vm-20']);
  });

  it('pages groups of the selection, sorted by billed hours', async () => {
    const first = await page(`${range}&groupBy=resourceGroup&pageSize=2`);
    expect(first.groups).toHaveLength(2);
    expect(first.continuation).not.toBeNull();
    const second = await page(
      `${range}&groupBy=resourceGroup&pageSize=2&continuation=${encodeURIComponent(first.continuation ?? '')}`,
    );
    const groups = [...(first.groups ?? []), ...(second.groups ?? [])] as FleetGroup[];
    expect(groups.map((g) => g.key).sort()).toEqual(['rg-0', 'rg-1', 'rg-2']);
    expect(groups.reduce((n, g) => n + g.vms, 0)).toBe(vmCount);
    expect(groups[0]?.billedSeconds).toBeGreaterThanOrEqual(groups[1]?.billedSeconds ?? 0);
    expect(second.continuation).toBeNull();
  });

  it.each([
    ['pageSize=0', 'pageSize'],
    ['pageSize=201', 'pageSize'],
    ['pageSize=abc', 'pageSize'],
    ['sort=size', 'sort'],
    ['state=asleep', 'state'],
    ['groupBy=colour', 'groupBy'],
    ['continuation=bm90LWEtdG9rZW4', 'continuation'],
    ['tagValue=x', 'tagValue'],
    ['segments=maybe', 'segments'],
  ])('answers 400 naming the parameter for %s', async (bad, name) => {
    const response = await get(`${range}&${bad}`);
    expect(response.status).toBe(400);
    expect((response.jsonBody as { error: string }).error).toContain(name);
  });

  it('answers 400 without from and to, and for a token of another sort', async () => {
    expect((await get('pageSize=5')).status).toBe(400);
    const named = await page(`${range}&sort=name&pageSize=5`);
    const other = await get(`${range}&sort=billed&continuation=${named.continuation ?? ''}`);
    expect(other.status).toBe(400);
    expect((other.jsonBody as { error: string }).error).toContain('continuation');
  });

  it('answers the same from the day digests as from the day partitions, from the fleet columns as from whole rows, and falls back on a broken digest', async () => {
    let fromDigests = 0;
    const withDigests: FleetDependencies = {
      ...ctx.fleet,
      digests: {
        openDigest: async (day) => {
          const digest = await ctx.digests.openDigest(day);
          if (digest !== undefined) fromDigests += 1;
          return digest;
        },
      },
    };
    const withoutDigests = withoutDigestsOf(ctx.fleet);
    const whole = { from: t('2026-08-01T00:00:00Z'), to: t('2026-08-04T00:00:00Z'), asOf: now, pageSize: 7 };
    const queries: FleetQuery[] = [
      ...(['attention', 'billed', 'stopped', 'name', 'lastChange'] as const).map((sort) => ({
        ...whole,
        sort,
      })),
      { ...whole, sort: 'billed', segments: false },
      {
        ...whole,
        from: t('2026-08-01T06:30:00Z'),
        to: t('2026-08-04T12:00:00Z'),
        sort: 'billed',
        segments: false,
      },
      { ...whole, states: ['stopped'], sort: 'stopped' },
      { ...whole, subscription: subs[1], search: 'vm-1', sort: 'billed' },
      { ...whole, tag: 'team', tagValue: 'even', sort: 'billed', segments: false },
      { ...whole, groupBy: parseGroupBy('resourceGroup'), pageSize: 2 },
      { ...whole, groupBy: parseGroupBy('tag:team'), sort: 'stopped', pageSize: 1 },
    ];
    const pagesFromPartitions = await Promise.all(queries.map((q) => allPages(withoutDigests, q)));
    for (const [i, query] of queries.entries()) {
      const pages = await allPages(withDigests, query);
      expect(pages, JSON.stringify(query)).toEqual(pagesFromPartitions[i]);
    }
    // The listing reads only the fleet's columns of `VmCurrent`; from whole rows the pages are the same.
    const store = ctx.store;
    const fromWholeRows: FleetDependencies = {
      ...ctx.fleet,
      source: {
        ...sourceOf(ctx.fleet),
        listFleet: (options) => store.listFleet({ ...options, wholeRows: true }),
      },
    };
    for (const [i, query] of queries.entries())
      expect(await allPages(fromWholeRows, query), JSON.stringify(query)).toEqual(pagesFromPartitions[i]);
    // ...and the selection is what storage sent: a column the fleet does not read (detailsAt) is not there.
    const first = async (wholeRows: boolean) => {
      for await (const rows of store.listFleet({ wholeRows })) return rows[0]?.current;
      return undefined;
    };
    expect((await first(true))?.detailsAt).toBe(t('2026-08-01T00:00:00Z'));
    const selected = await first(false);
    expect(selected?.resourceId).toMatch(/virtualMachines\/vm-/);
    expect(selected?.detailsAt).toBeUndefined();
    expect(pagesFromPartitions.flat().length).toBeGreaterThan(queries.length);
    expect(fromDigests).toBeGreaterThan(queries.length * 3 - 1);

    // A digest a crash left half-written (chunk 0000 names a chunk that is not there): that day is read
    // from its partition, and the answer stays the same.
    await ctx.tables
      .table(ctx.tableNames.dailyDigest)
      .updateEntity({ partitionKey: '2026-08-02', rowKey: '0000', chunks: 2 }, 'Merge');
    fromDigests = 0;
    const broken = await allPages(withDigests, queries[1] as FleetQuery);
    expect(broken).toEqual(pagesFromPartitions[1]);
    expect(fromDigests).toBe(2 * broken.length);

    // A digest rewritten while it is read (its first entries came, then a chunk of another write): the
    // answer is made again, that day from its partition, and stays the same.
    let changed = 0;
    const changing: FleetDependencies = {
      ...ctx.fleet,
      digests: {
        openDigest: async (day) => {
          const digest = await ctx.digests.openDigest(day);
          if (digest === undefined || day !== '2026-08-03') return digest;
          return (async function* () {
            for await (const entries of digest) {
              yield entries.slice(0, 2);
              changed += 1;
              throw new DigestChangedError('a digest chunk belongs to another write');
            }
          })();
        },
      },
    };
    expect(await allPages(changing, queries[1] as FleetQuery)).toEqual(pagesFromPartitions[1]);
    expect(changed).toBeGreaterThan(0);
  });

  it('answers 304 to If-None-Match while nothing is recorded, 200 once something is', async () => {
    const first = await get(`${range}&pageSize=5`);
    const etag = (first.headers as Record<string, string>)['etag'] ?? '';
    expect(etag).toMatch(/^W\/".+"$/);
    const before = ctx.tableRequests.requests;
    const unchanged = await get(`${range}&pageSize=5`, { 'if-none-match': etag });
    expect(unchanged.status).toBe(304);
    expect(ctx.tableRequests.requests - before).toBeLessThanOrEqual(2);
    await ctx.store.record({
      resourceId: vmId(1),
      at: t('2026-08-04T11:00:00Z'),
      state: 'deallocated',
      source: 'event',
      dedupeId: 'late-change',
    });
    const changed = await get(`${range}&pageSize=5`, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect((changed.headers as Record<string, string>)['etag']).not.toBe(etag);
  });
});

/**
 * A fleet whose keys sort differently as VM keys (the digests, the day partitions) than as `VmCurrent`
 * rows (subscription, then the rest): subscription ids that are prefixes of others, followed by
 * characters before and after `|`, escaped characters, non-ASCII names (in and out of the BMP). Every
 * page of every query is the same when each day is joined in step with the current rows, from digests
 * or partitions, as when each day is read whole (the listing out of order, which breaks the join).
 */
describe('GET /api/fleet over keys that sort differently as VM keys and as current rows', () => {
  let ctx: AppContext;
  const subscriptions = ['ab', 'ab-c', 'ab0', 'abc', 'ab~x', 'ab}', 'AB%7', 'abé', 'ab\u{1F600}', 'a'];
  const names = ['vm-a', 'vm-\uFF21', 'vm-\u{1F600}', 'vm-é', 'vm-~', 'vm-|', 'vm-%', 'VM-B'];
  const ids = subscriptions.flatMap((sub, s) =>
    names
      .filter((_, n) => (s + n) % 3 !== 0)
      .map(
        (name, n) =>
          `/subscriptions/${sub}/resourceGroups/rg-${n % 2 === 0 ? 'ß' : 'x'}/providers/Microsoft.Compute/virtualMachines/${name}`,
      ),
  );

  beforeAll(async () => {
    ctx = await testContext(testSettings(), { now: () => now });
    for (const [i, resourceId] of ids.entries()) {
      await ctx.store.record({
        resourceId,
        at: t('2026-08-01T00:00:00Z') + i * 60_000,
        state: 'running',
        source: 'event',
        dedupeId: `start-${i}`,
      });
      if (i % 3 !== 1)
        await ctx.store.record({
          resourceId,
          at: t('2026-08-02T00:00:00Z') + i * 3_600_000,
          state: i % 3 === 0 ? 'stopped' : 'deallocated',
          source: 'event',
          dedupeId: `off-${i}`,
        });
      await ctx.store.updateDetails(resourceId, { tags: { team: `t${i % 4}` } }, t('2026-08-01T00:00:00Z'));
    }
    await rollUp(ctx);
  });
  afterAll(async () => {
    await dropTables(ctx);
  });

  it('answers every page the same joined in step (digests or partitions) as with each day read whole', async () => {
    let listings = 0;
    const counted = (deps: FleetDependencies): FleetDependencies => ({
      ...deps,
      source: {
        ...sourceOf(deps),
        listFleet: (options) => {
          listings += 1;
          return deps.source.listFleet(options);
        },
      },
    });
    const withDigests = counted(ctx.fleet);
    const withoutDigests = counted(withoutDigestsOf(ctx.fleet));
    // The current rows backwards: the join sees them out of order and the answer is made from whole days.
    const wholeDays: FleetDependencies = {
      ...ctx.fleet,
      source: {
        ...sourceOf(ctx.fleet),
        async *listFleet(options) {
          const pages = [];
          for await (const p of ctx.fleet.source.listFleet(options)) pages.push(p);
          yield pages.flat().reverse();
        },
      },
    };
    const whole = { from: t('2026-08-01T00:00:00Z'), to: t('2026-08-04T00:00:00Z'), asOf: now, pageSize: 9 };
    const queries: FleetQuery[] = [
      ...(['attention', 'billed', 'stopped', 'name', 'lastChange'] as const).map((sort) => ({
        ...whole,
        sort,
      })),
      {
        ...whole,
        from: t('2026-08-01T06:30:00Z'),
        to: t('2026-08-04T12:00:00Z'),
        sort: 'billed',
        segments: false,
      },
      { ...whole, states: ['deallocated'], sort: 'billed', segments: false },
      { ...whole, subscription: 'AB-C', sort: 'billed', segments: false },
      { ...whole, search: 'é', sort: 'name', segments: false },
      { ...whole, groupBy: parseGroupBy('subscription'), pageSize: 4 },
      { ...whole, groupBy: parseGroupBy('tag:team'), sort: 'stopped', pageSize: 3 },
    ];
    let pagesRead = 0;
    for (const query of queries) {
      const expected = await allPages(wholeDays, query);
      pagesRead += expected.length;
      expect(expected[0]?.total.vms, JSON.stringify(query)).toBeGreaterThan(0);
      expect(await allPages(withDigests, query), JSON.stringify(query)).toEqual(expected);
      expect(await allPages(withoutDigests, query), JSON.stringify(query)).toEqual(expected);
    }
    expect(pagesRead).toBeGreaterThan(queries.length);
    expect((await fleetPage(ctx.fleet, queries[1] as FleetQuery)).total.vms).toBe(ids.length);
    // One listing a page: the join held (no answer was made again from whole days).
    expect(listings).toBe(2 * pagesRead);
  });
});
