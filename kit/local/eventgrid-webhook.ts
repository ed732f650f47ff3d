/**
 * The Event Grid trigger's webhook, as the Functions host exposes it:
 * `POST /runtime/webhooks/eventgrid?functionName=NAME`.
 *
 * - `aeg-event-type: SubscriptionValidation` → `{ validationResponse: <data.validationCode> }`.
 * - `aeg-event-type: Notification` (or a CloudEvents content type without the header) → the body is an
 *   Event Grid array, a single event, a CloudEvent or a CloudEvents batch; the handler runs once per event,
 *   `ingestConcurrency` at a time (as `vm-timeline ingest` does); if any invocation fails the answer is 500
 *   and Event Grid resends the whole delivery.
 * - A delivery larger than Event Grid ever sends (`maxEventsPerDelivery` events, `maxDeliveryBytes`) → 413.
 * - `aeg-event-type: Unsubscribe` → 202. `OPTIONS` with `WebHook-Request-Origin` (CloudEvents abuse
 *   protection) → 200 with `WebHook-Allowed-Origin`.
 */

import { forEachLimited } from '../../src/app/concurrency';
import { ingestConcurrency } from '../../src/cli/ingest';

/**
 * Event Grid's own ceilings for one webhook delivery: "Max events per batch ... Must be between 1 and
 * 5,000" (learn.microsoft.com/azure/event-grid/delivery-and-retry, Batched event delivery); the preferred
 * batch size is at most 1,024 KB (`az eventgrid event-subscription create
 * --preferred-batch-size-in-kilobytes`: "Must be a number between 1 and 1024"), exceeded only by a single
 * event larger than that, and one event is at most 1 MB (learn.microsoft.com/azure/event-grid/quotas-limits).
 */
export const maxEventsPerDelivery = 5000;
/** 1 MiB, plus room for the envelope of a single event of the maximum size (delivered alone). */
export const maxDeliveryBytes = 1024 * 1024 + 64 * 1024;

export type WebhookOutcome =
  | { kind: 'validation'; validationCode: string; topic: string | undefined }
  | { kind: 'notification'; events: unknown[] }
  | { kind: 'unsubscribe' }
  | { kind: 'badRequest'; reason: string }
  | { kind: 'tooLarge'; reason: string };

export function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Classifies a webhook POST from its `aeg-event-type` header, content type and body text. */
export function readWebhookDelivery(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string,
): WebhookOutcome {
  const eventType = header(headers, 'aeg-event-type')?.toLowerCase();
  const contentType = header(headers, 'content-type')?.toLowerCase() ?? '';
  if (eventType === 'unsubscribe') return { kind: 'unsubscribe' };
  const cloudEvents = contentType.startsWith('application/cloudevents');
  if (eventType !== 'subscriptionvalidation' && eventType !== 'notification' && !cloudEvents)
    return { kind: 'badRequest', reason: 'missing or unknown aeg-event-type header' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'badRequest', reason: 'the body is not JSON' };
  }
  const events = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
  if (events.length > maxEventsPerDelivery)
    return { kind: 'tooLarge', reason: `more than ${maxEventsPerDelivery} events in one delivery` };
  if (eventType === 'subscriptionvalidation') {
    const first = events[0] as { topic?: unknown; data?: { validationCode?: unknown } } | undefined;
    const code = first?.data?.validationCode;
    if (typeof code !== 'string') return { kind: 'badRequest', reason: 'no data.validationCode' };
    return {
      kind: 'validation',
      validationCode: code,
      topic: typeof first?.topic === 'string' ? first.topic : undefined,
    };
  }
  return { kind: 'notification', events };
}

/**
 * True when a validation handshake comes from the topic this app subscribes to: the system topic of an
 * Azure subscription it watches (`/subscriptions/{id}`, the source in infra/app/system-topic.bicep, or a
 * path below it), compared case-insensitively. No watched subscription: no topic is expected.
 */
export function isExpectedTopic(topic: string | undefined, subscriptionIds: readonly string[]): boolean {
  if (topic === undefined) return false;
  const t = topic.toLowerCase();
  return subscriptionIds.some((id) => {
    const own = `/subscriptions/${id.toLowerCase()}`;
    return t === own || t.startsWith(`${own}/`);
  });
}

export interface FailedInvocation {
  /** The event's `id`, when it has a string one. */
  eventId: string | undefined;
  error: string;
}

export interface DeliveryResult {
  /** 200 when every invocation succeeded, 500 otherwise (Event Grid redelivers). */
  status: number;
  failed: number;
  succeeded: number;
  failures: FailedInvocation[];
}

function eventIdOf(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const id = (event as Record<string, unknown>)['id'];
  return typeof id === 'string' ? id : undefined;
}

/**
 * Runs `handle` once per event, `concurrency` at a time (default `ingestConcurrency`, as the CLI), and
 * answers as the Event Grid extension does.
 */
export async function deliver(
  events: readonly unknown[],
  handle: (event: unknown) => Promise<unknown>,
  concurrency: number = ingestConcurrency,
): Promise<DeliveryResult> {
  const failures: FailedInvocation[] = [];
  await forEachLimited(events, concurrency, async (event) => {
    try {
      await handle(event);
    } catch (error) {
      failures.push({
        eventId: eventIdOf(event),
        error: error instanceof Error ? error.message : String(error),
      });
    }
  });
  const failed = failures.length;
  return { status: failed === 0 ? 200 : 500, failed, succeeded: events.length - failed, failures };
}
