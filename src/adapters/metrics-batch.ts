/**
 * Adapter of `AvailabilityMetricsClient`: the Azure Monitor metrics batch API (data plane),
 * `POST {endpoint}/subscriptions/{sub}/metrics:getBatch?metricnamespace=…&metricnames=VmAvailabilityMetric
 * &aggregation=average&interval=PT1M&starttime=…&endtime=…&api-version=2023-10-01` with body
 * `{ "resourceids": [...] }` (Azure/azure-rest-api-specs, specification/monitor/data-plane/Microsoft.Insights/
 * stable/2023-10-01/metricBatch.json). The SDK pipeline retries throttling honouring Retry-After and signs
 * with the managed identity (scope `https://metrics.monitor.azure.com/.default`); a loopback `http://`
 * endpoint is an emulator (no token). The endpoint is regional: `{region}` in it is replaced.
 */
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { AvailabilityMetricsClient, AvailabilityRequest, ManagementOptions } from '../app/ports';
import type { AvailabilityPoint } from '../domain/availability';
import { vmKey } from '../domain/resource-id';
import { isLoopbackEndpoint } from './arm';
import { serviceErrorOf, toServiceError } from './service-errors';

export const metricsApiVersion = '2023-10-01';
const metricsScope = 'https://metrics.monitor.azure.com/.default';

export interface MetricsClientOptions {
  /** `https://{region}.metrics.monitor.azure.com`, or an emulator's loopback URL. */
  endpoint: string;
  credential?: TokenCredential | undefined;
  maxRetries?: number;
  retryDelayInMs?: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The minutes of one resource's `VmAvailabilityMetric` from a `values[]` item of the reply. */
function pointsOf(item: Json): AvailabilityPoint[] {
  const points: AvailabilityPoint[] = [];
  const metrics = Array.isArray(item['value']) ? item['value'] : [];
  for (const metric of metrics) {
    if (!isObject(metric)) continue;
    const series = Array.isArray(metric['timeseries']) ? metric['timeseries'] : [];
    for (const s of series) {
      const data = isObject(s) && Array.isArray(s['data']) ? s['data'] : [];
      for (const d of data) {
        if (!isObject(d) || typeof d['timeStamp'] !== 'string') continue;
        const at = Date.parse(d['timeStamp']);
        if (!Number.isFinite(at)) continue;
        const average = typeof d['average'] === 'number' ? d['average'] : undefined;
        points.push({ at, average });
      }
    }
  }
  return points;
}

export function createMetricsClient(options: MetricsClientOptions): AvailabilityMetricsClient {
  const isEmulator = isLoopbackEndpoint(options.endpoint.replace('{region}', 'emulator'));
  const stats = { requests: 0, throttled: 0 };
  const pipeline: Pipeline = createPipelineFromOptions({
    retryOptions: { maxRetries: options.maxRetries ?? 3, retryDelayInMs: options.retryDelayInMs ?? 800 },
  });
  pipeline.addPolicy(
    {
      name: 'metricsStatsPolicy',
      async sendRequest(request, next) {
        stats.requests += 1;
        const response = await next(request);
        if (response.status === 429) stats.throttled += 1;
        return response;
      },
    },
    { afterPhase: 'Retry' },
  );
  if (!isEmulator) {
    pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({
        credential: options.credential ?? new DefaultAzureCredential(),
        scopes: metricsScope,
      }),
    );
  }
  let httpClient: HttpClient | undefined;

  return {
    stats,
    async getAvailability(request: AvailabilityRequest, callOptions: ManagementOptions = {}) {
      const base = options.endpoint.replace('{region}', encodeURIComponent(request.region.toLowerCase()));
      const url = new URL(
        `${base.replace(/\/+$/, '')}/subscriptions/${encodeURIComponent(request.subscriptionId)}/metrics:getBatch`,
      );
      url.searchParams.set('metricnamespace', request.resourceType);
      url.searchParams.set('metricnames', 'VmAvailabilityMetric');
      url.searchParams.set('aggregation', 'average');
      url.searchParams.set('interval', 'PT1M');
      url.searchParams.set('starttime', new Date(Math.floor(request.from / 60_000) * 60_000).toISOString());
      url.searchParams.set('endtime', new Date(Math.ceil(request.to / 60_000) * 60_000).toISOString());
      url.searchParams.set('api-version', metricsApiVersion);
      const pipelineRequest = createPipelineRequest({
        url: url.toString(),
        method: 'POST',
        body: JSON.stringify({ resourceids: request.resourceIds }),
        headers: createHttpHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
        allowInsecureConnection: isEmulator,
        abortSignal: callOptions.abortSignal,
      });
      httpClient ??= createDefaultHttpClient();
      let response: PipelineResponse;
      try {
        response = await pipeline.sendRequest(httpClient, pipelineRequest);
      } catch (error) {
        throw toServiceError(error);
      }
      if (response.status !== 200)
        throw serviceErrorOf(response.status, 'metrics batch read failed', { headers: response.headers });
      const body: unknown = JSON.parse(response.bodyAsText ?? '{}');
      const result = new Map<string, AvailabilityPoint[]>();
      const values = isObject(body) && Array.isArray(body['values']) ? body['values'] : [];
      for (const item of values) {
        if (!isObject(item) || typeof item['resourceid'] !== 'string') continue;
        result.set(vmKey(item['resourceid']), pointsOf(item));
      }
      return result;
    },
  };
}
