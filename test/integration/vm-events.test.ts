import { InvocationContext, type EventGridEvent } from '@azure/functions';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vmEvents } from '../../functions/vmEvents';
import { silentLogger } from '../../src/adapters/logger';
import { ingestEvent } from '../../src/app/ingest-event';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testSettings } from '../support/app';
import {
  cloudEvent,
  eventGridEvent,
  healthEvent,
  recentTime,
  scaleSetResourceId,
  subscriptionId,
  type EventSpec,
  vmEvent,
  vmResourceId,
} from '../support/events';

/** Invokes the registered handler the way the Functions host does: one invocation per event. */
async function deliver(event: unknown) {
  const context = new InvocationContext({
    functionName: 'vmEvents',
    invocationId: `inv-${Math.random()}`,
    logHandler: () => {},
  });
  return vmEvents(event as EventGridEvent, context);
}

describe('vmEvents (Event Grid trigger) against Azurite and the management emulator', () => {
  let arm: ArmEmulator;
  let ctx: AppContext;
  const settings: Record<string, string> = {};

  beforeAll(async () => {
    arm = await startArmEmulator({ pageSize: 2 });
    arm.fleet.addSubscription(subscriptionId);
    Object.assign(settings, testSettings(arm.url));
    // The handler reads its settings from the environment, like app settings in Azure.
    Object.assign(process.env, settings);
    ctx = createAppContext(loadConfig(settings), { log: silentLogger });
  });

  afterAll(async () => {
    await arm.close();
    for (const name of Object.values(ctx.tableNames))
      await ctx.tables
        .table(name)
        .deleteTable()
        .catch(() => undefined);
  });

  it('records every certain operation at its event time without calling management, in both schemas', async () => {
    const before = arm.requests.total;
    const ops = [
      ['start', recentTime('08:00'), 'eventGrid'],
      ['powerOff', recentTime('09:00'), 'cloudEvents'],
      ['restart', recentTime('10:00'), 'eventGrid'],
      ['deallocate', recentTime('11:00'), 'cloudEvents'],
      ['start', recentTime('12:00'), 'cloudEvents'],
      ['delete', recentTime('13:00'), 'eventGrid'],
    ] as const;
    for (const [i, [op, time, schema]] of ops.entries()) {
      const result = await deliver(vmEvent('Ops-1', op, time, `ops-${i}`, schema));
      expect(result.outcome).toBe('recorded');
    }
    expect(arm.requests.total).toBe(before);
    const timeline = await ctx.store.getTimeline(vmResourceId('Ops-1'));
    expect(timeline?.segments.map((s) => [s.state, s.billing, new Date(s.start).toISOString()])).toEqual([
      ['running', 'billed', recentTime('08:00')],
      ['stopped', 'billed', recentTime('09:00')],
      ['running', 'billed', recentTime('10:00')],
      ['deallocated', 'notBilled', recentTime('11:00')],
      ['running', 'billed', recentTime('12:00')],
      ['deleted', 'notBilled', recentTime('13:00')],
    ]);
    expect(timeline?.segments[0]?.caller).toBe('alice@contoso.com');
  });

  it('records hibernation from a deallocate with hibernate=true', async () => {
    const id = vmResourceId('Sleepy');
    await deliver(vmEvent('Sleepy', 'start', recentTime('08:00'), 'h-0'));
    const spec: EventSpec = {
      id: 'h-1',
      resourceUri: id,
      operationName: 'Microsoft.Compute/virtualMachines/deallocate/action',
      type: 'ResourceActionSuccess',
      time: recentTime('18:00'),
      url: `https://management.azure.com${id}/deallocate?hibernate=true&api-version=2024-07-01`,
    };
    await deliver(cloudEvent(spec));
    expect((await ctx.store.getCurrent(id))?.state).toBe('hibernated');
  });

  it('reads the instance view once after a write and records what it says', async () => {
    const vm = arm.fleet.addVm({
      subscriptionId,
      resourceGroup: 'rg-app',
      name: 'Created-1',
      powerState: 'running',
    });
    const before = arm.requests.total;
    const write = eventGridEvent({
      id: 'w-1',
      resourceUri: vm.id,
      operationName: 'Microsoft.Compute/virtualMachines/write',
      type: 'ResourceWriteSuccess',
      time: new Date(Date.now() - 60_000).toISOString(),
    });
    const result = await deliver(write);
    expect(result).toMatchObject({ outcome: 'recorded', managementCalls: 1 });
    expect(arm.requests.total - before).toBe(1);
    const current = await ctx.store.getCurrent(vm.id);
    expect(current).toMatchObject({ state: 'running', provisioning: { state: 'succeeded' } });
    // The same write delivered again reads nothing and records nothing.
    const again = await deliver(write);
    expect(again.outcome).toBe('duplicate');
    expect(arm.requests.total - before).toBe(1);
  });

  it('takes Resource Health events through the same trigger: the documented sample, one read, the reason kept', async () => {
    const vm = arm.fleet.addVm({
      subscriptionId,
      resourceGroup: 'rg-app',
      name: 'Guest-1',
      powerState: 'running',
    });
    expect((await deliver(vmEvent('Guest-1', 'start', recentTime('08:00'), 'g-start'))).outcome).toBe(
      'recorded',
    );
    arm.fleet.setPowerState(vm.id, 'stopped');
    // Microsoft's documented CloudEvents sample, its placeholders filled in and its annotation a guest shutdown.
    const sample = readFileSync(
      path.join(
        __dirname,
        '..',
        'fixtures',
        'health-events',
        'docs-health-ResourceAnnotated-cloudevents.json',
      ),
      'utf8',
    )
      .replaceAll(
        '/subscriptions/{subscription-id}/resourceGroups/{rg-name}/providers/Microsoft.Compute/virtualMachines/{vm-name}',
        vm.id,
      )
      .replaceAll('{subscription-id}', subscriptionId)
      .replaceAll('{event-id}', 'g-annotation')
      .replaceAll('2023-07-24T19:20:37.9245071Z', recentTime('08:30'))
      .replaceAll('VirtualMachineDeallocationInitiated', 'VirtualMachineStoppedInternally');
    const before = arm.requests.total;
    expect(await deliver(JSON.parse(sample))).toMatchObject({ outcome: 'recorded', managementCalls: 1 });
    expect(arm.requests.total - before).toBe(1);
    const timeline = await ctx.store.getTimeline(vm.id);
    expect(timeline?.segments.map((s) => [s.state, s.start, s.source, s.reason?.name])).toEqual([
      ['running', Date.parse(recentTime('08:00')), 'event', undefined],
      ['stopped', Date.parse(recentTime('08:30')), 'resourceHealth', 'VirtualMachineStoppedInternally'],
    ]);
    // An availability change of a running VM in the Event Grid schema: it may read once, never invents a change.
    const availability = healthEvent({
      id: 'g-avail',
      resourceUri: vm.id,
      availability: 'Unavailable',
      occurred: recentTime('08:40'),
    });
    expect((await deliver(availability)).recorded).toBe(0);
    expect((await ctx.store.getTimeline(vm.id))?.segments).toHaveLength(2);
  });

  it('re-lists a scale set after a scale-set-wide action and deletes instances when the set is deleted', async () => {
    const ss = arm.fleet.addScaleSet({
      subscriptionId,
      resourceGroup: 'rg-app',
      name: 'pool',
      capacity: 3,
      instance: { powerState: 'stopped' },
    });
    const action = eventGridEvent({
      id: 'ss-1',
      resourceUri: ss.id,
      operationName: 'Microsoft.Compute/virtualMachineScaleSets/powerOff/action',
      type: 'ResourceActionSuccess',
      time: new Date(Date.now() - 60_000).toISOString(),
    });
    const result = await deliver(action);
    expect(result.recorded).toBe(3);
    for (const i of ['0', '1', '2'])
      expect((await ctx.store.getCurrent(`${ss.id}/virtualMachines/${i}`))?.state).toBe('stopped');
    const deleted = eventGridEvent({
      id: 'ss-2',
      resourceUri: scaleSetResourceId('pool'),
      operationName: 'Microsoft.Compute/virtualMachineScaleSets/delete',
      type: 'ResourceDeleteSuccess',
      time: new Date().toISOString(),
    });
    expect((await deliver(deleted)).recorded).toBe(3);
    expect((await ctx.store.getCurrent(`${ss.id}/virtualMachines/1`))?.state).toBe('deleted');
  });

  it('records a failed operation as provisioning failed without changing the power state', async () => {
    const id = vmResourceId('Flaky');
    await deliver(vmEvent('Flaky', 'start', recentTime('08:00'), 'f-0'));
    const failure = eventGridEvent({
      id: 'f-1',
      resourceUri: id,
      operationName: 'Microsoft.Compute/virtualMachines/deallocate/action',
      type: 'ResourceActionFailure',
      time: recentTime('09:00'),
    });
    expect((await deliver(failure)).outcome).toBe('recorded');
    expect(await ctx.store.getCurrent(id)).toMatchObject({
      state: 'running',
      provisioning: { state: 'failed' },
    });
    expect((await ctx.store.getTimeline(id))?.segments).toHaveLength(1);
  });

  it('acknowledges bad events with a recorded reason while the good ones of the batch are recorded', async () => {
    const batch: unknown[] = [
      vmEvent('Batch-1', 'start', recentTime('08:00'), 'b-ok-1'),
      { ...vmEvent('Batch-1', 'powerOff', 'not a time', 'b-bad-1') },
      {
        id: 'b-bad-2',
        eventType: 'Microsoft.Resources.ResourceActionSuccess',
        eventTime: recentTime('09:00'),
        subject: vmResourceId('Batch-1'),
        data: {
          operationName: 'Microsoft.Compute/virtualMachines/start/action',
          resourceUri: `${vmResourceId('x')}\u0007`,
        },
      },
      eventGridEvent({
        id: 'b-skip',
        resourceUri: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s',
        operationName: 'Microsoft.Storage/storageAccounts/write',
        type: 'ResourceWriteSuccess',
        time: recentTime('09:00'),
      }),
      vmEvent('Batch-1', 'deallocate', recentTime('10:00'), 'b-ok-2'),
    ];
    // The host invokes the function once per event of the array, in parallel.
    const results = await Promise.all(batch.map((e) => deliver(e)));
    expect(results.map((r) => r.outcome)).toEqual([
      'recorded',
      'rejected',
      'rejected',
      'skipped',
      'recorded',
    ]);
    expect(results[1]?.reason).toMatch(/event time/);
    const rejected = [];
    for await (const r of ctx.rejected.list()) rejected.push(r);
    expect(rejected.map((r) => r.eventId).sort()).toEqual(['b-bad-1', 'b-bad-2']);
    expect(rejected.find((r) => r.eventId === 'b-bad-1')?.raw).toContain('not a time');
    expect((await ctx.store.getTimeline(vmResourceId('Batch-1')))?.segments.map((s) => s.state)).toEqual([
      'running',
      'deallocated',
    ]);
  });

  it('throws on a transient storage failure so Event Grid redelivers', async () => {
    const broken = createAppContext(
      loadConfig({ ...settings, TIMELINE_STORAGE: 'http://127.0.0.1:9/devstoreaccount1' }),
      {
        log: silentLogger,
      },
    );
    await expect(
      ingestEvent(vmEvent('Down', 'start', recentTime('08:00'), 'down-1'), broken),
    ).rejects.toThrow();
  });
});
