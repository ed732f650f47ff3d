/**
 * A fleet made up page by page as a report reads it (nothing kept): a `UsageSource` (our own port) for
 * reports over fleets too big to seed. Every VM running since the day before `t0`, tagged with one of 4
 * teams, with ids padded long so that holding every VM shows in the heap.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CurrentState } from '../../src/app/ports';
import type { DailyUsageStore, UsageCurrentRow, UsageSource } from '../../src/app/rollup-usage';
import { currentKeys, vmKey } from '../../src/domain/resource-id';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap after a full collection. */
export function heapInMB(): number {
  gc();
  return process.memoryUsage().heapUsed / 1e6;
}

const dayInMs = 86_400_000;
/** ~600 characters per id: 40,000 VMs' ids are ~24 MB. */
const padding = 'x'.repeat(560);

export interface GeneratedFleetOptions {
  vms: number;
  pageSize: number;
  /** Start of the day the VMs run through. */
  t0: number;
  /** Called before page `index` (0-based) is made; a throw fails the listing there, a promise delays it. */
  beforePage?: (index: number) => unknown;
}

export class GeneratedFleet implements UsageSource {
  heapBeforeInMB = 0;
  heapAtEndInMB = 0;
  pagesRead = 0;
  constructor(private readonly options: GeneratedFleetOptions) {}

  get pages(): number {
    return Math.ceil(this.options.vms / this.options.pageSize);
  }

  async *listCurrentRows(): AsyncIterable<UsageCurrentRow[]> {
    const { vms, pageSize, t0 } = this.options;
    this.heapBeforeInMB = heapInMB();
    for (let p = 0; p * pageSize < vms; p++) {
      await this.options.beforePage?.(p);
      await Promise.resolve();
      const rows: UsageCurrentRow[] = [];
      for (let i = p * pageSize; i < Math.min(vms, (p + 1) * pageSize); i++) {
        const resourceId = `/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg-${i % 7}/providers/Microsoft.Compute/virtualMachines/vm-${String(i).padStart(6, '0')}-${padding}`;
        const key = vmKey(resourceId);
        const current: CurrentState = {
          resourceId,
          subscriptionId: currentKeys(key).partitionKey,
          state: 'running',
          billing: 'billed',
          since: t0 - dayInMs,
          last: { at: t0 - dayInMs, source: 'event', dedupeId: `e${i}` },
          details: { tags: { team: `t-${i % 4}` } },
          detailsAt: t0 - 2 * dayInMs,
        };
        rows.push({ key, current, etag: '1', raw: undefined });
      }
      this.pagesRead += 1;
      yield rows;
    }
    this.heapAtEndInMB = heapInMB();
  }

  settleUsageDirty(): Promise<boolean> {
    return Promise.resolve(true);
  }

  getDetailsHistory(): Promise<never[]> {
    return Promise.resolve([]);
  }

  getTimeline(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

/** Daily rollups with nothing rolled up. */
export const noRollups: DailyUsageStore = {
  upsertDay: () => Promise.resolve(),
  // eslint-disable-next-line require-yield
  async *listDay() {
    await Promise.resolve();
  },
  getRolledThrough: () => Promise.resolve(undefined),
  setRolledThrough: () => Promise.resolve(),
};
