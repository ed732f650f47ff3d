/** What a reconcile run of one subscription reports (the CLI prints it; coverage records its outcome). */
import type { ServiceFailure } from '../errors';

export interface ReconcileSummary {
  subscriptionId: string;
  runId: string;
  /** `metrics:getBatch` reads made to narrow stops found within a window (≤ ⌈N/50⌉ per region and type). */
  metricReads?: number;
  /** Stops whose window the availability metric narrowed. */
  narrowed?: number;
  /** VMs listed with a known power state. */
  seen: number;
  /** Recorded state changes of known VMs. */
  changed: number;
  /** VMs recorded for the first time (or again after a deletion). */
  new: number;
  deleted: number;
  /** VMs whose power state stayed missing: nothing changed for them. */
  unknown: number;
  /** Per-VM failures (logged with the VM id). */
  failed: number;
  /** VMs whose details (size, location, OS type, priority, tags) were updated. */
  detailsUpdated: number;
  /** Management requests (wire attempts) made by this run. */
  requests: number;
  throttled: number;
  pages: number;
  /** Every page of VMs and of every scale set was read: deletions were applied and the mark advanced. */
  complete: boolean;
  durationInMs: number;
  stoppedEarly: boolean;
  /** Time spent waiting for the rate limit to refill. */
  pacedInMs: number;
  /** Set when the run did nothing (another run holds the subscription). */
  skipped?: string | undefined;
  /** Set when the run failed as a whole (reconcileAll only). */
  error?: string | undefined;
  /** The first listing failure of the run (throttle, 5xx, 403, 404): what coverage reports. */
  listingError?: ListingError | undefined;
}

/** Why a listing failed, as the management adapter's error said it. */
export interface ListingError {
  /** `ThrottledError`, `ManagementUnavailableError`, `ManagementRequestError`, ... */
  name: string;
  message: string;
  statusCode?: number | undefined;
  /** ARM error code (`AuthorizationFailed`, `SubscriptionNotFound`, ...). */
  code?: string | undefined;
  retryAfterInMs?: number | undefined;
  /** What the failure means (throttled, forbidden, subscriptionNotFound, ...); absent when it is no service failure. */
  failure?: ServiceFailure | undefined;
}

/** `skipped` of a run that found the subscription's lease held. */
export const anotherRunInProgress = 'another run in progress';

/** A summary of nothing done yet (or of a run that did nothing). */
export function emptySummary(subscriptionId: string, runId: string, durationInMs: number): ReconcileSummary {
  return {
    subscriptionId,
    runId,
    seen: 0,
    changed: 0,
    new: 0,
    deleted: 0,
    unknown: 0,
    failed: 0,
    detailsUpdated: 0,
    requests: 0,
    throttled: 0,
    pages: 0,
    complete: false,
    durationInMs,
    stoppedEarly: false,
    pacedInMs: 0,
  };
}
