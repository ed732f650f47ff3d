/**
 * A loopback HTTP proxy that injects faults in front of a real service (Azurite's Table endpoint, the
 * management emulator): 503s, timeouts, connection resets and slow responses at configurable rates,
 * decided by a seeded PRNG so a failing run can be replayed.
 *
 * - `unavailable`: answers 503 without forwarding (the request never reached the service).
 * - `reset`: destroys the connection, half of the time before forwarding, half after the service
 *   answered (the request took effect, the client never hears of it: the ambiguous case).
 * - `timeout`: forwards, then holds the answer for `timeoutInMs` and destroys the connection.
 * - `slow`: forwards and delivers the answer `slowInMs` late.
 * - `badRequest` (scripted only, `failNext`): answers 400 as Table Storage does for an input it refuses
 *   (`OutOfRangeInput`), without forwarding.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from './emulator/seeded-random';
import { send } from './send';

export interface FaultRates {
  unavailable?: number;
  reset?: number;
  timeout?: number;
  slow?: number;
}

export interface FaultProxyOptions {
  /** Base URL of the service, e.g. `http://127.0.0.1:10002`. */
  target: string;
  rates?: FaultRates;
  seed?: number;
  timeoutInMs?: number;
  slowInMs?: number;
}

export interface FaultCounts {
  requests: number;
  unavailable: number;
  resetBefore: number;
  resetAfter: number;
  timeout: number;
  slow: number;
  badRequest: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: the target's URL with the proxy's origin. */
  readonly url: string;
  readonly port: number;
  readonly counts: FaultCounts;
  /** Changes the rates (e.g. to 0 to let a run finish cleanly). */
  setRates(rates: FaultRates): void;
  /** Injects `fault` into the next request that `match` accepts (whatever the rates), once. */
  failNext(fault: InjectedFault, match: (request: { method: string; url: string }) => boolean): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export type InjectedFault = 'unavailable' | 'resetBefore' | 'resetAfter' | 'timeout' | 'slow' | 'badRequest';
type Fault = 'none' | InjectedFault;

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seededRandom(options.seed ?? 1);
  let rates: FaultRates = { ...options.rates };
  const counts: FaultCounts = {
    requests: 0,
    unavailable: 0,
    resetBefore: 0,
    resetAfter: 0,
    timeout: 0,
    slow: 0,
    badRequest: 0,
  };
  const sockets = new Set<import('node:net').Socket>();
  const scripted: Array<{ fault: InjectedFault; match: (r: { method: string; url: string }) => boolean }> =
    [];

  const pick = (): Fault => {
    let roll = random();
    const half = random() < 0.5;
    for (const [fault, rate] of [
      ['unavailable', rates.unavailable ?? 0],
      [half ? 'resetBefore' : 'resetAfter', rates.reset ?? 0],
      ['timeout', rates.timeout ?? 0],
      ['slow', rates.slow ?? 0],
    ] as const) {
      if (roll < rate) return fault;
      roll -= rate;
    }
    return 'none';
  };

  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const upstream = request(
        {
          hostname: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (res) => {
          readBody(res).then(
            (b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }),
            reject,
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    counts.requests += 1;
    const request = { method: req.method ?? 'GET', url: req.url ?? '/' };
    const index = scripted.findIndex((s) => s.match(request));
    const fault = index >= 0 ? (scripted.splice(index, 1)[0]?.fault ?? 'none') : pick();
    if (fault !== 'none') counts[fault] += 1;
    if (fault === 'unavailable') {
      send(res, 503, { error: { code: 'ServerBusy', message: 'injected 503' } });
      return;
    }
    if (fault === 'badRequest') {
      send(res, 400, {
        'odata.error': {
          code: 'OutOfRangeInput',
          message: { lang: 'en-US', value: 'One of the request inputs is out of range.' },
        },
      });
      return;
    }
    if (fault === 'resetBefore') {
      req.socket.destroy();
      return;
    }
    const answer = await forward(req, body);
    if (fault === 'resetAfter') {
      req.socket.destroy();
      return;
    }
    if (fault === 'timeout') {
      await sleep(options.timeoutInMs ?? 300);
      req.socket.destroy();
      return;
    }
    if (fault === 'slow') await sleep(options.slowInMs ?? 100);
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(502);
        res.end();
      } else req.socket.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counts,
    setRates(next) {
      rates = { ...next };
    },
    failNext(fault, match) {
      scripted.push({ fault, match });
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
