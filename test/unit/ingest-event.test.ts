import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PermanentInputError } from '../../src/app/errors';
import { ingestEvent, serialise } from '../../src/app/ingest-event';
import type { IngestDependencies } from '../../src/app/ingest-outcome';
import { eventGridMaxEventAgeInMs } from '../../src/domain/events';
import { deriveSegments } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';
import { eventGridEvent, vmEvent, vmOperations, vmResourceId } from '../support/events';
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
    const write = eventGridEvent({
      id: 'w',
      resourceUri: id,
      operationName: 'Microsoft.Compute/virtualMachines/write',
      type: 'ResourceWriteSuccess',
      time: '2026-11-01T10:00:00Z',
    });
    const result = await ingestEvent(write, d);
    expect(result).toMatchObject({ outcome: 'recorded', managementCalls: 1 });
    const current = await d.store.getCurrent(id);
    expect(current?.state).toBe('deleted');
    expect(current?.sinceWindowFrom).toBe(Date.parse('2026-11-01T10:00:00Z'));
  });

  it('records nothing when the instance view has no power state', async () => {
    const d = deps();
    const id = vmResourceId('vm3');
    d.management.instanceViews.set(id.toLowerCase(), [{ code: 'OSState/generalized' }]);
    const write = eventGridEvent({
      id: 'w3',
      resourceUri: id,
      operationName: 'Microsoft.Compute/virtualMachines/write',
      type: 'ResourceWriteSuccess',
      time: '2026-11-01T10:00:00Z',
    });
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
});
