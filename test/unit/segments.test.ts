import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advanceCurrent, deriveCurrent, isAfter, openSegmentOf } from '../../src/domain/current';
import type { Observation } from '../../src/domain/observation';
import { applyObservation, canonicalObservations, deriveSegments } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';
import { delivery, history, observation } from '../support/histories';

const vm = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1';
const t = (iso: string) => Date.parse(iso);
const obs = (iso: string, state: Observation['state'], id: string, extra: Partial<Observation> = {}) =>
  observation(vm, iso, state, id, extra);

describe('deriveSegments', () => {
  it('turns observations into billed and not-billed segments, merging equal consecutive states', () => {
    const segments = deriveSegments([
      obs('2026-11-01T08:00:00Z', 'running', 'a'),
      obs('2026-11-01T09:00:00Z', 'running', 'b'),
      obs('2026-11-01T12:00:00Z', 'stopped', 'c', {
        operation: 'Microsoft.Compute/virtualMachines/powerOff/action',
        caller: 'bob',
      }),
      obs('2026-11-01T13:00:00Z', 'deallocated', 'd'),
    ]);
    expect(segments).toEqual([
      {
        state: 'running',
        billing: 'billed',
        start: t('2026-11-01T08:00:00Z'),
        end: t('2026-11-01T12:00:00Z'),
        source: 'event',
      },
      {
        state: 'stopped',
        billing: 'billed',
        start: t('2026-11-01T12:00:00Z'),
        end: t('2026-11-01T13:00:00Z'),
        source: 'event',
        operation: 'Microsoft.Compute/virtualMachines/powerOff/action',
        caller: 'bob',
      },
      { state: 'deallocated', billing: 'notBilled', start: t('2026-11-01T13:00:00Z'), source: 'event' },
    ]);
  });

  it('keeps no zero-length segment when two states share one instant: the later observation wins', () => {
    const segments = deriveSegments([
      obs('2026-11-01T08:00:00Z', 'running', 'a'),
      obs('2026-11-01T09:00:00Z', 'stopped', 'b'),
      obs('2026-11-01T09:00:00Z', 'running', 'c'),
    ]);
    expect(segments).toEqual([
      { state: 'running', billing: 'billed', start: t('2026-11-01T08:00:00Z'), source: 'event' },
    ]);
  });

  it('ignores observations without a power state', () => {
    const segments = deriveSegments([
      obs('2026-11-01T08:00:00Z', 'running', 'a'),
      obs('2026-11-01T09:00:00Z', undefined, 'f', { provisioning: { state: 'failed' } }),
    ]);
    expect(segments).toHaveLength(1);
    expect(segments[0]?.end).toBeUndefined();
  });

  it('keeps a reconcile window, clamped to the start of the previous state', () => {
    const segments = deriveSegments([
      obs('2026-11-01T08:00:00Z', 'running', 'a'),
      obs('2026-11-01T08:10:00Z', 'stopped', 'r', {
        source: 'reconcile',
        windowFrom: t('2026-11-01T07:00:00Z'),
      }),
    ]);
    expect(segments[1]).toMatchObject({
      start: t('2026-11-01T08:10:00Z'),
      startWindowFrom: t('2026-11-01T08:00:00Z'),
    });
  });

  it('gives the same segments for any order and any duplication of the same observations', () => {
    fc.assert(
      fc.property(
        history(vm).chain((h) => fc.tuple(fc.constant(h), delivery(h))),
        ([inOrder, delivered]) => {
          expect(deriveSegments(delivered)).toEqual(deriveSegments(inOrder));
          const from = t('2026-10-01T00:00:00Z');
          const to = t('2026-10-05T00:00:00Z');
          expect(usageOf(deriveSegments(delivered), from, to, to)).toEqual(
            usageOf(deriveSegments(inOrder), from, to, to),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reaches the same segments and current state appending in order as deriving all at once', () => {
    fc.assert(
      fc.property(history(vm), (h) => {
        let current: ReturnType<typeof advanceCurrent> | undefined;
        const segments: ReturnType<typeof deriveSegments> = [];
        const ordered = canonicalObservations(h);
        for (const [i, o] of ordered.entries()) {
          if (current !== undefined) expect(isAfter(o, current.last)).toBe(true);
          const open = openSegmentOf(current);
          const step = applyObservation(open, o);
          if (step.needsHistory) {
            // The store re-derives from the whole history in this case.
            segments.splice(0, segments.length, ...deriveSegments(ordered.slice(0, i + 1)));
            current = deriveCurrent(ordered.slice(0, i + 1));
            continue;
          }
          const last = segments[segments.length - 1];
          if (step.closedAt !== undefined && last !== undefined) last.end = step.closedAt;
          if (step.opened !== undefined) segments.push(step.opened);
          current = advanceCurrent(current, o, step.opened);
        }
        expect(segments).toEqual(deriveSegments(h));
        const derived = deriveCurrent(h);
        expect({ ...current, resourceId: vm }).toEqual({ ...derived, resourceId: vm });
      }),
      { numRuns: 300 },
    );
  });
});
