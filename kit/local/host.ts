/**
 * The local Functions host: a thin adapter that serves the app's own registration list
 * (`functions/registrations.ts`, see `registrations.ts`) behind the routes the Azure Functions host uses, so the same
 * tools work against both:
 *
 * - `POST /runtime/webhooks/eventgrid?functionName=NAME`: Event Grid triggers (see `eventgrid-webhook.ts`);
 * - `/api/<route>`: HTTP triggers, with the function key for `authLevel: 'function'`;
 * - timers on their NCRONTAB schedules (%NAME% settings resolved from the environment);
 * - storage-queue triggers fed by the queue outputs of other functions (see `queues.ts`);
 * - `POST /admin/functions/NAME` (function key): runs a non-HTTP function now, as the Functions host's
 *   admin API does (`{ "input": "<queue message>" }` for a queue trigger);
 * - `GET /`: the dashboard page.
 *
 * Every route answers 421 unless the `Host` header is a loopback name (DNS rebinding, see `isLoopbackHost`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../src/app/ports';
import { loadConfig } from '../../src/config';
import type { ExecutionObserver } from './console';
import { dashboardResponse } from '../../src/dashboard/assets';
import { deliver, isExpectedTopic, maxDeliveryBytes, readWebhookDelivery } from './eventgrid-webhook';
import {
  authorized,
  fromHandlerResult,
  hasFunctionKey,
  httpRoute,
  isLoopbackHost,
  matchRoute,
  routePrefix,
  sendStreamed,
  hasStreamBody,
  toHttpRequest,
  type HttpRoute,
} from './http-routes';
import { invoke } from './invoke';
import { startQueueTriggers, type QueueTriggerRunner } from './queue-triggers';
import type { LocalQueues } from './queues';
import type { Registration } from './registrations';
import { startTimers, type TimerRunner } from './timers';
import { send } from '../send';

export interface LocalHostOptions {
  /** The functions to serve (the app's list, or part of it). */
  registrations: readonly Registration[];
  queues: LocalQueues;
  log: Logger;
  /** Told of each function execution (the console's one line per execution); else every line goes to `log`. */
  executions?: ExecutionObserver;
  /** 127.0.0.1 port; 0 picks a free one (default 7071). */
  port?: number;
  /** Function key for `authLevel: 'function'` routes and the admin route (default: random). */
  functionKey?: string;
  /** App settings for %NAME% settings in schedules (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Start the timers (default true; tests run them through the admin route). */
  timers?: boolean;
  /** Longest wait between polls of an empty queue (default 2 s). */
  maxQueuePollIntervalInMs?: number;
}

export interface LocalHost {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly functionKey: string;
  readonly registrations: readonly Registration[];
  readonly routes: readonly HttpRoute[];
  readonly timers: TimerRunner | undefined;
  /** One line per function: what runs where. */
  describe(): string[];
  stop(): Promise<void>;
}

/** The only address the local host listens on. */
const bindHost = '127.0.0.1';
const maxBodyBytes = 10 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The request body, at most `limitInBytes`. A larger body is read to its end and dropped (memory stays
 * bounded), then refused with 413: the client gets the answer instead of a connection reset.
 */
function readBody(req: IncomingMessage, limitInBytes = maxBodyBytes): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitInBytes) chunks.length = 0;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limitInBytes) reject(new HttpError(413, `request body larger than ${limitInBytes} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const { registrations, queues, log } = options;
  const env = options.env ?? process.env;
  const functionKey = options.functionKey ?? randomBytes(24).toString('base64url');
  const deps = { log, queues, executions: options.executions };
  const byName = new Map(registrations.map((r) => [r.name.toLowerCase(), r]));
  const routes = registrations.flatMap((r) => (r.kind === 'http' ? [httpRoute(r.name, r.options)] : []));

  const timers =
    options.timers === false
      ? undefined
      : startTimers(
          registrations.flatMap((r) =>
            r.kind === 'timer'
              ? [
                  {
                    name: r.name,
                    schedule: r.options.schedule,
                    runOnStartup: r.options.runOnStartup,
                    run: (t: unknown) => invoke(r, t, deps),
                  },
                ]
              : [],
          ),
          env,
          log,
        );
  /** The subscriptions the app watches (`SUBSCRIPTION_IDS`), whose system topics may validate the webhook. */
  const watchedSubscriptions = (): string[] => {
    try {
      return loadConfig(env).subscriptionIds;
    } catch {
      return [];
    }
  };
  const queueTriggers: QueueTriggerRunner = startQueueTriggers(
    registrations.flatMap((r) =>
      r.kind === 'storageQueue'
        ? [
            {
              name: r.name,
              queueName: r.options.queueName,
              run: (m: { id: string; body: unknown; dequeueCount: number }) =>
                invoke(r, m.body, deps, { id: m.id, dequeueCount: m.dequeueCount }),
            },
          ]
        : [],
    ),
    queues,
    log,
    { maxPollIntervalInMs: options.maxQueuePollIntervalInMs ?? 2000 },
  );
  const previousOnSend = queues.onSend;
  queues.onSend = (queueName) => {
    previousOnSend?.(queueName);
    queueTriggers.wake(queueName);
  };

  const eventGridWebhook = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const name = url.searchParams.get('functionName') ?? '';
    const registration = byName.get(name.toLowerCase());
    if (registration?.kind !== 'eventGrid')
      return send(res, 404, { error: `no Event Grid function named "${name}"` });
    if (req.method === 'OPTIONS') {
      const origin = req.headers['webhook-request-origin'];
      return send(res, 200, '', typeof origin === 'string' ? { 'webhook-allowed-origin': origin } : {});
    }
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' }, { allow: 'POST, OPTIONS' });
    const body = await readBody(req, maxDeliveryBytes);
    const delivery = readWebhookDelivery(req.headers, body.toString('utf8'));
    switch (delivery.kind) {
      case 'badRequest':
        return send(res, 400, { error: delivery.reason });
      case 'tooLarge':
        log.warn('event grid delivery refused: too large', {
          functionName: registration.name,
          reason: delivery.reason,
        });
        return send(res, 413, { error: delivery.reason });
      case 'unsubscribe':
        return send(res, 202, '');
      case 'validation': {
        if (!isExpectedTopic(delivery.topic, watchedSubscriptions())) {
          log.warn('event grid subscription validation refused: not a watched subscription', {
            functionName: registration.name,
            topic: delivery.topic,
          });
          return send(res, 403, { error: 'the topic is not a subscription this app watches' });
        }
        log.info('event grid subscription validated', { functionName: registration.name });
        return send(res, 200, { validationResponse: delivery.validationCode });
      }
      case 'notification': {
        const result = await deliver(delivery.events, (event) => invoke(registration, event, deps));
        for (const failure of result.failures)
          log.warn('event grid invocation failed', {
            functionName: registration.name,
            eventId: failure.eventId,
            error: failure.error,
          });
        const fields = {
          functionName: registration.name,
          events: delivery.events.length,
          failed: result.failed,
        };
        if (result.status === 200) log.debug('event grid delivery processed', fields);
        else log.warn('event grid delivery failed; the sender should redeliver', fields);
        return send(res, result.status, '');
      }
    }
  };

  const adminInvoke = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    name: string,
  ): Promise<void> => {
    const registration = byName.get(name.toLowerCase());
    if (!hasFunctionKey(url, req.headers, functionKey))
      return send(res, 401, { error: 'function key required' });
    if (!registration || registration.kind === 'http' || req.method !== 'POST')
      return send(res, 404, { error: `no non-HTTP function named "${name}"` });
    const text = (await readBody(req)).toString('utf8');
    let input: unknown;
    try {
      input = text === '' ? undefined : (JSON.parse(text) as { input?: unknown }).input;
    } catch {
      return send(res, 400, { error: 'the body must be JSON: { "input": ... }' });
    }
    if (registration.kind === 'timer') {
      if (timers) await timers.runNow(registration.name);
      else await invoke(registration, { isPastDue: false, schedule: { adjustForDST: false } }, deps);
    } else if (registration.kind === 'storageQueue') {
      await queues.send(registration.options.queueName, input ?? '');
    } else {
      await invoke(registration, input, deps);
    }
    return send(res, 202, '');
  };

  const httpFunction = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    pathname: string,
  ): Promise<void> => {
    let methodMismatch = false;
    for (const route of routes) {
      const params = matchRoute(route, pathname);
      if (!params) continue;
      if (!route.methods.includes(req.method ?? 'GET')) {
        methodMismatch = true;
        continue;
      }
      if (!authorized(route, url, req.headers, functionKey)) return send(res, 401, '');
      const registration = byName.get(route.name.toLowerCase());
      if (!registration) break;
      const request = toHttpRequest(req, url, await readBody(req), params);
      const result = await invoke(registration, request, deps);
      if (hasStreamBody(result)) return sendStreamed(res, result);
      const wire = await fromHandlerResult(result);
      return send(res, wire.status, wire.body, wire.headers);
    }
    return send(res, methodMismatch ? 405 : 404, '');
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${bindHost}`);
    const path = url.pathname;
    const handle = async (): Promise<void> => {
      if (!isLoopbackHost(req.headers.host, bindHost)) {
        log.warn('local host request refused: Host is not a loopback name', {
          method: req.method,
          path,
          host: req.headers.host,
        });
        return send(res, 421, { error: 'the Host header must be localhost, 127.0.0.1 or [::1]' });
      }
      if (path.toLowerCase() === '/runtime/webhooks/eventgrid') return eventGridWebhook(req, res, url);
      const admin = /^\/admin\/functions\/([^/]+)$/i.exec(path);
      if (admin) return adminInvoke(req, res, url, decodeURIComponent(admin[1] ?? ''));
      if (path === `/${routePrefix}` || path.startsWith(`/${routePrefix}/`))
        return httpFunction(req, res, url, path.slice(routePrefix.length + 1));
      if ((path === '/' || path === '/index.html') && (req.method === 'GET' || req.method === 'HEAD')) {
        const page = await dashboardResponse();
        return send(res, 200, page.body, page.headers);
      }
      return send(res, 404, '');
    };
    handle().catch((error: unknown) => {
      if (error instanceof HttpError) {
        log.warn('local host request refused', {
          method: req.method,
          path,
          status: error.status,
          reason: error.message,
        });
        if (!res.headersSent) send(res, error.status, { error: error.message });
        return;
      }
      const status = 500;
      log.error('local host request failed', {
        method: req.method,
        path,
        error: error instanceof Error ? error.message : String(error),
      });
      if (!res.headersSent) send(res, status, '');
      else res.destroy();
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 7071, bindHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await timers?.stop();
    await queueTriggers.stop();
    queues.onSend = previousOnSend;
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${bindHost}:${port}`;

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    functionKey,
    registrations,
    routes,
    timers,
    describe() {
      return registrations.map((r) => {
        switch (r.kind) {
          case 'eventGrid':
            return `${r.name}: Event Grid trigger  POST ${url}/runtime/webhooks/eventgrid?functionName=${r.name}`;
          case 'http': {
            const route = routes.find((x) => x.name === r.name);
            return `${r.name}: HTTP ${route?.methods.join(',') ?? ''}  ${url}/${routePrefix}/${route?.template ?? r.name} (${route?.authLevel ?? 'anonymous'})`;
          }
          case 'timer': {
            const t = timers?.timers.find((x) => x.name === r.name);
            return `${r.name}: timer "${t?.schedule.expression ?? r.options.schedule}"${t?.nextAt === undefined ? '' : `, next ${new Date(t.nextAt).toISOString()}`}`;
          }
          case 'storageQueue':
            return `${r.name}: queue trigger on "${r.options.queueName}" (${queues.description})`;
        }
      });
    },
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await timers?.stop();
        await queueTriggers.stop();
        queues.onSend = previousOnSend;
      })();
      return stopping;
    },
  };
}
