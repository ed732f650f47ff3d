/**
 * Where the Azurite used by the integration tests listens. Shared by the vitest global setup (main
 * process) and the test helpers (workers): no `vitest` import here.
 */

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
