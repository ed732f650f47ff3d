/**
 * HTTP triggers behind the routes the Functions host gives them: `/api/<route>` (the `route` option, else
 * the function name), route parameters `{name}`, `{name?}`, `{name:constraint}` and a last `{*rest}`,
 * the registered methods, and the function key for `authLevel: 'function' | 'admin'` (header
 * `x-functions-key` or query `code`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpRequest, HttpResponse, type HttpFunctionOptions, type HttpResponseInit } from '@azure/functions';
import { header } from './eventgrid-webhook';

export const routePrefix = 'api';

interface Segment {
  literal?: string;
  param?: string;
  optional?: boolean;
  catchAll?: boolean;
}

export interface HttpRoute {
  name: string;
  /** The template as registered, without the `api/` prefix. */
  template: string;
  methods: readonly string[];
  authLevel: 'anonymous' | 'function' | 'admin';
  options: HttpFunctionOptions;
  segments: readonly Segment[];
}

function parseTemplate(template: string): Segment[] {
  return template
    .split('/')
    .filter((s) => s !== '')
    .map((part) => {
      const match = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}$/.exec(part);
      if (!match) return { literal: part.toLowerCase() };
      return { param: match[2], catchAll: match[1] === '*', optional: match[3] === '?' };
    });
}

export function httpRoute(name: string, options: HttpFunctionOptions): HttpRoute {
  const template = (options.route ?? name).replace(/^\/+|\/+$/g, '');
  return {
    name,
    template,
    methods: (options.methods ?? ['GET', 'POST']).map((m) => m.toUpperCase()),
    authLevel: options.authLevel ?? 'anonymous',
    options,
    segments: parseTemplate(template),
  };
}

/** Route parameters when `pathname` (below `/api/`) matches, else undefined. */
export function matchRoute(route: HttpRoute, pathname: string): Record<string, string> | undefined {
  const parts = pathname.split('/').filter((s) => s !== '');
  const params: Record<string, string> = {};
  let i = 0;
  for (const segment of route.segments) {
    if (segment.catchAll && segment.param !== undefined) {
      params[segment.param] = parts.slice(i).map(decodeURIComponent).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) {
      if (segment.optional) continue;
      return undefined;
    }
    if (segment.literal !== undefined) {
      if (decodeURIComponent(part).toLowerCase() !== segment.literal) return undefined;
    } else if (segment.param !== undefined) {
      params[segment.param] = decodeURIComponent(part);
    }
    i += 1;
  }
  return i === parts.length ? params : undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * True when `given` is `key`, in time that does not depend on where they differ (nor on their lengths):
 * both are hashed, and the equal-length digests compared with `timingSafeEqual`.
 */
export function keyMatches(given: string | null | undefined, key: string): boolean {
  if (given === null || given === undefined) return false;
  return timingSafeEqual(digest(given), digest(key));
}

/** True when the request carries the function key in `x-functions-key` or `?code=`. */
export function hasFunctionKey(url: URL, headers: IncomingMessage['headers'], key: string): boolean {
  // Both are checked (no short circuit): the time does not tell which one was wrong.
  const byHeader = keyMatches(header(headers, 'x-functions-key'), key);
  const byQuery = keyMatches(url.searchParams.get('code'), key);
  return byHeader || byQuery;
}

/** True when the request carries the function key (or the route needs none). */
export function authorized(
  route: HttpRoute,
  url: URL,
  headers: IncomingMessage['headers'],
  key: string,
): boolean {
  if (route.authLevel === 'anonymous') return true;
  return hasFunctionKey(url, headers, key);
}

/** Host names a browser uses for this machine; the local host also accepts the address it binds to. */
export const loopbackHostNames = ['localhost', '127.0.0.1', '[::1]'] as const;

/**
 * True when the `Host` header names this machine (`localhost`, `127.0.0.1`, `[::1]` or `bindHost`, any
 * port): a page whose DNS name was rebound to 127.0.0.1 sends its own name, and is refused.
 */
export function isLoopbackHost(host: string | undefined, bindHost: string): boolean {
  if (host === undefined) return false;
  const match = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(host.trim());
  const name = match?.[1]?.toLowerCase();
  if (name === undefined || name === '') return false;
  return (loopbackHostNames as readonly string[]).includes(name) || name === bindHost.toLowerCase();
}

export function toHttpRequest(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  params: Record<string, string>,
): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return new HttpRequest({
    method: req.method ?? 'GET',
    url: url.toString(),
    headers,
    params,
    body: body.length > 0 ? { bytes: body } : undefined,
  });
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * True when a handler answered with a stream body (a `ReadableStream`, a `Readable` or another async
 * iterable, as `app.setup({ enableHttpStream: true })` allows): it is sent as it is read, not buffered.
 */
export function hasStreamBody(result: unknown): result is HttpResponseInit {
  if (result === null || typeof result !== 'object' || result instanceof HttpResponse) return false;
  const { body } = result as HttpResponseInit;
  return body !== null && typeof body === 'object' && Symbol.asyncIterator in body;
}

/**
 * Sends a stream body as the Functions host does with HTTP streams: status and headers first, then each
 * chunk as the handler produces it (chunked transfer encoding, no `content-length`), waiting for the
 * client to take what was written. A client that goes away stops the reading (the stream is cancelled);
 * a stream that fails throws here, after the headers went out (the caller then aborts the connection, so
 * the client sees a truncated transfer).
 */
export async function sendStreamed(res: ServerResponse, result: HttpResponseInit): Promise<void> {
  const response = new HttpResponse(result);
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  const closed = once(res, 'close').catch(() => undefined);
  if (response.body !== null) {
    for await (const chunk of response.body) {
      if (res.destroyed) break;
      if (!res.write(chunk)) await Promise.race([once(res, 'drain'), closed]);
    }
  }
  res.end();
}

/** A handler's result (an `HttpResponse` or an `HttpResponseInit`) as status, headers and bytes. */
export async function fromHandlerResult(result: unknown): Promise<WireResponse> {
  const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body = response.body === null ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers, body };
}
