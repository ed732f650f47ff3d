/**
 * What `npm start` prints: a short banner ending with the dashboard URL, then one readable line per
 * function execution (warnings too); JSON lines with LOG_FORMAT=json. The real local app and handlers,
 * against Azurite and the management emulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalConsole } from '../../kit/local/console';
import { startLocalHost, type LocalHost } from '../../kit/local/host';
import { startLocalApp, type LocalApp } from '../../kit/local/local-app';
import { MemoryLocalQueues } from '../../kit/local/queues';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testSettings } from '../support/app';
import { subscriptionId, vmEvent } from '../support/events';

const functionKey = 'console-test-key';
// An hour ago, on the second: recent enough for the Event Grid path, past the 15-minute alert grace.
const anHourAgo = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toISOString();

describe('npm start console', () => {
  let arm: ArmEmulator;
  let app: LocalApp;
  const said: string[] = [];
  const logged: string[] = [];
  const post = (host: { url: string }, body: unknown) =>
    fetch(`${host.url}/runtime/webhooks/eventgrid?functionName=vmEvents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    arm = await startArmEmulator();
    arm.fleet.addSubscription(subscriptionId);
    // The local app's settings, as the Functions host reads them from local.settings.json.
    const env = {
      ...process.env,
      ...testSettings(arm.url),
      SUBSCRIPTION_IDS: subscriptionId,
      ALERT_SCHEDULE: '0 0 0 1 1 *',
    };
    app = await startLocalApp({
      env,
      port: 0,
      sandbox: false,
      functionKey,
      // No queue trigger here: other test files use the reconcile queue of the same Azurite.
      functions: ['vmEvents', 'stoppedAllocatedAlerts', 'vms'],
      console: createLocalConsole({ env: {}, write: (line) => logged.push(line) }),
      say: (line) => said.push(line),
    });
  });

  afterAll(async () => {
    await app?.stop();
    await arm?.close();
  });

  it('prints a short banner of what runs where, the dashboard URL last', () => {
    expect(said[0]).toBe('Storage: TIMELINE_STORAGE as configured.');
    expect(said).toContain(`Functions host on ${app.host.url}:`);
    expect(said).toContainEqual(expect.stringMatching(/^ {2}vmEvents: Event Grid trigger {2}POST http:/));
    expect(said).toContain(`Function key: ${functionKey}  (header x-functions-key, or ?code=)`);
    const lastLine = said.filter((line) => line !== '').at(-1);
    expect(lastLine).toBe(`Dashboard: ${app.host.url}/?code=${functionKey}`);
    expect(said.length).toBeLessThan(16);
    // Nothing ran yet, and starting logged nothing at info.
    expect(logged).toEqual([]);
  });

  it('prints one readable line per vmEvents execution: recorded, duplicate, rejected, with the VM name', async () => {
    logged.length = 0;
    const event = vmEvent('con-01', 'powerOff', anHourAgo, 'con-01-1');
    expect((await post(app.host, event)).status).toBe(200);
    expect((await post(app.host, event)).status).toBe(200);
    expect((await post(app.host, { ...vmEvent('con-02', 'start', 'yesterday', 'con-02-1') })).status).toBe(
      200,
    );

    const time = String.raw`\d\d:\d\d:\d\d`;
    expect(logged[0]).toMatch(new RegExp(`^${time} vmEvents: recorded con-01 → stopped \\(\\d+ ms\\)$`));
    expect(logged[1]).toMatch(new RegExp(`^${time} vmEvents: duplicate con-01 \\(\\d+ ms\\)$`));
    // The rejection is a warning (shown as it comes), then its execution line.
    expect(logged[2]).toMatch(
      new RegExp(`^${time} WARNING: vmEvents: event rejected {2}eventId=con-02-1 vm=con-02 reason=`),
    );
    expect(logged[3]).toMatch(new RegExp(`^${time} vmEvents: rejected con-02: .+ \\(\\d+ ms\\)$`));
    expect(logged).toHaveLength(4);
  });

  it('prints the alert and one line per timer execution, and none for the dashboard polling its API', async () => {
    logged.length = 0;
    const run = await fetch(`${app.host.url}/admin/functions/stoppedAllocatedAlerts`, {
      method: 'POST',
      headers: { 'x-functions-key': functionKey },
    });
    expect(run.status).toBe(202);
    expect((await fetch(`${app.host.url}/api/vms?code=${functionKey}`)).status).toBe(200);
    // con-01 has been stopped (allocated) since its powerOff an hour ago: past the grace period.
    expect(logged, logged.join('\n')).toHaveLength(2);
    expect(logged[0]).toMatch(
      /^\d\d:\d\d:\d\d WARNING: stoppedAllocatedAlerts: stopped allocated detected {2}eventId=\S+ vm=con-01 /,
    );
    expect(logged[0]).toContain(
      `since=${anHourAgo} operation=Microsoft.Compute/virtualMachines/powerOff/action caller=alice@contoso.com`,
    );
    expect(logged[1]).toMatch(
      /^\d\d:\d\d:\d\d stoppedAllocatedAlerts: 1 stopped \(1 past grace, 0 exempt, 0 within grace\); Detected 1, Resolved 0, published 1 \(\d+ ms\)$/,
    );
  });

  it('writes every log line as JSON with LOG_FORMAT=json', async () => {
    const lines: string[] = [];
    const json = createLocalConsole({ env: { LOG_FORMAT: 'json' }, write: (line) => lines.push(line) });
    let host: LocalHost | undefined;
    try {
      host = await startLocalHost({
        registrations: app.host.registrations,
        queues: new MemoryLocalQueues(),
        log: json.log,
        executions: json,
        port: 0,
        timers: false,
      });
      expect((await post(host, vmEvent('con-03', 'start', anHourAgo, 'con-03-1'))).status).toBe(200);
    } finally {
      await host?.stop();
    }
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((p) => p['message'])).toEqual(['observation recorded', 'event ingested']);
    expect(parsed[1]).toMatchObject({
      level: 'info',
      functionName: 'vmEvents',
      outcome: 'recorded',
      vmId: expect.stringMatching(/\/virtualMachines\/con-03$/) as string,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
    });
  });
});
