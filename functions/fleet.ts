import type { HttpRequest } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { InputError } from '../src/app/errors';
import {
  fleetPage,
  pageSizeParameter,
  sortParameter,
  statesParameter,
  unchangedSince,
  type FleetPage,
} from '../src/app/fleet';
import { groupByParameter } from '../src/app/usage-report';
import type { AppContext } from '../src/composition';
import { range, route, type Handler } from './api';

/** A query parameter, undefined when absent or blank. */
function param(request: HttpRequest, name: string): string | undefined {
  const value = request.query.get(name);
  return value === null || value.trim() === '' ? undefined : value;
}

function booleanParameter(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new InputError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** `If-None-Match: W/"<version>"` → the version. */
function versionOfTag(tag: string | null): string | undefined {
  const match = tag === null ? null : /^(?:W\/)?"([^"]*)"$/.exec(tag.trim());
  return match?.[1];
}

/**
 * `GET /api/fleet`: a page of VMs (or groups) with their segments over `from..to`, filtered and sorted
 * (see `src/app/fleet.ts`). `ETag` names the recorded data; `If-None-Match` with it answers 304 when
 * nothing was recorded since (one or two Table requests).
 */
export function fleetHandler(getContext: () => Promise<AppContext>): Handler {
  const answer = route(
    'fleet',
    (request, ctx) => {
      const { from = 0, to = 0 } = range(request, true);
      const states = statesParameter(param(request, 'state'), 'state');
      return fleetPage(ctx.fleet, {
        from,
        to,
        asOf: ctx.now(),
        subscription: param(request, 'subscription'),
        resourceGroup: param(request, 'resourceGroup'),
        tag: param(request, 'tag'),
        tagValue: request.query.get('tagValue') ?? undefined,
        states,
        search: param(request, 'search'),
        sort: sortParameter(param(request, 'sort'), 'sort'),
        groupBy: groupByParameter(param(request, 'groupBy'), 'groupBy'),
        pageSize: pageSizeParameter(param(request, 'pageSize'), 'pageSize'),
        continuation: param(request, 'continuation'),
        segments: booleanParameter(param(request, 'segments'), 'segments'),
      });
    },
    getContext,
  );
  return async (request, context) => {
    const version = versionOfTag(request.headers.get('if-none-match'));
    if (version !== undefined && (await unchangedSince((await getContext()).fleet, version)))
      return { status: 304, headers: { etag: `W/"${version}"`, 'cache-control': 'no-store' } };
    const response = await answer(request, context);
    if (response.status !== 200) return response;
    const page = response.jsonBody as FleetPage;
    return { ...response, headers: { etag: `W/"${page.version}"`, 'cache-control': 'no-store' } };
  };
}

export const fleet = fleetHandler(hostContext);

export const fleetFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'http',
  name: 'fleet',
  options: { route: 'fleet', methods: ['GET'], authLevel: 'function', handler: fleetHandler(contextOf) },
});
