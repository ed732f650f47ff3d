import { HttpRequest, HttpResponse, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHandlers } from '../../functions/api';
import type { AppContext } from '../../src/composition';
import { vmKey } from '../../src/domain/resource-id';
import { dropTables, testContext } from '../support/app';

const sub = '00000000-0000-0000-0000-0000000000dd';
const vm = `/subscriptions/${sub}/resourceGroups/rg-api/providers/Microsoft.Compute/virtualMachines/api-01`;

function get(url: string, params: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ method: 'GET', url: `http://localhost:7071${url}`, params });
}

describe('HTTP API', () => {
  let ctx: AppContext;
  let api: ReturnType<typeof apiHandlers>;
  beforeAll(async () => {
    ctx = await testContext();
    api = apiHandlers(() => Promise.resolve(ctx));
    await ctx.store.record({
      resourceId: vm,
      at: Date.parse('2026-08-01T08:00:00Z'),
      state: 'running',
      source: 'event',
      dedupeId: 'e1',
    });
    await ctx.store.record({
      resourceId: vm,
      at: Date.parse('2026-08-01T10:00:00Z'),
      state: 'stopped',
      source: 'event',
      dedupeId: 'e2',
    });
  });
  afterAll(async () => {
    await dropTables(ctx);
  });

  const call = async (handler: keyof typeof api, request: HttpRequest) =>
    api[handler](request, new InvocationContext({ functionName: handler }));

  it('returns a timeline by VM key and by URL-encoded resource id', async () => {
    const byKey = await call('timeline', get(`/api/vms/x/timeline`, { key: vmKey(vm) }));
    expect(byKey.status).toBe(200);
    expect(byKey.jsonBody).toMatchObject({
      resourceId: vm,
      segments: [{ state: 'running' }, { state: 'stopped', end: null }],
    });
    const byId = await call('timeline', get(`/api/vms/x/timeline`, { key: encodeURIComponent(vm) }));
    expect(byId.jsonBody).toEqual(byKey.jsonBody);
  });

  it('answers 404 for an unknown VM and 400 for a key that is not a VM', async () => {
    const unknown = await call(
      'timeline',
      get('/api/vms/x/timeline', { key: vmKey(vm.replace('api-01', 'nope')) }),
    );
    expect(unknown.status).toBe(404);
    expect((unknown.jsonBody as { error: string }).error).toContain('no timeline');
    const bad = await call('timeline', get('/api/vms/x/timeline', { key: 'not-a-vm' }));
    expect(bad.status).toBe(400);
    expect((bad.jsonBody as { error: string }).error).toContain('key');
  });

  it('answers 400 for a key with a lone surrogate without querying storage with it', async () => {
    const before = ctx.tableRequests.requests;
    for (const key of [`${vmKey(vm)}\udfff`, `${vm}\ud800`]) {
      const response = await call('timeline', get('/api/vms/x/timeline', { key }));
      expect(response.status).toBe(400);
    }
    expect(ctx.tableRequests.requests).toBe(before);
  });

  it('returns usage as the CLI does, grouped on request', async () => {
    const response = await call(
      'usage',
      get('/api/usage?from=2026-08-01&to=2026-08-02&groupBy=resourceGroup'),
    );
    expect(response.status).toBe(200);
    // Streamed: the body is read as a client reads it.
    expect(await new HttpResponse(response).json()).toMatchObject({
      groupBy: 'resourceGroup',
      rows: [
        { key: 'rg-api', vms: 1, billedSeconds: 16 * 3600, notBilledSeconds: 0, unknownSeconds: 8 * 3600 },
      ],
    });
  });

  it.each([
    ['/api/usage?from=01/08/2026&to=2026-08-02', 'from'],
    ['/api/usage?from=2026-08-01&to=yesterday', 'to'],
    ['/api/usage?to=2026-08-02', 'from is required'],
    ['/api/usage?from=2026-08-02&to=2026-08-01', 'to must be after from'],
    ['/api/usage?from=2025-01-01&to=2026-08-01', '366 days'],
    ['/api/usage?from=2026-08-01&to=2026-08-02&groupBy=colour', 'groupBy'],
    ['/api/vms/x/timeline?from=2026-08-02&to=2026-08-01', 'to must be after from'],
  ])('answers 400 naming the parameter for %s', async (url, message) => {
    const handler = url.startsWith('/api/usage') ? 'usage' : 'timeline';
    const response = await call(handler, get(url, { key: vmKey(vm) }));
    expect(response.status).toBe(400);
    expect((response.jsonBody as { error: string }).error).toContain(message);
  });

  it('lists the VMs in Stopped (allocated)', async () => {
    const response = await call('stopped', get('/api/stopped'));
    expect(response.status).toBe(200);
    expect(response.jsonBody).toMatchObject({ vms: [expect.objectContaining({ resourceId: vm })] });
  });
});
