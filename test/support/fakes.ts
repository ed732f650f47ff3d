/** In-memory fakes of our own ports (never of SDK internals), for unit tests. */
import type {
  DiscoveredSubscription,
  CurrentState,
  ListedPage,
  ManagementClient,
  RecordManyResult,
  RecordOptions,
  RecordOutcome,
  RejectedEvent,
  RejectedEventStore,
  TimeRange,
  Timeline,
  TimelineStore,
  VmDetails,
} from '../../src/app/ports';
import { OperationIndex } from '../../src/domain/activity-log';
import { deriveCurrent } from '../../src/domain/current';
import { observationIdentity, type Observation } from '../../src/domain/observation';
import type { InstanceViewStatus } from '../../src/domain/power-state';
import { vmKey } from '../../src/domain/resource-id';
import { deriveSegments } from '../../src/domain/segments';

export class MemoryTimelineStore implements TimelineStore {
  readonly observations = new Map<string, Observation[]>();
  readonly markers = new Set<string>();
  readonly details = new Map<string, { details: VmDetails; at: number }>();

  record(observation: Observation, options: RecordOptions = {}): Promise<RecordOutcome> {
    const key = vmKey(observation.resourceId);
    const list = this.observations.get(key) ?? [];
    const marker = options.marker === undefined ? undefined : `${key}#${options.marker}`;
    if (
      list.some((o) => observationIdentity(o) === observationIdentity(observation)) ||
      (marker !== undefined && this.markers.has(marker)) ||
      new OperationIndex(list).repeats(observation)
    ) {
      return Promise.resolve('duplicate');
    }
    list.push(observation);
    this.observations.set(key, list);
    if (marker !== undefined) this.markers.add(marker);
    return Promise.resolve('recorded');
  }

  async recordMany(observations: readonly Observation[]): Promise<RecordManyResult> {
    let recorded = 0;
    for (const o of observations) if ((await this.record(o)) === 'recorded') recorded += 1;
    return { recorded, duplicate: observations.length - recorded };
  }

  hasMarker(resourceId: string, marker: string): Promise<boolean> {
    return Promise.resolve(this.markers.has(`${vmKey(resourceId)}#${marker}`));
  }

  getCurrent(resourceId: string): Promise<CurrentState | undefined> {
    const key = vmKey(resourceId);
    const derived = deriveCurrent(this.observations.get(key) ?? []);
    if (derived === undefined) return Promise.resolve(undefined);
    const details = this.details.get(key);
    const subscriptionId = key.split('|')[1] ?? '';
    return Promise.resolve({ ...derived, subscriptionId, details: details?.details, detailsAt: details?.at });
  }

  async *listCurrent(subscriptionId: string): AsyncIterable<CurrentState[]> {
    const rows: CurrentState[] = [];
    for (const key of this.observations.keys()) {
      if (key.split('|')[1] !== subscriptionId.toLowerCase()) continue;
      const current = await this.getCurrent(this.observations.get(key)?.[0]?.resourceId ?? '');
      if (current !== undefined) rows.push(current);
    }
    yield rows;
  }

  async *listScaleSetCurrent(scaleSetId: string): AsyncIterable<CurrentState[]> {
    const prefix = `${vmKey(scaleSetId)}|virtualmachines|`;
    const rows: CurrentState[] = [];
    for (const [key, list] of this.observations) {
      if (!key.startsWith(prefix)) continue;
      const current = await this.getCurrent(list[0]?.resourceId ?? '');
      if (current !== undefined) rows.push(current);
    }
    yield rows;
  }

  async *listAllCurrent(): AsyncIterable<CurrentState[]> {
    const rows: CurrentState[] = [];
    for (const list of this.observations.values()) {
      const current = await this.getCurrent(list[0]?.resourceId ?? '');
      if (current !== undefined) rows.push(current);
    }
    yield rows;
  }

  getTimeline(resourceId: string, range: TimeRange = {}): Promise<Timeline | undefined> {
    const list = this.observations.get(vmKey(resourceId));
    if (list === undefined) return Promise.resolve(undefined);
    const segments = deriveSegments(list).filter(
      (s) =>
        (range.to === undefined || s.start < range.to) &&
        (range.from === undefined || s.end === undefined || s.end > range.from),
    );
    return Promise.resolve({ resourceId: list[0]?.resourceId ?? resourceId, segments });
  }

  updateDetails(resourceId: string, details: VmDetails, detailsAt: number): Promise<boolean> {
    const key = vmKey(resourceId);
    if (!this.observations.has(key)) return Promise.resolve(false);
    this.details.set(key, { details, at: detailsAt });
    return Promise.resolve(true);
  }
}

export class MemoryRejectedStore implements RejectedEventStore {
  readonly items: RejectedEvent[] = [];
  record(rejected: RejectedEvent): Promise<void> {
    this.items.push(rejected);
    return Promise.resolve();
  }
  async *list(): AsyncIterable<RejectedEvent> {
    await Promise.resolve();
    yield* this.items;
  }
}

/** A management client answering from a map of resource id → statuses; counts calls. */
export class FakeManagement implements ManagementClient {
  readonly stats = { requests: 0, throttled: 0 };
  readonly instanceViews = new Map<string, InstanceViewStatus[]>();
  readonly scaleSetInstances = new Map<
    string,
    Array<{ resourceId: string; statuses: InstanceViewStatus[] }>
  >();

  getInstanceView(resourceId: string): Promise<InstanceViewStatus[] | undefined> {
    this.stats.requests += 1;
    return Promise.resolve(this.instanceViews.get(resourceId.toLowerCase()));
  }
  async *listScaleSetInstances(scaleSetId: string): AsyncIterable<ListedPage> {
    this.stats.requests += 1;
    const instances = this.scaleSetInstances.get(scaleSetId.toLowerCase()) ?? [];
    yield {
      vms: await Promise.resolve(
        instances.map((i) => ({
          resourceId: i.resourceId,
          name: i.resourceId.split('/').pop() ?? '',
          statuses: i.statuses,
        })),
      ),
    };
  }
  // eslint-disable-next-line require-yield
  async *listVmStatuses(): AsyncIterable<ListedPage> {
    await Promise.resolve();
    throw new Error('FakeManagement.listVmStatuses is not scripted');
  }
  // eslint-disable-next-line require-yield
  async *listVmDetails(): AsyncIterable<ListedPage> {
    await Promise.resolve();
    throw new Error('FakeManagement.listVmDetails is not scripted');
  }
  // eslint-disable-next-line require-yield
  async *listScaleSets(): AsyncIterable<string[]> {
    await Promise.resolve();
    throw new Error('FakeManagement.listScaleSets is not scripted');
  }
  // eslint-disable-next-line require-yield
  async *listSubscriptions(): AsyncIterable<string> {
    await Promise.resolve();
    throw new Error('FakeManagement.listSubscriptions is not scripted');
  }
  // eslint-disable-next-line require-yield
  async *listManagementGroupSubscriptions(): AsyncIterable<DiscoveredSubscription[]> {
    await Promise.resolve();
    throw new Error('FakeManagement.listManagementGroupSubscriptions is not scripted');
  }
}

export const noLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
