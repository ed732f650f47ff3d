/**
 * Table Storage connection: a connection string, `UseDevelopmentStorage=true`, or a table endpoint URL
 * (managed identity / `az login` through DefaultAzureCredential; a loopback Azurite URL uses the public
 * emulator account). Also counts requests, for logs and benchmarks.
 */
import {
  AzureNamedKeyCredential,
  TableClient,
  TableServiceClient,
  type TableServiceClientOptions,
} from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { ServiceError, ServiceFailure } from '../app/errors';
import { sdkFailureOf, toServiceError } from './service-errors';

/** The Azurite development account name, fixed by the emulator. */
export const azuriteAccountName = 'devstoreaccount1';

/**
 * The Azurite development account key: the well-known, publicly documented key of the local storage
 * emulator (the same for every Azurite install), not a secret; it opens nothing in Azure.
 */
export const azuriteAccountKey =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * A Table Storage request that never got an HTTP answer (refused, DNS, timeout). Only the SDK's own
 * error counts: a management error already mapped by its adapter is not about storage.
 */
export function isStorageUnreachable(error: unknown): boolean {
  return !(error instanceof ServiceError) && sdkFailureOf(error) === ServiceFailure.unreachable;
}

/** A Table Storage error saying the table does not exist yet (404 `TableNotFound`). */
export function isTableMissing(error: unknown): boolean {
  const mapped = toServiceError(error);
  return (
    mapped instanceof ServiceError &&
    mapped.failure === ServiceFailure.notFound &&
    /TableNotFound/i.test(`${mapped.code ?? ''} ${mapped.message}`)
  );
}

export interface RequestCounter {
  requests: number;
  /** Requests answered 5xx, 429 or 412/409 (for diagnostics). */
  byStatus: Map<number, number>;
}

export function newRequestCounter(): RequestCounter {
  return { requests: 0, byStatus: new Map() };
}

function countingPolicy(counter: RequestCounter): PipelinePolicy {
  return {
    name: 'vmTimelineRequestCounter',
    async sendRequest(request, next) {
      counter.requests += 1;
      const response = await next(request);
      counter.byStatus.set(response.status, (counter.byStatus.get(response.status) ?? 0) + 1);
      return response;
    },
  };
}

export interface StorageOptions {
  /** Connection string, `UseDevelopmentStorage=true`, or a table endpoint URL. */
  storage: string;
  /** Client id of a user-assigned managed identity, when the storage is a URL. */
  clientId?: string | undefined;
  credential?: TokenCredential | undefined;
  counter?: RequestCounter | undefined;
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname);
}

export class InvalidStorageSettingError extends Error {
  override name = 'InvalidStorageSettingError';
}

/** Makes TableClients for one storage account. */
export class TableClientFactory {
  readonly counter: RequestCounter;
  readonly #storage: string;
  readonly #options: TableServiceClientOptions;
  readonly #url: URL | undefined;
  readonly #credential: TokenCredential | AzureNamedKeyCredential | undefined;

  constructor(options: StorageOptions) {
    this.counter = options.counter ?? newRequestCounter();
    this.#storage = options.storage.trim();
    if (this.#storage === '') throw new InvalidStorageSettingError('storage setting is empty');
    const allowInsecureConnection = /^https?:/i.test(this.#storage)
      ? this.#storage.toLowerCase().startsWith('http:')
      : /defaultendpointsprotocol=http;|usedevelopmentstorage=true|endpoint=http:/i.test(this.#storage);
    this.#options = {
      allowInsecureConnection,
      additionalPolicies: [{ policy: countingPolicy(this.counter), position: 'perCall' }],
      retryOptions: { maxRetries: 4, retryDelayInMs: 200, maxRetryDelayInMs: 5_000 },
    };
    if (/^https?:\/\//i.test(this.#storage)) {
      let url: URL;
      try {
        url = new URL(this.#storage);
      } catch {
        throw new InvalidStorageSettingError('storage URL is not a valid URL');
      }
      this.#url = url;
      if (isLoopback(url) && url.protocol === 'http:') {
        this.#credential = new AzureNamedKeyCredential(azuriteAccountName, azuriteAccountKey);
      } else {
        this.#credential =
          options.credential ??
          (options.clientId
            ? new ManagedIdentityCredential({ clientId: options.clientId })
            : new DefaultAzureCredential());
      }
    } else if (!/(accountname|usedevelopmentstorage|tableendpoint)=/i.test(this.#storage)) {
      throw new InvalidStorageSettingError('storage must be a connection string or a table endpoint URL');
    }
  }

  /** Endpoint for display (never the key). */
  get endpoint(): string {
    if (this.#url !== undefined) return this.#url.origin + this.#url.pathname;
    const match = /tableendpoint=([^;]+)/i.exec(this.#storage);
    if (match?.[1] !== undefined) return match[1];
    if (/usedevelopmentstorage=true/i.test(this.#storage)) return 'http://127.0.0.1:10002/devstoreaccount1';
    const account = /accountname=([^;]+)/i.exec(this.#storage)?.[1] ?? 'unknown';
    return `https://${account}.table.core.windows.net`;
  }

  table(name: string): TableClient {
    if (this.#url !== undefined) {
      const base = this.#url.toString().replace(/\/+$/, '');
      const credential = this.#credential;
      return credential instanceof AzureNamedKeyCredential
        ? new TableClient(base, name, credential, this.#options)
        : new TableClient(base, name, credential as TokenCredential, this.#options);
    }
    return TableClient.fromConnectionString(this.#storage, name, this.#options);
  }

  service(): TableServiceClient {
    if (this.#url !== undefined) {
      const base = this.#url.toString().replace(/\/+$/, '');
      const credential = this.#credential;
      return credential instanceof AzureNamedKeyCredential
        ? new TableServiceClient(base, credential, this.#options)
        : new TableServiceClient(base, credential as TokenCredential, this.#options);
    }
    return TableServiceClient.fromConnectionString(this.#storage, this.#options);
  }
}
