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
import { reconcileFunction } from './reconcile';
import type { FunctionRegistration } from './registration';
import { reconcileSubscriptionFunction } from './reconcileSubscription';
import { rollupUsageFunction } from './rollupUsage';
import { stoppedAllocatedAlertsFunction } from './stoppedAllocatedAlerts';
import { vmEventsFunction } from './vmEvents';

export const functionRegistrations: readonly FunctionRegistration[] = [
  activityLogFunction,
  ...apiFunctions,
  backfillSliceFunction,
  coverageFunction,
  dashboardFunction,
  dashboardApiFunction,
  fleetFunction,
  reconcileFunction,
  reconcileSubscriptionFunction,
  rollupUsageFunction,
  stoppedAllocatedAlertsFunction,
  vmEventsFunction,
];
