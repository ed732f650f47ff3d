/**
 * The local host's guards that need no server: bounded work per Event Grid delivery, the Host rule, the
 * validation handshake's topic, and the function key compared in constant time.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { ingestConcurrency } from '../../src/cli/ingest';
import {
  deliver,
  isExpectedTopic,
  maxEventsPerDelivery,
  readWebhookDelivery,
} from '../../kit/local/eventgrid-webhook';
import { authorized, httpRoute, isLoopbackHost } from '../../kit/local/http-routes';

describe('Event Grid deliveries to the local webhook', () => {
  it('runs the invocations of a delivery a few at a time, as the CLI does, not all at once', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const result = await deliver(
      Array.from({ length: 200 }, (_, i) => ({ id: `e${i}` })),
      async () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight -= 1;
      },
    );
    expect(result).toMatchObject({ status: 200, succeeded: 200, failed: 0 });
    expect(maxInFlight).toBe(ingestConcurrency);
  });

  it('names each failed invocation by its event id and reason, and answers 500', async () => {
    const result = await deliver([{ id: 'ok' }, { id: 'bad' }, 42], (event) =>
      (event as { id?: string }).id === 'ok'
        ? Promise.resolve()
        : Promise.reject(new Error('storage unavailable')),
    );
    expect(result.status).toBe(500);
    expect(result.succeeded).toBe(1);
    expect(result.failures).toEqual([
      { eventId: 'bad', error: 'storage unavailable' },
      { eventId: undefined, error: 'storage unavailable' },
    ]);
  });

  it('refuses more events than Event Grid puts in one delivery (5,000) as too large', () => {
    const events = (n: number) => JSON.stringify(Array.from({ length: n }, () => 0));
    const headers = { 'aeg-event-type': 'Notification' };
    expect(maxEventsPerDelivery).toBe(5000);
    expect(readWebhookDelivery(headers, events(5000)).kind).toBe('notification');
    expect(readWebhookDelivery(headers, events(5001))).toEqual({
      kind: 'tooLarge',
      reason: 'more than 5000 events in one delivery',
    });
  });
});

describe('the validation handshake', () => {
  const watched = ['00000000-0000-0000-0000-0000000000AA'];
  it('is answered for the system topic of a watched subscription only', () => {
    expect(isExpectedTopic('/subscriptions/00000000-0000-0000-0000-0000000000aa', watched)).toBe(true);
    expect(
      isExpectedTopic(
        '/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg/providers/Microsoft.EventGrid/systemTopics/t',
        watched,
      ),
    ).toBe(true);
    expect(isExpectedTopic('/subscriptions/00000000-0000-0000-0000-0000000000bb', watched)).toBe(false);
    expect(isExpectedTopic('/subscriptions/00000000-0000-0000-0000-0000000000aab', watched)).toBe(false);
    expect(isExpectedTopic(undefined, watched)).toBe(false);
    expect(isExpectedTopic('/subscriptions/00000000-0000-0000-0000-0000000000aa', [])).toBe(false);
  });

  it('carries the topic of the validation event', () => {
    expect(
      readWebhookDelivery(
        { 'aeg-event-type': 'SubscriptionValidation' },
        '[{"topic":"/subscriptions/x","data":{"validationCode":"c"}}]',
      ),
    ).toEqual({ kind: 'validation', validationCode: 'c', topic: '/subscriptions/x' });
  });
});

describe('the Host rule of the local host', () => {
  it('accepts loopback names and the bind address on any port, nothing else', () => {
    for (const host of ['localhost', 'LOCALHOST:7071', '127.0.0.1:7071', '[::1]:7071', '[::1]'])
      expect(isLoopbackHost(host, '127.0.0.1'), host).toBe(true);
    expect(isLoopbackHost('devbox:7071', 'devbox')).toBe(true);
    for (const host of [
      undefined,
      '',
      'evil.example:7071',
      'localhost.evil.example',
      '127.0.0.1.nip.io:7071',
      '[::2]:7071',
      'localhost:7071:1',
    ])
      expect(isLoopbackHost(host, '127.0.0.1'), String(host)).toBe(false);
  });
});

describe('the function key check', () => {
  /** A flat (not rope) string of `bytes` base64 characters, with `at` changed when given. */
  const flatKey = (base: Buffer, at?: number): string => {
    const copy = Buffer.from(base);
    if (at !== undefined) copy[at] = copy[at] === 0x41 ? 0x42 : 0x41;
    return copy.toString('latin1');
  };

  it('takes as long for a key wrong in its first character as for one wrong in its last', () => {
    // A long key makes a naive comparison's early exit measurable: it stops at the first differing
    // character, so a key wrong at the start is rejected far faster than one wrong at the end.
    const base = Buffer.from(randomBytes(3 * 1024 * 1024).toString('base64'), 'latin1');
    const key = flatKey(base);
    const route = httpRoute('vms', { authLevel: 'function', handler: () => ({}) });
    const url = new URL('http://127.0.0.1/api/vms');
    const timeOf = (given: string): number => {
      const t = performance.now();
      expect(authorized(route, url, { 'x-functions-key': given }, key)).toBe(false);
      return performance.now() - t;
    };
    const early: number[] = [];
    const late: number[] = [];
    for (let i = 0; i < 9; i++) {
      early.push(timeOf(flatKey(base, 0)));
      late.push(timeOf(flatKey(base, base.length - 1)));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const ratio = median(late) / Math.max(median(early), 1e-6);
    expect(ratio).toBeGreaterThan(1 / 3);
    expect(ratio).toBeLessThan(3);
    expect(authorized(route, url, { 'x-functions-key': key }, key)).toBe(true);
    expect(authorized(route, new URL(`http://127.0.0.1/api/vms?code=${key.slice(0, 10)}`), {}, key)).toBe(
      false,
    );
  });
});
