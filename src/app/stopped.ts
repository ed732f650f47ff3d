/** Query: the VMs in Stopped (allocated) now, with their alert state (`vm-timeline stopped`, `GET /api/stopped`). */
import type { AlertRules, AlertState } from '../domain/alerts';
import type { StoppedEpisodeStore } from './alert-ports';
import { alertStateOfRecord } from './evaluate-alerts';

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
  alertRules: AlertRules;
}

/** Reads the stopped-episode index only: its cost grows with the stopped VMs, not the fleet. */
export async function listStopped(deps: StoppedQueryDependencies, now: number): Promise<StoppedReport> {
  const vms: StoppedVm[] = [];
  for await (const page of deps.alerts.listEpisodes()) {
    for (const record of page) {
      if (record.endedAt !== undefined) continue;
      const alertState = alertStateOfRecord(record, deps.alertRules, now);
      vms.push({
        resourceId: record.resourceId,
        since: new Date(record.since).toISOString(),
        seconds: Math.max(0, (now - record.since) / 1000),
        exempt: alertState === 'exempt',
        alertState,
      });
    }
  }
  vms.sort((a, b) => a.since.localeCompare(b.since) || a.resourceId.localeCompare(b.resourceId));
  return { asOf: new Date(now).toISOString(), vms };
}
