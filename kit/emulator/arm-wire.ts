/**
 * JSON shapes of the Azure Compute REST API (as documented for api-version 2024-07-01 and later),
 * built from the emulated fleet.
 */
import { createHash } from 'node:crypto';
import type {
  EmulatedDescendant,
  EmulatedScaleSet,
  EmulatedSubscription,
  EmulatedSystemTopic,
  EmulatedTopicEventSubscription,
  EmulatedVm,
} from './arm-fleet';

export interface WireStatus {
  code: string;
  level: 'Info' | 'Warning' | 'Error';
  displayStatus: string;
  time?: string;
}

const powerDisplay: Readonly<Record<string, string>> = {
  creating: 'VM creating',
  starting: 'VM starting',
  running: 'VM running',
  stopping: 'VM stopping',
  stopped: 'VM stopped',
  deallocating: 'VM deallocating',
  deallocated: 'VM deallocated',
};

const provisioningDisplay: Readonly<Record<string, string>> = {
  creating: 'Creating',
  updating: 'Updating',
  succeeded: 'Provisioning succeeded',
  failed: 'Provisioning failed',
  deleting: 'Deleting',
};

/** `statuses` of an instance view: provisioning, power (unless withheld), hibernation when hibernated. */
export function wireStatuses(vm: EmulatedVm, withPowerState: boolean): WireStatus[] {
  const failed = vm.provisioningState === 'failed';
  const provisioningCode =
    failed && vm.provisioningErrorCode
      ? `ProvisioningState/failed/${vm.provisioningErrorCode}`
      : `ProvisioningState/${vm.provisioningState}`;
  const statuses: WireStatus[] = [
    {
      code: provisioningCode,
      level: failed ? 'Error' : 'Info',
      displayStatus: provisioningDisplay[vm.provisioningState] ?? vm.provisioningState,
      time: vm.provisioningChangedAt.toISOString(),
    },
  ];
  if (withPowerState) {
    statuses.push({
      code: `PowerState/${vm.powerState}`,
      level: 'Info',
      displayStatus: powerDisplay[vm.powerState] ?? vm.powerState,
    });
  }
  if (vm.hibernated) {
    statuses.push({ code: 'HibernationState/Hibernated', level: 'Info', displayStatus: 'VM hibernated' });
  }
  return statuses;
}

/** VirtualMachineInstanceView (`GET .../virtualMachines/{name}/instanceView`). */
export function wireVmInstanceView(vm: EmulatedVm): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  if (vm.powerState !== 'deallocated') {
    view['computerName'] = vm.name;
    view['osName'] = vm.osType === 'Windows' ? 'Windows Server 2022 Datacenter' : 'ubuntu';
    view['osVersion'] = vm.osType === 'Windows' ? '10.0.20348' : '22.04';
  }
  view['hyperVGeneration'] = 'V2';
  view['disks'] = [
    {
      name: `${vm.name}_OsDisk_1`,
      statuses: [
        {
          code: 'ProvisioningState/succeeded',
          level: 'Info',
          displayStatus: 'Provisioning succeeded',
          time: vm.provisioningChangedAt.toISOString(),
        },
      ],
    },
  ];
  view['statuses'] = wireStatuses(vm, vm.powerStateMissing !== 'all');
  return view;
}

/** VirtualMachineScaleSetVMInstanceView (`GET .../virtualMachines/{instanceId}/instanceView`). */
export function wireScaleSetVmInstanceView(vm: EmulatedVm): Record<string, unknown> {
  return { platformUpdateDomain: 0, platformFaultDomain: 0, ...wireVmInstanceView(vm) };
}

/** A VM as `List All` returns it: full model, or only the instance view with `statusOnly=true`. */
export function wireVm(
  vm: EmulatedVm,
  mode: { statusOnly: boolean; expandInstanceView?: boolean },
): Record<string, unknown> {
  const base = { name: vm.name, id: vm.id, type: 'Microsoft.Compute/virtualMachines' };
  if (mode.statusOnly) {
    return {
      ...base,
      properties: {
        vmId: vm.vmId,
        instanceView: { statuses: wireStatuses(vm, vm.powerStateMissing === 'none') },
      },
    };
  }
  const properties: Record<string, unknown> = {
    vmId: vm.vmId,
    hardwareProfile: { vmSize: vm.vmSize },
    storageProfile: {
      osDisk: {
        osType: vm.osType,
        name: `${vm.name}_OsDisk_1`,
        createOption: 'FromImage',
        caching: 'ReadWrite',
      },
    },
    priority: vm.priority,
    provisioningState: capitalise(vm.provisioningState),
  };
  if (mode.expandInstanceView) properties['instanceView'] = wireVmInstanceView(vm);
  return { ...base, location: vm.location, tags: { ...vm.tags }, properties };
}

/** A uniform scale-set instance (`GET .../virtualMachineScaleSets/{name}/virtualMachines`). */
export function wireScaleSetVm(vm: EmulatedVm, expandInstanceView: boolean): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    latestModelApplied: true,
    vmId: vm.vmId,
    storageProfile: { osDisk: { osType: vm.osType, createOption: 'FromImage', caching: 'ReadWrite' } },
    provisioningState: capitalise(vm.provisioningState),
  };
  if (expandInstanceView) properties['instanceView'] = wireScaleSetVmInstanceView(vm);
  return {
    name: vm.name,
    id: vm.id,
    type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
    location: vm.location,
    tags: { ...vm.tags },
    instanceId: vm.instanceId,
    sku: { name: vm.vmSize, tier: 'Standard' },
    properties,
  };
}

export function wireScaleSet(scaleSet: EmulatedScaleSet, capacity: number): Record<string, unknown> {
  return {
    name: scaleSet.name,
    id: scaleSet.id,
    type: 'Microsoft.Compute/virtualMachineScaleSets',
    location: scaleSet.location,
    tags: { ...scaleSet.tags },
    sku: { name: scaleSet.vmSize, tier: 'Standard', capacity },
    properties: {
      orchestrationMode: scaleSet.orchestrationMode,
      upgradePolicy: { mode: 'Manual' },
      provisioningState: 'Succeeded',
      uniqueId: scaleSet.uniqueId,
    },
  };
}

export function wireSubscription(subscription: EmulatedSubscription): Record<string, unknown> {
  return {
    id: `/subscriptions/${subscription.subscriptionId}`,
    subscriptionId: subscription.subscriptionId,
    displayName: subscription.displayName,
    state: 'Enabled',
    subscriptionPolicies: {
      locationPlacementId: 'Public_2014-09-01',
      quotaId: 'PayAsYouGo_2014-09-01',
      spendingLimit: 'Off',
    },
    authorizationSource: 'RoleBased',
  };
}

const managementGroupPath = '/providers/Microsoft.Management/managementGroups';

/**
 * One `DescendantInfo` of `GET /providers/Microsoft.Management/managementGroups/{groupId}/descendants`
 * (shape of the GetDescendants example, api-version 2023-04-01: subscriptions typed
 * `Microsoft.Management/managementGroups/subscriptions`, ids `/subscriptions/{id}`).
 */
export function wireDescendant(descendant: EmulatedDescendant): Record<string, unknown> {
  if (descendant.kind === 'managementGroup') {
    const { group } = descendant;
    return {
      id: `${managementGroupPath}/${group.groupId}`,
      type: 'Microsoft.Management/managementGroups',
      name: group.groupId,
      properties: {
        displayName: group.displayName,
        parent: { id: `${managementGroupPath}/${group.parentId ?? ''}` },
      },
    };
  }
  const { subscription, parentId } = descendant;
  return {
    id: `/subscriptions/${subscription.subscriptionId}`,
    type: 'Microsoft.Management/managementGroups/subscriptions',
    name: subscription.subscriptionId,
    properties: {
      displayName: subscription.displayName,
      parent: { id: `${managementGroupPath}/${parentId}` },
    },
  };
}

/** A GUID derived from a text (the same text, the same GUID). */
function stableGuid(text: string): string {
  const hex = createHash('sha256').update(text.toLowerCase()).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * One `SystemTopic` of `GET /subscriptions/{s}/providers/Microsoft.EventGrid/systemTopics` (shape of the
 * SystemTopics_ListBySubscription example, api-version 2022-06-15); the subscription-wide topic types
 * are `location: global`.
 */
export function wireSystemTopic(topic: EmulatedSystemTopic): Record<string, unknown> {
  return {
    properties: {
      provisioningState: 'Succeeded',
      source: topic.source,
      topicType: topic.topicType,
      metricResourceId: stableGuid(topic.id),
    },
    location: 'global',
    tags: null,
    id: topic.id,
    name: topic.name,
    type: 'Microsoft.EventGrid/systemTopics',
  };
}

/**
 * One `EventSubscription` of `GET .../systemTopics/{name}/eventSubscriptions` (shape of the
 * SystemTopicEventSubscriptions_Get example, api-version 2022-06-15, the list's items).
 */
export function wireTopicEventSubscription(
  topic: EmulatedSystemTopic,
  subscription: EmulatedTopicEventSubscription,
): Record<string, unknown> {
  const destination: Record<string, unknown> = { endpointType: subscription.endpointType };
  if (subscription.destinationResourceId !== undefined)
    destination['properties'] =
      subscription.endpointType === 'AzureFunction'
        ? {
            resourceId: subscription.destinationResourceId,
            maxEventsPerBatch: 10,
            preferredBatchSizeInKilobytes: 64,
          }
        : { resourceId: subscription.destinationResourceId };
  return {
    properties: {
      topic: topic.id,
      provisioningState: subscription.provisioningState,
      destination,
      filter: { includedEventTypes: subscription.includedEventTypes },
      labels: [],
      eventDeliverySchema: 'EventGridSchema',
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
    },
    id: `${topic.id}/eventSubscriptions/${subscription.name}`,
    name: subscription.name,
    type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
  };
}

/** The ARM error body. */
export function wireError(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

function capitalise(value: string): string {
  return value.length === 0 ? value : `${value[0]?.toUpperCase() ?? ''}${value.slice(1)}`;
}
