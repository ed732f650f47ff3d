import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readActivityLogRecord } from '../../src/domain/activity-log';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';

const sub = 'aaaaaaaa-0000-0000-0000-0000000000a1';
const api = 'api-version=2015-04-01';
const base = `/subscriptions/${sub}/providers/Microsoft.Insights/eventtypes/management/values`;
const specs = JSON.parse(
  readFileSync(
    path.join(__dirname, '..', 'fixtures', 'activity-log', 'GetActivityLogsFiltered.json'),
    'utf8',
  ),
) as { parameters: { $filter: string }; responses: { 200: { body: { value: Record<string, unknown>[] } } } };
const specsRecord = specs.responses[200].body.value[0] as Record<string, unknown>;

describe('ARM emulator: Activity Log', () => {
  let emulator: ArmEmulator;
  let clock = Date.parse('2026-11-30T12:00:00Z');
  const day = 86_400_000;
  let vm = '';

  beforeAll(async () => {
    emulator = await startArmEmulator({ now: () => clock });
    vm = emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'RG-Web', name: 'web-01' }).id;
    emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'RG-Other', name: 'db-01' });
  });
  afterAll(async () => {
    await emulator.close();
  });

  async function get(
    query: string,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const response = await fetch(`${emulator.url}${base}?${query}`);
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
      headers: response.headers,
    };
  }
  const filter = (from: number, to: number, extra = '') =>
    `$filter=${encodeURIComponent(
      `eventTimestamp ge '${new Date(from).toISOString()}' and eventTimestamp le '${new Date(to).toISOString()}'${extra}`,
    )}&${api}`;

  it("serves an operation's Started, Accepted and Succeeded records in the specs example's shape", async () => {
    const startedAt = clock - 2 * day;
    emulator.fleet.activityLog.addOperation({
      resourceId: vm,
      operation: 'deallocate',
      startedAt,
      durationInMs: 95_000,
      hibernate: true,
      correlationId: 'corr-shape',
    });
    const { status, body, headers } = await get(
      filter(startedAt - 1000, startedAt + day, " and correlationId eq 'corr-shape'"),
    );
    expect(status).toBe(200);
    expect(headers.get('x-ms-ratelimit-remaining-subscription-reads')).toMatch(/^\d+$/);
    const records = body['value'] as Record<string, unknown>[];
    expect(records.map((r) => (r['status'] as { value: string }).value)).toEqual([
      'Succeeded',
      'Accepted',
      'Started',
    ]);
    for (const record of records) {
      for (const key of Object.keys(specsRecord)) expect(record, key).toHaveProperty(key);
      expect(record['eventTimestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
      expect(Date.parse(record['submissionTimestamp'] as string)).toBeGreaterThan(
        Date.parse(record['eventTimestamp'] as string),
      );
    }
    // The app reads them as the billing table says: deallocating when accepted, hibernated at the end.
    const states = records.map((r) => {
      const decision = readActivityLogRecord(r, clock);
      return decision.kind === 'observe' ? decision.observation.state : decision.kind;
    });
    expect(states).toEqual(['hibernated', 'deallocating', 'deallocating']);
  });

  it('filters by resource group, resource uri, provider or correlation id and answers 400 to anything else', async () => {
    const from = clock - 3 * day;
    emulator.fleet.activityLog.addOperation({
      resourceId: vm,
      operation: 'start',
      startedAt: from + 1000,
      durationInMs: 30_000,
    });
    const byGroup = await get(filter(from, clock, " and resourceGroupName eq 'rg-web'"));
    expect((byGroup.body['value'] as unknown[]).length).toBeGreaterThan(0);
    const other = await get(filter(from, clock, " and resourceGroupName eq 'RG-Other'"));
    expect(other.body['value']).toEqual([]);
    expect((await get(filter(from, clock, ` and resourceUri eq '${vm}'`))).status).toBe(200);
    expect((await get(filter(from, clock, " and resourceProvider eq 'Microsoft.Compute'"))).status).toBe(200);
    // The specs example's own filter is valid grammar.
    expect(
      (
        await get(
          `$filter=${encodeURIComponent(specs.parameters.$filter.replace(/2015-01-2\d/g, '2026-11-29'))}&${api}`,
        )
      ).status,
    ).toBe(200);
    for (const bad of [
      ` and operationName eq 'Microsoft.Compute/virtualMachines/start/action'`,
      ` and status eq 'Succeeded'`,
      " and resourceGroupName eq 'a' and correlationId eq 'b'",
      " or resourceGroupName eq 'a'",
    ]) {
      const answer = await get(filter(from, clock, bad));
      expect(answer.status, bad).toBe(400);
      expect(answer.body).toMatchObject({ error: { code: 'BadRequest' } });
    }
    expect((await get(api)).status).toBe(400);
    const tooOld = await get(filter(clock - 91 * day, clock));
    expect(tooOld.status).toBe(400);
    expect(JSON.stringify(tooOld.body)).toContain('90 days');
  });

  it('serves a record only from its submission time on (the log is minutes late)', async () => {
    const at = clock - 60_000;
    emulator.fleet.activityLog.addOperation({
      resourceId: vm,
      operation: 'powerOff',
      startedAt: at,
      durationInMs: 20_000,
      correlationId: 'corr-late',
      lagInMs: 10 * 60_000,
    });
    const query = filter(at - 1000, clock + day, " and correlationId eq 'corr-late'");
    expect((await get(query)).body['value']).toEqual([]);
    clock += 11 * 60_000;
    expect(((await get(query)).body['value'] as unknown[]).length).toBe(3);
  });

  it('pages 200 records at a time through nextLink, newest first, each record once', async () => {
    const from = clock - 10 * day;
    for (let i = 0; i < 150; i++)
      emulator.fleet.activityLog.addOperation({
        resourceId: vm,
        operation: i % 2 === 0 ? 'start' : 'deallocate',
        startedAt: from + i * 600_000,
        durationInMs: 60_000,
        correlationId: `page-${i}`,
      });
    let next: string | undefined = `${emulator.url}${base}?${filter(from, from + 2 * day)}`;
    const sizes: number[] = [];
    const ids: string[] = [];
    const times: number[] = [];
    while (next !== undefined) {
      const body = (await (await fetch(next)).json()) as {
        value: Record<string, unknown>[];
        nextLink?: string;
      };
      sizes.push(body.value.length);
      ids.push(...body.value.map((r) => r['eventDataId'] as string));
      times.push(...body.value.map((r) => Date.parse(r['eventTimestamp'] as string)));
      // A record that becomes queryable while paging does not shift the pages.
      emulator.fleet.activityLog.addOperation({
        resourceId: vm,
        operation: 'start',
        startedAt: from + 5,
        durationInMs: 1,
        lagInMs: 0,
      });
      next = body.nextLink;
    }
    expect(sizes).toEqual([200, 200, 50]);
    expect(new Set(ids).size).toBe(450);
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('answers 429 with Retry-After when throttled and 403 when the identity may not read the log', async () => {
    emulator.faults.throttleNext(1, { kinds: ['activityLog'], retryAfterInSeconds: 7 });
    const throttled = await get(filter(clock - day, clock));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('7');
    emulator.faults.failNext(1, { kinds: ['activityLog'], status: 403 });
    const denied = await get(filter(clock - day, clock));
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ error: { code: 'AuthorizationFailed' } });
    expect((await get(filter(clock - day, clock))).status).toBe(200);
  });
});
