/**
 * The local host (`npm start`) serves the app's own registrations behind the Functions host routes:
 * tested over real HTTP, with the real handlers, against Azurite (tables and the queue) and the
 * management emulator.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import type { Logger } from '../../src/app/ports';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { startLocalHost, type LocalHost } from '../../kit/local/host';
import { StorageLocalQueues } from '../../kit/local/queues';
import { appRegistrations } from '../../kit/local/registrations';
import { testSettings } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { cloudEvent, recentTime, subscriptionId, vmEvent, vmResourceId } from '../support/events';

const functionKey = 'local-test-key';

interface Logged {
  level: keyof Logger;
  message: string;
  properties: Record<string, unknown> | undefined;
}

/** What the host logs, kept for assertions. */
function recordingLogger(): Logger & { lines: Logged[] } {
  const lines: Logged[] = [];
  const at =
    (level: keyof Logger) =>
    (message: string, properties?: Record<string, unknown>): void => {
      lines.push({ level, message, properties });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A raw HTTP/1.1 request with the given Host header (fetch sets its own). */
function rawRequest(
  url: string,
  options: { method?: string; host: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'POST',
        headers: { ...options.headers, host: options.host },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('local host', () => {
  let arm: ArmEmulator;
  let host: LocalHost;
  let ctx: AppContext;
  let queues: StorageLocalQueues;
  const log = recordingLogger();
  const webhook = (name = 'vmEvents') => `${host.url}/runtime/webhooks/eventgrid?functionName=${name}`;
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification', ...headers },
      body: JSON.stringify(body),
    });
  const stateOf = async (name: string) => (await ctx.store.getCurrent(vmResourceId(name)))?.state;

  beforeAll(async () => {
    arm = await startArmEmulator({ pageSize: 2 });
    arm.fleet.addSubscription(subscriptionId);
    const settings = {
      ...testSettings(arm.url),
      SUBSCRIPTION_IDS: subscriptionId,
      // Far away: the tests run the timer through the admin route.
      RECONCILE_SCHEDULE: '0 0 0 1 1 *',
      ROLLUP_SCHEDULE: '0 0 0 1 1 *',
      ALERT_SCHEDULE: '0 0 0 1 1 *',
    };
    ctx = createAppContext(loadConfig(settings), { log: silentLogger });
    await ctx.ensureTables();
    queues = new StorageLocalQueues(tableConnectionString());
    await queues.clear('reconcile-subscriptions');
    await queues.clear('backfill-slices');
    // Part of the app's own registration list: the objects the function modules export.
    // Their handlers get the test's context from the context factory; the schedules come from `settings`.
    const registrations = appRegistrations(
      ['vmEvents', 'reconcile', 'reconcileSubscription', 'backfillSlice', 'vms'],
      () => Promise.resolve(ctx),
    );
    host = await startLocalHost({ registrations, queues, log, port: 0, functionKey, env: settings });
  });

  afterAll(async () => {
    await host?.stop();
    await arm?.close();
    for (const name of Object.values(ctx.tableNames))
      await ctx.tables
        .table(name)
        .deleteTable()
        .catch(() => undefined);
  });

  it('serves the registrations of the function modules, not copies of them', () => {
    const kinds = Object.fromEntries(host.registrations.map((r) => [r.name, r.kind]));
    expect(kinds).toEqual({
      vmEvents: 'eventGrid',
      reconcile: 'timer',
      // The reconcile timer's backfill output names the backfill queue's function module.
      backfillSlice: 'storageQueue',
      reconcileSubscription: 'storageQueue',
      vms: 'http',
    });
  });

  const validation = (topic: string | undefined) => [
    {
      id: 'v1',
      topic,
      subject: '',
      eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
      eventTime: '2026-11-01T08:00:00Z',
      data: { validationCode: 'abc-123' },
      dataVersion: '2',
      metadataVersion: '1',
    },
  ];

  it('answers the Event Grid subscription-validation handshake of the watched subscription', async () => {
    const response = await post(webhook(), validation(`/subscriptions/${subscriptionId}`), {
      'aeg-event-type': 'SubscriptionValidation',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ validationResponse: 'abc-123' });
  });

  it('refuses (403) the handshake of a topic outside the watched subscriptions, echoing no code', async () => {
    for (const topic of ['/subscriptions/99999999-9999-9999-9999-999999999999', undefined]) {
      const response = await post(webhook(), validation(topic), {
        'aeg-event-type': 'SubscriptionValidation',
      });
      expect(response.status).toBe(403);
      expect(await response.text()).not.toContain('abc-123');
    }
  });

  it('refuses (421) the webhook and admin routes for a Host that is not a loopback name', async () => {
    const event = JSON.stringify([vmEvent('lh-rebind', 'start', recentTime('08:00'), 'lh-rebind-1')]);
    const headers = { 'content-type': 'application/json', 'aeg-event-type': 'Notification' };
    const rebound = await rawRequest(webhook(), { host: `evil.example:${host.port}`, headers, body: event });
    expect(rebound.status).toBe(421);
    const admin = await rawRequest(`${host.url}/admin/functions/reconcile`, {
      host: `evil.example:${host.port}`,
      headers: { 'x-functions-key': functionKey, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(admin.status).toBe(421);
    expect(await stateOf('lh-rebind')).toBeUndefined();
    // The names a browser on this machine uses still work.
    expect(
      (await rawRequest(webhook(), { host: `localhost:${host.port}`, headers, body: event })).status,
    ).toBe(200);
    expect(await stateOf('lh-rebind')).toBe('running');
  });

  it('answers 413 for more than 5,000 events in one delivery, without running any', async () => {
    // 10 KB of junk: small enough for the body limit, more events than Event Grid ever delivers at once.
    const invocationsBefore = log.lines.filter((l) => l.message === 'event ingested').length;
    const response = await post(
      webhook(),
      Array.from({ length: 5001 }, () => 0),
    );
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'more than 5000 events in one delivery' });
    expect(log.lines.filter((l) => l.message === 'event ingested').length).toBe(invocationsBefore);
  });

  it('answers 413, not a connection reset, for a body larger than a delivery or a request may be', async () => {
    // Over the host's 10 MiB limit for every route: answered, not reset mid-upload.
    const huge = await fetch(`${host.url}/admin/functions/reconcile`, {
      method: 'POST',
      headers: { 'x-functions-key': functionKey, 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'x'.repeat(11 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    // Over Event Grid's 1 MiB delivery (and the room for one 1 MB event's envelope), well-formed JSON.
    const big = await post(webhook(), [{ id: 'big', data: 'x'.repeat(1200 * 1024) }]);
    expect(big.status).toBe(413);
  });

  it('answers 404 for an unknown function and 400 without the aeg-event-type header', async () => {
    expect((await post(webhook('nope'), [])).status).toBe(404);
    const noHeader = await fetch(webhook(), {
      method: 'POST',
      body: '[]',
      headers: { 'content-type': 'application/json' },
    });
    expect(noHeader.status).toBe(400);
  });

  it('records an Event Grid array and a single event', async () => {
    const batch = [
      vmEvent('lh-a', 'start', recentTime('08:00'), 'lh-a-1'),
      vmEvent('lh-b', 'powerOff', recentTime('08:05'), 'lh-b-1'),
    ];
    expect((await post(webhook(), batch)).status).toBe(200);
    expect((await post(webhook(), vmEvent('lh-c', 'deallocate', recentTime('08:10'), 'lh-c-1'))).status).toBe(
      200,
    );
    expect([await stateOf('lh-a'), await stateOf('lh-b'), await stateOf('lh-c')]).toEqual([
      'running',
      'stopped',
      'deallocated',
    ]);
  });

  it('accepts a CloudEvents batch (application/cloudevents-batch+json)', async () => {
    const events = [
      vmEvent('lh-ce1', 'start', recentTime('09:00'), 'lh-ce1-1', 'cloudEvents'),
      vmEvent('lh-ce2', 'deallocate', recentTime('09:01'), 'lh-ce2-1', 'cloudEvents'),
    ];
    const response = await fetch(webhook(), {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
      body: JSON.stringify(events),
    });
    expect(response.status).toBe(200);
    expect([await stateOf('lh-ce1'), await stateOf('lh-ce2')]).toEqual(['running', 'deallocated']);
  });

  it('answers 500 when one event of a batch fails, after running the others, and 200 on redelivery', async () => {
    const id = vmResourceId('lh-write');
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg-app', name: 'lh-write', powerState: 'running' });
    // The write event needs an instance-view read; the management API fails it (and its retries).
    arm.faults.failNext(8, { status: 500, kinds: ['vmInstanceView'] });
    const batch = [
      vmEvent('lh-ok', 'start', recentTime('10:00'), 'lh-ok-1'),
      cloudEvent({
        id: 'lh-write-1',
        resourceUri: id,
        operationName: 'Microsoft.Compute/virtualMachines/write',
        type: 'ResourceWriteSuccess',
        time: recentTime('10:00'),
      }),
    ];
    const first = await post(webhook(), batch);
    expect(first.status).toBe(500);
    expect(await stateOf('lh-ok')).toBe('running');
    expect(await stateOf('lh-write')).toBeUndefined();
    // The failed invocation is logged with its event id and reason.
    const failure = log.lines.find(
      (l) => l.message === 'event grid invocation failed' && l.properties?.['eventId'] === 'lh-write-1',
    );
    expect(failure?.level).toBe('warn');
    expect(failure?.properties?.['error']).toEqual(expect.stringMatching(/\S/));

    arm.faults.reset();
    expect((await post(webhook(), batch)).status).toBe(200);
    expect(await stateOf('lh-write')).toBe('running');
  });

  it('runs the queue trigger on the messages the timer writes to its queue output', async () => {
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg-app', name: 'lh-guest', powerState: 'running' });
    // Shut down from inside the guest: no event, only the reconciler sees it.
    arm.fleet.setPowerState(vmResourceId('lh-guest'), 'stopped');
    const run = await fetch(`${host.url}/admin/functions/reconcile`, {
      method: 'POST',
      headers: { 'x-functions-key': functionKey, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(run.status).toBe(202);
    await expect.poll(() => stateOf('lh-guest'), { timeout: 20_000, interval: 250 }).toBe('stopped');
  });

  it('serves HTTP functions on their routes behind the function key', async () => {
    expect((await fetch(`${host.url}/api/vms`)).status).toBe(401);
    const response = await fetch(`${host.url}/api/vms?code=${functionKey}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { vms: { name: string; state: string }[] };
    expect(body.vms).toContainEqual(expect.objectContaining({ name: 'lh-guest', state: 'stopped' }));
    expect(
      (await fetch(`${host.url}/api/vms`, { method: 'DELETE', headers: { 'x-functions-key': functionKey } }))
        .status,
    ).toBe(405);
    expect((await fetch(`${host.url}/api/nothing-here?code=${functionKey}`)).status).toBe(404);
  });

  it('serves the dashboard page at /', async () => {
    const response = await fetch(`${host.url}/`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('<title>VM billing timeline</title>');
    expect(html).not.toContain('src="dashboard.js"');
  });
});
