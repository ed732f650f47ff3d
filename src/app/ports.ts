/**
 * Ports: what the use cases need from the outside world. Adapters in src/adapters implement them;
 * unit tests use in-memory fakes of these (never of SDK internals).
 */
import type { AvailabilityPoint } from '../domain/availability';
import type { CurrentTimelineState } from '../domain/current';
import type { Observation } from '../domain/observation';
import type { InstanceViewStatus } from '../domain/power-state';
import type { Segment } from '../domain/segments';

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

/** A subscription found under a management group. */
export interface DiscoveredSubscription {
  subscriptionId: string;
  displayName?: string | undefined;
  /** The management group directly above it. */
  parentGroupId?: string | undefined;
}

/** Counters the management adapter keeps, for logs and benchmarks. */
export interface ManagementStats {
  requests: number;
  throttled: number;
  /** Latest `x-ms-ratelimit-remaining-*` header values (lower-cased header name → value), when kept. */
  remaining?: Record<string, string> | undefined;
}

export interface ManagementOptions {
  abortSignal?: AbortSignal;
}

/**
 * The Azure Resource Manager reads the app makes: Compute listings and instance views, subscriptions,
 * management groups. All of them read; the one write, `deallocate` of optional remediation, is the
 * `Deallocator` port (alert-ports.ts).
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
  /**
   * The subscriptions under a management group at any depth (Management Groups API `descendants`), page
   * by page. A group that does not exist or cannot be read throws (ManagementRequestError 403 / 404).
   */
  listManagementGroupSubscriptions(
    groupId: string,
    options?: ManagementOptions,
  ): AsyncIterable<DiscoveredSubscription[]>;
  /** Counters since the client was made. */
  readonly stats: ManagementStats;
}

/** The `VmCurrent` row: current timeline state plus what the reconciler knows of the VM. */
export interface CurrentState extends CurrentTimelineState {
  subscriptionId: string;
  /** Last time the reconciler saw the VM in `state` (epoch ms). */
  lastSeenAt?: number | undefined;
  details?: VmDetails | undefined;
  /** When `details` were last refreshed (epoch ms). */
  detailsAt?: number | undefined;
  /** Earliest segment start changed since the usage rollups were last brought up to date (epoch ms). */
  usageDirtyFrom?: number | undefined;
}

export const RecordOutcome = { recorded: 'recorded', duplicate: 'duplicate' } as const;
export type RecordOutcome = (typeof RecordOutcome)[keyof typeof RecordOutcome];

export interface RecordOptions {
  /**
   * An id (usually the event id) that marks this observation as applied, for observations whose time
   * is the moment of a read rather than of the event: recording the same marker twice is a duplicate.
   */
  marker?: string;
}

export interface Timeline {
  resourceId: string;
  segments: Segment[];
}

export interface TimeRange {
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

/** What `recordMany` did with a VM's observations. */
export interface RecordManyResult {
  /** Observations newly stored. */
  recorded: number;
  /** Observations already stored, or repeating what an event of the same operation said. */
  duplicate: number;
  /** Observations whose keys storage cannot hold (never stored). */
  rejected?: number;
}

/**
 * The timeline tables. `record` is idempotent, order-independent and safe under concurrent writers:
 * the same observations in any order, any number of times, from any number of workers, end in the same
 * stored segments and current state.
 */
export interface TimelineStore {
  /**
   * Throws `PermanentInputError` when the observation's keys can never be stored (a lone surrogate, a
   * key over Table Storage's limit once escaped, a 400 from storage); other errors are transient.
   */
  record(observation: Observation, options?: RecordOptions): Promise<RecordOutcome>;
  /**
   * Records observations of one VM together (a backfill): one read of its history, one re-derivation.
   * Same guarantees as `record`.
   */
  recordMany(observations: readonly Observation[]): Promise<RecordManyResult>;
  /** True when an observation with this marker was already recorded for the VM. */
  hasMarker(resourceId: string, marker: string): Promise<boolean>;
  getCurrent(resourceId: string): Promise<CurrentState | undefined>;
  /** Current-state rows of one subscription, page by page. */
  listCurrent(subscriptionId: string): AsyncIterable<CurrentState[]>;
  /**
   * Current-state rows of one scale set's instances (by scale-set resource id), page by page: a key
   * range of the subscription's partition, not the whole subscription.
   */
  listScaleSetCurrent(scaleSetId: string): AsyncIterable<CurrentState[]>;
  /** Every current-state row, page by page. */
  listAllCurrent(): AsyncIterable<CurrentState[]>;
  /** Segments overlapping the range, in order; undefined when the VM has no history. */
  getTimeline(resourceId: string, range?: TimeRange): Promise<Timeline | undefined>;
  /**
   * Stores what the full listing says of a VM (size, location, OS type, priority, tags) on its current
   * row, when the VM has one. ETag-guarded merge: never overwrites the timeline columns.
   * Returns false when the VM has no current row yet.
   */
  updateDetails(resourceId: string, details: VmDetails, detailsAt: number): Promise<boolean>;
}

/** An event that can never be processed, kept with the reason (the `VmRejectedEvents` table). */
export interface RejectedEvent {
  reason: string;
  eventId?: string | undefined;
  resourceUri?: string | undefined;
  /** The event as delivered (serialised), possibly truncated. */
  raw: string;
  receivedAt: number;
}

export interface RejectedEventStore {
  record(rejected: RejectedEvent): Promise<void>;
  list(range?: TimeRange): AsyncIterable<RejectedEvent>;
}

/** What the last complete reconcile run of a subscription left behind (the `VmReconcileRuns` row). */
export interface ReconcileMark {
  /** When the last complete run began listing (epoch ms): every VM it confirmed was seen at or after it. */
  startedAt: number;
  /**
   * VMs that run did not confirm (unknown power state, per-VM failure), by VM key, each with its own
   * last-seen time (epoch ms).
   */
  unconfirmed: Record<string, number>;
}

/** Reads the mark of a subscription's last complete reconcile run (what it confirmed, and when). */
export interface ReconcileMarkReader {
  getMark(subscriptionId: string): Promise<ReconcileMark | undefined>;
}

/** A held lease on a subscription's reconcile row. */
export interface ReconcileLease {
  subscriptionId: string;
  runId: string;
  /** The mark of the last complete run; undefined before the first one. */
  mark?: ReconcileMark | undefined;
  /** When details (size, tags...) were last refreshed from the full listing (epoch ms). */
  detailsAt?: number | undefined;
  /** Adapter's concurrency token for the release. */
  readonly etag: string;
}

export interface ReconcileRelease {
  /** The new mark, when the run was complete. */
  mark?: ReconcileMark | undefined;
  detailsAt?: number | undefined;
  /** When the run ended (epoch ms). */
  endedAt: number;
  complete: boolean;
}

/**
 * One row per subscription (`VmReconcileRuns`): the lease that keeps two reconcile runs of one
 * subscription apart, and the mark of the last complete run.
 */
export interface ReconcileRunStore {
  /**
   * Takes the subscription's lease until `leaseUntil` (epoch ms). Undefined when another run holds an
   * unexpired lease or took it first.
   */
  acquire(
    subscriptionId: string,
    runId: string,
    now: number,
    leaseUntil: number,
  ): Promise<ReconcileLease | undefined>;
  /** Writes what the run learnt and frees the lease; false when the lease was lost meanwhile. */
  release(lease: ReconcileLease, release: ReconcileRelease): Promise<boolean>;
}

/** Structured logger: constant messages, variable data in properties. */
export interface Logger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

export type Clock = () => number;

/** One `metrics:getBatch` read: up to 50 VMs of one subscription, region and resource type. */
export interface AvailabilityRequest {
  subscriptionId: string;
  /** Azure region name (`westeurope`): the metrics endpoint is regional. */
  region: string;
  /** `microsoft.compute/virtualmachines` or `microsoft.compute/virtualmachinescalesets/virtualmachines`. */
  resourceType: string;
  resourceIds: string[];
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
}

/** The VM availability metric (`VmAvailabilityMetric`, PT1M, average) of a batch of VMs. */
export interface AvailabilityMetricsClient {
  /**
   * Per VM key, the minutes of the series in `[from, to)` (`average` undefined for a minute without value).
   * A VM the reply leaves out has no entry. Throttling is retried (honouring Retry-After); other failures throw.
   */
  getAvailability(
    request: AvailabilityRequest,
    options?: ManagementOptions,
  ): Promise<Map<string, AvailabilityPoint[]>>;
  readonly stats: { requests: number; throttled: number };
}
