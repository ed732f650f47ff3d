/**
 * The sandbox subscription of `npm start` when no real one is configured: the management emulator
 * (`kit/emulator/`) with a small fleet (10 VMs and a 3-instance scale set) that keeps changing: starts,
 * restarts, power-offs, deallocations, hibernation, creates, deletes, scale-set-wide actions, and the
 * changes that raise no management event: guest-OS shutdowns, Spot evictions and platform reboots (host
 * crashes), which Resource Health annotates (9 times in 10, late, sometimes twice). Operations that raise
 * an event in Azure are delivered to the Event Grid
 * webhook over HTTP (late, sometimes twice, in no order; see `event-delivery.ts`); the others only the
 * reconciler sees. `seedHistory` replays a few days of past operations so the dashboard has something to
 * show at once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/app/ports';
import {
  EmulatedPowerState,
  startArmEmulator,
  type ArmEmulator,
  type EmulatedVm,
  type VmInput,
} from '../emulator/arm-emulator';
import { EventDelivery } from './event-delivery';
import { seededRandom } from '../emulator/seeded-random';
import { PowerChangeBy } from '../emulator/arm-fleet';
import { startMetricsEmulator } from '../emulator/metrics-emulator';

export const sandboxSubscriptionId = '5a4db0c5-0000-4000-8000-00000000000a';
const tenantId = '5a4db0c5-0000-4000-8000-0000000000ff';
const callers = ['alice@contoso.com', 'bob@contoso.com', 'ops-automation@contoso.com'] as const;

export const SandboxOperation = {
  start: 'start',
  restart: 'restart',
  powerOff: 'powerOff',
  deallocate: 'deallocate',
  hibernate: 'hibernate',
  /** Shut down from inside the guest OS: Stopped (allocated), still billed, and no event. */
  guestShutdown: 'guestShutdown',
  /** Spot eviction (policy Deallocate): the platform deallocates, no management event. */
  evict: 'evict',
  /**
   * The host crashed: the platform stops the VM (values of the availability metric stop) and, live,
   * reboots it a few minutes later; no management event.
   */
  hostCrash: 'hostCrash',
  delete: 'delete',
  create: 'create',
} as const;
export type SandboxOperation = (typeof SandboxOperation)[keyof typeof SandboxOperation];

const fleetSpec: readonly (Omit<VmInput, 'subscriptionId'> & { name: string })[] = [
  { resourceGroup: 'rg-web', name: 'web-01', vmSize: 'Standard_D2s_v5', tags: { env: 'prod', team: 'web' } },
  { resourceGroup: 'rg-web', name: 'web-02', vmSize: 'Standard_D2s_v5', tags: { env: 'prod', team: 'web' } },
  { resourceGroup: 'rg-data', name: 'db-01', vmSize: 'Standard_E4s_v5', tags: { env: 'prod', team: 'data' } },
  {
    resourceGroup: 'rg-data',
    name: 'etl-01',
    vmSize: 'Standard_D4s_v5',
    tags: { env: 'prod', team: 'data' },
  },
  {
    resourceGroup: 'rg-dev',
    name: 'dev-01',
    vmSize: 'Standard_B2ms',
    osType: 'Windows',
    tags: { env: 'dev', team: 'web' },
  },
  { resourceGroup: 'rg-dev', name: 'dev-02', vmSize: 'Standard_D2s_v5', tags: { env: 'dev', team: 'data' } },
  {
    resourceGroup: 'rg-dev',
    name: 'build-01',
    vmSize: 'Standard_F8s_v2',
    priority: 'Spot',
    tags: { env: 'dev', team: 'platform' },
  },
  {
    resourceGroup: 'rg-dev',
    name: 'test-01',
    vmSize: 'Standard_B2s',
    tags: { env: 'test', team: 'platform' },
  },
  {
    resourceGroup: 'rg-dev',
    name: 'spot-01',
    vmSize: 'Standard_F4s_v2',
    priority: 'Spot',
    tags: { env: 'dev', team: 'platform' },
  },
  {
    resourceGroup: 'rg-dev',
    name: 'hpc-01',
    vmSize: 'Standard_D4s_v5',
    tags: { env: 'dev', team: 'platform' },
  },
];
const scaleSet = {
  resourceGroup: 'rg-web',
  name: 'vmss-api',
  capacity: 3,
  vmSize: 'Standard_D2s_v5',
  tags: { env: 'prod', team: 'web' },
};

/** A past operation of the seeded history: day offset (0 = today, UTC) and time of day, or hours ago. */
interface HistoryStep {
  vm: string;
  op: SandboxOperation;
  day?: number;
  at?: string;
  hoursAgo?: number;
}

const history: readonly HistoryStep[] = [
  ...['web-01', 'web-02', 'db-01', 'test-01', 'vmss-api_0', 'vmss-api_1', 'vmss-api_2'].map(
    (vm): HistoryStep => ({ vm, op: SandboxOperation.start, day: -3, at: '06:00' }),
  ),
  { vm: 'web-02', op: SandboxOperation.restart, day: -1, at: '03:10' },
  { vm: 'db-01', op: SandboxOperation.powerOff, day: -2, at: '13:00' },
  { vm: 'db-01', op: SandboxOperation.start, day: -2, at: '15:30' },
  ...[-3, -2, -1].flatMap((day): HistoryStep[] => [
    { vm: 'etl-01', op: SandboxOperation.start, day, at: '02:00' },
    { vm: 'etl-01', op: SandboxOperation.deallocate, day, at: '04:30' },
  ]),
  ...[-3, -2].flatMap((day): HistoryStep[] => [
    { vm: 'dev-01', op: SandboxOperation.start, day, at: '08:00' },
    { vm: 'dev-01', op: SandboxOperation.deallocate, day, at: '18:00' },
  ]),
  { vm: 'dev-01', op: SandboxOperation.start, day: -1, at: '08:05' },
  { vm: 'dev-01', op: SandboxOperation.guestShutdown, day: -1, at: '19:20' },
  ...[-2, -1].flatMap((day): HistoryStep[] => [
    { vm: 'dev-02', op: SandboxOperation.start, day, at: '09:00' },
    { vm: 'dev-02', op: SandboxOperation.hibernate, day, at: '17:00' },
  ]),
  { vm: 'vmss-api_2', op: SandboxOperation.deallocate, day: -2, at: '20:00' },
  { vm: 'vmss-api_2', op: SandboxOperation.start, day: -1, at: '07:00' },
  { vm: 'test-01', op: SandboxOperation.delete, day: -1, at: '12:00' },
  { vm: 'build-01', op: SandboxOperation.start, hoursAgo: 9 },
  { vm: 'build-01', op: SandboxOperation.powerOff, hoursAgo: 5 },
  // Stops without a management event, each annotated by Resource Health (the dashboard shows why).
  { vm: 'spot-01', op: SandboxOperation.start, day: -1, at: '06:30' },
  { vm: 'spot-01', op: SandboxOperation.evict, hoursAgo: 4 },
  { vm: 'hpc-01', op: SandboxOperation.start, day: -1, at: '07:10' },
  { vm: 'hpc-01', op: SandboxOperation.hostCrash, hoursAgo: 3 },
];

export interface SandboxOptions {
  log: Logger;
  seed?: number;
  /** Milliseconds between two live operations (default 15 s). */
  intervalInMs?: number;
  /** Emulator port (default 0: a free one). */
  port?: number;
  /** Delay range of a live event's first delivery (default 1-8 s). */
  deliveryDelayInMs?: { min: number; max: number };
  /** Clock (default Date.now). */
  now?: () => number;
}

export interface SandboxStats {
  operations: number;
  silentChanges: number;
  eventsPublished: number;
  eventsDelivered: number;
}

/** Takes one batch of the sandbox's history; answers an HTTP-like status (200 when taken). */
export type HistorySink = (events: readonly unknown[]) => Promise<number>;

export interface Sandbox {
  readonly subscriptionId: string;
  /** The emulator's URL: the app's `ARM_ENDPOINT`. */
  readonly armEndpoint: string;
  /** The metrics batch emulator's URL (`VmAvailabilityMetric` of the fleet): the app's `METRICS_ENDPOINT`. */
  readonly metricsEndpoint: string;
  readonly emulator: ArmEmulator;
  /**
   * Hands the seeded history (days old: a backfill, which Event Grid would never deliver) to `sink`, in
   * batches of up to 10, out of order and partly twice. Returns the events handed over.
   */
  seedHistory(sink: HistorySink): Promise<number>;
  /** Starts the live changes, delivered to the webhook. */
  startLive(webhookUrl: string): void;
  /** One live operation now (tests). */
  step(): void;
  stats(): SandboxStats;
  stop(): Promise<void>;
}

function operationName(vm: EmulatedVm | undefined, op: SandboxOperation, scaleSetWide = false): string {
  const base = scaleSetWide
    ? 'Microsoft.Compute/virtualMachineScaleSets'
    : vm?.instanceId !== undefined
      ? 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
      : 'Microsoft.Compute/virtualMachines';
  switch (op) {
    case SandboxOperation.delete:
      return `${base}/delete`;
    case SandboxOperation.create:
      return `${base}/write`;
    case SandboxOperation.hibernate:
      return `${base}/deallocate/action`;
    default:
      return `${base}/${op}/action`;
  }
}

const annotationOf: Readonly<Partial<Record<SandboxOperation, string>>> = {
  guestShutdown: 'VirtualMachineStoppedInternally',
  evict: 'VirtualMachinePreempted',
  hostCrash: 'VirtualMachineHostCrashed',
};

/** Share of silent changes Resource Health annotates (the rest raise nothing at all). */
export const annotatedShare = 0.9;

/** The annotations the sandbox raises, with the context and category Resource Health gives them. */
const annotationTexts: Readonly<
  Record<string, { reason: string; summary: string; context: string; category: string }>
> = {
  VirtualMachineStoppedInternally: {
    reason: 'Stopped by user or process',
    summary:
      'This virtual machine is stopping as requested by an authorized user or process, or due to a guest activity from within the virtual machine.',
    context: 'Customer Initiated',
    category: 'Not Applicable',
  },
  VirtualMachinePreempted: {
    reason: 'Preempted',
    summary: 'This Spot virtual machine was evicted by the platform (capacity or price).',
    context: 'Platform Initiated',
    category: 'Unplanned',
  },
  VirtualMachineHostCrashed: {
    reason: 'Host crashed',
    summary: 'The host of this virtual machine crashed; the platform is recovering the virtual machine.',
    context: 'Platform Initiated',
    category: 'Unplanned',
  },
};

const targetResourceType = (resourceUri: string): string =>
  /virtualMachineScaleSets/i.test(resourceUri)
    ? 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines'
    : 'Microsoft.Compute/virtualMachines';

/**
 * An `AvailabilityStatusChanged` event as the HealthResources system topic delivers it (Event Grid
 * schema; the shape of the documented sample, docs-health-AvailabilityStatusChanged-eventgrid.json).
 */
export function sandboxAvailabilityEvent(
  resourceUri: string,
  previousAvailabilityState: string,
  availabilityState: string,
  at: number,
): Record<string, unknown> {
  const id = randomUUID();
  const occurredTime = new Date(at).toISOString();
  return {
    id,
    topic: `/subscriptions/${sandboxSubscriptionId}`,
    subject: resourceUri,
    data: {
      resourceInfo: {
        id: `${resourceUri}/providers/Microsoft.ResourceHealth/availabilityStatuses/${id}`,
        name: id,
        type: 'Microsoft.ResourceHealth/availabilityStatuses',
        properties: {
          targetResourceId: resourceUri,
          targetResourceType: targetResourceType(resourceUri),
          occurredTime,
          previousAvailabilityState,
          availabilityState,
        },
      },
      operationalInfo: { resourceEventTime: occurredTime },
      apiVersion: '2023-12-01',
    },
    eventType: 'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged',
    dataVersion: '1',
    metadataVersion: '1',
    eventTime: occurredTime,
  };
}

/**
 * A `ResourceAnnotated` event as the HealthResources system topic delivers it (Event Grid schema, the
 * shape of learn.microsoft.com/azure/event-grid/event-schema-health-resources), with the annotation's
 * own reason, summary, context and category.
 */
export function sandboxHealthEvent(
  resourceUri: string,
  annotation: string,
  at: number,
): Record<string, unknown> {
  const id = randomUUID();
  const occurredTime = new Date(at).toISOString();
  const texts = annotationTexts[annotation] ?? {
    reason: annotation,
    summary: annotation,
    context: 'Platform Initiated',
    category: 'Unplanned',
  };
  return {
    id,
    topic: `/subscriptions/${sandboxSubscriptionId}`,
    subject: resourceUri,
    eventType: 'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated',
    eventTime: occurredTime,
    data: {
      resourceInfo: {
        id: `${resourceUri}/providers/Microsoft.ResourceHealth/resourceAnnotations/${id}`,
        name: id,
        type: 'Microsoft.ResourceHealth/resourceAnnotations',
        properties: {
          targetResourceId: resourceUri,
          targetResourceType: targetResourceType(resourceUri),
          occurredTime,
          annotationName: annotation,
          ...texts,
        },
      },
      operationalInfo: { resourceEventTime: occurredTime },
      apiVersion: '2022-08-01',
    },
    dataVersion: '1',
    metadataVersion: '1',
  };
}

/** An Event Grid schema event as a subscription system topic delivers it. */
export function sandboxEvent(
  resourceUri: string,
  operation: string,
  at: number,
  caller: string,
  requestUrl?: string,
): Record<string, unknown> {
  const id = randomUUID();
  const type = operation.endsWith('/delete')
    ? 'ResourceDeleteSuccess'
    : operation.endsWith('/write')
      ? 'ResourceWriteSuccess'
      : 'ResourceActionSuccess';
  const method = operation.endsWith('/delete') ? 'DELETE' : operation.endsWith('/write') ? 'PUT' : 'POST';
  return {
    id,
    topic: `/subscriptions/${sandboxSubscriptionId}`,
    subject: resourceUri,
    eventType: `Microsoft.Resources.${type}`,
    eventTime: new Date(at).toISOString(),
    data: {
      authorization: {
        scope: resourceUri,
        action: operation,
        evidence: { role: 'Virtual Machine Contributor' },
      },
      claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': caller },
      correlationId: randomUUID(),
      httpRequest: {
        clientRequestId: randomUUID(),
        clientIpAddress: '192.0.2.10',
        method,
        url: requestUrl ?? `https://management.azure.com${resourceUri}?api-version=2024-07-01`,
      },
      resourceProvider: 'Microsoft.Compute',
      resourceUri,
      operationName: operation,
      status: 'Succeeded',
      subscriptionId: sandboxSubscriptionId,
      tenantId,
    },
    dataVersion: '2',
    metadataVersion: '1',
  };
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const now = options.now ?? Date.now;
  const random = seededRandom(options.seed ?? 7);
  // The Activity Log draws from its own sequence, so the fleet's changes stay those of the seed.
  const logRandom = seededRandom((options.seed ?? 7) + 1);
  // Resource Health's own sequence: annotating guest shutdowns leaves the fleet's seeded changes as they were.
  const healthRandom = seededRandom((options.seed ?? 7) + 2);
  const emulator = await startArmEmulator({ port: options.port ?? 0, pageSize: 5, now });
  const { fleet } = emulator;
  const metrics = await startMetricsEmulator(fleet);
  fleet.addSubscription(sandboxSubscriptionId, 'Sandbox subscription');
  // The event wiring the deployment creates (coverage's daily ARM read finds it): both system topics, each
  // with its event subscription to `vmEvents`. The sandbox's webhook delivery stands in for Event Grid's.
  for (const [name, topicType, subscription] of [
    ['evgst-vmtimeline-sandbox', 'Microsoft.Resources.Subscriptions', 'vm-power-events'],
    [
      'evgst-vmtimeline-health-sandbox',
      'Microsoft.ResourceNotifications.HealthResources',
      'vm-health-events',
    ],
  ] as const) {
    const topic = fleet.addSystemTopic({
      subscriptionId: sandboxSubscriptionId,
      resourceGroup: 'rg-vmtimeline',
      name,
      topicType,
    });
    fleet.addTopicEventSubscription(topic.id, {
      name: subscription,
      endpointType: 'AzureFunction',
      destinationResourceId: `/subscriptions/${sandboxSubscriptionId}/resourceGroups/rg-vmtimeline/providers/Microsoft.Web/sites/func-vmtimeline-sandbox/functions/vmEvents`,
      includedEventTypes: [],
    });
  }
  const initial = { powerState: EmulatedPowerState.deallocated };
  for (const spec of fleetSpec) fleet.addVm({ ...initial, ...spec, subscriptionId: sandboxSubscriptionId });
  const scaleSetId = fleet.addScaleSet({
    ...scaleSet,
    subscriptionId: sandboxSubscriptionId,
    instance: initial,
  }).id;
  const stats: SandboxStats = { operations: 0, silentChanges: 0, eventsPublished: 0, eventsDelivered: 0 };
  let delivery: EventDelivery | undefined;
  let liveTimer: NodeJS.Timeout | undefined;
  let created = 0;

  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
  const allVms = (): EmulatedVm[] => [
    ...fleet.listVms(sandboxSubscriptionId),
    ...fleet.listScaleSetInstances(scaleSetId),
  ];
  const byName = (name: string): EmulatedVm | undefined => allVms().find((vm) => vm.name === name);

  /**
   * The operation's Activity Log records: Started and Accepted when it was accepted (20 s to 3 min before
   * it completed at `at`), Succeeded at `at`, each queryable 3-20 minutes later; the same correlation id
   * as its event.
   */
  const logOperation = (
    vm: EmulatedVm,
    op: SandboxOperation,
    at: number,
    caller: string,
    correlationId?: string,
  ): void => {
    if (
      op === SandboxOperation.guestShutdown ||
      op === SandboxOperation.evict ||
      op === SandboxOperation.hostCrash
    )
      return;
    const durationInMs = 20_000 + Math.floor(logRandom() * 160_000);
    fleet.activityLog.addOperation({
      resourceId: vm.id,
      operation:
        op === SandboxOperation.hibernate ? 'deallocate' : op === SandboxOperation.create ? 'write' : op,
      startedAt: at - durationInMs,
      durationInMs,
      hibernate: op === SandboxOperation.hibernate,
      created: op === SandboxOperation.create,
      caller,
      ...(correlationId === undefined ? {} : { correlationId }),
      lagInMs: () => 3 * 60_000 + Math.floor(logRandom() * 17 * 60_000),
    });
  };

  /**
   * Resource Health's events for a change without a management event: the annotation (9 times in 10, or
   * as `annotate` says) and, for the platform's, the availability change a second later (as often).
   */
  const healthEvents = (
    vm: EmulatedVm,
    op: SandboxOperation,
    at: number,
    annotate?: boolean,
  ): Record<string, unknown>[] => {
    const annotation = annotationOf[op];
    if (annotation === undefined) return [];
    const events: Record<string, unknown>[] = [];
    if (annotate ?? healthRandom() < annotatedShare) events.push(sandboxHealthEvent(vm.id, annotation, at));
    if (op !== SandboxOperation.guestShutdown && (annotate ?? healthRandom() < annotatedShare))
      events.push(sandboxAvailabilityEvent(vm.id, 'Available', 'Unavailable', at + 1000));
    return events;
  };

  /** Applies an operation to the fleet; the events Azure would raise (none for an unannotated silent change). */
  const apply = (
    vm: EmulatedVm,
    op: SandboxOperation,
    at: number,
    annotate?: boolean,
  ): Record<string, unknown>[] => {
    const event = applyToFleet(vm, op, at);
    if (event === undefined) return healthEvents(vm, op, at, annotate);
    const data = event['data'] as { correlationId?: string; claims?: Record<string, string> } | undefined;
    logOperation(
      vm,
      op,
      at,
      data?.claims?.['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'] ?? callers[0],
      data?.correlationId,
    );
    return [event];
  };

  /** Applies an operation to the fleet; its management event, or undefined for a silent change. */
  const applyToFleet = (
    vm: EmulatedVm,
    op: SandboxOperation,
    at: number,
  ): Record<string, unknown> | undefined => {
    stats.operations += 1;
    const caller = pick(callers) ?? callers[0];
    switch (op) {
      case SandboxOperation.start:
      case SandboxOperation.restart:
        fleet.setPowerState(vm.id, EmulatedPowerState.running);
        break;
      case SandboxOperation.powerOff:
        fleet.setPowerState(vm.id, EmulatedPowerState.stopped);
        break;
      case SandboxOperation.guestShutdown:
        fleet.setPowerState(vm.id, EmulatedPowerState.stopped, { by: PowerChangeBy.guest });
        stats.silentChanges += 1;
        // No management event; Resource Health annotates it, but not always (a documented known issue).
        return undefined;
      case SandboxOperation.evict:
        // The eviction policy Deallocate: not billed; the platform's doing, so the metric's values stop.
        fleet.setPowerState(vm.id, EmulatedPowerState.deallocated);
        stats.silentChanges += 1;
        return undefined;
      case SandboxOperation.hostCrash:
        fleet.setPowerState(vm.id, EmulatedPowerState.stopped);
        stats.silentChanges += 1;
        return undefined;
      case SandboxOperation.deallocate:
        fleet.setPowerState(vm.id, EmulatedPowerState.deallocated);
        break;
      case SandboxOperation.hibernate:
        fleet.setPowerState(vm.id, EmulatedPowerState.deallocated, { hibernated: true });
        return sandboxEvent(
          vm.id,
          operationName(vm, op),
          at,
          caller,
          `https://management.azure.com${vm.id}/deallocate?hibernate=true&api-version=2024-07-01`,
        );
      case SandboxOperation.delete:
        fleet.removeVm(vm.id);
        break;
      case SandboxOperation.create:
        break;
    }
    return sandboxEvent(vm.id, operationName(vm, op), at, caller);
  };

  const publish = (events: readonly Record<string, unknown>[]): void => {
    if (!delivery) return;
    for (const event of events) {
      stats.eventsPublished += 1;
      delivery.publish(event);
    }
  };
  const reboots = new Set<NodeJS.Timeout>();

  /** A live host crash: the platform brings the VM back a few intervals later, if nothing else moved it. */
  const rebootLater = (vm: EmulatedVm, crashedAt: number): void => {
    const timer = setTimeout(
      () => {
        reboots.delete(timer);
        const last = fleet.powerChanges(vm.id).at(-1);
        if (fleet.getVm(vm.id) === undefined || last?.at !== crashedAt) return;
        const at = now();
        fleet.setPowerState(vm.id, EmulatedPowerState.running);
        stats.silentChanges += 1;
        if (healthRandom() < annotatedShare)
          publish([sandboxAvailabilityEvent(vm.id, 'Unavailable', 'Available', at)]);
      },
      (options.intervalInMs ?? 15_000) * (2 + random()),
    );
    reboots.add(timer);
  };

  /** One plausible live change. */
  const step = (): void => {
    const at = now();
    const roll = random();
    const standalone = fleet.listVms(sandboxSubscriptionId);
    if (roll < 0.06) {
      // A scale-set-wide action: the event names the scale set only; the app re-lists its instances.
      const running = fleet
        .listScaleSetInstances(scaleSetId)
        .some((vm) => vm.powerState === EmulatedPowerState.running);
      const op = running ? SandboxOperation.deallocate : SandboxOperation.start;
      for (const vm of fleet.listScaleSetInstances(scaleSetId))
        fleet.setPowerState(vm.id, running ? EmulatedPowerState.deallocated : EmulatedPowerState.running);
      stats.operations += 1;
      const event = sandboxEvent(scaleSetId, operationName(undefined, op, true), at, callers[2]);
      // Its Activity Log records name the scale set, with the event's correlation id.
      const durationInMs = 20_000 + Math.floor(logRandom() * 160_000);
      const correlationId = (event['data'] as { correlationId?: string } | undefined)?.correlationId;
      fleet.activityLog.addOperation({
        resourceId: scaleSetId,
        operation: op === SandboxOperation.deallocate ? 'deallocate' : 'start',
        startedAt: at - durationInMs,
        durationInMs,
        caller: callers[2],
        ...(correlationId === undefined ? {} : { correlationId }),
        lagInMs: () => 3 * 60_000 + Math.floor(logRandom() * 17 * 60_000),
      });
      publish([event]);
      return;
    }
    if (roll < 0.1 && standalone.length > 6) {
      const victim = pick(standalone.filter((vm) => vm.tags['env'] !== 'prod'));
      if (victim) publish(apply(victim, SandboxOperation.delete, at));
      return;
    }
    if (roll < 0.14 && standalone.length < 10) {
      created += 1;
      const name = `scratch-${String(created).padStart(2, '0')}`;
      const vm = fleet.addVm({
        subscriptionId: sandboxSubscriptionId,
        resourceGroup: 'rg-dev',
        name,
        vmSize: 'Standard_B2s',
        tags: { env: 'dev', team: 'platform' },
      });
      publish(apply(vm, SandboxOperation.create, at));
      return;
    }
    const vm = pick(allVms());
    if (!vm) return;
    const options: SandboxOperation[] =
      vm.powerState === EmulatedPowerState.running
        ? [
            SandboxOperation.powerOff,
            SandboxOperation.deallocate,
            SandboxOperation.deallocate,
            SandboxOperation.restart,
            SandboxOperation.guestShutdown,
            SandboxOperation.hostCrash,
            ...(vm.priority === 'Spot' ? [SandboxOperation.evict, SandboxOperation.evict] : []),
            ...(vm.instanceId === undefined ? [SandboxOperation.hibernate] : []),
          ]
        : vm.powerState === EmulatedPowerState.stopped
          ? [SandboxOperation.start, SandboxOperation.deallocate]
          : [SandboxOperation.start];
    const op = pick(options) ?? SandboxOperation.start;
    publish(apply(vm, op, at));
    if (op === SandboxOperation.hostCrash) rebootLater(vm, at);
  };

  return {
    subscriptionId: sandboxSubscriptionId,
    armEndpoint: emulator.url,
    metricsEndpoint: metrics.url,
    emulator,
    async seedHistory(sink) {
      const current = now();
      const dayStart = Date.UTC(
        new Date(current).getUTCFullYear(),
        new Date(current).getUTCMonth(),
        new Date(current).getUTCDate(),
      );
      const timeOf = (step: HistoryStep): number => {
        if (step.hoursAgo !== undefined) return current - step.hoursAgo * 3_600_000;
        const [h = 0, m = 0] = (step.at ?? '00:00').split(':').map(Number);
        return Math.min(
          dayStart + (step.day ?? 0) * 86_400_000 + (h * 60 + m) * 60_000,
          current - 10 * 60_000,
        );
      };
      // Before the seeded days, only the Activity Log knows: working days of starts and deallocations
      // back to its 90-day retention, which the backfill reads when the reconciler first sees the
      // subscription.
      for (let day = -89; day <= -4; day++) {
        const date = new Date(dayStart + day * 86_400_000);
        if (date.getUTCDay() === 0 || date.getUTCDay() === 6) continue;
        for (const vm of allVms()) {
          const start = dayStart + day * 86_400_000 + (7 * 60 + Math.floor(logRandom() * 120)) * 60_000;
          const stop =
            start + (8 + Math.floor(logRandom() * 4)) * 3_600_000 + Math.floor(logRandom() * 3_600_000);
          const caller = callers[Math.floor(logRandom() * callers.length)] ?? callers[0];
          logOperation(vm, SandboxOperation.start, start, caller);
          // Some days a power-off (still billed) until a deallocation three hours later: every day ends
          // deallocated, as the seeded days begin.
          if (logRandom() < 0.1) {
            logOperation(vm, SandboxOperation.powerOff, stop, caller);
            logOperation(vm, SandboxOperation.deallocate, stop + 3 * 3_600_000, caller);
          } else {
            logOperation(vm, SandboxOperation.deallocate, stop, caller);
          }
        }
      }
      const steps = history.map((s) => ({ ...s, time: timeOf(s) })).sort((a, b) => a.time - b.time);
      const events: Record<string, unknown>[] = [];
      for (const s of steps) {
        const vm = byName(s.vm);
        if (!vm) continue;
        // The seeded silent changes are always annotated, so the dashboard shows each kind's reason; the
        // seeded host crash is not rebooted (its recovery failed), so it stays on the timeline.
        events.push(...apply(vm, s.op, s.time, true));
      }
      // As Event Grid would: out of order, some twice, several per POST.
      const deliveries = [...events, ...events.filter(() => random() < 0.15)];
      for (let i = deliveries.length - 1; i > 0; i -= 1) {
        const j = Math.floor(random() * (i + 1));
        [deliveries[i], deliveries[j]] = [
          deliveries[j] as Record<string, unknown>,
          deliveries[i] as Record<string, unknown>,
        ];
      }
      // Availability changes come last (Resource Health writes them after the annotation): the dashboard
      // then names the annotation, which says more than "Unavailable".
      const availabilityLast = (e: Record<string, unknown>): number =>
        String(e['eventType']).endsWith('.AvailabilityStatusChanged') ? 1 : 0;
      deliveries.sort((a, b) => availabilityLast(a) - availabilityLast(b));
      for (let i = 0; i < deliveries.length; i += 10) {
        const batch = deliveries.slice(i, i + 10);
        let status = 0;
        for (let attempt = 0; attempt < 5 && status !== 200; attempt += 1) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
          status = await sink(batch);
        }
        if (status !== 200) throw new Error(`the sandbox history was refused (${status})`);
      }
      stats.eventsPublished += deliveries.length;
      stats.eventsDelivered += deliveries.length;
      options.log.info('sandbox history delivered', {
        events: events.length,
        deliveries: deliveries.length,
        silentChanges: stats.silentChanges,
      });
      return deliveries.length;
    },
    startLive(webhookUrl) {
      delivery ??= new EventDelivery({
        webhookUrl,
        log: options.log,
        random,
        minDelayInMs: options.deliveryDelayInMs?.min,
        maxDelayInMs: options.deliveryDelayInMs?.max,
      });
      const interval = options.intervalInMs ?? 15_000;
      const tick = (): void => {
        step();
        // Jitter so changes do not land on a fixed beat.
        liveTimer = setTimeout(tick, interval * (0.5 + random()));
      };
      liveTimer = setTimeout(tick, interval * random());
    },
    step,
    stats: () => ({ ...stats, eventsDelivered: stats.eventsDelivered + (delivery?.delivered ?? 0) }),
    async stop() {
      if (liveTimer) clearTimeout(liveTimer);
      for (const timer of reboots) clearTimeout(timer);
      await delivery?.stop();
      await emulator.close();
      await metrics.close();
    },
  };
}
