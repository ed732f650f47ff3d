/** Domain errors of the management (ARM) adapter, and the mapping from SDK errors to them. */
import { ensureError } from '../app/errors';

export { ensureError };

/** ARM throttled the request (429) and retrying within the allowed wait was not possible. */
export class ThrottledError extends Error {
  override readonly name = 'ThrottledError';
  readonly statusCode = 429;
  /** The wait ARM asked for (`Retry-After`), when it said. */
  readonly retryAfterInMs: number | undefined;
  constructor(message: string, retryAfterInMs: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.retryAfterInMs = retryAfterInMs;
  }
}

/** ARM answered 5xx after retries, or could not be reached (network). Transient: retry later. */
export class ManagementUnavailableError extends Error {
  override readonly name = 'ManagementUnavailableError';
  readonly statusCode: number | undefined;
  constructor(message: string, statusCode: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.statusCode = statusCode;
  }
}

/** ARM refused the request (4xx other than 404 and 429: authorization, bad request). Not transient. */
export class ManagementRequestError extends Error {
  override readonly name = 'ManagementRequestError';
  readonly statusCode: number | undefined;
  /** ARM error code (`AuthorizationFailed`, ...), when the body carried one. */
  readonly code: string | undefined;
  constructor(
    message: string,
    statusCode: number | undefined,
    code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.statusCode = statusCode;
    this.code = code;
  }
}

interface RestErrorLike extends Error {
  statusCode?: number;
  code?: string;
  response?: { headers?: { get(name: string): string | undefined } };
  details?: unknown;
}

function isRestErrorLike(error: Error): error is RestErrorLike {
  return error.name === 'RestError';
}

/** Milliseconds from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` (seconds or HTTP date). */
export function retryAfterInMsOf(
  headers: { get(name: string): string | undefined } | undefined,
): number | undefined {
  if (!headers) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = Number(headers.get(name));
    if (headers.get(name) !== undefined && Number.isFinite(value)) return value;
  }
  const retryAfter = headers.get('retry-after');
  if (retryAfter === undefined) return undefined;
  const seconds = Number(retryAfter);
  if (retryAfter.trim() !== '' && Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(retryAfter);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function armErrorCode(error: RestErrorLike): string | undefined {
  const details = error.details as { error?: { code?: unknown } } | undefined;
  const code = details?.error?.code;
  if (typeof code === 'string') return code;
  return typeof error.code === 'string' ? error.code : undefined;
}

export function isNotFound(value: unknown): boolean {
  const error = ensureError(value);
  return isRestErrorLike(error) && error.statusCode === 404;
}

/** Turns an SDK / pipeline error into one of the domain errors (already-mapped errors and aborts pass through). */
export function toManagementError(value: unknown): Error {
  const error = ensureError(value);
  if (
    error instanceof ThrottledError ||
    error instanceof ManagementUnavailableError ||
    error instanceof ManagementRequestError ||
    error.name === 'AbortError'
  ) {
    return error;
  }
  if (!isRestErrorLike(error))
    return new ManagementUnavailableError('Management request failed', undefined, { cause: error });
  const status = error.statusCode;
  if (status === 429) {
    return new ThrottledError('Management request throttled', retryAfterInMsOf(error.response?.headers), {
      cause: error,
    });
  }
  if (status === undefined || status >= 500) {
    return new ManagementUnavailableError('Management service unavailable', status, { cause: error });
  }
  return new ManagementRequestError('Management request refused', status, armErrorCode(error), {
    cause: error,
  });
}
