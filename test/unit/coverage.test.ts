import { describe, expect, it } from 'vitest';
import { eventSubscriptionId, outcomeOf } from '../../src/app/coverage';
import type { ReconcileSummary } from '../../src/app/reconcile-subscription';
import { ConfigError, loadConfig } from '../../src/config';

const sub = '10000000-0000-0000-0000-000000000001';

function summary(overrides: Partial<ReconcileSummary>): ReconcileSummary {
  return {
    subscriptionId: sub,
    runId: 'r',
    seen: 0,
    changed: 0,
    new: 0,
    deleted: 0,
    unknown: 0,
    failed: 0,
    detailsUpdated: 0,
    requests: 0,
    throttled: 0,
    pages: 0,
    complete: false,
    durationMs: 0,
    stoppedEarly: false,
    pacedMs: 0,
    ...overrides,
  };
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
    expect(failed({ name: 'ThrottledError', message: 't', statusCode: 429, retryAfterInMs: 1 })).toBe(
      'throttled',
    );
    expect(
      failed({ name: 'ManagementRequestError', message: 'r', statusCode: 403, code: 'AuthorizationFailed' }),
    ).toBe('forbidden');
    expect(
      failed({ name: 'ManagementRequestError', message: 'r', statusCode: 404, code: 'SubscriptionNotFound' }),
    ).toBe('notFound');
    expect(failed({ name: 'ManagementUnavailableError', message: 'u', statusCode: 503 })).toBe('failing');
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
