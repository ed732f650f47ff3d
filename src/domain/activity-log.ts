/**
 * Activity Log records (`Microsoft.Insights/eventtypes/management/values`, api-version 2015-04-01) about
 * VMs and scale-set instances, mapped to observations with source `activityLog`. Pure.
 *
 * An operation's first record (status Started / Accepted) puts the VM in the transitional state the
 * billing table names (`starting`, `stopping`, `deallocating`) at its `eventTimestamp`; the Succeeded
 * record puts it in the final state; a Failed / Canceled record records provisioning only, and derivation
 * then ignores that operation's transitional observation (see `segments.ts`).
 */
import { callerOf } from './events';
import { ObservationSource, sinceStateBegan, type Observation } from './observation';
import { PowerState, ProvisioningState } from './power-state';
import { parseComputeResourceId, ResourceKind } from './resource-id';
import { parseInstantText } from './time';

/** What became of one record. */
export type ActivityLogDecision =
  | { kind: 'observe'; observation: Observation }
  /**
   * A record of a scale-set-wide power operation (start, powerOff, deallocate, restart of the whole set or
   * of instances the request body names): kept by operation, used only where it is the one explanation of
   * an instance's recorded change (scale-set-operations.ts).
   */
  | { kind: 'scaleSetOperation'; record: ScaleSetOperationRecord }
  /** Not about a VM's power (other providers, reads, other scale-set-wide operations...): counted, not stored. */
  | { kind: 'skip'; reason: string }
  /** Malformed: counted with the reason. */
  | { kind: 'reject'; reason: string };

export const ActivityLogPhase = { begin: 'begin', end: 'end', failed: 'failed' } as const;
export type ActivityLogPhase = (typeof ActivityLogPhase)[keyof typeof ActivityLogPhase];

/** `status.value` of an Administrative record → phase of the operation. */
const phases: Readonly<Record<string, ActivityLogPhase>> = {
  started: ActivityLogPhase.begin,
  accepted: ActivityLogPhase.begin,
  succeeded: ActivityLogPhase.end,
  failed: ActivityLogPhase.failed,
  canceled: ActivityLogPhase.failed,
  cancelled: ActivityLogPhase.failed,
};

/** Per operation verb: the transitional state at its first record, the final state at Succeeded. */
const operationStates: Readonly<Record<string, { begin?: PowerState; end: PowerState }>> = {
  'start/action': { begin: PowerState.starting, end: PowerState.running },
  'restart/action': { begin: PowerState.starting, end: PowerState.running },
  'poweroff/action': { begin: PowerState.stopping, end: PowerState.stopped },
  'deallocate/action': { begin: PowerState.deallocating, end: PowerState.deallocated },
  delete: { end: PowerState.deleted },
};

/** Operations that change a VM in ways the log does not say (size, image, host): provisioning only. */
const provisioningOperations: ReadonlySet<string> = new Set([
  'write',
  'redeploy/action',
  'reimage/action',
  'reapply/action',
  'performmaintenance/action',
  'simulateeviction/action',
]);

/**
 * Resource Health annotations (`properties.details`, or `details` inside `properties.eventProperties`)
 * that name a power change (learn.microsoft.com/azure/service-health/resource-health-vm-annotation).
 */
const annotationStates: Readonly<Record<string, PowerState>> = {
  virtualmachinestoppedinternally: PowerState.stopped,
  virtualmachinestopinitiatedbycontrolplane: PowerState.stopping,
  virtualmachinestartinitiatedbycontrolplane: PowerState.starting,
  virtualmachinedeallocationinitiated: PowerState.deallocating,
  // Spot eviction deallocates or deletes, by the VM's eviction policy: not billed either way.
  virtualmachinepreempted: PowerState.deallocated,
};

const transitionalStates: ReadonlySet<PowerState> = new Set([
  PowerState.starting,
  PowerState.stopping,
  PowerState.deallocating,
]);

export function isTransitional(state: PowerState | undefined): boolean {
  return state !== undefined && transitionalStates.has(state);
}

/** `status.value` of a record, as the operation's row keeps it (one column each). */
export const ScaleSetOperationStatus = {
  started: 'started',
  accepted: 'accepted',
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type ScaleSetOperationStatus = (typeof ScaleSetOperationStatus)[keyof typeof ScaleSetOperationStatus];

/** One record of a scale-set-wide operation. */
export interface ScaleSetOperationRecord {
  /** The scale set's resource id, as the record spelled it. */
  scaleSetId: string;
  correlationId: string;
  /** `Microsoft.Compute/virtualMachineScaleSets/deallocate/action`. */
  operation: string;
  status: ScaleSetOperationStatus;
  /** `eventTimestamp` (epoch ms). */
  at: number;
}

/** `status.value` → the column it fills; undefined for a status that names no phase. */
export function scaleSetOperationStatusOf(status: string): ScaleSetOperationStatus | undefined {
  switch (status.toLowerCase()) {
    case 'started':
      return ScaleSetOperationStatus.started;
    case 'accepted':
      return ScaleSetOperationStatus.accepted;
    case 'succeeded':
      return ScaleSetOperationStatus.succeeded;
    case 'failed':
    case 'canceled':
    case 'cancelled':
      return ScaleSetOperationStatus.failed;
    default:
      return undefined;
  }
}

/** Per verb of a scale-set-wide power operation: the transitional state at its first record, the final states. */
const scaleSetVerbs: Readonly<Record<string, { begin: PowerState; end: readonly PowerState[] }>> = {
  start: { begin: PowerState.starting, end: [PowerState.running] },
  restart: { begin: PowerState.starting, end: [PowerState.running] },
  poweroff: { begin: PowerState.stopping, end: [PowerState.stopped] },
  deallocate: { begin: PowerState.deallocating, end: [PowerState.deallocated, PowerState.hibernated] },
};

const scaleSetWidePattern = /^microsoft\.compute\/virtualmachinescalesets\/([a-z]+)\/action$/i;

/**
 * The states of a scale-set-wide power operation (`Microsoft.Compute/virtualMachineScaleSets/deallocate/
 * action`: deallocating, then deallocated or hibernated), or undefined for any other operation.
 */
export function scaleSetWideStates(
  operation: string | undefined,
): { begin: PowerState; end: readonly PowerState[] } | undefined {
  const verb = operation === undefined ? undefined : scaleSetWidePattern.exec(operation)?.[1];
  return verb === undefined ? undefined : scaleSetVerbs[verb.toLowerCase()];
}

/** An instance's observation the log's record of a scale-set-wide operation gave (see scale-set-operations.ts). */
function fromScaleSetOperation(o: Observation): boolean {
  return o.source === ObservationSource.activityLog && scaleSetWideStates(o.operation) !== undefined;
}

/** An observation known only within a window, by a read or a listing, with no reason. */
function windowed(o: Observation): boolean {
  return (
    o.windowFrom !== undefined &&
    o.reason === undefined &&
    (o.source === ObservationSource.instanceView || o.source === ObservationSource.reconcile)
  );
}

/**
 * The observations a scale-set-wide operation gave an instance that are not, in the whole history, the one
 * explanation of the change they sit in: the next other observation must be the windowed change they
 * sharpen (a read's or a listing's, to the operation's final state, with no reason, its window reaching
 * back to the operation's first record; reads or listings that saw the instance in the operation's
 * transitional state while it ran may come first) and the previous one of another state, with no other observation
 * between them and no other scale-set-wide operation in that gap. A per-instance record, event or
 * annotation that arrives after the sharpening thus undoes it, as if it had arrived before. `sorted` is in
 * the canonical order.
 */
export function unexplainedScaleSetObservations(sorted: readonly Observation[]): Set<Observation> {
  const dropped = new Set<Observation>();
  if (!sorted.some(fromScaleSetOperation)) return dropped;
  const others = sorted.filter((o) => !fromScaleSetOperation(o));
  const groups = new Map<string, Observation[]>();
  for (const o of sorted) {
    if (!fromScaleSetOperation(o)) continue;
    const key = operationKey(o) ?? `${o.operation ?? ''}|${o.dedupeId}`;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  /** Index in `others` of the first observation at or after each group's first time. */
  const gapOf = new Map<string, number>();
  const perGap = new Map<number, number>();
  for (const [key, group] of groups) {
    const first = Math.min(...group.map((o) => o.at));
    let index = others.findIndex((o) => o.at >= first);
    if (index < 0) index = others.length;
    gapOf.set(key, index);
    perGap.set(index, (perGap.get(index) ?? 0) + 1);
  }
  for (const [key, group] of groups) {
    let index = gapOf.get(key) ?? 0;
    const first = Math.min(...group.map((o) => o.at));
    const last = Math.max(...group.map((o) => o.at));
    const begin = group.find((o) => o.at === first)?.state;
    const final = group.find((o) => o.at === last)?.state;
    const previous = others[index - 1];
    // A read or the reconciler that saw the operation in progress (its transitional state, while it ran).
    const seenRunning: Observation[] = [];
    for (let o = others[index]; o !== undefined && o.at <= last && o.state === begin && windowed(o);) {
      seenRunning.push(o);
      index += 1;
      o = others[index];
    }
    const next = others[index];
    const opening = seenRunning[0] ?? next;
    const explains =
      perGap.get(gapOf.get(key) ?? 0) === 1 &&
      next !== undefined &&
      opening !== undefined &&
      previous?.state !== undefined &&
      next.state !== undefined &&
      next.state === final &&
      previous.state !== next.state &&
      next.at >= last &&
      windowed(next) &&
      opening.windowFrom !== undefined &&
      // A read that knew nothing of the instance (`sinceStateBegan`): its window starts at the last sighting.
      (opening.windowFrom === sinceStateBegan ? previous.at : opening.windowFrom) <= first &&
      // Nothing else inside the change's window: the previous observation is its last sighting, or older.
      (opening.windowFrom === sinceStateBegan || previous.at <= opening.windowFrom);
    if (!explains) for (const o of group) dropped.add(o);
  }
  return dropped;
}

const vmOperationPrefixes = [
  'microsoft.compute/virtualmachinescalesets/virtualmachines/',
  'microsoft.compute/virtualmachines/',
] as const;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A `LocalizableString` (`{ value, localizedValue }`) or a plain string. */
function localizable(value: unknown): string | undefined {
  return isObject(value) ? str(value['value']) : str(value);
}

const controlCharacters = /[\u0000-\u0008\u000a-\u001f\u007f]/u;
const maxFieldLength = 2048;
const earliestRecordTime = Date.UTC(2010, 0, 1);
/** `eventTimestamp` (ISO 8601 with an offset; the log writes 7 fractional digits) → epoch ms. */
export function parseRecordTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const parsed = parseInstantText(text, { requireOffset: true });
  return 'at' in parsed ? parsed.at : undefined;
}

/** The resource a record is about: `resourceId`, else `authorization.scope`, else its `id` without `/events/…`. */
function resourceOf(record: Json): string | undefined {
  const direct = str(record['resourceId']);
  if (direct !== undefined) return direct;
  const authorization = record['authorization'];
  const scope = isObject(authorization) ? str(authorization['scope']) : undefined;
  if (scope !== undefined) return scope;
  const id = str(record['id']);
  const at = id?.search(/\/events\//i) ?? -1;
  return id !== undefined && at > 0 ? id.slice(0, at) : undefined;
}

function verbOf(operation: string): { verb: string; prefix: string } | undefined {
  const lowered = operation.toLowerCase();
  for (const prefix of vmOperationPrefixes)
    if (lowered.startsWith(prefix)) return { verb: lowered.slice(prefix.length), prefix };
  return undefined;
}

function asksHibernate(record: Json): boolean {
  const request = record['httpRequest'];
  const uri = isObject(request) ? str(request['uri']) : undefined;
  return uri !== undefined && /[?&]hibernate=true(&|$)/i.test(uri);
}

function createdByWrite(record: Json): boolean {
  const properties = record['properties'];
  const statusCode = isObject(properties) ? str(properties['statusCode']) : undefined;
  const subStatus = localizable(record['subStatus']);
  return statusCode?.toLowerCase() === 'created' || subStatus?.toLowerCase() === 'created';
}

function annotationOf(record: Json): string | undefined {
  const properties = record['properties'];
  if (!isObject(properties)) return undefined;
  const direct = str(properties['details']);
  if (direct !== undefined && annotationStates[direct.toLowerCase()] !== undefined) return direct;
  const nested = str(properties['eventProperties']);
  if (nested === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(nested);
    return isObject(parsed) ? str(parsed['details']) : undefined;
  } catch {
    return undefined;
  }
}

/** A rejection when the operation name or resource id is too long or holds control characters. */
function fieldProblem(operation: string, resourceId: string): ActivityLogDecision | undefined {
  for (const [field, value] of [
    ['operationName', operation],
    ['resourceId', resourceId],
  ] as const) {
    if (value.length > maxFieldLength) return { kind: 'reject', reason: `${field} too long` };
    if (controlCharacters.test(value))
      return { kind: 'reject', reason: `${field} contains control characters` };
  }
  return undefined;
}

/** The record's `eventTimestamp` (epoch ms), or the rejection saying what is wrong with it. */
function recordTimeOf(raw: Json, now: number): number | ActivityLogDecision {
  const at = parseRecordTime(str(raw['eventTimestamp']));
  if (at === undefined) return { kind: 'reject', reason: 'missing or unparseable eventTimestamp' };
  if (at < earliestRecordTime) return { kind: 'reject', reason: 'eventTimestamp before 2010' };
  if (at > now + 15 * 60_000) return { kind: 'reject', reason: 'eventTimestamp in the future' };
  return at;
}

/** Maps one record of the log to an observation, or says why it is skipped or rejected. */
export function readActivityLogRecord(raw: unknown, now: number): ActivityLogDecision {
  if (!isObject(raw)) return { kind: 'reject', reason: 'record is not a JSON object' };
  const operation = localizable(raw['operationName']);
  const resourceId = resourceOf(raw);
  const category = localizable(raw['category'])?.toLowerCase();
  const health = category === 'resourcehealth' || /^microsoft\.resourcehealth\//i.test(operation ?? '');
  if (operation === undefined) return { kind: 'reject', reason: 'missing operationName' };
  const verb = verbOf(operation);
  if (!health && verb === undefined) {
    if (scaleSetWideStates(operation) !== undefined) return readScaleSetRecord(raw, operation, now);
    return /^microsoft\.compute\/virtualmachinescalesets\//i.test(operation)
      ? { kind: 'skip', reason: 'scale-set-wide operation changes no power state' }
      : { kind: 'skip', reason: 'not a virtual machine operation' };
  }
  if (resourceId === undefined) return { kind: 'reject', reason: 'missing resourceId' };
  const badField = fieldProblem(operation, resourceId);
  if (badField !== undefined) return badField;
  const resource = parseComputeResourceId(resourceId);
  if (resource === undefined || resource.kind === ResourceKind.scaleSet)
    return { kind: 'skip', reason: 'not a virtual machine' };
  const at = recordTimeOf(raw, now);
  if (typeof at !== 'number') return at;
  const correlationId = str(raw['correlationId'])?.slice(0, 128);
  const eventDataId = str(raw['eventDataId'])?.slice(0, 128);
  const status = localizable(raw['status'])?.toLowerCase() ?? '';
  const dedupeId = eventDataId ?? `${correlationId ?? 'none'}|${status}`;
  if (controlCharacters.test(dedupeId))
    return { kind: 'reject', reason: 'eventDataId contains control characters' };
  const base: Observation = {
    resourceId: resource.resourceId,
    at,
    source: ObservationSource.activityLog,
    dedupeId,
    operation,
    caller: str(raw['caller'])?.slice(0, 256) ?? (isObject(raw['claims']) ? callerOf(raw) : undefined),
    correlationId,
  };
  if (base.caller === undefined) delete base.caller;
  if (base.correlationId === undefined) delete base.correlationId;

  if (health) {
    const annotation = annotationOf(raw);
    const state = annotation === undefined ? undefined : annotationStates[annotation.toLowerCase()];
    if (state === undefined) return { kind: 'skip', reason: 'health record names no power change' };
    return { kind: 'observe', observation: { ...base, state, operation: `${operation}:${annotation}` } };
  }
  const phase = phases[status];
  if (phase === undefined) return { kind: 'skip', reason: 'status names no phase of an operation' };
  const { verb: name } = verb as { verb: string };
  const states = operationStates[name];
  if (states === undefined && !provisioningOperations.has(name))
    return { kind: 'skip', reason: 'operation does not change power state' };
  if (phase === ActivityLogPhase.failed) {
    const provisioning = status === 'failed' ? ProvisioningState.failed : ProvisioningState.canceled;
    return { kind: 'observe', observation: { ...base, provisioning: { state: provisioning } } };
  }
  if (phase === ActivityLogPhase.begin) {
    if (states?.begin === undefined) return { kind: 'skip', reason: 'operation has no transitional state' };
    return { kind: 'observe', observation: { ...base, state: states.begin } };
  }
  if (states === undefined) {
    // A write that created the VM (HTTP 201) leaves it running; any other write says nothing of power.
    if (name === 'write' && createdByWrite(raw))
      return { kind: 'observe', observation: { ...base, state: PowerState.running } };
    return { kind: 'skip', reason: 'operation outcome needs an instance view' };
  }
  const state =
    states.end === PowerState.deallocated && asksHibernate(raw) ? PowerState.hibernated : states.end;
  return { kind: 'observe', observation: { ...base, state } };
}

/** A record of a scale-set-wide power operation: the scale set, the correlation id, the status, the time. */
function readScaleSetRecord(raw: Json, operation: string, now: number): ActivityLogDecision {
  const resourceId = resourceOf(raw);
  if (resourceId === undefined) return { kind: 'reject', reason: 'missing resourceId' };
  const badField = fieldProblem(operation, resourceId);
  if (badField !== undefined) return badField;
  const resource = parseComputeResourceId(resourceId);
  if (resource?.kind !== ResourceKind.scaleSet) return { kind: 'skip', reason: 'not a scale set' };
  const at = recordTimeOf(raw, now);
  if (typeof at !== 'number') return at;
  const status = scaleSetOperationStatusOf(localizable(raw['status']) ?? '');
  if (status === undefined) return { kind: 'skip', reason: 'status names no phase of an operation' };
  // The correlation id ties the operation's records together: without it they cannot be told apart.
  const correlationId = str(raw['correlationId'])?.slice(0, 128);
  if (correlationId === undefined)
    return { kind: 'skip', reason: 'scale-set-wide record without correlationId' };
  if (controlCharacters.test(correlationId) || /[/\\#?|%]/.test(correlationId))
    return { kind: 'reject', reason: 'correlationId contains characters a key cannot hold' };
  return {
    kind: 'scaleSetOperation',
    record: { scaleSetId: resource.resourceId, correlationId, operation, status, at },
  };
}

/** `(correlation id, operation)` of an observation, case-insensitively; undefined without either. */
export function operationKey(o: Pick<Observation, 'correlationId' | 'operation'>): string | undefined {
  if (o.correlationId === undefined || o.operation === undefined) return undefined;
  return `${o.correlationId.toLowerCase()}|${o.operation.toLowerCase()}`;
}

/** Which record of its operation an observation stands for. */
export function phaseOf(o: Observation): ActivityLogPhase {
  if (o.state === undefined) return ActivityLogPhase.failed;
  return o.source === ObservationSource.activityLog && isTransitional(o.state)
    ? ActivityLogPhase.begin
    : ActivityLogPhase.end;
}

function failedOutcome(o: Observation): boolean {
  return (
    o.state === undefined &&
    (o.provisioning?.state === ProvisioningState.failed ||
      o.provisioning?.state === ProvisioningState.canceled)
  );
}

/**
 * The operations of a VM's history: which activity-log observations say nothing new. Pure and a function
 * of the set of observations, so derivation stays order-independent.
 */
export class OperationIndex {
  /** `(correlation id, operation, phase)` seen from events and reads. */
  readonly #fromEvents = new Set<string>();
  /** `(correlation id, operation)` that ended Failed or Canceled. */
  readonly #failed = new Set<string>();

  constructor(observations: Iterable<Observation>) {
    for (const o of observations) this.add(o);
  }

  add(o: Observation): void {
    const key = operationKey(o);
    if (key === undefined) return;
    if (failedOutcome(o)) this.#failed.add(key);
    // The re-list that a scale-set-wide operation's own Event Grid event triggered carries that operation's
    // correlation id and name, but its time is the listing's: the log's records of the operation (the
    // instance's share of it, see scale-set-operations.ts) are not repeats of it.
    const relist =
      o.source === ObservationSource.instanceView && scaleSetWideStates(o.operation) !== undefined;
    if (o.source !== ObservationSource.activityLog && !relist) this.#fromEvents.add(`${key}|${phaseOf(o)}`);
  }

  /**
   * True when the activity-log observation repeats what an event of the same operation already said (the
   * same correlation id, operation and phase): a second source of one fact adds nothing.
   */
  repeats(o: Observation): boolean {
    const key = operationKey(o);
    return (
      o.source === ObservationSource.activityLog &&
      key !== undefined &&
      this.#fromEvents.has(`${key}|${phaseOf(o)}`)
    );
  }

  /** True when the observation is left out of derivation: a repeat, or the transition of a failed operation. */
  ignores(o: Observation): boolean {
    if (this.repeats(o)) return true;
    const key = operationKey(o);
    return (
      key !== undefined &&
      o.source === ObservationSource.activityLog &&
      isTransitional(o.state) &&
      this.#failed.has(key)
    );
  }
}
