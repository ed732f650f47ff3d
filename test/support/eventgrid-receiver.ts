/**
 * A loopback receiver of the Event Grid publish protocol for CloudEvents (what a custom topic's
 * `/api/events` endpoint accepts): `POST` with `content-type: application/cloudevents-batch+json;
 * charset=utf-8` and a JSON array body, answered 200. It can be told to fail the next N requests.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCloudEvent {
  id: string;
  type: string;
  source: string;
  subject?: string;
  time?: string;
  specversion: string;
  datacontenttype?: string;
  data?: Record<string, unknown>;
}

export interface EventGridReceiver {
  /** Topic endpoint, e.g. `http://127.0.0.1:1234/api/events`. */
  url: string;
  /** Events accepted (answered 200), in arrival order. */
  readonly events: ReceivedCloudEvent[];
  /** Requests seen, accepted or not. */
  readonly requests: number;
  /** Requests refused because they broke the protocol (method, content type, body). */
  readonly rejected: string[];
  /** Answers the next `count` requests with `status` (default 503) and keeps nothing from them. */
  failNext(count: number, status?: number): void;
  reset(): void;
  close(): Promise<void>;
}

const expectedContentType = 'application/cloudevents-batch+json; charset=utf-8';

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startEventGridReceiver(): Promise<EventGridReceiver> {
  const events: ReceivedCloudEvent[] = [];
  const rejected: string[] = [];
  let requests = 0;
  let failures = 0;
  let failureStatus = 503;
  const server: Server = createServer((request, response) => {
    void (async () => {
      requests++;
      const body = await bodyOf(request);
      const answer = (status: number, text = '') => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(text);
      };
      if (failures > 0) {
        failures--;
        answer(failureStatus, JSON.stringify({ error: { code: 'ServiceUnavailable', message: 'failing' } }));
        return;
      }
      const contentType = (request.headers['content-type'] ?? '').toLowerCase();
      if (request.method !== 'POST' || contentType !== expectedContentType) {
        rejected.push(`${request.method ?? ''} ${contentType}`);
        answer(400);
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const valid =
        Array.isArray(parsed) &&
        parsed.every((e: unknown) => {
          const ce = e as Partial<ReceivedCloudEvent> | null;
          return (
            typeof ce?.id === 'string' &&
            typeof ce.type === 'string' &&
            typeof ce.source === 'string' &&
            ce.specversion === '1.0'
          );
        });
      if (!valid) {
        rejected.push('invalid body');
        answer(400);
        return;
      }
      events.push(...(parsed as ReceivedCloudEvent[]));
      answer(200);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/events`,
    events,
    get requests() {
      return requests;
    },
    rejected,
    failNext(count, status = 503) {
      failures = count;
      failureStatus = status;
    },
    reset() {
      events.length = 0;
      rejected.length = 0;
      requests = 0;
      failures = 0;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
