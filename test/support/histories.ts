/** Random VM histories for property tests. */
import fc from 'fast-check';
import type { Observation } from '../../src/domain/observation';
import type { PowerState } from '../../src/domain/power-state';

export const anyState: fc.Arbitrary<PowerState> = fc.constantFrom(
  'creating',
  'starting',
  'running',
  'stopping',
  'stopped',
  'deallocating',
  'deallocated',
  'hibernated',
  'deleted',
);

const t0 = Date.parse('2026-10-01T00:00:00Z');

/** Observations of one VM: events at distinct-ish minutes, some reconcile observations with windows. */
export function history(resourceId: string, maxLength = 25): fc.Arbitrary<Observation[]> {
  return fc
    .array(
      fc.record({
        minute: fc.integer({ min: 0, max: 60 * 24 * 3 }),
        state: fc.option(anyState, { nil: undefined, freq: 8 }),
        reconcile: fc.boolean(),
        window: fc.integer({ min: 1, max: 30 }),
      }),
      { minLength: 1, maxLength },
    )
    .map((items) =>
      items.map((item, index): Observation => {
        const at = t0 + item.minute * 60_000;
        const o: Observation = {
          resourceId,
          at,
          state: item.state,
          source: item.reconcile ? 'reconcile' : 'event',
          dedupeId: `id-${index}`,
        };
        if (item.state === undefined) o.provisioning = { state: 'failed' };
        if (item.reconcile) o.windowFrom = at - item.window * 60_000;
        return o;
      }),
    );
}

/** A delivery of the same observations: shuffled, with some delivered two or three times. */
export function delivery(observations: Observation[]): fc.Arbitrary<Observation[]> {
  return fc
    .array(fc.integer({ min: 0, max: 2 }), { minLength: observations.length, maxLength: observations.length })
    .chain((extra) => {
      const copies = observations.flatMap((o, i) =>
        Array.from({ length: 1 + (extra[i] ?? 0) }, () => ({ ...o })),
      );
      return fc.shuffledSubarray(copies, { minLength: copies.length, maxLength: copies.length });
    });
}

/** An event observation of `resourceId` in `state` at the ISO time `iso`. */
export function observation(
  resourceId: string,
  iso: string,
  state: Observation['state'],
  id: string,
  extra: Partial<Observation> = {},
): Observation {
  return { resourceId, at: Date.parse(iso), state, source: 'event', dedupeId: id, ...extra };
}

const operationVerbs = {
  start: { begin: 'starting', end: 'running' },
  powerOff: { begin: 'stopping', end: 'stopped' },
  deallocate: { begin: 'deallocating', end: 'deallocated' },
} as const;

/**
 * One VM's operations as the two sources tell them: Activity Log records (start, end or failure, with
 * `activityLog` source) and the Event Grid events of the same operations (some missing, as when the app
 * was not deployed yet). Operations are minutes apart and take 20 s to 3 min.
 */
export function operationHistory(
  resourceId: string,
  maxOperations = 12,
): fc.Arbitrary<{ activityLog: Observation[]; events: Observation[] }> {
  return fc
    .array(
      fc.record({
        verb: fc.constantFrom('start', 'powerOff', 'deallocate'),
        gapInMinutes: fc.integer({ min: 5, max: 600 }),
        durationInSeconds: fc.integer({ min: 20, max: 180 }),
        failed: fc.boolean(),
        withEvent: fc.boolean(),
        endLagInMs: fc.integer({ min: -500, max: 500 }),
      }),
      { minLength: 1, maxLength: maxOperations },
    )
    .map((operations) => {
      const activityLog: Observation[] = [];
      const events: Observation[] = [];
      let at = t0;
      operations.forEach((op, index) => {
        at += op.gapInMinutes * 60_000;
        const operation = `Microsoft.Compute/virtualMachines/${op.verb}/action`;
        const correlationId = `corr-${index}`;
        const common = { resourceId, operation, correlationId };
        const end = at + op.durationInSeconds * 1000;
        activityLog.push({
          ...common,
          at,
          state: operationVerbs[op.verb].begin,
          source: 'activityLog',
          dedupeId: `al-${index}-begin`,
        });
        const outcome: Partial<Observation> = op.failed
          ? { provisioning: { state: 'failed' } }
          : { state: operationVerbs[op.verb].end };
        activityLog.push({
          ...common,
          ...outcome,
          at: end,
          source: 'activityLog',
          dedupeId: `al-${index}-end`,
        });
        if (op.withEvent)
          events.push({
            ...common,
            ...outcome,
            at: end + op.endLagInMs,
            source: 'event',
            dedupeId: `ev-${index}`,
          });
      });
      return { activityLog, events };
    });
}
