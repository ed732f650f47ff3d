import { describe, expect, it } from 'vitest';
import type {
  CurrentState,
  ListedPage,
  Logger,
  ManagementClient,
  ReconcileLease,
  ReconcileRelease,
  ReconcileRunStore,
  TimelineStore,
} from '../../src/app/ports';
import { reconcileSubscription } from '../../src/app/reconcile';
import type { Observation } from '../../src/domain/observation';
import { vmKey } from '../../src/domain/resource-id';

const sub = '00000000-0000-0000-0000-000000000001';
const id = (name: string): string =>
  `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`;
const power = (state: string) => [{ code: 'ProvisioningState/succeeded' }, { code: `PowerState/${state}` }];

function current(name: string, state: CurrentState['state'], at: number): CurrentState {
  return {
    resourceId: id(name),
    subscriptionId: sub,
    state,
    last: { at, source: 'reconcile', dedupeId: 'x' },
  };
}

/** Fakes of our ports: a store that fails for one VM, a one-page listing, a run store that keeps releases. */
function fakes(rows: CurrentState[], listed: ListedPage['vms'], failingVm: string) {
  const recorded: Observation[] = [];
  const releases: ReconcileRelease[] = [];
  const errors: Record<string, unknown>[] = [];
  const store = {
    record(o: Observation) {
      if (o.resourceId === id(failingVm)) return Promise.reject(new Error('storage said no'));
      recorded.push(o);
      return Promise.resolve('recorded' as const);
    },
    async *listCurrent() {
      yield await Promise.resolve(rows);
    },
    updateDetails: () => Promise.resolve(true),
  } as unknown as TimelineStore;
  const management = {
    stats: { requests: 0, throttled: 0 },
    async *listVmStatuses() {
      yield await Promise.resolve({ vms: listed });
    },
    async *listScaleSets() {},
    async *listVmDetails() {},
    getInstanceView: () => Promise.resolve(undefined),
  } as unknown as ManagementClient;
  const runs: ReconcileRunStore = {
    acquire: (subscriptionId, runId): Promise<ReconcileLease> =>
      Promise.resolve({
        subscriptionId,
        runId,
        mark: { startedAt: 1_000, unconfirmed: {} },
        detailsAt: 5_000,
        etag: '*',
      }),
    release: (_lease, release) => {
      releases.push(release);
      return Promise.resolve(true);
    },
  };
  const log: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (_message, properties) => errors.push(properties ?? {}),
  };
  return { deps: { store, management, runs, log, now: () => 10_000 }, recorded, releases, errors };
}

describe('reconcileSubscription', () => {
  it('isolates a VM whose write fails: the others are recorded, the failure is logged with its id and left unconfirmed', async () => {
    const { deps, recorded, releases, errors } = fakes(
      [current('a', 'running', 500), current('b', 'running', 500), current('c', 'running', 500)],
      ['a', 'b', 'c'].map((name) => ({ resourceId: id(name), name, statuses: power('stopped') })),
      'b',
    );

    const summary = await reconcileSubscription(sub, deps);

    expect(summary).toMatchObject({ changed: 2, failed: 1, complete: true });
    expect(recorded.map((o) => [o.resourceId, o.state, o.windowFrom, o.at])).toEqual([
      [id('a'), 'stopped', 1_000, 10_000],
      [id('c'), 'stopped', 1_000, 10_000],
    ]);
    expect(errors).toEqual([expect.objectContaining({ vmId: id('b') })]);
    // The new mark: this run's start, with b's own last-seen time kept for its next window.
    expect(releases[0]?.mark).toEqual({ startedAt: 10_000, unconfirmed: { [vmKey(id('b'))]: 1_000 } });
  });

  it('does not advance the mark when too many VMs are unconfirmed', async () => {
    const { deps, releases } = fakes(
      [current('a', 'running', 500), current('b', 'running', 500)],
      ['a', 'b'].map((name) => ({ resourceId: id(name), name, statuses: power('stopped') })),
      'b',
    );

    await reconcileSubscription(sub, deps, { maxUnconfirmed: 0 });

    expect(releases[0]).toMatchObject({ complete: true, mark: undefined });
  });
});
