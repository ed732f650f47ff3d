/**
 * Ports of the Stopped (allocated) alerts: the stopped-episode index, the outbox, the publisher and the
 * metric. Adapters in src/adapters implement them (the `VmAlerts` table, Event Grid, Application Insights).
 */
import type { AlertEvent, StoppedEpisode } from '../domain/alerts';
import type { InvoiceAgreementEvent } from '../domain/invoice-check';
import type { CurrentState } from './ports';

/** Delivery of one alert kind of an episode, as the episode row remembers it. */
export const DeliveryState = { pending: 'pending', sent: 'sent' } as const;
export type DeliveryState = (typeof DeliveryState)[keyof typeof DeliveryState];

/** One row of the stopped-episode index. */
export interface EpisodeRecord extends StoppedEpisode {
  /** VM key of the VM. */
  key: string;
  /** Detected enqueued in the outbox (`pending`) or delivered (`sent`). */
  detected?: DeliveryState | undefined;
  resolved?: DeliveryState | undefined;
  /** Adapter's concurrency token. */
  readonly etag: string;
}

export type EpisodeChanges = Partial<
  Pick<
    EpisodeRecord,
    | 'since'
    | 'sinceWindowFrom'
    | 'sinceSource'
    | 'operation'
    | 'caller'
    | 'reason'
    | 'endedAt'
    | 'details'
    | 'detected'
    | 'resolved'
  >
>;

/** The start of a stop, as the listener or the sweep sees it on a `VmCurrent` row. */
export type EpisodeStart = Omit<StoppedEpisode, 'episodeSince' | 'endedAt'>;

/**
 * The stopped-episode index (`VmAlerts`, PartitionKey `stopped`): one row per episode of a VM in Stopped
 * (allocated), kept until its Resolved is delivered. Evaluations read only this partition, so their cost
 * grows with the stopped VMs, not the fleet.
 */
export interface StoppedEpisodeStore {
  /** Every episode row, page by page. */
  listEpisodes(): AsyncIterable<EpisodeRecord[]>;
  /** Episode rows of one VM (by VM key). */
  listEpisodesOf(key: string): Promise<EpisodeRecord[]>;
  /** Creates an episode row (or merges the start into it when it exists: redelivery). */
  createEpisode(key: string, episodeSince: number, start: EpisodeStart): Promise<void>;
  /** ETag-guarded merge; false when the row changed or vanished since it was read. */
  updateEpisode(record: EpisodeRecord, changes: EpisodeChanges): Promise<EpisodeRecord | undefined>;
  /** ETag-guarded delete; false when the row changed since it was read (gone counts as done). */
  deleteEpisode(record: EpisodeRecord): Promise<boolean>;
  /** `VmCurrent` rows in Stopped (allocated) (a filtered scan: for the periodic re-sync only). */
  listStoppedCurrent(): AsyncIterable<CurrentState[]>;
  /** When the index was last re-synced from `VmCurrent` (epoch ms). */
  getLastSync(): Promise<number | undefined>;
  setLastSync(at: number): Promise<void>;
}

export const OutboxStatus = { pending: 'pending', sending: 'sending', sent: 'sent' } as const;
export type OutboxStatus = (typeof OutboxStatus)[keyof typeof OutboxStatus];

export interface OutboxRecord {
  event: AlertEvent;
  status: OutboxStatus;
  attempts: number;
  /** While `sending`: the claim expires then, and another evaluator may try. */
  claimUntil?: number | undefined;
  lastError?: string | undefined;
  sentAt?: number | undefined;
  readonly etag: string;
}

/**
 * The alert outbox (`VmAlerts`, PartitionKey `outbox`, RowKey = CloudEvent id): every alert is written here
 * before it is published, once per episode and kind; its state moves pending → sending → sent under ETags,
 * so two evaluators never both publish it.
 */
export interface AlertOutbox {
  /** Stores the alert as pending; an alert with this id already stored is kept as it is. */
  enqueue(event: AlertEvent, now: number): Promise<void>;
  get(id: string): Promise<OutboxRecord | undefined>;
  /** pending (or an expired claim) → sending; undefined when another evaluator got there first. */
  claim(record: OutboxRecord, now: number, claimUntil: number): Promise<OutboxRecord | undefined>;
  /** sending → sent. */
  markSent(record: OutboxRecord, now: number): Promise<boolean>;
  /** sending → pending, one more attempt and the error. */
  markFailed(record: OutboxRecord, error: string): Promise<boolean>;
}

/** Publishes alerts (CloudEvents 1.0 to the Event Grid custom topic). Throws when not delivered. */
export interface AlertPublisher {
  /** Where alerts go, for logs (`''` when only logged). */
  readonly destination: string;
  publish(event: AlertEvent | InvoiceAgreementEvent): Promise<void>;
}

/** The `StoppedAllocatedVms` metric. Never throws: a lost sample is logged. */
export interface AlertMetrics {
  stoppedAllocatedVms(value: number, at: number): Promise<void>;
}

/** The one management call remediation makes. */
export interface Deallocator {
  deallocate(resourceId: string): Promise<void>;
}
