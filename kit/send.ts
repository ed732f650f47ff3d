/**
 * The one way the developer kit's servers (the local host, the management, metrics and price emulators, the
 * fault proxy) answer a request: a Buffer or string body as given (the caller names its content type), any
 * other value as JSON (`application/json; charset=utf-8`, `undefined` as an empty body), always with its
 * `content-length`.
 */
import type { ServerResponse } from 'node:http';

export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const raw = Buffer.isBuffer(body) || typeof body === 'string';
  const buffer = Buffer.isBuffer(body)
    ? body
    : Buffer.from(typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body), 'utf8');
  const type: Record<string, string> = raw ? {} : { 'content-type': 'application/json; charset=utf-8' };
  res.writeHead(status, { ...type, ...headers, 'content-length': String(buffer.length) });
  res.end(buffer);
}
