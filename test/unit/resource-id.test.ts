import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currentKeys, parseComputeResourceId, resourceIdFromKey, vmKey } from '../../src/domain/resource-id';

const vmId =
  '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/RG-App/providers/Microsoft.Compute/virtualMachines/Web-01';

describe('parseComputeResourceId', () => {
  it('parses VMs, scale sets and scale-set instances whatever the casing', () => {
    expect(parseComputeResourceId(vmId)).toMatchObject({
      kind: 'vm',
      resourceGroup: 'RG-App',
      name: 'Web-01',
    });
    expect(parseComputeResourceId(vmId.replace('resourceGroups', 'resourcegroups').toUpperCase())?.kind).toBe(
      'vm',
    );
    const instance =
      '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3';
    expect(parseComputeResourceId(instance)).toMatchObject({
      kind: 'scaleSetInstance',
      name: 'ss',
      instanceId: '3',
    });
    expect(parseComputeResourceId(instance.replace(/\/virtualMachines\/3$/, ''))?.kind).toBe('scaleSet');
  });

  it('refuses other resources and VM child resources', () => {
    expect(
      parseComputeResourceId(
        '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a',
      ),
    ).toBeUndefined();
    expect(parseComputeResourceId(`${vmId}/extensions/ext`)).toBeUndefined();
    expect(parseComputeResourceId('')).toBeUndefined();
    expect(parseComputeResourceId(`${vmId}${'x'.repeat(600)}`)).toBeUndefined();
  });
});

describe('vmKey', () => {
  it('is lower-cased and readable', () => {
    expect(vmKey(vmId)).toBe(
      'subscriptions|00000000-0000-0000-0000-000000000001|resourcegroups|rg-app|providers|microsoft.compute|virtualmachines|web-01',
    );
  });

  it('escapes every character Table keys forbid and round-trips to the lower-cased id', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        const id = `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`;
        const key = vmKey(id);
        expect(key).not.toMatch(/[/\\#?\u0000-\u001f\u007f-\u009f]/u);
        expect(resourceIdFromKey(key)).toBe(id.toLowerCase().replace(/\/+$/, ''));
      }),
    );
  });

  it('splits into subscription and rest for the current-state table', () => {
    expect(currentKeys(vmKey(vmId))).toEqual({
      partitionKey: '00000000-0000-0000-0000-000000000001',
      rowKey: 'resourcegroups|rg-app|providers|microsoft.compute|virtualmachines|web-01',
    });
  });
});
