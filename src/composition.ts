/**
 * Composition root: builds the adapters from the config, once per process. Functions and the CLI use it;
 * nothing else constructs adapters.
 */
import type { TokenCredential } from '@azure/identity';
import { createArmClient, type ArmManagementClient } from './adapters/arm';
import { consoleLogger } from './adapters/logger';
import { TableClientFactory, type RequestCounter } from './adapters/storage';
import { prefixedTableNames, type TableRole } from './adapters/table-names';
import { TableReconcileRunStore } from './adapters/table-reconcile-store';
import { TableRejectedEventStore } from './adapters/table-rejected-store';
import { TableTimelineStore } from './adapters/table-timeline-store';
import type { IngestDependencies } from './app/ingest-event';
import type { Logger } from './app/ports';
import type { Config } from './config';

export interface AppContext extends IngestDependencies {
  config: Readonly<Config>;
  store: TableTimelineStore;
  rejected: TableRejectedEventStore;
  management: ArmManagementClient;
  /** Reconcile leases and marks (`VmReconcileRuns`). */
  runs: TableReconcileRunStore;
  tables: TableClientFactory;
  tableNames: Record<TableRole, string>;
  /** Table requests made so far (benchmarks, logs). */
  tableRequests: RequestCounter;
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
  const store = new TableTimelineStore(tables.table(names.timeline), tables.table(names.current));
  const rejected = new TableRejectedEventStore(tables.table(names.rejectedEvents));
  const management = createArmClient(
    options.credential === undefined
      ? { endpoint: config.armEndpoint }
      : { endpoint: config.armEndpoint, credential: options.credential },
  );
  let ensured: Promise<void> | undefined;
  return {
    config,
    store,
    rejected,
    management,
    runs: new TableReconcileRunStore(tables.table(names.reconcileRuns)),
    tables,
    tableNames: names,
    tableRequests: tables.counter,
    log: options.log ?? consoleLogger(),
    now: options.now ?? Date.now,
    ensureTables() {
      ensured ??= (async () => {
        for (const name of Object.values(names)) {
          await tables.table(name).createTable();
        }
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
