import { describe, expect, it } from 'vitest';
import { narrowStops, type StopCandidate } from '../../src/app/narrow-stops';
import type { AvailabilityMetricsClient, AvailabilityRequest } from '../../src/app/ports';
import { narrowStop, type AvailabilityPoint } from '../../src/domain/availability';
import { vmKey } from '../../src/domain/resource-id';
import { vmResourceId } from '../support/events';
import { MemoryTimelineStore, noLog } from '../support/fakes';

const minute = 60_000;
const t = (hhmm: string): number => Date.parse(`2026-11-01T${hhmm}:00Z`);

/** One point per minute from `from`, values as given (`null`: no value). */
function series(from: string, values: Array<number | null>): AvailabilityPoint[] {
  return values.map((v, i) => ({ at: t(from) + i * minute, average: v ?? undefined }));
}

describe('narrowStop', () => {
  it('places a guest shutdown (1 → 0) within one minute', () => {
    // 12:58 and 12:59 fully available, 13:00 partly, 13:01 on 0.
    const points = series('12:57', [1, 1, 1, 0.4, 0, 0, 0]);
    expect(narrowStop(points, t('12:58'), t('13:03'))).toEqual({
      windowFrom: t('12:59'),
      at: t('13:01'),
      kind: 'guest',
    });
  });

  it('says control plane when values stop, narrowing only the earliest bound', () => {
    const points = series('12:57', [1, 1, 1, null, null, null]);
    expect(narrowStop(points, t('12:58'), t('13:03'))).toEqual({
      windowFrom: t('12:59'),
      at: t('13:03'),
      kind: 'controlPlane',
    });
  });

  it('never widens the window and says nothing without a 1 inside it', () => {
    expect(narrowStop(series('12:50', [1, 0, 0]), t('12:58'), t('13:03'))).toBeUndefined();
    expect(narrowStop([], t('12:58'), t('13:03'))).toBeUndefined();
    const narrowed = narrowStop(series('12:55', [1, 1, 1, 1, 1, 1, 0]), t('12:58'), t('13:03'));
    expect(narrowed?.windowFrom).toBeGreaterThanOrEqual(t('12:58'));
    expect(narrowed?.at).toBeLessThanOrEqual(t('13:03'));
  });
});

/** A metrics client answering from a map of VM key → series; records each request. */
class FakeMetrics implements AvailabilityMetricsClient {
  readonly stats = { requests: 0, throttled: 0 };
  readonly calls: AvailabilityRequest[] = [];
  constructor(private readonly series: Map<string, AvailabilityPoint[]>) {}
  getAvailability(request: AvailabilityRequest): Promise<Map<string, AvailabilityPoint[]>> {
    this.stats.requests += 1;
    this.calls.push(request);
    return Promise.resolve(
      new Map(request.resourceIds.map((id) => [vmKey(id), this.series.get(vmKey(id)) ?? []])),
    );
  }
}

describe('narrowStops', () => {
  function candidate(name: string, region: string): StopCandidate {
    return {
      resourceId: vmResourceId(name),
      subscriptionId: 'sub',
      region,
      state: 'stopped',
      windowFrom: t('12:58'),
      at: t('13:03'),
      dedupeId: `r-${name}`,
    };
  }

  it('reads at most 50 VMs of one region and type per call, and records the minute with the guest reason', async () => {
    const candidates = [
      ...Array.from({ length: 101 }, (_, i) => candidate(`we-${i}`, 'westeurope')),
      ...Array.from({ length: 3 }, (_, i) => candidate(`ne-${i}`, 'northeurope')),
    ];
    const metrics = new FakeMetrics(
      new Map([[vmKey(vmResourceId('we-7')), series('12:57', [1, 1, 1, 0, 0, 0])]]),
    );
    const store = new MemoryTimelineStore();
    await store.record({
      resourceId: vmResourceId('we-7'),
      at: t('12:00'),
      state: 'running',
      source: 'reconcile',
      dedupeId: 'r0',
    });
    await store.record({
      resourceId: vmResourceId('we-7'),
      at: t('13:03'),
      windowFrom: t('12:58'),
      state: 'stopped',
      source: 'reconcile',
      dedupeId: 'r-we-7',
    });

    const summary = await narrowStops(candidates, { metrics, store, log: noLog });

    expect(summary).toMatchObject({ candidates: 104, metricReads: 4, narrowed: 1, failedReads: 0 });
    expect(metrics.calls.map((c) => [c.region, c.resourceIds.length])).toEqual([
      ['westeurope', 50],
      ['westeurope', 50],
      ['westeurope', 1],
      ['northeurope', 3],
    ]);
    const segments = (await store.getTimeline(vmResourceId('we-7')))?.segments ?? [];
    expect(segments.map((s) => [s.state, s.start, s.startWindowFrom, s.reason?.name])).toEqual([
      ['running', t('12:00'), undefined, undefined],
      ['stopped', t('13:00'), t('12:59'), 'GuestShutdown'],
    ]);
  });

  it('keeps the reconciler window when the read fails', async () => {
    const metrics: AvailabilityMetricsClient = {
      stats: { requests: 0, throttled: 0 },
      getAvailability: () => Promise.reject(new Error('503')),
    };
    const summary = await narrowStops([candidate('x', 'westeurope')], {
      metrics,
      store: new MemoryTimelineStore(),
      log: noLog,
    });
    expect(summary).toMatchObject({ metricReads: 1, failedReads: 1, narrowed: 0 });
  });
});
