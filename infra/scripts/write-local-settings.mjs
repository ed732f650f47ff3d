// Writes local.settings.json from the azd environment (azd passes its values to hooks as environment
// variables) so that `func start` / `npm start` run against the deployed tables with your own identity
// (`az login`). No keys: identity-based connections only. An existing file is kept as .bak.
import { existsSync, copyFileSync, writeFileSync } from 'node:fs';

const env = process.env;
const required = ['TIMELINE_TABLE_ENDPOINT', 'TIMELINE_QUEUE_ENDPOINT'];
const missing = required.filter((name) => !env[name]);
if (missing.length > 0) {
  console.error(`write-local-settings: missing azd outputs ${missing.join(', ')}; run azd provision first`);
  process.exit(1);
}

const values = {
  FUNCTIONS_WORKER_RUNTIME: 'node',
  // Host state stays in the local Azurite; the timeline and its queue are the deployed ones.
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  TIMELINE_STORAGE__tableServiceUri: env.TIMELINE_TABLE_ENDPOINT,
  TIMELINE_STORAGE__queueServiceUri: env.TIMELINE_QUEUE_ENDPOINT,
  TABLE_NAME_PREFIX: env.TABLE_NAME_PREFIX ?? '',
  ARM_ENDPOINT: env.ARM_ENDPOINT ?? 'https://management.azure.com',
  SUBSCRIPTION_IDS: env.SUBSCRIPTION_IDS ?? '',
  RECONCILE_SCHEDULE: env.RECONCILE_SCHEDULE ?? '0 */5 * * * *',
  ALERT_TOPIC_ENDPOINT: env.ALERT_TOPIC_ENDPOINT ?? '',
  STOPPED_ALERT_GRACE_MINUTES: env.STOPPED_ALERT_GRACE_MINUTES ?? '15',
  AUTO_DEALLOCATE_AFTER_MINUTES: env.AUTO_DEALLOCATE_AFTER_MINUTES ?? '0',
  AUTO_DEALLOCATE_DRY_RUN: env.AUTO_DEALLOCATE_DRY_RUN ?? 'true',
  EXPECTED_STOPPED_PATTERNS: env.EXPECTED_STOPPED_PATTERNS ?? '',
  DETAILS_REFRESH_MINUTES: env.DETAILS_REFRESH_MINUTES ?? '60',
  RECONCILE_BUDGET_SECONDS: env.RECONCILE_BUDGET_SECONDS ?? '240',
  // Locally DefaultAzureCredential uses your `az login`; no managed identity client id.
  AZURE_CLIENT_ID: '',
  LOG_LEVEL: 'info',
};

const target = 'local.settings.json';
if (existsSync(target)) copyFileSync(target, `${target}.bak`);
writeFileSync(target, `${JSON.stringify({ IsEncrypted: false, Values: values }, null, 2)}\n`);
console.log(`write-local-settings: wrote ${target} for ${env.AZURE_STORAGE_ACCOUNT_NAME ?? 'the deployed account'}`);
