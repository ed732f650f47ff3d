import { describe, expect, it } from 'vitest';
import { readActivityLogRecord, type ScaleSetOperationRecord } from '../../src/domain/activity-log';
import { ObservationSource, type Observation } from '../../src/domain/observation';
import {
  mergeScaleSetRecords,
  sharpenInstance,
  type ScaleSetOperation,
} from '../../src/domain/scale-set-operations';
import { deriveSegments } from '../../src/domain/segments';
import { usageOf } from '../../src/domain/usage';

const now = Date.parse('2026-12-01T12:00:00Z');
const at = (hhmmss: string) => Date.parse(`2026-12-01T${hhmmss}Z`);
const scaleSet =
  '/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool';
const instance = `${scaleSet}/virtualMachines/0`;
const deallocateOp = 'Microsoft.Compute/virtualMachineScaleSets/deallocate/action';
const complete = { from: at('00:00:00'), to: at('11:00:00') };

/** A scale-set-wide record as the log writes it. */
function setRecord(status: string, eventTimestamp: string, extra: Record<string, unknown> = {}) {
  return {
    caller: 'ops@contoso.com',
    correlationId: 'C-1',
    eventDataId: `${status}-${eventTimestamp}`,
    category: { value: 'Administrative', localizedValue: 'Administrative' },
    operationName: { value: deallocateOp, localizedValue: 'Deallocate Virtual Machine Scale Set' },
    status: { value: status, localizedValue: status },
    resourceId: scaleSet,
    eventTimestamp,
    submissionTimestamp: eventTimestamp,
    ...extra,
  };
}

/** Running since 08:00 (an event), then re-listed deallocated at 09:02:10, last seen running at 08:30. */
function history(extra: Observation[] = []): Observation[] {
  return [
    { resourceId: instance, at: at('08:00:00'), state: 'running', source: 'event', dedupeId: 'e-start' },
    {
      resourceId: instance,
      at: at('09:02:10'),
      windowFrom: at('08:30:00'),
      state: 'deallocated',
      source: 'instanceView',
      dedupeId: 'e-relist',
      operation: deallocateOp,
      correlationId: 'c-1',
    },
    ...extra,
  ];
}

function op(overrides: Partial<ScaleSetOperation> = {}): ScaleSetOperation {
  return {
    scaleSetId: scaleSet,
    correlationId: 'c-1',
    operation: deallocateOp,
    startedAt: at('09:00:00'),
    acceptedAt: at('09:00:00.150'),
    succeededAt: at('09:02:00'),
    ...overrides,
  };
}

const sharpen = (observations: Observation[], ops: ScaleSetOperation[], within = complete) =>
  sharpenInstance(instance, deriveSegments(observations), ops, within);

describe('scale-set-wide Activity Log records', () => {
  it('are read as records of the scale set’s operation, one status each', () => {
    expect(readActivityLogRecord(setRecord('Started', '2026-12-01T09:00:00.0000000Z'), now)).toEqual({
      kind: 'scaleSetOperation',
      record: {
        scaleSetId: scaleSet,
        correlationId: 'C-1',
        operation: deallocateOp,
        status: 'started',
        at: at('09:00:00'),
      },
    });
    expect(readActivityLogRecord(setRecord('Canceled', '2026-12-01T09:02:00Z'), now)).toMatchObject({
      kind: 'scaleSetOperation',
      record: { status: 'failed' },
    });
    const write = { ...setRecord('Succeeded', '2026-12-01T09:02:00Z') };
    write.operationName = { value: 'Microsoft.Compute/virtualMachineScaleSets/write', localizedValue: '' };
    expect(readActivityLogRecord(write, now)).toMatchObject({ kind: 'skip' });
    expect(
      readActivityLogRecord(setRecord('Started', '2026-12-01T09:00:00Z', { correlationId: 'a|b' }), now),
    ).toMatchObject({ kind: 'reject' });
    expect(readActivityLogRecord(setRecord('Started', 'soon'), now)).toMatchObject({ kind: 'reject' });
  });

  it('merge into one operation whatever their order and repetition', () => {
    const records: ScaleSetOperationRecord[] = [
      { scaleSetId: scaleSet, correlationId: 'C-1', operation: deallocateOp, status: 'succeeded', at: 3 },
      { scaleSetId: scaleSet, correlationId: 'c-1', operation: deallocateOp, status: 'started', at: 1 },
      { scaleSetId: scaleSet, correlationId: 'c-1', operation: deallocateOp, status: 'accepted', at: 2 },
    ];
    const forward = [...mergeScaleSetRecords(records).values()];
    const backward = [...mergeScaleSetRecords([...records, ...records].reverse()).values()];
    expect(forward).toHaveLength(1);
    expect(forward[0]).toMatchObject({ startedAt: 1, acceptedAt: 2, succeededAt: 3 });
    expect(backward[0]).toMatchObject({ startedAt: 1, acceptedAt: 2, succeededAt: 3 });
  });
});

describe('sharpenInstance', () => {
  it('narrows the one change one Succeeded operation alone explains to the operation, truth inside', () => {
    const [found] = sharpen(history(), [op()]);
    expect(found?.windowFrom).toBe(at('08:30:00'));
    expect(found?.observations).toEqual([
      expect.objectContaining({
        at: at('09:00:00'),
        state: 'deallocating',
        source: ObservationSource.activityLog,
        correlationId: 'c-1',
        dedupeId: 'scaleSet|c-1|begin',
      }),
      expect.objectContaining({ at: at('09:02:00'), state: 'deallocated', dedupeId: 'scaleSet|c-1|end' }),
    ]);
    // Derived: billing stops at the operation's first record, exactly.
    const segments = deriveSegments([...history(), ...(found?.observations ?? [])]);
    expect(segments.map((s) => [s.state, s.start, s.startWindowFrom])).toEqual([
      ['running', at('08:00:00'), undefined],
      ['deallocating', at('09:00:00'), undefined],
      ['deallocated', at('09:02:00'), undefined],
    ]);
    const usage = usageOf(segments, at('08:00:00'), at('10:00:00'), at('10:00:00'));
    expect(usage.billedSecondsMin).toBe(3600);
    expect(usage.billedSecondsMax).toBe(3600);
  });

  it('takes in the reconciler seeing the operation in progress (the transitional state, while it ran)', () => {
    const seen: Observation = {
      resourceId: instance,
      at: at('09:01:00'),
      windowFrom: at('08:30:00'),
      state: 'deallocating',
      source: 'reconcile',
      dedupeId: 'reconcile:deallocating',
    };
    const observations = history([seen]).map((o) =>
      o.dedupeId === 'e-relist' ? { ...o, windowFrom: at('09:01:00') } : o,
    );
    const [found] = sharpen(observations, [op()]);
    expect(found?.observations.map((o) => [o.state, o.at])).toEqual([
      ['deallocating', at('09:00:00')],
      ['deallocated', at('09:02:00')],
    ]);
    expect(
      deriveSegments([...observations, ...(found?.observations ?? [])]).map((x) => [x.state, x.start]),
    ).toEqual([
      ['running', at('08:00:00')],
      ['deallocating', at('09:00:00')],
      ['deallocated', at('09:02:00')],
    ]);
    // Seen in another transitional state, or after the operation ended: not this operation's progress.
    const starting = observations.map((o) =>
      o === observations[2] ? { ...o, state: 'starting' as const } : o,
    );
    expect(sharpen(starting, [op()])).toEqual([]);
    const late = observations.map((o) =>
      o.dedupeId === 'reconcile:deallocating' ? { ...o, at: at('09:02:05') } : o,
    );
    expect(sharpen(late, [op()])).toEqual([]);
  });

  it('gives the instance its own recorded final state (a deallocate that hibernated)', () => {
    const hibernated = history().map((o) =>
      o.dedupeId === 'e-relist' ? { ...o, state: 'hibernated' as const } : o,
    );
    expect(sharpen(hibernated, [op()])[0]?.observations[1]?.state).toBe('hibernated');
  });

  it('does not sharpen with two candidate operations, nor with a Failed or unfinished one beside it', () => {
    const second = op({
      correlationId: 'c-2',
      startedAt: at('08:40:00'),
      acceptedAt: undefined,
      succeededAt: at('08:41:00'),
    });
    expect(sharpen(history(), [op(), second])).toEqual([]);
    const failed = op({
      correlationId: 'c-3',
      startedAt: at('08:40:00'),
      succeededAt: undefined,
      failedAt: at('08:41:00'),
    });
    expect(sharpen(history(), [op(), failed])).toEqual([]);
    const unfinished = op({
      correlationId: 'c-4',
      startedAt: at('08:40:00'),
      succeededAt: undefined,
      acceptedAt: undefined,
    });
    expect(sharpen(history(), [op(), unfinished])).toEqual([]);
    // An operation of another final state is no candidate.
    const started = op({
      correlationId: 'c-5',
      operation: 'Microsoft.Compute/virtualMachineScaleSets/start/action',
      startedAt: at('08:40:00'),
      succeededAt: at('08:41:00'),
    });
    expect(sharpen(history(), [op(), started])).toHaveLength(1);
  });

  it('does not sharpen with a Failed operation, or one ending in another state', () => {
    expect(sharpen(history(), [op({ succeededAt: undefined, failedAt: at('09:02:00') })])).toEqual([]);
    expect(sharpen(history(), [op({ succeededAt: undefined })])).toEqual([]);
    const powerOff = op({ operation: 'Microsoft.Compute/virtualMachineScaleSets/powerOff/action' });
    expect(sharpen(history(), [powerOff])).toEqual([]);
    const start = op({ operation: 'Microsoft.Compute/virtualMachineScaleSets/start/action' });
    expect(sharpen(history(), [start])).toEqual([]);
  });

  it('does not sharpen an operation outside the window, or a window the log is not known complete over', () => {
    // Began before the instance was last seen running: it may not have included the instance.
    expect(sharpen(history(), [op({ startedAt: at('08:20:00'), acceptedAt: undefined })])).toEqual([]);
    expect(sharpen(history(), [op()], { from: complete.from, to: at('09:02:09') })).toEqual([]);
    expect(sharpen(history(), [op()], { from: at('08:45:00'), to: complete.to })).toEqual([]);
  });

  it('does not sharpen a change known exactly, nor one a reason explains', () => {
    const exact = history().map((o) => (o.dedupeId === 'e-relist' ? { ...o, windowFrom: undefined } : o));
    expect(sharpen(exact, [op()])).toEqual([]);
    const explained = history().map((o) =>
      o.dedupeId === 'e-relist'
        ? {
            ...o,
            reason: {
              source: 'resourceHealth' as const,
              name: 'VirtualMachineDeallocationInitiated',
              at: at('08:50:00'),
            },
          }
        : o,
    );
    expect(sharpen(explained, [op()])).toEqual([]);
  });
});

describe('derivation of what a scale-set-wide operation gave an instance', () => {
  const sharpened = (): Observation[] => sharpen(history(), [op()])[0]?.observations ?? [];

  it('drops it when a per-instance record, event or annotation lies in the window, whichever came first', () => {
    const perInstance: Observation = {
      resourceId: instance,
      at: at('08:50:00'),
      state: 'deallocating',
      source: 'activityLog',
      dedupeId: 'rec-1',
      operation: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action',
      correlationId: 'c-9',
    };
    const annotation: Observation = {
      resourceId: instance,
      at: at('09:01:00'),
      state: 'deallocated',
      source: 'resourceHealth',
      dedupeId: 'health-1',
      reason: { source: 'resourceHealth', name: 'VirtualMachineDeallocationInitiated', at: at('09:01:00') },
    };
    const failedRecord: Observation = {
      resourceId: instance,
      at: at('08:45:00'),
      source: 'activityLog',
      dedupeId: 'rec-2',
      provisioning: { state: 'failed' },
      operation: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/start/action',
      correlationId: 'c-8',
    };
    for (const other of [perInstance, annotation, failedRecord]) {
      const without = deriveSegments(history([other]));
      expect(deriveSegments([...history([other]), ...sharpened()])).toEqual(without);
      expect(deriveSegments([...sharpened(), ...history([other])].reverse())).toEqual(without);
    }
  });

  it('drops both when two operations sharpened the same change', () => {
    const other =
      sharpen(history(), [
        op({
          correlationId: 'c-2',
          startedAt: at('08:50:00'),
          acceptedAt: undefined,
          succeededAt: at('08:52:00'),
        }),
      ])[0]?.observations ?? [];
    expect(other).toHaveLength(2);
    expect(deriveSegments([...history(), ...sharpened(), ...other])).toEqual(deriveSegments(history()));
  });

  it('keeps the re-list of the operation’s own event from hiding the operation’s Succeeded record', () => {
    // The re-list carries the operation's correlation id and name (its event triggered it): not a repeat.
    const segments = deriveSegments([...history(), ...sharpened()]);
    expect(segments.at(-1)).toMatchObject({
      state: 'deallocated',
      start: at('09:02:00'),
      source: 'activityLog',
    });
  });
});
