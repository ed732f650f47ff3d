/** Which subscriptions to reconcile, and the CLI's inline run over all of them. */
import { ensureError } from '../errors';
import type { ManagementClient } from '../ports';
import { listWatchedSubscriptions } from '../watched-subscriptions';
import type { ReconcileDependencies, ReconcileOptions } from './options';
import { reconcileSubscription } from './run';
import { emptySummary, type ReconcileSummary } from './summary';

export interface ReconcileAllOptions extends ReconcileOptions {
  /** Subscriptions to reconcile; empty or absent: the management group's, else every readable one. */
  subscriptionIds?: readonly string[] | undefined;
  /** Management group whose subscriptions are reconciled when no subscription is given. */
  managementGroupId?: string | undefined;
}

/**
 * The configured subscriptions (de-duplicated), else those under the management group, else every
 * subscription the identity can read.
 */
export async function resolveSubscriptions(
  management: ManagementClient,
  configured: readonly string[] | undefined,
  options: { abortSignal?: AbortSignal; managementGroupId?: string | undefined } = {},
): Promise<string[]> {
  const { managementGroupId, ...call } = options;
  const scope =
    configured !== undefined && configured.length > 0
      ? { subscriptionIds: configured }
      : { managementGroupId };
  return (await listWatchedSubscriptions(management, scope, call)).map((s) => s.subscriptionId);
}

/** Reconciles every subscription one after the other (the CLI's inline run). One failing never stops the rest. */
export async function reconcileAll(
  deps: ReconcileDependencies,
  options: ReconcileAllOptions = {},
): Promise<ReconcileSummary[]> {
  const { subscriptionIds, managementGroupId, ...runOptions } = options;
  const ids = await resolveSubscriptions(
    deps.management,
    subscriptionIds,
    options.abortSignal === undefined
      ? { managementGroupId }
      : { abortSignal: options.abortSignal, managementGroupId },
  );
  const summaries: ReconcileSummary[] = [];
  for (const subscriptionId of ids) {
    const startedAt = deps.now();
    try {
      summaries.push(await reconcileSubscription(subscriptionId, deps, { ...runOptions, runId: undefined }));
    } catch (value) {
      const error = ensureError(value);
      deps.log.error('reconcile failed', { subscriptionId, error: error.message });
      summaries.push({ ...emptySummary(subscriptionId, '', deps.now() - startedAt), error: error.message });
    }
  }
  return summaries;
}
