import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { CurrentState } from '../src/app/ports';
import { appContext } from '../src/composition';
import { loadConfig } from '../src/config';
import { parseComputeResourceId, vmKey } from '../src/domain/resource-id';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** One `VmCurrent` row as the dashboard lists it. */
export function vmListItem(current: CurrentState) {
  const parsed = parseComputeResourceId(current.resourceId);
  return {
    resourceId: current.resourceId,
    key: vmKey(current.resourceId),
    subscriptionId: current.subscriptionId,
    resourceGroup: parsed?.resourceGroup ?? null,
    name:
      parsed === undefined
        ? current.resourceId
        : parsed.instanceId === undefined
          ? parsed.name
          : `${parsed.name}_${parsed.instanceId}`,
    scaleSet: parsed?.instanceId === undefined ? null : parsed.name,
    state: current.state ?? null,
    billing: current.billing ?? null,
    since: iso(current.since),
    sinceWindowFrom: iso(current.sinceWindowFrom),
    lastObservedAt: iso(current.last.at),
    vmSize: current.details?.vmSize ?? null,
    location: current.details?.location ?? null,
    priority: current.details?.priority ?? null,
    tags: current.details?.tags ?? {},
  };
}

/** `GET /api/vms`: every VM with a current row (the dashboard's VM list and filters). */
export async function listVms(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const ctx = await appContext(loadConfig);
  const vms: ReturnType<typeof vmListItem>[] = [];
  for await (const page of ctx.store.listAllCurrent())
    for (const current of page) vms.push(vmListItem(current));
  vms.sort((a, b) => a.resourceId.toLowerCase().localeCompare(b.resourceId.toLowerCase()));
  return { status: 200, jsonBody: { asOf: new Date(ctx.now()).toISOString(), vms } };
}

app.http('vms', { route: 'vms', methods: ['GET'], authLevel: 'function', handler: listVms });
