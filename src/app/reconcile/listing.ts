/**
 * The run's listings: every VM's power state (statusOnly), then the uniform scale sets and each one's
 * instances, page by page. Between pages: the time budget (stop before it) and pacing (wait for the
 * HighCostGet rate limit to refill). A failed listing leaves the run incomplete; a throttle, an abort or a
 * subscription-wide refusal (403, 404 SubscriptionNotFound) halts every further listing of the run.
 */
import type { ListedPage } from '../ports';
import { ensureError, failureOf, ServiceError, ServiceFailure } from '../errors';
import type { RunState } from './run-state';
import type { ListingError } from './summary';

/** What the run does with one page, read at `fetchedAt`. */
export type PageHandler = (page: ListedPage, fetchedAt: number) => Promise<void>;

function isThrottled(error: Error): boolean {
  return failureOf(error) === ServiceFailure.throttled;
}

function retryAfterOf(error: Error): number | undefined {
  return error instanceof ServiceError ? error.retryAfterInMs : undefined;
}

function listingErrorOf(error: Error): ListingError {
  const service = error instanceof ServiceError ? error : undefined;
  return {
    name: error.name,
    message: error.message,
    statusCode: service?.statusCode,
    code: service?.code,
    retryAfterInMs: retryAfterOf(error),
    failure: service?.failure,
  };
}

/** Throttled, aborted, forbidden or gone: every other listing of the subscription would fail alike. */
const haltingFailures: ReadonlySet<ServiceFailure | undefined> = new Set([
  ServiceFailure.throttled,
  ServiceFailure.aborted,
  ServiceFailure.forbidden,
  ServiceFailure.subscriptionNotFound,
]);

/** Records why a listing failed (the run's first failure is what coverage reports). */
function listingFailed(run: RunState, what: string, value: unknown): void {
  const error = ensureError(value);
  const listingError = listingErrorOf(error);
  if (haltingFailures.has(listingError.failure)) run.halted = true;
  run.summary.listingError ??= listingError;
  run.deps.log.warn(isThrottled(error) ? 'reconcile listing throttled' : 'reconcile listing failed', {
    subscriptionId: run.subscriptionId,
    runId: run.runId,
    listing: what,
    error: error.message,
    retryAfterInMs: retryAfterOf(error),
  });
}

/** Waits before the next page when the rate limit runs low (never past half the budget left). */
async function pace(run: RunState): Promise<void> {
  const delay = run.budget.pacingDelayInMs(run.deps.management.stats.remaining);
  if (delay <= 0) return;
  run.deps.log.debug('reconcile pacing', { subscriptionId: run.subscriptionId, delayInMs: delay });
  run.summary.pacedInMs += delay;
  await run.settings.sleep(delay);
}

/**
 * Reads one listing to its end. Returns false when it failed or stopped near the budget (the listing is
 * then incomplete). Budget and pacing are checked between pages.
 */
export async function readListing(
  run: RunState,
  what: string,
  pages: AsyncIterable<ListedPage>,
  onPage: PageHandler,
): Promise<boolean> {
  const now = run.deps.now;
  let requestedAt = now();
  try {
    for await (const page of pages) {
      const fetchedAt = now();
      run.budget.pageRead(requestedAt, fetchedAt);
      run.summary.pages += 1;
      await onPage(page, fetchedAt);
      if (run.budget.nearEnd()) {
        run.summary.stoppedEarly = true;
        run.deps.log.warn('reconcile stopped near its time budget', {
          subscriptionId: run.subscriptionId,
          runId: run.runId,
          listing: what,
        });
        return false;
      }
      await pace(run);
      requestedAt = now();
    }
    return true;
  } catch (error) {
    listingFailed(run, what, error);
    return false;
  }
}

/**
 * Lists every VM and every uniform scale set's instances, each page handed to `onPage`. Sets
 * `run.complete` to false when any listing was not read to its end.
 */
export async function listEverything(run: RunState, onPage: PageHandler): Promise<void> {
  const { management } = run.deps;
  const { call } = run.settings;
  if (!(await readListing(run, 'vms', management.listVmStatuses(run.subscriptionId, call), onPage)))
    run.complete = false;
  if (run.listingOver) {
    run.complete = false;
    return;
  }
  const scaleSetIds: string[] = [];
  try {
    for await (const ids of management.listScaleSets(run.subscriptionId, call)) {
      run.summary.pages += 1;
      scaleSetIds.push(...ids);
    }
  } catch (error) {
    listingFailed(run, 'scaleSets', error);
    run.complete = false;
    return;
  }
  for (const scaleSetId of scaleSetIds) {
    if (run.listingOver) {
      run.complete = false;
      return;
    }
    const pages = management.listScaleSetInstances(scaleSetId, call);
    if (!(await readListing(run, 'scaleSetInstances', pages, onPage))) run.complete = false;
  }
}
