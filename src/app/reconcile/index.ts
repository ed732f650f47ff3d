/**
 * The reconciler (see run.ts): what the app, the CLI and the kit use of it. Its parts: `decide` (pure
 * decisions), `listing` (pages, budget, pacing), `vms` (per-VM work), `deletions`, `details`, `run` (the
 * steps under the lease), `all` (which subscriptions, the CLI's inline run).
 */
export { reconcileAll, resolveSubscriptions } from './all';
export type { ReconcileOptions } from './options';
export { reconcileSubscription } from './run';
export { anotherRunInProgress, type ReconcileSummary } from './summary';
