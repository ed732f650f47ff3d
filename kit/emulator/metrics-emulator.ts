/**
 * Emulator of the Azure Monitor metrics batch API (`POST /subscriptions/{sub}/metrics:getBatch`, data
 * plane, api-version 2023-10-01; wire shape of Azure/azure-rest-api-specs
 * specification/monitor/data-plane/Microsoft.Insights/stable/2023-10-01/examples/MetricBatchExample.json),
 * serving `VmAvailabilityMetric` at PT1M from the emulated fleet's power history: 1 while running, 0
 * while stopped from inside the guest, no value while stopped or deallocated through the control plane
 * (learn.microsoft.com/azure/virtual-machines/monitor-vm-reference). One URL serves every region; the
 * documented batching rules are enforced (≤ 50 resources, one subscription, region and type).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PowerChangeBy, type EmulatedFleet, type EmulatedVm, type PowerChange } from './arm-fleet';
import { wireError } from './arm-wire';
import { send } from '../send';

export const maxBatchResources = 50;
const minuteInMs = 60_000;
/** Longest span served at PT1M (the API's own limit for one-minute grain is larger; ours keeps replies small). */
const maxMinutes = 24 * 60;

export interface MetricsEmulator {
  readonly url: string;
  /** `metrics:getBatch` requests received (including refused ones). */
  readonly requests: { total: number; throttled: number; resources: number };
  /** Answers the next `times` requests with 429 and `Retry-After: retryAfterInSeconds`. */
  throttleNext(times: number, retryAfterInSeconds: number): void;
  close(): Promise<void>;
}

/** Average availability of one minute `[from, from + 1 min)`, or undefined when the VM emitted nothing. */
export function availabilityOfMinute(changes: readonly PowerChange[], from: number): number | undefined {
  const to = from + minuteInMs;
  let emitting = 0;
  let available = 0;
  for (let i = 0; i < changes.length; i++) {
    const change = changes[i] as PowerChange;
    const start = Math.max(change.at, from);
    const end = Math.min(changes[i + 1]?.at ?? Number.POSITIVE_INFINITY, to);
    if (end <= start) continue;
    if (change.powerState === 'running') {
      emitting += end - start;
      available += end - start;
    } else if (change.by === PowerChangeBy.guest && change.powerState === 'stopped') {
      emitting += end - start;
    }
  }
  return emitting === 0 ? undefined : available / emitting;
}

function historyOf(fleet: EmulatedFleet, vm: EmulatedVm): readonly PowerChange[] {
  const changes = fleet.powerChanges(vm.id);
  return changes.length > 0
    ? changes
    : [{ at: 0, powerState: vm.powerState, by: PowerChangeBy.controlPlane }];
}

const typeOf = (id: string): string =>
  /\/virtualmachinescalesets\/[^/]+\/virtualmachines\//i.test(id)
    ? 'microsoft.compute/virtualmachinescalesets/virtualmachines'
    : 'microsoft.compute/virtualmachines';

export async function startMetricsEmulator(fleet: EmulatedFleet): Promise<MetricsEmulator> {
  const requests = { total: 0, throttled: 0, resources: 0 };
  let throttle = { times: 0, retryAfterInSeconds: 0 };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const match = /^\/subscriptions\/([^/]+)\/metrics:getBatch$/i.exec(url.pathname);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || match === null) {
      send(res, 404, wireError('NotFound', 'The requested path is not served by the emulator.'));
      return;
    }
    requests.total += 1;
    if (throttle.times > 0) {
      throttle.times -= 1;
      requests.throttled += 1;
      send(res, 429, wireError('TooManyRequests', 'Too many requests.'), {
        'retry-after': String(throttle.retryAfterInSeconds),
      });
      return;
    }
    const query = new Map([...url.searchParams.entries()].map(([k, v]) => [k.toLowerCase(), v]));
    const bad = (message: string) => send(res, 400, wireError('BadRequest', message));
    if (query.get('api-version') !== '2023-10-01') return bad('api-version must be 2023-10-01.');
    const namespace = query.get('metricnamespace')?.toLowerCase();
    if (namespace === undefined) return bad('metricnamespace is required.');
    if (query.get('metricnames')?.toLowerCase() !== 'vmavailabilitymetric')
      return bad('The emulator serves metricnames=VmAvailabilityMetric only.');
    if ((query.get('interval') ?? 'PT1M').toUpperCase() !== 'PT1M')
      return bad('The emulator serves interval=PT1M only.');
    const start = Date.parse(query.get('starttime') ?? '');
    const end = Date.parse(query.get('endtime') ?? '');
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start)
      return bad('starttime and endtime must be ISO 8601 times, endtime after starttime.');
    let ids: unknown;
    try {
      ids = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceids?: unknown }).resourceids;
    } catch {
      return bad('The body must be JSON {"resourceids": [...]}.');
    }
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string'))
      return bad('resourceids must be a non-empty array of resource ids.');
    if (ids.length > maxBatchResources) return bad(`At most ${maxBatchResources} resource ids per batch.`);
    const subscriptionId = (match[1] ?? '').toLowerCase();
    const vms: EmulatedVm[] = [];
    for (const id of ids) {
      if (!id.toLowerCase().startsWith(`/subscriptions/${subscriptionId}/`))
        return bad('All resources must be in the subscription of the URL.');
      if (typeOf(id) !== namespace) return bad('All resources must be of the metricnamespace type.');
      const vm = fleet.getVm(id);
      if (vm !== undefined) vms.push(vm);
    }
    if (new Set(vms.map((vm) => vm.location.toLowerCase())).size > 1)
      return bad('All resources must be in the same region.');
    requests.resources += ids.length;
    const first = Math.floor(start / minuteInMs) * minuteInMs;
    const minutes = Math.min(maxMinutes, Math.ceil((end - first) / minuteInMs));
    const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
    const values = ids.map((id) => {
      const vm = fleet.getVm(id);
      const changes = vm === undefined ? [] : historyOf(fleet, vm);
      const data = Array.from({ length: minutes }, (_, i) => {
        const at = first + i * minuteInMs;
        const average = availabilityOfMinute(changes, at);
        return average === undefined ? { timeStamp: iso(at) } : { timeStamp: iso(at), average };
      });
      return {
        starttime: new Date(start).toISOString(),
        endtime: new Date(end).toISOString(),
        interval: 'PT1M',
        value: [
          {
            id: `${id}/providers/Microsoft.Insights/metrics/VmAvailabilityMetric`,
            type: 'Microsoft.Insights/metrics',
            name: { value: 'VmAvailabilityMetric', localizedValue: 'VM Availability Metric (Preview)' },
            displayDescription: 'Measure of Availability of Virtual machines over time.',
            unit: 'Count',
            timeseries: [{ metadatavalues: [], data }],
            errorCode: 'Success',
          },
        ],
        namespace,
        resourceregion: vm?.location ?? '',
        resourceid: id,
      };
    });
    send(res, 200, { values });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, wireError('InternalServerError', 'Emulator failure.')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    throttleNext(times, retryAfterInSeconds) {
      throttle = { times, retryAfterInSeconds };
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
