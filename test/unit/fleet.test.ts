import { describe, expect, it } from 'vitest';
import {
  estimateUsage,
  fleetPage,
  FleetSort,
  type FleetCurrentRow,
  type FleetDependencies,
} from '../../src/app/fleet';
import type { DayUsage } from '../../src/app/rollup-usage';
import type { CurrentState } from '../../src/app/ports';
import { currentKeys, vmKey } from '../../src/domain/resource-id';
import { zeroUsage, type UsageSeconds } from '../../src/domain/usage';

const day = 86_400_000;
const d0 = Date.parse('2026-08-01T00:00:00Z');
const h = 3_600_000;

function current(state: CurrentState['state'], since: number): CurrentState {
  return {
    resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm',
    subscriptionId: 's',
    state,
    since,
    last: { at: since, source: 'event', dedupeId: 'x' },
  };
}

const allBilled: UsageSeconds = {
  ...zeroUsage,
  billedSeconds: 86_400,
  billedSecondsMin: 86_400,
  billedSecondsMax: 86_400,
};

describe('estimateUsage (the fleet listing figures)', () => {
  it('takes whole days from the rollup rows and the open segment from the current row', () => {
    // Running (billed) on day 0 per its row, deallocated since day 1 00:00.
    const rows = new Map([[d0, allBilled]]);
    const u = estimateUsage(
      current('deallocated', d0 + day),
      rows,
      d0,
      d0 + 2 * day,
      d0 + 3 * day,
      d0 + 2 * day,
    );
    expect(u).toMatchObject({ billedSeconds: 86_400, notBilledSeconds: 86_400, unknownSeconds: 0 });
    expect(u.billedSecondsMax).toBe(86_400);
  });

  it('prorates a partial edge day within bounds', () => {
    // Range starts at day 0 18:00; the VM was billed 12 h of day 0 (which 12 is not known).
    const half: UsageSeconds = {
      ...zeroUsage,
      billedSeconds: 43_200,
      notBilledSeconds: 43_200,
      billedSecondsMin: 43_200,
      billedSecondsMax: 43_200,
    };
    const u = estimateUsage(
      current('running', d0 + day),
      new Map([[d0, half]]),
      d0 + 18 * h,
      d0 + day,
      d0 + 2 * day,
      d0 + day,
    );
    expect(u.billedSeconds).toBeCloseTo(3 * 3600, 6);
    expect(u.notBilledSeconds).toBeCloseTo(3 * 3600, 6);
    expect(u.billedSecondsMin).toBe(0);
    expect(u.billedSecondsMax).toBe(6 * 3600);
  });

  it('counts a rolled-up day without a row as unknown, never billed', () => {
    const u = estimateUsage(
      current('running', d0 + day),
      new Map(),
      d0,
      d0 + 2 * day,
      d0 + 3 * day,
      d0 + 2 * day,
    );
    expect(u).toMatchObject({ unknownSeconds: 86_400, billedSeconds: 86_400, billedSecondsMax: 86_400 });
  });

  it('estimates today before the last change as the day before went, billed bounds 0 to all of it', () => {
    const asOf = d0 + day + 12 * h;
    const u = estimateUsage(
      current('deallocated', d0 + day + 6 * h),
      new Map([[d0, allBilled]]),
      d0,
      asOf,
      asOf,
      d0 + day,
    );
    // Day 0 from its row; today: 00:00-06:00 as day 0 went (billed), 06:00-12:00 deallocated.
    expect(u.billedSeconds).toBeCloseTo(86_400 + 6 * 3600, 6);
    expect(u.notBilledSeconds).toBeCloseTo(6 * 3600, 6);
    expect(u.billedSecondsMin).toBe(86_400);
    expect(u.billedSecondsMax).toBe(86_400 + 6 * 3600);
  });
});

describe('fleetPage over a fleet streamed page by page', () => {
  const asOf = d0 + 3 * day + 6 * h;
  const vmCount = 1_234;
  const id = (i: number) =>
    `/subscriptions/s-${i % 3}/resourceGroups/rg-${i % 5}/providers/Microsoft.Compute/virtualMachines/vm-${i}`;
  const states = ['running', 'deallocated', 'stopped'] as const;
  const currentOf = (i: number): CurrentState => ({
    resourceId: id(i),
    subscriptionId: `s-${i % 3}`,
    state: states[i % 3],
    since: d0 + 2 * day + ((i * 7919) % 86_400) * 1000,
    last: { at: d0, source: 'event', dedupeId: `e${i}` },
    details: { tags: { team: `t-${i % 4}` } },
  });
  // As the stores list them: current rows by (subscription, rest of the key), a day's rows by VM key.
  const byKeys = (order: (i: number) => string) =>
    Array.from({ length: vmCount }, (_, i) => i).sort((a, b) =>
      order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0,
    );
  const currentOrder = byKeys((i) => {
    const keys = currentKeys(vmKey(id(i)));
    return `${keys.partitionKey}\u0000${keys.rowKey}`;
  });
  const dayOrder = byKeys((i) => vmKey(id(i)));
  let pagesListed = 0;
  const deps: FleetDependencies = {
    source: {
      async *listFleet() {
        for (let p = 0; p * 100 < vmCount; p++) {
          await Promise.resolve();
          pagesListed += 1;
          const rows: FleetCurrentRow[] = [];
          for (const i of currentOrder.slice(p * 100, p * 100 + 100))
            rows.push({ current: currentOf(i), changedAt: '2026-08-01T00:00:00.0000000Z' });
          yield rows;
        }
      },
      changedSince: () => Promise.resolve(false),
      getTimeline: () => Promise.resolve(undefined),
    },
    daily: {
      async *listDayUsage(dayText: string) {
        await Promise.resolve();
        const rows: DayUsage[] = [];
        for (const i of dayOrder) {
          const billed = (i * 104_729 + dayText.length) % 86_401;
          rows.push({
            vmKey: vmKey(id(i)),
            billedSeconds: billed,
            notBilledSeconds: 86_400 - billed,
            unknownSeconds: 0,
            billedSecondsMin: billed,
            billedSecondsMax: billed,
          });
        }
        yield rows;
      },
      getRolledThrough: () => Promise.resolve(d0 + 3 * day),
    },
    digests: { openDigest: () => Promise.resolve(undefined) },
    alerts: {
      async *listEpisodes() {
        await Promise.resolve();
        yield [];
      },
    },
    store: { getCurrent: () => Promise.resolve(undefined) },
    alertRules: { graceInMinutes: 60, expectedStoppedPatterns: [] },
  };
  const query = { from: d0, to: d0 + 3 * day, asOf, segments: false };

  it.each(Object.values(FleetSort))(
    'pages sorted by %s, each VM once, in the order of the whole selection sorted at once',
    async (sort) => {
      const whole = await fleetPage(deps, { ...query, sort, pageSize: vmCount });
      expect(whole.vms?.length).toBe(vmCount);
      expect(whole.continuation).toBeNull();
      const paged: string[] = [];
      let continuation: string | undefined;
      pagesListed = 0;
      let requests = 0;
      do {
        const page = await fleetPage(deps, { ...query, sort, pageSize: 97, continuation });
        requests += 1;
        paged.push(...(page.vms ?? []).map((vm) => vm.key));
        expect(page.total.vms).toBe(vmCount);
        continuation = page.continuation ?? undefined;
      } while (continuation !== undefined);
      expect(requests).toBe(Math.ceil(vmCount / 97));
      expect(pagesListed).toBe(requests * Math.ceil(vmCount / 100));
      expect(paged).toEqual(whole.vms?.map((vm) => vm.key));
    },
  );

  it('puts Stopped (allocated) first, then the most billed, and totals every VM of the selection', async () => {
    const page = await fleetPage(deps, { ...query, pageSize: 200, tag: 'team', tagValue: 't-1' });
    const vms = page.vms ?? [];
    expect(page.total.vms).toBe(Math.ceil((vmCount - 1) / 4));
    const firstRunning = vms.findIndex((vm) => vm.state !== 'stopped');
    expect(firstRunning).toBeGreaterThan(0);
    expect(vms.slice(firstRunning).every((vm) => vm.state !== 'stopped')).toBe(true);
    for (let i = 1; i < firstRunning; i++)
      expect(vms[i - 1]?.usage.stoppedSeconds ?? 0).toBeGreaterThanOrEqual(vms[i]?.usage.stoppedSeconds ?? 0);
    for (let i = firstRunning + 1; i < vms.length; i++)
      expect(vms[i - 1]?.usage.billedSeconds ?? 0).toBeGreaterThanOrEqual(vms[i]?.usage.billedSeconds ?? 0);
    expect(page.facets?.states).toEqual({ running: 412, deallocated: 411, stopped: 411 });
  });
});
