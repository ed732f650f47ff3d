import { describe, expect, it } from 'vitest';
import { narrowStops, type StopCandidate } from '../../src/app/narrow-stops';
import type { AvailabilityMetricsClient, AvailabilityRequest } from '../../src/app/ports';
import { narrowStop, stopsWithinWindows, type AvailabilityPoint } from '../../src/domain/availability';
import { billingOf } from '../../src/domain/billing';
import type { Segment } from '../../src/domain/segments';
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

describe('narrowStop at the window start', () => {
  it('narrows a guest shutdown in the first minute of the window against the minute before it', () => {
    // The reconciler saw it running at 12:58:00; the guest shut down at 12:58:10.
    expect(narrowStop(series('12:57', [1, 0.17, 0, 0, 0]), t('12:58'), t('13:03'))).toEqual({
      windowFrom: t('12:58'),
      at: t('12:59'),
      kind: 'guest',
    });
  });
});

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

    const summary = await narrowStops(candidates, { metrics, store, log: noLog, now: () => t('13:10') });

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
      now: () => t('13:10'),
    });
    expect(summary).toMatchObject({ metricReads: 1, failedReads: 1, narrowed: 0 });
  });

  it("asks nothing for a stop past the metric's 93 days, and reads only the last 23 hours of a long window", async () => {
    const day = 86_400_000;
    const now = t('13:10');
    const metrics = new FakeMetrics(new Map());
    const old = { ...candidate('old', 'westeurope'), windowFrom: now - 100 * day, at: now - 94 * day };
    const long = { ...candidate('long', 'westeurope'), windowFrom: now - 10 * day, at: t('13:03') };
    const summary = await narrowStops([old, long], {
      metrics,
      store: new MemoryTimelineStore(),
      log: noLog,
      now: () => now,
    });
    expect(summary).toMatchObject({ candidates: 2, pastRetention: 1, metricReads: 1 });
    expect(metrics.calls.map((c) => [c.resourceIds.length, c.from, c.to])).toEqual([
      [1, t('13:03') - 23 * 60 * minute, t('13:03')],
    ]);
  });

  it('batches stops spread over days by the span one read covers, 50 at most', async () => {
    const day = 86_400_000;
    const spread = Array.from({ length: 60 }, (_, i) => ({
      ...candidate(`d-${i}`, 'westeurope'),
      windowFrom: t('10:00') - (i % 3) * day,
      at: t('11:00') - (i % 3) * day,
    }));
    const metrics = new FakeMetrics(new Map());
    const summary = await narrowStops(spread, {
      metrics,
      store: new MemoryTimelineStore(),
      log: noLog,
      now: () => t('13:10'),
    });
    // Three days, 20 stops each: one read per day (each well under 50), every read inside 23 hours.
    expect(summary.metricReads).toBe(3);
    expect(metrics.calls.map((c) => c.resourceIds.length)).toEqual([20, 20, 20]);
    for (const call of metrics.calls) expect(call.to - call.from).toBeLessThanOrEqual(23 * 60 * minute);
  });
});

describe('stopsWithinWindows', () => {
  const segment = (state: Segment['state'], start: string, extra: Partial<Segment> = {}): Segment => ({
    state,
    billing: billingOf(state),
    start: t(start),
    source: 'activityLog',
    ...extra,
  });

  it('finds stops no operation explains (a Resource Health record, a first sighting), with the honest window', () => {
    const stops = stopsWithinWindows([
      segment('running', '08:00', { operation: 'Microsoft.Compute/virtualMachines/start/action' }),
      segment('stopped', '10:31', {
        operation: 'Microsoft.Resourcehealth/healthevent/Activated/action:VirtualMachineStoppedInternally',
      }),
      segment('running', '11:00', { operation: 'Microsoft.Compute/virtualMachines/start/action' }),
      segment('stopped', '13:00', { source: 'reconcile', startWindowFrom: t('12:55') }),
    ]);
    expect(stops).toEqual([
      { windowFrom: t('08:00'), at: t('10:31'), state: 'stopped', source: 'activityLog' },
      { windowFrom: t('12:55'), at: t('13:00'), state: 'stopped', source: 'reconcile' },
    ]);
  });

  it('leaves stops an operation explains, stops already placed by a reason, and stops not from running', () => {
    expect(
      stopsWithinWindows([
        segment('running', '08:00'),
        segment('stopping', '09:00', { operation: 'Microsoft.Compute/virtualMachines/powerOff/action' }),
        segment('stopped', '09:01', { operation: 'Microsoft.Compute/virtualMachines/powerOff/action' }),
        segment('running', '10:00'),
        segment('stopped', '11:00', {
          source: 'reconcile',
          reason: { source: 'availabilityMetric', name: 'GuestShutdown', at: t('11:00') },
        }),
        segment('deallocated', '12:00'),
        segment('stopped', '13:00', { source: 'reconcile' }),
      ]),
    ).toEqual([]);
  });
});
