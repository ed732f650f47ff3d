/**
 * App settings, read once and validated. The same names appear in `local.settings.sample.json`, in
 * `infra/` and in the README; errors name the setting at fault.
 */
import { parseExpectedStoppedPatterns } from './domain/alerts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Config {
  /** Connection string, `UseDevelopmentStorage=true`, or table endpoint URL for the timeline tables. */
  storage: string;
  /** Client id of the user-assigned managed identity (also read by DefaultAzureCredential). */
  clientId?: string | undefined;
  /** Prefix for the table names (side-by-side installs, tests). */
  tablePrefix: string;
  /** Azure Resource Manager endpoint: public, sovereign cloud, or a loopback emulator. */
  armEndpoint: string;
  /**
   * Azure Monitor metrics endpoint (`{region}` replaced per read) for the VM availability metric that
   * narrows stops found within a window; undefined: no metric reads (`METRICS_ENDPOINT=off`, or an
   * emulated ARM endpoint without a metrics emulator).
   */
  metricsEndpoint?: string | undefined;
  /** Subscriptions to reconcile; empty means every subscription the identity can read. */
  subscriptionIds: string[];
  /** Management group whose subscriptions (at any depth, present and future) are watched; exclusive with `subscriptionIds`. */
  managementGroupId?: string | undefined;
  /** NCRONTAB schedule of the reconcile timer (for documentation; the host reads the setting itself). */
  reconcileSchedule: string;
  /** NCRONTAB schedule of the usage rollup timer (documentation; the host reads the setting itself). */
  rollupSchedule: string;
  /** The reconciler refreshes VM details (size, location, OS type, priority, tags) when older than this. */
  detailsRefreshInMinutes: number;
  /** Time budget of one subscription's reconcile run; it stops cleanly between pages before it. */
  reconcileBudgetInSeconds: number;
  /** Minutes a VM may sit in Stopped (allocated) before it is alerted on. */
  stoppedAlertGraceInMinutes: number;
  /** Resource-id scopes or VM-name patterns (`*` wildcard) of VMs expected to sit stopped. */
  expectedStoppedPatterns: string[];
  /** Event Grid custom topic of the alert CloudEvents; empty: alerts are only logged. */
  alertTopicEndpoint?: string | undefined;
  /** NCRONTAB schedule of the alert timer (documentation; the host reads the setting itself). */
  alertSchedule: string;
  /** Deallocate VMs left Stopped (allocated) this many minutes; 0 = off. */
  autoDeallocateAfterInMinutes: number;
  /** Auto-deallocate only reports what it would do. */
  autoDeallocateDryRun: boolean;
  /** Days of Activity Log history read when a subscription is first watched (1-89). */
  backfillInDays: number;
  /** NCRONTAB schedule of the recurring Activity Log read (documentation; the host reads the setting itself). */
  activityLogSchedule: string;
  /** Blob container URL (optionally with a prefix) of the scheduled cost export; empty: no daily invoice check. */
  costExportContainer?: string | undefined;
  /** NCRONTAB schedule of the daily invoice check (documentation; the host reads the setting itself). */
  invoiceCheckSchedule: string;
  /** Alert when the share of VM-days that agree with the invoice falls below this percent; 0 = never. */
  invoiceAgreementAlertPercent: number;
  /** Application Insights connection string (the `StoppedAllocatedVms` metric); empty: log line only. */
  appInsightsConnectionString?: string | undefined;
  /** `ClientId=<id>;Authorization=AAD`: Entra ID sign-in for the metric. */
  appInsightsAuthenticationString?: string | undefined;
}

/** Settings with their defaults (the settings contract checked by tests and used by infra). */
export const settingDefaults = {
  TIMELINE_STORAGE: '(AzureWebJobsStorage, else UseDevelopmentStorage=true)',
  TABLE_NAME_PREFIX: '',
  ARM_ENDPOINT: 'https://management.azure.com',
  METRICS_ENDPOINT: '(https://{region}.metrics.monitor.azure.com; off against an emulated ARM_ENDPOINT)',
  SUBSCRIPTION_IDS: '',
  WATCH_MANAGEMENT_GROUP: '',
  RECONCILE_SCHEDULE: '0 */5 * * * *',
  ROLLUP_SCHEDULE: '0 */10 * * * *',
  DETAILS_REFRESH_MINUTES: '60',
  RECONCILE_BUDGET_SECONDS: '240',
  AZURE_CLIENT_ID: '',
  STOPPED_ALERT_GRACE_MINUTES: '15',
  EXPECTED_STOPPED_PATTERNS: '',
  ALERT_TOPIC_ENDPOINT: '',
  ALERT_SCHEDULE: '0 * * * * *',
  AUTO_DEALLOCATE_AFTER_MINUTES: '0',
  AUTO_DEALLOCATE_DRY_RUN: 'true',
  BACKFILL_DAYS: '89',
  ACTIVITY_LOG_SCHEDULE: '0 */5 * * * *',
  COST_EXPORT_CONTAINER: '',
  INVOICE_CHECK_SCHEDULE: '0 30 6 * * *',
  INVOICE_AGREEMENT_ALERT_PERCENT: '90',
  APPLICATIONINSIGHTS_CONNECTION_STRING: '',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: '',
} as const;

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function positiveInteger(
  env: Readonly<Record<string, string | undefined>>,
  name: 'DETAILS_REFRESH_MINUTES' | 'RECONCILE_BUDGET_SECONDS' | 'BACKFILL_DAYS',
): number {
  const text = setting(env, name) ?? settingDefaults[name];
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1)
    throw new ConfigError(`${name} must be a positive whole number`);
  return value;
}

function wholeNumber(
  env: Readonly<Record<string, string | undefined>>,
  name: 'STOPPED_ALERT_GRACE_MINUTES' | 'AUTO_DEALLOCATE_AFTER_MINUTES',
): number {
  const text = setting(env, name) ?? settingDefaults[name];
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new ConfigError(`${name} must be a whole number of minutes (0 or more)`);
  return value;
}

function flag(env: Readonly<Record<string, string | undefined>>, name: 'AUTO_DEALLOCATE_DRY_RUN'): boolean {
  const text = (setting(env, name) ?? settingDefaults[name]).toLowerCase();
  if (text !== 'true' && text !== 'false') throw new ConfigError(`${name} must be true or false`);
  return text === 'true';
}

function setting(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function alertTopicEndpoint(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('protocol');
  } catch {
    throw new ConfigError('ALERT_TOPIC_ENDPOINT must be an http(s) URL');
  }
  return value;
}

function costExportContainer(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('COST_EXPORT_CONTAINER must be a blob container URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '')
    throw new ConfigError('COST_EXPORT_CONTAINER must be an http(s) container URL without a query string');
  return value;
}

function percent(env: Readonly<Record<string, string | undefined>>): number {
  const name = 'INVOICE_AGREEMENT_ALERT_PERCENT';
  const text = setting(env, name) ?? settingDefaults[name];
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value > 100)
    throw new ConfigError(`${name} must be a percent from 0 to 100`);
  return value;
}

function backfillInDays(env: Readonly<Record<string, string | undefined>>): number {
  const days = positiveInteger(env, 'BACKFILL_DAYS');
  // The Activity Log keeps 90 days: a start time past them answers 400.
  if (days > 89) throw new ConfigError('BACKFILL_DAYS must be at most 89 (the Activity Log keeps 90 days)');
  return days;
}

export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Readonly<Config> {
  const storage =
    setting(env, 'TIMELINE_STORAGE') ??
    setting(env, 'TIMELINE_STORAGE__tableServiceUri') ??
    setting(env, 'AzureWebJobsStorage') ??
    'UseDevelopmentStorage=true';
  const armEndpoint = setting(env, 'ARM_ENDPOINT') ?? settingDefaults.ARM_ENDPOINT;
  try {
    const url = new URL(armEndpoint);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('protocol');
  } catch {
    throw new ConfigError('ARM_ENDPOINT must be an http(s) URL');
  }
  const metricsSetting = setting(env, 'METRICS_ENDPOINT');
  let metricsEndpoint: string | undefined;
  if (metricsSetting === undefined) {
    // Against an emulated ARM endpoint, never the public metrics endpoint.
    metricsEndpoint = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/i.test(armEndpoint)
      ? undefined
      : 'https://{region}.metrics.monitor.azure.com';
  } else if (metricsSetting.toLowerCase() !== 'off') {
    try {
      const url = new URL(metricsSetting.replace('{region}', 'region'));
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('protocol');
    } catch {
      throw new ConfigError('METRICS_ENDPOINT must be an http(s) URL (with {region}) or "off"');
    }
    metricsEndpoint = metricsSetting;
  }
  const subscriptionIds = (setting(env, 'SUBSCRIPTION_IDS') ?? '').split(/[\s,;]+/).filter((s) => s !== '');
  for (const id of subscriptionIds) {
    if (!guid.test(id) && !/^[A-Za-z0-9-]{1,64}$/.test(id))
      throw new ConfigError('SUBSCRIPTION_IDS holds an invalid subscription id');
  }
  const managementGroupId = setting(env, 'WATCH_MANAGEMENT_GROUP');
  if (managementGroupId !== undefined) {
    // Management group ids: letters, digits, `-`, `_`, `(`, `)`, `.`, up to 90 characters, not ending in `.`.
    if (!/^[A-Za-z0-9_().-]{1,90}$/.test(managementGroupId) || managementGroupId.endsWith('.'))
      throw new ConfigError(
        'WATCH_MANAGEMENT_GROUP must be a management group id (name), not a display name or path',
      );
    if (subscriptionIds.length > 0)
      throw new ConfigError(
        'WATCH_MANAGEMENT_GROUP and SUBSCRIPTION_IDS are exclusive: watch a management group or list subscriptions, not both',
      );
  }
  const tablePrefix = setting(env, 'TABLE_NAME_PREFIX') ?? '';
  if (tablePrefix !== '' && !/^[A-Za-z][A-Za-z0-9]{0,30}$/.test(tablePrefix)) {
    throw new ConfigError('TABLE_NAME_PREFIX must be letters and digits, starting with a letter');
  }
  return Object.freeze({
    storage,
    clientId: setting(env, 'TIMELINE_STORAGE__clientId') ?? setting(env, 'AZURE_CLIENT_ID'),
    tablePrefix,
    armEndpoint,
    metricsEndpoint,
    subscriptionIds,
    managementGroupId,
    reconcileSchedule: setting(env, 'RECONCILE_SCHEDULE') ?? settingDefaults.RECONCILE_SCHEDULE,
    rollupSchedule: setting(env, 'ROLLUP_SCHEDULE') ?? settingDefaults.ROLLUP_SCHEDULE,
    detailsRefreshInMinutes: positiveInteger(env, 'DETAILS_REFRESH_MINUTES'),
    reconcileBudgetInSeconds: positiveInteger(env, 'RECONCILE_BUDGET_SECONDS'),
    stoppedAlertGraceInMinutes: wholeNumber(env, 'STOPPED_ALERT_GRACE_MINUTES'),
    expectedStoppedPatterns: parseExpectedStoppedPatterns(setting(env, 'EXPECTED_STOPPED_PATTERNS') ?? ''),
    alertTopicEndpoint: alertTopicEndpoint(setting(env, 'ALERT_TOPIC_ENDPOINT')),
    alertSchedule: setting(env, 'ALERT_SCHEDULE') ?? settingDefaults.ALERT_SCHEDULE,
    autoDeallocateAfterInMinutes: wholeNumber(env, 'AUTO_DEALLOCATE_AFTER_MINUTES'),
    backfillInDays: backfillInDays(env),
    activityLogSchedule: setting(env, 'ACTIVITY_LOG_SCHEDULE') ?? settingDefaults.ACTIVITY_LOG_SCHEDULE,
    autoDeallocateDryRun: flag(env, 'AUTO_DEALLOCATE_DRY_RUN'),
    costExportContainer: costExportContainer(setting(env, 'COST_EXPORT_CONTAINER')),
    invoiceCheckSchedule: setting(env, 'INVOICE_CHECK_SCHEDULE') ?? settingDefaults.INVOICE_CHECK_SCHEDULE,
    invoiceAgreementAlertPercent: percent(env),
    appInsightsConnectionString: setting(env, 'APPLICATIONINSIGHTS_CONNECTION_STRING'),
    appInsightsAuthenticationString: setting(env, 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'),
  });
}
