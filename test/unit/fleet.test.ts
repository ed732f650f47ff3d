import { describe, expect, it } from 'vitest';
import { estimateUsage } from '../../src/app/fleet';
import type { CurrentState } from '../../src/app/ports';
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
