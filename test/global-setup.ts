/**
 * Vitest global setup for the `integration` project: makes Azurite's Table, Queue and Blob services
 * available, so `npm test` needs nothing running beforehand.
 *
 * - An Azurite already answering on the default ports (10000 blob, 10001 queue, 10002 table) is reused.
 * - Otherwise Azurite is started with `startAzurite` (kit/local/azurite.ts, shared with `npm start` and the
 *   benchmarks): in memory, on ports the OS picks, stopped in teardown.
 *
 * Tests get the endpoints with `inject('azurite')` (see `test/support/azurite.ts`) and, in the
 * environment of every worker, `AZURITE_TABLE_ENDPOINT`, `AZURITE_QUEUE_ENDPOINT`,
 * `AZURITE_BLOB_ENDPOINT` and `AZURE_STORAGE_CONNECTION_STRING`.
 */
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { azuriteDefaultPorts, azuriteEndpoints, isAzuriteUp, startAzurite } from '../kit/local/azurite';
import type { AzuriteEndpoints } from './support/azurite-endpoints';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedAt = performance.now();
  let stop: () => Promise<void> = () => Promise.resolve();
  let endpoints: AzuriteEndpoints;

  if (await isAzuriteUp(azuriteDefaultPorts)) {
    endpoints = { ...azuriteEndpoints(azuriteDefaultPorts), reused: true };
  } else {
    const started = await startAzurite();
    endpoints = { ...azuriteEndpoints(started.ports), reused: false };
    stop = started.stop;
  }

  process.env.AZURITE_TABLE_ENDPOINT = endpoints.tableEndpoint;
  process.env.AZURITE_QUEUE_ENDPOINT = endpoints.queueEndpoint;
  process.env.AZURITE_BLOB_ENDPOINT = endpoints.blobEndpoint;
  process.env.AZURE_STORAGE_CONNECTION_STRING = endpoints.connectionString;
  project.provide('azurite', endpoints);

  const elapsedInMs = Math.round(performance.now() - startedAt);
  console.log(
    `[azurite] ${endpoints.reused ? 'reusing the one on the default ports' : 'started'}: ` +
      `table ${endpoints.tableEndpoint} (${elapsedInMs} ms)`,
  );
  return stop;
}
