/**
 * Alerts on VMs in Stopped (allocated): powered off and still billed. Pure rules: the grace period, the
 * exemptions, each episode's alert state, the alert content and its deterministic CloudEvent ids.
 */
import { createHash } from 'node:crypto';
import { Billing } from './billing';
import type { ChangeReason } from './change-reason';
import { describeChange } from './health';
import type { ObservationSource } from './observation';
import { PowerState } from './power-state';
import { parseComputeResourceId, vmKey } from './resource-id';
import type { Segment } from './segments';
import { usageOf, type UsageSeconds } from './usage';

export const AlertKind = { detected: 'detected', resolved: 'resolved' } as const;
export type AlertKind = (typeof AlertKind)[keyof typeof AlertKind];

/** CloudEvent `type` of each alert kind (a public interface: see README "Alerts"). */
export const alertEventTypes: Readonly<Record<AlertKind, string>> = {
  detected: 'VmBillingTimeline.StoppedAllocated.Detected',
  resolved: 'VmBillingTimeline.StoppedAllocated.Resolved',
};

/** CloudEvent `source` of the app's alerts. */
export const alertEventSource = '/vm-billing-timeline/stopped-allocated';

/** Where an episode stands, as `vm-timeline stopped` and `GET /api/stopped` show it. */
export const AlertState = {
  /** Stopped for less than the grace period: may be a creation or a start from deallocated. */
  withinGrace: 'withinGrace',
  /** Grace over, not exempt, Detected not yet delivered. */
  due: 'due',
  /** Detected delivered. */
  sent: 'sent',
  /** Expected to be stopped: tag `expected-stopped=true` or a configured pattern. */
  exempt: 'exempt',
} as const;
export type AlertState = (typeof AlertState)[keyof typeof AlertState];

/** Wording of "how it was stopped" when no management operation explains it. */
export const noOperationWording = 'no management operation: inside the guest OS or by the platform';

/** The tag that exempts a VM (name and value compared case-insensitively). */
export const exemptTag = { name: 'expected-stopped', value: 'true' } as const;

export interface VmDescription {
  vmSize?: string | undefined;
  location?: string | undefined;
  osType?: string | undefined;
  priority?: string | undefined;
  tags?: Record<string, string> | undefined;
}

/** One stretch of Stopped (allocated) of one VM. */
export interface StoppedEpisode {
  resourceId: string;
  /** Start of the stop as first recorded (epoch ms): names the episode, so its alert ids never change. */
  episodeSince: number;
  /** Start of the stopped segment as known now (the latest possible start when known within a window). */
  since: number;
  sinceWindowFrom?: number | undefined;
  sinceSource?: ObservationSource | undefined;
  operation?: string | undefined;
  caller?: string | undefined;
  /** Why it stopped, when Resource Health said so. */
  reason?: ChangeReason | undefined;
  /** When the VM left Stopped (allocated) (epoch ms); undefined while it lasts. */
  endedAt?: number | undefined;
  details?: VmDescription | undefined;
}

export interface AlertRules {
  graceInMinutes: number;
  /** Resource-id scopes or VM-name patterns (`*` wildcard), matched case-insensitively. */
  expectedStoppedPatterns: readonly string[];
}

/** Splits `EXPECTED_STOPPED_PATTERNS` (commas, semicolons or whitespace). */
export function parseExpectedStoppedPatterns(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

function wildcard(pattern: string, star: string): string {
  return pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join(star);
}

/**
 * True when a pattern covers the resource. A pattern holding `/` is a resource-id scope (a subscription
 * `/subscriptions/<id>`, a resource group `/subscriptions/<id>/resourceGroups/<rg>` or a VM id) and covers
 * everything under it; one without `/` is a VM name (a scale set's name for its instances). `*` matches
 * any run of characters within one path segment. Case-insensitive.
 */
export function matchesPattern(resourceId: string, pattern: string): boolean {
  const trimmed = pattern.trim();
  if (trimmed === '') return false;
  if (!trimmed.includes('/')) {
    const name = parseComputeResourceId(resourceId)?.name;
    return name !== undefined && new RegExp(`^${wildcard(trimmed, '.*')}$`, 'i').test(name);
  }
  const scope = `/${trimmed.replace(/^\/+/, '').replace(/\/+$/, '')}`;
  const id = `/${resourceId.trim().replace(/^\/+/, '').replace(/\/+$/, '')}`;
  return new RegExp(`^${wildcard(scope, '[^/]*')}(?:/|$)`, 'i').test(id);
}

export const ExemptionReason = { tag: 'tag', pattern: 'pattern' } as const;
export type ExemptionReason = (typeof ExemptionReason)[keyof typeof ExemptionReason];

/** Why the VM is expected to be stopped, or undefined when it is not. */
export function exemptionOf(
  resourceId: string,
  tags: Readonly<Record<string, string>> | undefined,
  patterns: readonly string[],
): ExemptionReason | undefined {
  for (const [name, value] of Object.entries(tags ?? {})) {
    if (name.trim().toLowerCase() === exemptTag.name && value.trim().toLowerCase() === exemptTag.value)
      return ExemptionReason.tag;
  }
  return patterns.some((p) => matchesPattern(resourceId, p)) ? ExemptionReason.pattern : undefined;
}

/**
 * The grace period is over: the VM has been stopped at least `graceInMinutes` since its stopped segment
 * began (its latest possible start, so a change seen only by the reconciler never alerts early).
 */
export function isPastGrace(since: number, now: number, graceInMinutes: number): boolean {
  return now - since >= graceInMinutes * 60_000;
}

export function alertStateOf(input: {
  pastGrace: boolean;
  exempt: boolean;
  detectedSent: boolean;
}): AlertState {
  if (input.detectedSent) return AlertState.sent;
  if (input.exempt) return AlertState.exempt;
  return input.pastGrace ? AlertState.due : AlertState.withinGrace;
}

/** First 16 hex digits of the SHA-256 of the VM key: short, stable, case-insensitive. */
export function vmKeyHash(resourceId: string): string {
  return createHash('sha256').update(vmKey(resourceId)).digest('hex').slice(0, 16);
}

/** `<vmKey hash>:<episode start, epoch ms>`: names one episode of one VM. */
export function episodeId(resourceId: string, episodeSince: number): string {
  return `${vmKeyHash(resourceId)}:${episodeSince}`;
}

/** `<vmKey hash>:<episode start>:detected|resolved`: the same alert always has the same CloudEvent id. */
export function alertEventId(resourceId: string, episodeSince: number, kind: AlertKind): string {
  return `${episodeId(resourceId, episodeSince)}:${kind}`;
}

/**
 * Billed seconds of Stopped (allocated) in the episode, up to `to` (its end, or now). Other states count
 * as not billed here; a start or end known only within a window is placed as `usageOf` places it (the
 * estimate at the window's midpoint, with the bounds beside it).
 */
export function episodeUsage(
  segments: readonly Segment[],
  episode: Pick<StoppedEpisode, 'since' | 'sinceWindowFrom'>,
  to: number,
  asOf: number,
): UsageSeconds {
  const from = Math.min(episode.sinceWindowFrom ?? episode.since, episode.since);
  const onlyStopped = segments.map((s) =>
    s.state === PowerState.stopped ? s : { ...s, billing: Billing.notBilled },
  );
  return usageOf(onlyStopped, from, to, asOf);
}

/** How the VM came to be stopped. */
export interface StoppedBy {
  operation: string | null;
  caller: string | null;
  /** `event`, `instanceView`, `reconcile` or `resourceHealth`. */
  source: string | null;
  /**
   * The cause and how we know it: `shut down from inside the guest OS at 13:02 UTC (Resource Health
   * annotation)`, `powered off by alice@contoso.com (Event Grid)`, `platform: host crash at 13:02 UTC
   * (Resource Health annotation)`, `unknown: found by the reconciler between 12:58 and 13:03 UTC`.
   */
  description: string;
  /** The Resource Health annotation or availability change that explains the stop; null when none. */
  reason: ReasonView | null;
}

/** A Resource Health reason as the alerts, the API and the CLI show it. */
export interface ReasonView {
  source: string;
  name: string;
  /** ISO 8601 UTC. */
  at: string;
  summary: string | null;
  context: string | null;
  category: string | null;
}

export function reasonView(reason: ChangeReason | undefined): ReasonView | null {
  if (reason === undefined) return null;
  return {
    source: reason.source,
    name: reason.name,
    at: new Date(reason.at).toISOString(),
    summary: reason.summary ?? null,
    context: reason.context ?? null,
    category: reason.category ?? null,
  };
}

export function stoppedByOf(episode: StoppedEpisode): StoppedBy {
  const operation = episode.operation ?? null;
  const caller = episode.caller ?? null;
  const description =
    describeChange({
      start: episode.since,
      startWindowFrom: episode.sinceWindowFrom,
      source: episode.sinceSource,
      operation: episode.operation,
      caller: episode.caller,
      reason: episode.reason,
    }) ?? noOperationWording;
  return {
    operation,
    caller,
    source: episode.sinceSource ?? null,
    description,
    reason: reasonView(episode.reason),
  };
}

/** The `data` of an alert CloudEvent (a public interface: see README "Alerts"). */
export interface AlertData {
  kind: AlertKind;
  episodeId: string;
  resourceId: string;
  name: string;
  resourceGroup: string;
  subscriptionId: string;
  /** ISO 8601 UTC: start of the stop (the latest possible start when known within a window). */
  since: string;
  /** ISO 8601 UTC: earliest possible start, when the stop is known only within a window; else null. */
  sinceWindowFrom: string | null;
  /** ISO 8601 UTC: when it left Stopped (allocated); null for Detected. */
  endedAt: string | null;
  /** Seconds from `since` to `endedAt` (Resolved) or to the alert (Detected). */
  durationSeconds: number;
  stoppedBy: StoppedBy;
  vmSize: string | null;
  location: string | null;
  tags: Record<string, string>;
  /** Billed seconds in Stopped (allocated) in this episode (estimate, then bounds). */
  billedSeconds: number;
  billedSecondsMin: number;
  billedSecondsMax: number;
  graceInMinutes: number;
}

/** The alert as published (CloudEvents 1.0 attributes). */
export interface AlertEvent {
  id: string;
  type: string;
  source: string;
  subject: string;
  /** ISO 8601 UTC: when the alert was raised (kept across retries). */
  time: string;
  data: AlertData;
}

export interface AlertInput {
  kind: AlertKind;
  episode: StoppedEpisode;
  usage: UsageSeconds;
  /** When the alert is raised (epoch ms). */
  now: number;
  graceInMinutes: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function buildAlertEvent(input: AlertInput): AlertEvent {
  const { kind, episode, usage, now } = input;
  const resource = parseComputeResourceId(episode.resourceId);
  const end = kind === AlertKind.resolved ? (episode.endedAt ?? now) : now;
  const name =
    resource?.instanceId === undefined ? (resource?.name ?? '') : `${resource.name}_${resource.instanceId}`;
  return {
    id: alertEventId(episode.resourceId, episode.episodeSince, kind),
    type: alertEventTypes[kind],
    source: alertEventSource,
    subject: episode.resourceId,
    time: iso(now),
    data: {
      kind,
      episodeId: episodeId(episode.resourceId, episode.episodeSince),
      resourceId: episode.resourceId,
      name,
      resourceGroup: resource?.resourceGroup ?? '',
      subscriptionId: resource?.subscriptionId ?? '',
      since: iso(episode.since),
      sinceWindowFrom: episode.sinceWindowFrom === undefined ? null : iso(episode.sinceWindowFrom),
      endedAt: kind === AlertKind.resolved && episode.endedAt !== undefined ? iso(episode.endedAt) : null,
      durationSeconds: Math.max(0, (end - episode.since) / 1000),
      stoppedBy: stoppedByOf(episode),
      vmSize: episode.details?.vmSize ?? null,
      location: episode.details?.location ?? null,
      tags: { ...(episode.details?.tags ?? {}) },
      billedSeconds: usage.billedSeconds,
      billedSecondsMin: usage.billedSecondsMin,
      billedSecondsMax: usage.billedSecondsMax,
      graceInMinutes: input.graceInMinutes,
    },
  };
}
