import {
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { RestError as TablesRestError } from '@azure/data-tables';
import { RestError as BlobRestError } from '@azure/storage-blob';
import { RestError as QueueRestError } from '@azure/storage-queue';
import { describe, expect, it } from 'vitest';
import { ManagementRequestError, toManagementError } from '../../src/adapters/arm-errors';
import { failureOfStatus, serviceErrorOf, toServiceError } from '../../src/adapters/service-errors';
import { isStorageUnreachable, isTableMissing } from '../../src/adapters/storage';
import { failureOf, ServiceError, ServiceFailure, ThrottledError } from '../../src/app/errors';

const url = 'https://management.azure.com/subscriptions/s/providers/Microsoft.Compute/virtualMachines';

/** A response as the pipeline hands it to the SDK's deserializer. */
function response(status: number, headers: Record<string, string> = {}): PipelineResponse {
  return { status, headers: createHttpHeaders(headers), request: createPipelineRequest({ url }) };
}

/** A RestError as core-client's deserialization policy throws it for an error status. */
function restError(status: number, code?: string, headers: Record<string, string> = {}): RestError {
  const error = new RestError(`status ${status}`, {
    statusCode: status,
    response: response(status, headers),
  });
  if (code !== undefined) error.code = code;
  return error;
}

describe('toServiceError (the one SDK error mapping)', () => {
  it('maps each HTTP status of a RestError to the failure the ports know', () => {
    const cases: [number, string | undefined, ServiceFailure][] = [
      [429, undefined, ServiceFailure.throttled],
      [500, undefined, ServiceFailure.unavailable],
      [503, 'ServerBusy', ServiceFailure.unavailable],
      [403, 'AuthorizationFailed', ServiceFailure.forbidden],
      [404, 'ResourceNotFound', ServiceFailure.notFound],
      [404, 'SubscriptionNotFound', ServiceFailure.subscriptionNotFound],
      [409, 'EntityAlreadyExists', ServiceFailure.conflict],
      [412, 'UpdateConditionNotSatisfied', ServiceFailure.preconditionFailed],
      [400, 'OutOfRangeInput', ServiceFailure.invalid],
      [401, 'InvalidAuthenticationToken', ServiceFailure.refused],
    ];
    for (const [status, code, failure] of cases) {
      const original = restError(status, code);
      const mapped = toServiceError(original);
      expect(mapped).toBeInstanceOf(ServiceError);
      expect({ status, failure: failureOf(mapped) }).toEqual({ status, failure });
      expect(mapped).toMatchObject({ statusCode: status, message: `status ${status}`, cause: original });
    }
  });

  it('turns a 429 into a ThrottledError carrying the Retry-After wait', () => {
    const seconds = toServiceError(restError(429, undefined, { 'retry-after': '7' }));
    expect(seconds).toBeInstanceOf(ThrottledError);
    expect(seconds).toMatchObject({ name: 'ThrottledError', retryAfterInMs: 7_000 });
    const ms = toServiceError(restError(429, undefined, { 'retry-after-ms': '1500' }));
    expect(ms).toMatchObject({ retryAfterInMs: 1_500 });
    const date = new Date(Date.now() + 60_000).toUTCString();
    const until = toServiceError(restError(503, 'ServerBusy', { 'retry-after': date }));
    expect((until as ServiceError).retryAfterInMs).toBeGreaterThan(50_000);
  });

  it('reads the code of an ARM error body when the RestError carries it in details', () => {
    const error = restError(404);
    error.details = { error: { code: 'SubscriptionNotFound', message: 'gone' } };
    expect(failureOf(toServiceError(error))).toBe(ServiceFailure.subscriptionNotFound);
  });

  it('calls a request without an answer unreachable, by RestError or by Node network code', () => {
    const sendError = new RestError('connect ECONNREFUSED 127.0.0.1:9', {
      code: RestError.REQUEST_SEND_ERROR,
    });
    expect(failureOf(toServiceError(sendError))).toBe(ServiceFailure.unreachable);
    const socket = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere'), { code: 'ENOTFOUND' });
    expect(failureOf(toServiceError(socket))).toBe(ServiceFailure.unreachable);
  });

  it('maps an abort, and leaves a bug or an already mapped error as it is', () => {
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    expect(failureOf(toServiceError(abort))).toBe(ServiceFailure.aborted);
    const bug = new TypeError('x is undefined');
    expect(toServiceError(bug)).toBe(bug);
    expect(failureOf(bug)).toBeUndefined();
    const mapped = new ThrottledError('throttled', 1_000);
    expect(toServiceError(mapped)).toBe(mapped);
  });

  it('maps the RestError of every storage SDK the same way', () => {
    for (const Type of [TablesRestError, BlobRestError, QueueRestError]) {
      const error = new Type('The specified resource does not exist.', {
        statusCode: 404,
        code: 'ContainerNotFound',
        response: response(404),
      });
      expect(toServiceError(error)).toMatchObject({
        failure: ServiceFailure.notFound,
        code: 'ContainerNotFound',
      });
    }
  });

  it('maps a bare HTTP answer (the metrics and retail-price clients) by status and headers', () => {
    const throttled = serviceErrorOf(429, 'metrics batch read failed', {
      headers: createHttpHeaders({ 'retry-after': '2' }),
    });
    expect(throttled).toBeInstanceOf(ThrottledError);
    expect(throttled.retryAfterInMs).toBe(2_000);
    expect(serviceErrorOf(403, 'metrics batch read failed').failure).toBe(ServiceFailure.forbidden);
    expect(failureOfStatus(502)).toBe(ServiceFailure.unavailable);
  });
});

describe('toManagementError (the ARM adapter)', () => {
  it('keeps the names its callers log and reconcile --json prints, with the failure beside them', () => {
    expect(toManagementError(restError(429, undefined, { 'retry-after': '3' }))).toMatchObject({
      name: 'ThrottledError',
      failure: ServiceFailure.throttled,
      statusCode: 429,
      retryAfterInMs: 3_000,
    });
    expect(toManagementError(restError(503))).toMatchObject({
      name: 'ManagementUnavailableError',
      message: 'Management service unavailable',
      failure: ServiceFailure.unavailable,
      statusCode: 503,
    });
    expect(toManagementError(restError(403, 'AuthorizationFailed'))).toMatchObject({
      name: 'ManagementRequestError',
      message: 'Management request refused',
      failure: ServiceFailure.forbidden,
      statusCode: 403,
      code: 'AuthorizationFailed',
    });
    expect(toManagementError(restError(404, 'SubscriptionNotFound'))).toMatchObject({
      failure: ServiceFailure.subscriptionNotFound,
    });
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    expect(toManagementError(abort)).toMatchObject({
      name: 'AbortError',
      message: 'The operation was aborted.',
      failure: ServiceFailure.aborted,
    });
  });

  it('calls any other failure unavailable, and passes a mapped error through', () => {
    const failed = toManagementError(new TypeError('fetch failed'));
    expect(failed).toMatchObject({
      name: 'ManagementUnavailableError',
      message: 'Management request failed',
    });
    expect(failureOf(failed)).toBe(ServiceFailure.unreachable);
    const refused = new ManagementRequestError(
      'Not a supported compute resource id',
      undefined,
      'InvalidResourceId',
    );
    expect(toManagementError(refused)).toBe(refused);
    expect(refused.failure).toBe(ServiceFailure.refused);
  });
});

describe('Table Storage errors', () => {
  it('tells a missing table from a missing entity', () => {
    const table = new TablesRestError('The table specified does not exist.', {
      statusCode: 404,
      code: 'TableNotFound',
      response: response(404),
    });
    const entity = new TablesRestError('The specified resource does not exist.', {
      statusCode: 404,
      code: 'ResourceNotFound',
      response: response(404),
    });
    expect(isTableMissing(table)).toBe(true);
    expect(isTableMissing(entity)).toBe(false);
  });

  it('calls storage unreachable only for its own SDK error without an answer', () => {
    const refused = new TablesRestError('connect ECONNREFUSED 127.0.0.1:9', { code: 'REQUEST_SEND_ERROR' });
    expect(isStorageUnreachable(refused)).toBe(true);
    expect(isStorageUnreachable(toManagementError(new TypeError('fetch failed')))).toBe(false);
    expect(isStorageUnreachable(restError(503))).toBe(false);
  });
});
