import { describe, expect, it } from 'vitest';
import { anotherRunInProgress, reconcileSubscription } from '../../src/app/reconcile';
import { RunBudget } from '../../src/app/reconcile/budget';
import { vmKey } from '../../src/domain/resource-id';
import {
  FakeClock,
  listed,
  managementError,
  power,
  reconcileFakes,
  row,
  scaleSetId,
  sub,
  vmId,
} from '../support/reconcile-fakes';

const mark = { startedAt: 50_000, unconfirmed: {} };
const westeurope = { vmSize: 'Standard_D2s_v5', location: 'westeurope' };

describe('reconcileSubscription over fakes of its ports', () => {
  it('records a VM gone from a complete listing as deleted, once a read confirms it, with the window from the mark', async () => {
    const { deps, store, runs, management } = reconcileFakes({
      rows: [row('a', 'running', 1_000), row('gone', 'running', 1_000)],
      management: { vmPages: [{ vms: [listed('a', 'running')] }] },
      mark,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ seen: 1, deleted: 1, complete: true, pages: 2 });
    expect(management.calls).toContain(`instanceView ${vmId('gone')}`);
    expect(store.recorded).toEqual([
      expect.objectContaining({
        resourceId: vmId('gone'),
        state: 'deleted',
        windowFrom: 50_000,
        at: 100_000,
      }),
    ]);
    expect(runs.releases[0]).toMatchObject({ complete: true, mark: { startedAt: 100_000, unconfirmed: {} } });
  });

  it('does not delete a VM absent from the listing that a read finds present, and keeps its last-seen time', async () => {
    const { deps, store, runs } = reconcileFakes({
      rows: [row('skipped', 'running', 1_000)],
      management: { vmPages: [{ vms: [] }], instanceViews: { [vmId('skipped')]: power('running') } },
      mark,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ deleted: 0, complete: true });
    expect(store.recorded).toEqual([]);
    expect(runs.releases[0]?.mark?.unconfirmed).toEqual({ [vmKey(vmId('skipped'))]: 50_000 });
  });

  it.each([
    ['a page failing with a 503', managementError('ManagementUnavailableError', 503)],
    [
      'a 403 (the identity lost access)',
      managementError('ManagementRequestError', 403, 'AuthorizationFailed'),
    ],
    ['a vanished subscription', managementError('ManagementRequestError', 404, 'SubscriptionNotFound')],
    ['a throttle beyond the allowed wait', managementError('ThrottledError', 429)],
  ])('deletes nothing and keeps the last mark after %s', async (_case, error) => {
    const { deps, store, runs, management } = reconcileFakes({
      rows: [row('a', 'running', 1_000), row('b', 'running', 1_000)],
      management: { vmPages: [{ vms: [listed('a', 'running')] }, { fails: error }] },
      mark,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ complete: false, deleted: 0, listingError: { name: error.name } });
    expect(store.recorded).toEqual([]);
    expect(management.calls.filter((c) => c.startsWith('instanceView'))).toEqual([]);
    expect(runs.releases[0]).toMatchObject({ complete: false, mark: undefined });
  });

  it('stops listing after a subscription-wide refusal or a throttle, but reads the other scale sets after one failing with a 503', async () => {
    const instances = (error: Error) => ({
      vmPages: [{ vms: [] }],
      scaleSets: { [scaleSetId('one')]: [{ fails: error }], [scaleSetId('two')]: [{ vms: [] }] },
    });
    const listingsOf = async (error: Error) => {
      const { deps, management } = reconcileFakes({ management: instances(error) });
      await reconcileSubscription(sub, deps);
      return management.calls.filter((c) => c.startsWith('instances'));
    };

    expect(await listingsOf(managementError('ManagementRequestError', 403))).toEqual([
      `instances ${scaleSetId('one')}`,
    ]);
    expect(await listingsOf(managementError('ThrottledError', 429))).toEqual([
      `instances ${scaleSetId('one')}`,
    ]);
    expect(await listingsOf(managementError('ManagementUnavailableError', 503))).toEqual([
      `instances ${scaleSetId('one')}`,
      `instances ${scaleSetId('two')}`,
    ]);
  });

  it('reads the instance view of a VM listed without a power state; still none: unknown, unconfirmed, nothing recorded', async () => {
    const { deps, store, runs, management } = reconcileFakes({
      rows: [row('a', 'running', 1_000), row('b', 'running', 1_000)],
      management: {
        vmPages: [{ vms: [listed('a', undefined), listed('b', undefined)] }],
        instanceViews: {
          [vmId('a')]: power('deallocated'),
          [vmId('b')]: [{ code: 'ProvisioningState/updating' }],
        },
      },
      mark,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(management.calls.filter((c) => c.startsWith('instanceView')).sort()).toEqual([
      `instanceView ${vmId('a')}`,
      `instanceView ${vmId('b')}`,
    ]);
    expect(summary).toMatchObject({ seen: 1, changed: 1, unknown: 1, deleted: 0, complete: true });
    expect(store.recorded).toEqual([
      expect.objectContaining({ resourceId: vmId('a'), state: 'deallocated', windowFrom: 50_000 }),
    ]);
    expect(runs.releases[0]?.mark?.unconfirmed).toEqual({ [vmKey(vmId('b'))]: 50_000 });
  });

  it('records a new VM, then stores its details from the full listing the same run', async () => {
    const { deps, store, runs, management } = reconcileFakes({
      management: {
        vmPages: [{ vms: [listed('new', 'running')] }],
        detailPages: [{ vms: [listed('new', undefined, westeurope)] }],
      },
      detailsAt: 99_000,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ new: 1, detailsUpdated: 1 });
    expect(management.calls).toContain('details');
    expect(store.details).toEqual([{ resourceId: vmId('new'), details: westeurope }]);
    expect(runs.releases[0]?.detailsAt).toBe(100_000);
  });

  it('settles a steady fleet from the listing alone: no read, no write, no details listing before it is due', async () => {
    const { deps, store, management } = reconcileFakes({
      rows: [row('a', 'running', 1_000), row('b', 'deallocated', 1_000)],
      management: { vmPages: [{ vms: [listed('a', 'running'), listed('b', 'deallocated')] }] },
      mark,
      detailsAt: 99_000,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ seen: 2, changed: 0, new: 0, requests: 2, complete: true });
    expect(management.calls).toEqual(['vms', 'scaleSets']);
    expect(store.recorded).toEqual([]);
  });

  it('updates the details of a deallocated scale-set instance listed with new ones, recording no change', async () => {
    const instance = { ...listed('vmss_0', 'deallocated', westeurope) };
    const { deps, store } = reconcileFakes({
      rows: [row('vmss_0', 'deallocated', 1_000, { details: { ...westeurope, vmSize: 'Standard_B1s' } })],
      management: { vmPages: [{ vms: [] }], scaleSets: { [scaleSetId('vmss')]: [{ vms: [instance] }] } },
      mark,
      detailsAt: 99_000,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ seen: 1, changed: 0, detailsUpdated: 1 });
    expect(store.recorded).toEqual([]);
    expect(store.details).toEqual([{ resourceId: vmId('vmss_0'), details: westeurope }]);
  });

  it('hands the stops found within a window to the availability metric, one read per region and type', async () => {
    const { deps, metrics } = reconcileFakes({
      rows: [
        row('a', 'running', 1_000, { details: westeurope }),
        row('b', 'running', 1_000, { details: westeurope }),
        row('c', 'running', 1_000, { details: westeurope }),
      ],
      management: {
        vmPages: [{ vms: [listed('a', 'stopped'), listed('b', 'stopped'), listed('c', 'deallocated')] }],
      },
      mark,
      detailsAt: 99_000,
      metrics: true,
    });

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ changed: 3, metricReads: 1, narrowed: 0 });
    expect(metrics?.requests.map((r) => [r.region, [...r.resourceIds].sort()])).toEqual([
      ['westeurope', [vmId('a'), vmId('b')]],
    ]);
  });

  it('skips the subscription while another run holds its lease, listing nothing', async () => {
    const { deps, runs, management } = reconcileFakes({ management: { vmPages: [{ vms: [] }] } });
    runs.heldUntil = Number.MAX_SAFE_INTEGER;

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ skipped: anotherRunInProgress, pages: 0 });
    expect(management.calls).toEqual([]);
  });
});

describe('reconcileSubscription budget and pacing (fake clock)', () => {
  it('waits for the rate limit to refill between pages when HighCostGet runs low', async () => {
    const low = { 'x-ms-ratelimit-remaining-resource': 'Microsoft.Compute/HighCostGet3Min;10' };
    const { deps, clock } = reconcileFakes({
      management: {
        vmPages: [
          { vms: [], remaining: low },
          { vms: [], remaining: low },
        ],
      },
    });

    const summary = await reconcileSubscription(sub, deps, {
      sleep: (ms) => clock.sleep(ms),
      pacingThreshold: 30,
    });

    // (30 − 10) tokens × 200 ms after each page.
    expect(clock.slept).toEqual([4_000, 4_000]);
    expect(summary).toMatchObject({ pacedInMs: 8_000, complete: true });
  });

  it('never waits past half the budget left', async () => {
    const empty = { 'x-ms-ratelimit-remaining-resource': 'Microsoft.Compute/HighCostGet3Min;0' };
    const { deps, clock } = reconcileFakes({ management: { vmPages: [{ vms: [], remaining: empty }] } });

    await reconcileSubscription(sub, deps, {
      sleep: (ms) => clock.sleep(ms),
      pacingThreshold: 30,
      budgetInMs: 8_000,
    });

    expect(clock.slept).toEqual([4_000]);
  });

  it('stops between pages when one more might not fit in the budget: incomplete, nothing deleted, mark kept', async () => {
    const slow = { vms: [], takesInMs: 50_000 };
    const { deps, runs, management, store } = reconcileFakes({
      rows: [row('gone', 'running', 1_000)],
      management: { vmPages: [slow, slow, slow, slow, slow] },
      mark,
    });

    const summary = await reconcileSubscription(sub, deps, { budgetInMs: 240_000 });

    // After 150 s, twice the slowest page (100 s) no longer fits in 240 s.
    expect(summary).toMatchObject({ stoppedEarly: true, complete: false, pages: 3, deleted: 0 });
    expect(management.calls).toEqual(['vms', 'vms', 'vms']);
    expect(store.recorded).toEqual([]);
    expect(runs.releases[0]).toMatchObject({ complete: false, mark: undefined });
  });
});

describe('RunBudget', () => {
  it('keeps the larger of twice the slowest page and 5 % of the budget in hand', () => {
    const clock = new FakeClock(0);
    const budget = new RunBudget(clock.now, { budgetInMs: 100_000, pacingThreshold: 30 });

    clock.t = 94_000;
    expect(budget.nearEnd()).toBe(false);
    clock.t = 95_000;
    expect(budget.nearEnd()).toBe(true);

    budget.pageRead(0, 10_000);
    clock.t = 79_000;
    expect(budget.nearEnd()).toBe(false);
    clock.t = 80_000;
    expect(budget.nearEnd()).toBe(true);
  });
});
