/**
 * One invocation of a registered handler, as the Functions host makes it: a fresh `InvocationContext`
 * (name, id, trigger and output options, logs to the local logger), then the context's queue outputs
 * written to their queues.
 */
import { randomUUID } from 'node:crypto';
import { InvocationContext, type LogLevel } from '@azure/functions';
import type { Logger } from '../../src/app/ports';
import type { ExecutionObserver } from './console';
import type { LocalQueues } from './queues';
import { queueOutputsOf, type Registration } from './registrations';

export interface InvokeDependencies {
  log: Logger;
  queues: LocalQueues;
  /** Told of each execution (the console's one line per execution); else the lines go to `log`. */
  executions?: ExecutionObserver | undefined;
}

function contextLog(log: Logger, functionName: string, invocationId: string) {
  return (level: LogLevel, ...args: unknown[]): void => {
    const [message, properties] = args;
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    const extra =
      properties !== null && typeof properties === 'object' ? (properties as Record<string, unknown>) : {};
    const fields = { functionName, invocationId, ...extra };
    if (level === 'error' || level === 'critical') log.error(text, fields);
    else if (level === 'warning') log.warn(text, fields);
    else if (level === 'information') log.info(text, fields);
    else log.debug(text, fields);
  };
}

/** Calls the registration's handler with `trigger` and writes its queue outputs; errors propagate. */
export async function invoke(
  registration: Registration,
  trigger: unknown,
  deps: InvokeDependencies,
  triggerMetadata: Record<string, unknown> = {},
): Promise<unknown> {
  const invocationId = randomUUID();
  const execution = deps.executions?.begin(registration.name, registration.kind);
  const context = new InvocationContext({
    functionName: registration.name,
    invocationId,
    logHandler: contextLog(execution?.log ?? deps.log, registration.name, invocationId),
    triggerMetadata,
    options: { extraOutputs: registration.options.extraOutputs ?? [] },
  });
  const handler = registration.options.handler as (trigger: unknown, context: InvocationContext) => unknown;
  try {
    const result = await handler(trigger, context);
    for (const output of queueOutputsOf(registration)) {
      const value = context.extraOutputs.get(output);
      if (value === undefined) continue;
      // An array output writes one message per element, as the Functions host does.
      for (const message of Array.isArray(value) ? (value as unknown[]) : [value]) {
        await deps.queues.send(output.queueName, message);
      }
    }
    execution?.end();
    return result;
  } catch (error) {
    execution?.end(error);
    throw error;
  }
}
