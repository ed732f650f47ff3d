/**
 * Keeps the stopped-episode index in step with `VmCurrent`: the timeline store calls `onCurrentChange`
 * after each current-row write (its errors propagate, so the event or reconcile is retried), and
 * `syncStoppedIndex` re-syncs from `VmCurrent` rows in Stopped (allocated) in case a crash lost an update.
 */
import type { StoppedEpisode } from '../domain/alerts';
import { sameReason } from '../domain/health';
import { PowerState } from '../domain/power-state';
import { vmKey } from '../domain/resource-id';
import type { EpisodeRecord, EpisodeStart, StoppedEpisodeStore } from './alert-ports';
import type { CurrentState, Logger } from './ports';

/** What the store reports after a current-row write (structurally the adapter's `CurrentChange`). */
export interface CurrentRowChange {
  key: string;
  before: CurrentState | undefined;
  after: CurrentState;
}

export function episodeStartOf(current: CurrentState & { since: number }): EpisodeStart {
  return {
    resourceId: current.resourceId,
    since: current.since,
    sinceWindowFrom: current.sinceWindowFrom,
    sinceSource: current.sinceSource,
    operation: current.operation,
    caller: current.caller,
    reason: current.reason,
    details: current.details,
  };
}

function isStopped(c: CurrentState | undefined): c is CurrentState & { since: number } {
  return c?.state === PowerState.stopped && c.since !== undefined;
}

const isOpen = (r: StoppedEpisode): boolean => r.endedAt === undefined;

type StartFields = Pick<StoppedEpisode, 'since' | 'sinceWindowFrom' | 'reason'>;

/** Same start of a stop: same time, same window, same reason (a late annotation changes only the reason). */
function sameStart(a: StartFields, b: StartFields): boolean {
  if (a.since !== b.since || a.sinceWindowFrom !== b.sinceWindowFrom) return false;
  if (a.reason === undefined || b.reason === undefined) return a.reason === b.reason;
  return sameReason(a.reason, b.reason);
}

/**
 * Records that a VM is in Stopped (allocated) since `start.since`. An open episode of the VM whose start
 * moved earlier (a late event refining a reconciler window) is the same episode: its start is updated,
 * its name (`episodeSince`) kept. Any other open episode ended before this one began.
 */
export async function enterStopped(
  index: StoppedEpisodeStore,
  key: string,
  start: EpisodeStart,
  previousEnd?: number,
): Promise<void> {
  const open = (await index.listEpisodesOf(key)).filter(isOpen);
  for (const record of open) {
    if (sameStart(record, start)) return;
    const sameEpisode = previousEnd === undefined && start.since <= record.since;
    if (sameEpisode || record.episodeSince === start.since) {
      await updateOrRetry(index, record, { ...start, endedAt: undefined });
      return;
    }
    const endedAt = Math.max(record.since, previousEnd ?? start.sinceWindowFrom ?? start.since);
    await updateOrRetry(index, record, { endedAt });
  }
  await index.createEpisode(key, start.since, start);
}

/** Records that a VM left Stopped (allocated) at `endedAt`: its open episodes end. */
export async function leaveStopped(index: StoppedEpisodeStore, key: string, endedAt: number): Promise<void> {
  for (const record of await index.listEpisodesOf(key)) {
    if (isOpen(record)) await updateOrRetry(index, record, { endedAt: Math.max(endedAt, record.since) });
  }
}

/** One ETag-guarded update; on a lost race the row is re-read once and the change applied again. */
async function updateOrRetry(
  index: StoppedEpisodeStore,
  record: EpisodeRecord,
  changes: Parameters<StoppedEpisodeStore['updateEpisode']>[1],
): Promise<void> {
  if ((await index.updateEpisode(record, changes)) !== undefined) return;
  const fresh = (await index.listEpisodesOf(record.key)).find((r) => r.episodeSince === record.episodeSince);
  if (fresh !== undefined && (await index.updateEpisode(fresh, changes)) === undefined)
    throw new Error('stopped-episode row contended');
}

/** The `onCurrentChange` listener of the timeline store: cost only on transitions into or out of stopped. */
export function stoppedIndexListener(
  index: StoppedEpisodeStore,
): (change: CurrentRowChange) => Promise<void> {
  return async ({ key, before, after }) => {
    const wasStopped = isStopped(before);
    if (isStopped(after)) {
      if (wasStopped && sameStart(before, after)) return;
      if (!wasStopped) {
        // A new episode: one request. A row some crash left open is ended by the evaluation (it checks the
        // current row's `since`) or by the periodic re-sync, so the hot path does not list the VM's rows.
        await index.createEpisode(key, after.since, episodeStartOf(after));
        return;
      }
      await enterStopped(index, key, episodeStartOf(after));
    } else if (wasStopped) {
      const endedAt = Math.max(after.since ?? after.last.at, before.since);
      // Usually the open row is named by the stop's start: one blind update; else find it.
      const named: EpisodeRecord = {
        key,
        resourceId: before.resourceId,
        episodeSince: before.since,
        since: before.since,
        etag: '*',
      };
      if ((await index.updateEpisode(named, { endedAt })) === undefined)
        await leaveStopped(index, key, endedAt);
    }
  };
}

export interface SyncSummary {
  stopped: number;
  opened: number;
  ended: number;
}

/**
 * Re-syncs the index from `VmCurrent`: every VM in Stopped (allocated) has its open episode, and every open
 * episode whose VM is no longer stopped (or was deleted) is ended. A filtered scan of `VmCurrent`: run it
 * now and then (hourly, after a reconcile), not on every evaluation.
 */
export async function syncStoppedIndex(
  deps: {
    alerts: StoppedEpisodeStore;
    store: { getCurrent(resourceId: string): Promise<CurrentState | undefined> };
    log: Logger;
  },
  now: number,
): Promise<SyncSummary> {
  const summary: SyncSummary = { stopped: 0, opened: 0, ended: 0 };
  const stopped = new Map<string, CurrentState & { since: number }>();
  for await (const page of deps.alerts.listStoppedCurrent()) {
    for (const current of page) if (isStopped(current)) stopped.set(vmKey(current.resourceId), current);
  }
  summary.stopped = stopped.size;
  const openKeys = new Map<string, EpisodeRecord[]>();
  for await (const page of deps.alerts.listEpisodes()) {
    for (const record of page) {
      if (!isOpen(record)) continue;
      openKeys.set(record.key, [...(openKeys.get(record.key) ?? []), record]);
    }
  }
  for (const [key, current] of stopped) {
    const open = openKeys.get(key) ?? [];
    if (open.some((r) => r.since === current.since)) continue;
    try {
      await enterStopped(deps.alerts, key, episodeStartOf(current));
      summary.opened++;
    } catch (error) {
      deps.log.warn('stopped index sync failed for a VM', { vmId: current.resourceId, error: String(error) });
    }
  }
  for (const [key, records] of openKeys) {
    if (stopped.has(key)) continue;
    const resourceId = records[0]?.resourceId ?? '';
    try {
      // Not stopped by the scan: confirm with the row itself (the scan may predate a new stop).
      const current = await deps.store.getCurrent(resourceId);
      if (isStopped(current)) continue;
      await leaveStopped(deps.alerts, key, current?.since ?? now);
      summary.ended++;
    } catch (error) {
      deps.log.warn('stopped index sync failed for a VM', { vmId: resourceId, error: String(error) });
    }
  }
  await deps.alerts.setLastSync(now);
  return summary;
}
