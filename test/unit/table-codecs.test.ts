import type { TableEntity } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import {
  currentEntity,
  currentFromRow,
  detailsPatch,
  fleetCurrentColumns,
  sameCurrentColumns,
  versionOf,
  withUsageDirtyFrom,
} from '../../src/adapters/codecs/current';
import {
  detailsChangeFromRow,
  detailsEntity,
  observationEntity,
  observationFromRow,
  sameSegment,
  segmentEntity,
  segmentFromRow,
} from '../../src/adapters/codecs/timeline';
import { numberColumn, type Row } from '../../src/adapters/table-columns';
import { estimateUsage, vmListItem } from '../../src/app/fleet';
import type { CurrentState } from '../../src/app/ports';
import { stoppedStatusOf } from '../../src/app/stopped';
import type { Observation } from '../../src/domain/observation';
import type { Segment } from '../../src/domain/segments';
import { vmKey } from '../../src/domain/resource-id';

const sub = '00000000-0000-0000-0000-0000000c0dec';
const resourceId = `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/Vm1`;
const key = vmKey(resourceId);
const t0 = Date.UTC(2026, 10, 3, 8, 30);

/** How a row comes back from the service: Date objects (SDK type conversion) or ISO strings (no Edm type). */
type ReadStyle = 'dates' | 'iso';

/** A written entity as a read returns it: system columns added, times as the style says. */
function readBack(entity: TableEntity, style: ReadStyle): Row {
  const row: Record<string, unknown> = {
    etag: 'W/"datetime\'2026-11-03T08%3A30%3A00.0000000Z\'"',
    timestamp: '2026-11-03T08:30:00.0000000Z',
  };
  for (const [name, value] of Object.entries(entity))
    row[name] = value instanceof Date && style === 'iso' ? value.toISOString() : value;
  return row as Row;
}

const reason = {
  source: 'resourceHealth',
  name: 'VirtualMachineStoppedInternally',
  at: t0 - 5_000,
  summary: 'stopped by the platform',
  context: 'Platform Initiated',
  category: 'Unplanned',
} as const;

describe('the VmTimeline codec', () => {
  const observation: Observation = {
    resourceId,
    at: t0,
    windowFrom: t0 - 60_000,
    state: 'deallocated',
    source: 'reconcile',
    dedupeId: 'run-1|a:b',
    provisioning: { state: 'failed', subState: 'x', errorCode: 'AllocationFailed' },
    operation: 'Microsoft.Compute/virtualMachines/deallocate/action',
    eventType: 'Microsoft.Resources.ResourceActionSuccess',
    caller: 'someone@example.com',
    correlationId: 'c-1',
    reason,
  };

  it('reads back every observation column it writes, whether times come as Dates or ISO strings', () => {
    for (const style of ['dates', 'iso'] as const) {
      const row = readBack(observationEntity(key, observation), style);
      expect(observationFromRow(row)).toEqual(observation);
    }
  });

  it('reads a minimal observation row, empty text as absent, and refuses one without time or id', () => {
    const minimal: Observation = { resourceId, at: t0, source: 'event', dedupeId: 'e-1' };
    const row = readBack(observationEntity(key, minimal), 'iso');
    expect(observationFromRow({ ...row, operation: '', caller: '', reason: '' })).toEqual(minimal);
    expect(observationFromRow({ ...row, at: '' })).toBeUndefined();
    expect(observationFromRow({ ...row, dedupeId: '' })).toBeUndefined();
  });

  it('reads back a segment, open or closed, and compares segments by every column it writes', () => {
    const segment: Segment = {
      state: 'stopped',
      billing: 'billed',
      start: t0,
      end: t0 + 3_600_000,
      startWindowFrom: t0 - 60_000,
      source: 'event',
      operation: 'Microsoft.Compute/virtualMachines/powerOff/action',
      caller: 'someone@example.com',
      reason,
    };
    for (const style of ['dates', 'iso'] as const) {
      const read = segmentFromRow(readBack(segmentEntity(key, resourceId, segment), style));
      expect(read).toEqual(segment);
      expect(read !== undefined && sameSegment(read, segment)).toBe(true);
    }
    expect(sameSegment(segment, { ...segment, reason: { ...reason, summary: 'other' } })).toBe(false);
    expect(sameSegment(segment, { ...segment, end: undefined })).toBe(false);
  });

  it('writes a details row with every details column, absent ones empty, and reads it back', () => {
    const entity = detailsEntity(key, resourceId, t0, { vmSize: 'Standard_D2s_v5', tags: { team: 'a' } });
    expect(entity).toMatchObject({ kind: 'details', location: '', osType: '', priority: '' });
    expect(detailsChangeFromRow(readBack(entity, 'iso'))).toEqual({
      at: t0,
      details: { vmSize: 'Standard_D2s_v5', tags: { team: 'a' } },
    });
  });
});

describe('the VmCurrent codec', () => {
  const current: CurrentState = {
    resourceId,
    subscriptionId: sub,
    state: 'running',
    billing: 'billed',
    since: t0,
    sinceWindowFrom: t0 - 60_000,
    sinceSource: 'reconcile',
    operation: 'Microsoft.Compute/virtualMachines/start/action',
    caller: 'someone@example.com',
    reason,
    provisioning: { state: 'succeeded' },
    last: { at: t0 + 1_000, source: 'event', dedupeId: 'e-2' },
    lastSeenAt: t0 + 2_000,
    details: {
      vmSize: 'Standard_D2s_v5',
      location: 'westeurope',
      osType: 'Linux',
      priority: 'Spot',
      tags: { 'expected-stopped': 'true' },
    },
    detailsAt: t0 - 1_000,
    usageDirtyFrom: t0 - 86_400_000,
  };

  it('reads back every column it writes, with the row ETag and version', () => {
    for (const style of ['dates', 'iso'] as const) {
      const stored = currentFromRow(readBack(currentEntity(key, current, 7), style));
      expect(stored).toMatchObject({ key, version: 7, etag: expect.stringContaining('datetime') as string });
      expect(stored?.current).toEqual(current);
    }
  });

  it('reads the version whether the SDK returns a number, an Int64 object or a bigint', () => {
    const row = readBack(currentEntity(key, current, 7), 'dates');
    for (const version of [7, { value: '7', type: 'Int64' }, 7n, '7'])
      expect(currentFromRow({ ...row, version })?.version).toBe(7);
    expect(versionOf({ ...row, version: { value: '9', type: 'Int64' } })).toBe(9);
    expect(numberColumn('')).toBeUndefined();
  });

  it('treats empty details columns (left by a Merge) as absent', () => {
    const row = readBack(currentEntity(key, { ...current, details: undefined }, 1), 'iso');
    const merged = { ...row, ...detailsPatch(key, {}, t0) } as Row;
    const read = currentFromRow(merged)?.current;
    expect(read?.details).toBeUndefined();
    expect(read?.detailsAt).toBe(t0);
  });

  it('reads of a row of only the fleet columns every field the fleet listing uses, as of the whole row', () => {
    /** What `fleetPage` and its helpers read of a current row (listing, figures, filters, facets, alerts). */
    const fleetFields = (c: CurrentState | undefined) => ({
      resourceId: c?.resourceId,
      subscriptionId: c?.subscriptionId,
      state: c?.state,
      billing: c?.billing,
      since: c?.since,
      sinceWindowFrom: c?.sinceWindowFrom,
      lastAt: c?.last.at,
      vmSize: c?.details?.vmSize,
      location: c?.details?.location,
      priority: c?.details?.priority,
      tags: c?.details?.tags,
    });
    const range = { from: t0 - 2 * 86_400_000, to: t0 + 3_600_000, asOf: t0 + 3_600_000 };
    const rules = { graceInMinutes: 30, expectedStoppedPatterns: ['vm*'] };
    const variants: CurrentState[] = [
      current,
      { ...current, state: 'stopped', billing: 'billed', sinceWindowFrom: undefined },
      { ...current, state: undefined, billing: undefined, since: undefined, details: undefined },
      { ...current, resourceId: resourceId.toLowerCase(), details: { tags: { team: 'a' } } },
    ];
    for (const variant of variants)
      for (const style of ['dates', 'iso'] as const) {
        const whole = readBack(currentEntity(key, variant, 3), style);
        // As a `$select` answers: the listed columns only (one the row lacks absent, or null).
        const selected = (missing: undefined | null) => {
          const row: Record<string, unknown> = { etag: whole.etag };
          for (const column of fleetCurrentColumns) {
            const name = column === 'PartitionKey' ? 'partitionKey' : column === 'RowKey' ? 'rowKey' : column;
            row[name] = column === 'Timestamp' ? whole.timestamp : (whole[name] ?? missing);
          }
          return row as Row;
        };
        const full = currentFromRow(whole)?.current;
        expect(full).toBeDefined();
        for (const missing of [undefined, null]) {
          const partial = currentFromRow(selected(missing))?.current;
          expect(fleetFields(partial), `${style} ${String(missing)}`).toEqual(fleetFields(full));
          // ...so the fleet's own readers answer the same.
          if (partial === undefined || full === undefined) throw new Error('a row not read');
          expect(vmListItem(partial)).toEqual(vmListItem(full));
          const days = { get: () => undefined };
          expect(estimateUsage(partial, days, range.from, range.to, range.asOf, t0)).toEqual(
            estimateUsage(full, days, range.from, range.to, range.asOf, t0),
          );
          const episode = { resourceId: variant.resourceId, since: t0 };
          expect(stoppedStatusOf(episode, partial, rules, range.asOf)).toEqual(
            stoppedStatusOf(episode, full, rules, range.asOf),
          );
        }
      }
    // A row the whole read would skip (no last observation id) is skipped from the selection too.
    const unread = readBack(currentEntity(key, current, 1), 'iso');
    delete (unread as Record<string, unknown>)['lastDedupeId'];
    expect(currentFromRow(unread)).toBeUndefined();
    expect(fleetCurrentColumns).toContain('lastDedupeId');
  });

  it('finds two states the same only when every written column but version and usage mark agrees', () => {
    expect(sameCurrentColumns(key, current, { ...current })).toBe(true);
    expect(sameCurrentColumns(key, current, { ...current, usageDirtyFrom: undefined })).toBe(true);
    const changes: Partial<CurrentState>[] = [
      { state: 'stopped' },
      { since: t0 + 1 },
      { sinceWindowFrom: undefined },
      { sinceSource: 'event' },
      { operation: 'other' },
      { caller: 'other' },
      { reason: { ...reason, context: 'Customer Initiated' } },
      { provisioning: { state: 'failed', errorCode: 'x' } },
      { last: { ...current.last, dedupeId: 'e-3' } },
      { lastSeenAt: t0 + 3_000 },
      { details: { ...current.details, tags: {} } },
      { detailsAt: t0 },
      { resourceId: resourceId.toLowerCase() },
    ];
    for (const change of changes)
      expect({ change, same: sameCurrentColumns(key, current, { ...current, ...change }) }).toEqual({
        change,
        same: false,
      });
  });

  it('sets or removes the usage mark on a row as listed, keeping every other column', () => {
    const row = readBack(currentEntity(key, current, 3), 'dates');
    const cleared = withUsageDirtyFrom(row, undefined);
    expect(cleared).not.toHaveProperty('usageDirtyFrom');
    expect(cleared).not.toHaveProperty('etag');
    expect(cleared).toMatchObject({ partitionKey: sub, vmSize: 'Standard_D2s_v5', version: 3 });
    expect(withUsageDirtyFrom(row, t0)['usageDirtyFrom']).toEqual(new Date(t0));
  });
});
