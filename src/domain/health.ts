/**
 * Resource Health events (`Microsoft.ResourceNotifications.HealthResources.*`, Event Grid schema or
 * CloudEvents 1.0) about VMs and scale-set VMs: validated, and turned into what they can tell the timeline.
 * They are annotations, not power states, and they are lossy, late and unordered: an annotation only
 * narrows or explains a change the timeline (or one instance-view read) proves; it never makes one up.
 * Pure: the caller passes `now` and what it knows of the VM.
 */
import type { CurrentTimelineState } from './current';
import { isWellFormed, maxClockSkewInMs, earliestEventTime, type ClassifyOptions } from './events';
import { ReasonSource, type ChangeReason } from './change-reason';
import { PowerState } from './power-state';
import { keyProblemOf, parseComputeResourceId, ResourceKind, type ComputeResource } from './resource-id';
import { InstantProblem, parseInstantText } from './time';

export const healthEventTypePrefix = 'Microsoft.ResourceNotifications.HealthResources.';

export const HealthEventType = {
  resourceAnnotated: 'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated',
  availabilityStatusChanged: 'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged',
} as const;
export type HealthEventType = (typeof HealthEventType)[keyof typeof HealthEventType];

/** One validated Resource Health event about a VM or a scale-set VM. */
export interface HealthEvent {
  id: string;
  eventType: HealthEventType;
  /** Epoch ms of `eventTime` / `time` (delivery side). */
  time: number;
  resource: ComputeResource;
  reason: ChangeReason;
  schema: 'eventGrid' | 'cloudEvents';
}

export type HealthReadResult =
  | { kind: 'health'; event: HealthEvent }
  | { kind: 'skip'; reason: string; eventId?: string | undefined }
  | { kind: 'reject'; reason: string; eventId?: string | undefined; resourceUri?: string | undefined };

/** What an annotation says about the VM's power. */
interface AnnotationEffect {
  /** Words for "how it was stopped" (alerts, timeline). */
  wording: string;
  /** The power state it implies, when it implies one (never recorded unless the timeline or a read agrees). */
  implies?: PowerState;
  /** States the change it explains may have led to (undefined: any state). */
  leadsTo?: readonly PowerState[];
}

const stoppedStates = [PowerState.stopping, PowerState.stopped] as const;
const deallocatedStates = [PowerState.deallocating, PowerState.deallocated, PowerState.hibernated] as const;

/**
 * The VM annotations (learn.microsoft.com/azure/service-health/resource-health-vm-annotation) the app
 * knows. Others are kept as reasons with their own `reason` text, and imply nothing.
 */
const annotationEffects: Readonly<Record<string, AnnotationEffect>> = {
  virtualmachinestoppedinternally: {
    wording: 'shut down from inside the guest OS',
    implies: PowerState.stopped,
    leadsTo: stoppedStates,
  },
  virtualmachinestopinitiatedbycontrolplane: {
    wording: 'stop requested through Azure (control plane)',
    leadsTo: stoppedStates,
  },
  virtualmachinedeallocationinitiated: {
    wording: 'stop and deallocate requested through Azure',
    leadsTo: deallocatedStates,
  },
  virtualmachinestartinitiatedbycontrolplane: {
    wording: 'start requested through Azure (control plane)',
    leadsTo: [PowerState.starting, PowerState.running],
  },
  virtualmachineallocated: { wording: 'allocated', leadsTo: [PowerState.starting, PowerState.running] },
  virtualmachinepreempted: {
    wording: 'platform: Spot eviction',
    leadsTo: [...deallocatedStates, PowerState.stopped, PowerState.deleted],
  },
  virtualmachinecrashed: { wording: 'platform: the VM crashed' },
  virtualmachinehostcrashed: { wording: 'platform: host crash' },
  virtualmachinehostrebootedforrepair: { wording: 'platform: host rebooted for repair' },
  virtualmachinemigrationinitiatedforrepair: { wording: 'platform: migration for repair' },
  virtualmachinerebootinitiatedforplannedmaintenance: { wording: 'platform: reboot for planned maintenance' },
  virtualmachinerestarted: { wording: 'restarted', leadsTo: [PowerState.running] },
};

const availabilityLeadsTo: Readonly<Record<string, readonly PowerState[]>> = {
  available: [PowerState.running],
  unavailable: [...stoppedStates, ...deallocatedStates, PowerState.deleted],
};

/** Names of the reasons the availability metric gives (`ChangeReason.name` with source `availabilityMetric`). */
export const MetricReasonName = {
  guestShutdown: 'GuestShutdown',
  controlPlaneStop: 'ControlPlaneStop',
} as const;

const metricEffects: Readonly<Record<string, AnnotationEffect>> = {
  guestshutdown: { wording: 'shut down from inside the guest OS', leadsTo: stoppedStates },
  controlplanestop: { wording: 'stopped through Azure (control plane)', leadsTo: stoppedStates },
};

function effectOf(reason: ChangeReason): AnnotationEffect | undefined {
  if (reason.source === ReasonSource.availabilityMetric) return metricEffects[reason.name.toLowerCase()];
  if (reason.source === ReasonSource.availability) {
    const leadsTo = availabilityLeadsTo[reason.name.toLowerCase()];
    return leadsTo === undefined ? undefined : { wording: `availability ${reason.name}`, leadsTo };
  }
  return annotationEffects[reason.name.toLowerCase()];
}

/** True when the annotation could explain a change to `state`. */
export function couldLeadTo(reason: ChangeReason, state: PowerState): boolean {
  const leadsTo = effectOf(reason)?.leadsTo;
  return leadsTo === undefined || leadsTo.includes(state);
}

/** Words for the reason: `shut down from inside the guest OS`, `platform: host crash`, … */
export function reasonWording(reason: ChangeReason): string {
  const known = effectOf(reason)?.wording;
  if (known !== undefined) return known;
  if (reason.source === ReasonSource.availability) return `availability ${reason.name}`;
  return reason.summary ?? reason.name;
}

const sourceLabels: Readonly<Record<ReasonSource, string>> = {
  resourceHealth: 'Resource Health annotation',
  availability: 'Resource Health availability',
  availabilityMetric: 'VM availability metric',
};

/** `hh:mm` UTC of an instant. */
export function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 16);
}

/** `shut down from inside the guest OS at 13:02 UTC (Resource Health annotation)`. */
export function describeReason(reason: ChangeReason): string {
  if (reason.source === ReasonSource.availabilityMetric)
    return `${reasonWording(reason)} before ${clockTime(reason.at)} UTC (${sourceLabels[reason.source]}${reason.summary === undefined ? '' : `: ${reason.summary}`})`;
  return `${reasonWording(reason)} at ${clockTime(reason.at)} UTC (${sourceLabels[reason.source]})`;
}

/** Longest text kept from a health event's free-text fields. */
export const maxReasonTextLength = 512;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const controlCharacters = /[\u0000-\u0008\u000a-\u001f\u007f]/u;

/** A usable text field: a non-empty, well-formed string without control characters, cut to the limit. */
function text(value: unknown, limit = maxReasonTextLength): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (trimmed === '' || !isWellFormed(trimmed)) return undefined;
  const cleaned = trimmed.replace(/[\u0000-\u001f\u007f]+/gu, ' ');
  return cleaned.length > limit ? cleaned.slice(0, limit) : cleaned;
}

/** True for `Microsoft.ResourceNotifications.HealthResources.*` events (either schema). */
export function isHealthEvent(raw: unknown): boolean {
  if (!isObject(raw)) return false;
  const type = raw['eventType'] ?? raw['type'];
  return typeof type === 'string' && type.toLowerCase().startsWith(healthEventTypePrefix.toLowerCase());
}

const timeProblems: Readonly<Record<InstantProblem, string>> = {
  [InstantProblem.format]: 'unparseable',
  [InstantProblem.offset]: 'has no UTC offset (Z or ±hh:mm)',
  [InstantProblem.calendar]: 'is not a valid calendar date',
};

/**
 * Validates one Resource Health event. Scale sets themselves and other resource types are skipped;
 * an event that can never be used is rejected with the reason.
 */
export function readHealthEvent(raw: unknown, now: number, options: ClassifyOptions = {}): HealthReadResult {
  if (!isObject(raw)) return { kind: 'reject', reason: 'event is not a JSON object' };
  const isCloudEvent = 'specversion' in raw || !('eventType' in raw);
  const id = typeof raw['id'] === 'string' && raw['id'] !== '' ? raw['id'] : undefined;
  const data = isObject(raw['data']) ? raw['data'] : undefined;
  const info = isObject(data?.['resourceInfo']) ? data['resourceInfo'] : undefined;
  const properties = isObject(info?.['properties']) ? info['properties'] : undefined;
  const target = text(properties?.['targetResourceId'], 2048) ?? text(raw['subject'], 2048);
  const reject = (reason: string): HealthReadResult => ({
    kind: 'reject',
    reason,
    eventId: id,
    resourceUri: target,
  });
  if (id === undefined) return reject('missing event id');
  if (id.length > 256 || controlCharacters.test(id) || !isWellFormed(id))
    return reject('event id too long or contains control characters');
  if (isCloudEvent && raw['specversion'] !== '1.0') return reject('CloudEvents specversion must be "1.0"');
  const typeText = String(raw[isCloudEvent ? 'type' : 'eventType']);
  const eventType = Object.values(HealthEventType).find((t) => t.toLowerCase() === typeText.toLowerCase());
  if (eventType === undefined) return { kind: 'skip', reason: 'health event type not used', eventId: id };
  if (properties === undefined) return reject('missing data.resourceInfo.properties');
  if (target === undefined) return reject('missing data.resourceInfo.properties.targetResourceId');
  const resource = parseComputeResourceId(target);
  if (resource === undefined) {
    return /microsoft\.compute\/virtualmachines\//i.test(target)
      ? reject('targetResourceId is not a virtual machine id')
      : { kind: 'skip', reason: 'not a virtual machine health event', eventId: id };
  }
  if (resource.kind === ResourceKind.scaleSet)
    return { kind: 'skip', reason: 'scale-set health event (instances have their own)', eventId: id };
  const keyProblem = keyProblemOf(resource.resourceId, id);
  if (keyProblem !== undefined) return reject(keyProblem);

  const timeText = raw[isCloudEvent ? 'time' : 'eventTime'];
  if (typeof timeText !== 'string') return reject(isCloudEvent ? 'missing time' : 'missing eventTime');
  const time = parseInstantText(timeText, { requireOffset: true });
  if (!('at' in time)) return reject(`event time ${timeProblems[time.problem]}`);
  const operational = isObject(data?.['operationalInfo']) ? data['operationalInfo'] : undefined;
  const occurredText = properties['occurredTime'] ?? operational?.['resourceEventTime'];
  if (typeof occurredText !== 'string') return reject('missing data.resourceInfo.properties.occurredTime');
  const occurred = parseInstantText(occurredText, { requireOffset: true });
  if (!('at' in occurred)) return reject(`occurredTime ${timeProblems[occurred.problem]}`);
  for (const at of [time.at, occurred.at]) {
    if (at < earliestEventTime) return reject('event time before 2010');
    if (at > now + maxClockSkewInMs) return reject('event time in the future');
  }
  if (options.maxEventAgeInMs !== undefined && time.at < now - options.maxEventAgeInMs)
    return reject('event time older than Event Grid delivers (24-hour retry window)');

  let reason: ChangeReason;
  if (eventType === HealthEventType.resourceAnnotated) {
    const name = text(properties['annotationName'], 128);
    if (name === undefined) return reject('missing data.resourceInfo.properties.annotationName');
    reason = { source: ReasonSource.resourceHealth, name, at: occurred.at };
    const summary = text(properties['summary']) ?? text(properties['reason']);
    if (summary !== undefined) reason.summary = summary;
  } else {
    const name = text(properties['availabilityState'], 64);
    if (name === undefined) return reject('missing data.resourceInfo.properties.availabilityState');
    reason = { source: ReasonSource.availability, name, at: occurred.at };
    const previous = text(properties['previousAvailabilityState'], 64);
    if (previous !== undefined) reason.summary = `${previous} → ${name}`;
  }
  const context = text(properties['context'], 64);
  const category = text(properties['category'], 64);
  if (context !== undefined) reason.context = context;
  if (category !== undefined) reason.category = category;
  return {
    kind: 'health',
    event: {
      id,
      eventType,
      time: time.at,
      resource,
      reason,
      schema: isCloudEvent ? 'cloudEvents' : 'eventGrid',
    },
  };
}

/**
 * How far an annotation's time may lie from a change recorded at an exact time (an event or a read)
 * and still explain it: annotations are written around the operation, not at its completion.
 */
export const reasonToleranceInMs = 5 * 60_000;

/** What a health event does, given the VM's current row. */
export type HealthDecision =
  /**
   * The open change (to `state`, known within `[windowFrom, since]` or exactly at `since`) is explained by
   * the annotation: record `state` at `at` (the annotation time when it lies inside the window, which
   * narrows the change; else `since`) with the reason. Same state, so never a new transition.
   */
  | { kind: 'explain'; state: PowerState; at: number; windowFrom?: number | undefined }
  /**
   * Nothing recorded explains it yet (the annotation arrived before the reconciler): one instance-view
   * read decides. Only a read showing a new state consistent with the annotation is recorded.
   */
  | { kind: 'read'; knownUntil?: number | undefined }
  /** Nothing to do (stale, contradicting, or explaining a change a management operation already explains). */
  | { kind: 'ignore'; reason: string }
  /** The same annotation already explains the change (a redelivery). */
  | { kind: 'duplicate' };

/** Latest time the current row proves the VM was in its current state. */
function knownUntil(current: CurrentTimelineState & { lastSeenAt?: number | undefined }): number {
  return Math.max(current.last.at, current.lastSeenAt ?? Number.NEGATIVE_INFINITY);
}

/**
 * Decides what a health event does. `current` is the VM's current row (undefined when the VM has none).
 * The rules keep every annotation from inventing a transition: it may only move a recorded change earlier
 * inside its own window, attach a reason to it, or ask for a read whose result is recorded only when the
 * read itself shows the change.
 */
export function decideHealth(
  reason: ChangeReason,
  current: (CurrentTimelineState & { lastSeenAt?: number | undefined }) | undefined,
): HealthDecision {
  if (current?.state !== undefined && current.since !== undefined) {
    const { state, since } = current;
    const from = current.sinceWindowFrom;
    // The metric's reason is a bound and an availability change a symptom: an annotation, when it
    // arrives, says more.
    const explained = current.reason?.source === ReasonSource.resourceHealth;
    const inWindow = from !== undefined && reason.at > from && reason.at < since;
    const near =
      inWindow ||
      (reason.at >= (from ?? since) - reasonToleranceInMs && reason.at <= since + reasonToleranceInMs);
    // Only an annotation near the open change can explain it (one long after it is about a later change).
    if (couldLeadTo(reason, state) && !explained && near) {
      if (
        current.operation !== undefined &&
        (current.sinceSource === 'event' || current.sinceSource === 'activityLog')
      )
        return { kind: 'ignore', reason: 'change already explained by a management operation' };
      if (inWindow) return { kind: 'explain', state, at: reason.at, windowFrom: from };
      return { kind: 'explain', state, at: since, windowFrom: from };
    }
    if (current.reason !== undefined && sameReason(current.reason, reason)) return { kind: 'duplicate' };
    if (reason.at < knownUntil(current))
      return { kind: 'ignore', reason: 'annotation older than what the timeline already knows' };
    return { kind: 'read', knownUntil: knownUntil(current) };
  }
  if (current !== undefined && reason.at < current.last.at)
    return { kind: 'ignore', reason: 'annotation older than what the timeline already knows' };
  return { kind: 'read', knownUntil: current?.last.at };
}

/** Two reasons naming the same annotation at the same time. */
export function sameReason(a: ChangeReason, b: ChangeReason): boolean {
  return a.source === b.source && a.name.toLowerCase() === b.name.toLowerCase() && a.at === b.at;
}

/**
 * What an instance-view read made because of an annotation tells: the read state is recorded when it
 * differs from the current one (it is a fact either way); it carries the reason, and is placed at the
 * annotation's time, only when the annotation could have led to it. Bounds stay honest: the change lies
 * after `knownUntil` (the last time the old state was seen) and before the read.
 */
export function readOutcome(
  reason: ChangeReason,
  readState: PowerState,
  readAt: number,
  currentState: PowerState | undefined,
  knownUntilAt: number | undefined,
): { at: number; windowFrom?: number | undefined; explained: boolean } | undefined {
  if (readState === currentState) return undefined;
  const from = knownUntilAt !== undefined && knownUntilAt < readAt ? knownUntilAt : undefined;
  if (couldLeadTo(reason, readState) && reason.at <= readAt && (from === undefined || reason.at > from))
    return { at: reason.at, windowFrom: from, explained: true };
  return { at: readAt, windowFrom: from, explained: false };
}

/** Past-tense words of the management operations that change power (`…/powerOff/action` → powered off). */
const operationVerbs: Readonly<Record<string, string>> = {
  'start/action': 'started',
  'restart/action': 'restarted',
  'poweroff/action': 'powered off',
  'deallocate/action': 'deallocated',
  delete: 'deleted',
  write: 'updated',
  'redeploy/action': 'redeployed',
  'reimage/action': 'reimaged',
  'simulateeviction/action': 'evicted (simulated)',
};

const changeSourceLabels: Readonly<Record<string, string>> = {
  event: 'Event Grid',
  instanceView: 'Event Grid, state read from Azure',
  reconcile: 'reconciler',
  resourceHealth: 'Resource Health',
  activityLog: 'Activity Log',
};

/** What a change is described from: a segment, a current row or a stopped episode. */
export interface ChangeFacts {
  /** Start of the change (the latest possible start when known within a window). */
  start: number;
  startWindowFrom?: number | undefined;
  source?: string | undefined;
  operation?: string | undefined;
  caller?: string | undefined;
  reason?: ChangeReason | undefined;
}

/**
 * Who or what made a change, and how we know: `shut down from inside the guest OS at 13:02 UTC (Resource
 * Health annotation)`, `powered off by alice@contoso.com (Event Grid)`, `unknown: found by the reconciler
 * between 12:58 and 13:03 UTC`. Undefined when nothing is known (an exact change without operation).
 */
export function describeChange(change: ChangeFacts): string | undefined {
  if (change.reason !== undefined) return describeReason(change.reason);
  const label = changeSourceLabels[change.source ?? ''] ?? change.source ?? 'unknown source';
  if (change.operation !== undefined) {
    const verb = /\/(virtualmachines|virtualmachinescalesets\/virtualmachines)\/(.+)$/i.exec(
      change.operation,
    )?.[2];
    const words = operationVerbs[verb?.toLowerCase() ?? ''] ?? change.operation;
    return `${words}${change.caller === undefined ? '' : ` by ${change.caller}`} (${label})`;
  }
  if (change.startWindowFrom !== undefined)
    return `unknown: found by the ${label} between ${clockTime(change.startWindowFrom)} and ${clockTime(change.start)} UTC`;
  return undefined;
}
