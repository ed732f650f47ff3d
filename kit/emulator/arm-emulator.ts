/**
 * A loopback HTTP emulator of the Azure Resource Manager Compute endpoints the app reads, faithful to
 * the documented wire format (paths matched case-insensitively, `api-version` required, ARM error
 * bodies, `nextLink` paging with `$skiptoken`, `x-ms-ratelimit-remaining-*` headers), with faults that
 * can be switched on at run time. No framework: node:http only.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ActivityLogFilterError,
  parseActivityLogFilter,
  type WireActivityLogRecord,
} from './arm-activity-log';
import { send } from '../send';
import { EmulatedFleet, scaleSetResourceId, vmResourceId } from './arm-fleet';
import {
  wireDescendant,
  wireSystemTopic,
  wireTopicEventSubscription,
  wireError,
  wireScaleSet,
  wireScaleSetVm,
  wireScaleSetVmInstanceView,
  wireSubscription,
  wireVm,
  wireVmInstanceView,
} from './arm-wire';

export * from './arm-activity-log';
export * from './arm-fleet';

/** Route kinds, for request counters and fault targeting. */
export const ArmRequestKind = {
  listSubscriptions: 'listSubscriptions',
  listVms: 'listVms',
  listVmStatuses: 'listVmStatuses',
  getVm: 'getVm',
  vmInstanceView: 'vmInstanceView',
  deallocate: 'deallocate',
  operationStatus: 'operationStatus',
  listScaleSets: 'listScaleSets',
  listScaleSetVms: 'listScaleSetVms',
  scaleSetVmInstanceView: 'scaleSetVmInstanceView',
  activityLog: 'activityLog',
  listDescendants: 'listDescendants',
  /** Event Grid system topics of a subscription (SystemTopics_ListBySubscription). */
  listSystemTopics: 'listSystemTopics',
  /** Event subscriptions of one system topic (SystemTopicEventSubscriptions_ListBySystemTopic). */
  listTopicEventSubscriptions: 'listTopicEventSubscriptions',
  unknown: 'unknown',
} as const;
export type ArmRequestKind = (typeof ArmRequestKind)[keyof typeof ArmRequestKind];

export interface TokenBucketOptions {
  capacity: number;
  refillPerMinute: number;
}

export interface ArmEmulatorOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  fleet?: EmulatedFleet;
  /** Items per listing page (default 100). */
  pageSize?: number;
  /** Activity Log records per page (default 200, as Azure). */
  activityLogPageSize?: number;
  /**
   * Token buckets per subscription behind the `x-ms-ratelimit-remaining-*` headers. `highCostGet`:
   * List / List All (documented 300/min refill, 900 burst by default); `lowCostGet`: Get / instance
   * views; `subscriptionReads`: every read (12,000 per hour).
   */
  rateLimits?: Partial<Record<RateBucket, TokenBucketOptions>>;
  /** When true an empty bucket answers 429 with the wait until the next token (default false: report only). */
  enforceRateLimits?: boolean;
  /** Clock for token buckets and status times (default Date.now). */
  now?: () => number;
}

export const RateBucket = {
  highCostGet: 'highCostGet',
  lowCostGet: 'lowCostGet',
  subscriptionReads: 'subscriptionReads',
  subscriptionWrites: 'subscriptionWrites',
} as const;
export type RateBucket = (typeof RateBucket)[keyof typeof RateBucket];

const defaultRateLimits: Record<RateBucket, TokenBucketOptions> = {
  highCostGet: { capacity: 900, refillPerMinute: 300 },
  lowCostGet: { capacity: 8000, refillPerMinute: 8000 },
  subscriptionReads: { capacity: 12000, refillPerMinute: 200 },
  subscriptionWrites: { capacity: 1200, refillPerMinute: 20 },
};

export interface ThrottleFaultOptions {
  retryAfterInSeconds?: number;
  /** Only requests of these kinds (default: any). */
  kinds?: readonly ArmRequestKind[];
}

export interface FailureFaultOptions {
  /** 500 or 503 (default 503); 403 answers AuthorizationFailed (the identity may not read it). */
  status?: 403 | 500 | 502 | 503 | 504;
  kinds?: readonly ArmRequestKind[];
  /** Sets `Retry-After` on the failure (seconds). */
  retryAfterInSeconds?: number;
}

/** What is wrong with one subscription, for every request that names it. */
export const SubscriptionFaultMode = {
  /** 429 with `Retry-After` (a long one models a subscription throttled for minutes). */
  throttled: 'throttled',
  /** 5xx on every request. */
  failing: 'failing',
  /** 403 AuthorizationFailed: the identity lost its role there (still listed under its group). */
  forbidden: 'forbidden',
  /** 404 SubscriptionNotFound, and gone from the subscription and descendants listings. */
  vanished: 'vanished',
} as const;
export type SubscriptionFaultMode = (typeof SubscriptionFaultMode)[keyof typeof SubscriptionFaultMode];

export interface SubscriptionFault {
  mode: SubscriptionFaultMode;
  /** `throttled`: the `Retry-After` in seconds (default 300). `failing`: sent when set. */
  retryAfterInSeconds?: number;
  /** `failing`: the status (default 503). */
  status?: 500 | 502 | 503 | 504;
}

/** Faults, changeable while the emulator runs. Rules are checked in the order they were added. */
export interface ArmFaults {
  /** Sets (or with undefined clears) a fault on every request that names this subscription. */
  subscription(subscriptionId: string, fault: SubscriptionFault | undefined): void;
  /** Answers 429 with `Retry-After` to the next `count` matching requests. */
  throttleNext(count: number, options?: ThrottleFaultOptions): void;
  /** Answers 429 to a fraction (0..1) of matching requests until reset. */
  throttleRate(rate: number, options?: ThrottleFaultOptions): void;
  /** Answers 5xx to the next `count` matching requests. */
  failNext(count: number, options?: FailureFaultOptions): void;
  /**
   * Answers 5xx to page `pageIndex` (0 = first page) of listings of `kind`, `times` times (default: every
   * time, so retries fail too).
   */
  failPage(kind: ArmRequestKind, pageIndex: number, options?: FailureFaultOptions & { times?: number }): void;
  /** Removes every fault, the per-subscription ones too. */
  reset(): void;
}

export type ArmRequestCounts = Record<ArmRequestKind, number> & {
  total: number;
  throttled: number;
  failed: number;
};

export interface ArmRequestRecord {
  method: string;
  /** Path and query as received. */
  url: string;
  kind: ArmRequestKind;
  status: number;
  authorization: boolean;
}

export interface ArmEmulator {
  /** `http://127.0.0.1:PORT`, to pass as the ARM endpoint. */
  readonly url: string;
  readonly fleet: EmulatedFleet;
  /** Counters by route kind, plus totals. */
  readonly requests: ArmRequestCounts;
  /** Every request, in order. */
  readonly log: readonly ArmRequestRecord[];
  readonly faults: ArmFaults;
  /** Page size of listings (may be changed at run time). */
  pageSize: number;
  /** Activity Log records per page (may be changed at run time). */
  activityLogPageSize: number;
  enforceRateLimits: boolean;
  resetCounters(): void;
  close(): Promise<void>;
}

interface FaultRule {
  kinds?: readonly ArmRequestKind[] | undefined;
  /** Remaining uses; Infinity for rate/page rules. */
  remaining: number;
  rate?: number;
  pageIndex?: number;
  status: number;
  retryAfterInSeconds?: number | undefined;
}

interface Route {
  kind: ArmRequestKind;
  method: 'GET' | 'POST';
  pattern: RegExp;
}

const providers = '/providers/microsoft\\.compute';
const insights = '/providers/microsoft\\.insights';
const eventGrid = '/providers/microsoft\\.eventgrid';
const sub = '/subscriptions/([^/]+)';
const rg = '/resourcegroups/([^/]+)';

const routes: readonly Route[] = [
  { kind: ArmRequestKind.listSubscriptions, method: 'GET', pattern: /^\/subscriptions$/i },
  {
    kind: ArmRequestKind.listDescendants,
    method: 'GET',
    pattern: /^\/providers\/microsoft\.management\/managementgroups\/([^/]+)\/descendants$/i,
  },
  {
    kind: ArmRequestKind.listVms,
    method: 'GET',
    pattern: new RegExp(`^${sub}${providers}/virtualmachines$`, 'i'),
  },
  {
    kind: ArmRequestKind.vmInstanceView,
    method: 'GET',
    pattern: new RegExp(`^${sub}${rg}${providers}/virtualmachines/([^/]+)/instanceview$`, 'i'),
  },
  {
    kind: ArmRequestKind.deallocate,
    method: 'POST',
    pattern: new RegExp(`^${sub}${rg}${providers}/virtualmachines/([^/]+)/deallocate$`, 'i'),
  },
  {
    kind: ArmRequestKind.getVm,
    method: 'GET',
    pattern: new RegExp(`^${sub}${rg}${providers}/virtualmachines/([^/]+)$`, 'i'),
  },
  {
    kind: ArmRequestKind.operationStatus,
    method: 'GET',
    pattern: new RegExp(`^${sub}${providers}/locations/([^/]+)/operations/([^/]+)$`, 'i'),
  },
  {
    kind: ArmRequestKind.listScaleSets,
    method: 'GET',
    pattern: new RegExp(`^${sub}${providers}/virtualmachinescalesets$`, 'i'),
  },
  {
    kind: ArmRequestKind.listScaleSetVms,
    method: 'GET',
    pattern: new RegExp(`^${sub}${rg}${providers}/virtualmachinescalesets/([^/]+)/virtualmachines$`, 'i'),
  },
  {
    kind: ArmRequestKind.listSystemTopics,
    method: 'GET',
    pattern: new RegExp(`^${sub}${eventGrid}/systemtopics$`, 'i'),
  },
  {
    kind: ArmRequestKind.listTopicEventSubscriptions,
    method: 'GET',
    pattern: new RegExp(`^${sub}${rg}${eventGrid}/systemtopics/([^/]+)/eventsubscriptions$`, 'i'),
  },
  {
    kind: ArmRequestKind.activityLog,
    method: 'GET',
    pattern: new RegExp(`^${sub}${insights}/eventtypes/management/values$`, 'i'),
  },
  {
    kind: ArmRequestKind.scaleSetVmInstanceView,
    method: 'GET',
    pattern: new RegExp(
      `^${sub}${rg}${providers}/virtualmachinescalesets/([^/]+)/virtualmachines/([^/]+)/instanceview$`,
      'i',
    ),
  },
];

const bucketHeaderNames: Record<RateBucket, string> = {
  highCostGet: 'Microsoft.Compute/HighCostGet3Min',
  lowCostGet: 'Microsoft.Compute/LowCostGet3Min',
  subscriptionReads: 'subscription-reads',
  subscriptionWrites: 'subscription-writes',
};

function bucketOf(kind: ArmRequestKind): RateBucket | undefined {
  switch (kind) {
    case ArmRequestKind.listVms:
    case ArmRequestKind.listVmStatuses:
    case ArmRequestKind.listScaleSets:
    case ArmRequestKind.listScaleSetVms:
      return RateBucket.highCostGet;
    case ArmRequestKind.getVm:
    case ArmRequestKind.vmInstanceView:
    case ArmRequestKind.scaleSetVmInstanceView:
      return RateBucket.lowCostGet;
    default:
      return undefined;
  }
}

class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  constructor(
    private readonly options: TokenBucketOptions,
    private readonly now: () => number,
  ) {
    this.tokens = options.capacity;
    this.updatedAt = now();
  }
  private refill(): void {
    const now = this.now();
    const added = ((now - this.updatedAt) / 60_000) * this.options.refillPerMinute;
    this.tokens = Math.min(this.options.capacity, this.tokens + added);
    this.updatedAt = now;
  }
  /** Takes one token; returns the wait in seconds when none is left. */
  take(): { remaining: number; retryAfterInSeconds?: number } {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { remaining: Math.floor(this.tokens) };
    }
    const perSecond = this.options.refillPerMinute / 60;
    const wait = perSecond > 0 ? Math.ceil((1 - this.tokens) / perSecond) : 60;
    return { remaining: 0, retryAfterInSeconds: Math.max(1, wait) };
  }
}

function emptyCounts(): ArmRequestCounts {
  const counts = { total: 0, throttled: 0, failed: 0 } as ArmRequestCounts;
  for (const kind of Object.values(ArmRequestKind)) counts[kind] = 0;
  return counts;
}

const skipTokenPrefix = 'o';

function encodeSkipToken(offset: number): string {
  return Buffer.from(`${skipTokenPrefix}${offset}`).toString('base64url');
}

function decodeSkipToken(token: string | null): number | undefined {
  if (token === null) return 0;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(skipTokenPrefix)) return undefined;
  const offset = Number(text.slice(skipTokenPrefix.length));
  return Number.isInteger(offset) && offset >= 0 ? offset : undefined;
}

const errorCodes: Readonly<Record<number, string>> = {
  403: 'AuthorizationFailed',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** Starts the emulator on 127.0.0.1. */
export async function startArmEmulator(options: ArmEmulatorOptions = {}): Promise<ArmEmulator> {
  const now = options.now ?? Date.now;
  const fleet = options.fleet ?? new EmulatedFleet(now);
  const rateLimits = { ...defaultRateLimits, ...(options.rateLimits ?? {}) };
  const buckets = new Map<string, TokenBucket>();
  const rules: FaultRule[] = [];
  const subscriptionFaults = new Map<string, SubscriptionFault>();
  const faultOf = (subscriptionId: string): SubscriptionFault | undefined =>
    subscriptionFaults.get(subscriptionId.toLowerCase());
  const log: ArmRequestRecord[] = [];
  let requests = emptyCounts();
  let baseUrl = '';

  const faults: ArmFaults = {
    subscription(subscriptionId, fault) {
      if (fault === undefined) subscriptionFaults.delete(subscriptionId.toLowerCase());
      else subscriptionFaults.set(subscriptionId.toLowerCase(), fault);
    },
    throttleNext(count, o = {}) {
      rules.push({
        kinds: o.kinds,
        remaining: count,
        status: 429,
        retryAfterInSeconds: o.retryAfterInSeconds ?? 1,
      });
    },
    throttleRate(rate, o = {}) {
      rules.push({
        kinds: o.kinds,
        remaining: Infinity,
        rate,
        status: 429,
        retryAfterInSeconds: o.retryAfterInSeconds ?? 1,
      });
    },
    failNext(count, o = {}) {
      rules.push({
        kinds: o.kinds,
        remaining: count,
        status: o.status ?? 503,
        retryAfterInSeconds: o.retryAfterInSeconds,
      });
    },
    failPage(kind, pageIndex, o = {}) {
      rules.push({
        kinds: [kind],
        remaining: o.times ?? Infinity,
        pageIndex,
        status: o.status ?? 503,
        retryAfterInSeconds: o.retryAfterInSeconds,
      });
    },
    reset() {
      rules.length = 0;
      subscriptionFaults.clear();
    },
  };

  function bucket(subscriptionId: string, name: RateBucket): TokenBucket {
    const id = `${subscriptionId.toLowerCase()}|${name}`;
    let found = buckets.get(id);
    if (!found) {
      found = new TokenBucket(rateLimits[name], now);
      buckets.set(id, found);
    }
    return found;
  }

  function matchFault(kind: ArmRequestKind, pageIndex: number | undefined): FaultRule | undefined {
    for (const rule of rules) {
      if (rule.remaining <= 0) continue;
      if (rule.kinds && !rule.kinds.includes(kind)) continue;
      if (rule.pageIndex !== undefined && rule.pageIndex !== pageIndex) continue;
      if (rule.rate !== undefined && Math.random() >= rule.rate) continue;
      rule.remaining -= 1;
      return rule;
    }
    return undefined;
  }

  const server: Server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch {
      sendArm(res, 500, wireError('InternalServerError', 'The emulator failed to handle the request.'));
    }
  });

  /** Answers as ARM does: JSON with its request and correlation ids. */
  function sendArm(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    send(res, status, body, {
      'x-ms-request-id': randomUUID(),
      'x-ms-correlation-request-id': randomUUID(),
      ...headers,
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', baseUrl);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const query = new Map([...url.searchParams.entries()].map(([k, v]) => [k.toLowerCase(), v]));
    let kind: ArmRequestKind = ArmRequestKind.unknown;
    let match: RegExpExecArray | null = null;
    for (const route of routes) {
      if (route.method !== method) continue;
      match = route.pattern.exec(path);
      if (match) {
        kind = route.kind;
        break;
      }
    }
    if (kind === ArmRequestKind.listVms && query.get('statusonly')?.toLowerCase() === 'true') {
      kind = ArmRequestKind.listVmStatuses;
    }
    const record: ArmRequestRecord = {
      method,
      url: req.url ?? '/',
      kind,
      status: 0,
      authorization: typeof req.headers.authorization === 'string',
    };
    log.push(record);
    requests.total += 1;
    requests[kind] += 1;
    // Drain any body (the deallocate POST has none, but a client may send one).
    req.resume();

    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      record.status = status;
      if (status === 429) requests.throttled += 1;
      else if (status >= 500) requests.failed += 1;
      sendArm(res, status, body, { ...rateHeaders, ...headers });
    };
    let rateHeaders: Record<string, string> = {};

    if (kind === ArmRequestKind.unknown || match === null) {
      reply(404, wireError('NotFound', 'The requested path is not served by the emulator.'));
      return;
    }
    if (!query.get('api-version')) {
      reply(
        400,
        wireError(
          'MissingApiVersionParameter',
          'The api-version query parameter (?api-version=) is required for all requests.',
        ),
      );
      return;
    }

    // Rate-limit headers from the token buckets (enforced only when asked).
    const tenantWide = kind === ArmRequestKind.listSubscriptions || kind === ArmRequestKind.listDescendants;
    const subscriptionId = tenantWide ? 'tenant' : (match[1] ?? '');
    const isWrite = method !== 'GET';
    const costBucket = bucketOf(kind);
    const generalBucket = isWrite ? RateBucket.subscriptionWrites : RateBucket.subscriptionReads;
    const general = bucket(subscriptionId, generalBucket).take();
    const cost = costBucket ? bucket(subscriptionId, costBucket).take() : undefined;
    const readsHeader = tenantWide
      ? 'x-ms-ratelimit-remaining-tenant-reads'
      : `x-ms-ratelimit-remaining-${bucketHeaderNames[generalBucket]}`;
    rateHeaders = { [readsHeader]: String(general.remaining) };
    if (costBucket && cost) {
      rateHeaders['x-ms-ratelimit-remaining-resource'] = `${bucketHeaderNames[costBucket]};${cost.remaining}`;
    }
    const wait = cost?.retryAfterInSeconds ?? general.retryAfterInSeconds;
    if (emulator.enforceRateLimits && wait !== undefined) {
      reply(
        429,
        wireError(
          'TooManyRequests',
          'The request is being throttled as the limit has been reached for operation group.',
        ),
        { 'retry-after': String(wait) },
      );
      return;
    }

    const skipToken = url.searchParams.get('$skiptoken') ?? url.searchParams.get('$skipToken');
    const offset = kind === ArmRequestKind.activityLog ? 0 : decodeSkipToken(skipToken);
    const isListing =
      kind === ArmRequestKind.listVms ||
      kind === ArmRequestKind.listVmStatuses ||
      kind === ArmRequestKind.listScaleSets ||
      kind === ArmRequestKind.listScaleSetVms ||
      kind === ArmRequestKind.listSubscriptions ||
      kind === ArmRequestKind.listDescendants ||
      kind === ArmRequestKind.listSystemTopics ||
      kind === ArmRequestKind.listTopicEventSubscriptions;
    const pageIndex = isListing && offset !== undefined ? Math.floor(offset / emulator.pageSize) : undefined;

    const subscriptionFault = tenantWide ? undefined : faultOf(subscriptionId);
    if (subscriptionFault !== undefined && replySubscriptionFault(subscriptionFault)) return;

    const fault = matchFault(kind, pageIndex);
    if (fault) {
      const headers: Record<string, string> = {};
      if (fault.retryAfterInSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterInSeconds);
      if (fault.status === 429) {
        reply(
          429,
          wireError(
            'TooManyRequests',
            'The request is being throttled as the limit has been reached for operation group.',
          ),
          headers,
        );
      } else {
        reply(
          fault.status,
          wireError(errorCodes[fault.status] ?? 'InternalServerError', 'The server encountered an error.'),
          headers,
        );
      }
      return;
    }

    /** Answers the subscription's fault; false when the fault lets the request through. */
    function replySubscriptionFault(f: SubscriptionFault): boolean {
      switch (f.mode) {
        case SubscriptionFaultMode.throttled:
          reply(
            429,
            wireError(
              'TooManyRequests',
              'The request is being throttled as the limit has been reached for operation group.',
            ),
            { 'retry-after': String(f.retryAfterInSeconds ?? 300) },
          );
          return true;
        case SubscriptionFaultMode.failing: {
          const status = f.status ?? 503;
          reply(
            status,
            wireError(errorCodes[status] ?? 'InternalServerError', 'The server encountered an error.'),
            f.retryAfterInSeconds === undefined ? {} : { 'retry-after': String(f.retryAfterInSeconds) },
          );
          return true;
        }
        case SubscriptionFaultMode.forbidden:
          reply(
            403,
            wireError(
              'AuthorizationFailed',
              `The client does not have authorization to perform action over scope '/subscriptions/${subscriptionId}' or the scope is invalid.`,
            ),
          );
          return true;
        case SubscriptionFaultMode.vanished:
          reply(
            404,
            wireError('SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`),
          );
          return true;
        default:
          return false;
      }
    }

    if (isListing && offset === undefined) {
      reply(400, wireError('InvalidSkipToken', 'The skip token is not valid.'));
      return;
    }

    /** One page of `items`, each turned into wire JSON only when it is on the page. */
    const top = Number(query.get('$top'));
    const page = <T>(items: readonly T[], toWire: (item: T) => unknown = (item) => item): void => {
      const start = offset ?? 0;
      const size = Math.max(
        1,
        Number.isInteger(top) && top > 0 ? Math.min(top, emulator.pageSize) : emulator.pageSize,
      );
      const body: { value: unknown[]; nextLink?: string } = {
        value: items.slice(start, start + size).map(toWire),
      };
      if (start + size < items.length) {
        const next = new URL(url.pathname, baseUrl);
        for (const [k, v] of url.searchParams)
          if (k.toLowerCase() !== '$skiptoken') next.searchParams.append(k, v);
        next.searchParams.set('$skiptoken', encodeSkipToken(start + size));
        body.nextLink = next.toString();
      }
      reply(200, body);
    };

    const notFound = (type: string, name: string, group: string): void =>
      reply(
        404,
        wireError(
          'ResourceNotFound',
          `The Resource '${type}/${name}' under resource group '${group}' was not found.`,
        ),
      );

    const [, s = '', g = '', n = '', i = ''] = match;
    if (!tenantWide && !fleet.hasSubscription(s)) {
      reply(404, wireError('SubscriptionNotFound', `The subscription '${s}' could not be found.`));
      return;
    }

    switch (kind) {
      case ArmRequestKind.activityLog:
        activityLogPage(s, url, skipToken, reply);
        return;
      case ArmRequestKind.listSubscriptions:
        page(
          fleet
            .listSubscriptions()
            .filter((x) => faultOf(x.subscriptionId)?.mode !== SubscriptionFaultMode.vanished)
            .filter((x) => faultOf(x.subscriptionId)?.mode !== SubscriptionFaultMode.forbidden),
          wireSubscription,
        );
        return;
      case ArmRequestKind.listDescendants: {
        if (fleet.getManagementGroup(s) === undefined) {
          reply(
            404,
            wireError('NotFound', `'/providers/Microsoft.Management/managementGroups/${s}' not found`),
          );
          return;
        }
        page(
          fleet
            .listDescendants(s)
            .filter(
              (d) =>
                d.kind !== 'subscription' ||
                faultOf(d.subscription.subscriptionId)?.mode !== SubscriptionFaultMode.vanished,
            ),
          wireDescendant,
        );
        return;
      }
      case ArmRequestKind.listVms:
      case ArmRequestKind.listVmStatuses: {
        const statusOnly = kind === ArmRequestKind.listVmStatuses;
        page(fleet.listVms(s), (vm) => wireVm(vm, { statusOnly }));
        return;
      }
      case ArmRequestKind.getVm: {
        const vm = fleet.getVm(vmResourceId(s, g, n));
        if (!vm) return notFound('Microsoft.Compute/virtualMachines', n, g);
        const expand = query.get('$expand')?.toLowerCase() === 'instanceview';
        reply(200, wireVm(vm, { statusOnly: false, expandInstanceView: expand }));
        return;
      }
      case ArmRequestKind.vmInstanceView: {
        const vm = fleet.getVm(vmResourceId(s, g, n));
        if (!vm) return notFound('Microsoft.Compute/virtualMachines', n, g);
        reply(200, wireVmInstanceView(vm));
        return;
      }
      case ArmRequestKind.deallocate: {
        const vm = fleet.getVm(vmResourceId(s, g, n));
        if (!vm) return notFound('Microsoft.Compute/virtualMachines', n, g);
        const hibernate = query.get('hibernate')?.toLowerCase() === 'true';
        fleet.setPowerState(vm.id, 'deallocated', { hibernated: hibernate });
        const operation = new URL(
          `/subscriptions/${s}/providers/Microsoft.Compute/locations/${vm.location}/operations/${randomUUID()}?api-version=${query.get('api-version') ?? ''}`,
          baseUrl,
        ).toString();
        reply(202, undefined, { 'azure-asyncoperation': operation, location: operation, 'retry-after': '0' });
        return;
      }
      case ArmRequestKind.operationStatus:
        reply(200, {
          name: i,
          status: 'Succeeded',
          startTime: new Date(now()).toISOString(),
          endTime: new Date(now()).toISOString(),
        });
        return;
      case ArmRequestKind.listSystemTopics:
        page(fleet.listSystemTopics(s), wireSystemTopic);
        return;
      case ArmRequestKind.listTopicEventSubscriptions: {
        const topic = fleet.getSystemTopic(
          `/subscriptions/${s}/resourceGroups/${g}/providers/Microsoft.EventGrid/systemTopics/${n}`,
        );
        if (!topic) return notFound('Microsoft.EventGrid/systemTopics', n, g);
        page(topic.eventSubscriptions, (e) => wireTopicEventSubscription(topic, e));
        return;
      }
      case ArmRequestKind.listScaleSets:
        page(fleet.listScaleSets(s), (ss) => wireScaleSet(ss, fleet.listScaleSetInstances(ss.id).length));
        return;
      case ArmRequestKind.listScaleSetVms: {
        const scaleSet = fleet.getScaleSet(scaleSetResourceId(s, g, n));
        if (!scaleSet) return notFound('Microsoft.Compute/virtualMachineScaleSets', n, g);
        const expand = query.get('$expand')?.toLowerCase() === 'instanceview';
        page(fleet.listScaleSetInstances(scaleSet.id), (vm) => wireScaleSetVm(vm, expand));
        return;
      }
      case ArmRequestKind.scaleSetVmInstanceView: {
        const vm = fleet.getVm(`${scaleSetResourceId(s, g, n)}/virtualMachines/${i}`);
        if (!vm) return notFound('Microsoft.Compute/virtualMachineScaleSets/virtualMachines', `${n}/${i}`, g);
        reply(200, wireScaleSetVmInstanceView(vm));
        return;
      }
      default:
        reply(404, wireError('NotFound', 'The requested path is not served by the emulator.'));
    }
  }

  /** Filtered records of a paged read, by subscription, filter and snapshot time (a few kept). */
  const activityLogSnapshots = new Map<string, WireActivityLogRecord[]>();

  /**
   * One page of the Activity Log, newest first. The first page fixes a snapshot time (in the skip token)
   * so later pages neither repeat nor miss records that became queryable meanwhile.
   */
  function activityLogPage(
    subscriptionId: string,
    url: URL,
    skipToken: string | null,
    reply: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): void {
    const filter = url.searchParams.get('$filter');
    let snapshot = now();
    let offset = 0;
    if (skipToken !== null) {
      const decoded = /^a(\d+):(\d+)$/.exec(Buffer.from(skipToken, 'base64url').toString('utf8'));
      if (!decoded) {
        reply(400, wireError('InvalidSkipToken', 'The skip token is not valid.'));
        return;
      }
      snapshot = Number(decoded[1]);
      offset = Number(decoded[2]);
    }
    let query;
    try {
      query = parseActivityLogFilter(filter, now());
    } catch (error) {
      if (error instanceof ActivityLogFilterError) {
        reply(400, wireError('BadRequest', error.message));
        return;
      }
      throw error;
    }
    const cacheKey = `${subscriptionId.toLowerCase()}|${filter ?? ''}|${snapshot}`;
    let records = activityLogSnapshots.get(cacheKey);
    if (records === undefined) {
      records = fleet.activityLog.query(subscriptionId, query, snapshot);
      activityLogSnapshots.set(cacheKey, records);
      if (activityLogSnapshots.size > 16) {
        const oldest = activityLogSnapshots.keys().next();
        if (oldest.done !== true) activityLogSnapshots.delete(oldest.value);
      }
    }
    const size = Math.max(1, emulator.activityLogPageSize);
    const select = url.searchParams
      .get('$select')
      ?.split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    const project = (r: WireActivityLogRecord): WireActivityLogRecord =>
      select === undefined ? r : Object.fromEntries(select.filter((f) => f in r).map((f) => [f, r[f]]));
    const body: { value: unknown[]; nextLink?: string } = {
      value: records.slice(offset, offset + size).map(project),
    };
    if (offset + size < records.length) {
      const next = new URL(url.pathname, baseUrl);
      for (const [k, v] of url.searchParams)
        if (k.toLowerCase() !== '$skiptoken') next.searchParams.append(k, v);
      next.searchParams.set('$skiptoken', Buffer.from(`a${snapshot}:${offset + size}`).toString('base64url'));
      body.nextLink = next.toString();
    }
    reply(200, body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  const emulator: ArmEmulator = {
    url: baseUrl,
    fleet,
    get requests() {
      return requests;
    },
    log,
    faults,
    pageSize: options.pageSize ?? 100,
    activityLogPageSize: options.activityLogPageSize ?? 200,
    enforceRateLimits: options.enforceRateLimits ?? false,
    resetCounters() {
      requests = emptyCounts();
      log.length = 0;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
  return emulator;
}
