/**
 * Storage queues for the local host: what a timer's queue output writes, the queue trigger reads.
 *
 * - `StorageLocalQueues` (the default) uses the real queue service through `@azure/storage-queue`: the
 *   embedded Azurite, or any storage account given by connection string. Messages survive a restart, are
 *   visible to Storage Explorer, and behave as in Azure: base64-encoded JSON (the Functions default
 *   `messageEncoding`), a visibility timeout while a message is processed, up to 5 dequeues, then the
 *   `<queue>-poison` queue.
 * - `MemoryLocalQueues` keeps messages in this process, for storage given as an endpoint URL (Entra ID),
 *   where the queue endpoint and credential of the Functions host's binding are not at hand.
 */
import { randomUUID } from 'node:crypto';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';

export interface ReceivedMessage {
  id: string;
  /** Decoded body: the JSON value when the text is JSON, else the text. */
  body: unknown;
  dequeueCount: number;
}

export interface LocalQueues {
  /** Describes where messages live (logs). */
  readonly description: string;
  send(queueName: string, message: unknown): Promise<void>;
  /** Up to `max` visible messages, hidden for `visibilityTimeoutInSeconds` while processed. */
  receive(queueName: string, max: number, visibilityTimeoutInSeconds: number): Promise<ReceivedMessage[]>;
  /** Deletes a processed message. */
  complete(queueName: string, message: ReceivedMessage): Promise<void>;
  /** Makes a failed message visible again after `delayInSeconds`. */
  abandon(queueName: string, message: ReceivedMessage, delayInSeconds: number): Promise<void>;
  /** Moves a message that failed too often to `<queue>-poison`. */
  poison(queueName: string, message: ReceivedMessage): Promise<void>;
  /** Removes every message (sandbox reset). */
  clear(queueName: string): Promise<void>;
  /** Called after each `send` in this process (the trigger polls at once instead of waiting). */
  onSend?: ((queueName: string) => void) | undefined;
}

/** Maximum dequeues before a message goes to the poison queue (Functions default `maxDequeueCount`). */
export const maxDequeueCount = 5;

export function encodeMessage(message: unknown): string {
  const text = typeof message === 'string' ? message : JSON.stringify(message);
  return Buffer.from(text, 'utf8').toString('base64');
}

export function decodeMessage(text: string): unknown {
  let decoded = text;
  if (/^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0) {
    const utf8 = Buffer.from(text, 'base64').toString('utf8');
    if (Buffer.from(utf8, 'utf8').toString('base64') === text) decoded = utf8;
  }
  try {
    return JSON.parse(decoded) as unknown;
  } catch {
    return decoded;
  }
}

/** True for a storage connection string (incl. `UseDevelopmentStorage=true`), false for an endpoint URL. */
export function isConnectionString(storage: string): boolean {
  return /^UseDevelopmentStorage=true/i.test(storage) || /(^|;)\s*AccountName=/i.test(storage);
}

interface StorageHandle {
  messageId: string;
  popReceipt: string;
}

export class StorageLocalQueues implements LocalQueues {
  readonly description: string;
  onSend?: ((queueName: string) => void) | undefined;
  private readonly service: QueueServiceClient;
  private readonly created = new Map<string, Promise<QueueClient>>();
  private readonly handles = new WeakMap<ReceivedMessage, StorageHandle>();

  constructor(connectionString: string) {
    this.service = QueueServiceClient.fromConnectionString(connectionString);
    // Origin and path only: with a SAS connection string the client's URL carries the token (`sig=`).
    const url = new URL(this.service.url);
    this.description = `storage queues at ${url.origin}${url.pathname}`;
  }

  private queue(name: string): Promise<QueueClient> {
    let client = this.created.get(name);
    if (!client) {
      const queue = this.service.getQueueClient(name);
      client = queue.createIfNotExists().then(() => queue);
      client.catch(() => this.created.delete(name));
      this.created.set(name, client);
    }
    return client;
  }

  async send(queueName: string, message: unknown): Promise<void> {
    await (await this.queue(queueName)).sendMessage(encodeMessage(message));
    this.onSend?.(queueName);
  }

  async receive(
    queueName: string,
    max: number,
    visibilityTimeoutInSeconds: number,
  ): Promise<ReceivedMessage[]> {
    const queue = await this.queue(queueName);
    const response = await queue.receiveMessages({
      numberOfMessages: max,
      visibilityTimeout: visibilityTimeoutInSeconds,
    });
    return response.receivedMessageItems.map((item) => {
      const message: ReceivedMessage = {
        id: item.messageId,
        body: decodeMessage(item.messageText),
        dequeueCount: item.dequeueCount,
      };
      this.handles.set(message, { messageId: item.messageId, popReceipt: item.popReceipt });
      return message;
    });
  }

  private handle(message: ReceivedMessage): StorageHandle {
    const handle = this.handles.get(message);
    if (!handle) throw new Error('message was not received from this queue');
    return handle;
  }

  async complete(queueName: string, message: ReceivedMessage): Promise<void> {
    const { messageId, popReceipt } = this.handle(message);
    await (await this.queue(queueName)).deleteMessage(messageId, popReceipt);
  }

  async abandon(queueName: string, message: ReceivedMessage, delayInSeconds: number): Promise<void> {
    const { messageId, popReceipt } = this.handle(message);
    await (await this.queue(queueName)).updateMessage(messageId, popReceipt, undefined, delayInSeconds);
  }

  async poison(queueName: string, message: ReceivedMessage): Promise<void> {
    await (await this.queue(`${queueName}-poison`)).sendMessage(encodeMessage(message.body));
    await this.complete(queueName, message);
  }

  async clear(queueName: string): Promise<void> {
    await (await this.queue(queueName)).clearMessages();
  }
}

interface MemoryMessage extends ReceivedMessage {
  visibleAt: number;
}

export class MemoryLocalQueues implements LocalQueues {
  readonly description = 'in-process queues (messages are lost when the host stops)';
  onSend?: ((queueName: string) => void) | undefined;
  private readonly queues = new Map<string, MemoryMessage[]>();

  private queue(name: string): MemoryMessage[] {
    let queue = this.queues.get(name);
    if (!queue) this.queues.set(name, (queue = []));
    return queue;
  }

  send(queueName: string, message: unknown): Promise<void> {
    this.queue(queueName).push({
      id: randomUUID(),
      body: decodeMessage(encodeMessage(message)),
      dequeueCount: 0,
      visibleAt: 0,
    });
    this.onSend?.(queueName);
    return Promise.resolve();
  }

  receive(queueName: string, max: number, visibilityTimeoutInSeconds: number): Promise<ReceivedMessage[]> {
    const now = Date.now();
    const taken = this.queue(queueName)
      .filter((m) => m.visibleAt <= now)
      .slice(0, max);
    for (const m of taken) {
      m.dequeueCount += 1;
      m.visibleAt = now + visibilityTimeoutInSeconds * 1000;
    }
    return Promise.resolve(taken);
  }

  complete(queueName: string, message: ReceivedMessage): Promise<void> {
    const queue = this.queue(queueName);
    const index = queue.findIndex((m) => m.id === message.id);
    if (index >= 0) queue.splice(index, 1);
    return Promise.resolve();
  }

  abandon(_queueName: string, message: ReceivedMessage, delayInSeconds: number): Promise<void> {
    (message as MemoryMessage).visibleAt = Date.now() + delayInSeconds * 1000;
    return Promise.resolve();
  }

  async poison(queueName: string, message: ReceivedMessage): Promise<void> {
    await this.send(`${queueName}-poison`, message.body);
    await this.complete(queueName, message);
  }

  clear(queueName: string): Promise<void> {
    this.queues.delete(queueName);
    return Promise.resolve();
  }
}
