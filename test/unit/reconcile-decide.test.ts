import { describe, expect, it } from 'vitest';
import {
  decideVm,
  deletionCandidates,
  deletionObservation,
  detailsListingDue,
  detailsUpdateDue,
  listedState,
  nextMark,
  readState,
  settledByListing,
  unconfirmedSince,
  type VmFacts,
} from '../../src/app/reconcile/decide';
import { detailsFingerprint, type KnownVm } from '../../src/app/reconcile/mark';
import type { ReconcileMark, VmDetails } from '../../src/app/ports';
import type { PowerState } from '../../src/domain/power-state';
import { vmKey } from '../../src/domain/resource-id';
import { listed, power, sub, vmId } from '../support/reconcile-fakes';

const pageAt = 10_000;
const key = vmKey(vmId('vm'));
const size = { vmSize: 'Standard_D2s_v5', location: 'westeurope', tags: { team: 'a' } } satisfies VmDetails;

function known(state: PowerState | undefined, lastAt: number, extra: Partial<KnownVm> = {}): KnownVm {
  return { resourceId: vmId('vm'), state, lastAt, details: '', seen: false, ...extra };
}

function facts(
  state: string | undefined,
  row: KnownVm | undefined,
  mark?: ReconcileMark,
  details?: VmDetails,
): VmFacts {
  return { subscriptionId: sub, vm: listed('vm', state, details), key, known: row, mark };
}

/** The decision for VM `vm` listed in `state` at `pageAt`. */
function decide(state: string, row: KnownVm | undefined, mark?: ReconcileMark, details?: VmDetails) {
  const f = facts(state, row, mark, details);
  const observed = listedState(f.vm, pageAt);
  if (observed === undefined) throw new Error('test lists a VM without a power state');
  return decideVm(f, observed);
}

describe('listedState and readState', () => {
  it('takes the listed power state at the page time', () => {
    expect(listedState(listed('vm', 'stopped'), pageAt)).toEqual({
      state: 'stopped',
      at: pageAt,
      statuses: power('stopped'),
    });
  });

  it('asks for a read when the listing carries no power state', () => {
    expect(listedState(listed('vm', undefined), pageAt)).toBeUndefined();
  });

  it('takes a read power state at the read time; a gone VM or one still without a power state is unknown', () => {
    expect(readState(power('deallocated'), 12_000)).toMatchObject({ state: 'deallocated', at: 12_000 });
    expect(readState(undefined, 12_000)).toBeUndefined();
    expect(readState([{ code: 'ProvisioningState/creating' }], 12_000)).toBeUndefined();
  });
});

describe('decideVm', () => {
  it('records a VM without a row as new at the page time, with no window and the new-VM id', () => {
    const decision = decide('running', undefined, { startedAt: 5_000, unconfirmed: {} });

    expect(decision).toEqual({
      kind: 'record',
      isNew: true,
      previousState: undefined,
      stopCandidate: undefined,
      observation: {
        resourceId: vmId('vm'),
        at: pageAt,
        state: 'running',
        source: 'reconcile',
        dedupeId: 'reconcile:running:new',
        provisioning: { state: 'succeeded' },
      },
    });
  });

  it('records nothing when the row already holds the listed state', () => {
    expect(decide('running', known('running', 1_000))).toEqual({ kind: 'unchanged', detailsChanged: false });
  });

  it('records a changed state with the window from the last complete run that confirmed it', () => {
    const decision = decide('deallocated', known('running', 1_000), { startedAt: 5_000, unconfirmed: {} });

    expect(decision).toMatchObject({
      kind: 'record',
      isNew: false,
      previousState: 'running',
      observation: {
        state: 'deallocated',
        at: pageAt,
        windowFrom: 5_000,
        dedupeId: 'reconcile:deallocated:5000',
      },
    });
  });

  it('keeps the window from a VM’s own last-seen time when the last run could not confirm it', () => {
    const decision = decide('deallocated', known('running', 1_000), {
      startedAt: 5_000,
      unconfirmed: { [key]: 3_000 },
    });

    expect(decision).toMatchObject({ observation: { windowFrom: 3_000 } });
  });

  it('takes the window from the row alone when there is no mark yet (first run)', () => {
    expect(decide('deallocated', known('running', 1_000))).toMatchObject({
      observation: { windowFrom: 1_000, dedupeId: 'reconcile:deallocated:1000' },
    });
    expect(decide('deallocated', known('running', 1_000, { lastSeenAt: 4_000 }))).toMatchObject({
      observation: { windowFrom: 4_000 },
    });
  });

  it('records nothing when a newer observation (an event after the page) already says more', () => {
    expect(decide('stopped', known('running', pageAt + 1))).toEqual({
      kind: 'unchanged',
      detailsChanged: false,
    });
    expect(decide('stopped', known('running', pageAt))).toMatchObject({ kind: 'unchanged' });
  });

  it('records a change without a window when the last-seen time is not before the page (clock skew)', () => {
    const decision = decide('deallocated', known('running', 1_000), {
      startedAt: pageAt + 500,
      unconfirmed: {},
    });

    expect(decision).toMatchObject({ kind: 'record', observation: { at: pageAt } });
    if (decision.kind !== 'record') throw new Error('expected a record');
    expect(decision.observation.windowFrom).toBeUndefined();
    expect(decision.observation.dedupeId).toBe(`reconcile:deallocated:${pageAt + 500}`);
  });

  it('records a row with provisioning only (no power state yet) as a new VM without a window', () => {
    const decision = decide('running', known(undefined, 2_000), { startedAt: 5_000, unconfirmed: {} });

    expect(decision).toMatchObject({
      kind: 'record',
      isNew: true,
      observation: { dedupeId: 'reconcile:running:new' },
    });
    if (decision.kind !== 'record') throw new Error('expected a record');
    expect(decision.observation.windowFrom).toBeUndefined();
  });

  it('records a VM listed again after its deletion as new, with the window since it was last seen', () => {
    const decision = decide('running', known('deleted', 2_000), { startedAt: 5_000, unconfirmed: {} });

    expect(decision).toMatchObject({
      kind: 'record',
      isNew: true,
      previousState: 'deleted',
      observation: { windowFrom: 5_000, dedupeId: 'reconcile:running:5000' },
    });
  });

  it('asks for a details update when a deallocated VM is listed with details that differ from its row', () => {
    const row = known('deallocated', 1_000, {
      details: detailsFingerprint({ ...size, vmSize: 'Standard_B1s' }),
    });

    expect(decide('deallocated', row, undefined, size)).toEqual({ kind: 'unchanged', detailsChanged: true });
    expect(decide('deallocated', { ...row, details: detailsFingerprint(size) }, undefined, size)).toEqual({
      kind: 'unchanged',
      detailsChanged: false,
    });
  });

  it('makes a stop within a window in a known region a metric-narrowing candidate', () => {
    const mark = { startedAt: 5_000, unconfirmed: {} };

    expect(decide('stopped', known('running', 1_000, { location: 'westeurope' }), mark)).toMatchObject({
      stopCandidate: {
        resourceId: vmId('vm'),
        subscriptionId: sub,
        region: 'westeurope',
        state: 'stopped',
        windowFrom: 5_000,
        at: pageAt,
        dedupeId: 'reconcile:stopped:5000',
      },
    });
    // The listing's own details give the region when the row has none.
    expect(decide('stopped', known('running', 1_000), mark, size)).toMatchObject({
      stopCandidate: { region: 'westeurope' },
    });
  });

  it('makes no candidate of a deallocation, a stop without a region or a stop without a window', () => {
    const mark = { startedAt: 5_000, unconfirmed: {} };
    const candidate = (d: ReturnType<typeof decide>) => (d.kind === 'record' ? d.stopCandidate : 'unchanged');

    expect(
      candidate(decide('deallocated', known('running', 1_000, { location: 'westeurope' }), mark)),
    ).toBeUndefined();
    expect(candidate(decide('stopped', known('running', 1_000), mark))).toBeUndefined();
    expect(candidate(decide('stopped', undefined, mark, size))).toBeUndefined();
  });
});

describe('settledByListing', () => {
  it('settles a VM whose listed state and details match its row, with no request', () => {
    expect(settledByListing(facts('running', known('running', 1_000)), pageAt)).toBe(true);
    expect(settledByListing(facts('stopped', known('running', pageAt + 1)), pageAt)).toBe(true);
  });

  it('does not settle a change, a missing power state, a row without a live state or different details', () => {
    expect(settledByListing(facts('stopped', known('running', 1_000)), pageAt)).toBe(false);
    expect(settledByListing(facts(undefined, known('running', 1_000)), pageAt)).toBe(false);
    expect(settledByListing(facts('running', undefined), pageAt)).toBe(false);
    expect(settledByListing(facts('running', known(undefined, 1_000)), pageAt)).toBe(false);
    expect(settledByListing(facts('running', known('deleted', 1_000)), pageAt)).toBe(false);
    expect(settledByListing(facts('running', known('running', 1_000), undefined, size), pageAt)).toBe(false);
  });
});

describe('detailsUpdateDue', () => {
  it('is due for listed details that differ from the row, or for a VM new this run', () => {
    const row = known('running', 1_000, { details: detailsFingerprint(size) });

    expect(detailsUpdateDue(undefined, row, true)).toBe(false);
    expect(detailsUpdateDue(size, row, false)).toBe(false);
    expect(detailsUpdateDue(size, row, true)).toBe(true);
    expect(detailsUpdateDue({ ...size, tags: { team: 'b' } }, row, false)).toBe(true);
  });
});

describe('unconfirmedSince', () => {
  it('keeps the last-seen time of a live VM, nothing for a VM without a row, a live state or one deleted', () => {
    const mark = { startedAt: 5_000, unconfirmed: { [key]: 3_000 } };

    expect(unconfirmedSince(key, known('running', 1_000), mark)).toBe(3_000);
    expect(unconfirmedSince(key, known('running', 1_000), { startedAt: 5_000, unconfirmed: {} })).toBe(5_000);
    expect(unconfirmedSince(key, undefined, mark)).toBeUndefined();
    expect(unconfirmedSince(key, known(undefined, 1_000), mark)).toBeUndefined();
    expect(unconfirmedSince(key, known('deleted', 1_000), mark)).toBeUndefined();
  });
});

describe('deletionCandidates and deletionObservation', () => {
  it('offers the live rows the listing did not return and that changed before it began', () => {
    const rows = new Map<string, KnownVm>([
      ['absent', known('running', 1_000)],
      ['seen', known('running', 1_000, { seen: true })],
      ['deleted', known('deleted', 1_000)],
      ['provisioning-only', known(undefined, 1_000)],
      ['created-meanwhile', known('running', 9_000)],
    ]);

    expect(deletionCandidates(rows, 9_000).map(([k]) => k)).toEqual(['absent']);
  });

  it('records a confirmed deletion with the window since the VM was last seen', () => {
    expect(
      deletionObservation(key, known('running', 1_000), { startedAt: 5_000, unconfirmed: {} }, 12_000),
    ).toEqual({
      resourceId: vmId('vm'),
      at: 12_000,
      state: 'deleted',
      source: 'reconcile',
      dedupeId: 'reconcile:deleted:5000',
      windowFrom: 5_000,
    });
  });

  it('records a deletion without a window when the last-seen time is not before it (clock skew)', () => {
    const observation = deletionObservation(
      key,
      known('running', 1_000),
      { startedAt: 13_000, unconfirmed: {} },
      12_000,
    );

    expect(observation.windowFrom).toBeUndefined();
    expect(observation.dedupeId).toBe('reconcile:deleted:13000');
  });
});

describe('detailsListingDue', () => {
  const hour = 3_600_000;

  it('reads the full listing when never read, when older than the refresh interval, or for new VMs', () => {
    expect(detailsListingDue(undefined, 10 * hour, hour, 0)).toBe(true);
    expect(detailsListingDue(9 * hour, 10 * hour, hour, 0)).toBe(true);
    expect(detailsListingDue(9.5 * hour, 10 * hour, hour, 0)).toBe(false);
    expect(detailsListingDue(9.5 * hour, 10 * hour, hour, 1)).toBe(true);
  });
});

describe('nextMark', () => {
  const unconfirmed = new Map([
    ['a', 1_000],
    ['b', 2_000],
  ]);

  it('marks a complete run with its listing start and the VMs it could not confirm', () => {
    expect(nextMark({ complete: true, listingStartedAt: 9_000, unconfirmed, maxUnconfirmed: 2 })).toEqual({
      startedAt: 9_000,
      unconfirmed: { a: 1_000, b: 2_000 },
    });
  });

  it('leaves the last mark after an incomplete run or too many unconfirmed VMs', () => {
    expect(
      nextMark({ complete: false, listingStartedAt: 9_000, unconfirmed, maxUnconfirmed: 2 }),
    ).toBeUndefined();
    expect(
      nextMark({ complete: true, listingStartedAt: 9_000, unconfirmed, maxUnconfirmed: 1 }),
    ).toBeUndefined();
  });
});
