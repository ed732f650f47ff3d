/**
 * Deterministic workload generator for the benchmarks: VM resource events as an Event Grid subscription
 * system topic delivers them (Event Grid schema and CloudEvents 1.0), with the observations each one
 * must produce, and a delivery order that is mostly in order per VM, partly out of order, partly
 * duplicated (Event Grid delivers at least once, unordered).
 */
import { ObservationSource, type Observation } from '../../src/domain/observation';
import { PowerState } from '../../src/domain/power-state';
import { seededRandom } from '../emulator/seeded-random';

export const benchSubscriptionId = '00000000-0000-0000-0000-00000000b001';
const tenantId = '00000000-0000-0000-0000-00000000b0ff';
const callers = ['alice@contoso.com', 'bob@contoso.com', 'automation@contoso.com', '9f1c6a3e-app'] as const;

export const VmOperation = {
  start: 'start',
  restart: 'restart',
  powerOff: 'powerOff',
  deallocate: 'deallocate',
  delete: 'delete',
  write: 'write',
} as const;
export type VmOperation = (typeof VmOperation)[keyof typeof VmOperation];

const operations: Readonly<Record<VmOperation, { suffix: string; type: string; state?: PowerState }>> = {
  start: { suffix: 'start/action', type: 'ResourceActionSuccess', state: PowerState.running },
  restart: { suffix: 'restart/action', type: 'ResourceActionSuccess', state: PowerState.running },
  powerOff: { suffix: 'powerOff/action', type: 'ResourceActionSuccess', state: PowerState.stopped },
  deallocate: { suffix: 'deallocate/action', type: 'ResourceActionSuccess', state: PowerState.deallocated },
  delete: { suffix: 'delete', type: 'ResourceDeleteSuccess', state: PowerState.deleted },
  // Outcome uncertain: the app reads the instance view.
  write: { suffix: '', type: 'ResourceWriteSuccess' },
};

export function benchVmResourceId(
  name: string,
  group = 'rg-bench',
  subscriptionId = benchSubscriptionId,
): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`;
}

export interface GeneratedEvent {
  id: string;
  resourceId: string;
  operation: VmOperation;
  /** Full operation name as the event carries it. */
  operationName: string;
  time: number;
  caller: string;
  schema: 'eventGrid' | 'cloudEvents';
  /** The delivered payload. */
  raw: Record<string, unknown>;
}

/** A resource event in either schema, shaped like the subscription system topic's. */
export function resourceEvent(e: Omit<GeneratedEvent, 'raw' | 'operationName'>): GeneratedEvent {
  const op = operations[e.operation];
  const operationName =
    op.suffix === ''
      ? 'Microsoft.Compute/virtualMachines/write'
      : `Microsoft.Compute/virtualMachines/${op.suffix}`;
  const method = e.operation === 'delete' ? 'DELETE' : e.operation === 'write' ? 'PUT' : 'POST';
  const path = op.suffix === '' || e.operation === 'delete' ? e.resourceId : `${e.resourceId}/${op.suffix}`;
  const data = {
    authorization: {
      scope: e.resourceId,
      action: operationName,
      evidence: { role: 'Virtual Machine Contributor' },
    },
    claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': e.caller, appid: 'bench-app' },
    correlationId: `corr-${e.id}`,
    httpRequest: {
      clientRequestId: `req-${e.id}`,
      clientIpAddress: '192.0.2.10',
      method,
      url: `https://management.azure.com${path}?api-version=2024-07-01`,
    },
    resourceProvider: 'Microsoft.Compute',
    resourceUri: e.resourceId,
    operationName,
    status: 'Succeeded',
    subscriptionId: benchSubscriptionId,
    tenantId,
  };
  const eventType = `Microsoft.Resources.${op.type}`;
  const time = new Date(e.time).toISOString();
  const raw =
    e.schema === 'eventGrid'
      ? {
          id: e.id,
          topic: `/subscriptions/${benchSubscriptionId}`,
          subject: e.resourceId,
          eventType,
          eventTime: time,
          data,
          dataVersion: '2',
          metadataVersion: '1',
        }
      : {
          id: e.id,
          source: `/subscriptions/${benchSubscriptionId}`,
          subject: e.resourceId,
          type: eventType,
          time,
          data,
          specversion: '1.0',
        };
  return { ...e, operationName, raw };
}

/** The observation the app must store for an event whose outcome is certain. */
export function expectedObservation(e: GeneratedEvent): Observation {
  const state = operations[e.operation].state;
  if (state === undefined) throw new Error(`operation ${e.operation} has no certain outcome`);
  return {
    resourceId: e.resourceId,
    at: e.time,
    state,
    source: ObservationSource.event,
    dedupeId: e.id,
    operation: e.operationName,
    eventType: `Microsoft.Resources.${operations[e.operation].type}`,
    caller: e.caller,
    correlationId: `corr-${e.id}`,
  };
}

/** Next operation from a VM's state: plausible sequences (start after stop, restart while running...). */
function nextOperation(
  state: PowerState | undefined,
  rnd: () => number,
): Exclude<VmOperation, 'delete' | 'write'> {
  const r = rnd();
  switch (state) {
    case PowerState.running:
      return r < 0.25 ? 'restart' : r < 0.55 ? 'powerOff' : 'deallocate';
    case PowerState.stopped:
      return r < 0.6 ? 'start' : 'deallocate';
    case PowerState.deallocated:
      return r < 0.9 ? 'start' : 'powerOff';
    default:
      return r < 0.85 ? 'start' : 'deallocate';
  }
}

export interface WorkloadOptions {
  vms: number;
  eventsPerVm: number;
  seed: number;
  /** Share of deliveries swapped with the VM's next event (default 0.05). */
  outOfOrder?: number;
  /** Share of events delivered twice (default 0.02). */
  duplicates?: number;
  /** Events happen within this many days before `now` (default 7). */
  days?: number;
  /** Share of VMs whose last event is a delete (default 0.1). */
  deleted?: number;
  now: number;
}

export interface Workload {
  /** Every distinct event, by VM in time order. */
  byVm: Map<string, GeneratedEvent[]>;
  /** The delivery sequence (with duplicates). */
  deliveries: GeneratedEvent[];
  counts: {
    events: number;
    deliveries: number;
    outOfOrder: number;
    duplicates: number;
    eventGrid: number;
    cloudEvents: number;
    byOperation: Record<string, number>;
  };
}

const hour = 3_600_000;

/**
 * `vms` × `eventsPerVm` events. Event times are spread over `days` days; the delivery order is the event
 * time plus up to a minute of jitter, with `outOfOrder` of the events swapped with the VM's next one
 * and `duplicates` of them delivered again up to two hours later.
 */
export function generateWorkload(options: WorkloadOptions): Workload {
  const rnd = seededRandom(options.seed);
  const days = options.days ?? 7;
  const outOfOrder = options.outOfOrder ?? 0.05;
  const duplicateShare = options.duplicates ?? 0.02;
  const deletedShare = options.deleted ?? 0.1;
  const start = options.now - days * 24 * hour;
  const span = days * 24 * hour - hour;
  const byVm = new Map<string, GeneratedEvent[]>();
  const scheduled: { at: number; event: GeneratedEvent }[] = [];
  const byOperation: Record<string, number> = {};
  let eventGrid = 0;
  let sequence = 0;
  let outOfOrderTotal = 0;
  for (let v = 0; v < options.vms; v++) {
    const resourceId = benchVmResourceId(`vm-${v.toString().padStart(5, '0')}`, `rg-bench-${v % 20}`);
    // Gaps between a VM's events: a minute to `meanGap`, so the events fit the span.
    const meanGap = span / options.eventsPerVm;
    let time = start + Math.floor(rnd() * meanGap);
    let state: PowerState | undefined;
    const events: GeneratedEvent[] = [];
    const deletes = rnd() < deletedShare;
    for (let i = 0; i < options.eventsPerVm; i++) {
      const operation: VmOperation =
        deletes && i === options.eventsPerVm - 1 ? 'delete' : nextOperation(state, rnd);
      state = operations[operation].state;
      const schema = rnd() < 0.5 ? 'eventGrid' : 'cloudEvents';
      if (schema === 'eventGrid') eventGrid += 1;
      byOperation[operation] = (byOperation[operation] ?? 0) + 1;
      sequence += 1;
      const id = `${(options.seed >>> 0).toString(16).padStart(8, '0')}-b000-4000-8000-${sequence.toString(16).padStart(12, '0')}`;
      const caller = callers[Math.floor(rnd() * callers.length)] ?? callers[0];
      // Whole milliseconds, strictly increasing per VM.
      events.push(resourceEvent({ id, resourceId, operation, time, caller, schema }));
      // At most `meanGap` apart: the last event is still an hour before `now`.
      time += 60_000 + Math.floor(rnd() * (meanGap - 60_000));
    }
    byVm.set(resourceId, events);
    const at = events.map((e) => e.time + Math.floor(rnd() * 60_000));
    let swapped = 0;
    for (let i = 0; i + 1 < events.length; i++) {
      if (rnd() < outOfOrder) {
        // Delivered after the VM's next event.
        const a = at[i] ?? 0;
        at[i] = (at[i + 1] ?? 0) + 1 + Math.floor(rnd() * 60_000);
        at[i + 1] = a;
        swapped += 1;
        i += 1;
      }
    }
    events.forEach((event, i) => scheduled.push({ at: at[i] ?? event.time, event }));
    outOfOrderTotal += swapped;
  }
  let duplicates = 0;
  const originals = scheduled.length;
  for (let i = 0; i < originals; i++) {
    const s = scheduled[i];
    if (s !== undefined && rnd() < duplicateShare) {
      scheduled.push({ at: s.at + Math.floor(rnd() * 2 * hour), event: s.event });
      duplicates += 1;
    }
  }
  scheduled.sort((a, b) => a.at - b.at);
  const counts = {
    events: originals,
    deliveries: scheduled.length,
    outOfOrder: outOfOrderTotal,
    duplicates,
    eventGrid,
    cloudEvents: originals - eventGrid,
    byOperation,
  };
  return { byVm, deliveries: scheduled.map((s) => s.event), counts };
}
