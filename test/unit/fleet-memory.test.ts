/**
 * `GET /api/fleet` over a month of a 100,000-VM fleet holds a few reads of each day, not the days: the
 * current rows and each day's figures are made up as the use case reads them (our own ports, nothing
 * kept here), half of the days from digests and half from day partitions; the heap is sampled while the
 * listing goes on, with the day figures of every VM read by then.
 */
import { describe, expect, it } from 'vitest';
import { fleetPage, type FleetCurrentRow, type FleetDependencies } from '../../src/app/fleet';
import type { CurrentState } from '../../src/app/ports';
import type { DayUsage } from '../../src/app/rollup-usage';
import { currentKeys, vmKey } from '../../src/domain/resource-id';
import { heapInMB } from '../support/generated-fleet';

const dayInMs = 86_400_000;
const d0 = Date.parse('2026-10-01T00:00:00Z');
const days = 30;
const vmCount = 100_000;
/** A digest column's entries (~32,000 characters of front-coded keys) and a partition page's rows. */
const columnEntries = 800;
const partitionPage = 1_000;
const subscription = '00000000-0000-0000-0000-00000000000a';
/** VM keys in `VmCurrent` order and VM key order alike (one subscription, zero-padded numbers). */
const idOf = (i: number) =>
  `/subscriptions/${subscription}/resourceGroups/rg-fleet-memory/providers/Microsoft.Compute/virtualMachines/vm-${String(i).padStart(6, '0')}`;
/** What VM `i` billed on day `d` (whole seconds, all of them known). */
const billedOf = (i: number, d: number) => ((i * 7_919 + d * 104_729) % 86_401) | 0;

describe('fleetPage memory over 100,000 VMs x 30 days', () => {
  it('holds a few reads of each day at once, not the range', { timeout: 300_000 }, async () => {
    let heapBeforeInMB = 0;
    const samplesInMB: number[] = [];
    let dayEntriesMade = 0;
    const sample = () => samplesInMB.push(heapInMB());
    /** A day's entries as the stores give them: fresh strings each (as decoded or parsed), in key order. */
    async function* dayEntries(d: number, size: number): AsyncIterable<DayUsage[]> {
      for (let start = 0; start < vmCount + 50; start += size) {
        await Promise.resolve();
        const entries: DayUsage[] = [];
        // Every 10th VM has no row that day; the ones after the fleet's last VM have no current row.
        for (let i = start; i < Math.min(vmCount + 50, start + size); i++) {
          if (i % 10 === 3) continue;
          const billed = billedOf(i, d);
          entries.push({
            vmKey: vmKey(idOf(i)),
            billedSeconds: billed,
            notBilledSeconds: 86_400 - billed,
            unknownSeconds: 0,
            billedSecondsMin: billed,
            billedSecondsMax: billed,
          });
        }
        dayEntriesMade += entries.length;
        yield entries;
      }
    }
    const dayIndex = (day: string) => Math.round((Date.parse(`${day}T00:00:00Z`) - d0) / dayInMs);
    const deps: FleetDependencies = {
      source: {
        async *listFleet() {
          heapBeforeInMB = heapInMB();
          for (let p = 0; p * 1000 < vmCount; p++) {
            if (p % 10 === 5) sample();
            await Promise.resolve();
            const rows: FleetCurrentRow[] = [];
            for (let i = p * 1000; i < (p + 1) * 1000; i++) {
              const resourceId = idOf(i);
              const current: CurrentState = {
                resourceId,
                subscriptionId: currentKeys(vmKey(resourceId)).partitionKey,
                state: 'deallocated',
                billing: 'notBilled',
                since: d0 + days * dayInMs,
                last: { at: d0 + days * dayInMs, source: 'event', dedupeId: `e${i}` },
                details: { tags: { team: `t-${i % 4}` } },
              };
              rows.push({ current, changedAt: '2026-10-31T00:00:00.0000000Z' });
            }
            yield rows;
          }
          sample();
        },
        changedSince: () => Promise.resolve(false),
        getTimeline: () => Promise.resolve(undefined),
      },
      daily: {
        listDayUsage: (day) => dayEntries(dayIndex(day), partitionPage),
        getRolledThrough: () => Promise.resolve(d0 + days * dayInMs),
      },
      // Even days from their digests, odd days from their partitions.
      digests: {
        openDigest: (day) =>
          Promise.resolve(dayIndex(day) % 2 === 0 ? dayEntries(dayIndex(day), columnEntries) : undefined),
      },
      alerts: {
        async *listEpisodes() {
          await Promise.resolve();
          yield [];
        },
      },
      store: { getCurrent: () => Promise.resolve(undefined) },
      alertRules: { graceInMinutes: 60, expectedStoppedPatterns: [] },
    };

    const page = await fleetPage(deps, {
      from: d0,
      to: d0 + days * dayInMs,
      asOf: d0 + days * dayInMs + 3_600_000,
      sort: 'billed',
      pageSize: 3,
      segments: false,
    });

    // Every entry of every day was read (the fleet's and the 50 after it), the answer from all of them.
    expect(dayEntriesMade).toBe(days * Math.ceil((vmCount + 50) * 0.9));
    expect(page.total.vms).toBe(vmCount);
    let billed = 0;
    let unknown = 0;
    for (let i = 0; i < vmCount; i++)
      for (let d = 0; d < days; d++)
        if (i % 10 === 3) unknown += 86_400;
        else billed += billedOf(i, d);
    expect(page.total.billedSeconds).toBe(billed);
    expect(page.total.unknownSeconds).toBe(unknown);
    const top = (i: number) => Array.from({ length: days }, (_, d) => billedOf(i, d)).reduce((a, b) => a + b);
    const best = Array.from({ length: vmCount }, (_, i) => i)
      .filter((i) => i % 10 !== 3)
      .sort((a, b) => top(b) - top(a) || a - b)
      .slice(0, 3);
    expect(page.vms?.map((vm) => vm.name)).toEqual(best.map((i) => `vm-${String(i).padStart(6, '0')}`));

    // 2.7 million day entries of ~140-character keys held at once would be over 600 MB; in step with the
    // current rows, each day holds a few reads (a digest column, a partition page: ~1,000 entries each),
    // as many at the 100,000th VM as at the 5,000th.
    const growthInMB = samplesInMB.map((h) => h - heapBeforeInMB);
    const peakInMB = Math.max(...growthInMB);
    console.log(
      `fleet memory: heap ${heapBeforeInMB.toFixed(1)} MB before, +${growthInMB.map((g) => g.toFixed(1)).join(', +')} MB while listing`,
    );
    expect(samplesInMB).toHaveLength(11);
    expect(peakInMB).toBeLessThan(64);
    expect(Math.max(...growthInMB.slice(5)) - Math.max(...growthInMB.slice(0, 5))).toBeLessThan(8);
  });
});
