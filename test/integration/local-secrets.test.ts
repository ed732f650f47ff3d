/**
 * `npm start` with storage given by a SAS connection string and an account-key connection string: no
 * configured secret (the account key, the SAS token or its signature, either connection string) reaches
 * stdout, stderr or the logs of the local host, at any log level, while it starts, ingests events, runs
 * the timer and the queue trigger, refuses bad requests, and stops.
 */
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { azuriteAccountKey, azuriteAccountName } from '../../src/adapters/storage';
import { startLocalApp, type LocalApp } from '../../kit/local/local-app';
import { uniquePrefix } from '../support/app';
import { azurite } from '../support/azurite';
import { recentTime, subscriptionId, vmEvent, vmResourceId } from '../support/events';

const variables = [
  'TIMELINE_STORAGE',
  'AzureWebJobsStorage',
  'SUBSCRIPTION_IDS',
  'ARM_ENDPOINT',
  'TABLE_NAME_PREFIX',
  'LOG_LEVEL',
  'RECONCILE_SCHEDULE',
  'ROLLUP_SCHEDULE',
  'ALERT_SCHEDULE',
] as const;

describe('secrets of the local host', () => {
  let arm: ArmEmulator;
  let app: LocalApp | undefined;
  let output = '';
  const saved = new Map<string, string | undefined>();
  const { queueEndpoint, tableEndpoint, blobEndpoint } = azurite();
  const sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 3_600_000),
      permissions: AccountSASPermissions.parse('rwdlacup'),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('qt').toString(),
    },
    new StorageSharedKeyCredential(azuriteAccountName, azuriteAccountKey),
  ).toString();
  const signature = new URLSearchParams(sas).get('sig') ?? '';
  // AccountName names the account for the queue client; the SAS is the only credential.
  const sasConnectionString = `AccountName=${azuriteAccountName};QueueEndpoint=${queueEndpoint};TableEndpoint=${tableEndpoint};SharedAccessSignature=${sas}`;
  const keyConnectionString = `DefaultEndpointsProtocol=http;AccountName=${azuriteAccountName};AccountKey=${azuriteAccountKey};BlobEndpoint=${blobEndpoint};QueueEndpoint=${queueEndpoint};TableEndpoint=${tableEndpoint};`;

  beforeAll(async () => {
    arm = await startArmEmulator({ pageSize: 2 });
    arm.fleet.addSubscription(subscriptionId);
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg-app', name: 'sec-a', powerState: 'running' });
    for (const name of variables) saved.set(name, process.env[name]);
    Object.assign(process.env, {
      TIMELINE_STORAGE: sasConnectionString,
      AzureWebJobsStorage: keyConnectionString,
      SUBSCRIPTION_IDS: subscriptionId,
      ARM_ENDPOINT: arm.url,
      TABLE_NAME_PREFIX: uniquePrefix(),
      LOG_LEVEL: 'debug',
      RECONCILE_SCHEDULE: '0 0 0 1 1 *',
      ROLLUP_SCHEDULE: '0 0 0 1 1 *',
      ALERT_SCHEDULE: '0 0 0 1 1 *',
    });
    const capture = (chunk: unknown): boolean => {
      output += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });

  afterAll(async () => {
    await app?.stop();
    vi.restoreAllMocks();
    await arm?.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('prints and logs none of them while it runs', async () => {
    // As `npm start` runs it: the default logger (stderr) and the default lines for people (stdout).
    app = await startLocalApp({
      port: 0,
      sandbox: false,
      functions: ['vmEvents', 'reconcile', 'reconcileSubscription', 'vms'],
    });
    const { host } = app;
    const webhook = `${host.url}/runtime/webhooks/eventgrid?functionName=vmEvents`;
    const post = (body: string) =>
      fetch(webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
        body,
      });
    expect(
      (await post(JSON.stringify([vmEvent('sec-a', 'start', recentTime('08:00'), 'sec-1')]))).status,
    ).toBe(200);
    expect((await post('not json')).status).toBe(400);
    expect((await fetch(`${host.url}/api/vms?code=wrong`)).status).toBe(401);
    // The timer writes to the storage queue (through the SAS), the queue trigger reads it.
    const run = await fetch(`${host.url}/admin/functions/reconcile`, {
      method: 'POST',
      headers: { 'x-functions-key': host.functionKey },
      body: '{}',
    });
    expect(run.status).toBe(202);
    await expect
      // The console's line for the queue trigger's execution (readable: LOG_FORMAT is not json).
      .poll(() => output.includes(`reconcileSubscription: ${subscriptionId} `), {
        timeout: 20_000,
        interval: 250,
      })
      .toBe(true);
    await app.stop();
    app = undefined;
    vi.restoreAllMocks();

    // It did print and log: the storage it uses, the invocations.
    expect(output).toContain('storage queues at');
    expect(output).toContain(vmResourceId('sec-a').split('/').pop());
    expect(signature.length).toBeGreaterThan(20);
    for (const secret of [
      signature,
      encodeURIComponent(signature),
      sas,
      azuriteAccountKey,
      sasConnectionString,
      keyConnectionString,
    ])
      expect(output.includes(secret), `output contains a secret: ${secret.slice(0, 12)}…`).toBe(false);
  });
});
