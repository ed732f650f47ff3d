import { describe, expect, it } from 'vitest';
import { readWebhookDelivery } from '../../kit/local/eventgrid-webhook';
import { httpRoute, matchRoute } from '../../kit/local/http-routes';
import { parseSchedule, resolveSettings, ScheduleError } from '../../kit/local/ncrontab';
import { decodeMessage, encodeMessage } from '../../kit/local/queues';
import { startTimers } from '../../kit/local/timers';
import type { Timer } from '@azure/functions';
import { silentLogger } from '../../src/adapters/logger';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('NCRONTAB schedules of the local timers', () => {
  it('runs a six-field schedule with seconds at its next occurrence', () => {
    expect(iso(parseSchedule('0 */5 * * * *').next(at('2026-11-27T10:02:30Z')))).toBe(
      '2026-11-27T10:05:00.000Z',
    );
    expect(iso(parseSchedule('*/30 * * * * *').next(at('2026-11-27T10:02:30Z')))).toBe(
      '2026-11-27T10:03:00.000Z',
    );
    expect(iso(parseSchedule('0 * * * * *').next(at('2026-11-27T10:02:00Z')))).toBe(
      '2026-11-27T10:03:00.000Z',
    );
  });

  it('understands ranges, lists, steps in ranges, names, and day-of-week 7 as Sunday', () => {
    // 09:30 on weekdays: after Friday 10:00 comes Monday.
    expect(iso(parseSchedule('0 30 9 * * Mon-Fri').next(at('2026-11-27T10:00:00Z')))).toBe(
      '2026-11-30T09:30:00.000Z',
    );
    expect(iso(parseSchedule('0 0 8,20 * * *').next(at('2026-11-27T10:00:00Z')))).toBe(
      '2026-11-27T20:00:00.000Z',
    );
    expect(iso(parseSchedule('0 0 0 1 Jan *').next(at('2026-11-27T10:00:00Z')))).toBe(
      '2027-01-01T00:00:00.000Z',
    );
    expect(iso(parseSchedule('0 0 12 * * 7').next(at('2026-11-27T10:00:00Z')))).toBe(
      '2026-11-29T12:00:00.000Z',
    );
    expect(iso(parseSchedule('0 10-20/5 * * * *').next(at('2026-11-27T10:16:00Z')))).toBe(
      '2026-11-27T10:20:00.000Z',
    );
  });

  it('accepts five fields (second 0) and the hh:mm:ss interval form', () => {
    expect(iso(parseSchedule('*/10 * * * *').next(at('2026-11-27T10:01:00Z')))).toBe(
      '2026-11-27T10:10:00.000Z',
    );
    expect(iso(parseSchedule('00:00:20').next(at('2026-11-27T10:00:05Z')))).toBe('2026-11-27T10:00:20.000Z');
  });

  it('rejects malformed expressions with a message naming the field', () => {
    expect(() => parseSchedule('0 61 * * * *')).toThrow(/minute 61/);
    expect(() => parseSchedule('* * *')).toThrow(ScheduleError);
    expect(() => parseSchedule('0 */0 * * * *')).toThrow(/step/);
  });

  it('resolves %SETTING% from the app settings and names a missing one', () => {
    expect(resolveSettings('%RECONCILE_SCHEDULE%', { RECONCILE_SCHEDULE: '0 */5 * * * *' })).toBe(
      '0 */5 * * * *',
    );
    expect(() => resolveSettings('%ALERT_SCHEDULE%', {})).toThrow(/ALERT_SCHEDULE is not set/);
  });
});

describe('local timers', () => {
  it('run a timer on its %SETTING% schedule, one run at a time, with its schedule status', async () => {
    const runs: Timer[] = [];
    const runner = startTimers(
      [{ name: 'every-second', schedule: '%EVERY_SECOND%', run: (t) => Promise.resolve(runs.push(t)) }],
      { EVERY_SECOND: '* * * * * *' },
      silentLogger,
    );
    await expect.poll(() => runs.length, { timeout: 4000 }).toBeGreaterThanOrEqual(2);
    await runner.stop();
    const [first] = runs;
    expect(first?.isPastDue).toBe(false);
    expect(Date.parse(first?.scheduleStatus.next ?? '')).toBeGreaterThan(
      Date.parse(first?.scheduleStatus.last ?? ''),
    );
    const count = runs.length;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(runs.length).toBe(count); // stopped
  });
});

describe('Event Grid webhook deliveries', () => {
  it('tells a validation handshake, a notification, a CloudEvents batch and a bad request apart', () => {
    expect(
      readWebhookDelivery(
        { 'aeg-event-type': 'SubscriptionValidation' },
        '[{"data":{"validationCode":"x"}}]',
      ),
    ).toEqual({ kind: 'validation', validationCode: 'x' });
    expect(readWebhookDelivery({ 'aeg-event-type': 'Notification' }, '{"id":"1"}')).toEqual({
      kind: 'notification',
      events: [{ id: '1' }],
    });
    expect(
      readWebhookDelivery(
        { 'content-type': 'application/cloudevents-batch+json' },
        '[{"id":"1"},{"id":"2"}]',
      ),
    ).toEqual({ kind: 'notification', events: [{ id: '1' }, { id: '2' }] });
    expect(readWebhookDelivery({}, '[]').kind).toBe('badRequest');
    expect(readWebhookDelivery({ 'aeg-event-type': 'Notification' }, 'not json').kind).toBe('badRequest');
  });
});

describe('HTTP routes of the local host', () => {
  it('matches route templates with parameters, optional and catch-all segments, case-insensitively', () => {
    const handler = () => ({});
    const timeline = httpRoute('timeline', { route: 'vms/{key}/timeline', handler });
    expect(matchRoute(timeline, 'VMs/a%7Cb/timeline')).toEqual({ key: 'a|b' });
    expect(matchRoute(timeline, 'vms/a/usage')).toBeUndefined();
    const files = httpRoute('files', { route: 'files/{*path}', handler });
    expect(matchRoute(files, 'files/a/b.txt')).toEqual({ path: 'a/b.txt' });
    const optional = httpRoute('opt', { route: 'items/{id:int?}', handler });
    expect(matchRoute(optional, 'items')).toEqual({});
    expect(httpRoute('stopped', { handler }).template).toBe('stopped');
  });
});

describe('queue messages', () => {
  it('are base64 JSON on the wire and come back as the value sent', () => {
    expect(decodeMessage(encodeMessage({ subscriptionId: 'abc' }))).toEqual({ subscriptionId: 'abc' });
    expect(decodeMessage('{"subscriptionId":"raw"}')).toEqual({ subscriptionId: 'raw' });
  });
});
