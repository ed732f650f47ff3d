/**
 * The HTTP API over real HTTP (the local host over the app's registrations, Azurite): bad keys and dates
 * answer 400 with a reason, and tag names such as `__proto__` survive to the JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { vmKey } from '../../src/domain/resource-id';
import { startLocalHost, type LocalHost } from '../../kit/local/host';
import { MemoryLocalQueues } from '../../kit/local/queues';
import { appRegistrations } from '../../kit/local/registrations';
import { dropTables, testSettings } from '../support/app';

const sub = '00000000-0000-0000-0000-0000000000de';
const vm = `/subscriptions/${sub}/resourceGroups/rg-api/providers/Microsoft.Compute/virtualMachines/api-01`;

describe('HTTP API over HTTP (local host)', () => {
  const functionKey = 'api-test-key';
  let host: LocalHost;
  let ctx: AppContext;
  const tagged = vm.replace('api-01', 'tagged-01');
  const plain = vm.replace('api-01', 'plain-01');
  const getJson = async (route: string) => {
    const response = await fetch(`${host.url}${route}`, { headers: { 'x-functions-key': functionKey } });
    const text = await response.text();
    if (text === '') throw new Error(`${route}: ${response.status} with no body`);
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const settings = testSettings();
    ctx = createAppContext(loadConfig(settings), { log: silentLogger });
    await ctx.ensureTables();
    for (const id of [tagged, plain])
      await ctx.store.record({
        resourceId: id,
        at: Date.parse('2026-08-01T00:00:00Z'),
        state: 'running',
        source: 'event',
        dedupeId: 'e1',
      });
    // Tag names that are Object.prototype's own: kept as ordinary names end to end.
    const tags = JSON.parse('{"__proto__":"p","constructor":"c","cost=center":"cc-1"}') as Record<
      string,
      string
    >;
    await ctx.store.updateDetails(
      tagged,
      { vmSize: 'Standard_D2s_v5', tags },
      Date.parse('2026-07-31T00:00:00Z'),
    );
    host = await startLocalHost({
      registrations: appRegistrations(['timeline', 'usage', 'stopped', 'vms'], () => Promise.resolve(ctx)),
      queues: new MemoryLocalQueues(),
      log: silentLogger,
      port: 0,
      functionKey,
      timers: false,
    });
  });
  afterAll(async () => {
    await host?.stop();
    await dropTables(ctx);
  });

  it.each([
    ['a bad % escape in a VM key', `/api/vms/${encodeURIComponent('subscriptions|x|%zz')}/timeline`],
    ['a truncated UTF-8 escape in a VM key', `/api/vms/${encodeURIComponent(`${vmKey(vm)}%E0%A4`)}/timeline`],
    [
      'a bad % escape in a URL-encoded resource id',
      `/api/vms/${encodeURIComponent(`${encodeURIComponent(vm)}%zz`)}/timeline`,
    ],
  ])('answers 400, not 500, for %s', async (_name, route) => {
    const { status, body } = await getJson(route);
    expect(status).toBe(400);
    expect(body['error']).toContain('key must be a VM key');
  });

  it.each([
    ['/api/usage?from=2026-02-31&to=2026-03-05', 'from is not a valid date'],
    ['/api/usage?from=2026-02-01&to=2026-02-30T00:00:00Z', 'to is not a valid date'],
    [`/api/vms/${encodeURIComponent(vmKey(vm))}/timeline?from=2026-04-31`, 'from is not a valid date'],
  ])('answers 400 for an impossible calendar date instead of rolling it over: %s', async (route, message) => {
    const { status, body } = await getJson(route);
    expect(status).toBe(400);
    expect(body['error']).toContain(message);
  });

  it('keeps tags named __proto__ and constructor from the current row to the usage groups and the JSON', async () => {
    const vms = await getJson('/api/vms');
    expect(vms.status).toBe(200);
    const list = vms.body['vms'] as Array<{ resourceId: string; tags: Record<string, string> }>;
    const item = list.find((v) => v.resourceId === tagged);
    expect(Object.entries(item?.tags ?? {})).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['cost=center', 'cc-1'],
    ]);
    expect(list.find((v) => v.resourceId === plain)?.tags).toEqual({});

    for (const [tag, value] of [
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['cost=center', 'cc-1'],
    ]) {
      const usage = await getJson(
        `/api/usage?from=2026-08-01&to=2026-08-02&groupBy=${encodeURIComponent(`tag:${tag}`)}`,
      );
      expect(usage.status, tag).toBe(200);
      const rows = usage.body['rows'] as Array<{ key: string | null; vms: number; billedSeconds: number }>;
      expect(rows, tag).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: value, vms: 1, billedSeconds: 86_400 }),
          expect.objectContaining({ key: null, vms: 1, billedSeconds: 86_400 }),
        ]),
      );
      expect(rows, tag).toHaveLength(2);
    }
  });
});
