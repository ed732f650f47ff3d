/**
 * Use case: one delivered Resource Health event (`ResourceAnnotated`, `AvailabilityStatusChanged`) about a
 * VM or scale-set VM. It narrows or explains a change the timeline already holds (no management call), or,
 * when nothing recorded explains it yet, costs at most one instance-view read whose result alone decides.
 * Never a transition from the annotation itself: these events are lossy, late and unordered, and the
 * reconciler stays the source of truth.
 */
import { decideHealth, readHealthEvent, readOutcome, type HealthEvent } from '../domain/health';
import { ObservationSource, type Observation } from '../domain/observation';
import { parseInstanceView, PowerState } from '../domain/power-state';
import { vmKey } from '../domain/resource-id';
import type { ClassifyOptions } from '../domain/events';
import { NotConfiguredError } from './errors';
import type { IngestDependencies, IngestResult } from './ingest-outcome';

/** A validated health event, or the skip / reject decision `ingestEvent` records. */
export type HealthIngestDecision =
  | { kind: 'skip'; reason: string; eventId?: string | undefined }
  | { kind: 'reject'; reason: string; eventId?: string | undefined; resourceUri?: string | undefined }
  | { kind: 'apply'; apply: () => Promise<IngestResult> };

export function classifyHealthEvent(
  raw: unknown,
  deps: IngestDependencies,
  options: ClassifyOptions,
): HealthIngestDecision {
  const read = readHealthEvent(raw, deps.now(), options);
  if (read.kind !== 'health') return read;
  return { kind: 'apply', apply: () => applyHealthEvent(read.event, deps) };
}

async function applyHealthEvent(event: HealthEvent, deps: IngestDependencies): Promise<IngestResult> {
  const resourceId = event.resource.resourceId;
  const base = { eventId: event.id, resourceId };
  const skipped = (reason: string, managementCalls = 0): IngestResult => {
    deps.log.debug('health event changes nothing', { eventId: event.id, vmId: resourceId, reason });
    return { ...base, outcome: 'skipped', reason, recorded: 0, managementCalls };
  };
  const recorded = (outcome: 'recorded' | 'duplicate', managementCalls = 0): IngestResult => ({
    ...base,
    outcome,
    recorded: outcome === 'recorded' ? 1 : 0,
    managementCalls,
  });
  const common = {
    resourceId,
    source: ObservationSource.resourceHealth,
    dedupeId: event.id,
    eventType: event.eventType,
  };
  // The reconciler's last complete run saw the VM in its recorded state at or after its start. The mark is
  // read before the row: a run that completes in between wrote its observations before its mark, so the
  // row read next holds them (a mark read after the row could vouch for a state the run found changed).
  const mark =
    deps.marks === undefined ? undefined : await deps.marks.getMark(event.resource.subscriptionId);
  let current = await deps.store.getCurrent(resourceId);
  if (current !== undefined && mark !== undefined) {
    const seen = mark.unconfirmed[vmKey(resourceId)] ?? mark.startedAt;
    if (seen > (current.lastSeenAt ?? Number.NEGATIVE_INFINITY)) current = { ...current, lastSeenAt: seen };
  }
  const decision = decideHealth(event.reason, current);
  if (decision.kind === 'ignore') return skipped(decision.reason);
  if (decision.kind === 'duplicate') return recorded('duplicate');
  if (decision.kind === 'explain') {
    // Same state as the open segment: it only moves the change earlier within its window, or names its reason.
    const observation: Observation = {
      ...common,
      at: decision.at,
      state: decision.state,
      windowFrom:
        decision.windowFrom !== undefined && decision.windowFrom < decision.at
          ? decision.windowFrom
          : undefined,
      operation: current?.operation,
      caller: current?.caller,
      reason: event.reason,
    };
    const outcome = await deps.store.record(observation);
    deps.log.info('health event explains a change', {
      vmId: resourceId,
      eventId: event.id,
      annotation: event.reason.name,
      state: decision.state,
      outcome,
    });
    return recorded(outcome);
  }
  if (await deps.store.hasMarker(resourceId, event.id)) return recorded('duplicate');
  if (deps.management === undefined)
    throw new NotConfiguredError('a management endpoint is needed to read instance views');
  const statuses = await deps.management.getInstanceView(resourceId);
  const readAt = deps.now();
  const parsed = statuses === undefined ? undefined : parseInstanceView(statuses);
  const readState = statuses === undefined ? PowerState.deleted : parsed?.powerState;
  if (readState === undefined || readState === PowerState.unknown)
    return skipped('instance view has no power state', 1);
  const placed = readOutcome(event.reason, readState, readAt, current?.state, decision.knownUntil);
  if (placed === undefined) return skipped('the read shows no change', 1);
  const observation: Observation = {
    ...common,
    at: placed.at,
    state: readState,
    windowFrom: placed.windowFrom,
    source: placed.explained ? ObservationSource.resourceHealth : ObservationSource.instanceView,
  };
  if (placed.explained) observation.reason = event.reason;
  if (parsed?.provisioning !== undefined) observation.provisioning = parsed.provisioning;
  const outcome = await deps.store.record(observation, { marker: event.id });
  deps.log.info('health event read recorded', {
    vmId: resourceId,
    eventId: event.id,
    annotation: event.reason.name,
    state: readState,
    explained: placed.explained,
    outcome,
  });
  return recorded(outcome, 1);
}
