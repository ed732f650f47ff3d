import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArmEmulator, type ArmEmulator } from '../../src/emulator/arm-emulator';

const sub = 'aaaaaaaa-0000-0000-0000-000000000001';
const api = 'api-version=2024-07-01';

describe('ARM emulator wire format', () => {
  let emulator: ArmEmulator;
  let vmId = '';

  beforeAll(async () => {
    emulator = await startArmEmulator();
    vmId = emulator.fleet.addVm({
      subscriptionId: sub,
      resourceGroup: 'RG',
      name: 'web1',
      powerState: 'stopped',
      provisioningState: 'failed',
      provisioningErrorCode: 'OSProvisioningTimedOut',
      tags: { env: 'dev' },
    }).id;
  });
  afterAll(async () => {
    await emulator.close();
  });

  async function get(
    path: string,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const response = await fetch(`${emulator.url}${path}`);
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
      headers: response.headers,
    };
  }

  it('answers 400 with an ARM error body when api-version is missing', async () => {
    const { status, body } = await get(`/subscriptions/${sub}/providers/Microsoft.Compute/virtualMachines`);

    expect(status).toBe(400);
    expect(body).toEqual({
      error: { code: 'MissingApiVersionParameter', message: expect.any(String) as unknown },
    });
  });

  it('matches paths case-insensitively and returns statusOnly VMs without tags or hardware profile', async () => {
    const { status, body, headers } = await get(
      `/SUBSCRIPTIONS/${sub}/providers/microsoft.compute/VIRTUALMACHINES?${api}&statusOnly=true`,
    );

    expect(status).toBe(200);
    const [vm] = body['value'] as Record<string, unknown>[];
    expect(vm).toMatchObject({ id: vmId, name: 'web1', type: 'Microsoft.Compute/virtualMachines' });
    expect(vm).not.toHaveProperty('tags');
    expect(vm?.['properties']).not.toHaveProperty('hardwareProfile');
    expect(vm?.['properties']).toMatchObject({
      instanceView: {
        statuses: [
          {
            code: 'ProvisioningState/failed/OSProvisioningTimedOut',
            level: 'Error',
            displayStatus: 'Provisioning failed',
          },
          { code: 'PowerState/stopped', level: 'Info', displayStatus: 'VM stopped' },
        ],
      },
    });
    expect(headers.get('x-ms-ratelimit-remaining-resource')).toMatch(
      /^Microsoft\.Compute\/HighCostGet3Min;\d+$/,
    );
    expect(headers.get('x-ms-ratelimit-remaining-subscription-reads')).toMatch(/^\d+$/);
  });

  it('returns 404 ResourceNotFound for the instance view of an unknown VM', async () => {
    const { status, body } = await get(
      `/subscriptions/${sub}/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/nope/instanceView?${api}`,
    );

    expect(status).toBe(404);
    expect((body['error'] as { code: string }).code).toBe('ResourceNotFound');
  });

  it('returns an absolute nextLink with a $skiptoken when a listing has more pages', async () => {
    emulator.fleet.addVm({ subscriptionId: sub, resourceGroup: 'RG', name: 'web2' });
    emulator.pageSize = 1;

    const first = await get(`/subscriptions/${sub}/providers/Microsoft.Compute/virtualMachines?${api}`);
    const nextLink = String(first.body['nextLink']);
    const second = await fetch(nextLink).then((r) => r.json() as Promise<Record<string, unknown>>);

    expect(nextLink.startsWith(`${emulator.url}/`)).toBe(true);
    expect(new URL(nextLink).searchParams.get('$skiptoken')).toBeTruthy();
    expect((second['value'] as { name: string }[]).map((v) => v.name)).toEqual(['web2']);
    expect(second).not.toHaveProperty('nextLink');
    emulator.pageSize = 100;
  });
});
