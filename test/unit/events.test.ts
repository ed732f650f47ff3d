import { describe, expect, it } from 'vitest';
import { classifyEvent, type EventDecision } from '../../src/domain/events';
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
