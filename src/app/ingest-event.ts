/**
 * Use case: one delivered Event Grid / CloudEvents resource event becomes at most a few observations.
 * Outcome certain → observation at the event time, no management call; outcome uncertain → one read.
 * Bad events are recorded with the reason and acknowledged; transient failures throw (redelivery).
 */
import {
  classifyEvent,
  type ClassifyOptions,
  type EventDecision,
  type ResourceEvent,
} from '../domain/events';
import { isHealthEvent } from '../domain/health';
import { ObservationSource, sinceStateBegan, type Observation } from '../domain/observation';
import { parseInstanceView } from '../domain/power-state';
import { PowerState } from '../domain/power-state';
import { InvalidKeyError, vmKey, type ComputeResource } from '../domain/resource-id';
import { ensureError, NotConfiguredError, PermanentInputError } from './errors';
import { classifyHealthEvent } from './ingest-health-event';
import { IngestOutcome, type IngestDependencies, type IngestResult } from './ingest-outcome';
import type { CurrentState, ManagementClient } from './ports';

/**
 * Options of one ingestion. The Event Grid path (function `vmEvents`, the local webhook) passes
 * `maxEventAgeInMs: eventGridMaxEventAgeInMs`; archives (`vm-timeline ingest`) and backfills pass none.
 */
export type IngestOptions = ClassifyOptions;

/**
 * The event as delivered, as JSON text that `VmRejectedEvents.raw` can hold whatever the input: a string
 * as is (escaped as JSON when it holds a lone surrogate), anything else as JSON, walked without recursion
 * when it nests deeper than `JSON.stringify` can go (never `[object Object]`).
 */
export function serialise(raw: unknown): string {
  if (typeof raw === 'string') return raw.isWellFormed() ? raw : JSON.stringify(raw);
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch (error) {
    if (!(error instanceof RangeError)) return String(raw);
    return stringifyWithoutRecursion(raw);
  }
}

type Piece = { text: string } | { value: unknown };

/** `JSON.stringify` of parsed JSON (objects, arrays, strings, numbers, booleans, null) with an explicit stack. */
function stringifyWithoutRecursion(root: unknown): string {
  const out: string[] = [];
  const stack: Piece[] = [{ value: root }];
  for (let piece = stack.pop(); piece !== undefined; piece = stack.pop()) {
    if ('text' in piece) {
      out.push(piece.text);
      continue;
    }
    const value = piece.value;
    if (value === null || typeof value !== 'object') {
      out.push(JSON.stringify(value) ?? 'null');
      continue;
    }
    const pieces: Piece[] = [];
    if (Array.isArray(value)) {
      pieces.push({ text: '[' });
      value.forEach((item: unknown, i) => {
        if (i > 0) pieces.push({ text: ',' });
        pieces.push(item === undefined || typeof item === 'function' ? { text: 'null' } : { value: item });
      });
      pieces.push({ text: ']' });
    } else {
      pieces.push({ text: '{' });
      let first = true;
      for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
        if (item === undefined || typeof item === 'function') continue;
        pieces.push({ text: `${first ? '' : ','}${JSON.stringify(name)}:` }, { value: item });
        first = false;
      }
      pieces.push({ text: '}' });
    }
    for (let i = pieces.length - 1; i >= 0; i -= 1) stack.push(pieces[i] as Piece);
  }
  return out.join('');
}

/**
 * Why an error thrown while applying an event is permanent for that event (the same input fails the
 * same way on every redelivery), or undefined when it may be transient.
 */
function permanentReason(error: unknown): string | undefined {
  if (error instanceof PermanentInputError || error instanceof InvalidKeyError) return error.message;
  if (error instanceof URIError) return 'a key or id of the event does not encode (URIError)';
  if (error instanceof RangeError && /call stack/i.test(error.message))
    return 'event nested too deeply to process (stack overflow)';
  return undefined;
}

function eventObservation(
  event: ResourceEvent,
  resourceId: string,
): Omit<Observation, 'at' | 'source' | 'dedupeId'> {
  return {
    resourceId,
    operation: event.operationName,
    eventType: event.eventType,
    caller: event.caller,
    correlationId: event.correlationId,
  };
}

/**
 * The earliest time a change a read finds may have happened: when the resource was last seen in its
 * recorded state (its newest observation, or a later confirmation by the reconciler's last complete run).
 * Not the event's time: the event reports the operation's completion, and the resource changed while the
 * operation ran (billing stops when a deallocate begins), so a window from the event's time would exclude
 * the truth. Undefined for a resource with no recorded power state yet.
 */
type LastSeen = (resourceId: string) => number | undefined;

/**
 * What the store (and the reconciler's mark, when configured) know of the instances' last sightings, with
 * the current rows read (a re-listing finds the absent instances among them, without a second read). The
 * mark is read first: a run that completes after it was read wrote its observations before its mark, so a
 * current row read afterwards holds them (a mark read last could confirm an old state past the change).
 */
async function lastSeenOf(
  subscriptionId: string,
  currents: () => AsyncIterable<CurrentState[]>,
  deps: IngestDependencies,
): Promise<{ lastSeen: LastSeen; rows: CurrentState[] }> {
  const mark = deps.marks === undefined ? undefined : await deps.marks.getMark(subscriptionId);
  const seen = new Map<string, number>();
  const rows: CurrentState[] = [];
  for await (const page of currents())
    for (const current of page) {
      rows.push(current);
      if (current.state === undefined) continue;
      let at = Math.max(current.last.at, current.lastSeenAt ?? Number.NEGATIVE_INFINITY);
      const key = vmKey(current.resourceId);
      // The mark confirms the state on the row unless that run left the VM unconfirmed (its own time then).
      if (mark !== undefined) at = Math.max(at, mark.unconfirmed[key] ?? mark.startedAt);
      seen.set(key, at);
    }
  return { lastSeen: (resourceId) => seen.get(vmKey(resourceId)), rows };
}

/**
 * Observation from a read made at `readAt` because of `event`: the change happened within
 * `[last seen in the old state, readAt]` (since the old state began when nothing of the resource was
 * recorded yet).
 */
function readObservation(
  event: ResourceEvent,
  resourceId: string,
  readAt: number,
  state: PowerState | undefined,
  lastSeen: LastSeen,
): Observation {
  const o: Observation = {
    ...eventObservation(event, resourceId),
    at: readAt,
    state,
    source: ObservationSource.instanceView,
    dedupeId: event.id,
  };
  // Nothing recorded of the VM yet (its earlier events may still be on their way): derivation bounds the
  // change by the state it follows, whatever the order the observations arrive in.
  const from = lastSeen(resourceId) ?? sinceStateBegan;
  if (from < readAt) o.windowFrom = from;
  return o;
}

export async function ingestEvent(
  raw: unknown,
  deps: IngestDependencies,
  options: IngestOptions = {},
): Promise<IngestResult> {
  let decision: EventDecision;
  try {
    if (isHealthEvent(raw)) {
      // Resource Health events (the HealthResources system topic) share the trigger: see README "Resource Health".
      const health = classifyHealthEvent(raw, deps, options);
      if (health.kind === 'apply') return await health.apply();
      decision = health;
    } else {
      decision = classifyEvent(raw, deps.now(), options);
      if (decision.kind !== 'skip' && decision.kind !== 'reject') return await apply(decision, deps);
    }
  } catch (error) {
    const reason = permanentReason(error);
    if (reason === undefined) throw error;
    const ids = idsOf(raw);
    decision = { kind: 'reject', reason, eventId: ids.eventId, resourceUri: ids.resourceUri };
  }
  switch (decision.kind) {
    case 'skip':
      deps.log.debug('event skipped', { eventId: decision.eventId, reason: decision.reason });
      return {
        outcome: IngestOutcome.skipped,
        eventId: decision.eventId,
        reason: decision.reason,
        recorded: 0,
        managementCalls: 0,
      };
    case 'reject':
      await deps.rejected.record({
        reason: decision.reason,
        eventId: decision.eventId,
        resourceUri: decision.resourceUri,
        raw: serialise(raw),
        receivedAt: deps.now(),
      });
      deps.log.warn('event rejected', {
        eventId: decision.eventId,
        vmId: decision.resourceUri,
        reason: decision.reason,
      });
      return {
        outcome: IngestOutcome.rejected,
        eventId: decision.eventId,
        resourceId: decision.resourceUri,
        reason: decision.reason,
        recorded: 0,
        managementCalls: 0,
      };
    default:
      return apply(decision, deps);
  }
}

/** The event's id and resource URI when they are plain strings (for the rejection of an event that threw). */
function idsOf(raw: unknown): { eventId?: string; resourceUri?: string } {
  if (typeof raw !== 'object' || raw === null) return {};
  const record = raw as Record<string, unknown>;
  const data = record['data'];
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const ids: { eventId?: string; resourceUri?: string } = {};
  const eventId = text(record['id']);
  const resourceUri =
    (typeof data === 'object' && data !== null
      ? text((data as Record<string, unknown>)['resourceUri'])
      : undefined) ?? text(record['subject']);
  if (eventId !== undefined) ids.eventId = eventId;
  if (resourceUri !== undefined) ids.resourceUri = resourceUri;
  return ids;
}

async function apply(
  decision: Exclude<EventDecision, { kind: 'skip' } | { kind: 'reject' }>,
  deps: IngestDependencies,
): Promise<IngestResult> {
  const { event, resource } = decision;
  const base = { eventId: event.id, resourceId: resource.resourceId };
  const result = (recorded: number, managementCalls = 0, reason?: string): IngestResult => ({
    ...base,
    outcome:
      recorded > 0
        ? IngestOutcome.recorded
        : reason === undefined
          ? IngestOutcome.duplicate
          : IngestOutcome.skipped,
    recorded,
    managementCalls,
    reason,
  });
  switch (decision.kind) {
    case 'observe':
    case 'provisioning': {
      // Outcome certain (a power state) or a failed / cancelled operation (provisioning only): the
      // observation holds at the event time, no management call.
      const observation: Observation = {
        ...eventObservation(event, resource.resourceId),
        at: event.time,
        source: ObservationSource.event,
        dedupeId: event.id,
      };
      if (decision.kind === 'observe') observation.state = decision.state;
      else observation.provisioning = decision.provisioning;
      const outcome = await deps.store.record(observation);
      deps.log.info('observation recorded', {
        vmId: resource.resourceId,
        eventId: event.id,
        eventType: event.eventType,
        state: observation.state,
        outcome,
      });
      return result(outcome === 'recorded' ? 1 : 0);
    }
    case 'read':
      return readInstanceView(event, resource, deps, result);
    case 'relistScaleSet':
      return relistScaleSet(event, resource, deps);
    case 'scaleSetDeleted':
      return deleteScaleSetInstances(event, resource, deps);
  }
}

async function* currentOf(resourceId: string, deps: IngestDependencies): AsyncIterable<CurrentState[]> {
  const current = await deps.store.getCurrent(resourceId);
  yield current === undefined ? [] : [current];
}

function requireManagement(deps: IngestDependencies): ManagementClient {
  if (deps.management === undefined)
    throw new NotConfiguredError('a management endpoint is needed to read instance views');
  return deps.management;
}

async function readInstanceView(
  event: ResourceEvent,
  resource: ComputeResource,
  deps: IngestDependencies,
  result: (recorded: number, managementCalls?: number, reason?: string) => IngestResult,
): Promise<IngestResult> {
  if (await deps.store.hasMarker(resource.resourceId, event.id)) return result(0);
  const { lastSeen } = await lastSeenOf(
    resource.subscriptionId,
    () => currentOf(resource.resourceId, deps),
    deps,
  );
  const statuses = await requireManagement(deps).getInstanceView(resource.resourceId);
  const readAt = deps.now();
  let observation: Observation;
  if (statuses === undefined) {
    observation = readObservation(event, resource.resourceId, readAt, PowerState.deleted, lastSeen);
  } else {
    const parsed = parseInstanceView(statuses);
    const state = parsed.powerState === PowerState.unknown ? undefined : parsed.powerState;
    observation = readObservation(event, resource.resourceId, readAt, state, lastSeen);
    if (parsed.provisioning !== undefined) observation.provisioning = parsed.provisioning;
    if (state === undefined && parsed.provisioning === undefined) {
      deps.log.warn('instance view has no power state', { vmId: resource.resourceId, eventId: event.id });
      return result(0, 1, 'instance view has no power state');
    }
  }
  const outcome = await deps.store.record(observation, { marker: event.id });
  deps.log.info('instance view recorded', {
    vmId: resource.resourceId,
    eventId: event.id,
    state: observation.state,
    outcome,
  });
  return result(outcome === 'recorded' ? 1 : 0, 1);
}

/** Records every instance's state after a scale-set-wide operation; known instances now absent are deleted. */
async function relistScaleSet(
  event: ResourceEvent,
  scaleSet: ComputeResource,
  deps: IngestDependencies,
): Promise<IngestResult> {
  const management = requireManagement(deps);
  let pages = 0;
  let recorded = 0;
  const failures: Error[] = [];
  const seen = new Set<string>();
  // Read once, before the listing: what is known of each instance up to the operation, and which instances
  // are known (those the listing no longer holds are deleted after it).
  const { lastSeen, rows } = await lastSeenOf(
    scaleSet.subscriptionId,
    () => deps.store.listScaleSetCurrent(scaleSet.resourceId),
    deps,
  );
  for await (const page of management.listScaleSetInstances(scaleSet.resourceId)) {
    pages += 1;
    const readAt = deps.now();
    for (const instance of page.vms) {
      seen.add(vmKey(instance.resourceId));
      const parsed = parseInstanceView(instance.statuses);
      if (parsed.powerState === PowerState.unknown) continue;
      try {
        const o = readObservation(event, instance.resourceId, readAt, parsed.powerState, lastSeen);
        if (parsed.provisioning !== undefined) o.provisioning = parsed.provisioning;
        if ((await deps.store.record(o)) === 'recorded') recorded += 1;
      } catch (error) {
        failures.push(ensureError(error));
        deps.log.error('instance not recorded', {
          vmId: instance.resourceId,
          eventId: event.id,
          error: ensureError(error).message,
        });
      }
    }
  }
  const readAt = deps.now();
  recorded += await markAbsentInstancesDeleted(
    event,
    scaleSet,
    deps,
    [rows],
    seen,
    readAt,
    failures,
    lastSeen,
  );
  if (failures[0] !== undefined) throw failures[0];
  deps.log.info('scale set re-listed', {
    vmId: scaleSet.resourceId,
    eventId: event.id,
    instances: seen.size,
    recorded,
  });
  return {
    outcome: recorded > 0 ? IngestOutcome.recorded : IngestOutcome.duplicate,
    eventId: event.id,
    resourceId: scaleSet.resourceId,
    recorded,
    managementCalls: pages,
  };
}

async function deleteScaleSetInstances(
  event: ResourceEvent,
  scaleSet: ComputeResource,
  deps: IngestDependencies,
): Promise<IngestResult> {
  const failures: Error[] = [];
  const recorded = await markAbsentInstancesDeleted(
    event,
    scaleSet,
    deps,
    deps.store.listScaleSetCurrent(scaleSet.resourceId),
    new Set(),
    event.time,
    failures,
  );
  if (failures[0] !== undefined) throw failures[0];
  deps.log.info('scale set deleted', { vmId: scaleSet.resourceId, eventId: event.id, recorded });
  return {
    outcome: recorded > 0 ? IngestOutcome.recorded : IngestOutcome.duplicate,
    eventId: event.id,
    resourceId: scaleSet.resourceId,
    recorded,
    managementCalls: 0,
  };
}

/**
 * Known instances of the scale set (its current rows, `currents`) that are not in `present` and not
 * already deleted become deleted.
 */
async function markAbsentInstancesDeleted(
  event: ResourceEvent,
  scaleSet: ComputeResource,
  deps: IngestDependencies,
  currents: AsyncIterable<CurrentState[]> | Iterable<CurrentState[]>,
  present: ReadonlySet<string>,
  at: number,
  failures: Error[],
  lastSeen: LastSeen = () => undefined,
): Promise<number> {
  const prefix = `${vmKey(scaleSet.resourceId)}|virtualmachines|`;
  let recorded = 0;
  for await (const page of currents) {
    for (const current of page) {
      const key = vmKey(current.resourceId);
      if (!key.startsWith(prefix) || present.has(key) || current.state === PowerState.deleted) continue;
      const o: Observation = {
        ...eventObservation(event, current.resourceId),
        at,
        state: PowerState.deleted,
        source: at === event.time ? ObservationSource.event : ObservationSource.instanceView,
        dedupeId: event.id,
      };
      // Gone at the listing: since it was last seen (the event's time only bounds a listing-less delete).
      const from = at > event.time ? (lastSeen(current.resourceId) ?? event.time) : undefined;
      if (from !== undefined && from < at) o.windowFrom = from;
      try {
        if ((await deps.store.record(o)) === 'recorded') recorded += 1;
      } catch (error) {
        failures.push(ensureError(error));
        deps.log.error('instance not recorded', {
          vmId: current.resourceId,
          eventId: event.id,
          error: ensureError(error).message,
        });
      }
    }
  }
  return recorded;
}
