import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { vmListItem } from '../src/app/fleet';

/** `GET /api/vms`: every VM with a current row (the whole fleet at once; `GET /api/fleet` pages it). */
export function listVmsHandler(contextOf: ContextFactory) {
  return async function listVms(
    _request: HttpRequest,
    _context: InvocationContext,
  ): Promise<HttpResponseInit> {
    const ctx = await contextOf();
    const vms: ReturnType<typeof vmListItem>[] = [];
    for await (const page of ctx.store.listAllCurrent())
      for (const current of page) vms.push(vmListItem(current));
    vms.sort((a, b) => a.resourceId.toLowerCase().localeCompare(b.resourceId.toLowerCase()));
    return { status: 200, jsonBody: { asOf: new Date(ctx.now()).toISOString(), vms } };
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const listVms = listVmsHandler(hostContext);

export const dashboardApiFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'http',
  name: 'vms',
  options: { route: 'vms', methods: ['GET'], authLevel: 'function', handler: listVmsHandler(contextOf) },
});
