/**
 * Ports: what the use cases need from the outside world. Adapters in src/adapters implement them;
 * unit tests use in-memory fakes of these (never of SDK internals).
 */
import type { InstanceViewStatus } from '../domain/power-state';

/** One VM or scale-set instance as a management listing returns it. */
export interface ListedVm {
  /** Resource id as ARM returned it (original casing). */
  resourceId: string;
  name: string;
  /** `properties.instanceView.statuses` (statusOnly listing / expanded instance view); undefined when absent. */
  statuses?: InstanceViewStatus[] | undefined;
  /** Present in the full (non-statusOnly) listing only. */
  details?: VmDetails | undefined;
}

export interface VmDetails {
  vmSize?: string | undefined;
  location?: string | undefined;
  osType?: string | undefined;
  /** `Regular`, `Spot` or `Low`. */
  priority?: string | undefined;
  tags?: Record<string, string> | undefined;
}

/** One page of a listing, so callers can count pages and stop between them. */
export interface ListedPage {
  vms: ListedVm[];
}

/** Counters the management adapter keeps, for logs and benchmarks. */
export interface ManagementStats {
  requests: number;
  throttled: number;
}

export interface ManagementOptions {
  abortSignal?: AbortSignal;
}

/**
 * The Azure Resource Manager (Compute) operations the app uses. Every method reads; the only write is
 * `deallocate`, used by optional remediation.
 */
export interface ManagementClient {
  /**
   * Instance-view statuses of one VM or scale-set instance (by resource id). Undefined when the resource
   * does not exist (404). Transient failures (5xx after retries, network) throw.
   */
  getInstanceView(resourceId: string, options?: ManagementOptions): Promise<InstanceViewStatus[] | undefined>;
  /** Instances of one uniform scale set, with their instance views (`$expand=instanceView`). */
  listScaleSetInstances(scaleSetId: string, options?: ManagementOptions): AsyncIterable<ListedPage>;
  /** Every VM of a subscription with `statusOnly=true`, page by page following `nextLink`. */
  listVmStatuses(subscriptionId: string, options?: ManagementOptions): AsyncIterable<ListedPage>;
  /** Every VM of a subscription without `statusOnly` (size, location, OS type, priority, tags). */
  listVmDetails(subscriptionId: string, options?: ManagementOptions): AsyncIterable<ListedPage>;
  /** Resource ids of the uniform scale sets of a subscription. */
  listScaleSets(subscriptionId: string, options?: ManagementOptions): AsyncIterable<string[]>;
  /** Subscription ids the identity can read. */
  listSubscriptions(options?: ManagementOptions): AsyncIterable<string>;
  /** Counters since the client was made. */
  readonly stats: ManagementStats;
}
