/**
 * App settings, read once and validated. The same names appear in `local.settings.sample.json`, in
 * `infra/` and in the README; errors name the setting at fault.
 */
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
  /** Subscriptions to reconcile; empty means every subscription the identity can read. */
  subscriptionIds: string[];
  /** NCRONTAB schedule of the reconcile timer (for documentation; the host reads the setting itself). */
  reconcileSchedule: string;
  /** The reconciler refreshes VM details (size, location, OS type, priority, tags) when older than this. */
  detailsRefreshMinutes: number;
  /** Time budget of one subscription's reconcile run; it stops cleanly between pages before it. */
  reconcileBudgetSeconds: number;
}

/** Settings with their defaults (the settings contract checked by tests and used by infra). */
export const settingDefaults = {
  TIMELINE_STORAGE: '(AzureWebJobsStorage, else UseDevelopmentStorage=true)',
  TABLE_NAME_PREFIX: '',
  ARM_ENDPOINT: 'https://management.azure.com',
  SUBSCRIPTION_IDS: '',
  RECONCILE_SCHEDULE: '0 */5 * * * *',
  DETAILS_REFRESH_MINUTES: '60',
  RECONCILE_BUDGET_SECONDS: '240',
  AZURE_CLIENT_ID: '',
} as const;

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function positiveInteger(
  env: Readonly<Record<string, string | undefined>>,
  name: 'DETAILS_REFRESH_MINUTES' | 'RECONCILE_BUDGET_SECONDS',
): number {
  const text = setting(env, name) ?? settingDefaults[name];
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1)
    throw new ConfigError(`${name} must be a positive whole number`);
  return value;
}

function setting(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
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
  const subscriptionIds = (setting(env, 'SUBSCRIPTION_IDS') ?? '').split(/[\s,;]+/).filter((s) => s !== '');
  for (const id of subscriptionIds) {
    if (!guid.test(id) && !/^[A-Za-z0-9-]{1,64}$/.test(id))
      throw new ConfigError('SUBSCRIPTION_IDS holds an invalid subscription id');
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
    subscriptionIds,
    reconcileSchedule: setting(env, 'RECONCILE_SCHEDULE') ?? settingDefaults.RECONCILE_SCHEDULE,
    detailsRefreshMinutes: positiveInteger(env, 'DETAILS_REFRESH_MINUTES'),
    reconcileBudgetSeconds: positiveInteger(env, 'RECONCILE_BUDGET_SECONDS'),
  });
}
