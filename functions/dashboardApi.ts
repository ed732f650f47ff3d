import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { FunctionRegistration } from './registration';
import { vmListItem } from '../src/app/fleet';
import { appContext } from '../src/composition';
import { loadConfig } from '../src/config';

/** `GET /api/vms`: every VM with a current row (the whole fleet at once; `GET /api/fleet` pages it). */
export async function listVms(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const ctx = await appContext(loadConfig);
  const vms: ReturnType<typeof vmListItem>[] = [];
  for await (const page of ctx.store.listAllCurrent())
    for (const current of page) vms.push(vmListItem(current));
  vms.sort((a, b) => a.resourceId.toLowerCase().localeCompare(b.resourceId.toLowerCase()));
  return { status: 200, jsonBody: { asOf: new Date(ctx.now()).toISOString(), vms } };
}

export const dashboardApiFunction: FunctionRegistration = {
  kind: 'http',
  name: 'vms',
  options: { route: 'vms', methods: ['GET'], authLevel: 'function', handler: listVms },
};
