import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readActivityLogRecord, type ActivityLogDecision } from '../../src/domain/activity-log';
import { billingOf } from '../../src/domain/billing';
import type { Observation } from '../../src/domain/observation';
import { deriveSegments, type Segment } from '../../src/domain/segments';
import { delivery, operationHistory } from '../support/histories';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'activity-log', name), 'utf8')) as Record<
    string,
    unknown
  >;
const specsBody = fixture('GetActivityLogsFiltered.json') as {
  responses: { 200: { body: { value: Record<string, unknown>[] } } };
};
const specsRecord = specsBody.responses[200].body.value[0] as Record<string, unknown>;

const now = Date.parse('2026-12-01T12:00:00Z');
const vm = '/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01';
const t = (iso: string) => Date.parse(iso);

/** A record as the log writes it (LocalizableString fields), for a VM operation. */
function record(
  operation: string,
  status: string,
  eventTimestamp: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    caller: 'ops@contoso.com',
    correlationId: 'c-1',
    eventDataId: `${operation}-${status}-${eventTimestamp}`,
    category: { value: 'Administrative', localizedValue: 'Administrative' },
    eventName: { value: status === 'Started' ? 'BeginRequest' : 'EndRequest' },
    operationName: { value: `Microsoft.Compute/virtualMachines/${operation}`, localizedValue: operation },
    status: { value: status, localizedValue: status },
    resourceId: vm,
    eventTimestamp,
    submissionTimestamp: eventTimestamp,
    ...extra,
  };
}

function observed(decision: ActivityLogDecision): Observation {
  if (decision.kind !== 'observe')
    throw new Error(`expected an observation, got ${JSON.stringify(decision)}`);
  return decision.observation;
}

describe('readActivityLogRecord', () => {
  it('skips the specs example (a support ticket), finding its resource without a resourceId field', () => {
    expect(specsRecord['resourceId']).toBeUndefined();
    expect(readActivityLogRecord(specsRecord, now)).toEqual({
      kind: 'skip',
      reason: 'not a virtual machine operation',
    });
    // The same record about a VM deallocate: the VM comes from authorization.scope, the time keeps its
    // seven fractional digits to the millisecond.
    const scope = vm.replace('web-01', 'web-02');
    const aboutVm = {
      ...specsRecord,
      authorization: { action: 'x', scope },
      operationName: { value: 'Microsoft.Compute/virtualMachines/deallocate/action' },
    };
    expect(observed(readActivityLogRecord(aboutVm, now))).toMatchObject({
      resourceId: scope,
      at: t('2015-01-21T22:14:26.979Z'),
      state: 'deallocated',
      source: 'activityLog',
      dedupeId: '44ade6b4-3813-45e6-ae27-7420a95fa2f8',
      correlationId: '1e121103-0ba6-4300-ac9d-952bb5d0c80f',
      caller: 'admin@contoso.com',
    });
    // Without authorization either, the resource is the record id before `/events/`.
    const { authorization: _a, ...byId } = aboutVm;
    const id = `${scope}/events/44ade6b4/ticks/635574752669792776`;
    expect(observed(readActivityLogRecord({ ...byId, id }, now)).resourceId).toBe(scope);
  });

  it('skips the schema page samples: an NSG write and a health record naming no power change', () => {
    expect(readActivityLogRecord(fixture('schema-administrative-sample.json'), now).kind).toBe('skip');
    expect(readActivityLogRecord(fixture('schema-resource-health-sample.json'), now)).toEqual({
      kind: 'skip',
      reason: 'health record names no power change',
    });
  });

  it('maps a health annotation that names a power change (a guest shutdown) to its state', () => {
    const sample = fixture('schema-resource-health-sample.json');
    const shutdown = {
      ...sample,
      resourceId: vm,
      properties: { ...(sample['properties'] as object), details: 'VirtualMachineStoppedInternally' },
    };
    expect(observed(readActivityLogRecord(shutdown, now))).toMatchObject({
      resourceId: vm,
      state: 'stopped',
      at: t('2018-09-04T15:33:43.650Z'),
      source: 'activityLog',
    });
  });

  it('records the transitional state at an operation start and the final state at its success', () => {
    const started = observed(
      readActivityLogRecord(record('start/action', 'Started', '2026-11-02T08:00:00.1234567Z'), now),
    );
    const accepted = observed(
      readActivityLogRecord(record('deallocate/action', 'Accepted', '2026-11-02T09:00:00Z'), now),
    );
    const powerOff = observed(
      readActivityLogRecord(record('powerOff/action', 'Started', '2026-11-02T10:00:00Z'), now),
    );
    const succeeded = observed(
      readActivityLogRecord(record('start/action', 'Succeeded', '2026-11-02T08:02:00Z'), now),
    );
    expect([started.state, accepted.state, powerOff.state, succeeded.state]).toEqual([
      'starting',
      'deallocating',
      'stopping',
      'running',
    ]);
    expect(started.at).toBe(t('2026-11-02T08:00:00.123Z'));
    expect(billingOf('starting')).toBe('billed');
    expect(billingOf('deallocating')).toBe('notBilled');
  });

  it('tells hibernation from deallocation only by the request URI, both not billed', () => {
    const uri = `https://management.azure.com${vm}/deallocate?hibernate=true&api-version=2024-07-01`;
    const hibernate = record('deallocate/action', 'Succeeded', '2026-11-02T09:01:00Z', {
      httpRequest: { method: 'POST', uri },
    });
    expect(observed(readActivityLogRecord(hibernate, now)).state).toBe('hibernated');
    const plain = record('deallocate/action', 'Succeeded', '2026-11-02T09:01:00Z');
    expect(observed(readActivityLogRecord(plain, now)).state).toBe('deallocated');
  });

  it('records a failed or canceled operation as provisioning only', () => {
    const failed = observed(
      readActivityLogRecord(record('deallocate/action', 'Failed', '2026-11-02T09:01:00Z'), now),
    );
    expect(failed.state).toBeUndefined();
    expect(failed.provisioning).toEqual({ state: 'failed' });
    const canceled = observed(
      readActivityLogRecord(record('start/action', 'Canceled', '2026-11-02T09:01:00Z'), now),
    );
    expect(canceled.provisioning).toEqual({ state: 'canceled' });
  });

  it('skips what says nothing of power and rejects malformed records with the reason', () => {
    expect(readActivityLogRecord(record('write', 'Succeeded', '2026-11-02T09:00:00Z'), now)).toEqual({
      kind: 'skip',
      reason: 'operation outcome needs an instance view',
    });
    const created = record('write', 'Succeeded', '2026-11-02T09:00:00Z', {
      properties: { statusCode: 'Created' },
    });
    expect(observed(readActivityLogRecord(created, now)).state).toBe('running');
    const scaleSetWide = {
      ...record('start/action', 'Started', '2026-11-02T09:00:00Z'),
      operationName: { value: 'Microsoft.Compute/virtualMachineScaleSets/start/action' },
    };
    // About a VM id, a scale-set operation name is not a record of that scale set's operation.
    expect(readActivityLogRecord(scaleSetWide, now)).toMatchObject({ kind: 'skip' });
    expect(readActivityLogRecord(record('start/action', 'Started', 'yesterday'), now)).toEqual({
      kind: 'reject',
      reason: 'missing or unparseable eventTimestamp',
    });
    expect(
      readActivityLogRecord(record('start/action', 'Started', '2027-01-01T00:00:00Z'), now),
    ).toMatchObject({
      kind: 'reject',
      reason: 'eventTimestamp in the future',
    });
    expect(readActivityLogRecord([], now)).toMatchObject({ kind: 'reject' });
  });
});

/** State and billing at instant `at` by the segments (undefined before the first). */
function stateAt(segments: readonly Segment[], at: number): string | undefined {
  const segment = [...segments].reverse().find((s) => s.start <= at);
  return segment?.state;
}

function billedMs(segments: readonly Segment[], until: number): number {
  return segments
    .filter((s) => s.billing === 'billed')
    .reduce((sum, s) => sum + Math.max(0, Math.min(s.end ?? until, until) - s.start), 0);
}

describe('activity-log observations in derivation', () => {
  it('bills a start from when it was accepted and stops billing a deallocate when it began', () => {
    const base = { resourceId: vm, source: 'activityLog' as const };
    const start = 'Microsoft.Compute/virtualMachines/start/action';
    const deallocate = 'Microsoft.Compute/virtualMachines/deallocate/action';
    const segments = deriveSegments([
      {
        ...base,
        at: t('2026-11-02T08:00:00Z'),
        state: 'starting',
        dedupeId: 'a',
        operation: start,
        correlationId: 'c1',
      },
      // The event of the start (at completion) and the log's own Succeeded record of it.
      {
        resourceId: vm,
        source: 'event',
        at: t('2026-11-02T08:02:00Z'),
        state: 'running',
        dedupeId: 'e1',
        operation: start,
        correlationId: 'c1',
      },
      {
        ...base,
        at: t('2026-11-02T08:02:00.300Z'),
        state: 'running',
        dedupeId: 'b',
        operation: start,
        correlationId: 'C1',
      },
      {
        ...base,
        at: t('2026-11-02T10:00:00Z'),
        state: 'deallocating',
        dedupeId: 'c',
        operation: deallocate,
        correlationId: 'c2',
      },
      {
        ...base,
        at: t('2026-11-02T10:03:00Z'),
        state: 'deallocated',
        dedupeId: 'd',
        operation: deallocate,
        correlationId: 'c2',
      },
    ]);
    expect(segments.map((s) => [s.state, s.billing, new Date(s.start).toISOString(), s.source])).toEqual([
      ['starting', 'billed', '2026-11-02T08:00:00.000Z', 'activityLog'],
      ['running', 'billed', '2026-11-02T08:02:00.000Z', 'event'],
      ['deallocating', 'notBilled', '2026-11-02T10:00:00.000Z', 'activityLog'],
      ['deallocated', 'notBilled', '2026-11-02T10:03:00.000Z', 'activityLog'],
    ]);
    expect(billedMs(segments, t('2026-11-03T00:00:00Z'))).toBe(2 * 3600_000);
  });

  it('leaves no transitional state behind an operation that failed, whichever source said so', () => {
    const deallocate = 'Microsoft.Compute/virtualMachines/deallocate/action';
    const running = {
      resourceId: vm,
      source: 'event' as const,
      at: t('2026-11-02T07:00:00Z'),
      state: 'running' as const,
      dedupeId: 'r',
    };
    const began: Observation = {
      resourceId: vm,
      source: 'activityLog',
      at: t('2026-11-02T10:00:00Z'),
      state: 'deallocating',
      dedupeId: 'a',
      operation: deallocate,
      correlationId: 'c2',
    };
    const failedEvent: Observation = {
      resourceId: vm,
      source: 'event',
      at: t('2026-11-02T10:02:00Z'),
      provisioning: { state: 'failed' },
      dedupeId: 'e',
      operation: deallocate,
      correlationId: 'c2',
    };
    const segments = deriveSegments([running, began, failedEvent]);
    expect(segments.map((s) => s.state)).toEqual(['running']);
    // Without the failure the VM is deallocating (not billed) from the start record on.
    expect(deriveSegments([running, began]).map((s) => s.state)).toEqual(['running', 'deallocating']);
  });

  it('gives the same segments for any order and duplication of log records and events', () => {
    fc.assert(
      fc.property(
        operationHistory(vm).chain((h) => {
          const all = [...h.activityLog, ...h.events];
          return fc.tuple(fc.constant(all), delivery(all));
        }),
        ([observations, delivered]) => {
          expect(deriveSegments(delivered)).toEqual(deriveSegments(observations));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('adds nothing with the log end record of an operation an event reported: no billed second moves', () => {
    fc.assert(
      fc.property(operationHistory(vm), ({ activityLog, events }) => {
        const reported = new Set(events.map((e) => e.correlationId));
        const beginsOnly = activityLog.filter(
          (o) => !(reported.has(o.correlationId) && o.dedupeId.endsWith('-end')),
        );
        const withEnds = deriveSegments([...events, ...activityLog]);
        expect(withEnds).toEqual(deriveSegments([...events, ...beginsOnly]));
        // A second read of the same records changes nothing either.
        expect(deriveSegments([...events, ...activityLog, ...activityLog.map((o) => ({ ...o }))])).toEqual(
          withEnds,
        );
      }),
      { numRuns: 200 },
    );
  });

  it('never overrides what events said after a backfill: it fills the past', () => {
    fc.assert(
      fc.property(operationHistory(vm), operationHistory(vm), (past, live) => {
        // Live operations come after the backfilled ones; only their events are known live.
        const firstLive = Math.max(...past.activityLog.map((o) => o.at)) + 3600_000;
        const shift = (o: Observation): Observation => ({
          ...o,
          at: o.at - t('2026-10-01T00:00:00Z') + firstLive,
          correlationId: `live-${o.correlationId ?? ''}`,
          dedupeId: `live-${o.dedupeId}`,
        });
        const liveEvents = live.events.map(shift);
        // From the first power state an event reported on, the backfill changes nothing.
        const eventStart = Math.min(...liveEvents.filter((o) => o.state !== undefined).map((o) => o.at));
        fc.pre(Number.isFinite(eventStart));
        const without = deriveSegments(liveEvents);
        const withBackfill = deriveSegments([...liveEvents, ...past.activityLog]);
        for (const o of liveEvents) {
          for (const at of [o.at, o.at + 1, o.at + 60_000]) {
            if (at >= eventStart) expect(stateAt(withBackfill, at)).toBe(stateAt(without, at));
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
