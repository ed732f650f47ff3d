/**
 * Every function of the app, as data (in the order of their files). `index.ts` registers them with
 * `@azure/functions`; the developer kit's local runner serves the same list.
 */
import { activityLogFunction } from './activityLog';
import { apiFunctions } from './api';
import { backfillSliceFunction } from './backfillSlice';
import { coverageFunction } from './coverage';
import { dashboardFunction } from './dashboard';
import { dashboardApiFunction } from './dashboardApi';
import { fleetFunction } from './fleet';
import { invoiceCheckFunction } from './invoiceCheck';
import { invoiceCheckApiFunction } from './invoiceCheckApi';
import { reconcileFunction } from './reconcile';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { reconcileSubscriptionFunction } from './reconcileSubscription';
import { rollupUsageFunction } from './rollupUsage';
import { stoppedAllocatedAlertsFunction } from './stoppedAllocatedAlerts';
import { vmEventsFunction } from './vmEvents';

/** The app's functions, their handlers on `contextOf` (default: the Functions host's app settings). */
export function functionRegistrations(contextOf: ContextFactory = hostContext): FunctionRegistration[] {
  return [
    activityLogFunction(contextOf),
    ...apiFunctions(contextOf),
    backfillSliceFunction(contextOf),
    coverageFunction(contextOf),
    dashboardFunction,
    dashboardApiFunction(contextOf),
    fleetFunction(contextOf),
    invoiceCheckFunction(contextOf),
    invoiceCheckApiFunction(contextOf),
    reconcileFunction(contextOf),
    reconcileSubscriptionFunction(contextOf),
    rollupUsageFunction(contextOf),
    stoppedAllocatedAlertsFunction(contextOf),
    vmEventsFunction(contextOf),
  ];
}
