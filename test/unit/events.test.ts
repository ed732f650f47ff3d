import { describe, expect, it } from 'vitest';
import { classifyEvent, eventGridMaxEventAgeInMs, type EventDecision } from '../../src/domain/events';
import {
  cloudEvent,
  eventGridEvent,
  scaleSetResourceId,
  vmEvent,
  vmOperations,
  vmResourceId,
} from '../support/events';

const now = Date.parse('2026-11-01T12:00:00Z');
const time = '2026-11-01T10:00:00Z';

/** The reason of a rejection; `not rejected: <kind>` otherwise. */
function rejection(decision: EventDecision): string {
  return decision.kind === 'reject' ? decision.reason : `not rejected: ${decision.kind}`;
}

function stateOf(decision: EventDecision): string | undefined {
  return decision.kind === 'observe' ? decision.state : undefined;
}

describe('classifyEvent', () => {
  for (const [op, spec] of Object.entries(vmOperations)) {
    it(`maps ${op} success to ${spec.state} at the event time, in both schemas`, () => {
      for (const schema of ['eventGrid', 'cloudEvents'] as const) {
        const decision = classifyEvent(
          vmEvent('vm1', op as keyof typeof vmOperations, time, `e-${op}`, schema),
          now,
        );
        expect(decision.kind).toBe('observe');
        expect(stateOf(decision)).toBe(spec.state);
        if (decision.kind === 'observe') {
          expect(decision.event.time).toBe(Date.parse(time));
          expect(decision.event.caller).toBe('alice@contoso.com');
          expect(decision.event.schema).toBe(schema);
        }
      }
    });
  }

  it('maps a deallocate with hibernate=true to hibernated', () => {
    const e = eventGridEvent({
      id: 'h1',
      resourceUri: vmResourceId('vm1'),
      operationName: 'Microsoft.Compute/virtualMachines/deallocate/action',
      type: 'ResourceActionSuccess',
      time,
      url: `https://management.azure.com${vmResourceId('vm1')}/deallocate?hibernate=true&api-version=2024-07-01`,
    });
    expect(stateOf(classifyEvent(e, now))).toBe('hibernated');
  });

  it('asks for an instance-view read after write, redeploy, reimage and similar operations', () => {
    for (const op of [
      'write',
      'redeploy/action',
      'reimage/action',
      'reapply/action',
      'performMaintenance/action',
      'simulateEviction/action',
    ]) {
      const e = eventGridEvent({
        id: op,
        resourceUri: vmResourceId('vm1'),
        operationName: `Microsoft.Compute/virtualMachines/${op}`,
        type: op === 'write' ? 'ResourceWriteSuccess' : 'ResourceActionSuccess',
        time,
      });
      expect(classifyEvent(e, now).kind).toBe('read');
    }
  });

  it('records a failed or cancelled operation as provisioning only', () => {
    const failed = classifyEvent(
      eventGridEvent({
        id: 'f',
        resourceUri: vmResourceId('vm1'),
        operationName: 'Microsoft.Compute/virtualMachines/start/action',
        type: 'ResourceActionFailure',
        time,
      }),
      now,
    );
    expect(failed).toMatchObject({ kind: 'provisioning', provisioning: { state: 'failed' } });
    const cancelled = classifyEvent(
      cloudEvent({
        id: 'c',
        resourceUri: vmResourceId('vm1'),
        operationName: 'Microsoft.Compute/virtualMachines/deallocate/action',
        type: 'ResourceActionCancel',
        time,
      }),
      now,
    );
    expect(cancelled).toMatchObject({ kind: 'provisioning', provisioning: { state: 'canceled' } });
  });

  it('maps scale-set instance operations like VM operations', () => {
    const instance = `${scaleSetResourceId('ss')}/virtualMachines/4`;
    const e = eventGridEvent({
      id: 'i',
      resourceUri: instance,
      operationName: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/powerOff/action',
      type: 'ResourceActionSuccess',
      time,
    });
    expect(classifyEvent(e, now)).toMatchObject({
      kind: 'observe',
      state: 'stopped',
      resource: { kind: 'scaleSetInstance', instanceId: '4' },
    });
  });

  it('re-lists a scale set after a scale-set-wide action and marks instances deleted when the set is deleted', () => {
    const ss = scaleSetResourceId('ss');
    for (const op of ['start/action', 'powerOff/action', 'deallocate/action', 'restart/action', 'write']) {
      const e = eventGridEvent({
        id: op,
        resourceUri: ss,
        operationName: `Microsoft.Compute/virtualMachineScaleSets/${op}`,
        type: 'ResourceActionSuccess',
        time,
      });
      expect(classifyEvent(e, now).kind).toBe('relistScaleSet');
    }
    const deleted = eventGridEvent({
      id: 'd',
      resourceUri: ss,
      operationName: 'Microsoft.Compute/virtualMachineScaleSets/delete',
      type: 'ResourceDeleteSuccess',
      time,
    });
    expect(classifyEvent(deleted, now).kind).toBe('scaleSetDeleted');
  });

  it('skips other providers, VM child resources and operations that do not change power', () => {
    const storage = eventGridEvent({
      id: 's',
      resourceUri: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a',
      operationName: 'Microsoft.Storage/storageAccounts/write',
      type: 'ResourceWriteSuccess',
      time,
    });
    expect(classifyEvent(storage, now).kind).toBe('skip');
    const extension = eventGridEvent({
      id: 'x',
      resourceUri: `${vmResourceId('vm1')}/extensions/ama`,
      operationName: 'Microsoft.Compute/virtualMachines/extensions/write',
      type: 'ResourceWriteSuccess',
      time,
    });
    expect(classifyEvent(extension, now).kind).toBe('skip');
    const capture = eventGridEvent({
      id: 'c',
      resourceUri: vmResourceId('vm1'),
      operationName: 'Microsoft.Compute/virtualMachines/runCommand/action',
      type: 'ResourceActionSuccess',
      time,
    });
    expect(classifyEvent(capture, now).kind).toBe('skip');
    expect(
      classifyEvent({ id: 'v', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: {} }, now)
        .kind,
    ).toBe('skip');
  });

  it('rejects malformed VM events with a reason', () => {
    const good = vmEvent('vm1', 'start', time, 'g');
    const cases: Array<[unknown, RegExp]> = [
      [null, /not a JSON object/],
      [[1, 2], /not a JSON object/],
      [{ ...good, id: undefined }, /missing event id/],
      [{ ...good, eventTime: 'yesterday' }, /unparseable/],
      [{ ...good, eventTime: '2031-01-01T00:00:00Z' }, /future/],
      [{ ...good, eventTime: '1999-01-01T00:00:00Z' }, /before 2010/],
      [{ ...good, eventType: 'Microsoft.Resources.ResourceExploded' }, /unknown resource event type/],
      [{ ...good, data: { ...(good['data'] as object), operationName: 42 } }, /operationName/],
      [
        {
          ...good,
          data: { ...(good['data'] as object), resourceUri: `${vmResourceId('vm\u0001')}` },
          subject: undefined,
        },
        /control characters/,
      ],
      [
        {
          ...cloudEvent({
            id: 'ce',
            resourceUri: vmResourceId('vm1'),
            operationName: 'Microsoft.Compute/virtualMachines/start/action',
            type: 'ResourceActionSuccess',
            time,
          }),
          specversion: undefined,
        },
        /.+/,
      ],
      [
        {
          ...good,
          data: {
            ...(good['data'] as object),
            resourceUri: '/subscriptions/x/providers/Microsoft.Compute/virtualMachines',
          },
        },
        /not a virtual machine id/,
      ],
    ];
    for (const [raw, reason] of cases) {
      const decision = classifyEvent(raw, now);
      expect(decision.kind, JSON.stringify(raw)?.slice(0, 120)).toBe('reject');
      if (decision.kind === 'reject') expect(decision.reason).toMatch(reason);
    }
  });

  it('rejects ids, resource URIs, VM names and claims holding a lone UTF-16 surrogate', () => {
    const good = vmEvent('vm1', 'start', time, 'g');
    const data = good['data'] as Record<string, unknown>;
    const lone = 'x\udfff';
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, id: lone }, /^id is not well-formed UTF-16/],
      [{ ...good, id: '\ud800' }, /^id is not well-formed UTF-16/],
      [
        { ...good, subject: vmResourceId(lone), data: { ...data, resourceUri: vmResourceId(lone) } },
        /^subject is not well-formed UTF-16/,
      ],
      [
        { ...good, data: { ...data, resourceUri: vmResourceId(lone) } },
        /^data.resourceUri is not well-formed/,
      ],
      [
        {
          ...good,
          data: { ...data, claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': lone } },
        },
        /^data.claims.+upn is not well-formed UTF-16/,
      ],
      [{ ...good, data: { ...data, correlationId: lone } }, /^data.correlationId is not well-formed/],
      [
        {
          ...good,
          data: { ...data, operationName: `Microsoft.Compute/virtualMachines/start/action${lone}` },
        },
        /^data.operationName is not well-formed/,
      ],
    ];
    for (const [raw, reason] of cases) {
      const decision = classifyEvent(raw, now);
      expect(decision.kind, JSON.stringify(raw)?.slice(0, 120)).toBe('reject');
      if (decision.kind === 'reject') expect(decision.reason).toMatch(reason);
    }
    // A well-formed pair (an emoji) in a VM name is fine.
    expect(classifyEvent(vmEvent('vm-\u{1F600}', 'start', time, 'emoji'), now).kind).toBe('observe');
  });

  it('rejects a resource id or event id whose Table key, once escaped, exceeds 1 KiB', () => {
    // Both ids are under the 512-character resource id limit; escaping makes their keys over 1,024
    // characters (`%` → `%25`, U+0085 → `%C2%85`).
    for (const name of ['%'.repeat(390), '\u0085'.repeat(390)]) {
      expect(vmResourceId(name).length).toBeLessThanOrEqual(512);
      const decision = classifyEvent(vmEvent(name, 'start', time, 'long-key'), now);
      expect(rejection(decision)).toMatch(/^resource id longer than a table key/);
    }
    const longId = classifyEvent(vmEvent('vm1', 'start', time, '\u0085'.repeat(250)), now);
    expect(rejection(longId)).toMatch(/^event id longer than a table key/);
    expect(classifyEvent(vmEvent('%'.repeat(300), 'start', time, 'ok'), now).kind).toBe('observe');
  });

  it('requires an offset on the event time and a real calendar date', () => {
    const good = vmEvent('vm1', 'start', time, 'g');
    const cases: Array<[string, RegExp]> = [
      ['2026-11-01T10:00:00', /no UTC offset/],
      ['2026-11-01', /no UTC offset/],
      ['2026-02-31T10:00:00Z', /not a valid calendar date/],
      ['2026-10-31T25:00:00Z', /not a valid calendar date/],
    ];
    for (const [eventTime, reason] of cases) {
      const decision = classifyEvent({ ...good, eventTime }, now);
      expect(rejection(decision), eventTime).toMatch(reason);
    }
    const offset = classifyEvent({ ...good, eventTime: '2026-11-01T05:00:00-05:00' }, now);
    expect(offset.kind === 'observe' && offset.event.time).toBe(Date.parse(time));
  });

  it('refuses events older than the Event Grid retry window only when asked (the Event Grid path)', () => {
    const old = vmEvent('vm1', 'start', '2010-01-02T00:00:00Z', 'old');
    const options = { maxEventAgeInMs: eventGridMaxEventAgeInMs };
    expect(classifyEvent(old, now, options)).toMatchObject({
      kind: 'reject',
      reason: 'event time older than Event Grid delivers (24-hour retry window)',
    });
    expect(classifyEvent(old, now).kind).toBe('observe');
    const dayOld = vmEvent('vm1', 'start', new Date(now - 24 * 3_600_000).toISOString(), 'day');
    expect(classifyEvent(dayOld, now, options).kind).toBe('observe');
    const tooOld = vmEvent('vm1', 'start', new Date(now - 26 * 3_600_000).toISOString(), 'day');
    expect(classifyEvent(tooOld, now, options).kind).toBe('reject');
  });

  it('matches operation names case-insensitively', () => {
    const e = eventGridEvent({
      id: 'u',
      resourceUri: vmResourceId('vm1').toUpperCase(),
      operationName: 'MICROSOFT.COMPUTE/VIRTUALMACHINES/POWEROFF/ACTION',
      type: 'ResourceActionSuccess',
      time,
    });
    expect(stateOf(classifyEvent(e, now))).toBe('stopped');
  });
});
