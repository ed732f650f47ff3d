/**
 * Benchmark `metrics`: metric reads per reconcile run with N guest shutdowns found within a window
 * (ARM emulator, metrics batch emulator, Azurite). The floor the design can reach is ⌈N/50⌉ reads per
 * subscription, region and type (`metrics:getBatch` takes at most 50 resources of one of each); the fleet
 * here spans two regions, so the floor is the sum over both.
 */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/adapters/logger';
import { reconcileSubscription } from '../../src/app/reconcile';
import { createAppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { startArmEmulator } from '../emulator/arm-emulator';
import { EmulatedFleet, PowerChangeBy } from '../emulator/arm-fleet';
import { startMetricsEmulator } from '../emulator/metrics-emulator';
import { benchStorage, type BenchmarkContext, type BenchmarkResult, type Target } from './benchmark';

const minute = 60_000;
const regions = ['westeurope', 'northeurope'] as const;

export async function runMetricsBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  const tables = await benchStorage();
  const rows: Array<Record<string, number>> = [];
  const targets: Target[] = [];
  try {
    for (const stops of [1, 50, 51, 120, 500]) {
      const t0 = Math.floor(Date.now() / minute) * minute - 60 * minute;
      let clock = t0;
      const fleet = new EmulatedFleet(() => clock);
      const arm = await startArmEmulator({ pageSize: 1000, now: () => clock, fleet });
      const metrics = await startMetricsEmulator(fleet);
      try {
        const subscriptionId = '00000000-0000-4000-8000-00000000bee5';
        const vms = Array.from({ length: stops + 20 }, (_, i) =>
          fleet.addVm({
            subscriptionId,
            resourceGroup: 'rg-bench',
            name: `vm-${i}`,
            location: regions[i % regions.length],
          }),
        );
        const ctx = createAppContext(
          loadConfig({
            TIMELINE_STORAGE: tables.connectionString,
            TABLE_NAME_PREFIX: `bm${randomBytes(4).toString('hex')}`,
            ARM_ENDPOINT: arm.url,
            METRICS_ENDPOINT: metrics.url,
          }),
          { log: silentLogger, now: () => clock },
        );
        await ctx.ensureTables();
        await reconcileSubscription(subscriptionId, ctx, { sleep: () => Promise.resolve() });
        clock = t0 + 2 * minute + 30_000;
        for (const vm of vms.slice(0, stops))
          fleet.setPowerState(vm.id, 'stopped', { by: PowerChangeBy.guest });
        clock = t0 + 5 * minute;
        const before = metrics.requests.total;
        const summary = await reconcileSubscription(subscriptionId, ctx, { sleep: () => Promise.resolve() });
        const reads = metrics.requests.total - before;
        const floor = regions
          .map((_, r) => vms.slice(0, stops).filter((__, i) => i % regions.length === r).length)
          .reduce((sum, n) => sum + Math.ceil(n / 50), 0);
        rows.push({ stops, changed: summary.changed, narrowed: summary.narrowed ?? 0, reads, floor });
        targets.push({
          name: `metric reads with ${stops} stops / floor`,
          value: reads / floor,
          target: '<= 1',
          holds: reads <= floor,
        });
        progress(`${stops} stops: ${reads} reads (floor ${floor}), ${summary.narrowed ?? 0} narrowed`);
        for (const table of Object.values(ctx.tableNames))
          await ctx.tables
            .table(table)
            .deleteTable()
            .catch(() => undefined);
      } finally {
        await arm.close();
        await metrics.close();
      }
    }
    return { figures: { runs: rows }, targets };
  } finally {
    await tables.stop();
  }
}
