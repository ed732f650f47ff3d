/** The management (ARM) adapter's errors: the ports' ServiceError under the names its callers log. */
import { isRestError } from '@azure/core-rest-pipeline';
import { ensureError, ServiceError, ServiceFailure, ThrottledError } from '../app/errors';
import { failureOfStatus, toServiceError } from './service-errors';

/** ARM answered 5xx after retries, or could not be reached (network). Transient: retry later. */
export class ManagementUnavailableError extends ServiceError {
  override name = 'ManagementUnavailableError';
  constructor(message: string, statusCode: number | undefined, options: { cause?: unknown } = {}) {
    super(statusCode === undefined ? ServiceFailure.unreachable : ServiceFailure.unavailable, message, {
      statusCode,
      cause: options.cause,
    });
  }
}

/**
 * ARM refused the request (4xx other than 429: authorization, not found, bad request). Not transient.
 * `failure` says which (forbidden, notFound, subscriptionNotFound, refused).
 */
export class ManagementRequestError extends ServiceError {
  override name = 'ManagementRequestError';
  constructor(
    message: string,
    statusCode: number | undefined,
    code: string | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(statusCode === undefined ? ServiceFailure.refused : failureOfStatus(statusCode, code), message, {
      statusCode,
      code,
      cause: options.cause,
    });
  }
}

/** An abort of the caller's signal, under the name the SDKs give it. */
class ManagementAbortedError extends ServiceError {
  override name = 'AbortError';
}

/** Turns an SDK / pipeline error into one of the management errors (mapped errors pass through). */
export function toManagementError(value: unknown): Error {
  const error = ensureError(value);
  if (error instanceof ServiceError) return error;
  const mapped = toServiceError(error);
  if (!(mapped instanceof ServiceError) || !(isRestError(error) || mapped.failure === ServiceFailure.aborted))
    return new ManagementUnavailableError('Management request failed', undefined, { cause: error });
  const cause = { cause: error };
  switch (mapped.failure) {
    case ServiceFailure.throttled:
      return new ThrottledError('Management request throttled', mapped.retryAfterInMs, cause);
    case ServiceFailure.aborted:
      return new ManagementAbortedError(ServiceFailure.aborted, error.message, cause);
    case ServiceFailure.unavailable:
    case ServiceFailure.unreachable:
      return new ManagementUnavailableError('Management service unavailable', mapped.statusCode, cause);
    default:
      return new ManagementRequestError('Management request refused', mapped.statusCode, mapped.code, cause);
  }
}
