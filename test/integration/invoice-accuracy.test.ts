/**
 * Accuracy against ground truth: a seeded week of a small fleet (business hours, always-on, Stopped
 * (allocated) nights, a VM created mid-week, a scale set), recorded as the app records it, and a FOCUS
 * export produced from the same truth (hours per VM and day, a price per size). check-invoice must agree
 * on every VM-day; then a stretch of one VM's observations is dropped (an outage of both events and
 * reconciles) and exactly those days must come out "timeline short".
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../../src/composition';
import type { PowerState } from '../../src/domain/power-state';
import { focusCsv, focusVmUsage, scaleSetId, vmId } from '../../kit/emulator/cost-exports';
import { seededRandom } from '../../kit/emulator/seeded-random';
import { dropTables, testContext } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { runCli } from '../support/cli';
import { observation } from '../support/histories';

const hourInMs = 3_600_000;
const dayInMs = 24 * hourInMs;
const firstDay = Date.parse('2026-10-05T00:00:00Z');
const days = 7;
const sizePrice: Record<string, number> = { Standard_D2s_v5: 0.096, Standard_E4s_v5: 0.252 };

interface Change {
  at: number;
  state: PowerState;
}
interface TruthVm {
  resourceId: string;
  size: string;
  changes: Change[];
}

const billed = (s: PowerState) => s === 'running' || s === 'stopped' || s === 'starting' || s === 'stopping';

/** Billed hours of a VM on each day, from its changes (state holds until the next change). */
function billedHoursByDay(vm: TruthVm): Map<number, number> {
  const out = new Map<number, number>();
  const end = firstDay + days * dayInMs;
  vm.changes.forEach((c, i) => {
    if (!billed(c.state)) return;
    const until = vm.changes[i + 1]?.at ?? end;
    for (let d = Math.floor(c.at / dayInMs) * dayInMs; d < until; d += dayInMs) {
      const ms = Math.min(until, d + dayInMs) - Math.max(c.at, d);
      if (ms > 0) out.set(d, (out.get(d) ?? 0) + ms / hourInMs);
    }
  });
  return out;
}

function fleet(): TruthVm[] {
  const random = seededRandom(15);
  const minutes = (lo: number, hi: number) => Math.floor(lo + random() * (hi - lo)) * 60_000;
  const vms: TruthVm[] = [];
  for (let n = 0; n < 12; n++) {
    const habit = n % 4;
    const size = n % 3 === 0 ? 'Standard_E4s_v5' : 'Standard_D2s_v5';
    const id = n >= 10 ? `${scaleSetId('vmss-web')}/virtualMachines/${n - 10}` : vmId(`vm-${n}`);
    const changes: Change[] = [];
    if (habit === 0) changes.push({ at: firstDay, state: 'running' });
    else {
      // Created mid-week (habit 3 VMs from day 2), else present from the start, deallocated.
      const created = habit === 3 ? firstDay + 2 * dayInMs + minutes(60, 600) : firstDay;
      changes.push({ at: created, state: 'deallocated' });
      for (let d = 0; d < days; d++) {
        const day = firstDay + d * dayInMs;
        const on = day + 8 * hourInMs + minutes(-45, 45);
        const off = day + 18 * hourInMs + minutes(-90, 90);
        if (on <= created) continue;
        changes.push({ at: on, state: 'running' });
        // Habit 2 powers off instead of deallocating: Stopped (allocated) until the next morning's deallocate.
        if (habit === 2) {
          changes.push({ at: off, state: 'stopped' });
          changes.push({ at: day + dayInMs + 2 * hourInMs, state: 'deallocated' });
        } else changes.push({ at: off, state: 'deallocated' });
      }
    }
    vms.push({ resourceId: id, size, changes: changes.filter((c) => c.at < firstDay + days * dayInMs) });
  }
  return vms;
}

async function record(ctx: AppContext, vms: readonly TruthVm[], skip: (vm: TruthVm, c: Change) => boolean) {
  for (const vm of vms)
    for (const [i, c] of vm.changes.entries())
      if (!skip(vm, c))
        await ctx.store.record(observation(vm.resourceId, new Date(c.at).toISOString(), c.state, `o${i}`));
}

interface Row {
  resourceId: string;
  day: string;
  verdict: string;
  reason: string | null;
  differenceHours: number | null;
}

describe('check-invoice against ground truth', () => {
  const vms = fleet();
  const victim = vms[5]!; // business hours, deallocated at night
  const dropFrom = firstDay + 3 * dayInMs;
  const dropTo = firstDay + 5 * dayInMs;
  let exact: AppContext;
  let dropped: AppContext;
  let dir: string;
  let exportFile: string;
  let truthVmDays = 0;

  beforeAll(async () => {
    [exact, dropped] = await Promise.all([testContext(), testContext()]);
    await Promise.all([
      record(exact, vms, () => false),
      record(dropped, vms, (vm, c) => vm === victim && c.at >= dropFrom && c.at < dropTo),
    ]);
    dir = await mkdtemp(path.join(tmpdir(), 'invoice-accuracy-'));
    exportFile = path.join(dir, 'truth.csv');
    // Hours per billed resource and day: a uniform scale set is billed as one resource (its instances summed).
    const billedResources = new Map<string, { size: string; hours: Map<number, number> }>();
    for (const vm of vms) {
      const id = vm.resourceId.replace(/\/virtualMachines\/\d+$/, '');
      const entry = billedResources.get(id) ?? { size: vm.size, hours: new Map<number, number>() };
      billedResources.set(id, entry);
      for (const [day, hours] of billedHoursByDay(vm))
        entry.hours.set(day, (entry.hours.get(day) ?? 0) + hours);
    }
    const rows: string[] = [];
    for (const [resourceId, { size, hours: byDay }] of billedResources)
      for (const [day, hours] of byDay) {
        const price = sizePrice[size] ?? 0;
        rows.push(
          focusVmUsage({
            resourceId,
            day: new Date(day).toISOString().slice(0, 10),
            hours: Math.round(hours * 1e6) / 1e6,
            effectiveCost: Math.round(hours * price * 1e6) / 1e6,
          }),
        );
      }
    truthVmDays = rows.length;
    await writeFile(exportFile, focusCsv(rows));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([dropTables(exact), dropTables(dropped)]);
    await rm(dir, { recursive: true, force: true });
  });

  const check = async (ctx: AppContext) => {
    const run = await runCli([
      'check-invoice',
      '--export',
      exportFile,
      '--from',
      '2026-10-05',
      '--to',
      '2026-10-12',
      '--json',
      '--storage',
      tableConnectionString(),
      '--table-prefix',
      ctx.config.tablePrefix,
    ]);
    expect(run.stderr).toBe('');
    return JSON.parse(run.stdout) as { rows: Row[]; totals: { vmDays: number; agreeingVmDays: number } };
  };

  it('agrees on every VM-day the truth billed', async () => {
    const report = await check(exact);
    expect(truthVmDays).toBeGreaterThan(50);
    expect(report.totals.vmDays).toBe(truthVmDays);
    expect(report.rows.filter((r) => r.verdict !== 'agrees')).toEqual([]);
    expect(report.totals.agreeingVmDays).toBe(truthVmDays);
  });

  it('shows a dropped stretch as "timeline short" on exactly its days', async () => {
    const report = await check(dropped);
    const disagreeing = report.rows.filter((r) => r.verdict !== 'agrees');
    expect(disagreeing.map((r) => [r.resourceId, r.day, r.verdict])).toEqual([
      [victim.resourceId, '2026-10-08', 'timelineShort'],
      [victim.resourceId, '2026-10-09', 'timelineShort'],
    ]);
    const truth = billedHoursByDay(victim);
    expect(disagreeing[0]?.differenceHours).toBeCloseTo(-(truth.get(dropFrom) ?? 0), 4);
  });
});
