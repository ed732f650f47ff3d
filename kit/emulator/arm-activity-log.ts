/**
 * The emulated Activity Log of the fleet's subscriptions: management records in Azure's wire format
 * (`Microsoft.Insights/eventtypes/management/values`, api-version 2015-04-01), each queryable only from
 * its `submissionTimestamp` on (records appear 3-20 minutes late), kept 90 days, and the documented
 * `$filter` grammar (time range plus at most one of resourceGroupName / resourceUri / resourceProvider /
 * correlationId; anything else is an error, as Azure answers).
 */
import { randomUUID } from 'node:crypto';

export const activityLogRetentionInDays = 90;
const dayInMs = 86_400_000;

/** One wire record (as the REST API returns it). */
export type WireActivityLogRecord = Record<string, unknown>;

interface StoredRecord {
  /** `eventTimestamp` (epoch ms). */
  at: number;
  /** `submissionTimestamp`: queryable from then on. */
  visibleAt: number;
  subscriptionId: string;
  resourceGroup: string;
  resourceId: string;
  provider: string;
  correlationId: string;
  wire: WireActivityLogRecord;
}

export const ActivityLogOperation = {
  start: 'start',
  restart: 'restart',
  powerOff: 'powerOff',
  deallocate: 'deallocate',
  delete: 'delete',
  write: 'write',
} as const;
export type ActivityLogOperation = (typeof ActivityLogOperation)[keyof typeof ActivityLogOperation];

export const ActivityLogOutcome = { succeeded: 'Succeeded', failed: 'Failed', canceled: 'Canceled' } as const;
export type ActivityLogOutcome = (typeof ActivityLogOutcome)[keyof typeof ActivityLogOutcome];

export interface OperationInput {
  /**
   * VM or scale-set instance id, or a scale set's for a scale-set-wide operation (its records name the set
   * only: the instance ids are in the request body, which the log does not carry).
   */
  resourceId: string;
  operation: ActivityLogOperation;
  /** When the request was accepted (epoch ms): the Started and Accepted records. */
  startedAt: number;
  /** How long the operation ran (the Succeeded / Failed record comes this much later). */
  durationInMs: number;
  outcome?: ActivityLogOutcome;
  /** A deallocate that asked `hibernate=true` (in the request URI of its records). */
  hibernate?: boolean;
  /** A write that created the VM (statusCode Created, HTTP 201). */
  created?: boolean;
  caller?: string;
  correlationId?: string;
  /** Delay between each record's `eventTimestamp` and its `submissionTimestamp` (default 5 minutes). */
  lagInMs?: number | ((at: number) => number);
}

/** `eventTimestamp` as the log writes it: seven fractional digits. */
export function wireTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '0000Z');
}

/** .NET ticks of an instant, as the record id carries them. */
function ticks(ms: number): string {
  return (BigInt(ms) * 10_000n + 621_355_968_000_000_000n).toString();
}

const parts = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/([^/]+)\//i;

/** The resource type of a VM, a scale-set instance or a scale set (a scale-set-wide operation's records name the set). */
function resourceTypeOf(resourceId: string): string {
  if (/\/virtualmachinescalesets\/[^/]+\/virtualmachines\//i.test(resourceId))
    return 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines';
  if (/\/virtualmachinescalesets\/[^/]+\/?$/i.test(resourceId))
    return 'Microsoft.Compute/virtualMachineScaleSets';
  return 'Microsoft.Compute/virtualMachines';
}

function operationName(resourceId: string, operation: ActivityLogOperation): string {
  const type = resourceTypeOf(resourceId);
  return operation === 'write' || operation === 'delete'
    ? `${type}/${operation}`
    : `${type}/${operation}/action`;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

const localized = (value: string, localizedValue = value) => ({ value, localizedValue });

/** The error a malformed `$filter` gets (the message names what is allowed). */
export class ActivityLogFilterError extends Error {
  override name = 'ActivityLogFilterError';
}

export interface ActivityLogQuery {
  from: number;
  to: number;
  field?: 'resourceGroupName' | 'resourceUri' | 'resourceProvider' | 'correlationId';
  value?: string;
}

const quoted = `'((?:[^']|'')*)'`;
const filterPattern = new RegExp(
  `^\\s*eventTimestamp\\s+ge\\s+${quoted}` +
    `(?:\\s+and\\s+eventTimestamp\\s+le\\s+${quoted})?` +
    `(?:\\s+and\\s+(resourceGroupName|resourceUri|resourceProvider|correlationId)\\s+eq\\s+${quoted})?\\s*$`,
  'i',
);
const filterFields = ['resourceGroupName', 'resourceUri', 'resourceProvider', 'correlationId'] as const;

/**
 * Parses `$filter` by the documented grammar only: `eventTimestamp ge '<t1>' [and eventTimestamp le
 * '<t2>'] [and <resourceGroupName|resourceUri|resourceProvider|correlationId> eq '<value>']`.
 */
export function parseActivityLogFilter(filter: string | null, now: number): ActivityLogQuery {
  if (filter === null || filter.trim() === '')
    throw new ActivityLogFilterError(
      'The $filter query parameter with a start time (eventTimestamp ge) is required.',
    );
  const match = filterPattern.exec(filter);
  if (!match)
    throw new ActivityLogFilterError(
      "The $filter is invalid: only \"eventTimestamp ge '<time>' and eventTimestamp le '<time>'\" optionally followed by one of resourceGroupName, resourceUri, resourceProvider or correlationId eq '<value>' is allowed.",
    );
  const [, fromText = '', toText, fieldText, valueText] = match;
  const from = Date.parse(fromText);
  const to = toText === undefined ? now : Date.parse(toText);
  if (Number.isNaN(from) || Number.isNaN(to))
    throw new ActivityLogFilterError('The eventTimestamp values of $filter must be ISO 8601 times.');
  if (to < from) throw new ActivityLogFilterError('The end time of $filter is before its start time.');
  if (from < now - activityLogRetentionInDays * dayInMs)
    throw new ActivityLogFilterError(
      `The start time of $filter is more than ${activityLogRetentionInDays} days in the past: the Activity Log keeps ${activityLogRetentionInDays} days.`,
    );
  const query: ActivityLogQuery = { from, to };
  if (fieldText !== undefined && valueText !== undefined) {
    query.field = filterFields.find((f) => f.toLowerCase() === fieldText.toLowerCase());
    query.value = valueText.replace(/''/g, "'");
  }
  return query;
}

/** Records of one or more subscriptions, in `eventTimestamp` order. */
export class EmulatedActivityLog {
  readonly #records: StoredRecord[] = [];
  #sorted = true;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.#records.length;
  }

  /** Adds the records of one operation: Started and Accepted at `startedAt`, the outcome at its end. */
  addOperation(input: OperationInput): WireActivityLogRecord[] {
    const correlationId = input.correlationId ?? randomUUID();
    const name = operationName(input.resourceId, input.operation);
    const method = input.operation === 'write' ? 'PUT' : input.operation === 'delete' ? 'DELETE' : 'POST';
    const path =
      input.operation === 'write' || input.operation === 'delete'
        ? input.resourceId
        : `${input.resourceId}/${input.operation}`;
    const uri = `https://management.azure.com${path}?${input.hibernate === true ? 'hibernate=true&' : ''}api-version=2024-07-01`;
    const outcome = input.outcome ?? ActivityLogOutcome.succeeded;
    const end = input.startedAt + input.durationInMs;
    const okStatus = input.operation === 'write' ? (input.created === true ? 'Created' : 'OK') : 'OK';
    const records: Array<{
      at: number;
      status: string;
      eventName: string;
      statusCode: string;
      subStatus: [string, string];
    }> = [
      {
        at: input.startedAt,
        status: 'Started',
        eventName: 'BeginRequest',
        statusCode: '',
        subStatus: ['', ''],
      },
      {
        at: input.startedAt + 150,
        status: 'Accepted',
        eventName: 'EndRequest',
        statusCode: 'Accepted',
        subStatus: ['Accepted', 'Accepted (HTTP Status Code: 202)'],
      },
      {
        at: end,
        status: outcome,
        eventName: 'EndRequest',
        statusCode: outcome === 'Succeeded' ? okStatus : 'Conflict',
        subStatus:
          outcome === 'Succeeded'
            ? [okStatus, `${okStatus} (HTTP Status Code: ${okStatus === 'Created' ? 201 : 200})`]
            : ['Conflict', 'Conflict (HTTP Status Code: 409)'],
      },
    ];
    return records.map((r) =>
      this.addRecord(
        {
          authorization: { action: name, scope: input.resourceId },
          caller: input.caller ?? 'ops@contoso.com',
          channels: 'Operation',
          claims: {
            'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': input.caller ?? 'ops@contoso.com',
          },
          correlationId,
          description: '',
          eventDataId: randomUUID(),
          eventName: localized(r.eventName, r.eventName === 'BeginRequest' ? 'Begin request' : 'End request'),
          category: localized('Administrative'),
          httpRequest: { clientRequestId: randomUUID(), clientIpAddress: '203.0.113.10', method, uri },
          level: r.status === 'Failed' ? 'Error' : 'Informational',
          operationId: correlationId,
          operationName: localized(name),
          properties: {
            statusCode: r.statusCode,
            serviceRequestId: randomUUID(),
            eventCategory: 'Administrative',
            entity: input.resourceId,
            message: name,
          },
          status: localized(r.status),
          subStatus: localized(r.subStatus[0], r.subStatus[1]),
          eventTimestamp: wireTimestamp(r.at),
        },
        typeof input.lagInMs === 'function' ? input.lagInMs(r.at) : (input.lagInMs ?? 5 * 60_000),
      ),
    );
  }

  /**
   * Adds a Resource Health record (category ResourceHealth) in the shape of the documented sample
   * (learn.microsoft.com/azure/azure-monitor/platform/activity-log-schema, "Resource health category"),
   * with the annotation in `properties.details`. `at` is when Resource Health wrote it (after the change).
   */
  addHealthRecord(input: {
    resourceId: string;
    annotationName: string;
    at: number;
    cause?: 'PlatformInitiated' | 'UserInitiated';
    lagInMs?: number;
  }): WireActivityLogRecord {
    const correlationId = randomUUID();
    return this.addRecord(
      {
        channels: 'Admin, Operation',
        correlationId,
        description: '',
        eventDataId: randomUUID(),
        eventName: localized('', ''),
        category: localized('ResourceHealth', 'Resource Health'),
        eventTimestamp: wireTimestamp(input.at),
        level: 'Critical',
        operationId: '',
        operationName: localized(
          'Microsoft.Resourcehealth/healthevent/Activated/action',
          'Health Event Activated',
        ),
        resourceProviderName: localized('Microsoft.Resourcehealth/healthevent/action'),
        resourceId: input.resourceId,
        status: localized('Active'),
        subStatus: localized('', ''),
        properties: {
          stage: 'Active',
          title: 'Virtual Machine health status changed to unavailable',
          details: input.annotationName,
          healthStatus: 'Unavailable',
          healthEventType: 'Downtime',
          healthEventCause: input.cause ?? 'UserInitiated',
          healthEventCategory: 'Unplanned',
        },
        relatedEvents: [],
      },
      input.lagInMs,
    );
  }

  /** Adds one record (wire JSON with `resourceId` and `eventTimestamp`), queryable `lagInMs` after it. */
  addRecord(record: WireActivityLogRecord, lagInMs = 5 * 60_000): WireActivityLogRecord {
    const resourceId =
      text(record['resourceId']) || text((record['authorization'] as { scope?: unknown } | undefined)?.scope);
    const at = Date.parse(String(record['eventTimestamp']));
    const match = parts.exec(resourceId);
    const subscriptionId = match?.[1] ?? '';
    const wire: WireActivityLogRecord = {
      resourceGroupName: match?.[2] ?? '',
      resourceProviderName: localized(match?.[3] ?? ''),
      resourceType: localized(resourceTypeOf(resourceId)),
      resourceId,
      id: `${resourceId}/events/${text(record['eventDataId']) || randomUUID()}/ticks/${ticks(at)}`,
      subscriptionId,
      tenantId: '',
      ...record,
      submissionTimestamp: wireTimestamp(at + lagInMs),
    };
    const last = this.#records[this.#records.length - 1];
    if (last !== undefined && last.at > at) this.#sorted = false;
    this.#records.push({
      at,
      visibleAt: at + lagInMs,
      subscriptionId: subscriptionId.toLowerCase(),
      resourceGroup: String(wire['resourceGroupName']).toLowerCase(),
      resourceId: resourceId.toLowerCase(),
      provider: (match?.[3] ?? '').toLowerCase(),
      correlationId: text(record['correlationId']).toLowerCase(),
      wire,
    });
    return wire;
  }

  /**
   * Records of a subscription matching the query and queryable at `asOf`, newest first (as the REST API
   * returns them). Records past retention are gone.
   */
  query(subscriptionId: string, query: ActivityLogQuery, asOf: number): WireActivityLogRecord[] {
    if (!this.#sorted) {
      this.#records.sort((a, b) => a.at - b.at);
      this.#sorted = true;
    }
    const oldest = this.now() - activityLogRetentionInDays * dayInMs;
    const sub = subscriptionId.toLowerCase();
    const value = query.value?.toLowerCase();
    const out: WireActivityLogRecord[] = [];
    for (let i = this.#upperBound(query.to) - 1; i >= 0; i--) {
      const r = this.#records[i] as StoredRecord;
      if (r.at < query.from || r.at < oldest) break;
      if (r.subscriptionId !== sub || r.visibleAt > asOf) continue;
      if (value !== undefined) {
        const field =
          query.field === 'resourceGroupName'
            ? r.resourceGroup
            : query.field === 'resourceUri'
              ? r.resourceId
              : query.field === 'resourceProvider'
                ? r.provider
                : r.correlationId;
        if (field !== value) continue;
      }
      out.push(r.wire);
    }
    return out;
  }

  /** Index of the first record later than `t`. */
  #upperBound(t: number): number {
    let lo = 0;
    let hi = this.#records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#records[mid] as StoredRecord).at <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
