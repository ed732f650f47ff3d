import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { TableTimelineStore, type CurrentChange } from '../../src/adapters/table-timeline-store';
import { PermanentInputError } from '../../src/app/errors';
import { ingestEvent } from '../../src/app/ingest-event';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import type { Observation } from '../../src/domain/observation';
import { deriveSegments } from '../../src/domain/segments';
import { delivery, history, observation, operationHistory } from '../support/histories';
import { dropTables, testContext } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { startFaultProxy } from '../../kit/fault-proxy';

/** A TableClient on the test Azurite that counts the entities its responses carry. */
function countingTable(name: string, entities: { count: number }): TableClient {
  const policy: PipelinePolicy = {
    name: 'countEntities',
    async sendRequest(request, next) {
      const response = await next(request);
      const body = response.bodyAsText ?? '';
      if (body.startsWith('{')) {
        const parsed = JSON.parse(body) as { value?: unknown[]; PartitionKey?: unknown };
        entities.count += Array.isArray(parsed.value)
          ? parsed.value.length
          : parsed.PartitionKey === undefined
            ? 0
            : 1;
      }
      return response;
    },
  };
  return TableClient.fromConnectionString(tableConnectionString(), name, {
    allowInsecureConnection: true,
    additionalPolicies: [{ policy, position: 'perCall' }],
  });
}

const sub = '00000000-0000-0000-0000-0000000000bb';
const vmId = (name: string) =>
  `/subscriptions/${sub}/resourceGroups/RG-One/providers/Microsoft.Compute/virtualMachines/${name}`;
const t = (iso: string) => Date.parse(iso);
const obs = observation;

describe('TableTimelineStore on Azurite', () => {
  let ctx: AppContext;
  beforeAll(async () => {
    ctx = await testContext();
  });
  afterAll(async () => {
    await dropTables(ctx);
  });

  async function partitionRowCount(resourceId: string): Promise<number> {
    const timeline = await ctx.store.getTimeline(resourceId);
    return timeline?.segments.length ?? 0;
  }

  it('records events in order as segments and a current-state row', async () => {
    const id = vmId('InOrder');
    await ctx.store.record(obs(id, '2026-11-01T08:00:00Z', 'running', 'e1', { caller: 'alice' }));
    await ctx.store.record(obs(id, '2026-11-01T12:00:00Z', 'stopped', 'e2'));
    const timeline = await ctx.store.getTimeline(id);
    expect(timeline?.resourceId).toBe(id);
    expect(timeline?.segments.map((s) => [s.state, s.billing, s.start, s.end])).toEqual([
      ['running', 'billed', t('2026-11-01T08:00:00Z'), t('2026-11-01T12:00:00Z')],
      ['stopped', 'billed', t('2026-11-01T12:00:00Z'), undefined],
    ]);
    const current = await ctx.store.getCurrent(id.toUpperCase());
    expect(current).toMatchObject({
      state: 'stopped',
      billing: 'billed',
      since: t('2026-11-01T12:00:00Z'),
      subscriptionId: sub,
    });
  });

  it('changes nothing when the same observation arrives twice', async () => {
    const id = vmId('Twice');
    const o = obs(id, '2026-11-01T08:00:00Z', 'running', 'dup');
    expect(await ctx.store.record(o)).toBe('recorded');
    const before = await ctx.store.getTimeline(id);
    const current = await ctx.store.getCurrent(id);
    expect(await ctx.store.record({ ...o })).toBe('duplicate');
    expect(await ctx.store.getTimeline(id)).toEqual(before);
    expect(await ctx.store.getCurrent(id)).toEqual(current);
  });

  it('re-derives past segments when a late event arrives, and keeps the current state on the newest', async () => {
    const id = vmId('Late');
    await ctx.store.record(obs(id, '2026-11-01T08:00:00Z', 'running', 'a'));
    await ctx.store.record(obs(id, '2026-11-01T18:00:00Z', 'deallocated', 'c'));
    expect(await ctx.store.record(obs(id, '2026-11-01T12:00:00Z', 'stopped', 'b'))).toBe('recorded');
    const timeline = await ctx.store.getTimeline(id);
    expect(timeline?.segments.map((s) => s.state)).toEqual(['running', 'stopped', 'deallocated']);
    expect((await ctx.store.getCurrent(id))?.state).toBe('deallocated');
  });

  it('keys ids holding characters Table keys forbid', async () => {
    const id = vmId('odd%name#1?x');
    await ctx.store.record(obs(id, '2026-11-01T08:00:00Z', 'running', 'id/with#odd?chars%'));
    expect((await ctx.store.getTimeline(id))?.segments).toHaveLength(1);
    expect(await partitionRowCount(id)).toBe(1);
  });

  it('refuses a key with a lone surrogate or over 1 KiB once escaped before any request, and keeps working', async () => {
    const before = ctx.tables.counter.requests;
    for (const [o, reason] of [
      [obs(vmId('x\udfff'), '2026-11-01T08:00:00Z', 'running', 'lone-1'), /lone surrogate/],
      [obs(vmId('ok'), '2026-11-01T08:00:00Z', 'running', 'x\udfff'), /lone surrogate/],
      [obs(vmId('%'.repeat(390)), '2026-11-01T08:00:00Z', 'running', 'long-1'), /longer than a table key/],
    ] as const) {
      const error: unknown = await ctx.store.record(o).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentInputError);
      expect((error as Error).message).toMatch(reason);
    }
    expect(ctx.tables.counter.requests).toBe(before);
    // Entity-group transactions still work afterwards.
    expect(await ctx.store.record(obs(vmId('After'), '2026-11-01T08:00:00Z', 'running', 'after'))).toBe(
      'recorded',
    );
  });

  it('turns a 400 from storage on its own keys into a permanent error, other failures stay transient', async () => {
    const endpoint = new URL(/TableEndpoint=([^;]+)/.exec(tableConnectionString())?.[1] ?? '');
    const proxy = await startFaultProxy({ target: endpoint.origin });
    try {
      const storage = tableConnectionString().replace(
        /TableEndpoint=[^;]+/,
        `TableEndpoint=${proxy.url}${endpoint.pathname}`,
      );
      const proxied = createAppContext(
        loadConfig({ TIMELINE_STORAGE: storage, TABLE_NAME_PREFIX: ctx.config.tablePrefix }),
        { log: silentLogger },
      );
      const batch = (r: { method: string; url: string }) => r.method === 'POST' && r.url.includes('$batch');
      proxy.failNext('badRequest', batch);
      const refused: unknown = await proxied.store
        .record(obs(vmId('Refused'), '2026-11-01T08:00:00Z', 'running', 'r1'))
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(PermanentInputError);
      expect((refused as Error).message).toContain('400');
      proxy.failNext('unavailable', batch);
      proxy.setRates({});
      // A 503 is retried by the SDK and the observation is stored.
      expect(await proxied.store.record(obs(vmId('Busy'), '2026-11-01T08:00:00Z', 'running', 'b1'))).toBe(
        'recorded',
      );
      expect(proxy.counts.badRequest).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('reads only the scale set’s key range of VmCurrent for its instances', async () => {
    const scaleSet = (name: string) =>
      `/subscriptions/${sub}/resourceGroups/rg-ss/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
    for (let i = 0; i < 12; i += 1)
      await ctx.store.record(obs(vmId(`standalone-${i}`), '2026-11-01T08:00:00Z', 'running', `s${i}`));
    for (const name of ['pool', 'pool2', 'poo'])
      for (let i = 0; i < 3; i += 1)
        await ctx.store.record(
          obs(`${scaleSet(name)}/virtualMachines/${i}`, '2026-11-01T08:00:00Z', 'running', `${name}${i}`),
        );
    const entities = { count: 0 };
    const store = new TableTimelineStore(
      ctx.tables.table(ctx.tableNames.timeline),
      countingTable(ctx.tableNames.current, entities),
    );
    const listed: string[] = [];
    for await (const page of store.listScaleSetCurrent(scaleSet('Pool')))
      listed.push(...page.map((c) => c.resourceId));
    expect(listed.sort()).toEqual([0, 1, 2].map((i) => `${scaleSet('pool')}/virtualMachines/${i}`));
    expect(entities.count).toBe(3);

    // The scale set's deletion marks its instances deleted, reading those three rows only.
    entities.count = 0;
    const result = await ingestEvent(
      {
        id: 'ss-delete',
        topic: `/subscriptions/${sub}`,
        subject: scaleSet('pool'),
        eventType: 'Microsoft.Resources.ResourceDeleteSuccess',
        eventTime: '2026-11-01T09:00:00Z',
        data: {
          operationName: 'Microsoft.Compute/virtualMachineScaleSets/delete',
          resourceUri: scaleSet('pool'),
          status: 'Succeeded',
        },
      },
      { store, rejected: ctx.rejected, log: silentLogger, now: () => t('2026-11-01T10:00:00Z') },
    );
    expect(result).toMatchObject({ outcome: 'recorded', recorded: 3 });
    expect(entities.count).toBe(3);
    expect((await ctx.store.getCurrent(`${scaleSet('pool2')}/virtualMachines/0`))?.state).toBe('running');
  });

  it('answers undefined for a VM with no history', async () => {
    expect(await ctx.store.getTimeline(vmId('never'))).toBeUndefined();
  });

  it('ends in the same stored segments for any order and duplication of deliveries', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        history('placeholder', 12).chain((h) => fc.tuple(fc.constant(h), delivery(h))),
        async ([inOrder, delivered]) => {
          const id = vmId(`prop-${run++}`);
          for (const o of delivered) await ctx.store.record({ ...o, resourceId: id });
          const stored = await ctx.store.getTimeline(id);
          const expected = deriveSegments(inOrder.map((o) => ({ ...o, resourceId: id })));
          expect(stored?.segments ?? []).toEqual(expected);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('ends in the same segments for any order and duplication of Activity Log records and events', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        operationHistory('placeholder', 6).chain((h) => {
          const all = [...h.activityLog, ...h.events];
          return fc.tuple(fc.constant(all), delivery(all), fc.boolean());
        }),
        async ([inOrder, delivered, batched]) => {
          const id = vmId(`al-prop-${run++}`);
          const mine = delivered.map((o) => ({ ...o, resourceId: id }));
          if (batched) {
            // The backfill records a VM's records together; events arrive one by one.
            await ctx.store.recordMany(mine.filter((o) => o.source === 'activityLog'));
            for (const o of mine.filter((o) => o.source !== 'activityLog')) await ctx.store.record(o);
          } else {
            for (const o of mine) await ctx.store.record(o);
          }
          const stored = await ctx.store.getTimeline(id);
          expect(stored?.segments ?? []).toEqual(
            deriveSegments(inOrder.map((o) => ({ ...o, resourceId: id }))),
          );
        },
      ),
      { numRuns: 6 },
    );
  });

  it('counts an Activity Log record of an operation an event reported, and a second backfill, as duplicates', async () => {
    const id = vmId('AlDuplicate');
    const start = 'Microsoft.Compute/virtualMachines/start/action';
    const op = { operation: start, correlationId: 'corr-9' };
    await ctx.store.record(obs(id, '2026-11-01T08:02:00Z', 'running', 'ev-9', op));
    const records: Observation[] = [
      obs(id, '2026-11-01T08:00:00Z', 'starting', 'al-begin', { ...op, source: 'activityLog' }),
      obs(id, '2026-11-01T08:02:00.250Z', 'running', 'al-end', { ...op, source: 'activityLog' }),
    ];
    expect(await ctx.store.recordMany(records)).toEqual({ recorded: 1, duplicate: 1, rejected: 0 });
    expect(await ctx.store.recordMany(records.map((o) => ({ ...o })))).toEqual({
      recorded: 0,
      duplicate: 2,
      rejected: 0,
    });
    expect(await ctx.store.record({ ...records[1]! })).toBe('duplicate');
    const timeline = await ctx.store.getTimeline(id);
    expect(
      timeline?.segments.map((s) => [s.state, s.billing, new Date(s.start).toISOString(), s.source]),
    ).toEqual([
      ['starting', 'billed', '2026-11-01T08:00:00.000Z', 'activityLog'],
      ['running', 'billed', '2026-11-01T08:02:00.000Z', 'event'],
    ]);
  });

  it('stays correct when two processes with their own caches write one VM in turns', async () => {
    const other = createAppContext(ctx.config, { log: silentLogger });
    const id = vmId('TwoProcesses');
    const all = Array.from({ length: 12 }, (_, i) =>
      obs(
        id,
        new Date(t('2026-11-03T00:00:00Z') + i * 60_000).toISOString(),
        i % 3 === 0 ? 'running' : i % 3 === 1 ? 'stopped' : 'deallocated',
        `tp${i}`,
      ),
    );
    for (const [i, o] of all.entries()) await (i % 2 === 0 ? ctx.store : other.store).record(o);
    // The first process's cached row is stale now; its next write must still land right.
    const late = obs(id, '2026-11-03T00:30:00Z', 'running', 'tp-late');
    await ctx.store.record(late);
    expect((await other.store.getTimeline(id))?.segments).toEqual(deriveSegments([...all, late]));
    expect((await other.store.getCurrent(id))?.last.dedupeId).toBe('tp-late');
  });

  it('tells a listener what changed and marks the usage of changed days dirty', async () => {
    const changes: CurrentChange[] = [];
    const listened = new TableTimelineStore(
      ctx.tables.table(ctx.tableNames.timeline),
      ctx.tables.table(ctx.tableNames.current),
      {
        onCurrentChange: (change) => {
          changes.push(change);
          return Promise.resolve();
        },
      },
    );
    const id = vmId('Listened');
    await listened.record(obs(id, '2026-11-04T08:00:00Z', 'running', 'l1'));
    await listened.record(obs(id, '2026-11-04T12:00:00Z', 'stopped', 'l2'));
    await listened.record(obs(id, '2026-11-04T13:00:00Z', 'stopped', 'l3'));
    expect(changes.map((c) => [c.before?.state, c.after.state, c.changedFrom])).toEqual([
      [undefined, 'running', t('2026-11-04T08:00:00Z')],
      ['running', 'stopped', t('2026-11-04T08:00:00Z')],
      ['stopped', 'stopped', undefined],
    ]);
    expect((await listened.getCurrent(id))?.usageDirtyFrom).toBe(t('2026-11-04T08:00:00Z'));
  });

  it('loses nothing when many workers write one VM at once', async () => {
    const id = vmId('Contended');
    const start = t('2026-11-02T00:00:00Z');
    const states = ['running', 'stopped', 'deallocated', 'running', 'deallocated'] as const;
    const all: Observation[] = Array.from({ length: 40 }, (_, i) =>
      obs(id, new Date(start + i * 60_000).toISOString(), states[i % states.length], `c${i}`),
    );
    // Every observation twice, all at once, in a scrambled order.
    const deliveries = [...all, ...all].sort((a, b) => ((a.at * 7919) % 97) - ((b.at * 7919) % 97));
    const outcomes = await Promise.all(deliveries.map((o) => ctx.store.record({ ...o })));
    expect(outcomes.filter((x) => x === 'recorded')).toHaveLength(all.length);
    expect((await ctx.store.getTimeline(id))?.segments).toEqual(deriveSegments(all));
    const current = await ctx.store.getCurrent(id);
    expect(current?.last.dedupeId).toBe('c39');
    expect(current?.state).toBe(states[39 % states.length]);
  });
});
