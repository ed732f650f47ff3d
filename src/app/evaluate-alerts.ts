/**
 * Use case: evaluate the Stopped (allocated) alerts. Reads the stopped-episode index (not the fleet);
 * enqueues a Detected for each episode past the grace period and not exempt, and a Resolved (with the
 * episode's billed seconds) when a detected episode ends; publishes what the outbox holds pending; emits
 * the `StoppedAllocatedVms` metric; optionally deallocates VMs left stopped too long.
 *
 * Never lost, never spammed: each alert is written to the outbox (one row per episode and kind) before it
 * is published; a failed publish stays pending and is retried next run with the same CloudEvent id; the
 * outbox row's pending → sending → sent moves are ETag-guarded, so concurrent evaluators publish it once.
 */
import {
  AlertKind,
  alertEventId,
  buildAlertEvent,
  episodeUsage,
  isPastGrace,
  type AlertRules,
  vmKeyHash,
} from '../domain/alerts';
import { ObservationSource } from '../domain/observation';
import { PowerState } from '../domain/power-state';
import type { UsageSeconds } from '../domain/usage';
import {
  DeliveryState,
  OutboxStatus,
  type AlertMetrics,
  type AlertOutbox,
  type AlertPublisher,
  type Deallocator,
  type EpisodeRecord,
  type StoppedEpisodeStore,
} from './alert-ports';
import { forEachLimited } from './concurrency';
import { ensureError } from './errors';
import type { Clock, Logger, TimelineStore } from './ports';
import { stoppedStatusOf } from './stopped';
import { syncStoppedIndex } from './stopped-index';

/** Episodes evaluated at once (current-row reads and publishes in flight), as the stopped listing reads. */
const episodeConcurrency = 16;

/** The operation recorded on the timeline when the app deallocates a VM itself. */
export const autoDeallocateOperation = 'vmBillingTimeline/autoDeallocate';
export const autoDeallocateCaller = 'vm-billing-timeline';

export interface AlertDependencies {
  alerts: StoppedEpisodeStore & AlertOutbox;
  store: TimelineStore;
  /** Undefined: no topic configured; alerts are only logged (and still go through the outbox). */
  alertPublisher?: AlertPublisher | undefined;
  alertMetrics?: AlertMetrics | undefined;
  /** Needed only when auto-deallocate is on and not a dry run. */
  management?: Deallocator | undefined;
  log: Logger;
  now: Clock;
}

export interface AlertOptions extends AlertRules {
  /** 0: off. Deallocate non-exempt VMs stopped at least this long. */
  autoDeallocateAfterInMinutes: number;
  /** Only report what auto-deallocate would do. */
  autoDeallocateDryRun: boolean;
  /** Re-sync the index from `VmCurrent` when the last re-sync is older than this (default 60). */
  syncEveryInMinutes?: number;
  /** Re-sync now whatever the last one (after a reconcile run, tests). */
  sync?: boolean;
  /** How long a claimed outbox row is reserved for its publisher (default 2 minutes). */
  claimInMs?: number;
}

export interface EvaluationSummary {
  asOf: number;
  /** Open episodes (VMs in Stopped (allocated) now). */
  stopped: number;
  withinGrace: number;
  exempt: number;
  /** Past grace and not exempt: the `StoppedAllocatedVms` metric. */
  pastGrace: number;
  enqueued: { detected: number; resolved: number };
  published: number;
  publishFailed: number;
  deallocated: number;
  /** Dry run: VMs auto-deallocate would have deallocated. */
  wouldDeallocate: number;
  /** Per-episode failures (logged with the VM id). */
  failed: number;
  synced: boolean;
}

/** Runs one evaluation. Per-episode failures are logged and counted; they never stop the others. */
export async function evaluateAlerts(
  deps: AlertDependencies,
  options: AlertOptions,
): Promise<EvaluationSummary> {
  const now = deps.now();
  const summary: EvaluationSummary = {
    asOf: now,
    stopped: 0,
    withinGrace: 0,
    exempt: 0,
    pastGrace: 0,
    enqueued: { detected: 0, resolved: 0 },
    published: 0,
    publishFailed: 0,
    deallocated: 0,
    wouldDeallocate: 0,
    failed: 0,
    synced: false,
  };
  const syncEvery = (options.syncEveryInMinutes ?? 60) * 60_000;
  const lastSync = options.sync === true ? undefined : await deps.alerts.getLastSync();
  if (lastSync === undefined || now - lastSync >= syncEvery) {
    const synced = await syncStoppedIndex(deps, now);
    summary.synced = true;
    deps.log.info('stopped index synced', { ...synced });
  }
  const records: EpisodeRecord[] = [];
  for await (const page of deps.alerts.listEpisodes()) records.push(...page);
  // Episodes are independent VMs: each reads its current row (and may publish), several at a time.
  await forEachLimited(records, episodeConcurrency, async (record) => {
    try {
      await evaluateEpisode(deps, options, record, now, summary);
    } catch (error) {
      summary.failed++;
      deps.log.error('alert evaluation failed for a VM', {
        vmId: record.resourceId,
        error: ensureError(error).message,
      });
    }
  });
  deps.log.info('metric StoppedAllocatedVms', {
    metricName: 'StoppedAllocatedVms',
    value: summary.pastGrace,
    stopped: summary.stopped,
    exempt: summary.exempt,
    withinGrace: summary.withinGrace,
  });
  await deps.alertMetrics?.stoppedAllocatedVms(summary.pastGrace, now);
  return summary;
}

async function timelineUsage(
  store: TimelineStore,
  record: EpisodeRecord,
  to: number,
  asOf: number,
): Promise<UsageSeconds> {
  const from = Math.min(record.sinceWindowFrom ?? record.since, record.since);
  const timeline = await store.getTimeline(record.resourceId, { from, to: Math.max(to, from + 1) });
  return episodeUsage(timeline?.segments ?? [], record, to, asOf);
}

async function evaluateEpisode(
  deps: AlertDependencies,
  options: AlertOptions,
  initial: EpisodeRecord,
  now: number,
  summary: EvaluationSummary,
): Promise<void> {
  let record: EpisodeRecord | undefined = initial;
  if (record.endedAt === undefined) {
    record = await evaluateOpen(deps, options, record, now, summary);
    if (record === undefined) return;
  }
  if (record.endedAt !== undefined) {
    if (record.detected === undefined) {
      // Ended before it alerted (a creation or start blip, or exempt): nothing to tell.
      await deps.alerts.deleteEpisode(record);
      return;
    }
    if (record.resolved === undefined) {
      const usage = await timelineUsage(deps.store, record, record.endedAt, now);
      const event = buildAlertEvent({
        kind: AlertKind.resolved,
        episode: record,
        usage,
        now,
        graceInMinutes: options.graceInMinutes,
      });
      await deps.alerts.enqueue(event, now);
      record = await deps.alerts.updateEpisode(record, { resolved: DeliveryState.pending });
      if (record === undefined) return; // another evaluator moved it: next run
      summary.enqueued.resolved++;
      logAlert(deps.log, 'stopped allocated resolved', event.id, record, usage);
    }
  }
  // Deliver in order: Detected, then Resolved.
  if (record.detected === DeliveryState.pending) {
    const id = alertEventId(record.resourceId, record.episodeSince, AlertKind.detected);
    if (!(await deliver(deps, options, id, now, summary))) return;
    record = await deps.alerts.updateEpisode(record, { detected: DeliveryState.sent });
    if (record === undefined) return;
  }
  if (record.resolved === DeliveryState.pending && record.detected === DeliveryState.sent) {
    const id = alertEventId(record.resourceId, record.episodeSince, AlertKind.resolved);
    if (!(await deliver(deps, options, id, now, summary))) return;
    record = await deps.alerts.updateEpisode(record, { resolved: DeliveryState.sent });
    if (record === undefined) return;
  }
  if (record.resolved === DeliveryState.sent) await deps.alerts.deleteEpisode(record);
}

/**
 * An open episode: decides whether Detected is due and counts it. Undefined when the row moved on. Past
 * the grace period the VM's current row decides (`stoppedStatusOf`, as for the listing): its state, and
 * its tags and the patterns as they are now.
 */
async function evaluateOpen(
  deps: AlertDependencies,
  options: AlertOptions,
  initial: EpisodeRecord,
  now: number,
  summary: EvaluationSummary,
): Promise<EpisodeRecord | undefined> {
  let record = initial;
  if (!isPastGrace(record.since, now, options.graceInMinutes)) {
    summary.stopped++;
    summary.withinGrace++;
    return record;
  }
  // A lost index update heals here: the current row says whether the episode still lasts.
  const current = await deps.store.getCurrent(record.resourceId);
  const status = stoppedStatusOf(record, current, options, now);
  if (status.endedAt !== undefined) return deps.alerts.updateEpisode(record, { endedAt: status.endedAt });
  summary.stopped++;
  if (status.exemption !== undefined) {
    summary.exempt++;
    return record;
  }
  if (record.detected === undefined) {
    const usage = await timelineUsage(deps.store, record, now, now);
    const episode = { ...record, details: current?.details };
    const event = buildAlertEvent({
      kind: AlertKind.detected,
      episode,
      usage,
      now,
      graceInMinutes: options.graceInMinutes,
    });
    await deps.alerts.enqueue(event, now);
    const updated = await deps.alerts.updateEpisode(record, {
      details: current?.details,
      detected: DeliveryState.pending,
    });
    if (updated === undefined) return undefined;
    record = updated;
    summary.enqueued.detected++;
    logAlert(deps.log, 'stopped allocated detected', event.id, episode, usage);
  }
  summary.pastGrace++;
  await remediate(deps, options, record, now, summary);
  return record;
}

function logAlert(
  log: Logger,
  message: string,
  eventId: string,
  episode: EpisodeRecord,
  usage: UsageSeconds,
): void {
  log.warn(message, {
    eventId,
    vmId: episode.resourceId,
    since: new Date(episode.since).toISOString(),
    endedAt: episode.endedAt === undefined ? undefined : new Date(episode.endedAt).toISOString(),
    operation: episode.operation,
    caller: episode.caller,
    source: episode.sinceSource,
    vmSize: episode.details?.vmSize,
    billedSeconds: usage.billedSeconds,
  });
}

/** Publishes one outbox row if this evaluator wins its claim. True when it is (now) sent. */
async function deliver(
  deps: AlertDependencies,
  options: AlertOptions,
  id: string,
  now: number,
  summary: EvaluationSummary,
): Promise<boolean> {
  const stored = await deps.alerts.get(id);
  if (stored === undefined) throw new Error('outbox row missing for a pending alert');
  if (stored.status === OutboxStatus.sent) return true;
  const claimed = await deps.alerts.claim(stored, now, now + (options.claimInMs ?? 120_000));
  if (claimed === undefined) return false; // another evaluator is publishing it
  try {
    if (deps.alertPublisher !== undefined) await deps.alertPublisher.publish(claimed.event);
  } catch (error) {
    summary.publishFailed++;
    const message = ensureError(error).message;
    deps.log.warn('alert publish failed', {
      eventId: id,
      vmId: claimed.event.data.resourceId,
      attempt: claimed.attempts + 1,
      error: message,
    });
    await deps.alerts.markFailed(claimed, message);
    return false;
  }
  summary.published++;
  await deps.alerts.markSent(claimed, now);
  deps.log.info('alert published', {
    eventId: id,
    vmId: claimed.event.data.resourceId,
    type: claimed.event.type,
    destination: deps.alertPublisher?.destination ?? '',
  });
  return true;
}

/** Auto-deallocate: a VM stopped (allocated) long enough, not exempt (checked again on its current row). */
async function remediate(
  deps: AlertDependencies,
  options: AlertOptions,
  record: EpisodeRecord,
  now: number,
  summary: EvaluationSummary,
): Promise<void> {
  const after = options.autoDeallocateAfterInMinutes;
  if (after <= 0 || !isPastGrace(record.since, now, after)) return;
  // Checked again just before acting (the evaluation read it moments ago; a deallocation is not undone).
  const status = stoppedStatusOf(record, await deps.store.getCurrent(record.resourceId), options, now);
  if (status.endedAt !== undefined || status.exemption !== undefined) return;
  const properties = { vmId: record.resourceId, since: new Date(record.since).toISOString() };
  if (options.autoDeallocateDryRun) {
    summary.wouldDeallocate++;
    deps.log.warn('auto-deallocate dry run: would deallocate', properties);
    return;
  }
  if (deps.management === undefined) throw new Error('auto-deallocate needs a management client');
  await deps.management.deallocate(record.resourceId);
  const at = deps.now();
  // The app's own action, recorded like any other: the listener then ends the episode.
  await deps.store.record({
    resourceId: record.resourceId,
    at,
    state: PowerState.deallocated,
    source: ObservationSource.event,
    dedupeId: `autoDeallocate:${vmKeyHash(record.resourceId)}:${record.episodeSince}`,
    operation: autoDeallocateOperation,
    caller: autoDeallocateCaller,
  });
  summary.deallocated++;
  deps.log.warn('auto-deallocated', properties);
}
