import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ManagementUnavailableError,
  createArmClient,
  isLoopbackEndpoint,
  type ArmManagementClient,
} from '../../src/adapters/arm';
import { ThrottledError } from '../../src/app/errors';
import type { ListedPage, ListedVm } from '../../src/app/ports';
import { parseInstanceView, PowerState } from '../../src/domain/power-state';
import { startArmEmulator, type ArmEmulator, type EmulatedPowerState } from '../../kit/emulator/arm-emulator';

const sub = '11111111-1111-1111-1111-111111111111';
const otherSub = '22222222-2222-2222-2222-222222222222';

async function collect(pages: AsyncIterable<ListedPage>): Promise<ListedPage[]> {
  const result: ListedPage[] = [];
  for await (const page of pages) result.push(page);
  return result;
}

const byName = (vms: ListedVm[], name: string): ListedVm | undefined => vms.find((vm) => vm.name === name);

describe('ARM adapter against the ARM emulator', () => {
  let emulator: ArmEmulator;
  let client: ArmManagementClient;

  beforeAll(async () => {
    emulator = await startArmEmulator();
  });
  afterAll(async () => {
    await emulator.close();
  });

  beforeEach(() => {
    for (const s of emulator.fleet.listSubscriptions()) emulator.fleet.removeSubscription(s.subscriptionId);
    emulator.faults.reset();
    emulator.resetCounters();
    emulator.pageSize = 2;
    const states: EmulatedPowerState[] = ['running', 'stopped', 'deallocated', 'starting', 'deallocated'];
    states.forEach((powerState, index) =>
      emulator.fleet.addVm({
        subscriptionId: sub,
        resourceGroup: 'rg-app',
        name: `vm${index}`,
        powerState,
        hibernated: index === 4,
        vmSize: index === 0 ? 'Standard_E4s_v5' : 'Standard_B2s',
        osType: index === 1 ? 'Windows' : 'Linux',
        priority: index === 3 ? 'Spot' : 'Regular',
        tags: { costCenter: `cc${index}` },
      }),
    );
    client = createArmClient({
      endpoint: emulator.url,
      retryDelayInMs: 10,
      maxRetryDelayInMs: 50,
      maxRetryAfterInMs: 5_000,
    });
  });

  afterEach(() => {
    emulator.faults.reset();
  });

  describe('listVmStatuses', () => {
    it('returns every VM exactly once when the listing spans several pages', async () => {
      const pages = await collect(client.listVmStatuses(sub));

      expect(pages).toHaveLength(3);
      const names = pages.flatMap((p) => p.vms.map((vm) => vm.name));
      expect(names).toEqual(['vm0', 'vm1', 'vm2', 'vm3', 'vm4']);
      expect(emulator.requests.listVmStatuses).toBe(3);
      expect(emulator.log.every((r) => !r.authorization)).toBe(true);
    });

    it('gives statuses that parse to each VM power state, hibernation included', async () => {
      const vms = (await collect(client.listVmStatuses(sub))).flatMap((p) => p.vms);

      const states = vms.map((vm) => parseInstanceView(vm.statuses).powerState);
      expect(states).toEqual([
        PowerState.running,
        PowerState.stopped,
        PowerState.deallocated,
        PowerState.starting,
        PowerState.hibernated,
      ]);
      expect(parseInstanceView(byName(vms, 'vm0')?.statuses).provisioning?.state).toBe('succeeded');
      expect(vms.every((vm) => vm.details === undefined)).toBe(true);
      expect(byName(vms, 'vm0')?.resourceId).toBe(
        `/subscriptions/${sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm0`,
      );
    });

    it('reports an unknown power state when the listing omits it', async () => {
      const vm = emulator.fleet.listVms(sub)[1];
      emulator.fleet.setPowerStateMissing(vm?.id ?? '', 'list');

      const vms = (await collect(client.listVmStatuses(sub))).flatMap((p) => p.vms);

      expect(parseInstanceView(byName(vms, 'vm1')?.statuses).powerState).toBe(PowerState.unknown);
      expect(parseInstanceView(byName(vms, 'vm0')?.statuses).powerState).toBe(PowerState.running);
      // Only the listing lacks it: the instance view still has it.
      const view = await client.getInstanceView(vm?.id ?? '');
      expect(parseInstanceView(view).powerState).toBe(PowerState.stopped);
    });

    it('sees VMs added, changed and removed between two listings', async () => {
      const [first] = emulator.fleet.listVms(sub);
      emulator.fleet.setPowerState(first?.id ?? '', 'stopped');
      emulator.fleet.removeVm(emulator.fleet.listVms(sub)[2]?.id ?? '');
      emulator.fleet.addVm({
        subscriptionId: sub,
        resourceGroup: 'rg-new',
        name: 'fresh',
        powerState: 'creating',
      });

      const vms = (await collect(client.listVmStatuses(sub))).flatMap((p) => p.vms);

      expect(vms.map((vm) => vm.name)).toEqual(['vm0', 'vm1', 'vm3', 'vm4', 'fresh']);
      expect(parseInstanceView(byName(vms, 'vm0')?.statuses).powerState).toBe(PowerState.stopped);
      expect(parseInstanceView(byName(vms, 'fresh')?.statuses).powerState).toBe(PowerState.creating);
    });

    it('fails instead of returning a partial listing when a page keeps answering 503', async () => {
      emulator.faults.failPage('listVmStatuses', 1, { status: 503 });
      const seen: ListedPage[] = [];

      const listing = (async () => {
        for await (const page of client.listVmStatuses(sub)) seen.push(page);
      })();

      await expect(listing).rejects.toBeInstanceOf(ManagementUnavailableError);
      expect(seen).toHaveLength(1);
      // First page once, second page 1 + 3 retries.
      expect(emulator.requests.listVmStatuses).toBe(5);
      expect(client.stats.serverErrors).toBe(4);
    });

    it('recovers when a 5xx lasts fewer attempts than the retries', async () => {
      emulator.faults.failNext(2, { status: 500 });

      const vms = (await collect(client.listVmStatuses(sub))).flatMap((p) => p.vms);

      expect(vms).toHaveLength(5);
      expect(emulator.requests.failed).toBe(2);
    });
  });

  describe('listVmDetails', () => {
    it('returns size, location, OS type, priority and tags and no statuses', async () => {
      const vms = (await collect(client.listVmDetails(sub))).flatMap((p) => p.vms);

      expect(vms).toHaveLength(5);
      expect(byName(vms, 'vm0')?.details).toEqual({
        vmSize: 'Standard_E4s_v5',
        location: 'westeurope',
        osType: 'Linux',
        priority: 'Regular',
        tags: { costCenter: 'cc0' },
      });
      expect(byName(vms, 'vm1')?.details?.osType).toBe('Windows');
      expect(byName(vms, 'vm3')?.details?.priority).toBe('Spot');
      expect(vms.every((vm) => vm.statuses === undefined)).toBe(true);
      expect(emulator.requests.listVms).toBe(3);
      expect(emulator.requests.listVmStatuses).toBe(0);
    });
  });

  describe('getInstanceView', () => {
    it('returns the statuses of a VM', async () => {
      const vm = emulator.fleet.listVms(sub)[4];

      const statuses = await client.getInstanceView(vm?.id ?? '');

      expect(parseInstanceView(statuses)).toMatchObject({
        powerState: PowerState.hibernated,
        hibernated: true,
      });
      expect(emulator.requests.vmInstanceView).toBe(1);
    });

    it('returns the statuses of a scale-set instance', async () => {
      const scaleSet = emulator.fleet.addScaleSet({
        subscriptionId: sub,
        resourceGroup: 'rg-ss',
        name: 'web',
        capacity: 2,
      });
      const instance = emulator.fleet.listScaleSetInstances(scaleSet.id)[1];
      emulator.fleet.setPowerState(instance?.id ?? '', 'deallocated');

      const statuses = await client.getInstanceView(instance?.id ?? '');

      expect(parseInstanceView(statuses).powerState).toBe(PowerState.deallocated);
      expect(emulator.requests.scaleSetVmInstanceView).toBe(1);
    });

    it('returns undefined when the VM does not exist', async () => {
      const missing = `/subscriptions/${sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/gone`;

      await expect(client.getInstanceView(missing)).resolves.toBeUndefined();
      await expect(
        client.getInstanceView(
          `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/none/virtualMachines/0`,
        ),
      ).resolves.toBeUndefined();
    });

    it('reports unknown when even the instance view lacks the power state', async () => {
      const vm = emulator.fleet.listVms(sub)[0];
      emulator.fleet.setPowerStateMissing(vm?.id ?? '', 'all');

      const statuses = await client.getInstanceView(vm?.id ?? '');

      expect(statuses?.length).toBeGreaterThan(0);
      expect(parseInstanceView(statuses).powerState).toBe(PowerState.unknown);
    });
  });

  describe('scale sets', () => {
    it('lists uniform scale sets and their instances with instance views across pages', async () => {
      const scaleSet = emulator.fleet.addScaleSet({
        subscriptionId: sub,
        resourceGroup: 'rg-ss',
        name: 'web',
        capacity: 3,
        vmSize: 'Standard_D4s_v5',
        instance: { powerState: 'running' },
      });
      emulator.fleet.addScaleSet({
        subscriptionId: sub,
        resourceGroup: 'rg-ss',
        name: 'flex',
        orchestrationMode: 'Flexible',
      });
      emulator.fleet.setPowerState(`${scaleSet.id}/virtualMachines/2`, 'stopped');

      const scaleSetIds = [];
      for await (const page of client.listScaleSets(sub)) scaleSetIds.push(...page);
      const pages = await collect(client.listScaleSetInstances(scaleSetIds[0] ?? ''));
      const instances = pages.flatMap((p) => p.vms);

      expect(scaleSetIds).toEqual([scaleSet.id]);
      expect(pages).toHaveLength(2);
      expect(instances.map((i) => i.resourceId)).toEqual(
        [0, 1, 2].map((n) => `${scaleSet.id}/virtualMachines/${n}`),
      );
      expect(instances.map((i) => parseInstanceView(i.statuses).powerState)).toEqual([
        PowerState.running,
        PowerState.running,
        PowerState.stopped,
      ]);
      expect(instances[0]?.details?.vmSize).toBe('Standard_D4s_v5');
      // Scale-set instances are not in the VM list.
      const vms = (await collect(client.listVmStatuses(sub))).flatMap((p) => p.vms);
      expect(vms).toHaveLength(5);
      expect(decodeURIComponent(emulator.log.find((r) => r.kind === 'listScaleSetVms')?.url ?? '')).toMatch(
        /\$expand=instanceView/i,
      );
    });

    it('yields no instances when the scale set no longer exists', async () => {
      const pages = await collect(
        client.listScaleSetInstances(
          `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/gone`,
        ),
      );

      expect(pages).toEqual([]);
    });
  });

  describe('throttling', () => {
    it('retries a 429 with a short Retry-After and counts it as throttled', async () => {
      emulator.faults.throttleNext(1, { retryAfterInSeconds: 1, kinds: ['listVmStatuses'] });
      const started = Date.now();

      const vms = (await collect(client.listVmStatuses(sub))).flatMap((p) => p.vms);

      expect(vms).toHaveLength(5);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(client.stats.throttled).toBe(1);
      expect(client.stats.requests).toBe(4);
      expect(emulator.requests.throttled).toBe(1);
    });

    it('fails fast with ThrottledError when Retry-After exceeds the allowed wait', async () => {
      emulator.faults.throttleNext(1, { retryAfterInSeconds: 1200 });
      const started = Date.now();

      const error: unknown = await collect(client.listVmStatuses(sub)).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ThrottledError);
      expect((error as ThrottledError).retryAfterInMs).toBe(1_200_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(emulator.requests.listVmStatuses).toBe(1);
    });

    it('throws ThrottledError when 429s outlast the retries', async () => {
      const impatient = createArmClient({ endpoint: emulator.url, maxRetries: 1, maxRetryAfterInMs: 5_000 });
      emulator.faults.throttleNext(5, { retryAfterInSeconds: 0 });

      await expect(
        impatient.getInstanceView(emulator.fleet.listVms(sub)[0]?.id ?? ''),
      ).rejects.toBeInstanceOf(ThrottledError);
      expect(impatient.stats.throttled).toBe(2);
    });

    it('records the remaining-request headers so callers can pace', async () => {
      await collect(client.listVmStatuses(sub));

      expect(client.stats.remaining['x-ms-ratelimit-remaining-resource']).toMatch(
        /^Microsoft\.Compute\/HighCostGet3Min;\d+$/,
      );
      expect(Number(client.stats.remaining['x-ms-ratelimit-remaining-subscription-reads'])).toBeGreaterThan(
        0,
      );
    });

    it('throttles for real when the token bucket runs dry and enforcement is on', async () => {
      const limited = await startArmEmulator({
        pageSize: 100,
        enforceRateLimits: true,
        rateLimits: { highCostGet: { capacity: 2, refillPerMinute: 0.001 } },
      });
      try {
        limited.fleet.addVm({ subscriptionId: sub, resourceGroup: 'rg', name: 'only' });
        const limitedClient = createArmClient({ endpoint: limited.url, maxRetryAfterInMs: 1_000 });

        await collect(limitedClient.listVmStatuses(sub));
        await collect(limitedClient.listVmStatuses(sub));
        const third = collect(limitedClient.listVmStatuses(sub));

        await expect(third).rejects.toBeInstanceOf(ThrottledError);
        expect(limitedClient.stats.remaining['x-ms-ratelimit-remaining-resource']).toBe(
          'Microsoft.Compute/HighCostGet3Min;0',
        );
      } finally {
        await limited.close();
      }
    });
  });

  describe('listSubscriptions', () => {
    it('lists every subscription across pages', async () => {
      emulator.fleet.addSubscription(otherSub, 'Other');
      emulator.fleet.addSubscription('33333333-3333-3333-3333-333333333333');
      emulator.pageSize = 2;

      const ids: string[] = [];
      for await (const id of client.listSubscriptions()) ids.push(id);

      expect(ids).toEqual([sub, otherSub, '33333333-3333-3333-3333-333333333333']);
      expect(emulator.requests.listSubscriptions).toBe(2);
      expect(client.stats.requests).toBe(2);
    });

    it('throws ManagementUnavailableError when the listing keeps failing', async () => {
      emulator.faults.failPage('listSubscriptions', 0, { status: 500 });

      const ids = (async () => {
        for await (const id of client.listSubscriptions()) void id;
      })();

      await expect(ids).rejects.toBeInstanceOf(ManagementUnavailableError);
    });

    it('refuses a nextLink off the management endpoint instead of following it', async () => {
      const server = createServer((_req, res) => {
        const body = JSON.stringify({
          value: [{ subscriptionId: sub }],
          nextLink: 'https://elsewhere.invalid/subscriptions?api-version=2022-12-01&$skiptoken=2',
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const local = createArmClient({ endpoint: `http://127.0.0.1:${port}` });
        const ids: string[] = [];
        const listing = (async () => {
          for await (const id of local.listSubscriptions()) ids.push(id);
        })();
        await expect(listing).rejects.toThrow(/nextLink points outside the management endpoint/);
        expect(ids).toEqual([sub]);
        expect(local.stats.requests).toBe(1);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('listManagementGroupSubscriptions', () => {
    it('lists the subscriptions at any depth under a group across pages, skipping the groups', async () => {
      emulator.fleet.addManagementGroup('mg-root');
      emulator.fleet.addManagementGroup('mg-child', { parentId: 'mg-root' });
      emulator.fleet.moveSubscription(sub, 'mg-root');
      emulator.fleet.moveSubscription(otherSub, 'mg-child').displayName = 'Other';
      emulator.fleet.addSubscription('33333333-3333-3333-3333-333333333333');
      emulator.pageSize = 1;

      const found = [];
      for await (const page of client.listManagementGroupSubscriptions('mg-root')) found.push(...page);

      expect(found).toEqual([
        { subscriptionId: sub, displayName: `Subscription ${sub}`, parentGroupId: 'mg-root' },
        { subscriptionId: otherSub, displayName: 'Other', parentGroupId: 'mg-child' },
      ]);
      expect(emulator.requests.listDescendants).toBe(3);
      expect(emulator.log.every((r) => r.url.includes('api-version=2023-04-01'))).toBe(true);
    });

    it('throws a 404 ManagementRequestError for a group that does not exist', async () => {
      const listing = (async () => {
        for await (const page of client.listManagementGroupSubscriptions('nope')) void page;
      })();
      await expect(listing).rejects.toMatchObject({ name: 'ManagementRequestError', statusCode: 404 });
    });
  });

  describe('a subscription that vanished or lost access', () => {
    it('throws on an instance-view read instead of answering "no such VM"', async () => {
      const [vm] = emulator.fleet.listVms(sub);
      emulator.faults.subscription(sub, { mode: 'vanished' });
      await expect(client.getInstanceView(vm?.id ?? '')).rejects.toMatchObject({
        statusCode: 404,
        code: 'SubscriptionNotFound',
      });
      emulator.faults.subscription(sub, { mode: 'forbidden' });
      await expect(client.getInstanceView(vm?.id ?? '')).rejects.toMatchObject({
        statusCode: 403,
        code: 'AuthorizationFailed',
      });
    });

    it('still answers undefined for a VM that is gone from a subscription that exists', async () => {
      await expect(
        client.getInstanceView(
          `/subscriptions/${sub}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/gone`,
        ),
      ).resolves.toBeUndefined();
    });
  });

  describe('deallocate', () => {
    it('deallocates (or hibernates) the VM and waits for the operation', async () => {
      const [first, second] = emulator.fleet.listVms(sub);

      await client.deallocate(first?.id ?? '');
      await client.deallocate(second?.id ?? '', { hibernate: true });

      expect(emulator.fleet.getVm(first?.id ?? '')?.powerState).toBe('deallocated');
      expect(parseInstanceView(await client.getInstanceView(second?.id ?? '')).powerState).toBe(
        PowerState.hibernated,
      );
      expect(emulator.requests.deallocate).toBe(2);
    });
  });

  describe('request counting', () => {
    it('counts emulator requests by kind and adapter requests in stats', async () => {
      const vm = emulator.fleet.listVms(sub)[0];

      await collect(client.listVmStatuses(sub));
      await collect(client.listVmDetails(sub));
      await client.getInstanceView(vm?.id ?? '');

      expect(emulator.requests).toMatchObject({ listVmStatuses: 3, listVms: 3, vmInstanceView: 1, total: 7 });
      expect(client.stats).toMatchObject({ requests: 7, throttled: 0 });
    });
  });
});

describe('isLoopbackEndpoint', () => {
  it('treats plain-http loopback URLs as emulators and everything else as Azure', () => {
    expect(isLoopbackEndpoint('http://127.0.0.1:10000')).toBe(true);
    expect(isLoopbackEndpoint('http://localhost:8080/')).toBe(true);
    expect(isLoopbackEndpoint('http://[::1]:7000')).toBe(true);
    expect(isLoopbackEndpoint('https://127.0.0.1:7000')).toBe(false);
    expect(isLoopbackEndpoint('https://management.azure.com')).toBe(false);
    expect(isLoopbackEndpoint('http://example.com')).toBe(false);
  });
});

describe('createArmClient', () => {
  it('asks the credential for a token with the cloud audience when the endpoint is not loopback', async () => {
    const scopes: string[][] = [];
    {
      const client = createArmClient({
        endpoint: 'https://management.chinacloudapi.cn',
        credential: {
          getToken: (scope: string | string[]) => {
            scopes.push(Array.isArray(scope) ? scope : [scope]);
            return Promise.reject(new Error('no token in tests'));
          },
        },
        maxRetries: 0,
      });

      await expect(
        client.getInstanceView(
          `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x`,
        ),
      ).rejects.toThrow();

      expect(scopes[0]).toEqual(['https://management.chinacloudapi.cn/.default']);
      expect(client.isEmulator).toBe(false);
    }
  });
});
