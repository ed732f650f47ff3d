/**
 * A corpus of hostile and broken events (test/fixtures/bad-events/corpus.json, plus payloads of 1 MB
 * strings built here) in one batch with good ones, through the local host's Event Grid webhook and through
 * `vm-timeline ingest`: no crash, every bad event rejected with its reason in `VmRejectedEvents` (or
 * skipped when it is not about a VM's power), every good one in the same batch recorded.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import type { RejectedEvent } from '../../src/app/ports';
import { serialise } from '../../src/app/ingest-event';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { maxDeliveryBytes, maxEventsPerDelivery } from '../../kit/local/eventgrid-webhook';
import { startLocalHost, type LocalHost } from '../../kit/local/host';
import { StorageLocalQueues } from '../../kit/local/queues';
import { appRegistrations } from '../../kit/local/registrations';
import { dropTables, testSettings } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import { runCli } from '../support/cli';

type Expect = 'recorded' | 'rejected' | 'skipped';

interface Case {
  name: string;
  /** Through the Event Grid webhook (and, unless `cli` says otherwise, through `vm-timeline ingest`). */
  expect: Expect;
  /** Through `vm-timeline ingest` (archives), when it differs: e.g. an event older than Event Grid's window. */
  cli?: Expect;
  /** A substring of the rejection reason. */
  reason?: string;
  /** The VM a recorded event is about. */
  vm?: string;
  event: unknown;
}

const megabyte = 'x'.repeat(1024 * 1024);
const subscription = '00000000-0000-0000-0000-0000000000bb';
const vmId = (name: string): string =>
  `/subscriptions/${subscription}/resourceGroups/rg-bad/providers/Microsoft.Compute/virtualMachines/${name}`;

/** The corpus with times filled in, plus the huge payloads. */
async function corpus(): Promise<Case[]> {
  const text = await readFile(path.join(__dirname, '..', 'fixtures', 'bad-events', 'corpus.json'), 'utf8');
  const now = Date.now();
  const filled = text
    .replaceAll('"$NOW"', JSON.stringify(new Date(now - 60_000).toISOString()))
    .replaceAll('"$NOW_WITHOUT_OFFSET"', JSON.stringify(new Date(now - 60_000).toISOString().slice(0, 19)))
    .replaceAll('"$FUTURE"', JSON.stringify(new Date(now + 3_600_000).toISOString()));
  const cases = JSON.parse(filled) as Case[];
  const template = cases.find((c) => c.name === 'good Event Grid start')?.event as Record<string, unknown>;
  const withData = (id: string, vm: string, data: Record<string, unknown>): Record<string, unknown> => {
    const copy = structuredClone(template);
    copy['id'] = id;
    copy['subject'] = vmId(vm);
    copy['data'] = { ...(copy['data'] as Record<string, unknown>), resourceUri: vmId(vm), ...data };
    return copy;
  };
  cases.push(
    {
      name: '1 MB event id',
      expect: 'rejected',
      reason: 'event id too long',
      event: { ...withData('huge-1', 'huge-01', {}), id: megabyte },
    },
    {
      name: '1 MB VM name',
      expect: 'rejected',
      reason: 'data.resourceUri too long',
      event: withData('huge-2', `huge-${megabyte}`, {}),
    },
    {
      name: '1 MB operation name',
      expect: 'rejected',
      reason: 'data.operationName too long',
      event: withData('huge-3', 'huge-03', {
        operationName: `Microsoft.Compute/virtualMachines/start/action${megabyte}`,
      }),
    },
    {
      name: 'VM name of 390 percent signs: under 512 characters, a 1,200-character key once escaped',
      expect: 'rejected',
      reason: 'resource id longer than a table key allows once escaped',
      event: withData('long-key-1', '%'.repeat(390), {}),
    },
    {
      name: 'VM name of 390 U+0085: under 512 characters, a 2,400-character key once escaped',
      expect: 'rejected',
      reason: 'resource id longer than a table key allows once escaped',
      event: withData('long-key-2', '\u0085'.repeat(390), {}),
    },
    {
      name: '5,000-deep nested array',
      expect: 'rejected',
      reason: 'not a JSON object',
      event: nest(5_000, (inner) => [inner], []),
    },
    {
      name: '5,000-deep nested event without an id',
      expect: 'rejected',
      reason: 'missing event id',
      event: {
        ...withData('deep-1', 'deep-01', { noise: nest(5_000, (inner) => ({ inner }), {}) }),
        id: undefined,
      },
    },
    {
      name: 'good event carrying 5,000-deep nested noise',
      expect: 'recorded',
      vm: vmId('deep-02'),
      event: withData('deep-2', 'deep-02', { noise: nest(5_000, (inner) => ({ inner }), {}) }),
    },
    {
      name: 'good event carrying a 1 MB caller claim and 1 MB of noise',
      expect: 'recorded',
      vm: vmId('huge-04'),
      event: withData('huge-4', 'huge-04', { claims: { upn: megabyte }, noise: megabyte }),
    },
  );
  cases.push({
    name: 'rejected event of 40,000 characters whose 30,000th is the first half of an emoji',
    expect: 'rejected',
    reason: 'unparseable event time',
    event: straddling({ ...withData('pair-1', 'pair-01', {}), eventTime: 'soon' }, 30_000),
  });
  return cases;
}

/** `event` with a `pad` of emoji placed so that a surrogate pair straddles character `cut` of its JSON. */
function straddling(event: Record<string, unknown>, cut: number): Record<string, unknown> {
  const start = serialise({ ...event, pad: '' }).indexOf('"pad":""') + '"pad":"'.length;
  const lead = (cut - 1 - start) % 2 === 0 ? '' : 'a';
  return { ...event, pad: `${lead}${'\u{1F600}'.repeat(20_000)}` };
}

/** `depth` levels of `wrap` around `bottom` (deeper than `JSON.stringify` can go). */
function nest(depth: number, wrap: (inner: unknown) => unknown, bottom: unknown): unknown {
  let value = bottom;
  for (let i = 0; i < depth; i += 1) value = wrap(value);
  return value;
}

/** The event as `VmRejectedEvents.raw` keeps it (a string as is, anything else as JSON, at any depth). */
const key = (event: unknown): string => serialise(event);

const expectOf = (c: Case, via: Via): Expect => (via === 'cli' ? (c.cli ?? c.expect) : c.expect);
type Via = 'webhook' | 'cli';

async function rejectedRows(ctx: AppContext): Promise<RejectedEvent[]> {
  const rows: RejectedEvent[] = [];
  for await (const row of ctx.rejected.list()) rows.push(row);
  return rows;
}

/** Each case's effect in the context's tables; `extraVms` were recorded besides the corpus. */
async function expectEffects(
  ctx: AppContext,
  all: readonly Case[],
  via: Via,
  extraVms: readonly string[] = [],
): Promise<void> {
  const cases = all.map((c) => ({ ...c, expect: expectOf(c, via) }));
  const rejected = await rejectedRows(ctx);
  const expectedRejected = cases.filter((c) => c.expect === 'rejected');
  for (const c of expectedRejected) {
    const raw = key(c.event);
    const row = rejected.find((r) => r.raw === raw || (raw.length > 30_000 && raw.startsWith(r.raw)));
    expect(row, c.name).toBeDefined();
    expect(row?.reason, c.name).toContain(c.reason ?? '');
    // An intact copy: the event itself (or its first 30,000 characters, never half a surrogate pair),
    // never `[object Object]`.
    expect(row?.raw, c.name).not.toBe('[object Object]');
    expect(row?.raw.isWellFormed(), c.name).toBe(true);
    if (raw.length <= 30_000) expect(row?.raw, c.name).toBe(raw);
    else expect(row?.raw.length, c.name).toBeGreaterThanOrEqual(29_999);
  }
  // Nothing else was rejected: every row is one of the corpus's bad events.
  expect(rejected).toHaveLength(expectedRejected.length);
  for (const c of cases.filter((k) => k.expect === 'recorded')) {
    const timeline = await ctx.store.getTimeline(c.vm ?? '');
    expect(timeline?.segments.length, c.name).toBe(1);
    expect(timeline?.resourceId, c.name).toBe(c.vm);
  }
  // Rejected or skipped events left no timeline behind; OData-looking ids read only their own VM.
  const recordedVms = new Set([
    ...cases.flatMap((c) => (c.expect === 'recorded' ? [c.vm?.toLowerCase()] : [])),
    ...extraVms.map((id) => id.toLowerCase()),
  ]);
  for (const id of extraVms) expect((await ctx.store.getTimeline(id))?.segments.length, id).toBe(1);
  const current: string[] = [];
  for await (const page of ctx.store.listAllCurrent()) current.push(...page.map((r) => r.resourceId));
  expect(new Set(current.map((id) => id.toLowerCase()))).toEqual(recordedVms);
}

describe('bad input', () => {
  let cases: Case[];
  let afterwards: unknown;
  const contexts: AppContext[] = [];

  beforeAll(async () => {
    cases = await corpus();
    const good = cases.find((c) => c.name === 'good Event Grid start')?.event as Record<string, unknown>;
    afterwards = JSON.parse(
      JSON.stringify(good).replaceAll('good-01', 'after-01').replaceAll('good-1', 'after-1'),
    );
  });

  afterAll(async () => {
    for (const ctx of contexts) await dropTables(ctx).catch(() => undefined);
  });

  it('through the webhook: answers 200, rejects each bad event with its reason, records every good one; 413 for one larger than a delivery', async () => {
    const settings = testSettings();
    const ctx = createAppContext(loadConfig(settings), { log: silentLogger });
    contexts.push(ctx);
    await ctx.ensureTables();
    const host: LocalHost = await startLocalHost({
      registrations: appRegistrations(['vmEvents'], () => Promise.resolve(ctx)),
      queues: new StorageLocalQueues(tableConnectionString()),
      log: silentLogger,
      port: 0,
      timers: false,
    });
    // As Event Grid batches them: as many events per delivery as fit its limits. An event that alone
    // is larger than a delivery cannot come from Event Grid: the webhook answers 413 and stores nothing.
    const deliveries: Case[][] = [];
    const oversized: Case[] = [];
    let size = 2;
    for (const c of cases) {
      const bytes = Buffer.byteLength(serialise(c.event)) + 1;
      if (bytes + 2 > maxDeliveryBytes) {
        oversized.push(c);
        continue;
      }
      const last = deliveries.at(-1);
      if (last && size + bytes <= maxDeliveryBytes && last.length < maxEventsPerDelivery) {
        last.push(c);
        size += bytes;
      } else {
        deliveries.push([c]);
        size = 2 + bytes;
      }
    }
    expect(oversized.length).toBeGreaterThan(0);
    const post = (events: readonly unknown[]) =>
      fetch(`${host.url}/runtime/webhooks/eventgrid?functionName=vmEvents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
        body: serialise(events),
      });
    try {
      for (const delivery of deliveries)
        expect((await post(delivery.map((c) => c.event))).status, delivery[0]?.name).toBe(200);
      for (const c of oversized) expect((await post([c.event])).status, c.name).toBe(413);
      // The same deliveries again (Event Grid redelivers): still 200, nothing more stored.
      for (const delivery of deliveries)
        expect((await post(delivery.map((c) => c.event))).status, delivery[0]?.name).toBe(200);
      // Still serving after all that, and storage still takes entity-group transactions (in Azurite a
      // lone surrogate in a key would have broken every later one).
      const health = await fetch(`${host.url}/runtime/webhooks/eventgrid?functionName=vmEvents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
        body: JSON.stringify([afterwards]),
      });
      expect(health.status).toBe(200);
    } finally {
      await host.stop();
    }
    await expectEffects(
      ctx,
      cases.filter((c) => !oversized.includes(c)),
      'webhook',
      [vmId('after-01')],
    );
  });

  it('through vm-timeline ingest: reports each bad event with its reason, records every good one, exit 0', async () => {
    const settings = testSettings();
    const ctx = createAppContext(loadConfig(settings), { log: silentLogger });
    contexts.push(ctx);
    await ctx.ensureTables();
    const dir = await mkdtemp(path.join(tmpdir(), 'bad-input-'));
    try {
      const file = path.join(dir, 'corpus.json');
      await writeFile(file, serialise(cases.map((c) => c.event)));
      const run = await runCli([
        'ingest',
        file,
        '--storage',
        settings.TIMELINE_STORAGE ?? '',
        '--table-prefix',
        settings.TABLE_NAME_PREFIX ?? '',
        '--json',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as {
        events: number;
        recorded: number;
        skipped: number;
        rejected: Array<{ eventId: string | null; reason: string }>;
        failed: unknown[];
      };
      expect(report.events).toBe(cases.length);
      expect(report.failed).toEqual([]);
      expect(report.recorded).toBe(cases.filter((c) => expectOf(c, 'cli') === 'recorded').length);
      expect(report.skipped).toBe(cases.filter((c) => expectOf(c, 'cli') === 'skipped').length);
      const rejectedCases = cases.filter((c) => expectOf(c, 'cli') === 'rejected');
      expect(report.rejected).toHaveLength(rejectedCases.length);
      for (const c of rejectedCases)
        expect(
          report.rejected.some((r) => r.reason.includes(c.reason ?? '?')),
          c.name,
        ).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await expectEffects(ctx, cases, 'cli');
  });
});
