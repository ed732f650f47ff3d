/**
 * Use case: one subscription's queued reconcile, as the `reconcileSubscription` queue function runs it: the
 * run, its outcome in coverage, then (about once a day, within its own small budget) the ARM read of the
 * subscription's Event Grid wiring. A failed run is recorded (as poisoned on the queue's last delivery) and
 * rethrown, so the queue redelivers it.
 */
import {
  checkEventWiringWhenDue,
  recordReconcileFailure,
  recordReconcileOutcome,
  type CoverageDependencies,
} from './coverage';
import type { EventWiringReader } from './coverage-ports';
import { reconcileSubscription, type ReconcileOptions, type ReconcileSummary } from './reconcile';

type ReconcileDependencies = Parameters<typeof reconcileSubscription>[1];

export async function reconcileQueuedSubscription(
  subscriptionId: string,
  deps: ReconcileDependencies & CoverageDependencies & { wiring: EventWiringReader },
  options: ReconcileOptions,
  dequeueCount: number | undefined,
): Promise<ReconcileSummary> {
  let summary: ReconcileSummary;
  try {
    summary = await reconcileSubscription(subscriptionId, deps, options);
  } catch (error) {
    await recordReconcileFailure(deps, subscriptionId, error, dequeueCount).catch(() =>
      deps.log.warn('coverage not recorded', { subscriptionId }),
    );
    throw error;
  }
  const outcome = await recordReconcileOutcome(deps, summary);
  await checkEventWiringWhenDue(deps, subscriptionId, outcome);
  return summary;
}
