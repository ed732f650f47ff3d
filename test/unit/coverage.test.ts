import { describe, expect, it } from 'vitest';
import { eventSubscriptionId, outcomeOf, readEventWiring } from '../../src/app/coverage';
import type { EventWiringReader } from '../../src/app/coverage-ports';
import { ServiceError, ServiceFailure } from '../../src/app/errors';
import type { ReconcileSummary } from '../../src/app/reconcile';
import { emptySummary } from '../../src/app/reconcile/summary';
import { ConfigError, loadConfig } from '../../src/config';

const sub = '10000000-0000-0000-0000-000000000001';

function summary(overrides: Partial<ReconcileSummary>): ReconcileSummary {
  return { ...emptySummary(sub, 'r', 0), ...overrides };
}

describe('WATCH_MANAGEMENT_GROUP setting', () => {
  it('reads the management group to watch', () => {
    expect(loadConfig({ WATCH_MANAGEMENT_GROUP: ' contoso-prod ' }).managementGroupId).toBe('contoso-prod');
    expect(loadConfig({}).managementGroupId).toBeUndefined();
  });

  it('refuses it together with SUBSCRIPTION_IDS, naming both settings', () => {
    expect(() => loadConfig({ WATCH_MANAGEMENT_GROUP: 'contoso', SUBSCRIPTION_IDS: sub })).toThrow(
      new ConfigError(
        'WATCH_MANAGEMENT_GROUP and SUBSCRIPTION_IDS are exclusive: watch a management group or list subscriptions, not both',
      ),
    );
  });

  it('refuses a display name or a resource path', () => {
    for (const bad of ['Contoso Production', '/providers/Microsoft.Management/managementGroups/x', 'x.'])
      expect(() => loadConfig({ WATCH_MANAGEMENT_GROUP: bad })).toThrow(/WATCH_MANAGEMENT_GROUP must be/);
  });
});

describe('reconcile outcome in coverage', () => {
  it('tells lost access and a vanished subscription apart from a failing or throttled one', () => {
    const failed = (listingError: ReconcileSummary['listingError']) => outcomeOf(summary({ listingError }));
    expect(outcomeOf(summary({ complete: true }))).toBe('complete');
    expect(outcomeOf(summary({ skipped: 'another run in progress' }))).toBeUndefined();
    expect(
      failed({
        name: 'ThrottledError',
        message: 't',
        statusCode: 429,
        retryAfterInMs: 1,
        failure: 'throttled',
      }),
    ).toBe('throttled');
    expect(
      failed({
        name: 'ManagementRequestError',
        message: 'r',
        statusCode: 403,
        code: 'AuthorizationFailed',
        failure: 'forbidden',
      }),
    ).toBe('forbidden');
    expect(
      failed({
        name: 'ManagementRequestError',
        message: 'r',
        statusCode: 404,
        code: 'SubscriptionNotFound',
        failure: 'subscriptionNotFound',
      }),
    ).toBe('notFound');
    expect(
      failed({ name: 'ManagementUnavailableError', message: 'u', statusCode: 503, failure: 'unavailable' }),
    ).toBe('failing');
    expect(outcomeOf(summary({ stoppedEarly: true }))).toBe('incomplete');
  });
});

describe('the subscription of an event', () => {
  it('comes from the topic, the CloudEvents source, or the subject', () => {
    expect(eventSubscriptionId({ topic: `/subscriptions/${sub}` })).toBe(sub);
    expect(eventSubscriptionId({ source: `/subscriptions/${sub}` })).toBe(sub);
    expect(eventSubscriptionId({ subject: `/subscriptions/${sub}/resourceGroups/rg` })).toBe(sub);
    expect(eventSubscriptionId({ topic: 'elsewhere' })).toBeUndefined();
    expect(eventSubscriptionId(null)).toBeUndefined();
  });
});

describe('readEventWiring (a fake of our EventWiringReader port)', () => {
  const topicId = (name: string) =>
    `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.EventGrid/systemTopics/${name}`;
  const vmEvents = (name: string, provisioningState = 'Succeeded') => ({
    name,
    endpointType: 'AzureFunction',
    destinationResourceId:
      '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app/functions/vmEvents',
    provisioningState,
  });
  function reader(
    topics: { id: string; topicType: string }[],
    subscriptions: Record<string, unknown[] | Error>,
  ): EventWiringReader {
    return {
      // eslint-disable-next-line @typescript-eslint/require-await
      async *listSystemTopics() {
        for (const topic of topics) yield [topic];
      },
      // eslint-disable-next-line @typescript-eslint/require-await
      async *listTopicEventSubscriptions(id) {
        const found = subscriptions[id] ?? [];
        if (found instanceof Error) throw found;
        yield found as never[];
      },
    };
  }
  const forbidden = new ServiceError(ServiceFailure.forbidden, 'Management request refused', {
    statusCode: 403,
  });

  it('wired only by a provisioned AzureFunction destination ending in /functions/vmEvents, matching the topic type case-insensitively', async () => {
    const found = await readEventWiring(
      reader(
        [
          { id: topicId('a'), topicType: 'microsoft.resources.subscriptions' },
          { id: topicId('h'), topicType: 'Microsoft.ResourceNotifications.HealthResources' },
        ],
        {
          [topicId('a')]: [{ name: 'hook', endpointType: 'WebHook' }, vmEvents('vm-power-events')],
          [topicId('h')]: [
            vmEvents('vm-health-events', 'Failed'),
            { ...vmEvents('x'), endpointType: 'WebHook' },
          ],
        },
      ),
      sub,
    );
    expect(found).toMatchObject({ resourceEvents: 'wired', healthEvents: 'missing', error: undefined });
  });

  it('a 403 on one topic type says forbidden for that type only; no topic at all says missing', async () => {
    const found = await readEventWiring(
      reader([{ id: topicId('h'), topicType: 'Microsoft.ResourceNotifications.HealthResources' }], {
        [topicId('h')]: forbidden,
      }),
      sub,
    );
    expect(found).toMatchObject({ resourceEvents: 'missing', healthEvents: 'forbidden' });
    expect(found.error).toContain('403');
  });
});
