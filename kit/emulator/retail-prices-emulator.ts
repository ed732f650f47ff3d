/**
 * A loopback emulator of the Azure Retail Prices API's documented response shape: `GET /api/retail/prices`
 * with `$filter` (`serviceName eq '…' and armRegionName eq '…' and priceType eq '…'`), `currencyCode` and
 * `$skip`; answers `{ BillingCurrency, CustomerEntityId, CustomerEntityType, Items, NextPageLink, Count }`
 * in pages of `pageSize` items (100 like the service), `NextPageLink` null on the last page. `throttleNext`
 * answers the next requests 429 (or 503) with `Retry-After`, as a throttled service does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RetailPriceItem } from '../../src/adapters/retail-prices';
import { send } from '../send';

export interface RetailPricesAnswer {
  /** Path and query of the request. */
  url: string;
  status: number;
  /** When the request arrived (epoch ms). */
  at: number;
}

export interface ThrottleOptions {
  /** 429 (default) or 503. */
  status?: 429 | 503;
  retryAfterInSeconds?: number;
}

export interface RetailPricesEmulator {
  readonly url: string;
  readonly requests: string[];
  /** Every request with its answer's status, in order. */
  readonly answers: RetailPricesAnswer[];
  items: RetailPriceItem[];
  /** Answers the next `count` requests 429 (or 503) with `Retry-After` (default 1 s). */
  throttleNext(count: number, options?: ThrottleOptions): void;
  stop(): Promise<void>;
}

function clauses(filter: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const match of filter.matchAll(/(\w+)\s+eq\s+'((?:[^']|'')*)'/g))
    if (match[1] !== undefined && match[2] !== undefined) found[match[1]] = match[2].replace(/''/g, "'");
  return found;
}

export async function startRetailPricesEmulator(
  items: RetailPriceItem[],
  options: { pageSize?: number } = {},
): Promise<RetailPricesEmulator> {
  const pageSize = options.pageSize ?? 100;
  const throttles: Array<Required<ThrottleOptions>> = [];
  const emulator: RetailPricesEmulator = {
    url: '',
    requests: [],
    answers: [],
    items,
    throttleNext(count, o = {}) {
      for (let i = 0; i < count; i++)
        throttles.push({ status: o.status ?? 429, retryAfterInSeconds: o.retryAfterInSeconds ?? 1 });
    },
    stop: () => Promise.resolve(),
  };
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const answer = { url: url.pathname + url.search, status: 200, at: Date.now() };
    emulator.requests.push(answer.url);
    emulator.answers.push(answer);
    if (url.pathname !== '/api/retail/prices') {
      answer.status = 404;
      send(response, 404, { Error: 'not found' });
      return;
    }
    const throttle = throttles.shift();
    if (throttle !== undefined) {
      answer.status = throttle.status;
      send(
        response,
        throttle.status,
        { Error: 'too many requests' },
        { 'retry-after': String(throttle.retryAfterInSeconds) },
      );
      return;
    }
    const where = clauses(url.searchParams.get('$filter') ?? '');
    const currency = url.searchParams.get('currencyCode') ?? 'USD';
    const skip = Number(url.searchParams.get('$skip') ?? '0');
    const matching = emulator.items
      .filter(
        (i) =>
          (where['serviceName'] === undefined || i.serviceName === where['serviceName']) &&
          (where['armRegionName'] === undefined || i.armRegionName === where['armRegionName']) &&
          (where['priceType'] === undefined || i.type === where['priceType']),
      )
      .map((i) => ({ ...i, currencyCode: currency }));
    const page = matching.slice(skip, skip + pageSize);
    let next: string | null = null;
    if (skip + pageSize < matching.length) {
      const nextUrl = new URL(url.toString());
      nextUrl.host = request.headers.host ?? nextUrl.host;
      nextUrl.searchParams.set('$skip', String(skip + pageSize));
      next = nextUrl.toString();
    }
    send(response, 200, {
      BillingCurrency: currency,
      CustomerEntityId: 'Default',
      CustomerEntityType: 'Retail',
      Items: page,
      NextPageLink: next,
      Count: page.length,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(emulator, {
    url: `http://127.0.0.1:${port}/api/retail/prices`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
