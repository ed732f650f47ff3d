/** What one ingestion needs and what it reports (the Event Grid path, archives, health events). */
import type {
  Clock,
  Logger,
  ManagementClient,
  ReconcileMarkReader,
  RejectedEventStore,
  TimelineStore,
} from './ports';

export interface IngestDependencies {
  store: TimelineStore;
  rejected: RejectedEventStore;
  management?: ManagementClient | undefined;
  /**
   * The reconciler's last complete run per subscription: when present, a Resource Health event's read
   * bounds the change it finds by the last time that run confirmed the VM's old state.
   */
  marks?: ReconcileMarkReader | undefined;
  log: Logger;
  now: Clock;
}

export const IngestOutcome = {
  recorded: 'recorded',
  duplicate: 'duplicate',
  skipped: 'skipped',
  rejected: 'rejected',
} as const;
export type IngestOutcome = (typeof IngestOutcome)[keyof typeof IngestOutcome];

export interface IngestResult {
  outcome: IngestOutcome;
  eventId?: string | undefined;
  resourceId?: string | undefined;
  reason?: string | undefined;
  /** Observations newly stored by this event. */
  recorded: number;
  managementCalls: number;
}
