import { describe, expect, it } from 'vitest';
import { readWebhookDelivery } from '../../kit/local/eventgrid-webhook';
import { httpRoute, matchRoute } from '../../kit/local/http-routes';
import { parseSchedule, readSchedule, resolveSettings, ScheduleError } from '../../kit/local/ncrontab';
import { decodeMessage, encodeMessage } from '../../kit/local/queues';
import { startTimers } from '../../kit/local/timers';
import type { Timer } from '@azure/functions';
import { silentLogger } from '../../src/adapters/logger';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
/** The next `count` occurrences of `expression` after `after`. */
const occurrences = (expression: string, after: string, count = 3): string[] => {
  const schedule = parseSchedule(expression);
  const result: string[] = [];
  for (let t = at(after); result.length < count;) result.push(iso((t = schedule.next(t))));
  return result;
};

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

  it('runs the NCRONTAB examples of the Functions timer trigger documentation when it says', () => {
    // 2026-11-27 is a Friday.
    const after = '2026-11-27T10:02:30Z';
    // once every five minutes
    expect(occurrences('0 */5 * * * *', after)).toEqual([
      '2026-11-27T10:05:00.000Z',
      '2026-11-27T10:10:00.000Z',
      '2026-11-27T10:15:00.000Z',
    ]);
    // once at the top of every hour
    expect(occurrences('0 0 * * * *', after, 2)).toEqual([
      '2026-11-27T11:00:00.000Z',
      '2026-11-27T12:00:00.000Z',
    ]);
    // once every two hours
    expect(occurrences('0 0 */2 * * *', after, 2)).toEqual([
      '2026-11-27T12:00:00.000Z',
      '2026-11-27T14:00:00.000Z',
    ]);
    // once every hour from 9 AM to 5 PM
    expect(occurrences('0 0 9-17 * * *', '2026-11-27T16:30:00Z', 3)).toEqual([
      '2026-11-27T17:00:00.000Z',
      '2026-11-28T09:00:00.000Z',
      '2026-11-28T10:00:00.000Z',
    ]);
    // at 9:30 AM every day
    expect(occurrences('0 30 9 * * *', after, 2)).toEqual([
      '2026-11-28T09:30:00.000Z',
      '2026-11-29T09:30:00.000Z',
    ]);
    // at 9:30 AM every weekday
    expect(occurrences('0 30 9 * * 1-5', after, 2)).toEqual([
      '2026-11-30T09:30:00.000Z',
      '2026-12-01T09:30:00.000Z',
    ]);
    // at 9:30 AM every Monday in January
    expect(occurrences('0 30 9 * Jan Mon', after, 3)).toEqual([
      '2027-01-04T09:30:00.000Z',
      '2027-01-11T09:30:00.000Z',
      '2027-01-18T09:30:00.000Z',
    ]);
  });

  it('needs a restricted day and day-of-week both to match, as NCrontab does', () => {
    // Friday the 13th, not every 13th and every Friday.
    expect(occurrences('0 0 9 13 * Fri', '2026-11-27T10:00:00Z', 2)).toEqual([
      '2027-08-13T09:00:00.000Z',
      '2028-10-13T09:00:00.000Z',
    ]);
  });

  it('reads names, a/n as a step from a to the end of the field, and a reversed range in order, as NCrontab does', () => {
    expect(occurrences('0 0 9 * January Monday', '2026-11-27T10:00:00Z', 1)).toEqual([
      '2027-01-04T09:00:00.000Z',
    ]);
    expect(occurrences('0 0 9 * * mon-FRI', '2026-11-27T10:00:00Z', 2)).toEqual([
      '2026-11-30T09:00:00.000Z',
      '2026-12-01T09:00:00.000Z',
    ]);
    expect(occurrences('0 5/20 * * * *', '2026-11-27T10:46:00Z', 3)).toEqual([
      '2026-11-27T11:05:00.000Z',
      '2026-11-27T11:25:00.000Z',
      '2026-11-27T11:45:00.000Z',
    ]);
    expect(occurrences('0 0 20-10 * * *', '2026-11-27T20:30:00Z', 2)).toEqual([
      '2026-11-28T10:00:00.000Z',
      '2026-11-28T11:00:00.000Z',
    ]);
  });

  it('keeps to UTC whatever the time zone of the machine', () => {
    const previous = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(new Date(at('2026-11-27T10:00:00Z')).getHours()).toBe(5); // the machine's zone did change
      expect(occurrences('0 30 9 * * *', '2026-11-27T10:00:00Z', 1)).toEqual(['2026-11-28T09:30:00.000Z']);
    } finally {
      if (previous === undefined) delete process.env.TZ;
      else process.env.TZ = previous;
    }
  });

  it('refuses what the Functions host refuses: Quartz extensions, seven fields, unknown names, no occurrence', () => {
    for (const expression of [
      '0 0 9 L * *',
      '0 0 9 ? * *',
      '0 0 9 * * 1#2',
      '0 0 9 15W * *',
      '@daily',
      '0 0 0 * * * 2027',
      '0 0 9 * * Funday',
      '0 0 9 * * 8',
      '/5 * * * * *',
      '0 0 0 30 Feb *',
    ])
      expect(() => parseSchedule(expression), expression).toThrow(ScheduleError);
    expect(() => parseSchedule('0 0 9 * * Funday')).toThrow(/day-of-week "Funday"/);
    expect(() => parseSchedule('0 0 0 30 Feb *')).toThrow(/never occurs/);
  });

  it('names the app setting that holds an expression it refuses', () => {
    expect(readSchedule('%RECONCILE_SCHEDULE%', { RECONCILE_SCHEDULE: '0 */5 * * *' }).expression).toBe(
      '0 */5 * * *',
    );
    expect(() => readSchedule('%RECONCILE_SCHEDULE%', { RECONCILE_SCHEDULE: '0 61 * * * *' })).toThrow(
      /the app setting RECONCILE_SCHEDULE is not a schedule: minute 61 is outside 0-59/,
    );
    expect(() =>
      startTimers(
        [{ name: 'stoppedAllocatedAlerts', schedule: '%ALERT_SCHEDULE%', run: () => Promise.resolve() }],
        { ALERT_SCHEDULE: 'every hour' },
        silentLogger,
      ),
    ).toThrow(/ALERT_SCHEDULE/);
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
