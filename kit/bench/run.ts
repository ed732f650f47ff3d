/**
 * Benchmark runner: `node dist/kit/bench/run.js [name...]` (or `npm run bench -- [name...]`) runs the named
 * benchmarks, default all registered, and prints ONE JSON object on stdout:
 * `{ machine: { cpus, node }, benchmarks: { <name>: { figures, targets: [{ name, value, target, holds }] } } }`.
 * Progress goes to stderr. Exit code 0 when every benchmark ran (targets may still fail: see `holds`),
 * 1 when one threw, 2 for an unknown name.
 */
import { availableParallelism, cpus } from 'node:os';
import { runAlertsBenchmark } from './alerts';
import { runBackfillBenchmark } from './backfill';
import { runCostExportBenchmark } from './cost-export';
import type { Benchmark, BenchmarkResult } from './benchmark';
import { runDashboardBenchmark } from './dashboard';
import { runFanoutBenchmark } from './fanout';
import { runIngestBenchmark } from './ingest';
import { runMetricsBenchmark } from './metrics';
import { runReconcileBenchmark } from './reconcile';
import { runUsageBenchmark } from './usage';
import { runWebhookBenchmark } from './webhook';

/** Registered benchmarks, in the order `all` runs them. Add reconcile / usage / alerts here. */
export const benchmarks: Readonly<Record<string, Benchmark>> = {
  ingest: {
    description: 'Event Grid events through ingestEvent into Table Storage (Azurite), vs the raw upsert rate',
    run: runIngestBenchmark,
  },
  reconcile: {
    description:
      'reconcileSubscription over 10,000 VMs with 1% changed (ARM emulator, Azurite), vs per-VM polling; peak memory at 100,000',
    run: runReconcileBenchmark,
  },
  usage: {
    description:
      "a month's usage of 2,000 VMs (BENCH_USAGE_VMS) grouped by tag from the daily rollups (Azurite), vs from raw segments",
    run: runUsageBenchmark,
  },
  webhook: {
    description:
      "one Event Grid delivery to the local host's webhook (5,000 valid events; 50,000 junk; the largest accepted): answer, time, peak RSS",
    run: runWebhookBenchmark,
  },
  fanout: {
    description:
      'a management group of 200 subscriptions x 500 VMs (BENCH_FANOUT_*) swept through the queue fan-out with 1, 4 and 16 worker processes, and with 10 throttled and 5 failing, vs a serial sweep',
    run: runFanoutBenchmark,
  },
  alerts: {
    description:
      'evaluateAlerts over 2,000 VMs with 5% Stopped (allocated) from the episode index (Azurite), vs a full VmCurrent scan',
    run: runAlertsBenchmark,
  },
  metrics: {
    description:
      'metrics:getBatch reads per reconcile run with N guest shutdowns found (1 to 500, two regions), vs the floor ⌈N/50⌉ per region',
    run: runMetricsBenchmark,
  },
  dashboard: {
    description:
      'the dashboard over 10,000 VMs (BENCH_DASHBOARD_VMS) in chromium: first screen, API and Table requests per load and refresh, heap; vs per-VM loading',
    run: runDashboardBenchmark,
  },
  costExport: {
    description:
      'reading a generated 1 GB FOCUS 1.0 export (BENCH_EXPORT_MB) into VM-days, vs the raw fs read and the CSV parser alone; peak memory',
    run: runCostExportBenchmark,
  },
  backfill: {
    description:
      'an 89-day Activity Log backfill of 1,000 VMs (BENCH_BACKFILL_VMS, BENCH_BACKFILL_DAYS; ~200,000 records) from the ARM emulator into Azurite: requests = pages, records/s vs the same observations through the store directly, peak memory',
    run: runBackfillBenchmark,
  },
};

function progress(name: string): (message: string) => void {
  return (message) => process.stderr.write(`[bench ${name}] ${message}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  const names = argv.length === 0 ? Object.keys(benchmarks) : [...new Set(argv)];
  const unknown = names.filter((n) => !Object.hasOwn(benchmarks, n));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benchmarks).join(', ')}\n`,
    );
    return 2;
  }
  const results: Record<string, BenchmarkResult | { error: string }> = {};
  let exitCode = 0;
  for (const name of names) {
    const benchmark = benchmarks[name] as Benchmark;
    const log = progress(name);
    const t = performance.now();
    log(`start: ${benchmark.description}`);
    try {
      results[name] = await benchmark.run({ progress: log });
      const failed = results[name].targets.filter((target) => !target.holds).map((target) => target.name);
      log(
        `done in ${((performance.now() - t) / 1000).toFixed(1)} s${failed.length > 0 ? `; targets not met: ${failed.join(', ')}` : '; all targets met'}`,
      );
    } catch (error) {
      exitCode = 1;
      results[name] = { error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
      log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const machine = {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify({ machine, benchmarks: results }, null, 2)}\n`);
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
