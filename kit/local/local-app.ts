/**
 * The whole app on this machine (`npm start`, `vm-timeline serve`): storage (the configured one, an
 * Azurite already running on the default ports, or an embedded Azurite), the sandbox subscription when no
 * subscription is configured, the app's function registrations (`functions/registrations.ts`), and the
 * local host.
 *
 * App settings come from the environment, as the Functions host reads them from `local.settings.json`;
 * the settings this module fills in (storage, sandbox endpoint, schedules) go into its own copy of them,
 * from which it builds the handlers' context (a context factory): `process.env` is never written.
 */
import path from 'node:path';
import { LogFormat } from '../../src/adapters/logger';
import type { Logger } from '../../src/app/ports';
import { ingestEvent } from '../../src/app/ingest-event';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig, settingDefaults } from '../../src/config';
import {
  azuriteDefaultPorts,
  azuriteEndpoints,
  isAzuriteUp,
  startAzurite,
  type AzuritePorts,
  type StartedAzurite,
} from './azurite';
import { createLocalConsole, describeHeld, type LocalConsole } from './console';
import { startLocalHost, type LocalHost } from './host';
import { isConnectionString, MemoryLocalQueues, StorageLocalQueues, type LocalQueues } from './queues';
import { appRegistrations } from './registrations';
import { startSandbox, type Sandbox } from './sandbox';

export interface LocalAppOptions {
  /** Host port (default `LOCAL_PORT`, else 7071; 0 picks a free one). */
  port?: number;
  /** Sandbox on or off; default: on when neither `SUBSCRIPTION_IDS` nor `ARM_ENDPOINT` is set. */
  sandbox?: boolean;
  /** Faster sandbox: a change every ~3 s, reconcile every 20 s, alert grace 1 minute. */
  fast?: boolean;
  /** Milliseconds between sandbox changes (default 15 s, 3 s when fast). */
  sandboxIntervalInMs?: number;
  /** Azurite ports when one is started (default 10000-10002; 0 = free ports). */
  azuritePorts?: AzuritePorts;
  /** Azurite data folder (default `.azurite/` in the checkout); `memory` keeps data in memory. */
  azuriteLocation?: string;
  /** Function key (default `LOCAL_FUNCTION_KEY`, else random). */
  functionKey?: string;
  /** Names of the functions to serve (default: every function of the app). */
  functions?: readonly string[];
  /** App settings (default `process.env`); read, never written. */
  env?: NodeJS.ProcessEnv;
  /**
   * Every log line goes here when set (and no `console`): no per-execution lines. Default: the console's.
   */
  log?: Logger;
  /** One line per function execution (default: readable on stderr, `LOG_FORMAT=json` for JSON lines). */
  console?: LocalConsole;
  /** Lines for people: what runs where (default stdout). */
  say?: (line: string) => void;
}

export interface LocalApp {
  readonly host: LocalHost;
  readonly sandbox: Sandbox | undefined;
  /** The dashboard with the function key in its URL. */
  readonly dashboardUrl: string;
  readonly storage: string;
  stop(): Promise<void>;
}

const root = path.resolve(__dirname, '..', '..', '..');
/**
 * Variables of the local host itself, not app settings: the deployed app never reads them, so they stay
 * out of the settings contract (infra, local.settings.sample.json).
 */
export const hostVariables = { port: 'LOCAL_PORT', functionKey: 'LOCAL_FUNCTION_KEY' } as const;
const sandboxDefaults = {
  RECONCILE_SCHEDULE: '*/30 * * * * *',
  ACTIVITY_LOG_SCHEDULE: '0 * * * * *',
  ROLLUP_SCHEDULE: '0 * * * * *',
  STOPPED_ALERT_GRACE_MINUTES: '2',
};
const fastDefaults = {
  RECONCILE_SCHEDULE: '*/20 * * * * *',
  ROLLUP_SCHEDULE: '*/30 * * * * *',
  ALERT_SCHEDULE: '*/15 * * * * *',
  STOPPED_ALERT_GRACE_MINUTES: '1',
};

function isSet(env: NodeJS.ProcessEnv, name: string): boolean {
  return (env[name] ?? '').trim() !== '';
}

function isLocalStorage(storage: string): boolean {
  return (
    /^UseDevelopmentStorage=true/i.test(storage) ||
    /Endpoint=http:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(storage)
  );
}

export async function startLocalApp(options: LocalAppOptions = {}): Promise<LocalApp> {
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  const localConsole =
    options.console ?? (options.log === undefined ? createLocalConsole({ env }) : undefined);
  const log = options.log ?? localConsole?.log ?? createLocalConsole({ env }).log;
  // Until the banner ends with the dashboard URL: execution lines are counted, not shown (warnings are).
  const release = localConsole?.hold();
  const say = options.say ?? ((line: string) => process.stdout.write(`${line}\n`));
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    cleanups.length = 0;
  };
  const setDefault = (name: string, value: string): void => {
    if (!isSet(env, name)) env[name] = value;
  };

  try {
    // Storage.
    let azurite: StartedAzurite | undefined;
    if (isSet(env, 'TIMELINE_STORAGE') || isSet(env, 'AzureWebJobsStorage')) {
      say(
        `Storage: ${isSet(env, 'TIMELINE_STORAGE') ? 'TIMELINE_STORAGE' : 'AzureWebJobsStorage'} as configured.`,
      );
    } else {
      const ports = options.azuritePorts ?? azuriteDefaultPorts;
      const fixed = ports.blob !== 0 && ports.queue !== 0 && ports.table !== 0;
      if (fixed && (await isAzuriteUp(ports))) {
        env['TIMELINE_STORAGE'] = azuriteEndpoints(ports).connectionString;
        say(`Storage: reusing the Azurite on 127.0.0.1 (table ${ports.table}, queue ${ports.queue}).`);
      } else {
        const location = options.azuriteLocation ?? path.join(root, '.azurite');
        azurite = await startAzurite(location === 'memory' ? { ports } : { ports, location });
        cleanups.push(() => azurite?.stop() ?? Promise.resolve());
        env['TIMELINE_STORAGE'] = azurite.connectionString;
        say(
          `Storage: started Azurite on 127.0.0.1 (table ${azurite.ports.table}, queue ${azurite.ports.queue}, blob ${azurite.ports.blob}), data ${location === 'memory' ? 'in memory' : `in ${path.relative(process.cwd(), location) || location}`}.`,
        );
      }
    }
    const storage = env['TIMELINE_STORAGE'] ?? env['AzureWebJobsStorage'] ?? '';

    // Subscription: the sandbox unless one is configured.
    const useSandbox = options.sandbox ?? (!isSet(env, 'SUBSCRIPTION_IDS') && !isSet(env, 'ARM_ENDPOINT'));
    let sandbox: Sandbox | undefined;
    if (useSandbox) {
      sandbox = await startSandbox({
        log,
        intervalInMs: options.sandboxIntervalInMs ?? (options.fast ? 3000 : 15_000),
      });
      cleanups.push(() => sandbox?.stop() ?? Promise.resolve());
      env['ARM_ENDPOINT'] = sandbox.armEndpoint;
      env['METRICS_ENDPOINT'] = sandbox.metricsEndpoint;
      env['SUBSCRIPTION_IDS'] = sandbox.subscriptionId;
      setDefault('TABLE_NAME_PREFIX', 'sandbox');
      for (const [name, value] of Object.entries(options.fast ? fastDefaults : sandboxDefaults))
        setDefault(name, value);
      say(`Subscription: sandbox ${sandbox.subscriptionId} (management emulator at ${sandbox.armEndpoint}).`);
    } else {
      say(
        `Subscription: ${isSet(env, 'SUBSCRIPTION_IDS') ? env['SUBSCRIPTION_IDS'] : 'every subscription your identity can read'} at ${env['ARM_ENDPOINT'] ?? settingDefaults.ARM_ENDPOINT} (credential: DefaultAzureCredential, e.g. az login). Event Grid cannot reach this machine: changes are seen by the reconciler.`,
      );
    }
    // The schedules the registrations name as %SETTING% (local.settings.json holds them for `func start`).
    for (const name of [
      'RECONCILE_SCHEDULE',
      'ROLLUP_SCHEDULE',
      'ALERT_SCHEDULE',
      'ACTIVITY_LOG_SCHEDULE',
      'INVOICE_CHECK_SCHEDULE',
    ] as const)
      setDefault(name, settingDefaults[name]);
    const config = loadConfig(env);

    if (sandbox && isLocalStorage(storage)) {
      // The sandbox's fleet is new on every start: so are its tables.
      const ctx = createAppContext(config, { log });
      for (const name of Object.values(ctx.tableNames)) await ctx.tables.table(name).deleteTable();
    }

    const queues: LocalQueues = isConnectionString(storage)
      ? new StorageLocalQueues(storage)
      : new MemoryLocalQueues();
    let shared: AppContext | undefined;
    const contextOf = async (): Promise<AppContext> => {
      shared ??= createAppContext(config, { log });
      await shared.ensureTables();
      return shared;
    };
    const registrations = appRegistrations(options.functions, contextOf);
    if (sandbox) {
      for (const r of registrations) if (r.kind === 'storageQueue') await queues.clear(r.options.queueName);
    }

    const port = options.port ?? (isSet(env, hostVariables.port) ? Number(env[hostVariables.port]) : 7071);
    const host = await startLocalHost({
      registrations,
      queues,
      log,
      executions: localConsole,
      port,
      env,
      functionKey:
        options.functionKey ??
        (isSet(env, hostVariables.functionKey) ? env[hostVariables.functionKey] : undefined),
    });
    cleanups.push(() => host.stop());
    const dashboardUrl = `${host.url}/?code=${encodeURIComponent(host.functionKey)}`;

    say(`Functions host on ${host.url}:`);
    for (const line of host.describe()) say(`  ${line}`);
    say(`Function key: ${host.functionKey}  (header x-functions-key, or ?code=)`);

    if (sandbox) {
      const webhook = `${host.url}/runtime/webhooks/eventgrid?functionName=vmEvents`;
      say('Sandbox: recording a few days of history…');
      // Days-old events are a backfill: the Event Grid path refuses what is older than its 24-hour retry
      // window, so they go through the ingest use case as `vm-timeline ingest` records an archive.
      const backfill = createAppContext(config, { log });
      await backfill.ensureTables();
      const delivered = await sandbox.seedHistory(async (batch) => {
        for (const event of batch) await ingestEvent(event, backfill);
        return 200;
      });
      // Like runOnStartup, once: the reconciler finds what raised no event, the rollup and alerts catch up.
      for (const name of ['reconcile', 'rollupUsage', 'stoppedAllocatedAlerts'])
        if (host.timers?.timers.some((t) => t.name === name)) await host.timers.runNow(name);
      const ran = release === undefined ? '' : describeHeld(release());
      say(
        `Sandbox: ${delivered} history deliveries recorded${ran === '' ? '' : `; ran once at start: ${ran}`}.`,
      );
      sandbox.startLive(webhook);
      say(
        `Sandbox: live changes every ~${Math.round((options.sandboxIntervalInMs ?? (options.fast ? 3000 : 15_000)) / 1000)} s, events delivered late, sometimes twice, out of order.`,
      );
    }
    release?.();
    if (localConsole !== undefined)
      say(
        `Logs (stderr): one line per function execution, warnings and errors; ${localConsole.format === LogFormat.json ? 'JSON lines (LOG_FORMAT=json)' : 'LOG_FORMAT=json for JSON lines, LOG_LEVEL=debug for everything'}.`,
      );
    say('Press Ctrl-C to stop.');
    say('');
    say(`Dashboard: ${dashboardUrl}`);
    say('');
    return { host, sandbox, dashboardUrl, storage, stop: stopAll };
  } catch (error) {
    release?.();
    await stopAll();
    if (error instanceof Error && /EADDRINUSE/.test(error.message))
      throw new Error(
        `${error.message.split('\n')[0]} A port is in use: choose others (--port, --azurite-ports 0,0,0).`,
      );
    throw error;
  }
}
