/**
 * The state one subscription run shares between its steps (listing, per-VM work, deletions, details):
 * what it knows of the subscription's rows, what it could not confirm, its counters.
 */
import { vmKey } from '../../domain/resource-id';
import { TaskQueue } from '../concurrency';
import { ensureError } from '../errors';
import type { StopCandidate } from '../narrow-stops';
import type { ReconcileLease, ReconcileMark } from '../ports';
import { RunBudget } from './budget';
import { unconfirmedSince } from './decide';
import { detailsFingerprint, flatString, type KnownVm } from './mark';
import type { ReconcileDependencies, RunSettings } from './options';
import { emptySummary, type ReconcileSummary } from './summary';

export class RunState {
  readonly summary: ReconcileSummary;
  /** The subscription's `VmCurrent` rows, by VM key. */
  readonly known = new Map<string, KnownVm>();
  /** Stops recorded within a window this run, for the availability metric. */
  readonly stopCandidates: StopCandidate[] = [];
  /** VMs recorded as new (or re-created): their details are due. */
  readonly fresh = new Set<string>();
  /** VMs this run could not confirm, with their last-seen time. */
  readonly unconfirmed = new Map<string, number>();
  /** Every listing was read to its end. */
  complete = true;
  /** Set after a throttle beyond the allowed wait, an abort or a subscription-wide refusal: no more listing requests. */
  halted = false;
  readonly budget: RunBudget;
  /** Per-VM work (writes, instance-view reads) running beside the listing. */
  readonly tasks: TaskQueue;
  readonly #requestsBefore: number;
  readonly #throttledBefore: number;

  constructor(
    readonly subscriptionId: string,
    readonly deps: ReconcileDependencies,
    readonly settings: RunSettings,
    readonly lease: ReconcileLease,
  ) {
    this.budget = new RunBudget(deps.now, this.settings);
    this.#requestsBefore = deps.management.stats.requests;
    this.#throttledBefore = deps.management.stats.throttled;
    this.summary = emptySummary(subscriptionId, lease.runId, 0);
    this.tasks = new TaskQueue(this.settings.concurrency, (error) => {
      this.summary.failed += 1;
      deps.log.error('reconcile task failed', {
        subscriptionId,
        runId: lease.runId,
        error: ensureError(error).message,
      });
    });
  }

  get runId(): string {
    return this.lease.runId;
  }

  /** The last complete run's mark. */
  get mark(): ReconcileMark | undefined {
    return this.lease.mark;
  }

  /** No more listing: halted, or stopped near the budget. */
  get listingOver(): boolean {
    return this.halted || this.summary.stoppedEarly;
  }

  /** Reads the subscription's `VmCurrent` rows into `known`. */
  async loadKnown(): Promise<void> {
    for await (const page of this.deps.store.listCurrent(this.subscriptionId)) {
      for (const row of page) {
        this.known.set(flatString(vmKey(row.resourceId)), {
          resourceId: row.resourceId,
          state: row.state,
          lastAt: row.last.at,
          lastSeenAt: row.lastSeenAt,
          details: detailsFingerprint(row.details),
          seen: false,
          location: row.details?.location,
        });
      }
    }
  }

  /** Keeps the VM's last-seen time for the next run's window (it was not confirmed by this one). */
  unconfirm(key: string, known: KnownVm | undefined): void {
    if (this.unconfirmed.has(key)) return;
    const since = unconfirmedSince(key, known, this.mark);
    if (since !== undefined) this.unconfirmed.set(key, since);
  }

  /** A per-VM failure: counted, logged with the VM id, the VM left unconfirmed. */
  fail(message: string, vmId: string, error: unknown, key: string, known: KnownVm | undefined): void {
    this.summary.failed += 1;
    this.unconfirm(key, known);
    this.deps.log.error(message, {
      vmId,
      subscriptionId: this.subscriptionId,
      runId: this.runId,
      error: ensureError(error).message,
    });
  }

  /** Management requests and throttles since the run began. */
  countRequests(): void {
    const stats = this.deps.management.stats;
    this.summary.requests = stats.requests - this.#requestsBefore;
    this.summary.throttled = stats.throttled - this.#throttledBefore;
  }
}
