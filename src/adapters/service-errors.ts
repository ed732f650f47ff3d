/**
 * The one mapping from Azure SDK errors (RestError of @azure/core-rest-pipeline, which @azure/data-tables,
 * storage-blob, arm-compute and our own pipelines throw) and HTTP statuses to the ports' ServiceError.
 * Only adapters import this; everything above them decides on `ServiceFailure`.
 */
import { isRestError } from '@azure/core-rest-pipeline';
import { ensureError, ServiceError, ServiceFailure, ThrottledError } from '../app/errors';

/** Node and SDK codes of failures to connect at all (no HTTP status). */
const networkCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'REQUEST_SEND_ERROR',
]);

interface HeaderReader {
  get(name: string): string | undefined;
}

/** Milliseconds from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` (seconds or HTTP date). */
export function retryAfterInMsOf(headers: HeaderReader | undefined): number | undefined {
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

/** The failure an HTTP status means (`code` tells a vanished subscription from a missing resource). */
export function failureOfStatus(statusCode: number, code?: string): ServiceFailure {
  if (statusCode === 429) return ServiceFailure.throttled;
  if (statusCode >= 500) return ServiceFailure.unavailable;
  if (statusCode === 403) return ServiceFailure.forbidden;
  if (statusCode === 404)
    return code === 'SubscriptionNotFound' ? ServiceFailure.subscriptionNotFound : ServiceFailure.notFound;
  if (statusCode === 400) return ServiceFailure.invalid;
  if (statusCode === 409) return ServiceFailure.conflict;
  if (statusCode === 412) return ServiceFailure.preconditionFailed;
  return ServiceFailure.refused;
}

/** The ServiceError of an HTTP answer that is not a success (a ThrottledError for 429). */
export function serviceErrorOf(
  statusCode: number,
  message: string,
  answer: { headers?: HeaderReader | undefined; code?: string | undefined; cause?: unknown } = {},
): ServiceError {
  const retryAfterInMs = retryAfterInMsOf(answer.headers);
  if (statusCode === 429) return new ThrottledError(message, retryAfterInMs, { cause: answer.cause });
  return new ServiceError(failureOfStatus(statusCode, answer.code), message, {
    statusCode,
    code: answer.code,
    retryAfterInMs,
    cause: answer.cause,
  });
}

/** The service's error code: ARM's `error.code` in the body, else the RestError's (`TableNotFound`). */
function serviceCode(error: { code?: string | undefined; details?: unknown }): string | undefined {
  const details = error.details as { error?: { code?: unknown }; errorCode?: unknown } | undefined;
  const code = details?.error?.code ?? details?.errorCode;
  if (typeof code === 'string') return code;
  return typeof error.code === 'string' ? error.code : undefined;
}

/**
 * An SDK error as a ServiceError: a RestError by its status (none: unreachable), a network error by
 * its code, an abort as aborted. A ServiceError passes through; anything else is returned as it is.
 */
export function toServiceError(value: unknown, message?: string): Error {
  const error = ensureError(value);
  if (error instanceof ServiceError) return error;
  if (error.name === 'AbortError')
    return new ServiceError(ServiceFailure.aborted, message ?? error.message, { cause: error });
  if (isRestError(error)) {
    const statusCode = error.statusCode;
    const text = message ?? error.message;
    if (statusCode === undefined)
      return new ServiceError(ServiceFailure.unreachable, text, { code: error.code, cause: error });
    return serviceErrorOf(statusCode, text, {
      headers: error.response?.headers,
      code: serviceCode(error),
      cause: error,
    });
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && networkCodes.has(code))
    return new ServiceError(ServiceFailure.unreachable, message ?? error.message, { code, cause: error });
  return error;
}

/** The failure an SDK error means; undefined when it is not a service failure. */
export function sdkFailureOf(value: unknown): ServiceFailure | undefined {
  const mapped = toServiceError(value);
  return mapped instanceof ServiceError ? mapped.failure : undefined;
}

/** True when an SDK error means one of these failures (`isSdkFailure(error, notFound, preconditionFailed)`). */
export function isSdkFailure(value: unknown, ...failures: ServiceFailure[]): boolean {
  const failure = sdkFailureOf(value);
  return failure !== undefined && failures.includes(failure);
}
