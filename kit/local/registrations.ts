/**
 * Captures the Functions app's own registrations (`app.eventGrid`, `app.timer`, `app.storageQueue`,
 * `app.http` …) so the local host serves exactly what the Functions host would, with the same handlers and
 * options. Outside the Functions host `@azure/functions` runs in test mode and skips registrations; while a
 * capture runs, its `app` methods record `{ kind, name, options }` instead.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import * as functions from '@azure/functions';
import type {
  EventGridFunctionOptions,
  FunctionOutput,
  HttpFunctionOptions,
  StorageQueueFunctionOptions,
  TimerFunctionOptions,
} from '@azure/functions';

export type Registration =
  | { kind: 'eventGrid'; name: string; options: EventGridFunctionOptions }
  | { kind: 'timer'; name: string; options: TimerFunctionOptions }
  | { kind: 'storageQueue'; name: string; options: StorageQueueFunctionOptions }
  | { kind: 'http'; name: string; options: HttpFunctionOptions };

/** A trigger the local host cannot serve (e.g. a Service Bus trigger): reported, never silently dropped. */
export interface UnsupportedRegistration {
  name: string;
  method: string;
}

export interface CapturedRegistrations {
  registrations: Registration[];
  unsupported: UnsupportedRegistration[];
}

type AppMethods = Record<string, unknown>;

const httpShortcuts = {
  get: 'GET',
  put: 'PUT',
  post: 'POST',
  patch: 'PATCH',
  deleteRequest: 'DELETE',
} as const;
const served = ['http', 'timer', 'storageQueue', 'eventGrid'] as const;
const unsupportedMethods = [
  'storageBlob',
  'serviceBusQueue',
  'serviceBusTopic',
  'eventHub',
  'cosmosDB',
  'warmup',
  'sql',
  'mySql',
  'webPubSub',
  'connectorTrigger',
  'generic',
] as const;

/**
 * Runs `load` (which imports the function modules) with the `app` methods replaced by recorders, then
 * puts the originals back. Only one capture may run at a time.
 */
export async function captureRegistrations(load: () => unknown): Promise<CapturedRegistrations> {
  const app = functions.app as unknown as AppMethods;
  const originals = new Map<string, unknown>();
  const registrations: Registration[] = [];
  const unsupported: UnsupportedRegistration[] = [];
  const replace = (method: string, recorder: (name: string, options: unknown) => void): void => {
    originals.set(method, app[method]);
    app[method] = recorder;
  };
  for (const kind of served) {
    replace(kind, (name, options) => {
      registrations.push({ kind, name, options } as Registration);
    });
  }
  for (const [method, httpMethod] of Object.entries(httpShortcuts)) {
    replace(method, (name, optionsOrHandler) => {
      const options = (
        typeof optionsOrHandler === 'function' ? { handler: optionsOrHandler } : optionsOrHandler
      ) as HttpFunctionOptions;
      registrations.push({ kind: 'http', name, options: { ...options, methods: [httpMethod] } });
    });
  }
  for (const method of unsupportedMethods) replace(method, (name) => unsupported.push({ name, method }));
  try {
    await load();
  } finally {
    for (const [method, original] of originals) app[method] = original;
  }
  return { registrations, unsupported };
}

/** The compiled function modules next to this one: `dist/functions/*.js` (from `dist/kit/local/`). */
export function functionModulePaths(directory = path.resolve(__dirname, '..', '..', 'functions')): string[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith('.js'))
    .sort()
    .map((file) => path.join(directory, file));
}

/** Captures the registrations of the compiled function modules (the local host's normal path). */
export function captureCompiledFunctions(paths = functionModulePaths()): Promise<CapturedRegistrations> {
  return captureRegistrations(() => {
    // The function modules register themselves when loaded: a CommonJS require is the loading.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    for (const file of paths) require(file);
  });
}

/** Output bindings of a registration that the local host writes (storage queues). */
export function queueOutputsOf(registration: Registration): (FunctionOutput & { queueName: string })[] {
  const outputs = registration.options.extraOutputs ?? [];
  return outputs.filter(
    (o): o is FunctionOutput & { queueName: string } =>
      o.type === 'queue' && typeof o['queueName'] === 'string',
  );
}
