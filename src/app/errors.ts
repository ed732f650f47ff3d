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
