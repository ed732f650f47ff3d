import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertPartitions } from '../../src/adapters/table-alert-store';
import { alertOptionsFrom } from '../../src/composition';
import {
  autoDeallocateOperation,
  evaluateAlerts,
  type AlertOptions,
  type EvaluationSummary,
} from '../../src/app/evaluate-alerts';
import { ingestEvent } from '../../src/app/ingest-event';
import { reconcileSubscription } from '../../src/app/reconcile';
import { listStopped } from '../../src/app/stopped';
import { main } from '../../kit/cli';
import type { AppContext } from '../../src/composition';
import { alertEventId, alertEventTypes } from '../../src/domain/alerts';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { dropTables, testContext, testSettings } from '../support/app';
import { healthEvent, subscriptionId as sub, vmEvent, vmResourceId } from '../support/events';
import { startEventGridReceiver, type EventGridReceiver } from '../support/eventgrid-receiver';

const minute = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const hhmm = (ms: number) => iso(ms).slice(11, 16);

describe('Stopped (allocated) alerts against Azurite, the ARM emulator and a loopback Event Grid topic', () => {
  let receiver: EventGridReceiver;
  let emulator: ArmEmulator;
  let ctx: AppContext;
  let settings: Record<string, string>;
  let clock: number;
  let options: AlertOptions;
  // Whole minutes, three hours ago: every event time stays in the past.
  const t0 = Math.floor(Date.now() / minute) * minute - 180 * minute;
  let eventSeq = 0;

  const deps = () => ({ ...ctx, now: () => clock });

  async function ingest(name: string, op: 'start' | 'powerOff' | 'deallocate', at: number): Promise<void> {
    clock = Math.max(clock, at);
    const result = await ingestEvent(vmEvent(name, op, iso(at), `evt-${++eventSeq}`), deps());
    expect(result.outcome).toBe('recorded');
  }

  async function evaluateAt(at: number, extra: Partial<AlertOptions> = {}): Promise<EvaluationSummary> {
    clock = at;
    return evaluateAlerts(deps(), { ...options, ...extra });
  }

  const received = (type: string, resourceId?: string) =>
    receiver.events.filter((e) => e.type === type && (resourceId === undefined || e.subject === resourceId));

  beforeAll(async () => {
    receiver = await startEventGridReceiver();
    emulator = await startArmEmulator();
  });
  afterAll(async () => {
    await receiver.close();
    await emulator.close();
  });

  beforeEach(async () => {
    receiver.reset();
    for (const s of emulator.fleet.listSubscriptions()) emulator.fleet.removeSubscription(s.subscriptionId);
    settings = {
      ...testSettings(emulator.url),
      ALERT_TOPIC_ENDPOINT: receiver.url,
      STOPPED_ALERT_GRACE_MINUTES: '15',
    };
    clock = t0;
    ctx = await testContext(settings, { now: () => clock });
    options = { ...alertOptionsFrom(ctx.config), claimInMs: 30_000 };
  });
  afterEach(async () => {
    await dropTables(ctx);
  });

  it('alerts a VM powered off past the grace period, not a minute before, with who stopped it', async () => {
    await ingest('web-01', 'start', t0);
    await ingest('web-01', 'powerOff', t0 + 10 * minute);
    const since = t0 + 10 * minute;

    const before = await evaluateAt(since + 15 * minute - 1);
    expect(before).toMatchObject({ stopped: 1, withinGrace: 1, pastGrace: 0, published: 0 });
    expect(receiver.events).toEqual([]);

    const at = await evaluateAt(since + 15 * minute);
    expect(at).toMatchObject({ stopped: 1, pastGrace: 1, enqueued: { detected: 1 }, published: 1 });
    const [detected] = received(alertEventTypes.detected);
    const id = vmResourceId('web-01');
    expect(detected).toMatchObject({
      id: alertEventId(id, since, 'detected'),
      specversion: '1.0',
      subject: id,
      data: {
        kind: 'detected',
        resourceId: id,
        name: 'web-01',
        resourceGroup: 'rg-app',
        subscriptionId: sub,
        since: iso(since),
        durationSeconds: 15 * 60,
        billedSeconds: 15 * 60,
        stoppedBy: {
          operation: 'Microsoft.Compute/virtualMachines/powerOff/action',
          caller: 'alice@contoso.com',
          source: 'event',
          description: 'powered off by alice@contoso.com (Event Grid)',
          reason: null,
        },
      },
    });
    expect(receiver.rejected).toEqual([]);
  });

  it('does not alert on stopped blips of a creation or a start from deallocated', async () => {
    const id = vmResourceId('blip-01');
    // Creation: stopped as the instance view shows it mid-create, then running.
    await ctx.store.record({
      resourceId: id,
      at: t0,
      state: 'stopped',
      source: 'instanceView',
      dedupeId: 'c1',
    });
    expect((await evaluateAt(t0 + minute)).withinGrace).toBe(1);
    await ctx.store.record({
      resourceId: id,
      at: t0 + 2 * minute,
      state: 'running',
      source: 'instanceView',
      dedupeId: 'c2',
    });
    // Start from deallocated: deallocated, briefly stopped, running.
    await ctx.store.record({
      resourceId: id,
      at: t0 + 30 * minute,
      state: 'deallocated',
      source: 'event',
      dedupeId: 'd1',
    });
    await ctx.store.record({
      resourceId: id,
      at: t0 + 60 * minute,
      state: 'stopped',
      source: 'instanceView',
      dedupeId: 's1',
    });
    await ctx.store.record({
      resourceId: id,
      at: t0 + 61 * minute,
      state: 'running',
      source: 'event',
      dedupeId: 's2',
    });

    const summary = await evaluateAt(t0 + 120 * minute);

    expect(summary).toMatchObject({ stopped: 0, pastGrace: 0, published: 0 });
    expect(receiver.events).toEqual([]);
    expect((await listStopped(ctx, clock)).vms).toEqual([]);
  });

  it('exempts a VM tagged expected-stopped=true (any casing) and VMs matched by a pattern', async () => {
    await ingest('tagged-01', 'powerOff', t0);
    await ctx.store.updateDetails(vmResourceId('tagged-01'), { tags: { 'Expected-Stopped': 'TRUE' } }, t0);
    const lab = vmResourceId('lab-01', 'rg-lab-west');
    await ctx.store.record({ resourceId: lab, at: t0, state: 'stopped', source: 'event', dedupeId: 'l1' });
    await ingest('plain-01', 'powerOff', t0);

    const summary = await evaluateAt(t0 + 30 * minute, {
      expectedStoppedPatterns: [`/subscriptions/${sub}/resourcegroups/RG-LAB-*`],
    });

    expect(summary).toMatchObject({ stopped: 3, exempt: 2, pastGrace: 1, published: 1 });
    expect(received(alertEventTypes.detected).map((e) => e.subject)).toEqual([vmResourceId('plain-01')]);
    const report = await listStopped(
      {
        ...ctx,
        alertRules: {
          ...ctx.alertRules,
          expectedStoppedPatterns: [`/subscriptions/${sub}/resourceGroups/rg-lab-*`],
        },
      },
      clock,
    );
    const states = Object.fromEntries(report.vms.map((v) => [v.resourceId, [v.exempt, v.alertState]]));
    expect(states).toEqual({
      [vmResourceId('tagged-01')]: [true, 'exempt'],
      [lab]: [true, 'exempt'],
      [vmResourceId('plain-01')]: [false, 'sent'],
    });
  });

  it('publishes one Detected per episode across many and concurrent evaluations', async () => {
    await ingest('busy-01', 'powerOff', t0);

    await Promise.all(Array.from({ length: 6 }, () => evaluateAt(t0 + 20 * minute)));
    for (let m = 21; m < 25; m++) await evaluateAt(t0 + m * minute);

    expect(received(alertEventTypes.detected)).toHaveLength(1);
    expect(receiver.requests).toBe(1);
  });

  it('publishes Resolved with the billed seconds of the episode when the VM leaves Stopped (allocated)', async () => {
    const id = vmResourceId('cost-01');
    await ingest('cost-01', 'start', t0);
    await ingest('cost-01', 'powerOff', t0 + 10 * minute);
    await evaluateAt(t0 + 30 * minute);
    await ingest('cost-01', 'deallocate', t0 + 60 * minute);

    const summary = await evaluateAt(t0 + 61 * minute);

    expect(summary).toMatchObject({ stopped: 0, enqueued: { resolved: 1 }, published: 1 });
    const [resolved] = received(alertEventTypes.resolved, id);
    expect(resolved).toMatchObject({
      id: alertEventId(id, t0 + 10 * minute, 'resolved'),
      data: {
        kind: 'resolved',
        since: iso(t0 + 10 * minute),
        endedAt: iso(t0 + 60 * minute),
        durationSeconds: 50 * 60,
        billedSeconds: 50 * 60,
        billedSecondsMin: 50 * 60,
        billedSecondsMax: 50 * 60,
      },
    });
    expect(resolved?.data?.['episodeId']).toBe(
      received(alertEventTypes.detected, id)[0]?.data?.['episodeId'],
    );
    // The episode is done: nothing left in the index, nothing sent twice.
    await evaluateAt(t0 + 70 * minute);
    expect(receiver.events).toHaveLength(2);
    expect((await listStopped(ctx, clock)).vms).toEqual([]);
  });

  it('keeps a failed publish pending and retries it next run with the same id and content', async () => {
    const id = vmResourceId('retry-01');
    await ingest('retry-01', 'powerOff', t0);
    receiver.failNext(100);

    const failed = await evaluateAt(t0 + 16 * minute);
    expect(failed).toMatchObject({ enqueued: { detected: 1 }, publishFailed: 1, published: 0 });
    expect(receiver.events).toEqual([]);
    const eventId = alertEventId(id, t0, 'detected');
    expect(await ctx.alerts.get(eventId)).toMatchObject({ status: 'pending', attempts: 1 });
    expect((await listStopped(ctx, clock)).vms[0]?.alertState).toBe('due');

    receiver.failNext(0);
    const retried = await evaluateAt(t0 + 17 * minute);

    expect(retried).toMatchObject({ enqueued: { detected: 0 }, published: 1 });
    expect(receiver.events.map((e) => e.id)).toEqual([eventId]);
    // The event raised at the first attempt, not rebuilt: same time, same duration.
    expect(receiver.events[0]).toMatchObject({
      time: iso(t0 + 16 * minute),
      data: { durationSeconds: 16 * 60 },
    });
    expect(await ctx.alerts.get(eventId)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('alerts a guest-OS shutdown the reconciler found, saying honestly that nothing explains it', async () => {
    const id = emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name: 'guest-01' }).id;
    await reconcileSubscription(sub, deps());
    emulator.fleet.setPowerState(id, 'stopped');
    clock = t0 + 5 * minute;
    await reconcileSubscription(sub, deps());

    expect((await evaluateAt(t0 + 19 * minute)).withinGrace).toBe(1);
    const summary = await evaluateAt(t0 + 20 * minute);

    expect(summary).toMatchObject({ pastGrace: 1, published: 1 });
    expect(received(alertEventTypes.detected, id)[0]?.data).toMatchObject({
      since: iso(t0 + 5 * minute),
      sinceWindowFrom: iso(t0),
      stoppedBy: {
        operation: null,
        caller: null,
        source: 'reconcile',
        description: `unknown: found by the reconciler between ${hhmm(t0)} and ${hhmm(t0 + 5 * minute)} UTC`,
      },
      vmSize: 'Standard_D2s_v5',
      location: 'westeurope',
    });
  });

  it('alerts a guest-OS shutdown with its Resource Health annotation: placed at its minute, saying why', async () => {
    const id = emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name: 'guest-02' }).id;
    await reconcileSubscription(sub, deps());
    emulator.fleet.setPowerState(id, 'stopped');
    clock = t0 + 5 * minute;
    await reconcileSubscription(sub, deps());
    // The annotation arrives late (after the reconciler found the stop) and twice.
    clock = t0 + 7 * minute;
    const annotation = healthEvent({
      id: 'annotation-guest-02',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t0 + 2 * minute),
      time: iso(t0 + 7 * minute),
      context: 'VM Initiated',
    });
    expect(await ingestEvent(annotation, deps())).toMatchObject({ outcome: 'recorded', managementCalls: 0 });
    expect(await ingestEvent(annotation, deps())).toMatchObject({ outcome: 'duplicate', managementCalls: 0 });

    const summary = await evaluateAt(t0 + 20 * minute);

    expect(summary).toMatchObject({ pastGrace: 1, published: 1 });
    expect(received(alertEventTypes.detected, id)[0]?.data).toMatchObject({
      since: iso(t0 + 2 * minute),
      sinceWindowFrom: iso(t0),
      stoppedBy: {
        source: 'resourceHealth',
        description: `shut down from inside the guest OS at ${hhmm(t0 + 2 * minute)} UTC (Resource Health annotation)`,
        reason: {
          name: 'VirtualMachineStoppedInternally',
          context: 'VM Initiated',
          at: iso(t0 + 2 * minute),
        },
      },
    });
    const timeline = await ctx.store.getTimeline(id);
    expect(timeline?.segments.at(-1)).toMatchObject({
      state: 'stopped',
      start: t0 + 2 * minute,
      reason: { name: 'VirtualMachineStoppedInternally' },
    });
  });

  it('heals the index from VmCurrent when an index update was lost', async () => {
    await ingest('lost-01', 'powerOff', t0);
    const table = ctx.tables.table(ctx.tableNames.alerts);
    for await (const row of table.listEntities({
      queryOptions: { filter: `PartitionKey eq '${alertPartitions.stopped}'` },
    }))
      await table.deleteEntity(row.partitionKey ?? '', row.rowKey ?? '');

    const summary = await evaluateAt(t0 + 20 * minute, { sync: true });

    expect(summary).toMatchObject({ synced: true, pastGrace: 1, published: 1 });
  });

  it('auto-deallocates a VM left stopped that long, and records its own action on the timeline', async () => {
    const id = emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg-app', name: 'fix-01' }).id;
    await ingest('fix-01', 'powerOff', t0);
    emulator.fleet.setPowerState(id, 'stopped');

    const dry = await evaluateAt(t0 + 31 * minute, {
      autoDeallocateAfterInMinutes: 30,
      autoDeallocateDryRun: true,
    });
    expect(dry).toMatchObject({ wouldDeallocate: 1, deallocated: 0 });
    expect(emulator.fleet.getVm(id)?.powerState).toBe('stopped');

    const real = await evaluateAt(t0 + 32 * minute, {
      autoDeallocateAfterInMinutes: 30,
      autoDeallocateDryRun: false,
    });
    expect(real).toMatchObject({ deallocated: 1 });
    expect(emulator.fleet.getVm(id)?.powerState).toBe('deallocated');
    const segments = (await ctx.store.getTimeline(id))?.segments ?? [];
    expect(segments.at(-1)).toMatchObject({ state: 'deallocated', operation: autoDeallocateOperation });

    await evaluateAt(t0 + 33 * minute);
    expect(received(alertEventTypes.resolved, id)).toHaveLength(1);
  });

  it('vm-timeline stopped --json lists the VMs stopped now with their alert state', async () => {
    await ingest('cli-01', 'powerOff', t0);
    await evaluateAt(t0 + 20 * minute);
    let stdout = '';
    const code = await main(
      [
        'stopped',
        '--json',
        '--storage',
        settings['TIMELINE_STORAGE'] ?? '',
        '--table-prefix',
        settings['TABLE_NAME_PREFIX'] ?? '',
      ],
      {
        stdout: { write: (chunk: string) => (stdout += chunk) },
        stderr: { write: () => true },
        stdin: Readable.from([]),
        env: {},
      },
    );

    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { asOf: string; vms: Record<string, unknown>[] };
    expect(Date.parse(report.asOf)).toBeGreaterThan(t0);
    expect(report.vms).toEqual([
      {
        resourceId: vmResourceId('cli-01'),
        since: iso(t0),
        seconds: expect.any(Number) as number,
        exempt: false,
        alertState: 'sent',
      },
    ]);
  });
});
