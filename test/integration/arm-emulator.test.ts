import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';

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

describe('ARM emulator: management groups and per-subscription faults', () => {
  const root = '20000000-0000-0000-0000-000000000000';
  const child = '20000000-0001-0000-0000-000000000000';
  const subA = '20000000-0004-0000-0000-000000000000';
  const subB = '20000000-0005-0000-0000-000000000000';
  const outside = '20000000-0009-0000-0000-000000000000';
  const mgApi = 'api-version=2023-04-01';
  let emulator: ArmEmulator;

  beforeAll(async () => {
    emulator = await startArmEmulator();
    emulator.fleet.addManagementGroup(root, { displayName: 'Root' });
    emulator.fleet.addManagementGroup(child, { parentId: root, displayName: 'Group 1' });
    emulator.fleet.moveSubscription(subA, root).displayName = 'Subscription 4';
    emulator.fleet.moveSubscription(subB, child);
    emulator.fleet.addSubscription(outside);
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

  it('lists the descendants of a group at any depth in the shape of the GetDescendants example', async () => {
    const example = JSON.parse(
      readFileSync(path.join(__dirname, '..', 'fixtures', 'arm', 'GetDescendants.json'), 'utf8'),
    ) as { body: { value: Record<string, unknown>[] } };

    const { status, body } = await get(
      `/providers/Microsoft.Management/managementGroups/${root}/descendants?${mgApi}`,
    );

    expect(status).toBe(200);
    const value = body['value'] as Record<string, unknown>[];
    expect(value.map((d) => d['name'])).toEqual([subA, child, subB]);
    // The example's two items (a group and a subscription directly under the root) come back identical.
    expect(value.slice(0, 2).reverse()).toEqual(example.body.value);
    expect(value[2]).toMatchObject({
      type: 'Microsoft.Management/managementGroups/subscriptions',
      properties: { parent: { id: `/providers/Microsoft.Management/managementGroups/${child}` } },
    });
  });

  it('pages descendants with an absolute nextLink carrying $skiptoken, and honours $top', async () => {
    const first = await get(
      `/providers/Microsoft.Management/managementGroups/${root}/descendants?${mgApi}&$top=2`,
    );
    const nextLink = String(first.body['nextLink']);
    expect((first.body['value'] as unknown[]).length).toBe(2);
    expect(new URL(nextLink).searchParams.get('$skiptoken')).not.toBeNull();
    const second = await get(nextLink.slice(emulator.url.length));
    expect((second.body['value'] as { name: string }[]).map((d) => d.name)).toEqual([subB]);
    expect(second.body['nextLink']).toBeUndefined();
  });

  it('answers 404 for an unknown group', async () => {
    const { status, body } = await get(
      `/providers/Microsoft.Management/managementGroups/nope/descendants?${mgApi}`,
    );
    expect(status).toBe(404);
    expect(body).toMatchObject({ error: { code: 'NotFound' } });
  });

  it('applies a fault to every request naming one subscription, and to no other', async () => {
    const vms = (s: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> =>
      get(`/subscriptions/${s}/providers/Microsoft.Compute/virtualMachines?${api}&statusOnly=true`);
    try {
      emulator.faults.subscription(subA, { mode: 'throttled', retryAfterInSeconds: 1200 });
      emulator.faults.subscription(subB, { mode: 'forbidden' });
      emulator.faults.subscription(outside, { mode: 'failing', status: 500 });

      const throttled = await vms(subA);
      const forbidden = await vms(subB);
      const failing = await vms(outside);

      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toBe('1200');
      expect(forbidden.status).toBe(403);
      expect(forbidden.body).toMatchObject({ error: { code: 'AuthorizationFailed' } });
      expect(failing.status).toBe(500);

      emulator.faults.subscription(subA, { mode: 'vanished' });
      const vanished = await vms(subA);
      expect(vanished.status).toBe(404);
      expect(vanished.body).toMatchObject({ error: { code: 'SubscriptionNotFound' } });
      const descendants = await get(
        `/providers/Microsoft.Management/managementGroups/${root}/descendants?${mgApi}`,
      );
      expect((descendants.body['value'] as { name: string }[]).map((d) => d.name)).toEqual([child, subB]);

      emulator.faults.subscription(subA, undefined);
      emulator.faults.subscription(subB, undefined);
      expect((await vms(subA)).status).toBe(200);
      expect((await vms(subB)).status).toBe(200);
    } finally {
      emulator.faults.reset();
    }
  });
});
