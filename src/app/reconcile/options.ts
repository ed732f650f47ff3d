/** What a reconcile run is given: its ports and its options (with their defaults). */
import type {
  AvailabilityMetricsClient,
  Clock,
  Logger,
  ManagementClient,
  ReconcileRunStore,
  TimelineStore,
} from '../ports';

export interface ReconcileDependencies {
  store: TimelineStore;
  management: ManagementClient;
  /**
   * The VM availability metric: when present, stops found only within a window are narrowed with one
   * batched read per 50 VMs of one region and type (see `narrowStops`).
   */
  metrics?: AvailabilityMetricsClient | undefined;
  runs: ReconcileRunStore;
  log: Logger;
  now: Clock;
}

export interface ReconcileOptions {
  /** Time budget of one subscription run (default 240 s): the run stops between pages before it. */
  budgetInMs?: number;
  /** Refresh size, location, OS type, priority and tags when older than this (default 60). */
  detailsRefreshInMinutes?: number;
  runId?: string;
  /** Waits (pacing); injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Below this many HighCostGet requests left, wait before the next page (default 30). */
  pacingThreshold?: number;
  /** Most VMs a run may leave unconfirmed and still advance the mark (default 500). */
  maxUnconfirmed?: number;
  /** Per-VM writes and reads in flight at once (default 16). */
  concurrency?: number;
  abortSignal?: AbortSignal;
}

export const reconcileDefaults = {
  budgetInMs: 240_000,
  detailsRefreshInMinutes: 60,
  pacingThreshold: 30,
  maxUnconfirmed: 500,
  concurrency: 16,
  /** Queued per-VM tasks past which the listing waits for them before the next page. */
  maxBacklog: 1_000,
  /** The lease outlives the budget by this much (a crashed run frees the subscription after it). */
  leaseMarginInMs: 60_000,
} as const;

/** The options of one run, defaults applied. */
export interface RunSettings {
  budgetInMs: number;
  detailsRefreshInMs: number;
  pacingThreshold: number;
  maxUnconfirmed: number;
  concurrency: number;
  sleep: (ms: number) => Promise<void>;
  /** The options every management call of the run carries. */
  call: { abortSignal?: AbortSignal };
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function runSettings(options: ReconcileOptions): RunSettings {
  return {
    budgetInMs: options.budgetInMs ?? reconcileDefaults.budgetInMs,
    detailsRefreshInMs:
      (options.detailsRefreshInMinutes ?? reconcileDefaults.detailsRefreshInMinutes) * 60_000,
    pacingThreshold: options.pacingThreshold ?? reconcileDefaults.pacingThreshold,
    maxUnconfirmed: options.maxUnconfirmed ?? reconcileDefaults.maxUnconfirmed,
    concurrency: options.concurrency ?? reconcileDefaults.concurrency,
    sleep: options.sleep ?? defaultSleep,
    call: options.abortSignal === undefined ? {} : { abortSignal: options.abortSignal },
  };
}
