/**
 * Counts the HTTP requests sent to one Table endpoint by kind (point read, query, transaction,
 * conditional update, upsert...) and by status, from Node's `http.client.*` diagnostics channels, so a
 * benchmark can say where the requests of an operation go without touching the adapters.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

export type TrafficCounts = Record<string, number>;

export interface TableTraffic {
  /** Requests by kind, and `kind status` for answers other than 2xx. */
  snapshot(): TrafficCounts;
  /** Milliseconds from request start to response end, summed by kind. */
  latency(): TrafficCounts;
  close(): void;
}

/** The Table operation a request is, from its method, path and `If-Match` header. */
export function tableRequestKind(method: string, path: string, ifMatch: string | undefined): string {
  const pathname = path.split('?')[0] ?? '';
  const last = decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1));
  const onEntity = /\(PartitionKey=.*RowKey=.*\)$/.test(last);
  switch (method) {
    case 'POST':
      if (last === '$batch') return 'transaction';
      if (last === 'Tables') return 'createTable';
      return 'createEntity';
    case 'GET':
      return onEntity ? 'getEntity' : 'query';
    case 'PUT':
    case 'MERGE':
    case 'PATCH': {
      const mode = method === 'PUT' ? 'Replace' : 'Merge';
      if (ifMatch === undefined) return `upsert${mode}`;
      return ifMatch === '*' ? `update${mode}(*)` : `update${mode}(etag)`;
    }
    case 'DELETE':
      return last.startsWith("Tables('") ? 'deleteTable' : 'deleteEntity';
    default:
      return method;
  }
}

/** Starts counting requests to `endpoint` (e.g. `http://127.0.0.1:10002/devstoreaccount1`). */
export function watchTableTraffic(endpoint: string): TableTraffic {
  const url = new URL(endpoint);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const counts = new Map<string, number>();
  const kinds = new WeakMap<ClientRequest, { kind: string; startedAt: number }>();
  const latency = new Map<string, number>();
  const add = (key: string): void => {
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  // ClientRequest sets the Host header (`host:port`) when it is made, before the start message.
  const hostHeader = `${url.hostname}:${port}`.toLowerCase();
  const matches = (request: ClientRequest): boolean =>
    String(request.getHeader('host') ?? '').toLowerCase() === hostHeader;
  const onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    if (!matches(request)) return;
    const ifMatch = request.getHeader('if-match');
    const kind = tableRequestKind(
      request.method,
      request.path,
      typeof ifMatch === 'string' ? ifMatch : undefined,
    );
    kinds.set(request, { kind, startedAt: performance.now() });
    add(kind);
  };
  const onFinish = (message: unknown): void => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    const started = kinds.get(request);
    if (started === undefined) return;
    const code = response.statusCode ?? 0;
    if (code < 200 || code >= 300) add(`${started.kind} ${code}`);
    latency.set(started.kind, (latency.get(started.kind) ?? 0) + performance.now() - started.startedAt);
  };
  diagnosticsChannel.subscribe('http.client.request.start', onStart);
  diagnosticsChannel.subscribe('http.client.response.finish', onFinish);
  return {
    snapshot: () => Object.fromEntries([...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
    latency: () => Object.fromEntries([...latency.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
    close() {
      diagnosticsChannel.unsubscribe('http.client.request.start', onStart);
      diagnosticsChannel.unsubscribe('http.client.response.finish', onFinish);
    },
  };
}

/** `after - before`, per key, without zeros. */
export function trafficDelta(after: TrafficCounts, before: TrafficCounts): TrafficCounts {
  const delta: TrafficCounts = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d !== 0) delta[key] = d;
  }
  return delta;
}
