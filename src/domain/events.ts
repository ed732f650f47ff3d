/**
 * Event Grid (and CloudEvents 1.0) resource events from a subscription system topic, validated and
 * classified into what the app must do with each one. Pure: the caller passes `now`.
 */
import { PowerState, ProvisioningState, type Provisioning } from './power-state';
import { keyProblemOf, parseComputeResourceId, ResourceKind, type ComputeResource } from './resource-id';
import { InstantProblem, parseInstantText } from './time';

export const EventOutcome = { success: 'success', failure: 'failure', cancel: 'cancel' } as const;
export type EventOutcome = (typeof EventOutcome)[keyof typeof EventOutcome];

/** A resource event, whichever schema delivered it. */
export interface ResourceEvent {
  id: string;
  /** `Microsoft.Resources.ResourceActionSuccess` etc. */
  eventType: string;
  outcome: EventOutcome;
  /** Epoch ms of `eventTime` / `time`. */
  time: number;
  resourceUri: string;
  operationName: string;
  caller?: string | undefined;
  correlationId?: string | undefined;
  /** `data.httpRequest.url`, when the event carries it. */
  requestUrl?: string | undefined;
  schema: 'eventGrid' | 'cloudEvents';
}

/** What to do with one event. */
export type EventDecision =
  /** Outcome certain: record this state at the event time, no management call. */
  | { kind: 'observe'; event: ResourceEvent; resource: ComputeResource; state: PowerState }
  /** Outcome uncertain: read this VM's instance view once. */
  | { kind: 'read'; event: ResourceEvent; resource: ComputeResource }
  /** A scale-set-wide operation: re-list that scale set's instances. */
  | { kind: 'relistScaleSet'; event: ResourceEvent; resource: ComputeResource }
  /** The scale set itself was deleted: every instance of it is deleted. */
  | { kind: 'scaleSetDeleted'; event: ResourceEvent; resource: ComputeResource }
  /** A failed or cancelled operation: no power change, provisioning recorded. */
  | { kind: 'provisioning'; event: ResourceEvent; resource: ComputeResource; provisioning: Provisioning }
  /** Not about a VM's power (other providers, other operations): counted, not stored. */
  | { kind: 'skip'; reason: string; eventId?: string | undefined }
  /** A VM event that can never be processed: recorded with the reason, acknowledged. */
  | { kind: 'reject'; reason: string; eventId?: string | undefined; resourceUri?: string | undefined };

/** Oldest and newest event times accepted, relative to `now`. */
export const earliestEventTime = Date.UTC(2010, 0, 1);
export const maxClockSkewInMs = 15 * 60_000;

/**
 * Event Grid retries a delivery for at most 24 hours (then dead-letters or drops it), so nothing it
 * delivers is older than that: the Event Grid path refuses older event times (plus a margin for clock
 * skew and the last attempt's own delay). Archives and backfills (`vm-timeline ingest`) have no such limit.
 */
export const eventGridRetryWindowInMs = 24 * 3_600_000;
export const eventGridAgeMarginInMs = 60 * 60_000;
export const eventGridMaxEventAgeInMs = eventGridRetryWindowInMs + eventGridAgeMarginInMs;

export interface ClassifyOptions {
  /**
   * Oldest event accepted, as an age relative to `now` (the Event Grid path: `eventGridMaxEventAgeInMs`).
   * Undefined: any time from 2010 on (archives, backfills).
   */
  maxEventAgeInMs?: number | undefined;
}
/** Longest string field we keep; longer ones are rejected rather than truncated. */
export const maxFieldLength = 2048;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

// Control characters other than tab are never legitimate in the fields we key or display.
const controlCharacters = /[\u0000-\u0008\u000a-\u001f\u007f]/u;

/**
 * A string with a lone UTF-16 surrogate (valid JSON: `"x\udfff"`) has no UTF-8 form: it cannot be a
 * URL or a Table key (in Azurite such a key breaks every later entity-group transaction).
 */
export function isWellFormed(text: string): boolean {
  return text.isWellFormed();
}

const callerClaims = [
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  'upn',
  'unique_name',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  'name',
  'appid',
  'azp',
  'http://schemas.microsoft.com/identity/claims/objectidentifier',
  'oid',
] as const;

/** The caller named by the event's token claims: user principal name, else app id, else object id. */
export function callerOf(data: Json): string | undefined {
  const claims = data['claims'];
  if (isObject(claims)) {
    for (const name of callerClaims) {
      const value = str(claims[name]);
      if (value !== undefined && value.length <= 256 && !controlCharacters.test(value) && isWellFormed(value))
        return value;
    }
  }
  return undefined;
}

const timeProblems: Readonly<Record<InstantProblem, string>> = {
  [InstantProblem.format]: 'unparseable event time',
  [InstantProblem.offset]: 'event time has no UTC offset (Z or ±hh:mm)',
  [InstantProblem.calendar]: 'event time is not a valid calendar date',
};

/** The first string field an event is keyed, logged or displayed by that holds a lone surrogate. */
function malformedField(raw: Json, data: Json | undefined): string | undefined {
  const fields: Array<[string, unknown]> = [
    ['id', raw['id']],
    ['eventType', raw['eventType']],
    ['type', raw['type']],
    ['subject', raw['subject']],
    ['source', raw['source']],
    ['topic', raw['topic']],
    ['eventTime', raw['eventTime']],
    ['time', raw['time']],
    ['data.operationName', data?.['operationName']],
    ['data.resourceUri', data?.['resourceUri']],
    ['data.correlationId', data?.['correlationId']],
  ];
  const httpRequest = data?.['httpRequest'];
  if (isObject(httpRequest)) fields.push(['data.httpRequest.url', httpRequest['url']]);
  const claims = data?.['claims'];
  if (isObject(claims)) for (const name of callerClaims) fields.push([`data.claims.${name}`, claims[name]]);
  for (const [name, value] of fields) if (typeof value === 'string' && !isWellFormed(value)) return name;
  return undefined;
}

const outcomeSuffixes: ReadonlyArray<[string, EventOutcome]> = [
  ['success', EventOutcome.success],
  ['failure', EventOutcome.failure],
  ['cancel', EventOutcome.cancel],
];

function outcomeOf(eventType: string): EventOutcome | undefined {
  const lowered = eventType.toLowerCase();
  if (!/^microsoft\.resources\.resource(write|delete|action)(success|failure|cancel)$/.test(lowered))
    return undefined;
  for (const [suffix, outcome] of outcomeSuffixes) if (lowered.endsWith(suffix)) return outcome;
  return undefined;
}

function looksLikeCompute(text: string | undefined): boolean {
  return text !== undefined && /microsoft\.compute\/virtualmachine/i.test(text);
}

/**
 * Validates one delivered event in either schema. Returns the event, or a skip / reject decision
 * explaining why it cannot be used.
 */
export function readResourceEvent(
  raw: unknown,
  now: number,
  options: ClassifyOptions = {},
): ResourceEvent | EventDecision {
  if (!isObject(raw)) return { kind: 'reject', reason: 'event is not a JSON object' };
  const isCloudEvent = 'specversion' in raw || ('type' in raw && 'source' in raw && !('eventType' in raw));
  const id = str(raw['id']);
  const eventType = str(isCloudEvent ? raw['type'] : raw['eventType']);
  const timeText = str(isCloudEvent ? raw['time'] : raw['eventTime']);
  const data = raw['data'];
  const dataObject = isObject(data) ? data : undefined;
  const operationName = str(dataObject?.['operationName']);
  const resourceUri = str(dataObject?.['resourceUri']) ?? str(raw['subject']);

  if (eventType !== undefined && !/^microsoft\.resources\./i.test(eventType)) {
    return { kind: 'skip', reason: 'not a resource event', eventId: id };
  }
  const aboutCompute = looksLikeCompute(operationName) || looksLikeCompute(resourceUri);
  if (!aboutCompute && eventType !== undefined && dataObject !== undefined) {
    return { kind: 'skip', reason: 'not a virtual machine event', eventId: id };
  }
  const reject = (reason: string): EventDecision => ({ kind: 'reject', reason, eventId: id, resourceUri });
  // Before anything else reads them: a lone surrogate cannot be logged as UTF-8, a URL or a key.
  const malformed = malformedField(raw, dataObject);
  if (malformed !== undefined) return reject(`${malformed} is not well-formed UTF-16 (lone surrogate)`);
  if (isCloudEvent && str(raw['specversion']) !== '1.0')
    return reject('CloudEvents specversion must be "1.0"');
  if (id === undefined) return reject('missing event id');
  if (id.length > 256 || controlCharacters.test(id))
    return reject('event id too long or contains control characters');
  if (eventType === undefined) return reject(isCloudEvent ? 'missing type' : 'missing eventType');
  const outcome = outcomeOf(eventType);
  if (outcome === undefined) return reject('unknown resource event type');
  if (dataObject === undefined) return reject('missing data');
  if (!aboutCompute) return { kind: 'skip', reason: 'not a virtual machine event', eventId: id };
  if (timeText === undefined) return reject(isCloudEvent ? 'missing time' : 'missing eventTime');
  const parsed = parseInstantText(timeText, { requireOffset: true });
  if (!('at' in parsed)) return reject(timeProblems[parsed.problem]);
  const time = parsed.at;
  if (time < earliestEventTime) return reject('event time before 2010');
  if (time > now + maxClockSkewInMs) return reject('event time in the future');
  if (options.maxEventAgeInMs !== undefined && time < now - options.maxEventAgeInMs)
    return reject('event time older than Event Grid delivers (24-hour retry window)');
  if (operationName === undefined) return reject('missing data.operationName');
  if (resourceUri === undefined) return reject('missing data.resourceUri');
  for (const [field, value] of [
    ['data.operationName', operationName],
    ['data.resourceUri', resourceUri],
  ] as const) {
    if (value.length > maxFieldLength) return reject(`${field} too long`);
    if (controlCharacters.test(value)) return reject(`${field} contains control characters`);
  }
  const httpRequest = dataObject['httpRequest'];
  const requestUrl = isObject(httpRequest) ? str(httpRequest['url']) : undefined;
  return {
    id,
    eventType,
    outcome,
    time,
    resourceUri,
    operationName,
    caller: callerOf(dataObject),
    correlationId: str(dataObject['correlationId'])?.slice(0, 128),
    requestUrl: requestUrl !== undefined && requestUrl.length <= maxFieldLength ? requestUrl : undefined,
    schema: isCloudEvent ? 'cloudEvents' : 'eventGrid',
  };
}

/** Operations on a VM or scale-set instance whose outcome is certain. */
const certainOperations: Readonly<Record<string, PowerState>> = {
  'start/action': PowerState.running,
  'restart/action': PowerState.running,
  'poweroff/action': PowerState.stopped,
  'deallocate/action': PowerState.deallocated,
  delete: PowerState.deleted,
};

/** Operations on a VM or scale-set instance after which the power state must be read. */
const uncertainOperations: ReadonlySet<string> = new Set([
  'write',
  'redeploy/action',
  'reimage/action',
  'reimageall/action',
  'reapply/action',
  'performmaintenance/action',
  'simulateeviction/action',
]);

/** Scale-set-wide operations after which the scale set's instances are re-listed. */
const scaleSetOperations: ReadonlySet<string> = new Set([
  'start/action',
  'restart/action',
  'poweroff/action',
  'deallocate/action',
  'write',
  'redeploy/action',
  'reimage/action',
  'reimageall/action',
  'performmaintenance/action',
  'delete/action',
  'manualupgrade/action',
]);

const operationPrefixes: Readonly<Record<ResourceKind, string>> = {
  vm: 'microsoft.compute/virtualmachines/',
  scaleSetInstance: 'microsoft.compute/virtualmachinescalesets/virtualmachines/',
  scaleSet: 'microsoft.compute/virtualmachinescalesets/',
};

/** The operations the app acts on, for documentation and for the infra filter contract. */
export const mappedOperations = {
  certain: Object.keys(certainOperations),
  uncertain: [...uncertainOperations],
  scaleSet: [...scaleSetOperations, 'delete'],
  prefixes: Object.values(operationPrefixes),
} as const;

/** `hibernate=true` in the request URL of a deallocate. */
function asksHibernate(requestUrl: string | undefined): boolean {
  return requestUrl !== undefined && /[?&]hibernate=true(&|$)/i.test(requestUrl);
}

/** Maps a validated resource event to what the app does with it (the design's operations table). */
export function decide(event: ResourceEvent): EventDecision {
  const resource = parseComputeResourceId(event.resourceUri);
  if (resource === undefined) {
    // Extensions, run commands and other child resources of a VM are not about its power.
    if (
      /\/virtualmachines\/[^/]+\/.+/i.test(event.resourceUri) &&
      !/virtualmachinescalesets\/[^/]+\/virtualmachines\/[^/]+$/i.test(event.resourceUri)
    ) {
      return { kind: 'skip', reason: 'child resource of a virtual machine', eventId: event.id };
    }
    return {
      kind: 'reject',
      reason: 'data.resourceUri is not a virtual machine id',
      eventId: event.id,
      resourceUri: event.resourceUri,
    };
  }
  // The keys this event writes must fit Table Storage once escaped (`%` becomes `%25`, U+0085 `%C2%85`).
  const keyProblem = keyProblemOf(resource.resourceId, event.id);
  if (keyProblem !== undefined)
    return { kind: 'reject', reason: keyProblem, eventId: event.id, resourceUri: event.resourceUri };
  const prefix = operationPrefixes[resource.kind];
  const operation = event.operationName.toLowerCase();
  if (!operation.startsWith(prefix)) {
    return { kind: 'skip', reason: 'operation is not on this resource type', eventId: event.id };
  }
  const verb = operation.slice(prefix.length);
  if (resource.kind === ResourceKind.scaleSet) {
    if (event.outcome !== EventOutcome.success)
      return { kind: 'skip', reason: 'failed scale-set operation', eventId: event.id };
    if (verb === 'delete') return { kind: 'scaleSetDeleted', event, resource };
    if (scaleSetOperations.has(verb)) return { kind: 'relistScaleSet', event, resource };
    return { kind: 'skip', reason: 'operation does not change power state', eventId: event.id };
  }
  const certain = certainOperations[verb];
  const known = certain !== undefined || uncertainOperations.has(verb);
  if (!known) return { kind: 'skip', reason: 'operation does not change power state', eventId: event.id };
  if (event.outcome !== EventOutcome.success) {
    const state =
      event.outcome === EventOutcome.failure ? ProvisioningState.failed : ProvisioningState.canceled;
    return { kind: 'provisioning', event, resource, provisioning: { state } };
  }
  if (certain === undefined) return { kind: 'read', event, resource };
  const state =
    certain === PowerState.deallocated && asksHibernate(event.requestUrl) ? PowerState.hibernated : certain;
  return { kind: 'observe', event, resource, state };
}

/** Validates and classifies one delivered event. */
export function classifyEvent(raw: unknown, now: number, options: ClassifyOptions = {}): EventDecision {
  const read = readResourceEvent(raw, now, options);
  return 'kind' in read ? read : decide(read);
}
