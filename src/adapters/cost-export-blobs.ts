/**
 * A Cost Management export in a blob container: `https://<account>.blob.core.windows.net/<container>[/<prefix>]`
 * (or Azurite's `http://127.0.0.1:<port>/devstoreaccount1/<container>[/<prefix>]`), read with the caller's
 * identity (DefaultAzureCredential, or the app's managed identity; Azurite's public dev account on a
 * loopback URL), read-only: list and read, nothing else (Storage Blob Data Reader is enough).
 *
 * Scheduled exports write each run in a folder of its own:
 * `<directory>/<export name>/<yyyyMMdd-yyyyMMdd>/<run id>/part_<n>_<m>.csv[.gz]|.parquet` (with a
 * `manifest.json`), a month-to-date export one run a day for the same month. By default only the newest
 * run of each `…/<yyyyMMdd-yyyyMMdd>` folder is read (the latest data of each export and month; older
 * runs hold the same days again); `allRuns` reads every file under the prefix.
 */
import { StorageSharedKeyCredential, ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { CostExportError } from '../domain/cost-export';
import { azuriteAccountKey, azuriteAccountName } from './storage';
import { failureOf, ServiceError, ServiceFailure } from '../app/errors';
import { toServiceError } from './service-errors';

const exportFile = /\.(csv|csv\.gz|gz|parquet)$/i;

/** One export file, wherever it lives. */
export interface ExportEntry {
  name: string;
  parquet: boolean;
  /** Whether the content is gzip (by its magic bytes). */
  isGzip(): Promise<boolean>;
  /** The content as a stream, read in chunks. */
  stream(): Promise<NodeJS.ReadableStream>;
  /** Random access for Parquet (ranged reads: a row group at a time). */
  byteLength: number;
  slice(start: number, end?: number): Promise<ArrayBuffer>;
}

export interface BlobExportOptions {
  credential?: TokenCredential | undefined;
  /** Client id of a user-assigned managed identity. */
  clientId?: string | undefined;
  /** Every run under the prefix, not only the newest of each export and period. */
  allRuns?: boolean | undefined;
}

export function isContainerUrl(location: string): boolean {
  return /^https?:\/\//i.test(location.trim());
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname);
}

/** `<account URL>`, container and prefix of a container URL. */
export function parseContainerUrl(location: string): {
  accountUrl: string;
  container: string;
  prefix: string;
} {
  let url: URL;
  try {
    url = new URL(location.trim());
  } catch {
    throw new CostExportError(`${location} is not a valid URL`);
  }
  if (url.search !== '' || url.username !== '' || url.password !== '')
    throw new CostExportError(
      'give the container URL without a query string or SAS token: the container is read with your identity',
    );
  const loopback = isLoopback(url);
  if (url.protocol !== 'https:' && !(loopback && url.protocol === 'http:'))
    throw new CostExportError('a container URL must be https (http only for a local emulator)');
  const parts = url.pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  // Azurite (path-style): the account is the first path segment.
  const account = loopback ? parts.shift() : undefined;
  const container = parts.shift();
  if (container === undefined || (loopback && account === undefined))
    throw new CostExportError(
      `${location} names no container (https://<account>.blob.core.windows.net/<container>[/<prefix>])`,
    );
  const prefix = parts.length === 0 ? '' : `${parts.join('/')}/`;
  return { accountUrl: `${url.origin}${account === undefined ? '' : `/${account}`}`, container, prefix };
}

function containerClient(
  location: string,
  options: BlobExportOptions,
): { client: ContainerClient; prefix: string } {
  const { accountUrl, container, prefix } = parseContainerUrl(location);
  const url = new URL(accountUrl);
  const credential =
    isLoopback(url) && url.protocol === 'http:'
      ? new StorageSharedKeyCredential(azuriteAccountName, azuriteAccountKey)
      : (options.credential ??
        (options.clientId !== undefined && options.clientId !== ''
          ? new ManagedIdentityCredential({ clientId: options.clientId })
          : new DefaultAzureCredential()));
  return {
    client: new ContainerClient(`${accountUrl}/${encodeURIComponent(container)}`, credential),
    prefix,
  };
}

interface ListedBlob {
  name: string;
  size: number;
  lastModified: number;
}

/** The newest run (by its files' last modification) of each export period folder. */
export function newestRuns(blobs: readonly ListedBlob[]): ListedBlob[] {
  const runOf = (name: string) => name.split('/').slice(0, -1).join('/');
  const periodOf = (run: string) => run.split('/').slice(0, -1).join('/');
  const runs = new Map<string, number>();
  for (const blob of blobs) {
    const run = runOf(blob.name);
    runs.set(run, Math.max(runs.get(run) ?? 0, blob.lastModified));
  }
  const newest = new Map<string, { run: string; at: number }>();
  for (const [run, at] of runs) {
    const period = periodOf(run);
    const best = newest.get(period);
    if (best === undefined || at > best.at || (at === best.at && run > best.run))
      newest.set(period, { run, at });
  }
  const chosen = new Set([...newest.values()].map((r) => r.run));
  return blobs.filter((blob) => chosen.has(runOf(blob.name)));
}

/** The export files in the container (under the prefix), in name order. */
export async function blobExportEntries(
  location: string,
  options: BlobExportOptions = {},
): Promise<ExportEntry[]> {
  const { client, prefix } = containerClient(location, options);
  const listed: ListedBlob[] = [];
  try {
    for await (const blob of client.listBlobsFlat({ prefix })) {
      if (!exportFile.test(blob.name)) continue;
      listed.push({
        name: blob.name,
        size: blob.properties.contentLength ?? 0,
        lastModified: blob.properties.lastModified.getTime(),
      });
    }
  } catch (error) {
    const mapped = toServiceError(error);
    const failure = failureOf(mapped);
    if (failure === ServiceFailure.notFound)
      throw new CostExportError(`${location}: the container does not exist`);
    if (failure === ServiceFailure.forbidden || (mapped instanceof ServiceError && mapped.statusCode === 401))
      throw new CostExportError(
        `${location}: access denied (the identity needs Storage Blob Data Reader on the container)`,
      );
    throw new CostExportError(`${location}: cannot list the container: ${(error as Error).message}`);
  }
  if (listed.length === 0)
    throw new CostExportError(`no export files (.csv, .csv.gz, .parquet) under ${location}`);
  const chosen = options.allRuns === true ? listed : newestRuns(listed);
  return chosen
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((blob) => {
      const blobClient = client.getBlobClient(blob.name);
      const range = async (start: number, count: number): Promise<Buffer> =>
        count <= 0 ? Buffer.alloc(0) : blobClient.downloadToBuffer(start, count);
      return {
        name: `${client.url}/${blob.name}`,
        parquet: /\.parquet$/i.test(blob.name),
        byteLength: blob.size,
        async isGzip() {
          const head = await range(0, Math.min(2, blob.size));
          return head.length === 2 && head[0] === 0x1f && head[1] === 0x8b;
        },
        async stream() {
          const response = await blobClient.download(0);
          if (response.readableStreamBody === undefined)
            throw new CostExportError(`${blob.name}: the download has no body`);
          return response.readableStreamBody;
        },
        async slice(start: number, end?: number) {
          const stop = Math.min(end ?? blob.size, blob.size);
          const bytes = await range(start, stop - start);
          return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        },
      };
    });
}
