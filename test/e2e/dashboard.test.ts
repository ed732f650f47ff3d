/**
 * The dashboard in a real browser: the local app as `npm start` runs it (its own Azurite in memory, the
 * sandbox subscription, the function handlers behind the local host), opened in Debian's headless
 * chromium through playwright-core. Leaves a screenshot in test-results/dashboard.png.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { storeInvoiceCheck } from '../../src/app/invoice-agreement';
import { createAppContext } from '../../src/composition';
import { checkRow } from '../../src/domain/invoice-check';
import { loadConfig } from '../../src/config';
import { startLocalApp, type LocalApp } from '../../kit/local/local-app';

const executablePath = '/usr/bin/chromium';
const root = path.resolve(__dirname, '..', '..');
const screenshot = path.join(root, 'test-results', 'dashboard.png');
const haveChromium = existsSync(executablePath);
const extraVms = 60;
const extraSubscription = '00000000-0000-4000-8000-0000000000e2';

if (!haveChromium && process.env['CI']) {
  throw new Error(
    `${executablePath} is missing: the dashboard test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)`,
  );
}
if (!haveChromium) {
  console.warn(
    `SKIPPED the dashboard browser test: ${executablePath} is missing (apt-get install -y chromium)`,
  );
}

/** The `data-vm` attribute of every element the locator matches. */
async function dataVm(locator: Locator): Promise<(string | null)[]> {
  // One evaluation: the rows may be re-rendered between two reads.
  return locator.evaluateAll((elements: Array<{ getAttribute(name: string): string | null }>) =>
    elements.map((element) => element.getAttribute('data-vm')),
  );
}

describe.skipIf(!haveChromium)('dashboard (local app, sandbox, chromium)', () => {
  let app: LocalApp;
  let browser: BrowserContext;
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-profile-'));

  beforeAll(async () => {
    for (const name of ['TIMELINE_STORAGE', 'AzureWebJobsStorage', 'SUBSCRIPTION_IDS', 'ARM_ENDPOINT'])
      delete process.env[name];
    app = await startLocalApp({
      port: 0,
      azuritePorts: { blob: 0, queue: 0, table: 0 },
      azuriteLocation: 'memory',
      // No live sandbox changes during the test: its assertions are about the seeded fleet, and a live
      // power-off of a web VM on a slow machine made the resource-group filter's Stopped panel non-empty.
      sandboxIntervalInMs: 24 * 3_600_000,
      log: silentLogger,
      say: () => undefined,
    });
    browser = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 900 },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  /** Polls until the page shows it (a reload takes a moment on a busy machine). */
  const eventually = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 20_000, interval: 100 });
  /** Names of the timeline rows on screen. */
  const barNames = (page: Page) => dataVm(page.locator('#timelines .bar'));

  it('pages, sorts, searches and filters a fleet larger than a page, and drills down to one VM', async () => {
    // 60 more VMs in another subscription: the fleet no longer fits one page (50 rows).
    const extra = createAppContext(
      loadConfig({ TIMELINE_STORAGE: app.storage, TABLE_NAME_PREFIX: 'sandbox' }),
      { log: silentLogger },
    );
    const started = Date.now() - 2 * 3_600_000;
    for (let i = 1; i <= extraVms; i++) {
      const resourceId = `/subscriptions/${extraSubscription}/resourceGroups/rg-fleet/providers/Microsoft.Compute/virtualMachines/fleet-${i}`;
      await extra.store.record({
        resourceId,
        at: started + i * 60_000,
        state: 'running',
        source: 'event',
        dedupeId: `fleet-start-${i}`,
      });
      if (i === 7) await extra.store.updateDetails(resourceId, { tags: { 'cost=center': 'a=b' } }, started);
    }

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // Content-Security-Policy violations and failed API calls land here (the browser's own favicon request does too).
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) errors.push(m.text());
    });
    const referers: string[] = [];
    /** API requests sent and answered, in order (`sent /api/fleet`, `done /api/fleet`...). */
    const apiOrder: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/')) referers.push(r.headers()['referer'] ?? '');
      if (r.url().includes('/api/')) apiOrder.push(`sent ${new URL(r.url()).pathname}`);
    });
    page.on('requestfinished', (r) => {
      if (r.url().includes('/api/')) apiOrder.push(`done ${new URL(r.url()).pathname}`);
    });

    const response = await page.goto(app.dashboardUrl);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    // The key leaves the address bar; API calls carry no Referer; only the page's own script runs.
    expect(page.url()).not.toContain('code=');
    expect(referers.length).toBeGreaterThan(0);
    expect(referers.every((r) => r === '')).toBe(true);
    const headers = response?.headers() ?? {};
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['content-security-policy']).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+';/);
    expect(headers['content-security-policy']).not.toContain('unsafe-inline');

    // First screen: a page of 50, Stopped (allocated) VMs first, totals of the whole fleet.
    const total = Number((await page.locator('[data-total="vms"] b').textContent())?.replace(/,/g, ''));
    expect(total).toBeGreaterThanOrEqual(extraVms + 10);
    const first = await barNames(page);
    expect(first).toHaveLength(50);
    expect(await page.locator('#timelines-pager .page-info').textContent()).toBe(`1–50 of ${total}`);
    expect(await page.locator('#timelines .vm-name .badge').first().textContent()).toBe('stopped');
    for (const name of ['build-01', 'dev-01']) expect(first).toContain(name);

    // Paging: the rest of the fleet, each VM once.
    await page.click('#timelines-pager .next');
    await eventually(() => page.locator('#timelines-pager .page-info').textContent()).toBe(
      `51–${total} of ${total}`,
    );
    const second = await barNames(page);
    expect(second).toHaveLength(total - 50);
    expect(second.filter((name) => first.includes(name))).toEqual([]);
    await page.click('#timelines-pager .prev');
    await eventually(() => page.locator('#timelines-pager .page-info').textContent()).toBe(
      `1–50 of ${total}`,
    );

    // Natural name order: fleet-2 before fleet-10.
    await page.selectOption('#sort', 'name');
    await eventually(async () => (await barNames(page))[0]).toBe('build-01');
    const byName = await barNames(page);
    expect(byName.indexOf('fleet-2')).toBeLessThan(byName.indexOf('fleet-10'));
    expect(byName.indexOf('fleet-9')).toBeLessThan(byName.indexOf('fleet-10'));

    // Search by name.
    await page.fill('#search', 'fleet-1');
    await eventually(async () => (await barNames(page)).join(',')).toBe(
      ['fleet-1', ...Array.from({ length: 10 }, (_, i) => `fleet-${10 + i}`)].join(','),
    );
    expect(await page.locator('[data-total="vms"] b').textContent()).toBe('11');
    await page.fill('#search', '');
    await eventually(async () => (await barNames(page)).length).toBe(50);

    // Filters: a resource group; a tag (also one whose name holds '=').
    await page.selectOption('#filter-group', 'rg-web');
    await eventually(async () => (await barNames(page)).includes('dev-01')).toBe(false);
    expect(await barNames(page)).toContain('web-01');
    await eventually(() => page.locator('#stopped tbody tr[data-vm]').count()).toBe(0);
    await page.selectOption('#filter-group', '');
    await page.selectOption('#filter-tag', { label: 'team=data' });
    await eventually(async () => (await barNames(page)).sort().join(',')).toBe('db-01,dev-02,etl-01');
    await page.selectOption('#filter-tag', { label: 'cost=center=a=b' });
    await eventually(async () => (await barNames(page)).join(',')).toBe('fleet-7');
    await page.selectOption('#filter-tag', '');
    await page.selectOption('#sort', 'attention');
    await eventually(async () => (await barNames(page)).length).toBe(50);

    // The Stopped (allocated) panel, with alert state; usage grouped.
    // The side panels load after the timelines.
    await eventually(() => dataVm(page.locator('#stopped tbody tr'))).toEqual(
      expect.arrayContaining(['build-01', 'dev-01']),
    );
    const stoppedNames = await dataVm(page.locator('#stopped tbody tr'));
    await eventually(() => page.locator('#stopped .alert').first().textContent()).toMatch(
      /sent|due|within grace/,
    );
    await page.selectOption('#stopped-sort', 'name');
    await eventually(() => dataVm(page.locator('#stopped tbody tr'))).toEqual(
      [...stoppedNames].sort((a, b) => String(a).localeCompare(String(b))),
    );
    expect(await page.locator('#usage tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#usage tfoot td').first().textContent()).toBe('total');

    // dev-01 was shut down from inside the guest: no management event; its Resource Health annotation
    // places the stop and names its cause, and the tooltip says so.
    expect(await page.locator('#timelines .bar[data-vm="dev-01"] .seg.window').count()).toBeGreaterThan(0);
    await page.locator('#timelines .bar[data-vm="dev-01"] .seg.window').last().hover();
    await eventually(() => page.locator('#tooltip').textContent()).toMatch(
      /stopped.*shut down from inside the guest OS at \d\d:\d\d UTC \(Resource Health annotation\).*source: resourceHealth/,
    );
    // The sandbox's Spot eviction and host crash: no management event either; the tooltip names each cause.
    for (const [name, cause] of [
      ['spot-01', /deallocated.*platform: Spot eviction at \d\d:\d\d UTC \(Resource Health annotation\)/],
      ['hpc-01', /stopped.*platform: host crash at \d\d:\d\d UTC \(Resource Health annotation\)/],
    ] as const) {
      await page.fill('#search', name);
      await eventually(async () => (await barNames(page)).join(',')).toBe(name);
      await page.locator(`#timelines .bar[data-vm="${name}"] .seg`).last().hover();
      await eventually(() => page.locator('#tooltip').textContent()).toMatch(cause);
    }
    await page.fill('#search', '');
    await eventually(async () => (await barNames(page)).length).toBe(50);

    // Drill-down: the VM's own timeline (the per-VM route), newest first.
    await page.locator('#timelines .vm-name[data-vm="dev-01"] button').click();
    await eventually(() => page.locator('#detail').isVisible()).toBe(true);
    expect(await page.locator('#detail-title').textContent()).toContain('dev-01');
    expect(await page.locator('#detail-segments tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#detail-segments tbody tr').first().locator('td').first().textContent()).toBe(
      'stopped',
    );

    // Coverage: the sandbox subscription, reconciled by the timer, with its last run.
    await page.waitForSelector('#coverage-panel[data-loaded="true"]', { timeout: 30_000 });
    await expect
      .poll(() => page.locator('#coverage-panel tbody tr').count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
    expect(await page.locator('#coverage-panel .coverage-summary').textContent()).toMatch(/\d+ watched/);
    // Its first request waited for the first screen (the fleet's answer), not competing with it.
    expect(apiOrder[0]).toBe('sent /api/fleet');
    expect(apiOrder.indexOf('sent /api/coverage')).toBeGreaterThan(apiOrder.indexOf('done /api/fleet'));
    // It refreshes with the page (the Refresh button here), not on a timer of its own.
    const coverageRequest = page.waitForRequest((r) => new URL(r.url()).pathname === '/api/coverage', {
      timeout: 10_000,
    });
    await page.click('#refresh');
    await coverageRequest;
    // No invoice check stored yet: no invoice panel.
    expect(await page.locator('#invoice').isHidden()).toBe(true);

    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(errors).toEqual([]);
  });

  it('shows the agreement with the invoice for the selected range once a check is stored', async () => {
    const ctx = createAppContext(
      loadConfig({ TIMELINE_STORAGE: app.storage, TABLE_NAME_PREFIX: 'sandbox' }),
      { log: silentLogger },
    );
    await ctx.ensureTables();
    const vm = (name: string) =>
      `/subscriptions/${extraSubscription}/resourceGroups/rg-fleet/providers/Microsoft.Compute/virtualMachines/${name}`;
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    await storeInvoiceCheck(
      ctx.invoiceChecks,
      [
        checkRow(
          vm('fleet-1'),
          today,
          {
            billedSeconds: 7_200,
            billedSecondsMin: 7_200,
            billedSecondsMax: 7_200,
            unknownSeconds: 0,
            beforeHistory: false,
          },
          2,
          5,
        ),
        checkRow(
          vm('fleet-2'),
          today,
          {
            billedSeconds: 3_600,
            billedSecondsMin: 3_600,
            billedSecondsMax: 3_600,
            unknownSeconds: 0,
            beforeHistory: false,
          },
          3,
          5,
        ),
      ],
      { exportName: 'e2e', checkedAt: Date.now(), toleranceInMinutes: 5 },
    );
    const page = await browser.newPage();
    await page.goto(app.dashboardUrl);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    await eventually(() => page.locator('#invoice').isVisible()).toBe(true);
    expect(await page.locator('#invoice-summary').textContent()).toContain('1 of 2 VM-days agree (50.0%)');
    expect(await page.locator('#invoice-rows tbody tr').count()).toBe(1);
    const cells = await page.locator('#invoice-rows tbody tr td').allTextContents();
    expect(cells).toEqual([
      'fleet-2',
      new Date(today).toISOString().slice(0, 10),
      '1.00',
      '3.00',
      'timelineShort',
      '',
    ]);
    await page.close();
  });
});
