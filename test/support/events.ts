/** Builders of Event Grid and CloudEvents resource events as a subscription system topic delivers them. */
export const subscriptionId = '00000000-0000-0000-0000-0000000000aa';
export const tenantId = '11111111-1111-1111-1111-111111111111';

export function vmResourceId(name: string, group = 'rg-app', subscription = subscriptionId): string {
  return `/subscriptions/${subscription}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`;
}

export function scaleSetResourceId(name: string, group = 'rg-app'): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
}

export interface EventSpec {
  id: string;
  resourceUri: string;
  /** e.g. `Microsoft.Compute/virtualMachines/start/action`. */
  operationName: string;
  /** `ResourceActionSuccess` etc. (without the `Microsoft.Resources.` prefix). */
  type: string;
  time: string;
  caller?: string;
  url?: string;
}

function data(spec: EventSpec): Record<string, unknown> {
  return {
    authorization: {
      scope: spec.resourceUri,
      action: spec.operationName,
      evidence: { role: 'Virtual Machine Contributor' },
    },
    claims: {
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': spec.caller ?? 'alice@contoso.com',
      appid: 'app-1',
    },
    correlationId: `corr-${spec.id}`,
    httpRequest: {
      clientRequestId: `req-${spec.id}`,
      clientIpAddress: '192.0.2.1',
      method: 'POST',
      url: spec.url ?? `https://management.azure.com${spec.resourceUri}?api-version=2024-07-01`,
    },
    resourceProvider: 'Microsoft.Compute',
    resourceUri: spec.resourceUri,
    operationName: spec.operationName,
    status: spec.type.endsWith('Success')
      ? 'Succeeded'
      : spec.type.endsWith('Failure')
        ? 'Failed'
        : 'Canceled',
    subscriptionId,
    tenantId,
  };
}

export function eventGridEvent(spec: EventSpec): Record<string, unknown> {
  return {
    id: spec.id,
    topic: `/subscriptions/${subscriptionId}`,
    subject: spec.resourceUri,
    eventType: `Microsoft.Resources.${spec.type}`,
    eventTime: spec.time,
    data: data(spec),
    dataVersion: '2',
    metadataVersion: '1',
  };
}

export function cloudEvent(spec: EventSpec): Record<string, unknown> {
  return {
    id: spec.id,
    source: `/subscriptions/${subscriptionId}`,
    subject: spec.resourceUri,
    type: `Microsoft.Resources.${spec.type}`,
    time: spec.time,
    data: data(spec),
    specversion: '1.0',
  };
}

/** The operations table of the design: VM operation suffix → event type and expected state. */
export const vmOperations = {
  start: { operation: 'start/action', type: 'ResourceActionSuccess', state: 'running' },
  restart: { operation: 'restart/action', type: 'ResourceActionSuccess', state: 'running' },
  powerOff: { operation: 'powerOff/action', type: 'ResourceActionSuccess', state: 'stopped' },
  deallocate: { operation: 'deallocate/action', type: 'ResourceActionSuccess', state: 'deallocated' },
  delete: { operation: 'delete', type: 'ResourceDeleteSuccess', state: 'deleted' },
} as const;

export function vmEvent(
  name: string,
  op: keyof typeof vmOperations,
  time: string,
  id: string,
  schema: 'eventGrid' | 'cloudEvents' = 'eventGrid',
): Record<string, unknown> {
  const spec = vmOperations[op];
  const e: EventSpec = {
    id,
    resourceUri: vmResourceId(name),
    operationName: `Microsoft.Compute/virtualMachines/${spec.operation}`,
    type: spec.type,
    time,
  };
  return schema === 'eventGrid' ? eventGridEvent(e) : cloudEvent(e);
}

/** 08:00 of `recentTime`: 14 hours before this module was loaded, to the hour (fixed for a test file). */
const recentEightOClock = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 14 * 3_600_000;

/**
 * `hh:mm` of a recent day as an ISO event time: 08:00 is 14 hours ago (to the hour), later times closer
 * to now, so events stay within Event Grid's 24-hour window, which the Event Grid path enforces.
 */
export function recentTime(hhmm: string): string {
  const [hours = 0, minutes = 0] = hhmm.split(':').map(Number);
  return new Date(recentEightOClock + ((hours - 8) * 60 + minutes) * 60_000).toISOString();
}

export interface HealthSpec {
  id: string;
  resourceUri: string;
  /** `VirtualMachineStoppedInternally` … (ResourceAnnotated), or undefined for AvailabilityStatusChanged. */
  annotation?: string;
  /** `Unavailable` / `Available` (AvailabilityStatusChanged). */
  availability?: string;
  /** `occurredTime` (ISO 8601). */
  occurred: string;
  /** Delivery time (`eventTime` / `time`); `occurred` when absent. */
  time?: string;
  context?: string;
  category?: string;
  summary?: string;
}

/** A HealthResources event as documented in event-schema-health-resources (either schema). */
export function healthEvent(
  spec: HealthSpec,
  schema: 'eventGrid' | 'cloudEvents' = 'eventGrid',
): Record<string, unknown> {
  const annotated = spec.annotation !== undefined;
  const properties: Record<string, unknown> = {
    targetResourceId: spec.resourceUri,
    targetResourceType: 'Microsoft.Compute/virtualMachines',
    occurredTime: spec.occurred,
  };
  if (annotated) {
    Object.assign(properties, {
      annotationName: spec.annotation,
      reason: 'Stopped',
      summary:
        spec.summary ?? 'This virtual machine is stopping as requested by an authorized user or process.',
      context: spec.context ?? 'Customer Initiated',
      category: spec.category ?? 'Not Applicable',
    });
  } else {
    Object.assign(properties, {
      previousAvailabilityState: 'Available',
      availabilityState: spec.availability ?? 'Unavailable',
    });
  }
  const data = {
    resourceInfo: {
      id: `${spec.resourceUri}/providers/Microsoft.ResourceHealth/${annotated ? 'resourceAnnotations' : 'availabilityStatuses'}/${spec.id}`,
      name: spec.id,
      type: annotated
        ? 'Microsoft.ResourceHealth/resourceAnnotations'
        : 'Microsoft.ResourceHealth/availabilityStatuses',
      properties,
    },
    operationalInfo: { resourceEventTime: spec.occurred },
    apiVersion: annotated ? '2022-08-01' : '2023-12-01',
  };
  const type = `Microsoft.ResourceNotifications.HealthResources.${annotated ? 'ResourceAnnotated' : 'AvailabilityStatusChanged'}`;
  const time = spec.time ?? spec.occurred;
  return schema === 'eventGrid'
    ? {
        id: spec.id,
        topic: `/subscriptions/${subscriptionId}`,
        subject: spec.resourceUri,
        data,
        eventType: type,
        dataVersion: '1',
        metadataVersion: '1',
        eventTime: time,
      }
    : {
        id: spec.id,
        source: `/subscriptions/${subscriptionId}`,
        subject: spec.resourceUri,
        data,
        type,
        specversion: '1.0',
        time,
      };
}
