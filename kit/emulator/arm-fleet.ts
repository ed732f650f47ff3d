/**
 * The emulated Azure fleet: subscriptions, VMs, uniform scale sets and their instances. Tests and the
 * local sandbox change it at any time (including changes no event announces); the ARM emulator serves it.
 */
import { randomUUID } from 'node:crypto';
import { EmulatedActivityLog } from './arm-activity-log';

/** Power codes as the instance view writes them after `PowerState/`. */
export const EmulatedPowerState = {
  creating: 'creating',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  deallocating: 'deallocating',
  deallocated: 'deallocated',
} as const;
export type EmulatedPowerState = (typeof EmulatedPowerState)[keyof typeof EmulatedPowerState];

export const EmulatedProvisioningState = {
  creating: 'creating',
  updating: 'updating',
  succeeded: 'succeeded',
  failed: 'failed',
  deleting: 'deleting',
} as const;
export type EmulatedProvisioningState =
  (typeof EmulatedProvisioningState)[keyof typeof EmulatedProvisioningState];

/** Where the power state is left out: `none` (normal), `list` (statusOnly listing only), `all` (instance views too). */
export const PowerStateMissing = { none: 'none', list: 'list', all: 'all' } as const;
export type PowerStateMissing = (typeof PowerStateMissing)[keyof typeof PowerStateMissing];

export const OrchestrationMode = { uniform: 'Uniform', flexible: 'Flexible' } as const;
export type OrchestrationMode = (typeof OrchestrationMode)[keyof typeof OrchestrationMode];

export interface EmulatedSubscription {
  subscriptionId: string;
  displayName: string;
  /** The management group directly above it, when it sits in one. */
  managementGroupId?: string | undefined;
}

export interface EmulatedManagementGroup {
  /** The group's name (its id in paths), e.g. `contoso-prod`. */
  groupId: string;
  displayName: string;
  /** The parent group; undefined for a root. */
  parentId?: string | undefined;
}

/** One entity under a management group (the Management Groups API `descendants` listing). */
export type EmulatedDescendant =
  | { kind: 'managementGroup'; group: EmulatedManagementGroup }
  | { kind: 'subscription'; subscription: EmulatedSubscription; parentId: string };

/** An Event Grid system topic of a subscription (`Microsoft.EventGrid/systemTopics`). */
export interface EmulatedSystemTopic {
  /** `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.EventGrid/systemTopics/{name}`. */
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** e.g. `Microsoft.Resources.Subscriptions`, `Microsoft.ResourceNotifications.HealthResources`. */
  topicType: string;
  /** The topic's source: the subscription id path for the two subscription-wide types. */
  source: string;
  eventSubscriptions: EmulatedTopicEventSubscription[];
}

/** An event subscription of a system topic. */
export interface EmulatedTopicEventSubscription {
  name: string;
  /** `AzureFunction` (destination `resourceId`), `WebHook`, `StorageQueue`, ... */
  endpointType: string;
  /** The destination resource (for `AzureFunction`: `{function app id}/functions/{name}`). */
  destinationResourceId?: string | undefined;
  includedEventTypes: string[];
  provisioningState: string;
}

/** Mutable attributes of a VM or scale-set instance. */
export interface EmulatedVmAttributes {
  powerState: EmulatedPowerState;
  provisioningState: EmulatedProvisioningState;
  /** Error code written after `ProvisioningState/failed/`. */
  provisioningErrorCode?: string | undefined;
  hibernated: boolean;
  vmSize: string;
  location: string;
  osType: 'Linux' | 'Windows';
  priority: 'Regular' | 'Spot' | 'Low';
  tags: Record<string, string>;
  powerStateMissing: PowerStateMissing;
  /** When the provisioning state last changed (the `time` of its status). */
  provisioningChangedAt: Date;
}

export interface EmulatedVm extends EmulatedVmAttributes {
  /** Resource id, original casing. */
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  /** VM name, or `{scaleSet}_{instanceId}` for an instance. */
  name: string;
  vmId: string;
  /** Set for scale-set instances. */
  scaleSetName?: string | undefined;
  instanceId?: string | undefined;
}

export interface EmulatedScaleSet {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  vmSize: string;
  orchestrationMode: OrchestrationMode;
  tags: Record<string, string>;
  uniqueId: string;
}

export type VmInput = Partial<EmulatedVmAttributes> & {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
};

export type ScaleSetInput = Partial<Omit<EmulatedScaleSet, 'id' | 'uniqueId'>> & {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** Number of instances to create now (instance ids 0..n-1), with these attributes. */
  capacity?: number;
  instance?: Partial<EmulatedVmAttributes>;
};

export function vmResourceId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`;
}

export function scaleSetResourceId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
}

const key = (id: string): string => id.toLowerCase();

function defaults(now: Date): EmulatedVmAttributes {
  return {
    powerState: EmulatedPowerState.running,
    provisioningState: EmulatedProvisioningState.succeeded,
    hibernated: false,
    vmSize: 'Standard_D2s_v5',
    location: 'westeurope',
    osType: 'Linux',
    priority: 'Regular',
    tags: {},
    powerStateMissing: PowerStateMissing.none,
    provisioningChangedAt: now,
  };
}

/** In-memory fleet. Listing order is insertion order; ids are matched case-insensitively. */
/** Who changed a VM's power state: the guest OS (emits availability 0) or the control plane (stops emitting). */
export const PowerChangeBy = { guest: 'guest', controlPlane: 'controlPlane' } as const;
export type PowerChangeBy = (typeof PowerChangeBy)[keyof typeof PowerChangeBy];

/** One power change of a VM, kept for the availability metric. */
export interface PowerChange {
  /** Epoch ms (the fleet's clock). */
  at: number;
  powerState: EmulatedPowerState;
  by: PowerChangeBy;
}

export class EmulatedFleet {
  private readonly subscriptions = new Map<string, EmulatedSubscription>();
  /** Power changes by lower-cased VM id, oldest first (the truth the availability metric follows). */
  private readonly powerHistory = new Map<string, PowerChange[]>();
  /** VMs and scale-set instances, by lower-cased id. */
  private readonly vms = new Map<string, EmulatedVm>();
  private readonly scaleSets = new Map<string, EmulatedScaleSet>();
  /** The subscriptions' Activity Log (management records, 90 days). */
  readonly activityLog: EmulatedActivityLog;
  private readonly managementGroups = new Map<string, EmulatedManagementGroup>();
  /** Event Grid system topics, by lower-cased id. */
  private readonly systemTopics = new Map<string, EmulatedSystemTopic>();

  constructor(private readonly now: () => number = Date.now) {
    this.activityLog = new EmulatedActivityLog(now);
  }

  addSubscription(
    subscriptionId: string,
    displayName = `Subscription ${subscriptionId}`,
  ): EmulatedSubscription {
    const existing = this.subscriptions.get(key(subscriptionId));
    if (existing) return existing;
    const subscription = { subscriptionId, displayName };
    this.subscriptions.set(key(subscriptionId), subscription);
    return subscription;
  }

  /** Adds (or updates) a management group under `parentId` (none: a root group). */
  addManagementGroup(
    groupId: string,
    options: { parentId?: string; displayName?: string } = {},
  ): EmulatedManagementGroup {
    const group: EmulatedManagementGroup = {
      groupId,
      displayName: options.displayName ?? `Group ${groupId}`,
      parentId: options.parentId,
    };
    this.managementGroups.set(key(groupId), group);
    return group;
  }

  getManagementGroup(groupId: string): EmulatedManagementGroup | undefined {
    return this.managementGroups.get(key(groupId));
  }

  /** Places a subscription (added when new) directly under a management group. */
  moveSubscription(subscriptionId: string, managementGroupId: string | undefined): EmulatedSubscription {
    const subscription = this.addSubscription(subscriptionId);
    subscription.managementGroupId = managementGroupId;
    return subscription;
  }

  /**
   * Every group and subscription under `groupId`, at any depth, parents before children (the order of
   * the `descendants` listing). Empty when the group does not exist.
   */
  listDescendants(groupId: string): EmulatedDescendant[] {
    const result: EmulatedDescendant[] = [];
    const visit = (parent: string): void => {
      for (const subscription of this.subscriptions.values()) {
        if (
          subscription.managementGroupId !== undefined &&
          key(subscription.managementGroupId) === key(parent)
        )
          result.push({ kind: 'subscription', subscription, parentId: parent });
      }
      for (const group of this.managementGroups.values()) {
        if (group.parentId !== undefined && key(group.parentId) === key(parent)) {
          result.push({ kind: 'managementGroup', group });
          visit(group.groupId);
        }
      }
    };
    const root = this.getManagementGroup(groupId);
    if (root !== undefined) visit(root.groupId);
    return result;
  }

  /** Adds (or replaces) an Event Grid system topic of a subscription (source: the subscription). */
  addSystemTopic(input: {
    subscriptionId: string;
    resourceGroup: string;
    name: string;
    topicType: string;
  }): EmulatedSystemTopic {
    this.addSubscription(input.subscriptionId);
    const topic: EmulatedSystemTopic = {
      ...input,
      id: `/subscriptions/${input.subscriptionId}/resourceGroups/${input.resourceGroup}/providers/Microsoft.EventGrid/systemTopics/${input.name}`,
      source: `/subscriptions/${input.subscriptionId}`,
      eventSubscriptions: [],
    };
    this.systemTopics.set(key(topic.id), topic);
    return topic;
  }

  /** Adds (or replaces by name) an event subscription of a system topic. */
  addTopicEventSubscription(
    topicId: string,
    input: Omit<EmulatedTopicEventSubscription, 'provisioningState'> & { provisioningState?: string },
  ): EmulatedTopicEventSubscription {
    const topic = this.systemTopics.get(key(topicId));
    if (topic === undefined) throw new Error(`no system topic ${topicId}`);
    const added = { ...input, provisioningState: input.provisioningState ?? 'Succeeded' };
    topic.eventSubscriptions = [
      ...topic.eventSubscriptions.filter((e) => key(e.name) !== key(input.name)),
      added,
    ];
    return added;
  }

  getSystemTopic(id: string): EmulatedSystemTopic | undefined {
    return this.systemTopics.get(key(id));
  }

  /** A subscription's system topics, in the order they were added. */
  listSystemTopics(subscriptionId: string): EmulatedSystemTopic[] {
    return [...this.systemTopics.values()].filter((t) => key(t.subscriptionId) === key(subscriptionId));
  }

  removeSubscription(subscriptionId: string): void {
    this.subscriptions.delete(key(subscriptionId));
    for (const [id, vm] of this.vms) if (key(vm.subscriptionId) === key(subscriptionId)) this.vms.delete(id);
    for (const [id, ss] of this.scaleSets)
      if (key(ss.subscriptionId) === key(subscriptionId)) this.scaleSets.delete(id);
  }

  listSubscriptions(): EmulatedSubscription[] {
    return [...this.subscriptions.values()];
  }

  hasSubscription(subscriptionId: string): boolean {
    return this.subscriptions.has(key(subscriptionId));
  }

  /** Adds (or replaces) a standalone VM; adds its subscription when new. */
  addVm(input: VmInput): EmulatedVm {
    this.addSubscription(input.subscriptionId);
    const { subscriptionId, resourceGroup, name, ...attributes } = input;
    const vm: EmulatedVm = {
      ...defaults(new Date(this.now())),
      ...attributes,
      tags: { ...(attributes.tags ?? {}) },
      id: vmResourceId(subscriptionId, resourceGroup, name),
      subscriptionId,
      resourceGroup,
      name,
      vmId: randomUUID(),
    };
    this.vms.set(key(vm.id), vm);
    this.powerHistory.set(key(vm.id), [
      { at: this.now(), powerState: vm.powerState, by: PowerChangeBy.controlPlane },
    ]);
    return vm;
  }

  /** The VM's power changes, oldest first (empty for an unknown VM). */
  powerChanges(id: string): readonly PowerChange[] {
    return this.powerHistory.get(key(id)) ?? [];
  }

  addScaleSet(input: ScaleSetInput): EmulatedScaleSet {
    this.addSubscription(input.subscriptionId);
    const scaleSet: EmulatedScaleSet = {
      id: scaleSetResourceId(input.subscriptionId, input.resourceGroup, input.name),
      subscriptionId: input.subscriptionId,
      resourceGroup: input.resourceGroup,
      name: input.name,
      location: input.location ?? 'westeurope',
      vmSize: input.vmSize ?? 'Standard_D2s_v5',
      orchestrationMode: input.orchestrationMode ?? OrchestrationMode.uniform,
      tags: { ...(input.tags ?? {}) },
      uniqueId: randomUUID(),
    };
    this.scaleSets.set(key(scaleSet.id), scaleSet);
    for (let i = 0; i < (input.capacity ?? 0); i += 1)
      this.addScaleSetInstance(scaleSet.id, String(i), input.instance);
    return scaleSet;
  }

  addScaleSetInstance(
    scaleSetId: string,
    instanceId: string,
    attributes: Partial<EmulatedVmAttributes> = {},
  ): EmulatedVm {
    const scaleSet = this.getScaleSet(scaleSetId);
    if (!scaleSet) throw new Error('Unknown scale set');
    const vm: EmulatedVm = {
      ...defaults(new Date(this.now())),
      vmSize: scaleSet.vmSize,
      location: scaleSet.location,
      tags: { ...scaleSet.tags },
      ...attributes,
      id: `${scaleSet.id}/virtualMachines/${instanceId}`,
      subscriptionId: scaleSet.subscriptionId,
      resourceGroup: scaleSet.resourceGroup,
      name: `${scaleSet.name}_${instanceId}`,
      vmId: randomUUID(),
      scaleSetName: scaleSet.name,
      instanceId,
    };
    this.vms.set(key(vm.id), vm);
    return vm;
  }

  getVm(id: string): EmulatedVm | undefined {
    return this.vms.get(key(id));
  }

  getScaleSet(id: string): EmulatedScaleSet | undefined {
    return this.scaleSets.get(key(id));
  }

  /** Changes attributes of a VM or instance; a provisioning change moves its status time. */
  updateVm(id: string, changes: Partial<EmulatedVmAttributes>): EmulatedVm {
    const vm = this.getVm(id);
    if (!vm) throw new Error('Unknown VM');
    if (changes.provisioningState !== undefined && changes.provisioningState !== vm.provisioningState) {
      vm.provisioningChangedAt = new Date(this.now());
    }
    Object.assign(vm, changes);
    return vm;
  }

  /** Sets the power state; `hibernated` defaults to false (true only makes sense with `deallocated`). */
  setPowerState(
    id: string,
    powerState: EmulatedPowerState,
    options: { hibernated?: boolean; by?: PowerChangeBy } = {},
  ): EmulatedVm {
    const vm = this.updateVm(id, { powerState, hibernated: options.hibernated ?? false });
    const changes = this.powerHistory.get(key(id)) ?? [];
    changes.push({ at: this.now(), powerState, by: options.by ?? PowerChangeBy.controlPlane });
    this.powerHistory.set(key(id), changes);
    return vm;
  }

  setPowerStateMissing(id: string, missing: PowerStateMissing): EmulatedVm {
    return this.updateVm(id, { powerStateMissing: missing });
  }

  /** Removes a VM or instance; true when it existed. */
  removeVm(id: string): boolean {
    return this.vms.delete(key(id));
  }

  /** Removes a scale set and its instances. */
  removeScaleSet(id: string): boolean {
    const prefix = `${key(id)}/virtualmachines/`;
    for (const vmKey of [...this.vms.keys()]) if (vmKey.startsWith(prefix)) this.vms.delete(vmKey);
    return this.scaleSets.delete(key(id));
  }

  /** Standalone VMs of a subscription (not uniform scale-set instances, as in ARM). */
  listVms(subscriptionId: string): EmulatedVm[] {
    return [...this.vms.values()].filter(
      (vm) => vm.instanceId === undefined && key(vm.subscriptionId) === key(subscriptionId),
    );
  }

  listScaleSets(subscriptionId: string): EmulatedScaleSet[] {
    return [...this.scaleSets.values()].filter((ss) => key(ss.subscriptionId) === key(subscriptionId));
  }

  listScaleSetInstances(scaleSetId: string): EmulatedVm[] {
    const prefix = `${key(scaleSetId)}/virtualmachines/`;
    return [...this.vms.entries()].filter(([vmKey]) => vmKey.startsWith(prefix)).map(([, vm]) => vm);
  }
}
