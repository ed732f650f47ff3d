import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsClient } from '../../src/adapters/metrics-batch';
import { reconcileSubscription } from '../../src/app/reconcile';
import type { AppContext } from '../../src/composition';
import { stoppedByOf } from '../../src/domain/alerts';
import { vmKey } from '../../src/domain/resource-id';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { EmulatedFleet } from '../../kit/emulator/arm-fleet';
import { startMetricsEmulator, type MetricsEmulator } from '../../kit/emulator/metrics-emulator';
import { dropTables, testContext, testSettings } from '../support/app';

const minute = 60_000;
const sub = '00000000-0000-0000-0000-0000000000cc';

describe('VM availability metric: the metrics batch emulator, the adapter and the reconciler', () => {
  const t0 = Math.floor(Date.now() / minute) * minute - 180 * minute;
  let clock = t0;
  const fleet = new EmulatedFleet(() => clock);
  let arm: ArmEmulator;
  let metrics: MetricsEmulator;
  let ctx: AppContext;

  beforeAll(async () => {
    arm = await startArmEmulator({ fleet, now: () => clock });
    metrics = await startMetricsEmulator(fleet);
    ctx = await testContext(
      { ...testSettings(arm.url), METRICS_ENDPOINT: metrics.url },
      { now: () => clock },
    );
  });
  afterAll(async () => {
    await dropTables(ctx);
    await arm.close();
    await metrics.close();
  });

  it('serves the documented batch shape, refuses what the API refuses, and the adapter honours Retry-After', async () => {
    const vm = fleet.addVm({
      subscriptionId: sub,
      resourceGroup: 'rg',
      name: 'shape-1',
      location: 'westeurope',
    });
    const other = fleet.addVm({
      subscriptionId: sub,
      resourceGroup: 'rg',
      name: 'shape-2',
      location: 'northeurope',
    });
    clock = t0 + 3 * minute;
    fleet.setPowerState(vm.id, 'stopped', { by: 'guest' });
    clock = t0 + 6 * minute;
    const url = `${metrics.url}/subscriptions/${sub}/metrics:getBatch?metricnamespace=microsoft.compute/virtualmachines&metricnames=VmAvailabilityMetric&aggregation=average&interval=PT1M&starttime=${new Date(t0).toISOString()}&endtime=${new Date(t0 + 5 * minute).toISOString()}&api-version=2023-10-01`;
    const post = (ids: string[]) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resourceids: ids }),
      });
    const ok = await post([vm.id]);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as {
      values: Array<{
        resourceid: string;
        resourceregion: string;
        interval: string;
        value: Array<{
          name: { value: string };
          timeseries: Array<{ data: Array<{ timeStamp: string; average?: number }> }>;
        }>;
      }>;
    };
    expect(body.values[0]).toMatchObject({
      resourceid: vm.id,
      resourceregion: 'westeurope',
      interval: 'PT1M',
    });
    expect(body.values[0]?.value[0]?.name.value).toBe('VmAvailabilityMetric');
    expect(body.values[0]?.value[0]?.timeseries[0]?.data.map((d) => d.average)).toEqual([1, 1, 1, 0, 0]);
    expect((await post([vm.id, other.id])).status).toBe(400);
    expect((await post(Array.from({ length: 51 }, () => vm.id))).status).toBe(400);

    const client = createMetricsClient({ endpoint: metrics.url, retryDelayInMs: 10 });
    metrics.throttleNext(1, 1);
    const started = Date.now();
    const series = await client.getAvailability({
      subscriptionId: sub,
      region: 'westeurope',
      resourceType: 'microsoft.compute/virtualmachines',
      resourceIds: [vm.id],
      from: t0,
      to: t0 + 5 * minute,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(client.stats).toEqual({ requests: 2, throttled: 1 });
    expect(series.get(vmKey(vm.id))?.map((p) => p.average)).toEqual([1, 1, 1, 0, 0]);
    fleet.removeVm(vm.id);
    fleet.removeVm(other.id);
  });

  it('narrows a guest shutdown the reconciler found to its minute, with one metric read for the batch', async () => {
    clock = t0 + 10 * minute;
    const guest = fleet.addVm({
      subscriptionId: sub,
      resourceGroup: 'rg',
      name: 'guest-1',
      location: 'westeurope',
    });
    const portal = fleet.addVm({
      subscriptionId: sub,
      resourceGroup: 'rg',
      name: 'portal-1',
      location: 'westeurope',
    });
    await reconcileSubscription(sub, ctx);
    clock = t0 + 12 * minute + 30_000;
    fleet.setPowerState(guest.id, 'stopped', { by: 'guest' });
    fleet.setPowerState(portal.id, 'stopped', { by: 'controlPlane' });
    clock = t0 + 15 * minute;
    const before = metrics.requests.total;

    const summary = await reconcileSubscription(sub, ctx);

    expect(summary).toMatchObject({ changed: 2, metricReads: 1, narrowed: 1 });
    expect(metrics.requests.total - before).toBe(1);
    const current = await ctx.store.getCurrent(guest.id);
    // Truth 12:30 into the window; recorded: between the start of the last minute of 1 and the first minute of 0.
    expect(current).toMatchObject({
      state: 'stopped',
      since: t0 + 13 * minute,
      sinceWindowFrom: t0 + 11 * minute,
    });
    const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
    expect(
      stoppedByOf({
        resourceId: guest.id,
        episodeSince: t0,
        since: current?.since ?? 0,
        reason: current?.reason,
      }).description,
    ).toBe(
      `shut down from inside the guest OS before ${hhmm(t0 + 13 * minute)} UTC (VM availability metric: 1 → 0)`,
    );
    // The control-plane stop keeps the reconciler's honest window (a gap may be a value not published yet).
    expect(await ctx.store.getCurrent(portal.id)).toMatchObject({
      since: t0 + 15 * minute,
      sinceWindowFrom: t0 + 10 * minute,
    });
  });
});
