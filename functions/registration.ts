import type {
  EventGridFunctionOptions,
  HttpFunctionOptions,
  StorageQueueFunctionOptions,
  TimerFunctionOptions,
} from '@azure/functions';

/**
 * One function of the app as data (name, trigger, options with the handler). `functions/index.ts` hands
 * each to `@azure/functions` in Azure; the developer kit's local runner serves the same objects here.
 */
export type FunctionRegistration =
  | { kind: 'eventGrid'; name: string; options: EventGridFunctionOptions }
  | { kind: 'timer'; name: string; options: TimerFunctionOptions }
  | { kind: 'storageQueue'; name: string; options: StorageQueueFunctionOptions }
  | { kind: 'http'; name: string; options: HttpFunctionOptions };
