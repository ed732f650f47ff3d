/** Reading the queue messages the app sends itself (an object, or its JSON text as the trigger may hand it). */

/** The message's fields, or undefined when it is neither an object nor JSON text of one. */
export function queueMessageFields(message: unknown): Record<string, unknown> | undefined {
  let value = message;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** A subscription id as messages carry it (GUID-like: letters, digits, dashes; at most 64). */
export function isSubscriptionId(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(value);
}
