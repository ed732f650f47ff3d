/**
 * The dashboard in a real browser: the local app as `npm start` runs it (its own Azurite in memory, the
 * sandbox subscription, the function handlers behind the local host), opened in Debian's headless
 * chromium through playwright-core. Leaves a screenshot in test-results/dashboard.png.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { startLocalApp, type LocalApp } from '../../src/local/local-app';

const executablePath = '/usr/bin/chromium';
const root = path.resolve(__dirname, '..', '..');
const screenshot = path.join(root, 'test-results', 'dashboard.png');
const haveChromium = existsSync(executablePath);

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

/** Imports every function module (TypeScript sources under vitest), so they register with the host. */
async function loadFunctionSources(): Promise<void> {
  const dir = path.join(root, 'functions');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    await import(path.join(dir, file));
  }
}

/** The `data-vm` attribute of every element the locator matches. */
async function dataVm(locator: Locator): Promise<(string | null)[]> {
  return Promise.all((await locator.all()).map((element) => element.getAttribute('data-vm')));
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
      sandboxIntervalInMs: 60_000,
      loadFunctions: loadFunctionSources,
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

  it('shows every sandbox VM on a timeline, the stopped list with alert state, and usage', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(app.dashboardUrl);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });

    const barNames = await dataVm(page.locator('#timelines .bar'));
    for (const name of ['web-01', 'db-01', 'dev-01', 'dev-02', 'build-01', 'vmss-api_0', 'vmss-api_2'])
      expect(barNames).toContain(name);
    expect(await page.locator('#timelines .seg.billed').count()).toBeGreaterThan(5);
    expect(await page.locator('#timelines .seg.notBilled').count()).toBeGreaterThan(3);
    // dev-01 was shut down from inside the guest: only the reconciler saw it, within a window.
    expect(await page.locator('#timelines .bar[data-vm="dev-01"] .seg.window').count()).toBeGreaterThan(0);

    const stopped = page.locator('#stopped tbody tr');
    const stoppedNames = await dataVm(stopped);
    expect(stoppedNames).toEqual(expect.arrayContaining(['build-01', 'dev-01']));
    await expect
      .poll(() => page.locator('#stopped .alert').first().textContent())
      .toMatch(/sent|due|within grace/);

    expect(await page.locator('#usage tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#usage tfoot td').first().textContent()).toBe('total');

    // Filters narrow the timelines (and the stopped list and usage) to a resource group or tag.
    await page.selectOption('#filter-group', 'rg-web');
    const webOnly = await dataVm(page.locator('#timelines .bar'));
    expect(webOnly).toContain('web-01');
    expect(webOnly).not.toContain('dev-01');
    expect(await page.locator('#stopped tbody tr[data-vm]').count()).toBe(0);
    await page.selectOption('#filter-group', '');
    await page.selectOption('#filter-tag', 'team=data');
    expect((await dataVm(page.locator('#timelines .bar'))).sort()).toEqual(['db-01', 'dev-02', 'etl-01']);
    await page.selectOption('#filter-tag', '');

    // Hover shows the segment's state, times and who did it.
    await page.locator('#timelines .bar[data-vm="dev-01"] .seg.window').last().hover();
    await expect
      .poll(() => page.locator('#tooltip').textContent())
      .toMatch(/stopped.*changed between.*source: reconcile/);

    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(errors).toEqual([]);
  });
});
