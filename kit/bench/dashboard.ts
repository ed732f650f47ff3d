/**
 * Dashboard benchmark (`npm run bench -- dashboard`): the dashboard over a big fleet, in chromium.
 *
 * 1. Seeds `BENCH_DASHBOARD_VMS` (10,000) VMs with `BENCH_DASHBOARD_DAYS` (3) days of history straight
 *    into the tables (the usage benchmark's row layouts: segments and details per VM partition, current
 *    rows, day rollups, in entity-group transactions; each day's digest by the rollup's writer), one VM in
 *    20 in Stopped (allocated), and syncs the stopped-VM index. A sample of 60 VMs is recorded again
 *    through the store's write path into other tables and must come out the same, and each day's digest
 *    must hold exactly the figures of its day partition (`seedCheck`).
 * 2. Starts the local host over those tables (the function handlers as deployed; no sandbox, no timers
 *    in the way) and opens the dashboard in Debian's chromium (playwright-core, as the e2e test does):
 *    time from navigation to the first screen (rows drawn), API requests (counted by the browser) and
 *    Table requests (counted on the wire) of the load, the browser's JS heap; then a refresh with nothing
 *    recorded since (API and Table requests).
 * 3. Baseline in the same run: the loading of the dashboard before `GET /api/fleet` (the whole VM list,
 *    stopped, usage by VM, then one `GET /api/vms/{key}/timeline` per VM, 6 at a time as a browser
 *    does over HTTP/1.1), from Node: the lists, then the timelines of a sample of
 *    `BENCH_DASHBOARD_BASELINE_VMS` (500) VMs spread over the fleet, the time for all projected from
 *    the sample's rate (a list slower than `BENCH_DASHBOARD_BASELINE_SECONDS` (300) is abandoned).
 *
 * Targets: ≤ 3 s to the first screen, ≤ 5 API requests per load, ≤ 2 per refresh with nothing changed.
 * Settings: `BENCH_DASHBOARD_VMS`, `BENCH_DASHBOARD_DAYS`, `BENCH_DASHBOARD_BASELINE_VMS`,
 * `BENCH_DASHBOARD_BASELINE_SECONDS`,
 * `BENCH_STORAGE`, `BENCH_CONCURRENCY` (32, seeding).
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { odata } from '@azure/data-tables';
import { fleetCurrentColumns } from '../../src/adapters/codecs/current';
import { silentLogger } from '../../src/adapters/logger';
import { forEachLimited } from '../../src/app/concurrency';
import { fleetPage, type FleetDependencies } from '../../src/app/fleet';
import type { DailyUsageRow } from '../../src/app/rollup-usage';
import { syncStoppedIndex } from '../../src/app/stopped-index';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { dayInMs, dayName, dayStartOf } from '../../src/domain/daily-usage';
import { billingOf } from '../../src/domain/billing';
import { usageFields } from '../../src/domain/usage';
import { seededRandom } from '../emulator/seeded-random';
import { startLocalApp, type LocalApp } from '../local/local-app';
import {
  atMost,
  benchStorage,
  exactly,
  intSetting,
  pool,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  type BenchStorage,
} from './benchmark';
import { watchTableTraffic, type TrafficCounts } from './table-traffic';
import { checkSeedAgainstIngest, seed, seedVm, type SeedVm } from './usage';

const executablePath = '/usr/bin/chromium';
/** How long the baseline waits for one VM's timeline at least. */
const timelineTimeoutInMs = 120_000;
/** A schedule that never comes during a run (1 January, midnight): no timer competes with the page. */
const never = '0 0 0 1 1 *';

const sum = (counts: TrafficCounts): number =>
  Object.entries(counts)
    .filter(([kind]) => !kind.includes(' '))
    .reduce((n, [, v]) => n + v, 0);

interface Baseline {
  vms: number;
  /** The three list requests of the old page (run together): milliseconds, or what failed. */
  lists: Record<string, { ms: number; failed?: string }>;
  listsMs: number;
  /** Timelines read (a sample of the fleet, spread evenly, when `complete` is false). */
  timelinesRead: number;
  timelinesMs: number;
  apiRequests: number;
  tableRequests: number;
  /** Seconds for the lists and every VM's timeline, projected from the sample's rate. */
  projectedSeconds: number;
  complete: boolean;
}

/**
 * Today's loading before the fleet route: the three lists, then one timeline request per VM, 6 at a time.
 * The timelines of a sample of `sampleSize` VMs (every n-th of `keys`) are read, and the time for all
 * of them projected from that rate; a list that takes longer than `limitInMs` is abandoned and counted
 * at that limit (so the projection is a lower bound).
 */
async function perVmLoading(
  baseUrl: string,
  key: string,
  endpoint: string,
  keys: readonly string[],
  sampleSize: number,
  limitInMs: number,
  progress: (m: string) => void,
): Promise<Baseline> {
  const traffic = watchTableTraffic(endpoint);
  const to = Date.now();
  const from = to - 72 * 3_600_000;
  const query = `from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
  let apiRequests = 0;
  const get = async (path: string, timeoutInMs = limitInMs): Promise<void> => {
    apiRequests += 1;
    const response = await fetch(`${baseUrl}/api/${path}`, {
      headers: { 'x-functions-key': key },
      signal: AbortSignal.timeout(timeoutInMs),
    });
    if (!response.ok) throw new Error(`${response.status}`);
    await response.arrayBuffer();
  };
  try {
    const lists: Baseline['lists'] = {};
    let t = performance.now();
    await Promise.all(
      ['vms', 'stopped', `usage?${query}&groupBy=vm`].map(async (path) => {
        const name = path.split('?')[0] ?? path;
        const started = performance.now();
        try {
          await get(path);
          lists[name] = { ms: Math.round(performance.now() - started) };
        } catch (error) {
          lists[name] = { ms: Math.round(performance.now() - started), failed: String(error) };
        }
      }),
    );
    const listsMs = performance.now() - t;
    progress(`baseline: the three lists in ${Math.round(listsMs)} ms ${JSON.stringify(lists)}`);
    const step = Math.max(1, Math.floor(keys.length / sampleSize));
    const sample = keys.filter((_, i) => i % step === 0).slice(0, sampleSize);
    t = performance.now();
    // The limit is the lists'; a timeline waits longer (the host may still be working on an abandoned list).
    await pool(sample, 6, (vmKeyText) =>
      get(`vms/${encodeURIComponent(vmKeyText)}/timeline?${query}`, Math.max(limitInMs, timelineTimeoutInMs)),
    );
    const timelinesMs = performance.now() - t;
    const projectedMs = listsMs + (timelinesMs * keys.length) / Math.max(1, sample.length);
    return {
      vms: keys.length,
      lists,
      listsMs: Math.round(listsMs),
      timelinesRead: sample.length,
      timelinesMs: Math.round(timelinesMs),
      apiRequests,
      tableRequests: sum(traffic.snapshot()),
      projectedSeconds: sig3(projectedMs / 1000),
      complete: sample.length === keys.length && Object.values(lists).every((l) => l.failed === undefined),
    };
  } finally {
    traffic.close();
  }
}

/**
 * The floor of the first screen: the Table reads `GET /api/fleet` makes for it, raw (the SDK's listing,
 * no mapping, no figures): every `VmCurrent` row and, at the same time, the range's day digests (one
 * partition query each, 8 at a time); then the timeline partitions of the page's 50 VMs (16 at a time)
 * and the episode index.
 */
async function firstScreenFloor(
  ctx: AppContext,
  days: readonly number[],
  pageKeys: readonly string[],
): Promise<{ ms: number; tableRequests: number }> {
  const before = ctx.tableRequests.requests;
  const t = performance.now();
  const drain = async (pages: AsyncIterable<unknown[]>) => {
    for await (const rows of pages) void rows.length;
  };
  const digests = ctx.tables.table(ctx.tableNames.dailyDigest);
  await Promise.all([
    drain(
      ctx.tables
        .table(ctx.tableNames.current)
        .listEntities({ queryOptions: { select: [...fleetCurrentColumns] } })
        .byPage({ maxPageSize: 1000 }),
    ),
    forEachLimited(days, 8, (day) =>
      drain(
        digests
          .listEntities({ queryOptions: { filter: odata`PartitionKey eq ${dayName(day)}` } })
          .byPage({ maxPageSize: 1000 }),
      ),
    ),
  ]);
  const timeline = ctx.tables.table(ctx.tableNames.timeline);
  await Promise.all([
    forEachLimited(pageKeys, 16, (key) =>
      drain(timeline.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${key}` } }).byPage()),
    ),
    drain(ctx.tables.table(ctx.tableNames.alerts).listEntities().byPage({ maxPageSize: 1000 })),
  ]);
  return { ms: performance.now() - t, tableRequests: ctx.tableRequests.requests - before };
}

/**
 * Each seeded day's digest, read back through the store (the route's read), against its day partition
 * (every row's usage figures): the days whose digest is missing, inconsistent or differs.
 */
async function checkDigests(
  ctx: AppContext,
  start: number,
  days: number,
): Promise<{ days: number; vms: number; differing: string[] }> {
  const differing: string[] = [];
  let vms = 0;
  for (let day = start; day < start + days * dayInMs; day += dayInMs) {
    const rows = new Map<string, DailyUsageRow>();
    for await (const page of ctx.daily.listDay(dayName(day))) for (const r of page) rows.set(r.vmKey, r);
    const digest = await ctx.digests.readDigest(dayName(day));
    vms += digest?.length ?? 0;
    const same =
      digest !== undefined &&
      digest.length === rows.size &&
      digest.every((e) => {
        const row = rows.get(e.vmKey);
        return row !== undefined && usageFields.every((f) => row[f] === e[f]);
      });
    if (!same) differing.push(dayName(day));
  }
  return { days, vms, differing };
}

export async function runDashboardBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  if (!existsSync(executablePath))
    throw new Error(
      `${executablePath} is missing: the dashboard benchmark needs chromium (apt-get install -y chromium)`,
    );
  const vmCount = intSetting('BENCH_DASHBOARD_VMS', 10_000);
  const days = intSetting('BENCH_DASHBOARD_DAYS', 3);
  const baselineLimitInMs = intSetting('BENCH_DASHBOARD_BASELINE_SECONDS', 300) * 1000;
  const baselineSample = intSetting('BENCH_DASHBOARD_BASELINE_VMS', 500);
  const concurrency = intSetting('BENCH_CONCURRENCY', 32);
  let tables: BenchStorage | undefined;
  let app: LocalApp | undefined;
  let browser: Browser | undefined;
  try {
    tables = await benchStorage();
    const prefix = `d${randomBytes(4).toString('hex')}`;
    const settings = {
      TIMELINE_STORAGE: tables.connectionString,
      TABLE_NAME_PREFIX: prefix,
      SUBSCRIPTION_IDS: '00000000-0000-4000-8000-000000000000',
      ARM_ENDPOINT: 'http://127.0.0.1:9',
      RECONCILE_SCHEDULE: never,
      ROLLUP_SCHEDULE: never,
      ALERT_SCHEDULE: never,
    };
    const ctx = createAppContext(loadConfig(settings), { log: silentLogger });
    await ctx.ensureTables();

    // 1. The fleet: history up to the end of yesterday, rolled up; one VM in 20 powered off.
    const asOf = Date.now();
    const start = dayStartOf(asOf) - days * dayInMs;
    const rnd = seededRandom(20_261_201);
    const vms: SeedVm[] = Array.from({ length: vmCount }, (_, i) => {
      const vm = seedVm(i, start, days, rnd);
      const open = vm.segments[vm.segments.length - 1];
      if (i % 20 === 7 && open !== undefined)
        Object.assign(open, { state: 'stopped', billing: billingOf('stopped') });
      return vm;
    });
    const seedMs = await seed(ctx, vms, start, days, asOf, concurrency, progress);
    // A sample (every VM in Stopped (allocated) of the first 400, and 40 spread over the fleet) recorded
    // again through the store's write path must come out the same.
    const sample = vms.filter(
      (_, i) => (i < 400 && i % 20 === 7) || i % Math.max(1, Math.floor(vmCount / 40)) === 0,
    );
    const seedCheck = await checkSeedAgainstIngest(ctx, tables.connectionString, sample, start, days, asOf);
    progress(
      `seed check: ${seedCheck.vms} VMs recorded again through the store, ${seedCheck.differing.length} differ`,
    );
    const digestCheck = await checkDigests(ctx, start, days);
    progress(`seed check: ${days} day digests, ${digestCheck.differing.length} differ from their day rows`);
    await ctx.daily.setRolledThrough(dayStartOf(asOf));
    const index = await syncStoppedIndex({ alerts: ctx.alerts, store: ctx.store, log: silentLogger }, asOf);
    progress(`stopped index: ${index.stopped} VMs in Stopped (allocated)`);

    // 2. The app as `npm start` runs it, over those tables, and chromium.
    Object.assign(process.env, settings);
    app = await startLocalApp({ port: 0, sandbox: false, log: silentLogger, say: () => undefined });
    const endpoint = ctx.tables.endpoint;
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    let apiRequests = 0;
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) apiRequests += 1;
    });
    const traffic = watchTableTraffic(endpoint);
    const loads: Array<{
      seconds: number;
      /** The `GET /api/fleet` request of the first screen, as the browser timed it. */
      fleetRequestMs: number;
      apiRequests: number;
      tableRequests: number;
    }> = [];
    for (const label of ['first load', 'second load']) {
      await page.evaluate('window.dashboard && window.dashboard.idle()').catch(() => undefined);
      const before = { api: apiRequests, table: sum(traffic.snapshot()) };
      const t = performance.now();
      await page.goto(app.dashboardUrl);
      await page.waitForSelector('body[data-loaded="true"] #timelines .bar', { timeout: 300_000 });
      const seconds = (performance.now() - t) / 1000;
      const fleetRequestMs = await page.evaluate<number>(
        `performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/fleet?')).map((e) => Math.round(e.duration))[0]`,
      );
      loads.push({
        seconds: sig3(seconds),
        fleetRequestMs,
        apiRequests: apiRequests - before.api,
        tableRequests: sum(traffic.snapshot()) - before.table,
      });
      progress(
        `${label}: ${Math.round(seconds * 1000)} ms to the first screen (GET /api/fleet ${fleetRequestMs} ms), ${apiRequests - before.api} API requests`,
      );
    }
    const tableLatencyMsOfLoads = Object.fromEntries(
      Object.entries(traffic.latency()).map(([kind, ms]) => [kind, Math.round(ms)]),
    );
    const tableRequestsOfLoads = traffic.snapshot();
    // The same reads raw, on the same tables, for the page's 50 VMs (the first of those stopped).
    const floorDays = Array.from({ length: days }, (_, i) => start + i * dayInMs);
    const pageKeys = vms
      .filter((_, i) => i % 20 === 7)
      .slice(0, 50)
      .map((vm) => vm.key);
    await firstScreenFloor(ctx, floorDays, pageKeys); // warm-up, as the second load is
    const floor = await firstScreenFloor(ctx, floorDays, pageKeys);
    progress(
      `floor: the first screen's Table reads raw in ${Math.round(floor.ms)} ms (${floor.tableRequests} requests)`,
    );
    // The route in this process over the same tables, with the digests and with the day partitions (no
    // digest), alternately, the fastest of 3 each: what the digests save, whatever the machine's load.
    const hourInMs = 3_600_000;
    const routeTo = Math.ceil(Date.now() / 60_000) * 60_000;
    const routeQuery = { from: routeTo - 72 * hourInMs, to: routeTo, asOf: Date.now(), pageSize: 50 };
    const fromPartitions = { ...ctx.fleet, digests: { openDigest: () => Promise.resolve(undefined) } };
    // With the digests, every column of the current rows (the listing reads only the fleet's columns).
    const store = ctx.store;
    const fromWholeRows: FleetDependencies = {
      ...ctx.fleet,
      source: {
        listFleet: (options) => store.listFleet({ ...options, wholeRows: true }),
        changedSince: (changedAt) => store.changedSince(changedAt),
        getTimeline: (resourceId, range) => store.getTimeline(resourceId, range),
      },
    };
    const routeMs = { fromDigests: Infinity, fromDayPartitions: Infinity, fromWholeCurrentRows: Infinity };
    for (let i = 0; i < 3; i++)
      for (const [name, deps] of [
        ['fromDigests', ctx.fleet],
        ['fromDayPartitions', fromPartitions],
        ['fromWholeCurrentRows', fromWholeRows],
      ] as const) {
        const started = performance.now();
        await fleetPage(deps, routeQuery);
        routeMs[name] = Math.min(routeMs[name], Math.round(performance.now() - started));
      }
    progress(
      `GET /api/fleet's use case in process: ${routeMs.fromDigests} ms with the digests, ${routeMs.fromDayPartitions} ms from the day partitions, ${routeMs.fromWholeCurrentRows} ms reading whole current rows`,
    );
    const rows = await page.locator('#timelines .bar').count();
    const shownTotal = (await page.locator('[data-total="vms"] b').textContent()) ?? '';
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
    const domNodes = await page.evaluate('document.getElementsByTagName("*").length');

    // A refresh with nothing recorded since (after the side panels of the last load are in). The page's
    // own timer is switched off first, so neither this nor the next page counts an auto-refresh's requests.
    await page.uncheck('#auto-refresh');
    await page.evaluate('window.dashboard.idle()');
    const before = { api: apiRequests, table: sum(traffic.snapshot()) };
    let t = performance.now();
    await page.evaluate('window.dashboard.refresh()');
    const refresh = {
      ms: Math.round(performance.now() - t),
      apiRequests: apiRequests - before.api,
      tableRequests: sum(traffic.snapshot()) - before.table,
    };
    progress(`refresh, nothing changed: ${refresh.apiRequests} API, ${refresh.tableRequests} Table requests`);
    // A page of the next 50 (sorted, filtered the same).
    const beforeNext = { api: apiRequests, table: sum(traffic.snapshot()) };
    t = performance.now();
    await page.click('#timelines-pager .next');
    await page.locator('#timelines-pager .page-info', { hasText: /^51/ }).waitFor({ timeout: 300_000 });
    const nextPage = {
      ms: Math.round(performance.now() - t),
      apiRequests: apiRequests - beforeNext.api,
      tableRequests: sum(traffic.snapshot()) - beforeNext.table,
    };
    traffic.close();
    await browser.close();
    browser = undefined;

    // 3. The per-VM loading, in the same run.
    progress('baseline: the per-VM loading of the page before GET /api/fleet');
    const key = new URL(app.dashboardUrl).searchParams.get('code') ?? '';
    const baseline = await perVmLoading(
      app.host.url,
      key,
      endpoint,
      vms.map((vm) => vm.key),
      baselineSample,
      baselineLimitInMs,
      progress,
    );
    progress(
      `baseline: ${baseline.timelinesRead} timelines in ${baseline.timelinesMs} ms; the whole page projected to ${baseline.projectedSeconds} s`,
    );

    const first = loads[0] ?? { seconds: NaN, fleetRequestMs: NaN, apiRequests: NaN, tableRequests: NaN };
    const warm = loads[1] ?? first;
    return {
      figures: {
        vms: vmCount,
        days,
        seedSeconds: sig3(seedMs / 1000),
        seedCheck: { ...seedCheck, digests: digestCheck },
        firstLoad: first,
        secondLoad: warm,
        firstScreenFloor: {
          what: "the fleet route's Table reads for the first screen, raw (current rows, day digests, timelines, episode index)",
          ms: Math.round(floor.ms),
          tableRequests: floor.tableRequests,
          shareOfSecondLoad: sig3(floor.ms / 1000 / Math.max(0.001, warm.seconds)),
        },
        fleetRouteInProcessMs: routeMs,
        rowsOnScreen: rows,
        totalShown: shownTotal,
        domNodes,
        browserHeapMB: sig3(heap.usedSize / 1e6),
        tableRequestsOfLoads,
        tableLatencyMsOfLoads,
        refreshNothingChanged: refresh,
        nextPage,
        perVmBaseline: baseline,
        // The old page makes 3 + one request per VM, whether or not the run above got through them all.
        apiRequestsRatio: sig3((baseline.vms + 3) / Math.max(1, first.apiRequests)),
        timeRatio: sig3(baseline.projectedSeconds / Math.max(0.001, first.seconds)),
      },
      targets: [
        exactly('seededVmsDifferingFromIngest', seedCheck.differing.length, 0),
        exactly('seededDigestsDifferingFromDayRows', digestCheck.differing.length, 0),
        atMost('firstScreenSeconds', first.seconds, 3),
        atMost('apiRequestsPerLoad', first.apiRequests, 5),
        atMost('apiRequestsPerRefreshNothingChanged', refresh.apiRequests, 2),
      ],
    };
  } finally {
    await browser?.close();
    await app?.stop();
    await tables?.stop();
  }
}
