/**
 * In-memory fakes of the reconciler's ports (our interfaces, never SDK internals): a timeline store that
 * keeps current rows and recorded observations, a management client serving pages from arrays (with
 * injectable page latency, rate-limit headers and failures), a run store with a real lease, a logger that
 * keeps its lines, and a clock the fakes advance.
 */
import type {
  AvailabilityMetricsClient,
  AvailabilityRequest,
  CurrentState,
  ListedPage,
  ListedVm,
  Logger,
  ManagementClient,
  ManagementStats,
  ReconcileLease,
  ReconcileMark,
  ReconcileRelease,
  ReconcileRunStore,
  RecordOptions,
  RecordOutcome,
  TimelineStore,
  VmDetails,
} from '../../src/app/ports';
import type { ReconcileDependencies } from '../../src/app/reconcile/options';
import type { Observation } from '../../src/domain/observation';
import type { InstanceViewStatus, PowerState } from '../../src/domain/power-state';
import { vmKey } from '../../src/domain/resource-id';
import { failureOfStatus } from '../../src/adapters/service-errors';
import { failureOf, ServiceError, ServiceFailure } from '../../src/app/errors';

export const sub = '00000000-0000-0000-0000-0000000000aa';
export const vmId = (name: string): string =>
  `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`;
export const scaleSetId = (name: string): string =>
  `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
export const power = (state: string): InstanceViewStatus[] => [
  { code: 'ProvisioningState/succeeded' },
  { code: `PowerState/${state}` },
];
export const listed = (name: string, state: string | undefined, details?: VmDetails): ListedVm => ({
  resourceId: vmId(name),
  name,
  statuses: state === undefined ? [{ code: 'ProvisioningState/succeeded' }] : power(state),
  details,
});

/** A `VmCurrent` row of VM `name`, last changed at `at`. */
export function row(
  name: string,
  state: PowerState | undefined,
  at: number,
  extra: Partial<CurrentState> = {},
): CurrentState {
  return {
    resourceId: vmId(name),
    subscriptionId: sub,
    state,
    last: { at, source: 'event', dedupeId: `e-${name}` },
    ...extra,
  };
}

/** The clock the fakes share: tests and fakes move it forward. */
export class FakeClock {
  constructor(public t: number) {}
  readonly now = (): number => this.t;
  readonly sleep = (ms: number): Promise<void> => {
    this.slept.push(ms);
    this.t += ms;
    return Promise.resolve();
  };
  readonly slept: number[] = [];
}

const notUsed = (): never => {
  throw new Error('not used by the reconciler');
};

/** Current rows by VM key and every observation recorded (a marker recorded twice is a duplicate). */
export class FakeTimelineStore implements TimelineStore {
  readonly rows = new Map<string, CurrentState>();
  readonly recorded: Observation[] = [];
  readonly details: { resourceId: string; details: VmDetails }[] = [];
  readonly #markers = new Set<string>();

  constructor(rows: CurrentState[]) {
    for (const r of rows) this.rows.set(vmKey(r.resourceId), r);
  }

  record(observation: Observation, options: RecordOptions = {}): Promise<RecordOutcome> {
    const marker = `${vmKey(observation.resourceId)}|${options.marker ?? observation.dedupeId}`;
    if (this.#markers.has(marker)) return Promise.resolve('duplicate');
    this.#markers.add(marker);
    this.recorded.push(observation);
    return Promise.resolve('recorded');
  }

  async *listCurrent(): AsyncIterable<CurrentState[]> {
    yield await Promise.resolve([...this.rows.values()]);
  }

  updateDetails(resourceId: string, details: VmDetails): Promise<boolean> {
    if (!this.rows.has(vmKey(resourceId)) && !this.recorded.some((o) => o.resourceId === resourceId))
      return Promise.resolve(false);
    this.details.push({ resourceId, details });
    return Promise.resolve(true);
  }

  recordMany = notUsed;
  hasMarker = notUsed;
  getCurrent = notUsed;
  listScaleSetCurrent = notUsed;
  listAllCurrent = notUsed;
  getTimeline = notUsed;
}

/** An error as the management adapter throws it: the ports' ServiceError under its name (status, ARM code). */
export function managementError(name: string, statusCode?: number, code?: string): Error {
  const failure = statusCode === undefined ? ServiceFailure.unreachable : failureOfStatus(statusCode, code);
  const error = new ServiceError(failure, `${name} ${statusCode ?? ''} ${code ?? ''}`, { statusCode, code });
  error.name = name;
  return error;
}

/** What one page of a fake listing does: its VMs, or a failure; how long it takes; the headers after it. */
export interface FakePage {
  vms?: ListedVm[];
  fails?: Error;
  takesInMs?: number;
  remaining?: Record<string, string>;
}

export interface FakeManagementSetup {
  vmPages: FakePage[];
  /** Scale-set id → its instance pages. */
  scaleSets?: Record<string, FakePage[]>;
  /** Fails the scale-set listing itself. */
  scaleSetsFail?: Error;
  /** The full listing's pages (details). */
  detailPages?: FakePage[];
  /** Resource id → instance-view statuses (absent: the VM is gone, 404). */
  instanceViews?: Record<string, InstanceViewStatus[] | Error>;
}

export class FakeManagement implements ManagementClient {
  readonly stats: ManagementStats = { requests: 0, throttled: 0 };
  readonly calls: string[] = [];

  constructor(
    private readonly setup: FakeManagementSetup,
    private readonly clock: FakeClock,
  ) {}

  async *#pages(what: string, pages: readonly FakePage[]): AsyncIterable<ListedPage> {
    for (const page of pages) {
      this.calls.push(what);
      this.stats.requests += 1;
      this.clock.t += page.takesInMs ?? 0;
      if (page.fails !== undefined) {
        if (failureOf(page.fails) === ServiceFailure.throttled) this.stats.throttled += 1;
        throw page.fails;
      }
      if (page.remaining !== undefined) this.stats.remaining = page.remaining;
      yield await Promise.resolve({ vms: page.vms ?? [] });
    }
  }

  listVmStatuses(): AsyncIterable<ListedPage> {
    return this.#pages('vms', this.setup.vmPages);
  }

  listVmDetails(): AsyncIterable<ListedPage> {
    return this.#pages('details', this.setup.detailPages ?? []);
  }

  listScaleSetInstances(id: string): AsyncIterable<ListedPage> {
    return this.#pages(`instances ${id}`, this.setup.scaleSets?.[id] ?? []);
  }

  async *listScaleSets(): AsyncIterable<string[]> {
    this.calls.push('scaleSets');
    this.stats.requests += 1;
    if (this.setup.scaleSetsFail !== undefined) throw this.setup.scaleSetsFail;
    yield await Promise.resolve(Object.keys(this.setup.scaleSets ?? {}));
  }

  getInstanceView(resourceId: string): Promise<InstanceViewStatus[] | undefined> {
    this.calls.push(`instanceView ${resourceId}`);
    this.stats.requests += 1;
    const view = this.setup.instanceViews?.[resourceId];
    return view instanceof Error ? Promise.reject(view) : Promise.resolve(view);
  }

  listSubscriptions = notUsed;
  listManagementGroupSubscriptions = notUsed;
}

/** One subscription's lease and mark, as the `VmReconcileRuns` row keeps them. */
export class FakeRunStore implements ReconcileRunStore {
  readonly releases: ReconcileRelease[] = [];
  heldUntil = 0;

  constructor(
    public mark?: ReconcileMark,
    public detailsAt?: number,
  ) {}

  acquire(subscriptionId: string, runId: string, now: number, leaseUntil: number) {
    if (this.heldUntil > now) return Promise.resolve(undefined);
    this.heldUntil = leaseUntil;
    const lease: ReconcileLease = {
      subscriptionId,
      runId,
      mark: this.mark,
      detailsAt: this.detailsAt,
      etag: runId,
    };
    return Promise.resolve(lease);
  }

  release(_lease: ReconcileLease, release: ReconcileRelease): Promise<boolean> {
    this.releases.push(release);
    this.heldUntil = 0;
    if (release.mark !== undefined) this.mark = release.mark;
    if (release.detailsAt !== undefined) this.detailsAt = release.detailsAt;
    return Promise.resolve(true);
  }
}

export interface LogLine {
  level: keyof Logger;
  message: string;
  properties: Record<string, unknown>;
}

export function fakeLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: keyof Logger) =>
    (message: string, properties: Record<string, unknown> = {}): void => {
      lines.push({ level, message, properties });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** An availability metric that answers every read with no series (so nothing is narrowed) and keeps the requests. */
export class FakeMetrics implements AvailabilityMetricsClient {
  readonly stats = { requests: 0, throttled: 0 };
  readonly requests: AvailabilityRequest[] = [];
  getAvailability(request: AvailabilityRequest) {
    this.stats.requests += 1;
    this.requests.push(request);
    return Promise.resolve(new Map());
  }
}

/** The ports of one run over these fakes. */
export function reconcileFakes(options: {
  rows?: CurrentState[];
  management: FakeManagementSetup;
  mark?: ReconcileMark;
  detailsAt?: number;
  startAt?: number;
  metrics?: boolean;
}) {
  const clock = new FakeClock(options.startAt ?? 100_000);
  const store = new FakeTimelineStore(options.rows ?? []);
  const management = new FakeManagement(options.management, clock);
  const runs = new FakeRunStore(options.mark, options.detailsAt);
  const log = fakeLogger();
  const metrics = options.metrics === true ? new FakeMetrics() : undefined;
  const deps: ReconcileDependencies = { store, management, runs, log, now: clock.now, metrics };
  return { clock, store, management, runs, log, metrics, deps };
}
