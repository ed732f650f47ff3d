import { describe, expect, it } from 'vitest';
import { highCostGetRemaining, pacingDelayInMs } from '../../src/app/reconcile/budget';
import {
  detailsFingerprint,
  lastSeenOf,
  reconcileDedupeId,
  type KnownVm,
} from '../../src/app/reconcile/mark';

const known = (lastAt: number, lastSeenAt?: number): KnownVm => ({
  resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm',
  state: 'running',
  lastAt,
  lastSeenAt,
  details: '',
  seen: false,
});

describe('lastSeenOf', () => {
  it('is the latest observation when no complete run has confirmed the VM since', () => {
    expect(lastSeenOf('k', known(1_000), undefined)).toBe(1_000);
    expect(lastSeenOf('k', known(5_000), { startedAt: 2_000, unconfirmed: {} })).toBe(5_000);
  });

  it('is the start of the last complete run that confirmed the VM', () => {
    expect(lastSeenOf('k', known(1_000), { startedAt: 9_000, unconfirmed: {} })).toBe(9_000);
  });

  it('keeps the own last-seen time of a VM the last complete run could not confirm', () => {
    const mark = { startedAt: 9_000, unconfirmed: { k: 3_000 } };
    expect(lastSeenOf('k', known(1_000), mark)).toBe(3_000);
    expect(lastSeenOf('other', known(1_000), mark)).toBe(9_000);
  });

  it('uses the row last-seen time when it is later', () => {
    expect(lastSeenOf('k', known(1_000, 4_000), { startedAt: 2_000, unconfirmed: {} })).toBe(4_000);
  });
});

describe('reconcileDedupeId', () => {
  it('is the same for the same change seen by two runs, and differs by state and last-seen time', () => {
    expect(reconcileDedupeId('stopped', 1_000)).toBe(reconcileDedupeId('stopped', 1_000));
    expect(reconcileDedupeId('stopped', 1_000)).not.toBe(reconcileDedupeId('running', 1_000));
    expect(reconcileDedupeId('stopped', 1_000)).not.toBe(reconcileDedupeId('stopped', 2_000));
    expect(reconcileDedupeId('running', undefined)).toBe('reconcile:running:new');
  });
});

describe('detailsFingerprint', () => {
  it('ignores tag order and treats empty tags as no tags', () => {
    expect(detailsFingerprint({ vmSize: 'B2s', tags: { a: '1', b: '2' } })).toBe(
      detailsFingerprint({ vmSize: 'B2s', tags: { b: '2', a: '1' } }),
    );
    expect(detailsFingerprint({ tags: {} })).toBe(detailsFingerprint(undefined));
    expect(detailsFingerprint({ vmSize: 'B2s' })).not.toBe(detailsFingerprint({ vmSize: 'B4s' }));
  });
});

describe('highCostGetRemaining', () => {
  it('reads the smallest HighCostGet count from the remaining-resource header', () => {
    expect(
      highCostGetRemaining({
        'x-ms-ratelimit-remaining-resource':
          'Microsoft.Compute/HighCostGet3Min;107,Microsoft.Compute/HighCostGet30Min;587',
        'x-ms-ratelimit-remaining-subscription-reads': '11999',
      }),
    ).toBe(107);
  });

  it('is undefined when no header names HighCostGet', () => {
    expect(
      highCostGetRemaining({ 'x-ms-ratelimit-remaining-resource': 'Microsoft.Compute/LowCostGet3Min;10' }),
    ).toBeUndefined();
    expect(highCostGetRemaining(undefined)).toBeUndefined();
  });
});

describe('pacingDelayInMs', () => {
  it('waits one refill interval per missing request below the threshold, and not at all above it', () => {
    expect(pacingDelayInMs(100, 30)).toBe(0);
    expect(pacingDelayInMs(undefined, 30)).toBe(0);
    expect(pacingDelayInMs(25, 30)).toBe(1_000);
  });
});
