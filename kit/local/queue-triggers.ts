/**
 * Storage-queue triggers: poll the registration's queue (at once after a local send, else with a back-off
 * up to `maxPollIntervalInMs`), run up to `batchSize` messages in parallel, delete a message on success,
 * make it visible again on failure, and move it to `<queue>-poison` after `maxDequeueCount` attempts, as
 * the Functions host does.
 */
import type { Logger } from '../../src/app/ports';
import { maxDequeueCount, type LocalQueues, type ReceivedMessage } from './queues';

export interface QueueTriggerDefinition {
  name: string;
  queueName: string;
  run(message: ReceivedMessage): Promise<unknown>;
}

export interface QueueTriggerRunner {
  /** Wakes the poller of `queueName` (a message was just sent from this process). */
  wake(queueName: string): void;
  stop(): Promise<void>;
}

export interface QueueTriggerOptions {
  batchSize?: number;
  maxPollIntervalInMs?: number;
  visibilityTimeoutInSeconds?: number;
}

export function startQueueTriggers(
  definitions: readonly QueueTriggerDefinition[],
  queues: LocalQueues,
  log: Logger,
  options: QueueTriggerOptions = {},
): QueueTriggerRunner {
  const batchSize = options.batchSize ?? 16;
  const maxPollIntervalInMs = options.maxPollIntervalInMs ?? 2000;
  const visibilityTimeoutInSeconds = options.visibilityTimeoutInSeconds ?? 600;
  let stopped = false;
  const wakers = new Map<string, (() => void)[]>();
  const loops: Promise<void>[] = [];

  const sleep = (queueName: string, ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        const list = wakers.get(queueName) ?? [];
        wakers.set(
          queueName,
          list.filter((w) => w !== done),
        );
        resolve();
      }
      wakers.set(queueName, [...(wakers.get(queueName) ?? []), done]);
    });

  const handle = async (definition: QueueTriggerDefinition, message: ReceivedMessage): Promise<void> => {
    const fields = { functionName: definition.name, queueName: definition.queueName, messageId: message.id };
    try {
      await definition.run(message);
      await queues.complete(definition.queueName, message);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (message.dequeueCount >= maxDequeueCount) {
        log.error('queue message moved to the poison queue', {
          ...fields,
          reason,
          dequeueCount: message.dequeueCount,
        });
        await queues.poison(definition.queueName, message);
      } else {
        log.warn('queue function failed; the message will be retried', {
          ...fields,
          reason,
          dequeueCount: message.dequeueCount,
        });
        await queues.abandon(definition.queueName, message, 0);
      }
    }
  };

  const loop = async (definition: QueueTriggerDefinition): Promise<void> => {
    let idleInMs = 100;
    while (!stopped) {
      let messages: ReceivedMessage[] = [];
      try {
        messages = await queues.receive(definition.queueName, batchSize, visibilityTimeoutInSeconds);
      } catch (error) {
        log.warn('queue poll failed', {
          queueName: definition.queueName,
          reason: error instanceof Error ? error.message : String(error),
        });
      }
      if (messages.length === 0) {
        await sleep(definition.queueName, idleInMs);
        idleInMs = Math.min(idleInMs * 2, maxPollIntervalInMs);
        continue;
      }
      idleInMs = 100;
      await Promise.allSettled(messages.map((m) => handle(definition, m)));
    }
  };

  for (const definition of definitions) loops.push(loop(definition));

  const wake = (queueName: string): void => {
    for (const w of wakers.get(queueName) ?? []) w();
  };
  return {
    wake,
    async stop() {
      stopped = true;
      for (const name of wakers.keys()) wake(name);
      await Promise.allSettled(loops);
    },
  };
}
