/**
 * Where the Azurite used by the integration tests listens, and how to build a connection string for it.
 * Shared by the vitest global setup (main process) and the test helpers (workers): no `vitest` import here.
 */

/** The Azurite development account name, fixed by the emulator. */
export const azuriteDevAccountName = 'devstoreaccount1';

/**
 * The Azurite development account key. This is the well-known, publicly documented key of the local
 * storage emulator (the same for every Azurite install), not a secret; it opens nothing in Azure.
 */
export const azuriteDevAccountKey =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteEndpoints {
  /** e.g. `http://127.0.0.1:10002/devstoreaccount1` */
  readonly tableEndpoint: string;
  readonly queueEndpoint: string;
  readonly blobEndpoint: string;
  /** Full connection string for the dev account with `TableEndpoint=`, `QueueEndpoint=`, `BlobEndpoint=`. */
  readonly connectionString: string;
  /** True when an Azurite already running on the default ports was reused instead of started. */
  readonly reused: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    azurite: AzuriteEndpoints;
  }
}

export interface AzuritePorts {
  readonly table: number;
  readonly queue: number;
  readonly blob: number;
}

export const azuriteDefaultPorts: AzuritePorts = { blob: 10000, queue: 10001, table: 10002 };

export function azuriteEndpoints(ports: AzuritePorts, reused: boolean): AzuriteEndpoints {
  const endpoint = (port: number): string => `http://127.0.0.1:${port}/${azuriteDevAccountName}`;
  const tableEndpoint = endpoint(ports.table);
  const queueEndpoint = endpoint(ports.queue);
  const blobEndpoint = endpoint(ports.blob);
  const connectionString = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${azuriteDevAccountName}`,
    `AccountKey=${azuriteDevAccountKey}`,
    `BlobEndpoint=${blobEndpoint}`,
    `QueueEndpoint=${queueEndpoint}`,
    `TableEndpoint=${tableEndpoint}`,
  ].join(';');
  return { tableEndpoint, queueEndpoint, blobEndpoint, connectionString, reused };
}
