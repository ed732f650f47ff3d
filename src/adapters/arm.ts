/**
 * ManagementClient over Azure Resource Manager: @azure/arm-compute for VMs, instance views and scale
 * sets; subscriptions through the same pipeline (one retry / throttling / credential setup for all).
 */
import { ComputeManagementClient } from '@azure/arm-compute';
import {
  bearerTokenAuthenticationPolicyName,
  createDefaultHttpClient,
  createPipelineRequest,
  type HttpClient,
  type PipelinePolicy,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type {
  DiscoveredSubscription,
  ListedPage,
  ListedVm,
  ManagementClient,
  ManagementOptions,
  ManagementStats,
  VmDetails,
} from '../app/ports';
import type { ActivityLogPage, ActivityLogReader } from '../app/backfill';
import type { EventWiringReader, SystemTopicInfo, TopicEventSubscriptionInfo } from '../app/coverage-ports';
import type { InstanceViewStatus } from '../domain/power-state';
import { parseComputeResourceId, ResourceKind } from '../domain/resource-id';
import { failureOf, ServiceFailure, ThrottledError } from '../app/errors';
import { ManagementRequestError, ManagementUnavailableError, toManagementError } from './arm-errors';
import { retryAfterInMsOf } from './service-errors';
import { tagsOf } from '../domain/tags';

export { ManagementUnavailableError } from './arm-errors';

/** api-version of the Activity Log (`Microsoft.Insights/eventtypes/management/values`). */
export const activityLogApiVersion = '2015-04-01';

/** api-version of `GET /subscriptions` (Microsoft.Resources). */
export const subscriptionsApiVersion = '2022-12-01';

/** api-version of the Management Groups API (`GET .../managementGroups/{groupId}/descendants`). */
export const managementGroupsApiVersion = '2023-04-01';

/** api-version of Event Grid system topics and their event subscriptions (as infra/app/*.bicep). */
const eventGridApiVersion = '2022-06-15';

/** A 404 about the resource, not about its subscription (a vanished subscription never means "VM deleted"). */
function isResourceNotFound(error: unknown): boolean {
  return failureOf(toManagementError(error)) === ServiceFailure.notFound;
}

export interface ArmClientOptions {
  /** Management endpoint; a loopback `http://` URL means an emulator (no credential is sent). */
  endpoint: string;
  /** Default: DefaultAzureCredential (managed identity in Azure, `az login` locally). */
  credential?: TokenCredential;
  /** Retries per request after 429 / 5xx / network errors (default 3). */
  maxRetries?: number;
  /** Base delay of the exponential retry on 5xx / network errors (default 800 ms). */
  retryDelayInMs?: number;
  /** Longest exponential delay (default 30 s). */
  maxRetryDelayInMs?: number;
  /**
   * Longest `Retry-After` worth waiting for; a longer one fails at once with ThrottledError
   * (default 60 s, so a 20-minute throttle never holds a function).
   */
  maxRetryAfterInMs?: number;
}

/** Counters plus the latest `x-ms-ratelimit-remaining-*` header values (header name → value). */
export interface ArmManagementStats extends ManagementStats {
  remaining: Record<string, string>;
  /** Wire attempts answered 5xx (each retry counts). */
  serverErrors: number;
}

export interface DeallocateOptions extends ManagementOptions {
  hibernate?: boolean;
}

export interface ArmManagementClient extends ManagementClient, ActivityLogReader, EventWiringReader {
  readonly stats: ArmManagementStats;
  readonly endpoint: string;
  /** True when the endpoint is a loopback emulator (no credential sent). */
  readonly isEmulator: boolean;
  /** Deallocates a standalone VM and waits for the operation (optional remediation). */
  deallocate(resourceId: string, options?: DeallocateOptions): Promise<void>;
}

const loopbackHosts: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** A plain-http loopback URL: an emulator. */
export function isLoopbackEndpoint(endpoint: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && loopbackHosts.has(url.hostname.toLowerCase());
}

/** Placeholder credential for emulators: its policy is removed, so it is never asked for a token. */
const emulatorCredential: TokenCredential = {
  getToken: () => Promise.reject(new Error('No credential is used for an emulator endpoint')),
};

/** Subscription id used for the client that only lists subscriptions (never sent). */
const tenantScope = '00000000-0000-0000-0000-000000000000';

function statsPolicy(stats: ArmManagementStats, maxRetryAfterInMs: number): PipelinePolicy {
  return {
    name: 'armStatsPolicy',
    async sendRequest(request, next) {
      stats.requests += 1;
      const response = await next(request);
      for (const [name, value] of response.headers) {
        if (name.toLowerCase().startsWith('x-ms-ratelimit-remaining-'))
          stats.remaining[name.toLowerCase()] = value;
      }
      if (response.status >= 500) stats.serverErrors += 1;
      if (response.status === 429 || response.status === 503) {
        if (response.status === 429) stats.throttled += 1;
        const retryAfterInMs = retryAfterInMsOf(response.headers);
        if (retryAfterInMs !== undefined && retryAfterInMs > maxRetryAfterInMs) {
          // Thrown as a non-RestError so the retry policy stops here instead of sleeping.
          throw response.status === 429
            ? new ThrottledError('Management request throttled beyond the allowed wait', retryAfterInMs)
            : new ManagementUnavailableError('Management service unavailable beyond the allowed wait', 503);
        }
      }
      return response;
    },
  };
}

function mapStatuses(statuses: readonly InstanceViewStatus[] | undefined): InstanceViewStatus[] | undefined {
  return statuses?.map((s) => ({
    code: s.code,
    level: s.level,
    displayStatus: s.displayStatus,
    time: s.time,
  }));
}

function withoutUndefined<T extends object>(value: T): T | undefined {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return entries.length === 0 ? undefined : (Object.fromEntries(entries) as T);
}

interface SdkVmLike {
  id?: string;
  name?: string;
  location?: string;
  tags?: Record<string, string>;
  instanceView?: { statuses?: InstanceViewStatus[] };
  hardwareProfile?: { vmSize?: string };
  storageProfile?: { osDisk?: { osType?: string } };
  priority?: string;
  sku?: { name?: string };
}

function toListedVm(vm: SdkVmLike, withDetails: boolean): ListedVm {
  const listed: ListedVm = { resourceId: vm.id ?? '', name: vm.name ?? '' };
  const statuses = mapStatuses(vm.instanceView?.statuses);
  if (statuses !== undefined) listed.statuses = statuses;
  if (withDetails) {
    const details: VmDetails = {
      vmSize: vm.hardwareProfile?.vmSize ?? vm.sku?.name,
      location: vm.location,
      osType: vm.storageProfile?.osDisk?.osType,
      priority: vm.priority,
      tags: vm.tags === undefined ? undefined : tagsOf(vm.tags),
    };
    listed.details = withoutUndefined(details);
  }
  return listed;
}

/** Iterates SDK pages, mapping failures (also mid-listing) to domain errors. */
async function* mapPages<T, U>(pages: AsyncIterable<T[]>, map: (items: T[]) => U): AsyncGenerator<U> {
  try {
    for await (const page of pages) yield map(page);
  } catch (error) {
    throw toManagementError(error);
  }
}

function requireResource(resourceId: string, kinds: readonly ResourceKind[]) {
  const resource = parseComputeResourceId(resourceId);
  if (!resource || !kinds.includes(resource.kind)) {
    throw new ManagementRequestError('Not a supported compute resource id', undefined, 'InvalidResourceId');
  }
  return resource;
}

/**
 * A subscription from one `descendants` item: type `Microsoft.Management/managementGroups/subscriptions`
 * (api-version 2020-02-01 and later) or `/subscriptions` (older examples); groups are skipped.
 */
function descendantSubscription(item: {
  id?: unknown;
  type?: unknown;
  name?: unknown;
  properties?: unknown;
}): DiscoveredSubscription | undefined {
  if (typeof item.type !== 'string' || !/(^|\/)subscriptions$/i.test(item.type)) return undefined;
  const fromId = typeof item.id === 'string' ? /^\/subscriptions\/([^/]+)$/i.exec(item.id)?.[1] : undefined;
  const subscriptionId = typeof item.name === 'string' && item.name !== '' ? item.name : fromId;
  if (subscriptionId === undefined) return undefined;
  const properties = (item.properties ?? {}) as { displayName?: unknown; parent?: { id?: unknown } };
  const parentId = typeof properties.parent?.id === 'string' ? properties.parent.id : undefined;
  return {
    subscriptionId,
    displayName: typeof properties.displayName === 'string' ? properties.displayName : undefined,
    parentGroupId: parentId?.split('/').pop(),
  };
}

/** Creates the ARM adapter. */
export function createArmClient(options: ArmClientOptions): ArmManagementClient {
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const isEmulator = isLoopbackEndpoint(endpoint);
  const scope = `${new URL(endpoint).origin}/.default`;
  let credential: TokenCredential | undefined = isEmulator ? emulatorCredential : options.credential;
  const stats: ArmManagementStats = { requests: 0, throttled: 0, serverErrors: 0, remaining: {} };
  const policy = statsPolicy(stats, options.maxRetryAfterInMs ?? 60_000);
  const clients = new Map<string, ComputeManagementClient>();
  let httpClient: HttpClient | undefined;

  function client(subscriptionId: string): ComputeManagementClient {
    const id = subscriptionId.toLowerCase();
    let found = clients.get(id);
    if (found) return found;
    credential ??= new DefaultAzureCredential();
    found = new ComputeManagementClient(credential, subscriptionId, {
      endpoint,
      credentials: { scopes: [scope] },
      allowInsecureConnection: isEmulator,
      retryOptions: {
        maxRetries: options.maxRetries ?? 3,
        retryDelayInMs: options.retryDelayInMs ?? 800,
        maxRetryDelayInMs: options.maxRetryDelayInMs ?? 30_000,
      },
    });
    // After the retry policy: sees every wire attempt, and can stop a too-long Retry-After.
    found.pipeline.addPolicy(policy, { afterPhase: 'Retry' });
    // The bearer policy refuses plain http; an emulator gets no token at all.
    if (isEmulator) found.pipeline.removePolicy({ name: bearerTokenAuthenticationPolicyName });
    clients.set(id, found);
    return found;
  }

  async function getJson(url: string, abortSignal: AbortSignal | undefined): Promise<unknown> {
    const pipeline = client(tenantScope).pipeline;
    httpClient ??= createDefaultHttpClient();
    const request = createPipelineRequest({ url, method: 'GET', allowInsecureConnection: isEmulator });
    if (abortSignal) request.abortSignal = abortSignal;
    request.headers.set('accept', 'application/json');
    let response: PipelineResponse;
    try {
      response = await pipeline.sendRequest(httpClient, request);
    } catch (error) {
      throw toManagementError(error);
    }
    const body: unknown = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
    if (response.status === 200) return body;
    const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (response.status === 429) {
      throw new ThrottledError('Management request throttled', retryAfterInMsOf(response.headers));
    }
    if (response.status >= 500)
      throw new ManagementUnavailableError('Management service unavailable', response.status);
    throw new ManagementRequestError(
      'Management request refused',
      response.status,
      typeof code === 'string' ? code : undefined,
    );
  }

  /** Never send the credential elsewhere than the management endpoint. */
  function checkedNextLink(nextLink: string): string {
    if (new URL(nextLink).origin !== new URL(endpoint).origin)
      throw new ManagementRequestError(
        'nextLink points outside the management endpoint',
        undefined,
        'InvalidNextLink',
      );
    return nextLink;
  }

  /** The `value` arrays of a paged ARM listing, following `nextLink`. */
  async function* pagedValues(
    firstUrl: string,
    abortSignal: AbortSignal | undefined,
  ): AsyncGenerator<Record<string, unknown>[]> {
    let url: string | undefined = firstUrl;
    while (url !== undefined) {
      const body = (await getJson(url, abortSignal)) as { value?: unknown; nextLink?: unknown } | undefined;
      const value = Array.isArray(body?.value) ? (body.value as unknown[]) : [];
      yield value.filter(
        (item): item is Record<string, unknown> => item !== null && typeof item === 'object',
      );
      url =
        typeof body?.nextLink === 'string' && body.nextLink !== ''
          ? checkedNextLink(body.nextLink)
          : undefined;
    }
  }

  const textOf = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const objectOf = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};

  return {
    stats,
    endpoint,
    isEmulator,

    async *listSystemTopics(subscriptionId, callOptions = {}): AsyncGenerator<SystemTopicInfo[]> {
      const url = `${endpoint}/subscriptions/${encodeURIComponent(subscriptionId)}/providers/Microsoft.EventGrid/systemTopics?api-version=${eventGridApiVersion}`;
      for await (const page of pagedValues(url, callOptions.abortSignal)) {
        yield page.flatMap((item) => {
          const id = textOf(item['id']);
          const topicType = textOf(objectOf(item['properties'])['topicType']);
          return id === undefined || topicType === undefined ? [] : [{ id, topicType }];
        });
      }
    },

    async *listTopicEventSubscriptions(
      systemTopicId,
      callOptions = {},
    ): AsyncGenerator<TopicEventSubscriptionInfo[]> {
      if (
        !/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.EventGrid\/systemTopics\/[^/]+$/i.test(
          systemTopicId,
        )
      )
        throw new ManagementRequestError('not a system topic id', undefined, 'InvalidResourceId');
      const url = `${endpoint}${systemTopicId.split('/').map(encodeURIComponent).join('/')}/eventSubscriptions?api-version=${eventGridApiVersion}`;
      for await (const page of pagedValues(url, callOptions.abortSignal)) {
        yield page.map((item) => {
          const properties = objectOf(item['properties']);
          const destination = objectOf(properties['destination']);
          return {
            name: textOf(item['name']) ?? '',
            endpointType: textOf(destination['endpointType']),
            destinationResourceId: textOf(objectOf(destination['properties'])['resourceId']),
            provisioningState: textOf(properties['provisioningState']),
          };
        });
      }
    },

    async getInstanceView(resourceId, callOptions = {}) {
      const resource = requireResource(resourceId, [ResourceKind.vm, ResourceKind.scaleSetInstance]);
      const compute = client(resource.subscriptionId);
      const sdkOptions = { abortSignal: callOptions.abortSignal };
      try {
        const view =
          resource.kind === ResourceKind.scaleSetInstance
            ? await compute.virtualMachineScaleSetVMs.getInstanceView(
                resource.resourceGroup,
                resource.name,
                resource.instanceId ?? '',
                sdkOptions,
              )
            : await compute.virtualMachines.instanceView(resource.resourceGroup, resource.name, sdkOptions);
        return mapStatuses(view.statuses) ?? [];
      } catch (error) {
        if (isResourceNotFound(error)) return undefined;
        throw toManagementError(error);
      }
    },

    async *listScaleSetInstances(scaleSetId, callOptions = {}) {
      const scaleSet = requireResource(scaleSetId, [ResourceKind.scaleSet]);
      const pages = client(scaleSet.subscriptionId)
        .virtualMachineScaleSetVMs.list(scaleSet.resourceGroup, scaleSet.name, {
          expand: 'instanceView',
          abortSignal: callOptions.abortSignal,
        })
        .byPage();
      try {
        for await (const page of pages) yield { vms: page.map((vm) => toListedVm(vm, true)) };
      } catch (error) {
        // A scale set deleted meanwhile has no instances left.
        if (isResourceNotFound(error)) return;
        throw toManagementError(error);
      }
    },

    listVmStatuses(subscriptionId, callOptions = {}): AsyncIterable<ListedPage> {
      const pages = client(subscriptionId)
        .virtualMachines.listAll({ statusOnly: 'true', abortSignal: callOptions.abortSignal })
        .byPage();
      return mapPages(pages, (page) => ({ vms: page.map((vm) => toListedVm(vm, false)) }));
    },

    listVmDetails(subscriptionId, callOptions = {}): AsyncIterable<ListedPage> {
      const pages = client(subscriptionId)
        .virtualMachines.listAll({ abortSignal: callOptions.abortSignal })
        .byPage();
      return mapPages(pages, (page) => ({ vms: page.map((vm) => toListedVm(vm, true)) }));
    },

    listScaleSets(subscriptionId, callOptions = {}): AsyncIterable<string[]> {
      const pages = client(subscriptionId)
        .virtualMachineScaleSets.listAll({ abortSignal: callOptions.abortSignal })
        .byPage();
      // Flexible scale sets' VMs are in the VM list already; only uniform ones need per-set listing.
      return mapPages(pages, (page) =>
        page
          .filter((ss) => ss.orchestrationMode !== 'Flexible' && ss.id !== undefined)
          .map((ss) => ss.id ?? ''),
      );
    },

    async *listSubscriptions(callOptions = {}) {
      const url = `${endpoint}/subscriptions?api-version=${subscriptionsApiVersion}`;
      for await (const page of pagedValues(url, callOptions.abortSignal)) {
        for (const item of page) {
          const subscriptionId = textOf(item['subscriptionId']);
          if (subscriptionId !== undefined) yield subscriptionId;
        }
      }
    },

    async readActivityLogPage(subscriptionId, range, nextLink, callOptions = {}): Promise<ActivityLogPage> {
      let url: string;
      if (nextLink === undefined) {
        // The documented grammar only: the time range (the subscription's whole log, filtered here).
        const filter = `eventTimestamp ge '${new Date(range.from).toISOString()}' and eventTimestamp le '${new Date(range.to).toISOString()}'`;
        url = `${endpoint}/subscriptions/${encodeURIComponent(subscriptionId)}/providers/Microsoft.Insights/eventtypes/management/values?api-version=${activityLogApiVersion}&$filter=${encodeURIComponent(filter)}`;
      } else {
        url = checkedNextLink(nextLink);
      }
      const body = (await getJson(url, callOptions.abortSignal)) as
        { value?: unknown; nextLink?: unknown } | undefined;
      const page: ActivityLogPage = { records: Array.isArray(body?.value) ? (body.value as unknown[]) : [] };
      if (typeof body?.nextLink === 'string' && body.nextLink !== '') page.nextLink = body.nextLink;
      return page;
    },

    async *listManagementGroupSubscriptions(groupId, callOptions = {}) {
      const url =
        `${endpoint}/providers/Microsoft.Management/managementGroups/${encodeURIComponent(groupId)}` +
        `/descendants?api-version=${managementGroupsApiVersion}`;
      for await (const page of pagedValues(url, callOptions.abortSignal))
        yield page.flatMap((item) => descendantSubscription(item) ?? []);
    },

    async deallocate(resourceId, callOptions = {}) {
      const vm = requireResource(resourceId, [ResourceKind.vm]);
      try {
        await client(vm.subscriptionId).virtualMachines.deallocate(vm.resourceGroup, vm.name, {
          hibernate: callOptions.hibernate,
          abortSignal: callOptions.abortSignal,
          updateIntervalInMs: isEmulator ? 10 : undefined,
        });
      } catch (error) {
        throw toManagementError(error);
      }
    },
  };
}
