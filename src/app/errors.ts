/** Turns anything thrown into an Error. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  let text: string;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return new Error(`non-error thrown: ${text}`);
}

/** Bad input from a user (a CLI argument, an HTTP parameter): a clear message, never a stack trace. */
export class InputError extends Error {
  override name = 'InputError';
}

/** A required management client is not configured. */
export class NotConfiguredError extends Error {
  override name = 'NotConfiguredError';
}

/**
 * Input that can never be stored or processed, whatever the retries: a key the store refuses (400), a
 * lone surrogate, an event too deep to walk. The event path records it in `VmRejectedEvents` and
 * acknowledges it instead of letting the platform redeliver it for 24 hours.
 */
export class PermanentInputError extends Error {
  override name = 'PermanentInputError';
}
