/**
 * The sandbox's stops without a management event (guest shutdown, Spot eviction, host crash) and their
 * Resource Health events, in the documented payload shapes, through the app's ingest path to a timeline
 * whose changes say why (what the dashboard tooltip shows).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { ingestEvent } from '../../src/app/ingest-event';
import type { AppContext } from '../../src/composition';
import { describeChange } from '../../src/domain/health';
import {
  sandboxAvailabilityEvent,
  sandboxHealthEvent,
  startSandbox,
  type Sandbox,
} from '../../kit/local/sandbox';
import { dropTables, testContext, testSettings } from '../support/app';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'health-events', name), 'utf8')) as Record<
    string,
    unknown
  >;

/** The key paths of a JSON value (objects only), sorted. */
function shape(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  return Object.entries(value)
    .flatMap(([key, inner]) => shape(inner, `${prefix}.${key}`))
    .sort();
}

describe('sandbox: Resource Health events for the stops that raise no management event', () => {
  let sandbox: Sandbox;
  let ctx: AppContext;
  const events: Record<string, unknown>[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ log: silentLogger });
    ctx = await testContext({
      ...testSettings(sandbox.armEndpoint),
      METRICS_ENDPOINT: sandbox.metricsEndpoint,
    });
    await sandbox.seedHistory(async (batch) => {
      for (const raw of batch) {
        events.push(raw as Record<string, unknown>);
        await ingestEvent(raw, ctx);
      }
      return 200;
    });
  }, 120_000);
  afterAll(async () => {
    await sandbox.stop();
    await dropTables(ctx);
  });

  it('sends health events in the shapes of the documented samples', () => {
    const vm = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm';
    const availability = sandboxAvailabilityEvent(vm, 'Available', 'Unavailable', Date.now());
    expect(shape(availability)).toEqual(
      shape(fixture('docs-health-AvailabilityStatusChanged-eventgrid.json')),
    );
    // The annotation sample is a CloudEvent; the sandbox delivers the Event Grid schema: same `data`.
    const annotated = sandboxHealthEvent(vm, 'VirtualMachinePreempted', Date.now());
    expect(shape(annotated['data'])).toEqual(
      shape(fixture('docs-health-ResourceAnnotated-cloudevents.json')['data']),
    );
    const properties = (annotated['data'] as { resourceInfo: { properties: Record<string, string> } })
      .resourceInfo.properties;
    expect(properties).toMatchObject({ context: 'Platform Initiated', category: 'Unplanned' });
  });

  it('annotates the seeded guest shutdown, eviction and host crash, and the timeline names each cause', async () => {
    const names = events
      .filter((e) => String(e['eventType']).startsWith('Microsoft.ResourceNotifications.HealthResources.'))
      .map((e) => {
        const properties = (e['data'] as { resourceInfo: { properties: Record<string, string> } })
          .resourceInfo.properties;
        return properties['annotationName'] ?? properties['availabilityState'];
      });
    expect(names).toEqual(
      expect.arrayContaining([
        'VirtualMachineStoppedInternally',
        'VirtualMachinePreempted',
        'VirtualMachineHostCrashed',
        'Unavailable',
      ]),
    );
    const fleet = sandbox.emulator.fleet;
    const vmId = (name: string) =>
      fleet.listVms(sandbox.subscriptionId).find((vm) => vm.name === name)?.id ?? '';
    const expected = [
      [
        'dev-01',
        'stopped',
        /^shut down from inside the guest OS at \d\d:\d\d UTC \(Resource Health annotation\)$/,
      ],
      ['spot-01', 'deallocated', /^platform: Spot eviction at \d\d:\d\d UTC \(Resource Health annotation\)$/],
      ['hpc-01', 'stopped', /^platform: host crash at \d\d:\d\d UTC \(Resource Health annotation\)$/],
    ] as const;
    for (const [name, state, wording] of expected) {
      expect(fleet.getVm(vmId(name))?.powerState).toBe(state);
      const last = (await ctx.store.getTimeline(vmId(name)))?.segments.at(-1);
      expect(last?.state).toBe(state);
      expect(last && describeChange(last)).toMatch(wording);
    }
  });
});
