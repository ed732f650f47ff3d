import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { ensureError, InputError } from '../src/app/errors';
import { getTimelineView, maxRangeInDays, NotFoundError, parseInstant } from '../src/app/queries';
import { listStopped } from '../src/app/stopped';
import { groupByParameter } from '../src/app/usage-report';
import { usageReportJson } from '../src/app/usage-report-json';
import type { AppContext } from '../src/composition';
import {
  InvalidKeyError,
  keyProblemOf,
  parseComputeResourceId,
  resourceIdFromKey,
  ResourceKind,
} from '../src/domain/resource-id';

export type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** `from` / `to` query parameters; errors name the parameter. */
export function range(request: HttpRequest, required: boolean): { from?: number; to?: number } {
  const value = (name: string) => {
    const text = request.query.get(name) ?? undefined;
    if (required && (text === undefined || text.trim() === '')) throw new InputError(`${name} is required`);
    return parseInstant(text, name);
  };
  const from = value('from');
  const to = value('to');
  if (from !== undefined && to !== undefined) {
    if (!(to > from)) throw new InputError('to must be after from');
    if (to - from > maxRangeInDays * 86_400_000)
      throw new InputError(`from..to may cover at most ${maxRangeInDays} days`);
  }
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}

/** `{key}`: a VM key as in the tables, or a (URL-encoded) resource id. */
export function resourceIdOfKey(key: string): string {
  const invalid = () =>
    new InputError('key must be a VM key or the resource id of a VM or scale-set instance');
  let text = key.trim();
  let id: string;
  try {
    if (/%2f/i.test(text) && !text.includes('/')) text = decodeURIComponent(text);
    id =
      text.startsWith('/') || text.toLowerCase().startsWith('subscriptions/')
        ? text
        : resourceIdFromKey(text);
  } catch (error) {
    // A bad `%` escape (`%zz`, `%E0%A4`) is the caller's mistake: 400, not 500.
    if (error instanceof URIError || error instanceof InvalidKeyError) throw invalid();
    throw error;
  }
  const parsed = parseComputeResourceId(id);
  if (parsed === undefined || parsed.kind === ResourceKind.scaleSet) throw invalid();
  // Never query with a key storage cannot hold (a lone surrogate, too long once escaped).
  if (keyProblemOf(parsed.resourceId) !== undefined) throw invalid();
  return parsed.resourceId;
}

/** A JSON body sent as it is written (pieces of its text), instead of one value. */
export class StreamedJson {
  constructor(readonly pieces: AsyncIterable<string>) {}
}

/**
 * The response of a streamed body: its first piece is awaited here (a failure before it still gets an
 * error status), the rest is sent as the client reads it.
 */
async function streamedResponse(body: StreamedJson): Promise<HttpResponseInit> {
  const pieces = body.pieces[Symbol.asyncIterator]();
  const first = await pieces.next();
  const encoder = new TextEncoder();
  async function* bytes(): AsyncGenerator<Uint8Array> {
    try {
      if (first.done !== true) yield encoder.encode(first.value);
      for (let next = await pieces.next(); next.done !== true; next = await pieces.next())
        yield encoder.encode(next.value);
    } finally {
      // The client left before the end: the producer stops.
      await pieces.return?.();
    }
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, body: bytes() };
}

/** Runs a route: 400 `{ error }` for bad parameters, 404 for an unknown VM; other errors propagate (500). */
export function route(
  name: string,
  work: (request: HttpRequest, ctx: AppContext, context: InvocationContext) => Promise<unknown>,
  getContext: () => Promise<AppContext>,
): Handler {
  return async (request, context) => {
    try {
      const body = await work(request, await getContext(), context);
      if (body instanceof StreamedJson) return await streamedResponse(body);
      return { status: 200, jsonBody: body };
    } catch (error) {
      if (error instanceof InputError) return { status: 400, jsonBody: { error: error.message } };
      if (error instanceof NotFoundError) return { status: 404, jsonBody: { error: error.message } };
      invocationLogger(context).error('api request failed', {
        route: name,
        error: ensureError(error).message,
      });
      throw error;
    }
  };
}

/** The API's handlers over a context (tests pass their own). */
export function apiHandlers(
  getContext: () => Promise<AppContext>,
): Record<'timeline' | 'usage' | 'stopped', Handler> {
  return {
    timeline: route(
      'timeline',
      (request, ctx) => {
        const resourceId = resourceIdOfKey(request.params['key'] ?? '');
        return getTimelineView(ctx.store, resourceId, range(request, false));
      },
      getContext,
    ),
    usage: route(
      'usage',
      (request, ctx, context) => {
        const { from = 0, to = 0 } = range(request, true);
        const groupBy = groupByParameter(request.query.get('groupBy') ?? undefined, 'groupBy');
        // Streamed: the fleet's rows go out as the report reads them (see src/app/usage-report-json.ts).
        const pieces = usageReportJson(
          { source: ctx.store, daily: ctx.daily },
          { from, to, asOf: ctx.now(), groupBy },
          {
            onFailure: (error, rowsWritten) =>
              invocationLogger(context).error('usage report failed after the answer began', {
                route: 'usage',
                rowsWritten,
                error: ensureError(error).message,
              }),
          },
        );
        return Promise.resolve(new StreamedJson(pieces));
      },
      getContext,
    ),
    stopped: route('stopped', (_request, ctx) => listStopped(ctx, ctx.now()), getContext),
  };
}

const handlers = apiHandlers(hostContext);
export const timeline = handlers.timeline;
export const usage = handlers.usage;
export const stopped = handlers.stopped;

export const apiFunctions = (contextOf: ContextFactory): FunctionRegistration[] => {
  const { timeline, usage, stopped } = apiHandlers(contextOf);
  return [
    {
      kind: 'http',
      name: 'timeline',
      options: { route: 'vms/{key}/timeline', methods: ['GET'], authLevel: 'function', handler: timeline },
    },
    {
      kind: 'http',
      name: 'usage',
      options: { route: 'usage', methods: ['GET'], authLevel: 'function', handler: usage },
    },
    {
      kind: 'http',
      name: 'stopped',
      options: { route: 'stopped', methods: ['GET'], authLevel: 'function', handler: stopped },
    },
  ];
};
