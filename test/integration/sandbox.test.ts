/**
 * The sandbox subscription of `npm start`: a fleet in the management emulator whose operations reach an
 * Event Grid webhook over HTTP as Event Grid would deliver them, except those that raise no event.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { postEvents } from '../../kit/local/event-delivery';
import { startSandbox, type Sandbox } from '../../kit/local/sandbox';
import { createArmClient } from '../../src/adapters/arm';
import { readEventWiring } from '../../src/app/coverage';

interface Delivered {
  id: string;
  eventType: string;
  eventTime: string;
  subject: string;
  data: {
    operationName: string;
    httpRequest: { url: string };
    /** HealthResources events. */
    resourceInfo?: {
      properties: { annotationName?: string; targetResourceId?: string; availabilityState?: string };
    };
  };
}

/** A webhook that records every delivery (answering `status`). */
async function receiver(status = 200): Promise<{ url: string; deliveries: Delivered[][]; server: Server }> {
  const deliveries: Delivered[][] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      expect(req.headers['aeg-event-type']).toBe('Notification');
      deliveries.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Delivered[]);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/runtime/webhooks/eventgrid?functionName=vmEvents`,
    deliveries,
    server,
  };
}

const vmName = (e: Delivered) => e.subject.split('/').pop();

describe('sandbox subscription', () => {
  let sandbox: Sandbox | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await sandbox?.stop();
    server?.close();
  });

  it('delivers days of history out of order and partly twice, without the guest-OS shutdown', async () => {
    const hook = await receiver();
    server = hook.server;
    sandbox = await startSandbox({ log: silentLogger, seed: 3 });
    await sandbox.seedHistory((batch) => postEvents(hook.url, batch));

    const events = hook.deliveries.flat();
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBeLessThan(ids.length); // some delivered twice
    const times = events.map((e) => Date.parse(e.eventTime));
    expect(times).not.toEqual([...times].sort((a, b) => a - b)); // not in time order
    expect(Math.max(...times)).toBeLessThan(Date.now());
    expect(Date.now() - Math.min(...times)).toBeGreaterThan(2 * 86_400_000);
    expect(hook.deliveries.every((batch) => batch.length <= 10)).toBe(true);

    // dev-01 was shut down from inside the guest: Stopped (allocated) in the fleet, no event about it.
    const devOne = events.filter((e) => vmName(e) === 'dev-01').map((e) => e.data.operationName);
    expect(devOne.some((op) => /powerOff/i.test(op))).toBe(false);
    // Resource Health annotates it (the guest shutdown's only trace).
    const annotations = events.filter(
      (e) => e.eventType === 'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated',
    );
    expect(annotations.map((e) => e.data.resourceInfo?.properties.annotationName)).toContain(
      'VirtualMachineStoppedInternally',
    );
    const fleet = sandbox.emulator.fleet;
    const vm = (name: string) => fleet.listVms(sandbox!.subscriptionId).find((v) => v.name === name);
    expect(vm('dev-01')?.powerState).toBe('stopped');
    expect(vm('dev-02')).toMatchObject({ powerState: 'deallocated', hibernated: true });
    expect(events.some((e) => vmName(e) === 'dev-02' && /hibernate=true/.test(e.data.httpRequest.url))).toBe(
      true,
    );
    expect(vm('build-01')?.powerState).toBe('stopped');
    expect(vm('test-01')).toBeUndefined();
    expect(
      events.some(
        (e) => vmName(e) === 'test-01' && e.eventType === 'Microsoft.Resources.ResourceDeleteSuccess',
      ),
    ).toBe(true);
    expect(fleet.listScaleSets(sandbox.subscriptionId)[0]?.name).toBe('vmss-api');
  });

  it('carries the event wiring a deployment creates, which coverage reads as wired', async () => {
    sandbox = await startSandbox({ log: silentLogger, seed: 3 });
    const arm = createArmClient({ endpoint: sandbox.armEndpoint });
    expect(await readEventWiring(arm, sandbox.subscriptionId)).toMatchObject({
      resourceEvents: 'wired',
      healthEvents: 'wired',
    });
  });

  it('keeps changing the fleet and delivers the events of its live operations', async () => {
    const hook = await receiver();
    server = hook.server;
    sandbox = await startSandbox({
      log: silentLogger,
      seed: 5,
      intervalInMs: 20,
      deliveryDelayInMs: { min: 10, max: 50 },
    });
    sandbox.startLive(hook.url);
    await expect.poll(() => hook.deliveries.flat().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
    const stats = sandbox.stats();
    expect(stats.operations).toBeGreaterThanOrEqual(10);
    for (const event of hook.deliveries.flat()) {
      if (event.eventType === 'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated') {
        // A guest shutdown, a Spot eviction or a host crash: no management event, a Resource Health
        // annotation (most of the time).
        const properties = event.data.resourceInfo?.properties;
        expect(properties?.annotationName).toMatch(
          /^VirtualMachine(StoppedInternally|Preempted|HostCrashed)$/,
        );
        expect(properties?.targetResourceId).toMatch(/\/virtualMachines\//i);
        if (properties?.annotationName === 'VirtualMachinePreempted') {
          const evicted = sandbox.emulator.fleet.getVm(properties.targetResourceId ?? '');
          expect(evicted?.priority).toBe('Spot');
        }
        continue;
      }
      if (event.eventType === 'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged') {
        // The platform's changes (eviction, host crash and its reboot) also change the availability.
        expect(event.data.resourceInfo?.properties.availabilityState).toMatch(/^(Available|Unavailable)$/);
        continue;
      }
      expect(event.eventType).toMatch(/^Microsoft\.Resources\.Resource(Action|Write|Delete)Success$/);
      expect(event.data.operationName).toMatch(/^Microsoft\.Compute\/virtualMachine/);
    }
  });
});
