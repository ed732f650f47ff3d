/**
 * The `StoppedAllocatedVms` metric. The Functions Node worker sends logs only as trace text, so a metric that
 * lands in Application Insights' `customMetrics` table (which the infra's alert rule queries) is sent here
 * with the Application Insights ingestion (track) API, signed in with Entra ID when
 * `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` says `Authorization=AAD` (the identity needs Monitoring Metrics
 * Publisher). Failures are logged, never thrown: the structured log line carries the value too.
 */
import type { TokenCredential } from '@azure/identity';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { AlertMetrics } from '../app/alert-ports';
import type { Logger } from '../app/ports';

export const stoppedAllocatedMetricName = 'StoppedAllocatedVms';

const monitorScope = 'https://monitor.azure.com//.default';

export interface AppInsightsTarget {
  instrumentationKey: string;
  /** `https://<region>.in.applicationinsights.azure.com/` */
  ingestionEndpoint: string;
}

/** Parses an Application Insights connection string; undefined when it has no instrumentation key. */
export function parseAppInsightsConnectionString(value: string | undefined): AppInsightsTarget | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const parts = new Map<string, string>();
  for (const part of value.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) parts.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const instrumentationKey = parts.get('instrumentationkey');
  if (instrumentationKey === undefined || instrumentationKey === '') return undefined;
  const ingestionEndpoint = parts.get('ingestionendpoint') ?? 'https://dc.services.visualstudio.com/';
  return { instrumentationKey, ingestionEndpoint: ingestionEndpoint.replace(/\/*$/, '/') };
}

/** The track-API envelope of one metric sample. */
export function metricEnvelope(
  target: AppInsightsTarget,
  name: string,
  value: number,
  at: number,
  roleName: string,
): Record<string, unknown> {
  return {
    name: `Microsoft.ApplicationInsights.${target.instrumentationKey.replace(/-/g, '')}.Metric`,
    time: new Date(at).toISOString(),
    iKey: target.instrumentationKey,
    tags: { 'ai.cloud.role': roleName },
    data: {
      baseType: 'MetricData',
      baseData: { ver: 2, metrics: [{ name, kind: 0, value, count: 1 }], properties: {} },
    },
  };
}

export interface AlertMetricsOptions {
  connectionString?: string | undefined;
  /** `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`, e.g. `ClientId=<id>;Authorization=AAD`. */
  authenticationString?: string | undefined;
  credential?: TokenCredential | undefined;
  /** Cloud role name (the Function App's name). */
  roleName?: string | undefined;
  log: Logger;
  fetch?: typeof fetch;
}

/** Sends the metric to Application Insights; without a connection string, a no-op (the log line remains). */
export function createAppInsightsAlertMetrics(options: AlertMetricsOptions): AlertMetrics {
  const target = parseAppInsightsConnectionString(options.connectionString);
  if (target === undefined) return { stoppedAllocatedVms: () => Promise.resolve() };
  const auth = options.authenticationString ?? '';
  const aad = /authorization\s*=\s*aad/i.test(auth);
  const clientId = /clientid\s*=\s*([^;]+)/i.exec(auth)?.[1]?.trim();
  const credential = aad
    ? (options.credential ??
      (clientId !== undefined ? new ManagedIdentityCredential({ clientId }) : new DefaultAzureCredential()))
    : undefined;
  const send = options.fetch ?? fetch;
  return {
    async stoppedAllocatedVms(value, at) {
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (credential !== undefined) {
          const token = await credential.getToken(monitorScope);
          if (token === null) throw new Error('no token for Azure Monitor');
          headers['authorization'] = `Bearer ${token.token}`;
        }
        const envelope = metricEnvelope(
          target,
          stoppedAllocatedMetricName,
          value,
          at,
          options.roleName ?? '',
        );
        const response = await send(`${target.ingestionEndpoint}v2.1/track`, {
          method: 'POST',
          headers,
          body: JSON.stringify([envelope]),
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) {
          options.log.warn('metric not accepted', {
            metric: stoppedAllocatedMetricName,
            status: response.status,
          });
        }
      } catch (error) {
        options.log.warn('metric not sent', { metric: stoppedAllocatedMetricName, error: String(error) });
      }
    },
  };
}
