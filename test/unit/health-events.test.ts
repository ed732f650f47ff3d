import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestEvent } from '../../src/app/ingest-event';
import type { IngestDependencies } from '../../src/app/ingest-outcome';
import { stoppedByOf } from '../../src/domain/alerts';
import { eventGridMaxEventAgeInMs } from '../../src/domain/events';
import { readHealthEvent } from '../../src/domain/health';
import { ObservationSource, type Observation } from '../../src/domain/observation';
import type { PowerState } from '../../src/domain/power-state';
import type { Segment } from '../../src/domain/segments';
import { healthEvent, subscriptionId, vmEvent, vmResourceId } from '../support/events';
import { FakeManagement, MemoryRejectedStore, MemoryTimelineStore, noLog } from '../support/fakes';

const examples = path.join(__dirname, '..', 'fixtures', 'health-events');
const minute = 60_000;
const t = (hhmm: string): number => Date.parse(`2026-11-01T${hhmm}:00Z`);
const iso = (ms: number): string => new Date(ms).toISOString();

function deps(now = t('13:10')): IngestDependencies & {
  store: MemoryTimelineStore;
  rejected: MemoryRejectedStore;
  management: FakeManagement;
  clock: { now: number };
} {
  const clock = { now };
  return {
    store: new MemoryTimelineStore(),
    rejected: new MemoryRejectedStore(),
    management: new FakeManagement(),
    log: noLog,
    now: () => clock.now,
    clock,
  };
}

function reconciled(resourceId: string, at: number, state: PowerState, windowFrom?: number): Observation {
  return { resourceId, at, state, windowFrom, source: ObservationSource.reconcile, dedupeId: `run-${at}` };
}

/** The documented sample with its placeholders filled in and its times moved to `at`. */
function documentedSample(file: string, resourceId: string, at: number): Record<string, unknown> {
  const text = readFileSync(path.join(examples, file), 'utf8')
    .replaceAll(
      '/subscriptions/{subscription-id}/resourceGroups/{rg-name}/providers/Microsoft.Compute/virtualMachines/{vm-name}',
      resourceId,
    )
    .replaceAll('{subscription-id}', subscriptionId)
    .replaceAll('{event-id}', 'annotation-1')
    .replaceAll('2023-07-24T19:20:37.9245071Z', iso(at));
  return JSON.parse(text) as Record<string, unknown>;
}

describe('readHealthEvent', () => {
  it('reads the documented CloudEvents ResourceAnnotated sample: annotation, summary, context, category', () => {
    const id = vmResourceId('vm-doc');
    const result = readHealthEvent(
      documentedSample('docs-health-ResourceAnnotated-cloudevents.json', id, t('13:02')),
      t('13:10'),
    );
    expect(result).toEqual({
      kind: 'health',
      event: {
        id: '8945cf9b-e220-496e-ab4f-f3a239318995',
        eventType: 'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated',
        time: t('13:02'),
        resource: expect.objectContaining({ resourceId: id, kind: 'vm' }) as unknown,
        reason: {
          source: 'resourceHealth',
          name: 'VirtualMachineDeallocationInitiated',
          at: t('13:02'),
          summary:
            'This virtual machine is stopped and deallocated as requested by an authorized user or process.',
          context: 'Customer Initiated',
          category: 'Not Applicable',
        },
        schema: 'cloudEvents',
      },
    });
  });

  it('reads the documented Event Grid AvailabilityStatusChanged sample', () => {
    const id = vmResourceId('vm-doc');
    const result = readHealthEvent(
      documentedSample('docs-health-AvailabilityStatusChanged-eventgrid.json', id, t('13:02')),
      t('13:10'),
    );
    expect(result).toMatchObject({
      kind: 'health',
      event: {
        schema: 'eventGrid',
        reason: {
          source: 'availability',
          name: 'Available',
          at: t('13:02'),
          summary: 'Unavailable → Available',
        },
      },
    });
  });

  it('rejects an occurredTime without offset, a missing annotation name, and events older than Event Grid delivers', () => {
    const id = vmResourceId('vm-bad');
    const noOffset = healthEvent({
      id: 'h1',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: '2026-11-01T13:02:00',
      time: iso(t('13:02')),
    });
    expect(readHealthEvent(noOffset, t('13:10'))).toMatchObject({
      kind: 'reject',
      reason: 'occurredTime has no UTC offset (Z or ±hh:mm)',
    });
    const noName = healthEvent({ id: 'h2', resourceUri: id, annotation: 'x', occurred: iso(t('13:02')) });
    delete (noName['data'] as { resourceInfo: { properties: Record<string, unknown> } }).resourceInfo
      .properties['annotationName'];
    expect(readHealthEvent(noName, t('13:10'))).toMatchObject({
      kind: 'reject',
      reason: 'missing data.resourceInfo.properties.annotationName',
    });
    const old = healthEvent({
      id: 'h3',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t('13:02')),
    });
    expect(
      readHealthEvent(old, t('13:02') + 26 * 3_600_000, { maxEventAgeInMs: eventGridMaxEventAgeInMs }),
    ).toMatchObject({
      kind: 'reject',
      reason: 'event time older than Event Grid delivers (24-hour retry window)',
    });
  });

  it('skips scale sets themselves and other resource types', () => {
    const scaleSet = `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss`;
    expect(
      readHealthEvent(
        healthEvent({
          id: 'h',
          resourceUri: scaleSet,
          annotation: 'VirtualMachineHostCrashed',
          occurred: iso(t('13:00')),
        }),
        t('13:10'),
      ),
    ).toMatchObject({ kind: 'skip' });
    const disk = `/subscriptions/${subscriptionId}/resourceGroups/rg/providers/Microsoft.Compute/disks/d1`;
    expect(
      readHealthEvent(
        healthEvent({ id: 'h', resourceUri: disk, annotation: 'Whatever', occurred: iso(t('13:00')) }),
        t('13:10'),
      ),
    ).toMatchObject({ kind: 'skip', reason: 'not a virtual machine health event' });
  });
});

describe('ingestEvent with Resource Health events', () => {
  it('narrows a reconciler window to the guest shutdown annotation, with no management call, and the alert says why', async () => {
    const d = deps();
    const id = vmResourceId('vm-guest');
    await d.store.record(reconciled(id, t('12:50'), 'running'));
    await d.store.record(reconciled(id, t('13:03'), 'stopped', t('12:58')));
    const event = healthEvent({
      id: 'a1',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t('13:02')),
      time: iso(t('13:06')),
      context: 'VM Initiated',
    });
    const result = await ingestEvent(event, d);
    expect(result).toMatchObject({ outcome: 'recorded', managementCalls: 0 });
    const segments = (await d.store.getTimeline(id))?.segments ?? [];
    expect(
      segments.map((s) => [
        s.state,
        iso(s.start),
        s.startWindowFrom === undefined ? null : iso(s.startWindowFrom),
      ]),
    ).toEqual([
      ['running', iso(t('12:50')), null],
      ['stopped', iso(t('13:02')), iso(t('12:58'))],
    ]);
    const current = await d.store.getCurrent(id);
    expect(current?.reason).toMatchObject({
      name: 'VirtualMachineStoppedInternally',
      context: 'VM Initiated',
    });
    const stoppedBy = stoppedByOf({
      resourceId: id,
      episodeSince: t('13:03'),
      since: current?.since ?? 0,
      sinceWindowFrom: current?.sinceWindowFrom,
      sinceSource: current?.sinceSource,
      reason: current?.reason,
    });
    expect(stoppedBy.description).toBe(
      'shut down from inside the guest OS at 13:02 UTC (Resource Health annotation)',
    );
    expect(stoppedBy.reason).toMatchObject({
      name: 'VirtualMachineStoppedInternally',
      context: 'VM Initiated',
      at: iso(t('13:02')),
    });
    // A second delivery changes nothing.
    expect(await ingestEvent(event, d)).toMatchObject({ recorded: 0, managementCalls: 0 });
  });

  it('reads once when the annotation arrives before the reconciler, and records the stop at the annotation time', async () => {
    const d = deps(t('13:04'));
    const id = vmResourceId('vm-early');
    await d.store.record(reconciled(id, t('12:58'), 'running'));
    d.management.instanceViews.set(id.toLowerCase(), [
      { code: 'ProvisioningState/succeeded' },
      { code: 'PowerState/stopped' },
    ]);
    const event = healthEvent(
      { id: 'a2', resourceUri: id, annotation: 'VirtualMachineStoppedInternally', occurred: iso(t('13:02')) },
      'cloudEvents',
    );
    expect(await ingestEvent(event, d)).toMatchObject({ outcome: 'recorded', managementCalls: 1 });
    const current = await d.store.getCurrent(id);
    expect(current).toMatchObject({
      state: 'stopped',
      since: t('13:02'),
      sinceWindowFrom: t('12:58'),
      sinceSource: 'resourceHealth',
    });
    expect(await ingestEvent(event, d)).toMatchObject({ outcome: 'duplicate', managementCalls: 0 });
    expect(d.management.stats.requests).toBe(1);
  });

  it("bounds the stop it reads by the reconciler's last complete run, not only by the VM's last event", async () => {
    const d = deps(t('13:04'));
    const id = vmResourceId('vm-mark');
    await d.store.record(reconciled(id, t('09:00'), 'running'));
    d.management.instanceViews.set(id.toLowerCase(), [{ code: 'PowerState/stopped' }]);
    // The run that started at 12:55 confirmed every VM (this one included) in its recorded state.
    d.marks = { getMark: () => Promise.resolve({ startedAt: t('12:55'), unconfirmed: {} }) };
    const event = healthEvent({
      id: 'a-mark',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t('13:02')),
    });
    expect(await ingestEvent(event, d)).toMatchObject({ outcome: 'recorded', managementCalls: 1 });
    expect(await d.store.getCurrent(id)).toMatchObject({
      state: 'stopped',
      since: t('13:02'),
      sinceWindowFrom: t('12:55'),
    });
  });

  it('reads the mark before the row: a run completing in between cannot vouch for the state it found changed', async () => {
    const d = deps(t('13:04'));
    const id = vmResourceId('vm-race');
    await d.store.record(reconciled(id, t('09:00'), 'running'));
    d.management.instanceViews.set(id.toLowerCase(), [{ code: 'PowerState/stopped' }]);
    // The VM stopped at 12:50. A run that started at 12:55 finds it stopped and completes while the
    // annotation is processed: right after the first read of the VM's row (observations, then the mark).
    let mark: { startedAt: number; unconfirmed: Record<string, number> } | undefined;
    d.marks = { getMark: () => Promise.resolve(mark) };
    const getCurrent = d.store.getCurrent.bind(d.store);
    let reads = 0;
    d.store.getCurrent = async (resourceId) => {
      const row = await getCurrent(resourceId);
      if ((reads += 1) === 1) {
        await d.store.record(reconciled(id, t('12:56'), 'stopped', t('09:00')));
        mark = { startedAt: t('12:55'), unconfirmed: {} };
      }
      return row;
    };
    const event = healthEvent({
      id: 'a-race',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t('12:50')),
    });
    // Read in the other order, the run's mark vouched for 'running' at 12:55 and the annotation was
    // dropped as older than the timeline: the stop stayed at 12:56 within a window back to 09:00, unexplained.
    expect(await ingestEvent(event, d)).toMatchObject({ outcome: 'recorded' });
    expect(await getCurrent(id)).toMatchObject({
      state: 'stopped',
      since: t('12:50'),
      reason: { name: 'VirtualMachineStoppedInternally' },
    });
  });

  it('records nothing when the read contradicts the annotation, or when the annotation is older than the timeline', async () => {
    const d = deps(t('13:04'));
    const id = vmResourceId('vm-contra');
    await d.store.record(reconciled(id, t('12:58'), 'running'));
    d.management.instanceViews.set(id.toLowerCase(), [{ code: 'PowerState/running' }]);
    const contradicting = healthEvent({
      id: 'a3',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t('13:02')),
    });
    expect(await ingestEvent(contradicting, d)).toMatchObject({
      outcome: 'skipped',
      reason: 'the read shows no change',
      managementCalls: 1,
    });
    const stale = healthEvent({
      id: 'a4',
      resourceUri: id,
      annotation: 'VirtualMachineStoppedInternally',
      occurred: iso(t('12:40')),
    });
    expect(await ingestEvent(stale, d)).toMatchObject({ outcome: 'skipped', managementCalls: 0 });
    expect((await d.store.getTimeline(id))?.segments.map((s) => s.state)).toEqual(['running']);
  });

  it('keeps the management operation as the cause of a stop an event recorded', async () => {
    const d = deps(t('13:10'));
    const id = vmResourceId('vm-op');
    await d.store.record(reconciled(id, t('12:50'), 'running'));
    await ingestEvent(vmEvent('vm-op', 'powerOff', iso(t('13:01')), 'ev-1'), d);
    const annotation = healthEvent({
      id: 'a5',
      resourceUri: id,
      annotation: 'VirtualMachineStopInitiatedByControlPlane',
      occurred: iso(t('13:00')),
    });
    expect(await ingestEvent(annotation, d)).toMatchObject({
      outcome: 'skipped',
      reason: 'change already explained by a management operation',
    });
    const current = await d.store.getCurrent(id);
    const stoppedBy = stoppedByOf({
      resourceId: id,
      episodeSince: t('13:01'),
      since: t('13:01'),
      sinceSource: current?.sinceSource,
      operation: current?.operation,
      caller: current?.caller,
    });
    expect(stoppedBy.description).toBe('powered off by alice@contoso.com (Event Grid)');
  });

  it('names a platform cause found within a reconciler window', async () => {
    const d = deps();
    const id = vmResourceId('vm-host');
    await d.store.record(reconciled(id, t('12:50'), 'running'));
    await d.store.record(reconciled(id, t('13:03'), 'stopped', t('12:58')));
    const hostCrash = healthEvent({
      id: 'a6',
      resourceUri: id,
      annotation: 'VirtualMachineHostCrashed',
      occurred: iso(t('13:01')),
      context: 'Platform Initiated',
      category: 'Unplanned',
    });
    await ingestEvent(hostCrash, d);
    const current = await d.store.getCurrent(id);
    expect(
      stoppedByOf({
        resourceId: id,
        episodeSince: t('13:03'),
        since: current?.since ?? 0,
        reason: current?.reason,
      }).description,
    ).toBe('platform: host crash at 13:01 UTC (Resource Health annotation)');
  });

  it('says honestly when nothing explains a stop the reconciler found', () => {
    const id = vmResourceId('vm-unknown');
    expect(
      stoppedByOf({
        resourceId: id,
        episodeSince: t('13:03'),
        since: t('13:03'),
        sinceWindowFrom: t('12:58'),
        sinceSource: 'reconcile',
      }).description,
    ).toBe('unknown: found by the reconciler between 12:58 and 13:03 UTC');
  });
});

/**
 * Property: whatever Resource Health delivers (dropped, duplicated, late, out of order, contradicting the
 * listing), every recorded change is a true one: the state before the change held just before its window
 * and the new state held at its start. Generated contradictions claim a guest shutdown while the VM ran;
 * annotation times are trusted only inside a window the timeline proves (see README "Resource Health").
 */
describe('Resource Health events never invent a transition', () => {
  const reconcileEveryInMs = 5 * minute;
  const horizon = 60 * minute;
  const base = t('12:00');

  /** Alternating running / stopped truth: stops by the guest (annotated), starts by the control plane (events). */
  const truthArb = fc
    .uniqueArray(fc.integer({ min: 1, max: horizon / 1000 - 1 }), { minLength: 0, maxLength: 8 })
    .map((seconds) => seconds.sort((a, b) => a - b).map((s) => base + s * 1000 + 1));

  it('holds for dropped, duplicated, delayed, reordered and contradicting annotations', async () => {
    await fc.assert(
      fc.asyncProperty(
        truthArb,
        fc.array(
          fc.record({
            drop: fc.double({ min: 0, max: 1 }),
            copies: fc.integer({ min: 1, max: 3 }),
            delayInSeconds: fc.integer({ min: 0, max: 600 }),
          }),
          { minLength: 8, maxLength: 8 },
        ),
        fc.array(
          fc.record({
            atInSeconds: fc.integer({ min: 0, max: horizon / 1000 }),
            delayInSeconds: fc.integer({ min: 0, max: 600 }),
          }),
          { maxLength: 4 },
        ),
        async (changes, deliveries, contradictions) => {
          const id = vmResourceId('vm-prop');
          const stateAt = (at: number): PowerState => {
            const n = changes.filter((c) => c <= at).length;
            return n % 2 === 0 ? 'running' : 'stopped';
          };
          const d = deps(base);
          d.management.getInstanceView = (resourceId: string) => {
            d.management.stats.requests += 1;
            expect(resourceId).toBe(id);
            return Promise.resolve([{ code: `PowerState/${stateAt(d.clock.now)}` }]);
          };
          type Delivery = { at: number; order: number; run: () => Promise<unknown> };
          const queue: Delivery[] = [];
          let order = 0;
          // The reconciler lists every 5 minutes; the window reaches back to the previous listing.
          for (let at = base; at <= base + horizon + 15 * minute; at += reconcileEveryInMs) {
            const windowFrom = at === base ? undefined : at - reconcileEveryInMs;
            queue.push({
              at,
              order: order++,
              run: () => d.store.record(reconciled(id, at, stateAt(at), windowFrom)),
            });
          }
          changes.forEach((change, i) => {
            if (i % 2 === 1) {
              // A start: Event Grid delivers it at once.
              queue.push({
                at: change,
                order: order++,
                run: () => ingestEvent(vmEvent('vm-prop', 'start', iso(change), `start-${i}`), d),
              });
              return;
            }
            const delivery = deliveries[i];
            if (delivery === undefined || delivery.drop < 0.1) return;
            for (let copy = 0; copy < delivery.copies; copy++) {
              const at = change + delivery.delayInSeconds * 1000 + copy * 7_000;
              const event = healthEvent({
                id: `guest-${i}`,
                resourceUri: id,
                annotation: 'VirtualMachineStoppedInternally',
                occurred: iso(change),
                time: iso(at),
              });
              queue.push({ at, order: order++, run: () => ingestEvent(event, d) });
            }
          });
          const windowOf = (at: number) => Math.floor((at - base) / reconcileEveryInMs);
          contradictions.forEach((c, i) => {
            const occurred = base + c.atInSeconds * 1000 + 500;
            // A false claim: the VM ran, and no true change shares its reconcile window.
            if (stateAt(occurred) !== 'running' || changes.some((ch) => windowOf(ch) === windowOf(occurred)))
              return;
            const at = occurred + c.delayInSeconds * 1000;
            const event = healthEvent({
              id: `false-${i}`,
              resourceUri: id,
              annotation: 'VirtualMachineStoppedInternally',
              occurred: iso(occurred),
              time: iso(at),
            });
            queue.push({ at, order: order++, run: () => ingestEvent(event, d) });
          });
          queue.sort((a, b) => a.at - b.at || a.order - b.order);
          for (const delivery of queue) {
            d.clock.now = delivery.at;
            await delivery.run();
          }
          const segments: Segment[] = (await d.store.getTimeline(id))?.segments ?? [];
          for (let i = 1; i < segments.length; i++) {
            const segment = segments[i] as Segment;
            const previous = segments[i - 1] as Segment;
            expect(stateAt(segment.start)).toBe(segment.state);
            // The old state held where the window begins (its last sighting), or just before an exact change.
            const before = segment.startWindowFrom ?? segment.start - 1;
            expect(stateAt(before)).toBe(previous.state);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
