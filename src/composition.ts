/**
 * Composition root: builds the adapters from the config, once per process. Functions and the CLI use it;
 * nothing else constructs adapters.
 */
import type { TokenCredential } from '@azure/identity';
import { createAppInsightsAlertMetrics } from './adapters/appinsights-alert-metrics';
import { createArmClient, type ArmManagementClient } from './adapters/arm';
import { createEventGridAlertPublisher } from './adapters/eventgrid-alert-publisher';
import { consoleLogger } from './adapters/logger';
import { createMetricsClient } from './adapters/metrics-batch';
import { TableClientFactory, type RequestCounter } from './adapters/storage';
import { prefixedTableNames, type TableRole } from './adapters/table-names';
import { TableBackfillStore } from './adapters/table-backfill-store';
import { TableCoverageStore } from './adapters/table-coverage-store';
import { TableReconcileRunStore } from './adapters/table-reconcile-store';
import { TableAlertStore } from './adapters/table-alert-store';
import { TableRejectedEventStore } from './adapters/table-rejected-store';
import { TableTimelineStore } from './adapters/table-timeline-store';
import { TableDailyUsageStore } from './adapters/table-usage-store';
import { TableDailyDigestStore } from './adapters/table-digest-store';
import { TableInvoiceCheckStore } from './adapters/table-invoice-check-store';
import { readCostExport } from './adapters/cost-export-files';
import type { ExportReader } from './app/scheduled-invoice-check';
import { ExportAccumulator } from './domain/cost-export';
import type { AlertMetrics, AlertPublisher } from './app/alert-ports';
import { EventArrivals } from './app/coverage';
import type { IngestDependencies } from './app/ingest-outcome';
import type { FleetDependencies } from './app/fleet';
import { stoppedIndexListener } from './app/stopped-index';
import type { AlertRules } from './domain/alerts';
import type { AvailabilityMetricsClient, Logger } from './app/ports';
import type { Config } from './config';
import type { AlertOptions } from './app/evaluate-alerts';
import type { ReconcileOptions } from './app/reconcile';

export interface AppContext extends IngestDependencies {
  config: Readonly<Config>;
  store: TableTimelineStore;
  rejected: TableRejectedEventStore;
  management: ArmManagementClient;
  /** The VM availability metric (`metrics:getBatch`); undefined when `METRICS_ENDPOINT` is off. */
  metrics?: AvailabilityMetricsClient | undefined;
  /** Reconcile leases and marks (`VmReconcileRuns`). */
  runs: TableReconcileRunStore;
  /** Activity Log backfill plans and progress (`VmBackfill`). */
  backfills: TableBackfillStore;
  tables: TableClientFactory;
  tableNames: Record<TableRole, string>;
  /** Table requests made so far (benchmarks, logs). */
  tableRequests: RequestCounter;
  /** Per-subscription coverage (`VmCoverage`). */
  coverage: TableCoverageStore;
  /** Last event per subscription, written at most every few minutes per subscription. */
  eventArrivals: EventArrivals;
  /** Daily usage rollups (`VmDailyUsage`). */
  daily: TableDailyUsageStore;
  /** Per-day digests of the daily rollups (`VmDailyDigest`). */
  digests: TableDailyDigestStore;
  /** Stopped-episode index and alert outbox (`VmAlerts`). */
  alerts: TableAlertStore;
  /** Event Grid custom topic publisher; undefined when `ALERT_TOPIC_ENDPOINT` is empty (alerts only logged). */
  alertPublisher: AlertPublisher | undefined;
  alertMetrics: AlertMetrics;
  alertRules: AlertRules;
  /** Stored invoice checks (`VmInvoiceCheck`). */
  invoiceChecks: TableInvoiceCheckStore;
  /** Reads a cost export (file, folder or blob container) with the app's identity. */
  readExport: ExportReader;
  /** What the fleet listing (`GET /api/fleet`) reads. */
  fleet: FleetDependencies;
  /** Creates the tables when missing (idempotent). */
  ensureTables(): Promise<void>;
}

export interface ContextOptions {
  log?: Logger;
  now?: () => number;
  credential?: TokenCredential;
}

export function createAppContext(config: Readonly<Config>, options: ContextOptions = {}): AppContext {
  const tables = new TableClientFactory({
    storage: config.storage,
    clientId: config.clientId,
    credential: options.credential,
  });
  const names = prefixedTableNames(config.tablePrefix);
  const alerts = new TableAlertStore(tables.table(names.alerts), tables.table(names.current));
  const store = new TableTimelineStore(tables.table(names.timeline), tables.table(names.current), {
    onCurrentChange: stoppedIndexListener(alerts),
  });
  const log = options.log ?? consoleLogger();
  const rejected = new TableRejectedEventStore(tables.table(names.rejectedEvents));
  const management = createArmClient(
    options.credential === undefined
      ? { endpoint: config.armEndpoint }
      : { endpoint: config.armEndpoint, credential: options.credential },
  );
  const runs = new TableReconcileRunStore(tables.table(names.reconcileRuns));
  let ensured: Promise<void> | undefined;
  const daily = new TableDailyUsageStore(tables.table(names.dailyUsage));
  const digests = new TableDailyDigestStore(tables.table(names.dailyDigest));
  const alertRules: AlertRules = {
    graceInMinutes: config.stoppedAlertGraceInMinutes,
    expectedStoppedPatterns: config.expectedStoppedPatterns,
  };
  const coverage = new TableCoverageStore(tables.table(names.coverage));
  return {
    coverage,
    eventArrivals: new EventArrivals(coverage),
    config,
    store,
    rejected,
    management,
    metrics:
      config.metricsEndpoint === undefined
        ? undefined
        : createMetricsClient({ endpoint: config.metricsEndpoint, credential: options.credential }),
    runs,
    marks: runs,
    backfills: new TableBackfillStore(tables.table(names.backfill)),
    tables,
    tableNames: names,
    tableRequests: tables.counter,
    daily,
    digests,
    alerts,
    alertPublisher:
      config.alertTopicEndpoint === undefined
        ? undefined
        : createEventGridAlertPublisher({
            endpoint: config.alertTopicEndpoint,
            clientId: config.clientId,
            credential: options.credential,
          }),
    alertMetrics: createAppInsightsAlertMetrics({
      connectionString: config.appInsightsConnectionString,
      authenticationString: config.appInsightsAuthenticationString,
      credential: options.credential,
      log,
    }),
    alertRules,
    invoiceChecks: new TableInvoiceCheckStore(tables.table(names.invoiceCheck)),
    async readExport(location, range) {
      const accumulator = new ExportAccumulator(range);
      await readCostExport(location, accumulator, {
        blobs: { clientId: config.clientId, credential: options.credential },
      });
      return accumulator;
    },
    fleet: { source: store, store, daily, digests, alerts, alertRules },
    log,
    now: options.now ?? Date.now,
    ensureTables() {
      // All at once: the first request of an instance waits for one round trip, not one per table.
      ensured ??= (async () => {
        await Promise.all(Object.values(names).map((name) => tables.table(name).createTable()));
      })().catch((error: unknown) => {
        ensured = undefined;
        throw error;
      });
      return ensured;
    },
  };
}

let shared: AppContext | undefined;

/** The process-wide context of the Functions host (config from app settings). */
export async function appContext(
  load: () => Readonly<Config>,
  options?: ContextOptions,
): Promise<AppContext> {
  shared ??= createAppContext(load(), options);
  await shared.ensureTables();
  return shared;
}

/** Options from the app settings (`RECONCILE_BUDGET_SECONDS`, `DETAILS_REFRESH_MINUTES`). */
export function reconcileOptionsFrom(
  config: Pick<Config, 'reconcileBudgetInSeconds' | 'detailsRefreshInMinutes'>,
): ReconcileOptions {
  return {
    budgetInMs: config.reconcileBudgetInSeconds * 1000,
    detailsRefreshInMinutes: config.detailsRefreshInMinutes,
  };
}

/** Options of the alert evaluation from the app settings. */
export function alertOptionsFrom(config: Readonly<Config>): AlertOptions {
  return {
    graceInMinutes: config.stoppedAlertGraceInMinutes,
    expectedStoppedPatterns: config.expectedStoppedPatterns,
    autoDeallocateAfterInMinutes: config.autoDeallocateAfterInMinutes,
    autoDeallocateDryRun: config.autoDeallocateDryRun,
  };
}
