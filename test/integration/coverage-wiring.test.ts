/**
 * Coverage's ARM read of the event wiring: the reconcile worker reads each subscription's Event Grid
 * system topics and their event subscriptions (through the emulator, in the documented shapes, paged),
 * at most once a day, and the coverage report (CLI, API) shows wired / missing / forbidden per topic type.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileSubscription } from '../../functions/reconcileSubscription';
import { readEventWiring } from '../../src/app/coverage';
import { appContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testSettings } from '../support/app';
import { coverageViews } from '../support/coverage-views';

const wired = '20000000-0000-0000-0000-000000000001';
const missing = '20000000-0000-0000-0000-000000000002';
const forbidden = '20000000-0000-0000-0000-000000000003';
const app =
  '/subscriptions/20000000-0000-0000-0000-0000000000aa/resourceGroups/rg-app/providers/Microsoft.Web/sites/func-vmtimeline';
const healthTypes = [
  'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated',
  'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged',
];

function invocation(functionName: string): InvocationContext {
  return new InvocationContext({ functionName, invocationId: `test-${functionName}`, logHandler: () => {} });
}

/** The JSON paths of every key of a value (array items merged), e.g. `properties.destination.endpointType`. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return [...new Set(value.flatMap((item) => keyPaths(item, prefix)))];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)]);
}

describe('coverage: the event wiring an ARM read finds', () => {
  let emulator: ArmEmulator;
  let ctx: AppContext;

  beforeAll(async () => {
    emulator = await startArmEmulator({ pageSize: 2 });
    const fleet = emulator.fleet;
    for (const subscriptionId of [wired, missing, forbidden])
      fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'vm-1' });
    // Wired: other topics first (the listing pages), then ours, each delivering to vmEvents.
    for (const name of ['storage-a', 'storage-b', 'keyvault'])
      fleet.addSystemTopic({
        subscriptionId: wired,
        resourceGroup: 'rg-other',
        name,
        topicType: 'Microsoft.Storage.StorageAccounts',
      });
    const resources = fleet.addSystemTopic({
      subscriptionId: wired,
      resourceGroup: 'rg-app',
      name: 'evgst-vmtimeline-dev',
      topicType: 'Microsoft.Resources.Subscriptions',
    });
    for (const name of ['audit-hook', 'siem'])
      fleet.addTopicEventSubscription(resources.id, {
        name,
        endpointType: 'WebHook',
        includedEventTypes: [],
      });
    fleet.addTopicEventSubscription(resources.id, {
      name: 'vm-power-events',
      endpointType: 'AzureFunction',
      destinationResourceId: `${app}/functions/vmEvents`,
      includedEventTypes: ['Microsoft.Resources.ResourceActionSuccess'],
    });
    const health = fleet.addSystemTopic({
      subscriptionId: wired,
      resourceGroup: 'rg-app',
      name: 'evgst-vmtimeline-health-dev',
      topicType: 'Microsoft.ResourceNotifications.HealthResources',
    });
    fleet.addTopicEventSubscription(health.id, {
      name: 'vm-health-events',
      endpointType: 'AzureFunction',
      destinationResourceId: `${app}/functions/vmEvents`,
      includedEventTypes: healthTypes,
    });
    // Missing: a resources topic whose only event subscription goes elsewhere; no health topic; and a
    // health-typed subscription to vmEvents still provisioning on a customer topic does not count.
    const foreign = fleet.addSystemTopic({
      subscriptionId: missing,
      resourceGroup: 'rg-sec',
      name: 'customer-topic',
      topicType: 'Microsoft.Resources.Subscriptions',
    });
    fleet.addTopicEventSubscription(foreign.id, {
      name: 'to-logic-app',
      endpointType: 'WebHook',
      includedEventTypes: [],
    });
    fleet.addTopicEventSubscription(foreign.id, {
      name: 'vm-power-events',
      endpointType: 'AzureFunction',
      destinationResourceId: `${app}/functions/vmEvents`,
      includedEventTypes: [],
      provisioningState: 'Failed',
    });
    Object.assign(process.env, testSettings(emulator.url), {
      SUBSCRIPTION_IDS: `${wired},${missing},${forbidden}`,
    });
    ctx = await appContext(loadConfig);
  });
  afterAll(async () => {
    delete process.env['SUBSCRIPTION_IDS'];
    await emulator.close();
  });

  it('serves system topics and their event subscriptions in the shapes of the EventGrid examples', async () => {
    emulator.pageSize = 10;
    const example = (name: string) =>
      JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'arm', name), 'utf8')) as {
        body: Record<string, unknown>;
      };
    const topics = (await (
      await fetch(
        `${emulator.url}/subscriptions/${wired}/providers/Microsoft.EventGrid/systemTopics?api-version=2022-06-15`,
      )
    ).json()) as { value: Record<string, unknown>[] };
    const listExample = example('SystemTopics_ListBySubscription.json').body;
    expect(keyPaths(topics.value[0]).sort()).toEqual(keyPaths((listExample['value'] as unknown[])[0]).sort());
    expect(topics.value.find((t) => t['name'] === 'evgst-vmtimeline-dev')).toMatchObject({
      location: 'global',
      properties: { topicType: 'Microsoft.Resources.Subscriptions', source: `/subscriptions/${wired}` },
    });

    const resourcesTopic = String(topics.value.find((t) => t['name'] === 'evgst-vmtimeline-dev')?.['id']);
    const subscriptions = (await (
      await fetch(`${emulator.url}${resourcesTopic}/eventSubscriptions?api-version=2022-06-15`)
    ).json()) as { value: Record<string, unknown>[] };
    const getExample = example('SystemTopicEventSubscriptions_Get.json').body;
    // The example's destination is a storage queue (queueName) and its filter has subject filters, which
    // ours do not set; every other key is the same.
    const optional = new Set([
      'properties.destination.properties.queueName',
      'properties.destination.properties.maxEventsPerBatch',
      'properties.destination.properties.preferredBatchSizeInKilobytes',
      'properties.filter.isSubjectCaseSensitive',
      'properties.filter.subjectBeginsWith',
      'properties.filter.subjectEndsWith',
    ]);
    const ours = subscriptions.value.find((e) => e['name'] === 'vm-power-events');
    expect(
      keyPaths(ours)
        .filter((k) => !optional.has(k))
        .sort(),
    ).toEqual(
      keyPaths(getExample)
        .filter((k) => !optional.has(k))
        .sort(),
    );
    expect(ours).toMatchObject({
      type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
      properties: {
        destination: {
          endpointType: 'AzureFunction',
          properties: { resourceId: `${app}/functions/vmEvents` },
        },
      },
    });
    emulator.pageSize = 2;
  });

  it('the reconcile worker records wired, missing and forbidden, following nextLink through the pages', async () => {
    emulator.resetCounters();
    for (const subscriptionId of [wired, missing]) {
      await expect(
        reconcileSubscription({ subscriptionId }, invocation('reconcileSubscription')),
      ).resolves.toMatchObject({
        complete: true,
      });
    }
    // Five topics at two a page: three pages; the resources topic's three event subscriptions: two pages.
    expect(emulator.requests.listSystemTopics).toBe(3 + 1);
    expect(emulator.requests.listTopicEventSubscriptions).toBe(2 + 1 + 1);

    // The identity may read VMs but not Event Grid (a custom role without the Event Grid reads).
    emulator.faults.failNext(1, { status: 403, kinds: ['listSystemTopics'] });
    await reconcileSubscription({ subscriptionId: forbidden }, invocation('reconcileSubscription'));

    expect(await ctx.coverage.get(wired)).toMatchObject({
      resourceEventsWiring: 'wired',
      healthEventsWiring: 'wired',
      wiringError: undefined,
    });
    expect(await ctx.coverage.get(missing)).toMatchObject({
      resourceEventsWiring: 'missing',
      healthEventsWiring: 'missing',
    });
    const refused = await ctx.coverage.get(forbidden);
    expect(refused).toMatchObject({
      lastOutcome: 'complete',
      resourceEventsWiring: 'forbidden',
      healthEventsWiring: 'forbidden',
    });
    expect(refused?.wiringError).toContain('403');
  });

  it('reads the wiring at most once a day per subscription (hourly after an inconclusive read)', async () => {
    emulator.resetCounters();
    for (const subscriptionId of [wired, missing, forbidden])
      await reconcileSubscription({ subscriptionId }, invocation('reconcileSubscription'));
    expect(emulator.requests.listVmStatuses).toBeGreaterThanOrEqual(3);
    expect(emulator.requests.listSystemTopics).toBe(0);
    expect(emulator.requests.listTopicEventSubscriptions).toBe(0);

    // Two hours later: a conclusive read stands for the day; an inconclusive one is tried again (hourly).
    const twoHoursAgo = Date.now() - 2 * 60 * 60_000;
    await ctx.coverage.merge(wired, { wiringCheckedAt: twoHoursAgo });
    await ctx.coverage.merge(missing, { wiringCheckedAt: twoHoursAgo, healthEventsWiring: 'unknown' });
    for (const subscriptionId of [wired, missing])
      await reconcileSubscription({ subscriptionId }, invocation('reconcileSubscription'));
    expect(emulator.requests.listSystemTopics).toBe(1);
    expect(await ctx.coverage.get(missing)).toMatchObject({ healthEventsWiring: 'missing' });
    expect((await ctx.coverage.get(wired))?.wiringCheckedAt).toBe(twoHoursAgo);
  });

  it('a read cut short by its page budget says unknown, never missing', async () => {
    const found = await readEventWiring(ctx.management, wired, { maxPages: 2 });
    expect(found).toMatchObject({ resourceEvents: 'unknown', healthEvents: 'unknown' });
    expect(found.error).toMatch(/after 2 pages/);
  });

  it('vm-timeline coverage and GET /api/coverage show the wiring found next to the event-inferred hint', async () => {
    const { cli, text, response } = await coverageViews(ctx);
    const report = JSON.parse(cli.stdout) as {
      subscriptions: { subscriptionId: string; eventWiring: string; wiringFound: Record<string, unknown> }[];
      totals: Record<string, number>;
    };
    expect((response.jsonBody as typeof report).subscriptions).toEqual(report.subscriptions);
    const bySub = new Map(report.subscriptions.map((r) => [r.subscriptionId, r]));
    expect(bySub.get(wired)).toMatchObject({
      eventWiring: 'none',
      wiringFound: { resourceEvents: 'wired', healthEvents: 'wired', error: null },
    });
    expect(typeof bySub.get(wired)?.wiringFound['checkedAt']).toBe('string');
    expect(bySub.get(missing)?.wiringFound).toMatchObject({
      resourceEvents: 'missing',
      healthEvents: 'missing',
    });
    expect(bySub.get(forbidden)?.wiringFound).toMatchObject({
      resourceEvents: 'forbidden',
      healthEvents: 'forbidden',
    });
    expect(report.totals['wiringMissing']).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`${wired}\\s+present.*wired/wired`));
    expect(text.stdout).toMatch(new RegExp(`${missing}\\s+present.*missing/missing`));
    expect(text.stdout).toMatch(new RegExp(`${forbidden}\\s+present.*forbidden/forbidden`));
    expect(text.stdout).toContain('wiring missing: 1');
  });
});
