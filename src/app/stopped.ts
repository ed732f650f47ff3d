/**
 * Where a stopped episode stands now (`stoppedStatusOf`: the one decision the alert evaluation and the
 * listing share), and the listing itself (`vm-timeline stopped`, `GET /api/stopped`).
 */
import {
  alertStateOf,
  exemptionOf,
  isPastGrace,
  type AlertRules,
  type AlertState,
  type ExemptionReason,
  type StoppedEpisode,
} from '../domain/alerts';
import { PowerState } from '../domain/power-state';
import { DeliveryState, type EpisodeRecord, type StoppedEpisodeStore } from './alert-ports';
import { forEachLimited } from './concurrency';
import type { CurrentState, TimelineStore } from './ports';

export interface StoppedStatus {
  /** Set when the VM's current row says the episode is over (not stopped, or stopped again since). */
  endedAt?: number | undefined;
  /** Why the VM is expected to be stopped now (its tags now, the patterns configured now). */
  exemption?: ExemptionReason | undefined;
  alertState: AlertState;
}

/**
 * Decides an open episode from the VM's current row, read just before: the index row is only a pointer
 * (it keeps the details of when it was written), the current row holds the state and the tags as they are
 * now, whatever order the listing, the details refresh and the index update ran in.
 */
export function stoppedStatusOf(
  episode: Pick<StoppedEpisode, 'resourceId' | 'since'> & { detected?: DeliveryState | undefined },
  current: CurrentState | undefined,
  rules: AlertRules,
  now: number,
): StoppedStatus {
  const exemption = exemptionOf(episode.resourceId, current?.details?.tags, rules.expectedStoppedPatterns);
  const alertState = alertStateOf({
    pastGrace: isPastGrace(episode.since, now, rules.graceInMinutes),
    exempt: exemption !== undefined,
    detectedSent: episode.detected === DeliveryState.sent,
  });
  if (current?.state !== PowerState.stopped || current.since === undefined)
    return { endedAt: Math.max(episode.since, current?.since ?? now), exemption, alertState };
  // Stopped again since: this episode ended unseen; the next index update or re-sync opens the new one.
  if (current.since > episode.since)
    return { endedAt: current.sinceWindowFrom ?? current.since, exemption, alertState };
  return { exemption, alertState };
}

export interface StoppedVm {
  resourceId: string;
  /** ISO 8601 UTC: start of the stop (the latest possible start when known within a window). */
  since: string;
  /** Seconds stopped so far, from `since`. */
  seconds: number;
  exempt: boolean;
  alertState: AlertState;
}

export interface StoppedReport {
  /** ISO 8601 UTC. */
  asOf: string;
  vms: StoppedVm[];
}

export interface StoppedQueryDependencies {
  alerts: Pick<StoppedEpisodeStore, 'listEpisodes'>;
  store: Pick<TimelineStore, 'getCurrent'>;
  alertRules: AlertRules;
}

/** Current-row reads in flight at once. */
const concurrency = 16;

/**
 * Reads the stopped-episode index and each listed VM's current row (its tags now): the cost grows with the
 * stopped VMs, not the fleet. An episode the current row shows over is left out.
 */
export async function listStopped(deps: StoppedQueryDependencies, now: number): Promise<StoppedReport> {
  const open: EpisodeRecord[] = [];
  for await (const page of deps.alerts.listEpisodes())
    open.push(...page.filter((record) => record.endedAt === undefined));
  const vms: StoppedVm[] = [];
  await forEachLimited(open, concurrency, async (record) => {
    const current = await deps.store.getCurrent(record.resourceId);
    const status = stoppedStatusOf(record, current, deps.alertRules, now);
    if (status.endedAt !== undefined) return;
    vms.push({
      resourceId: record.resourceId,
      since: new Date(record.since).toISOString(),
      seconds: Math.max(0, (now - record.since) / 1000),
      exempt: status.exemption !== undefined,
      alertState: status.alertState,
    });
  });
  vms.sort((a, b) => a.since.localeCompare(b.since) || a.resourceId.localeCompare(b.resourceId));
  return { asOf: new Date(now).toISOString(), vms };
}
