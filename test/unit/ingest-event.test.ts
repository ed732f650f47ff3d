import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PermanentInputError } from '../../src/app/errors';
import { ingestEvent, serialise } from '../../src/app/ingest-event';
import type { IngestDependencies } from '../../src/app/ingest-outcome';
import { eventGridMaxEventAgeInMs } from '../../src/domain/events';
import { deriveSegments } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';
import { eventGridEvent, scaleSetResourceId, vmEvent, vmOperations, vmResourceId } from '../support/events';
import { FakeManagement, MemoryRejectedStore, MemoryTimelineStore, noLog } from '../support/fakes';

const now = Date.parse('2026-11-02T00:00:00Z');

function deps(): IngestDependencies & {
  store: MemoryTimelineStore;
  rejected: MemoryRejectedStore;
  management: FakeManagement;
} {
  return {
    store: new MemoryTimelineStore(),
    rejected: new MemoryRejectedStore(),
    management: new FakeManagement(),
    log: noLog,
    now: () => now,
  };
}

/** A successful write of the VM `resourceId` (an uncertain outcome: the state is read). */
function vmWrite(resourceId: string, id: string, time: string): Record<string, unknown> {
  return eventGridEvent({
    id,
    resourceUri: resourceId,
    operationName: 'Microsoft.Compute/virtualMachines/write',
    type: 'ResourceWriteSuccess',
    time,
  });
}

describe('ingestEvent', () => {
  it('makes no management call for start, restart, powerOff, deallocate and delete', async () => {
    const d = deps();
    for (const [i, op] of (Object.keys(vmOperations) as Array<keyof typeof vmOperations>).entries()) {
      const result = await ingestEvent(vmEvent('vm1', op, `2026-11-01T0${i}:00:00Z`, `e${i}`), d);
      expect(result).toMatchObject({ outcome: 'recorded', managementCalls: 0 });
    }
    expect(d.management.stats.requests).toBe(0);
  });

  it('reads once after a write, and treats a VM gone from the instance view as deleted', async () => {
    const d = deps();
    const id = vmResourceId('vm2');
    const write = vmWrite(id, 'w', '2026-11-01T10:00:00Z');
    const result = await ingestEvent(write, d);
    expect(result).toMatchObject({ outcome: 'recorded', managementCalls: 1 });
    const current = await d.store.getCurrent(id);
    expect(current?.state).toBe('deleted');
    // The first thing known of the VM: no earlier state, so no change to window.
    expect(current?.sinceWindowFrom).toBeUndefined();
  });

  it('records nothing when the instance view has no power state', async () => {
    const d = deps();
    const id = vmResourceId('vm3');
    d.management.instanceViews.set(id.toLowerCase(), [{ code: 'OSState/generalized' }]);
    const write = vmWrite(id, 'w3', '2026-11-01T10:00:00Z');
    expect((await ingestEvent(write, d)).outcome).toBe('skipped');
    expect(await d.store.getCurrent(id)).toBeUndefined();
  });

  it('records a rejected event with its reason and the event as delivered', async () => {
    const d = deps();
    const bad = { ...vmEvent('vm1', 'start', '2026-11-01T10:00:00Z', 'bad'), eventTime: 'soon' };
    expect(await ingestEvent(bad, d)).toMatchObject({
      outcome: 'rejected',
      reason: 'unparseable event time',
    });
    expect(d.rejected.items[0]).toMatchObject({
      eventId: 'bad',
      reason: 'unparseable event time',
      receivedAt: now,
    });
    expect(d.rejected.items[0]?.raw).toContain('"soon"');
  });

  it('keeps a 5,000-deep rejected event intact in the rejected copy (no [object Object])', async () => {
    const d = deps();
    let nested: unknown = 'bottom';
    for (let i = 0; i < 5_000; i += 1) nested = { deeper: nested };
    const bad = { ...vmEvent('vm1', 'start', '2026-11-01T10:00:00Z', 'deep'), eventTime: 'soon', nested };
    expect(() => JSON.stringify(bad)).toThrow(RangeError);

    expect(await ingestEvent(bad, d)).toMatchObject({
      outcome: 'rejected',
      reason: 'unparseable event time',
    });

    const raw = d.rejected.items[0]?.raw ?? '';
    expect(raw).not.toContain('[object Object]');
    let depth = 0;
    for (let node = (JSON.parse(raw) as { nested: unknown }).nested; typeof node === 'object'; depth += 1)
      node = (node as { deeper: unknown }).deeper;
    expect(depth).toBe(5_000);
  });

  it('rejects, with a reason and the event, what fails the same way on every delivery', async () => {
    const permanent: Array<[Error, RegExp]> = [
      [new PermanentInputError('storage refused the observation (400 Bad Request)'), /400 Bad Request/],
      [new URIError('URI malformed'), /does not encode/],
      [new RangeError('Maximum call stack size exceeded'), /stack overflow/],
    ];
    for (const [error, reason] of permanent) {
      const d = deps();
      d.store.record = () => Promise.reject(error);
      const event = vmEvent('vm1', 'start', '2026-11-01T10:00:00Z', `p-${error.name}`);
      const result = await ingestEvent(event, d);
      expect(result, error.name).toMatchObject({ outcome: 'rejected', eventId: `p-${error.name}` });
      expect(result.reason, error.name).toMatch(reason);
      expect(d.rejected.items).toEqual([
        expect.objectContaining({ eventId: `p-${error.name}`, raw: JSON.stringify(event) }),
      ]);
    }
    // A transient failure still throws, so Event Grid redelivers; nothing is rejected.
    const d = deps();
    d.store.record = () => Promise.reject(new Error('connection reset'));
    await expect(ingestEvent(vmEvent('vm1', 'start', '2026-11-01T10:00:00Z', 't'), d)).rejects.toThrow(
      'connection reset',
    );
    expect(d.rejected.items).toEqual([]);
  });

  it('keeps a rejected string with a lone surrogate as JSON text', () => {
    expect(serialise('x\udfff')).toBe('"x\\udfff"');
    expect(serialise('plain')).toBe('plain');
  });

  it('refuses events older than Event Grid delivers only with the Event Grid option', async () => {
    const old = vmEvent('vm1', 'start', '2010-01-02T00:00:00Z', 'old');
    const d = deps();
    const result = await ingestEvent(old, d, { maxEventAgeInMs: eventGridMaxEventAgeInMs });
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/older than Event Grid delivers/);
    expect(d.rejected.items).toHaveLength(1);
    expect(await ingestEvent(old, d)).toMatchObject({ outcome: 'recorded' });
  });

  it('gives the same billed seconds for any order and duplication of one VM’s deliveries', async () => {
    const ops = ['start', 'powerOff', 'start', 'deallocate', 'restart', 'deallocate'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...ops), fc.integer({ min: 0, max: 1440 })), {
          minLength: 1,
          maxLength: 15,
        }),
        fc.infiniteStream(fc.nat()),
        async (history, randomness) => {
          const events = history.map(([op, minute], i) =>
            vmEvent(
              'p',
              op,
              new Date(Date.parse('2026-11-01T00:00:00Z') + minute * 60_000).toISOString(),
              `p${i}`,
            ),
          );
          const inOrder = deps();
          for (const e of events) await ingestEvent(e, inOrder);
          const noisy = deps();
          const it = randomness[Symbol.iterator]();
          const shuffled = [...events, ...events.filter(() => (it.next().value as number) % 3 === 0)].sort(
            () => ((it.next().value as number) % 3) - 1,
          );
          for (const e of shuffled) await ingestEvent(e, noisy);
          const a = (await inOrder.store.getTimeline(vmResourceId('p')))?.segments ?? [];
          const b = (await noisy.store.getTimeline(vmResourceId('p')))?.segments ?? [];
          expect(b).toEqual(a);
          const from = Date.parse('2026-11-01T00:00:00Z');
          expect(usageOf(b, from, now, now)).toEqual(
            usageOf(deriveSegments([...inOrder.store.observations.values()].flat()), from, now, now),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  describe('a read after an operation whose outcome it shows', () => {
    // The operation began at 09:00 (billing changed then) and completed at 09:02 (the event's time); the
    // read is at 09:02:10. The instance was last seen running at 08:00.
    const at = (hhmmss: string) => Date.parse(`2026-11-01T${hhmmss}Z`);
    const readDeps = (marks?: IngestDependencies['marks']) => ({ ...deps(), marks, now: () => at('09:02:10') });
    const deallocated = [{ code: 'PowerState/deallocated' }];
    const instanceStart = (instance: string, id: string) =>
      eventGridEvent({
        id,
        resourceUri: instance,
        operationName: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/start/action',
        type: 'ResourceActionSuccess',
        time: '2026-11-01T08:00:00Z',
      });
    const scaleSetDeallocate = (scaleSet: string, id: string) =>
      eventGridEvent({
        id,
        resourceUri: scaleSet,
        operationName: 'Microsoft.Compute/virtualMachineScaleSets/deallocate/action',
        type: 'ResourceActionSuccess',
        time: '2026-11-01T09:02:00Z',
      });

    it('after a scale-set-wide operation, reaches back to when the instance was last seen in its old state', async () => {
      const d = readDeps();
      const ss = scaleSetResourceId('pool');
      const instance = `${ss}/virtualMachines/0`;
      await ingestEvent(instanceStart(instance, 'i0-start'), d);
      d.management.scaleSetInstances.set(ss.toLowerCase(), [{ resourceId: instance, statuses: deallocated }]);
      const result = await ingestEvent(scaleSetDeallocate(ss, 'ss-deallocate'), d);
      expect(result.recorded).toBe(1);
      const [running, stopped] = (await d.store.getTimeline(instance))?.segments ?? [];
      expect(running).toMatchObject({ state: 'running', start: at('08:00:00') });
      // The truth (09:00) lies inside the window: it reaches back to 08:00, not to the event's 09:02.
      expect(stopped).toMatchObject({
        state: 'deallocated',
        start: at('09:02:10'),
        startWindowFrom: at('08:00:00'),
      });
    });

    it('deletes an instance absent from the re-listing since it was last seen, reading the set’s rows once', async () => {
      const d = readDeps();
      const ss = scaleSetResourceId('shrunk');
      const [kept, gone] = [`${ss}/virtualMachines/0`, `${ss}/virtualMachines/1`];
      for (const [i, instance] of [kept, gone].entries())
        await ingestEvent(instanceStart(instance, `shrunk-start-${i}`), d);
      d.management.scaleSetInstances.set(ss.toLowerCase(), [{ resourceId: kept, statuses: deallocated }]);
      let reads = 0;
      const listScaleSetCurrent = d.store.listScaleSetCurrent.bind(d.store);
      d.store.listScaleSetCurrent = (scaleSetId) => {
        reads += 1;
        return listScaleSetCurrent(scaleSetId);
      };
      const result = await ingestEvent(scaleSetDeallocate(ss, 'shrunk-deallocate'), d);
      expect(result.recorded).toBe(2);
      expect(reads).toBe(1);
      expect(await d.store.getCurrent(gone)).toMatchObject({
        state: 'deleted',
        since: at('09:02:10'),
        sinceWindowFrom: at('08:00:00'),
      });
    });

    it('after a single VM’s uncertain operation (write, redeploy), the same', async () => {
      const d = readDeps();
      const id = vmResourceId('rw');
      await ingestEvent(vmEvent('rw', 'start', '2026-11-01T08:00:00Z', 'rw-start'), d);
      d.management.instanceViews.set(id.toLowerCase(), deallocated);
      await ingestEvent(vmWrite(id, 'rw-write', '2026-11-01T09:02:00Z'), d);
      expect(await d.store.getCurrent(id)).toMatchObject({
        state: 'deallocated',
        since: at('09:02:10'),
        sinceWindowFrom: at('08:00:00'),
      });
    });

    it('whichever arrives first: a read before the VM’s earlier event still reaches back to that state', async () => {
      const d = readDeps();
      const id = vmResourceId('rw-late');
      d.management.instanceViews.set(id.toLowerCase(), deallocated);
      const write = vmWrite(id, 'rw-late-write', '2026-11-01T09:02:00Z');
      // Nothing known of the VM at the read: one state, no change to window (not a window from 09:02).
      await ingestEvent(write, d);
      const alone = (await d.store.getTimeline(id))?.segments ?? [];
      expect(alone.map((g) => [g.state, g.start, g.startWindowFrom])).toEqual([
        ['deallocated', at('09:02:10'), undefined],
      ]);
      // The start of 08:00, delivered late: the change lies anywhere after it, as in the other order.
      await ingestEvent(vmEvent('rw-late', 'start', '2026-11-01T08:00:00Z', 'rw-late-start'), d);
      const [running, stopped] = (await d.store.getTimeline(id))?.segments ?? [];
      expect(running).toMatchObject({ state: 'running', start: at('08:00:00') });
      expect(stopped).toMatchObject({
        state: 'deallocated',
        start: at('09:02:10'),
        startWindowFrom: at('08:00:00'),
      });
    });

    it('uses the reconciler’s last confirmation of the old state when it is later', async () => {
      const startedAt = at('08:30:00');
      const d = readDeps({ getMark: () => Promise.resolve({ startedAt, unconfirmed: {} }) });
      const id = vmResourceId('rw2');
      await ingestEvent(vmEvent('rw2', 'start', '2026-11-01T08:00:00Z', 'rw2-start'), d);
      d.management.instanceViews.set(id.toLowerCase(), deallocated);
      await ingestEvent(
        eventGridEvent({
          id: 'rw2-redeploy',
          resourceUri: id,
          operationName: 'Microsoft.Compute/virtualMachines/redeploy/action',
          type: 'ResourceActionSuccess',
          time: '2026-11-01T09:02:00Z',
        }),
        d,
      );
      expect((await d.store.getCurrent(id))?.sinceWindowFrom).toBe(startedAt);
    });

    it('gives an instance seen for the first time one state and no window (no earlier state to change from)', async () => {
      const d = readDeps();
      const id = vmResourceId('fresh');
      d.management.instanceViews.set(id.toLowerCase(), deallocated);
      await ingestEvent(vmWrite(id, 'fresh-write', '2026-11-01T09:02:00Z'), d);
      expect(await d.store.getCurrent(id)).toMatchObject({ state: 'deallocated', since: at('09:02:10') });
      expect((await d.store.getCurrent(id))?.sinceWindowFrom).toBeUndefined();
    });
  });
});
