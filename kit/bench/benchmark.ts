import { readFileSync } from 'node:fs';
import { startAzurite, type StartedAzurite } from '../local/azurite';
/** What a benchmark is and returns: the shape `kit/bench/run.ts` prints. */

export interface Target {
  name: string;
  value: number;
  /** The bound, with its comparison: `>= 0.4`, `<= 3`, `= 0`. */
  target: string;
  holds: boolean;
}

export interface BenchmarkResult {
  figures: Record<string, unknown>;
  targets: Target[];
}

export interface BenchmarkContext {
  /** Progress lines (stderr); stdout carries only the final JSON. */
  progress: (message: string) => void;
}

export interface Benchmark {
  description: string;
  run(context: BenchmarkContext): Promise<BenchmarkResult>;
}

/** Rounds to 3 significant digits (integers below 1,000 and exact counts stay as they are). */
export function sig3(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(3));
}

export function atLeast(name: string, value: number, bound: number): Target {
  return { name, value: sig3(value), target: `>= ${bound}`, holds: value >= bound };
}

export function atMost(name: string, value: number, bound: number): Target {
  return { name, value: sig3(value), target: `<= ${bound}`, holds: value <= bound };
}

export function exactly(name: string, value: number, bound: number): Target {
  return { name, value: sig3(value), target: `= ${bound}`, holds: value === bound };
}

/** Runs `work` over `items` with at most `concurrency` in flight, in order of the items. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** A positive integer from the environment (`BENCH_*`), else the default; a bad value is an error. */
export function intSetting(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

/** Where a benchmark's tables live: a given connection string, or an in-memory Azurite started for it. */
export interface BenchStorage {
  connectionString: string;
  /** The Azurite started for this run; undefined when the storage was given. */
  azurite: StartedAzurite | undefined;
  /** For the JSON report. */
  description: string;
  /** Stops the Azurite this run started (nothing for given storage). */
  stop(): Promise<void>;
}

/** The installed Azurite's version (its package.json). */
function azuriteVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(require.resolve('azurite/package.json'), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The storage named by `variable` (default `BENCH_STORAGE`) when set, else a fresh in-memory Azurite. */
export async function benchStorage(
  variable = 'BENCH_STORAGE',
  given = process.env[variable],
): Promise<BenchStorage> {
  const connectionString = given?.trim() ?? '';
  if (connectionString !== '') {
    return { connectionString, azurite: undefined, description: variable, stop: () => Promise.resolve() };
  }
  const azurite = await startAzurite({ inMemory: true });
  return {
    connectionString: azurite.connectionString,
    azurite,
    description: `Azurite ${azuriteVersion()} (in memory, started by the benchmark)`,
    stop: () => azurite.stop(),
  };
}
