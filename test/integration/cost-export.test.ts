import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invoiceCheckHandler } from '../../functions/invoiceCheckApi';
import { invoiceAgreement, type AgreementPage } from '../../src/app/invoice-agreement';
import { runScheduledInvoiceCheck } from '../../src/app/scheduled-invoice-check';
import { silentLogger } from '../../src/adapters/logger';
import type { AlertEvent } from '../../src/domain/alerts';
import type { InvoiceAgreementEvent } from '../../src/domain/invoice-check';
import { vmKey } from '../../src/domain/resource-id';
import type { AppContext } from '../../src/composition';
import { CsvRecordReader } from '../../src/domain/csv-records';
import { dropTables, testContext } from '../support/app';
import { azurite, tableConnectionString } from '../support/azurite';
import { azuriteAccountKey, azuriteAccountName } from '../../src/adapters/storage';
import { runCli } from '../support/cli';
import {
  focusCsv,
  focusRow,
  focusVmUsage,
  legacyCsv,
  legacyVmUsage,
  scaleSetId,
  vmId,
} from '../../kit/emulator/cost-exports';
import { observation } from '../support/histories';

const web = vmId('web-01');
const batch = vmId('hpc-01', 'RG-Batch');
const short = vmId('vm-short');
const late = vmId('vm-late');
const windowed = vmId('vm-window');
const noExport = vmId('vm-noexport');
const ghost = vmId('ghost');
const vmss = scaleSetId('vmss-api');
const instance = (n: number) => `${vmss}/virtualMachines/${n}`;
const details = { vmSize: 'Standard_D2s_v5', location: 'westus2', osType: 'Linux' };

interface CheckJson {
  from: string;
  to: string;
  rows: Array<{
    resourceId: string;
    day: string;
    timelineHours: number | null;
    exportHours: number | null;
    differenceHours: number | null;
    verdict: string;
    reason: string | null;
  }>;
  totals: { vmDays: number; agreeingVmDays: number; timelineHours: number; exportHours: number };
}

describe('cost exports: your own prices, and the timeline checked against the invoice', () => {
  let ctx: AppContext;
  let dir: string;
  let exportDir: string;
  let common: string[];

  beforeAll(async () => {
    ctx = await testContext();
    const s = ctx.store;
    await s.record(observation(web, '2026-11-02T00:00:00Z', 'running', 'w1'));
    await s.updateDetails(web, { ...details, tags: { team: 'a' } }, Date.parse('2026-11-02T00:10:00Z'));
    await s.updateDetails(web, { ...details, tags: { team: 'b' } }, Date.parse('2026-11-04T10:00:00Z'));
    await s.record(observation(batch, '2026-11-02T00:00:00Z', 'deallocated', 'b0'));
    await s.record(observation(batch, '2026-11-03T06:00:00Z', 'running', 'b1'));
    await s.record(observation(batch, '2026-11-03T18:00:00Z', 'deallocated', 'b2'));
    await s.updateDetails(batch, { ...details, tags: { team: 'a' } }, Date.parse('2026-11-02T00:10:00Z'));
    // vm-short really started again on the 4th at 08:00; that observation was lost.
    await s.record(observation(short, '2026-11-02T00:00:00Z', 'running', 's1'));
    await s.record(observation(short, '2026-11-03T08:00:00Z', 'deallocated', 's2'));
    // vm-late: first observed on the 4th at noon.
    await s.record(observation(late, '2026-11-04T12:00:00Z', 'running', 'l1'));
    // vm-window: its stop on the 3rd is known only within [10:00, 14:00].
    await s.record(observation(windowed, '2026-11-02T00:00:00Z', 'running', 'x1'));
    await s.record(
      observation(windowed, '2026-11-03T14:00:00Z', 'deallocated', 'x2', {
        source: 'reconcile',
        windowFrom: Date.parse('2026-11-03T10:00:00Z'),
      }),
    );
    await s.record(observation(noExport, '2026-11-03T00:00:00Z', 'running', 'n1'));
    await s.record(observation(noExport, '2026-11-04T00:00:00Z', 'deallocated', 'n2'));
    await s.record(observation(instance(0), '2026-11-03T00:00:00Z', 'running', 'i0'));
    await s.record(observation(instance(1), '2026-11-03T00:00:00Z', 'running', 'i1'));
    await s.record(observation(instance(0), '2026-11-04T00:00:00Z', 'deallocated', 'i0b'));
    await s.record(observation(instance(1), '2026-11-04T00:00:00Z', 'deallocated', 'i1b'));

    dir = await mkdtemp(path.join(tmpdir(), 'cost-export-'));
    // A scheduled export's layout: dated folders, gzip-compressed CSV parts.
    exportDir = path.join(dir, 'exports', 'focus-daily', '20261101-20261130', 'run-1');
    await mkdir(exportDir, { recursive: true });
    const part1 = focusCsv([
      focusVmUsage({ resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 4.8 }),
      focusVmUsage({
        resourceId: web.toLowerCase(),
        day: '2026-11-04',
        hours: 24,
        effectiveCost: 2.4,
        pricingUnit: '10 Hours',
      }),
      focusVmUsage({ resourceId: batch.toUpperCase(), day: '2026-11-03', hours: 12, effectiveCost: 1.2 }),
      focusVmUsage({ resourceId: short, day: '2026-11-03', hours: 8, effectiveCost: 0.8 }),
      focusVmUsage({ resourceId: short, day: '2026-11-04', hours: 16, effectiveCost: 1.6 }),
      focusRow({
        ChargeCategory: 'Usage',
        ChargePeriodStart: '2026-11-03T00:00:00Z',
        ChargePeriodEnd: '2026-11-04T00:00:00Z',
        ResourceId: web.replace('virtualMachines/web-01', 'disks/web-01_OsDisk'),
        ConsumedQuantity: 0.0333,
        ConsumedUnit: 'GB/Month',
        EffectiveCost: 0.16,
        x_SkuMeterCategory: 'Storage',
      }),
    ]);
    const part2 = focusCsv([
      focusVmUsage({ resourceId: late, day: '2026-11-03', hours: 24, effectiveCost: 2.4 }),
      focusVmUsage({ resourceId: late, day: '2026-11-04', hours: 24, effectiveCost: 2.4 }),
      focusVmUsage({ resourceId: windowed, day: '2026-11-03', hours: 13.5, effectiveCost: 1.35 }),
      focusVmUsage({ resourceId: ghost, day: '2026-11-03', hours: 24, effectiveCost: 2.4 }),
      focusVmUsage({
        resourceId: vmss,
        day: '2026-11-03',
        hours: 48,
        effectiveCost: 4.8,
        pricingUnit: '100 Hours',
      }),
      focusRow({
        ChargeCategory: 'Usage',
        ChargePeriodStart: '2026-11-04T00:00:00Z',
        ChargePeriodEnd: '2026-11-05T00:00:00Z',
        ResourceId: web,
        ConsumedQuantity: 2,
        ConsumedUnit: 'GB',
        EffectiveCost: 0.17,
        x_SkuMeterCategory: 'Bandwidth',
      }),
    ]);
    await writeFile(path.join(exportDir, 'part_0_0001.csv.gz'), gzipSync(part1));
    await writeFile(path.join(exportDir, 'part_1_0001.csv.gz'), gzipSync(part2));
    await writeFile(path.join(exportDir, 'manifest.json'), '{}');
    common = ['--storage', tableConnectionString(), '--table-prefix', ctx.config.tablePrefix];
  });

  afterAll(async () => {
    await dropTables(ctx);
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the effective rate per VM and day from a folder of gzip FOCUS parts, and says what it read', async () => {
    const out = path.join(dir, 'my-prices.csv');
    const run = await runCli(['prices', '--from-export', path.join(dir, 'exports'), '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'read 12 rows from 2 file(s) (focus): kept 10, skipped 2 (2 not VM compute (disks, bandwidth, other services))',
    );
    expect(run.stdout).toContain('wrote 10 rates (VM-days, USD)');
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('vmSize,region,os,hourlyRate,currency,priority,resourceId,day');
    expect(lines).toContain(`,,,0.2,USD,,${web},2026-11-03`);
    expect(lines).toContain(`,,,0.1,USD,,${web},2026-11-04`); // written in other casing on that day
    expect(lines).toContain(`,,,0.1,USD,,${vmss},2026-11-03`);
  });

  it("prices each VM's billed hours at its own rate for the day, split between tag values, and lists unpriced days", async () => {
    const file = path.join(dir, 'own-prices.csv');
    expect((await runCli(['prices', '--from-export', exportDir, '--out', file])).code).toBe(0);
    const run = await runCli([
      'usage',
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-05',
      '--group-by',
      'tag:team',
      '--prices',
      file,
      '--json',
      ...common,
    ]);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as {
      rows: Array<{ key: string | null; cost: number | null; billedSeconds: number }>;
      unpriced: Array<{ resourceId: string; day?: string; billedSeconds: number }>;
      currency: string;
    };
    expect(report.currency).toBe('USD');
    // web-01: team a on the 3rd at 0.2/h, team b on the 4th at 0.1/h; hpc-01 (team a) 12 h at 0.1/h.
    expect(report.rows.find((r) => r.key === 'a')?.cost).toBeCloseTo(24 * 0.2 + 12 * 0.1, 9);
    expect(report.rows.find((r) => r.key === 'b')?.cost).toBeCloseTo(24 * 0.1, 9);
    // vm-noexport has no rate on the 3rd: listed, never priced at 0.
    expect(report.unpriced).toContainEqual(
      expect.objectContaining({ resourceId: noExport, day: '2026-11-03', billedSeconds: 86_400 }),
    );
    expect(report.unpriced.some((u) => u.resourceId === web)).toBe(false);
  });

  it('checks the timeline against the export per VM and day, with verdicts, reasons and totals', async () => {
    const run = await runCli([
      'check-invoice',
      '--export',
      exportDir,
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-05',
      '--json',
      ...common,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CheckJson;
    expect(report.from).toBe('2026-11-03T00:00:00.000Z');
    const byKey = Object.fromEntries(
      report.rows.map((r) => [`${r.resourceId.split('/').at(-1)?.toLowerCase()} ${r.day}`, r]),
    );
    expect(byKey['web-01 2026-11-03']).toMatchObject({
      timelineHours: 24,
      exportHours: 24,
      differenceHours: 0,
      verdict: 'agrees',
      reason: null,
    });
    expect(byKey['web-01 2026-11-04']?.verdict).toBe('agrees');
    expect(byKey['hpc-01 2026-11-03']?.verdict).toBe('agrees');
    expect(byKey['vm-short 2026-11-03']?.verdict).toBe('agrees');
    expect(byKey['vm-short 2026-11-04']).toMatchObject({
      timelineHours: 0,
      exportHours: 16,
      differenceHours: -16,
      verdict: 'timelineShort',
      reason: null,
    });
    expect(byKey['vm-late 2026-11-03']).toMatchObject({
      timelineHours: 0,
      verdict: 'timelineShort',
      reason: 'beforeHistory',
    });
    expect(byKey['vm-late 2026-11-04']).toMatchObject({
      timelineHours: 12,
      verdict: 'timelineShort',
      reason: 'beforeHistory',
    });
    expect(byKey['vm-window 2026-11-03']).toMatchObject({
      timelineHours: 12,
      exportHours: 13.5,
      verdict: 'timelineShort',
      reason: 'window',
    });
    expect(byKey['ghost 2026-11-03']).toMatchObject({ timelineHours: null, verdict: 'unknownToTimeline' });
    expect(byKey['vm-noexport 2026-11-03']).toMatchObject({
      timelineHours: 24,
      exportHours: null,
      verdict: 'absentFromExport',
    });
    expect(byKey['vmss-api 2026-11-03']).toMatchObject({
      timelineHours: 48,
      exportHours: 48,
      verdict: 'agrees',
    });
    expect(report.rows).toHaveLength(11);
    expect(report.totals).toMatchObject({ vmDays: 11, agreeingVmDays: 5 });

    const csv = await runCli([
      'check-invoice',
      '--export',
      exportDir,
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-05',
      '--csv',
      ...common,
    ]);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('resourceId,day,timelineHours,exportHours,differenceHours,verdict,reason');
    expect(lines).toContain(`${short},2026-11-04,0,16,-16,timelineShort,`);

    const text = await runCli([
      'check-invoice',
      '--export',
      exportDir,
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-05',
      ...common,
    ]);
    expect(text.stdout).toContain('agree: 5 of 11 VM-days (45.5%)');
    expect(text.stderr).toContain('read 12 rows from 2 file(s) (focus)');
  });

  it('stores the check with --store, and GET /api/invoice-check answers its agreement and disagreeing rows, paged', async () => {
    const args = ['check-invoice', '--export', exportDir, '--from', '2026-11-03', '--to', '2026-11-05'];
    const run = await runCli([...args, '--store', '--json', ...common]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`stored 11 rows in ${ctx.tableNames.invoiceCheck}`);
    // Checking again replaces the rows of the same VM-days: still 11.
    expect((await runCli([...args, '--store', ...common])).code).toBe(0);
    const stored: unknown[] = [];
    for await (const row of ctx.tables.table(ctx.tableNames.invoiceCheck).listEntities()) stored.push(row);
    expect(stored).toHaveLength(11);
    expect(stored).toContainEqual(
      expect.objectContaining({
        partitionKey: '2026-11-04',
        rowKey: vmKey(short),
        resourceId: short,
        verdict: 'timelineShort',
        timelineHours: 0,
        exportHours: 16,
        exportName: exportDir,
      }),
    );

    const handler = invoiceCheckHandler(() => Promise.resolve(ctx));
    const get = async (query: string) => {
      const response = await handler(
        new HttpRequest({ method: 'GET', url: `http://localhost/api/invoice-check?${query}` }),
        new InvocationContext({ functionName: 'invoiceCheck' }),
      );
      return { status: response.status, body: response.jsonBody as AgreementPage & { error?: string } };
    };
    const first = await get('from=2026-11-03T00:00:00Z&to=2026-11-05T00:00:00Z&pageSize=4');
    expect(first.status).toBe(200);
    expect(first.body.checkedDays).toBe(2);
    expect(first.body.totals).toMatchObject({ vmDays: 11, agreeingVmDays: 5 });
    expect(first.body.rows).toHaveLength(4);
    expect(first.body.rows.every((r) => r.verdict !== 'agrees')).toBe(true);
    expect(first.body.continuation).not.toBeNull();
    const second = await get(
      `from=2026-11-03T00:00:00Z&to=2026-11-05T00:00:00Z&pageSize=4&continuation=${first.body.continuation}`,
    );
    expect(second.body.rows).toHaveLength(2);
    expect(second.body.continuation).toBeNull();
    const all = [...first.body.rows, ...second.body.rows];
    expect(all).toContainEqual(
      expect.objectContaining({ resourceId: short, day: '2026-11-04', verdict: 'timelineShort' }),
    );
    // One day only: the 4th's rows.
    const fourth = await get('from=2026-11-04T00:00:00Z&to=2026-11-05T00:00:00Z');
    expect(fourth.body.checkedDays).toBe(1);
    expect(fourth.body.rows.every((r) => r.day === '2026-11-04')).toBe(true);
    // A range with no stored check: nothing, not an error.
    const empty = await get('from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z');
    expect(empty.body).toMatchObject({
      checkedDays: 0,
      totals: { vmDays: 0 },
      rows: [],
      lastCheckedAt: null,
    });
    expect((await get('from=2026-11-03T00:00:00Z')).status).toBe(400);
    expect((await get('from=2026-11-03T00:00:00Z&to=2026-11-05T00:00:00Z&continuation=x')).status).toBe(400);
  });

  it('reads the newest run of a scheduled export from a blob container (Azurite) as it reads the folder', async () => {
    const blobEndpoint = azurite().blobEndpoint;
    const container = new ContainerClient(
      `${blobEndpoint}/exports${randomUUID().slice(0, 8)}`,
      new StorageSharedKeyCredential(azuriteAccountName, azuriteAccountKey),
    );
    await container.create();
    const period = 'cost/focus-daily/20261101-20261130';
    const upload = async (name: string, body: Buffer | string) => {
      await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
    };
    // An older run of the same export and month, with other figures: written first, not the newest.
    await upload(
      `${period}/zz-older-run/part_0_0001.csv`,
      focusCsv([focusVmUsage({ resourceId: short, day: '2026-11-04', hours: 99, effectiveCost: 9.9 })]),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // Last-Modified has whole seconds
    for (const file of ['part_0_0001.csv.gz', 'part_1_0001.csv.gz', 'manifest.json'])
      await upload(`${period}/run-2/${file}`, await readFile(path.join(exportDir, file)));

    const args = ['--from', '2026-11-03', '--to', '2026-11-05', '--json', ...common];
    const fromFolder = JSON.parse(
      (await runCli(['check-invoice', '--export', exportDir, ...args])).stdout,
    ) as CheckJson;
    const run = await runCli(['check-invoice', '--export', `${container.url}/cost`, ...args]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const fromBlobs = JSON.parse(run.stdout) as CheckJson & { export: { files: number } };
    expect(fromBlobs.export.files).toBe(2);
    expect(fromBlobs.rows).toEqual(fromFolder.rows);
    expect(fromBlobs.totals).toEqual(fromFolder.totals);

    // --all-runs reads the older run too: vm-short's 4th then counts its 99 hours as well.
    const all = JSON.parse(
      (await runCli(['check-invoice', '--export', container.url, '--all-runs', ...args])).stdout,
    ) as CheckJson;
    expect(all.rows.find((r) => r.resourceId === short && r.day === '2026-11-04')?.exportHours).toBe(115);

    // Identity only: a SAS token in the URL is refused; a missing container is named.
    const sas = await runCli(['check-invoice', '--export', `${container.url}?sv=2024&sig=x`, ...args]);
    expect(sas.code).toBe(2);
    expect(sas.stderr).toContain('without a query string or SAS token');
    const missing = await runCli(['check-invoice', '--export', `${blobEndpoint}/nosuchcontainer`, ...args]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('the container does not exist');
    await container.delete();
  });

  it('the daily invoice check reads the scheduled export from its container, stores the rows and alerts when agreement is low', async () => {
    const container = new ContainerClient(
      `${azurite().blobEndpoint}/daily${randomUUID().slice(0, 8)}`,
      new StorageSharedKeyCredential(azuriteAccountName, azuriteAccountKey),
    );
    await container.create();
    for (const file of ['part_0_0001.csv.gz', 'part_1_0001.csv.gz', 'manifest.json']) {
      const body = await readFile(path.join(exportDir, file));
      await container
        .getBlockBlobClient(`focus/vm-timeline-daily/20261101-20261130/run-1/${file}`)
        .upload(body, body.length);
    }
    const published: InvoiceAgreementEvent[] = [];
    const warnings: string[] = [];
    const deps = {
      source: ctx.store,
      daily: ctx.daily,
      readExport: ctx.readExport,
      invoiceChecks: ctx.invoiceChecks,
      alertPublisher: {
        destination: 'test',
        publish: (event: AlertEvent | InvoiceAgreementEvent) => {
          published.push(event as InvoiceAgreementEvent);
          return Promise.resolve();
        },
      },
      log: { ...silentLogger, warn: (message: string) => void warnings.push(message) },
    };
    const options = {
      now: Date.parse('2026-11-06T06:30:00Z'),
      container: container.url,
      toleranceInMinutes: 5,
      alertBelowPercent: 90,
    };
    const summary = await runScheduledInvoiceCheck(deps, options);
    expect(summary).toMatchObject({
      from: '2026-11-03T00:00:00.000Z',
      to: '2026-11-05T00:00:00.000Z',
      vmDays: 11,
      agreeingVmDays: 5,
      agreementPercent: 45.454545,
      alerted: true,
    });
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      id: 'invoice-agreement|2026-11-03|2026-11-05',
      type: 'VmBillingTimeline.InvoiceAgreementLow',
      data: { agreementPercent: 45.454545, thresholdPercent: 90, vmDays: 11, agreeingVmDays: 5 },
    });
    const page = await invoiceAgreement(ctx.invoiceChecks, {
      from: Date.parse('2026-11-03T00:00:00Z'),
      to: Date.parse('2026-11-05T00:00:00Z'),
    });
    expect(page.totals).toMatchObject({ vmDays: 11, agreeingVmDays: 5 });
    expect(page.lastCheckedAt).toBe('2026-11-06T06:30:00.000Z');
    // Above the setting: logged, no alert.
    const calm = await runScheduledInvoiceCheck(deps, { ...options, alertBelowPercent: 40 });
    expect(calm.alerted).toBe(false);
    expect(published).toHaveLength(1);
    // No topic: the low agreement is a warning in the log.
    await runScheduledInvoiceCheck({ ...deps, alertPublisher: undefined }, options);
    expect(warnings).toContain('invoice agreement below the alert setting (no alert topic: logged only)');
    await container.delete();
  });

  it('reads a legacy amortized CSV the same way', async () => {
    const file = path.join(dir, 'legacy.csv');
    await writeFile(
      file,
      legacyCsv([
        legacyVmUsage({ resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 4.8 }),
        legacyVmUsage({
          resourceId: batch,
          day: '2026-11-03',
          hours: 12,
          effectiveCost: 0.6,
          reservation: true,
        }),
      ]),
    );
    const run = await runCli([
      'check-invoice',
      '--export',
      file,
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-04',
      '--json',
      ...common,
    ]);
    const report = JSON.parse(run.stdout) as CheckJson;
    expect(report.rows.filter((r) => r.exportHours !== null).map((r) => r.verdict)).toEqual([
      'agrees',
      'agrees',
    ]);
  });

  it('reads a Parquet export (Snappy, typed columns, several row groups) as it reads the same rows in CSV', async () => {
    const { parquetWriteBuffer } = await import('hyparquet-writer');
    const rows = [
      focusVmUsage({ resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 4.8 }),
      focusVmUsage({
        resourceId: batch,
        day: '2026-11-03',
        hours: 12,
        effectiveCost: 1.2,
        pricingUnit: '10 Hours',
      }),
      focusVmUsage({
        resourceId: vmss,
        day: '2026-11-03',
        hours: 48,
        effectiveCost: 4.8,
        pricingUnit: '100 Hours',
      }),
      focusRow({
        ChargeCategory: 'Usage',
        ChargePeriodStart: '2026-11-03T00:00:00Z',
        ChargePeriodEnd: '2026-11-04T00:00:00Z',
        ResourceId: web,
        ConsumedQuantity: 2,
        ConsumedUnit: 'GB',
        EffectiveCost: 0.17,
        x_SkuMeterCategory: 'Bandwidth',
      }),
    ];
    const csvText = focusCsv(rows);
    const records: string[][] = [];
    const reader = new CsvRecordReader();
    reader.push(csvText, (r) => records.push(r));
    reader.end((r) => records.push(r));
    const [header = [], ...body] = records;
    const numeric = new Set([
      'BilledCost',
      'EffectiveCost',
      'ConsumedQuantity',
      'PricingQuantity',
      'x_PricingBlockSize',
    ]);
    const dates = new Set(['ChargePeriodStart', 'ChargePeriodEnd', 'BillingPeriodStart', 'BillingPeriodEnd']);
    const columnData = header.map((name, i) => {
      const values = body.map((r) => r[i] ?? '');
      if (numeric.has(name))
        return { name, type: 'DOUBLE' as const, data: values.map((v) => (v === '' ? null : Number(v))) };
      if (dates.has(name))
        return { name, type: 'TIMESTAMP' as const, data: values.map((v) => (v === '' ? null : new Date(v))) };
      return { name, type: 'STRING' as const, data: values.map((v) => (v === '' ? null : v)) };
    });
    const parquetDir = path.join(dir, 'parquet');
    await mkdir(parquetDir, { recursive: true });
    await writeFile(
      path.join(parquetDir, 'part_0_0001.parquet'),
      Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: 2 })),
    );
    await writeFile(path.join(dir, 'same.csv'), csvText);
    const fromParquet = await runCli(['prices', '--from-export', parquetDir]);
    const fromCsv = await runCli(['prices', '--from-export', path.join(dir, 'same.csv')]);
    expect(fromParquet.code).toBe(0);
    expect(fromParquet.stderr).toContain('read 4 rows from 1 file(s) (focus): kept 3, skipped 1');
    expect(fromParquet.stdout).toBe(fromCsv.stdout);
    expect(fromParquet.stdout).toContain(`,,,0.1,USD,,${batch},2026-11-03`);
  });

  it('rejects unusable input with exit 2 and a message naming the problem', async () => {
    const notExport = path.join(dir, 'not-export.csv');
    await writeFile(notExport, 'name,value\na,1\n');
    const bad = await runCli([
      'check-invoice',
      '--export',
      notExport,
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-05',
      ...common,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a Cost Management export');
    const mixed = path.join(dir, 'mixed.csv');
    await writeFile(
      mixed,
      focusCsv([
        focusVmUsage({ resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 4.8 }),
        focusVmUsage({
          resourceId: batch,
          day: '2026-11-03',
          hours: 24,
          effectiveCost: 4.1,
          currency: 'EUR',
        }),
      ]),
    );
    const currencies = await runCli(['prices', '--from-export', mixed]);
    expect(currencies.code).toBe(2);
    expect(currencies.stderr).toContain('mixes billing currencies (USD, EUR)');
    const missing = await runCli([
      'check-invoice',
      '--export',
      path.join(dir, 'nope'),
      '--from',
      '2026-11-03',
      '--to',
      '2026-11-05',
      ...common,
    ]);
    expect(missing.code).toBe(2);
    expect(
      (
        await runCli([
          'check-invoice',
          '--export',
          exportDir,
          '--from',
          '2026-11-03',
          '--to',
          '2026-11-03',
          ...common,
        ])
      ).code,
    ).toBe(2);
    expect(
      (
        await runCli([
          'check-invoice',
          '--export',
          exportDir,
          '--from',
          '3 Nov',
          '--to',
          '2026-11-05',
          ...common,
        ])
      ).code,
    ).toBe(2);
  });
});
