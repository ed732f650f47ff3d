import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveSegments } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';
import type { Observation } from '../../src/domain/observation';
import { history } from '../support/histories';

const vm = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1';
const t = (iso: string) => Date.parse(iso);
const o = (iso: string, state: Observation['state'], extra: Partial<Observation> = {}): Observation => ({
  resourceId: vm,
  at: t(iso),
  state,
  source: 'event',
  dedupeId: iso,
  ...extra,
});

describe('usageOf', () => {
  const segments = deriveSegments([
    o('2026-11-01T08:00:00Z', 'running'),
    o('2026-11-01T10:00:00Z', 'stopped'),
    o('2026-11-01T11:00:00Z', 'deallocated'),
  ]);

  it('clips segments at the window edges and counts time before the first observation as unknown', () => {
    const usage = usageOf(
      segments,
      t('2026-11-01T07:00:00Z'),
      t('2026-11-01T12:00:00Z'),
      t('2026-11-02T00:00:00Z'),
    );
    expect(usage).toEqual({
      billedSeconds: 3 * 3600,
      notBilledSeconds: 3600,
      unknownSeconds: 3600,
      billedSecondsMin: 3 * 3600,
      billedSecondsMax: 3 * 3600,
    });
    const inner = usageOf(
      segments,
      t('2026-11-01T09:30:00Z'),
      t('2026-11-01T10:30:00Z'),
      t('2026-11-02T00:00:00Z'),
    );
    expect(inner.billedSeconds).toBe(3600);
  });

  it('stops the open segment at the moment of reading', () => {
    const usage = usageOf(
      segments,
      t('2026-11-01T11:00:00Z'),
      t('2026-11-01T13:00:00Z'),
      t('2026-11-01T12:00:00Z'),
    );
    expect(usage).toMatchObject({ notBilledSeconds: 3600, unknownSeconds: 3600 });
  });

  it('bounds billed seconds when a change is known only within a reconcile window', () => {
    const windowed = deriveSegments([
      o('2026-11-01T08:00:00Z', 'running'),
      o('2026-11-01T09:10:00Z', 'deallocated', {
        source: 'reconcile',
        windowFrom: t('2026-11-01T09:00:00Z'),
      }),
    ]);
    const usage = usageOf(
      windowed,
      t('2026-11-01T08:00:00Z'),
      t('2026-11-01T10:00:00Z'),
      t('2026-11-01T10:00:00Z'),
    );
    expect(usage).toEqual({
      billedSeconds: 65 * 60,
      notBilledSeconds: 55 * 60,
      unknownSeconds: 0,
      billedSecondsMin: 60 * 60,
      billedSecondsMax: 70 * 60,
    });
  });

  it('always has min <= estimate <= max and parts that add up to the window', () => {
    fc.assert(
      fc.property(
        history(vm),
        fc.integer({ min: 0, max: 3 * 24 * 60 }),
        fc.integer({ min: 1, max: 3 * 24 * 60 }),
        (h, a, len) => {
          const from = t('2026-10-01T00:00:00Z') + a * 60_000;
          const to = from + len * 60_000;
          const u = usageOf(deriveSegments(h), from, to, t('2026-10-05T00:00:00Z'));
          expect(u.billedSecondsMin).toBeLessThanOrEqual(u.billedSeconds + 1e-6);
          expect(u.billedSeconds).toBeLessThanOrEqual(u.billedSecondsMax + 1e-6);
          expect(u.billedSeconds + u.notBilledSeconds + u.unknownSeconds).toBeCloseTo((to - from) / 1000, 6);
        },
      ),
      { numRuns: 300 },
    );
  });
});
