import { describe, expect, it } from 'vitest';
import { billingOf } from '../../src/domain/billing';
import {
  parseInstanceView,
  parsePowerCode,
  parseProvisioningCode,
  PowerState,
} from '../../src/domain/power-state';

describe('parseInstanceView', () => {
  it('finds the power state by prefix whatever its position and casing', () => {
    const parsed = parseInstanceView([
      { code: 'PowerState/Running', level: 'Info', displayStatus: 'VM running' },
      { code: 'provisioningstate/SUCCEEDED' },
    ]);
    expect(parsed.powerState).toBe(PowerState.running);
    expect(parsed.provisioning).toEqual({ state: 'succeeded' });
  });

  it('is unknown when the power state is missing, never the second status', () => {
    expect(
      parseInstanceView([{ code: 'ProvisioningState/succeeded' }, { code: 'OSState/generalized' }])
        .powerState,
    ).toBe(PowerState.unknown);
    expect(parseInstanceView(undefined).powerState).toBe(PowerState.unknown);
    expect(parseInstanceView([]).powerState).toBe(PowerState.unknown);
  });

  it('is unknown for an unknown power code', () => {
    expect(parsePowerCode('PowerState/levitating')).toBe(PowerState.unknown);
    expect(parsePowerCode('PowerState/')).toBe(PowerState.unknown);
    expect(parsePowerCode('Power/running')).toBe(PowerState.unknown);
  });

  it('reads deallocated plus HibernationState/Hibernated as hibernated', () => {
    const parsed = parseInstanceView([
      { code: 'ProvisioningState/succeeded' },
      { code: 'PowerState/deallocated' },
      { code: 'HibernationState/Hibernated' },
    ]);
    expect(parsed).toMatchObject({ powerState: PowerState.hibernated, hibernated: true });
  });

  it('keeps OS-provisioning sub-states and error codes', () => {
    expect(parseProvisioningCode('ProvisioningState/creating/osProvisioningComplete')).toEqual({
      state: 'creating',
      subState: 'osProvisioningComplete',
    });
    expect(parseProvisioningCode('ProvisioningState/failed/AllocationFailed')).toEqual({
      state: 'failed',
      errorCode: 'AllocationFailed',
    });
    expect(parseProvisioningCode('ProvisioningState/strange')).toEqual({ state: 'unknown' });
  });

  it('ignores statuses without a code', () => {
    expect(parseInstanceView([{ level: 'Info' }, { code: 'PowerState/stopped' }]).powerState).toBe(
      PowerState.stopped,
    );
  });
});

describe('billingOf', () => {
  it('bills exactly as the Azure states-and-billing table says', () => {
    expect({
      creating: billingOf('creating'),
      starting: billingOf('starting'),
      running: billingOf('running'),
      stopping: billingOf('stopping'),
      stopped: billingOf('stopped'),
      deallocating: billingOf('deallocating'),
      deallocated: billingOf('deallocated'),
      hibernated: billingOf('hibernated'),
      deleted: billingOf('deleted'),
      unknown: billingOf('unknown'),
    }).toEqual({
      creating: 'notBilled',
      starting: 'billed',
      running: 'billed',
      stopping: 'billed',
      stopped: 'billed',
      deallocating: 'notBilled',
      deallocated: 'notBilled',
      hibernated: 'notBilled',
      deleted: 'notBilled',
      unknown: 'unknown',
    });
  });
});
