import type {
  EventGridFunctionOptions,
  InvocationContext,
  HttpFunctionOptions,
  StorageQueueFunctionOptions,
  TimerFunctionOptions,
} from '@azure/functions';
import { appContext, type AppContext } from '../src/composition';
import { loadConfig } from '../src/config';

/**
 * One function of the app as data (name, trigger, options with the handler). `functions/index.ts` hands
 * each to `@azure/functions` in Azure; the developer kit's local runner serves the same objects here.
 */
export type FunctionRegistration =
  | { kind: 'eventGrid'; name: string; options: EventGridFunctionOptions }
  | { kind: 'timer'; name: string; options: TimerFunctionOptions }
  | { kind: 'storageQueue'; name: string; options: StorageQueueFunctionOptions }
  | { kind: 'http'; name: string; options: HttpFunctionOptions };

/**
 * Where a handler gets the app's context. In Azure: the app settings of the process, read once
 * (`hostContext`); the local runner passes its own, built from its settings (no `process.env` writes).
 */
export type ContextFactory = () => Promise<AppContext>;

export const hostContext: ContextFactory = () => appContext(loadConfig);

/** How many times the queue has delivered the message being handled (undefined outside a queue trigger). */
export function dequeueCountOf(context: InvocationContext): number | undefined {
  const count = context.triggerMetadata?.['dequeueCount'];
  return typeof count === 'number' ? count : undefined;
}
