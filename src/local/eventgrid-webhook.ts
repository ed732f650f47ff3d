/**
 * The Event Grid trigger's webhook, as the Functions host exposes it:
 * `POST /runtime/webhooks/eventgrid?functionName=NAME`.
 *
 * - `aeg-event-type: SubscriptionValidation` → `{ validationResponse: <data.validationCode> }`.
 * - `aeg-event-type: Notification` (or a CloudEvents content type without the header) → the body is an
 *   Event Grid array, a single event, a CloudEvent or a CloudEvents batch; the handler runs once per event,
 *   in parallel; if any invocation fails the answer is 500 and Event Grid resends the whole delivery.
 * - `aeg-event-type: Unsubscribe` → 202. `OPTIONS` with `WebHook-Request-Origin` (CloudEvents abuse
 *   protection) → 200 with `WebHook-Allowed-Origin`.
 */

export type WebhookOutcome =
  | { kind: 'validation'; validationCode: string }
  | { kind: 'notification'; events: unknown[] }
  | { kind: 'unsubscribe' }
  | { kind: 'badRequest'; reason: string };

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
  if (eventType === 'subscriptionvalidation') {
    const first = events[0] as { data?: { validationCode?: unknown } } | undefined;
    const code = first?.data?.validationCode;
    if (typeof code !== 'string') return { kind: 'badRequest', reason: 'no data.validationCode' };
    return { kind: 'validation', validationCode: code };
  }
  return { kind: 'notification', events };
}

export interface DeliveryResult {
  /** 200 when every invocation succeeded, 500 otherwise (Event Grid redelivers). */
  status: number;
  failed: number;
  succeeded: number;
}

/** Runs `handle` once per event, in parallel, and answers as the Event Grid extension does. */
export async function deliver(
  events: readonly unknown[],
  handle: (event: unknown) => Promise<unknown>,
): Promise<DeliveryResult> {
  const results = await Promise.allSettled(events.map((event) => handle(event)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  return { status: failed === 0 ? 200 : 500, failed, succeeded: results.length - failed };
}
