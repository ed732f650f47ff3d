/**
 * `GET /api/usage` streamed, over real HTTP through the local host (the app's registrations, Azurite): the
 * body parses to the report the one-body answer gave for the same tables, the first rows arrive before the
 * last page of `VmCurrent` is read, memory stays bounded on a fleet of 40,000 VMs, and a failure after the
 * answer began is detectable by the client (and logged); one before it is still a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import type { Logger } from '../../src/app/ports';
import type { UsageCurrentRow } from '../../src/app/rollup-usage';
import { usageReport } from '../../src/app/usage-report';
import { failureTrailer } from '../../src/app/usage-report-json';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { dayInMs } from '../../src/domain/daily-usage';
import { parseGroupBy } from '../../src/domain/grouping';
import { seed, seedVm } from '../../kit/bench/usage';
import { seededRandom } from '../../kit/emulator/seeded-random';
import { startLocalHost, type LocalHost } from '../../kit/local/host';
import { MemoryLocalQueues } from '../../kit/local/queues';
import { appRegistrations } from '../../kit/local/registrations';
import { dropTables, testSettings } from '../support/app';
import { GeneratedFleet, noRollups } from '../support/generated-fleet';

const functionKey = 'usage-stream-key';
/** Three pages of `VmCurrent` (the store reads 1,000 rows a page). */
const vmCount = 2_100;
const start = Date.parse('2026-09-01T00:00:00Z');
const days = 3;
const asOf = start + days * dayInMs + 6 * 3_600_000;
/** Edge days at both ends (segments), whole days in between (rollups). */
const from = start + 13 * 3_600_000;
const to = asOf - 2 * 3_600_000;
const query = (groupBy: string) =>
  `/api/usage?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&groupBy=${encodeURIComponent(groupBy)}`;

type Pages = AsyncIterable<UsageCurrentRow[]>;

/** The store with some members replaced (our own ports: `UsageSource`). */
function storeWith(store: AppContext['store'], replaced: Record<string, unknown>): AppContext['store'] {
  return new Proxy(store, {
    get(target, property) {
      if (typeof property === 'string' && property in replaced) return replaced[property];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The store with its `VmCurrent` page listing wrapped. */
function listingWrapped(store: AppContext['store'], wrap: (pages: Pages) => Pages): AppContext['store'] {
  return storeWith(store, { listCurrentRows: () => wrap(store.listCurrentRows()) });
}

/** The store as the report read it before range reads: segments VM by VM. */
const vmByVm = (store: AppContext['store']) => storeWith(store, { getHistoriesInRange: undefined });

describe('GET /api/usage streamed (local host, Azurite)', () => {
  let host: LocalHost;
  let ctx: AppContext;
  /** The context the next request's handler gets. */
  let served: AppContext;
  const errors: Array<{ message: string; properties?: Record<string, unknown> }> = [];
  const log: Logger = {
    ...silentLogger,
    error: (message, properties) => errors.push({ message, ...(properties ? { properties } : {}) }),
  };
  const get = (route: string) =>
    fetch(`${host.url}${route}`, { headers: { 'x-functions-key': functionKey } });

  beforeAll(async () => {
    ctx = createAppContext(loadConfig(testSettings()), { log: silentLogger });
    await ctx.ensureTables();
    const rnd = seededRandom(18);
    const vms = Array.from({ length: vmCount }, (_, i) => seedVm(i, start, days, rnd));
    await seed(ctx, vms, start, days, asOf, 16, () => undefined);
    served = { ...ctx, now: () => asOf };
    host = await startLocalHost({
      registrations: appRegistrations(['usage', 'stopped'], () => Promise.resolve(served)),
      queues: new MemoryLocalQueues(),
      log,
      port: 0,
      functionKey,
      timers: false,
    });
  }, 120_000);
  afterAll(async () => {
    await host?.stop();
    await dropTables(ctx);
  });

  it.each(['subscription', 'tag:costCenter'])(
    'groupBy=%s: the streamed body is the text of the one-body answer (and newlines)',
    async (groupBy) => {
      served = { ...ctx, now: () => asOf };
      const response = await get(query(groupBy));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('transfer-encoding')).toBe('chunked');
      // The one-body answer as the route gave it before: the whole report, segments read VM by VM.
      const old = await usageReport(
        { source: vmByVm(ctx.store), daily: ctx.daily },
        { from, to, asOf, groupBy: parseGroupBy(groupBy) },
      );
      expect(old.rows.length).toBeGreaterThan(1);
      // The same text, with a newline (JSON whitespace) per page of VMs read after the first.
      expect((await response.text()).replace(/\n/g, '')).toBe(JSON.stringify(old));
    },
    60_000,
  );

  it('groupBy=vm: the same report, rows in key order page by page (sorted within each page)', async () => {
    served = { ...ctx, now: () => asOf };
    const response = await get(query('vm'));
    expect(response.status).toBe(200);
    const body = JSON.parse(await response.text()) as typeof old;
    const old = JSON.parse(
      JSON.stringify(await usageReport({ source: vmByVm(ctx.store), daily: ctx.daily }, { from, to, asOf })),
    ) as Awaited<ReturnType<typeof usageReport>> & { rows: Array<{ resourceId: string }> };
    expect(body.rows).toHaveLength(vmCount);
    const byId = (a: { resourceId: string }, b: { resourceId: string }) =>
      a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0;
    expect({ ...body, rows: [...body.rows].sort(byId) }).toEqual({ ...old, rows: [...old.rows].sort(byId) });
  }, 60_000);

  it('sends the first rows before the last page of VmCurrent is read', async () => {
    let pagesRead = 0;
    let release: () => void = () => undefined;
    const firstRowsArrived = new Promise<void>((resolve) => (release = resolve));
    let heldBeforeLastPage = false;
    served = {
      ...ctx,
      now: () => asOf,
      store: listingWrapped(ctx.store, async function* (pages) {
        for await (const page of pages) {
          pagesRead += 1;
          yield page;
          // The last page (3rd) is read only once the client has rows, or after 20 s.
          if (pagesRead === 2)
            heldBeforeLastPage = await Promise.race([
              firstRowsArrived.then(() => true),
              new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000)),
            ]);
        }
      }),
    };
    const response = await get(query('vm'));
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    let pagesWhenRowsArrived: number | undefined;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (pagesWhenRowsArrived === undefined && text.includes('"resourceId"')) {
        pagesWhenRowsArrived = pagesRead;
        release();
      }
    }
    expect(pagesWhenRowsArrived).toBe(2);
    expect(heldBeforeLastPage).toBe(true);
    expect(pagesRead).toBe(3);
    expect((JSON.parse(text) as { rows: unknown[] }).rows).toHaveLength(vmCount);
  }, 60_000);

  /** Serves a generated fleet of 40,000 VMs (no rollups), two days after its start `t0`. */
  function serveGeneratedFleet(): { t0: number; fleet: GeneratedFleet } {
    const t0 = Date.parse('2026-10-01T00:00:00Z');
    const fleet = new GeneratedFleet({ vms: 40_000, pageSize: 1_000, t0 });
    served = {
      ...ctx,
      now: () => t0 + 2 * dayInMs,
      store: fleet as unknown as AppContext['store'],
      daily: noRollups as AppContext['daily'],
    };
    return { t0, fleet };
  }

  it('holds a chunk of VMs, not the fleet, while streaming 40,000 VMs', async () => {
    const { t0, fleet } = serveGeneratedFleet();
    const response = await get(
      `/api/usage?from=${new Date(t0).toISOString()}&to=${new Date(t0 + dayInMs).toISOString()}&groupBy=vm`,
    );
    expect(response.status).toBe(200);
    // Read as it comes, keeping only the count and the end: nothing of the body piles up here either.
    const decoder = new TextDecoder();
    let bytes = 0;
    let rows = 0;
    let tail = '';
    for await (const chunk of response.body as ReadableStream<Uint8Array>) {
      bytes += chunk.length;
      const text = tail + decoder.decode(chunk, { stream: true });
      rows += text.split('"resourceId"').length - 1 - (tail.split('"resourceId"').length - 1);
      tail = text.slice(-600);
    }
    expect(rows).toBe(40_000);
    expect(bytes).toBeGreaterThan(40_000 * 600);
    expect(tail).toMatch(/\],"total":\{"billedSeconds":3456000000,.*\}\}$/);
    // The body is ~28 MB; holding the rows (or the text) would show as that much more at the end.
    expect(fleet.heapAtEndInMB - fleet.heapBeforeInMB).toBeLessThan(8);
  }, 120_000);

  it('stops reading the fleet when the client goes away', async () => {
    const { t0, fleet } = serveGeneratedFleet();
    const abort = new AbortController();
    const response = await fetch(
      `${host.url}/api/usage?from=${new Date(t0).toISOString()}&to=${new Date(t0 + dayInMs).toISOString()}`,
      { headers: { 'x-functions-key': functionKey }, signal: abort.signal },
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('"resourceId"')) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pagesAfterAbort = fleet.pagesRead;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(fleet.pagesRead).toBe(pagesAfterAbort);
    expect(fleet.pagesRead).toBeLessThan(fleet.pages / 2);
  }, 60_000);

  it('ends a body that fails after the answer began with an error line the client detects, and logs it', async () => {
    served = {
      ...ctx,
      now: () => asOf,
      store: listingWrapped(ctx.store, async function* (pages) {
        let n = 0;
        for await (const page of pages) {
          n += 1;
          if (n === 3) throw new Error('storage went away on page 3');
          yield page;
        }
      }),
    };
    errors.length = 0;
    const response = await get(query('vm'));
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
    expect(text.endsWith(failureTrailer)).toBe(true);
    const lastLine = text.trimEnd().split('\n').at(-1) ?? '';
    expect(JSON.parse(lastLine)).toEqual({ error: expect.stringContaining('incomplete') as unknown });
    // The rows of the first chunk went out before the failure.
    expect(text.split('"resourceId"').length - 1).toBe(1_000);
    expect(errors).toContainEqual({
      message: 'usage report failed after the answer began',
      properties: expect.objectContaining({
        route: 'usage',
        rowsWritten: 1_000,
        error: 'storage went away on page 3',
      }) as unknown,
    });
  }, 60_000);

  it('answers 500 for a failure before the first page, and 400 for bad parameters, with no stream', async () => {
    served = {
      ...ctx,
      now: () => asOf,
      store: listingWrapped(ctx.store, async function* (pages) {
        for await (const page of pages) if (page.length > 0) throw new Error('storage unreachable');
        yield* [];
      }),
    };
    const failed = await get(query('vm'));
    expect(failed.status).toBe(500);
    const bad = await get(`/api/usage?from=${new Date(from).toISOString()}&to=2026-09-01&groupBy=vm`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-length')).not.toBeNull();
    expect(await bad.json()).toEqual({ error: 'to must be after from' });
    // Other routes still answer one body with its length.
    served = { ...ctx, now: () => asOf };
    const stopped = await get('/api/stopped');
    expect(stopped.status).toBe(200);
    expect(stopped.headers.get('content-length')).toBe(String((await stopped.arrayBuffer()).byteLength));
  }, 60_000);
});
