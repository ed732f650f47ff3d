/**
 * The watched subscriptions: a management group's, the configured ones, or every one the identity can
 * read. Used by coverage discovery and by the reconciler (its own module, so neither imports the other).
 */
import type { DiscoveredSubscription, ManagementClient, ManagementOptions } from './ports';

/** What to watch: a management group, else the configured subscriptions, else every readable one. */
export interface WatchScope {
  managementGroupId?: string | undefined;
  subscriptionIds?: readonly string[] | undefined;
}

/** The watched subscriptions (see WatchScope), de-duplicated, in listing order. */
export async function listWatchedSubscriptions(
  management: ManagementClient,
  scope: WatchScope,
  options: ManagementOptions,
): Promise<DiscoveredSubscription[]> {
  const found: DiscoveredSubscription[] = [];
  const seen = new Set<string>();
  const add = (s: DiscoveredSubscription): void => {
    if (seen.has(s.subscriptionId.toLowerCase())) return;
    seen.add(s.subscriptionId.toLowerCase());
    found.push(s);
  };
  if (scope.managementGroupId !== undefined) {
    for await (const page of management.listManagementGroupSubscriptions(scope.managementGroupId, options))
      page.forEach(add);
  } else if (scope.subscriptionIds !== undefined && scope.subscriptionIds.length > 0) {
    for (const subscriptionId of scope.subscriptionIds) add({ subscriptionId });
  } else {
    for await (const subscriptionId of management.listSubscriptions(options)) add({ subscriptionId });
  }
  return found;
}
