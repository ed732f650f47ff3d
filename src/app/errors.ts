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

/**
 * How a request to a service failed, as the ports report it (the only vocabulary above src/adapters:
 * use cases, the CLI and functions/ decide on this, never on HTTP statuses, SDK class names or codes).
 */
export const ServiceFailure = {
  /** 429, or a 503 asking for a wait beyond the allowed one: slow down and retry later. */
  throttled: 'throttled',
  /** The service answered 5xx after the retries: transient, retry later. */
  unavailable: 'unavailable',
  /** No answer at all (connection refused, DNS, timeout): transient, or a wrong endpoint. */
  unreachable: 'unreachable',
  /** 403: the identity may not do this. */
  forbidden: 'forbidden',
  /** 404: the row, table or resource does not exist. */
  notFound: 'notFound',
  /** 404 about the subscription itself (ARM `SubscriptionNotFound`): it is gone, not one resource in it. */
  subscriptionNotFound: 'subscriptionNotFound',
  /** 409: it exists already. */
  conflict: 'conflict',
  /** 412: the ETag no longer matches (another writer was first). */
  preconditionFailed: 'preconditionFailed',
  /** 400: the request itself is malformed (a key or value the service cannot hold): never retry. */
  invalid: 'invalid',
  /** Any other refusal (401, 405, 413, ...): not transient. */
  refused: 'refused',
  /** The caller's abort signal fired (a time budget ran out). */
  aborted: 'aborted',
} as const;
export type ServiceFailure = (typeof ServiceFailure)[keyof typeof ServiceFailure];

export interface ServiceErrorDetails {
  /** The HTTP status the service answered, for logs and output only (decide on `failure`). */
  statusCode?: number | undefined;
  /** The service's error code (`AuthorizationFailed`, `TableNotFound`, ...), for logs and output only. */
  code?: string | undefined;
  /** The wait the service asked for (`Retry-After`), when it said. */
  retryAfterInMs?: number | undefined;
  cause?: unknown;
}

/**
 * A request to a service (Resource Manager, metrics, Table or Blob Storage, retail prices) failed.
 * Adapters raise it, mapped from the SDK's error (the original is the `cause`).
 */
export class ServiceError extends Error {
  override name = 'ServiceError';
  readonly failure: ServiceFailure;
  readonly statusCode: number | undefined;
  readonly code: string | undefined;
  readonly retryAfterInMs: number | undefined;
  constructor(failure: ServiceFailure, message: string, details: ServiceErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.failure = failure;
    this.statusCode = details.statusCode;
    this.code = details.code;
    this.retryAfterInMs = details.retryAfterInMs;
  }
}

/** The service throttled the request and retrying within the allowed wait was not possible. */
export class ThrottledError extends ServiceError {
  override name = 'ThrottledError';
  constructor(message: string, retryAfterInMs: number | undefined, options: { cause?: unknown } = {}) {
    super(ServiceFailure.throttled, message, { statusCode: 429, retryAfterInMs, cause: options.cause });
  }
}

/** The failure of a ServiceError; undefined for anything else (a bug, bad data). */
export function failureOf(error: unknown): ServiceFailure | undefined {
  return error instanceof ServiceError ? error.failure : undefined;
}
