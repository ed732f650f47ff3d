/**
 * The public Azure Retail Prices API (no authentication): pay-as-you-go (`Consumption`) hourly rates of
 * Virtual Machines per region, following `NextPageLink`. Spot and Low Priority meters are kept apart
 * (by `skuName` / `meterName`), Windows by `productName`.
 * https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices
 * Requests go through the SDK pipeline, as the other HTTP adapters' do: a 429 or 503 with `Retry-After` is
 * retried after the wait it asks for, other 5xx and network errors with exponential back-off.
 */
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
} from '@azure/core-rest-pipeline';
import { PriceOs, PricePriority, type PriceEntry } from '../domain/prices';
import { isLoopbackEndpoint } from './arm';

export const retailPricesEndpoint = 'https://prices.azure.com/api/retail/prices';

/** One element of the response's `Items` (the fields used). */
export interface RetailPriceItem {
  currencyCode?: string;
  retailPrice?: number;
  unitPrice?: number;
  armRegionName?: string;
  armSkuName?: string;
  productName?: string;
  skuName?: string;
  meterName?: string;
  serviceName?: string;
  unitOfMeasure?: string;
  type?: string;
  effectiveStartDate?: string;
  isPrimaryMeterRegion?: boolean;
}

export interface RetailPricesPage {
  BillingCurrency?: string;
  Items?: RetailPriceItem[];
  NextPageLink?: string | null;
  Count?: number;
}

export class RetailPricesError extends Error {
  override name = 'RetailPricesError';
}

export interface FetchPricesOptions {
  regions: readonly string[];
  /** ISO currency code (default USD). */
  currency?: string;
  endpoint?: string;
  abortSignal?: AbortSignal;
  /** Pages read so far (progress). */
  onPage?: (page: number, items: number) => void;
  /** Retries of one page (default 4). */
  maxRetries?: number;
  /** Base delay of the exponential retry on 5xx / network errors (default 500 ms). */
  retryDelayInMs?: number;
}

const regionPattern = /^[a-z][a-z0-9]{1,40}$/;

/** The `$filter` of one region's VM consumption meters (the region is checked, quotes doubled). */
export function vmPricesFilter(region: string): string {
  return `serviceName eq 'Virtual Machines' and armRegionName eq '${region.replace(/'/g, "''")}' and priceType eq 'Consumption'`;
}

/** The price file entry of one item, or undefined for items that are not an hourly VM compute rate. */
export function priceEntryOf(item: RetailPriceItem): PriceEntry | undefined {
  if (item.type !== undefined && item.type !== 'Consumption') return undefined;
  if (item.unitOfMeasure !== undefined && item.unitOfMeasure !== '1 Hour') return undefined;
  const vmSize = item.armSkuName?.trim();
  const region = item.armRegionName?.trim().toLowerCase();
  const rate = item.unitPrice ?? item.retailPrice;
  if (!vmSize || !region || typeof rate !== 'number' || !Number.isFinite(rate)) return undefined;
  const names = `${item.skuName ?? ''} ${item.meterName ?? ''}`;
  const priority = /low priority/i.test(names)
    ? PricePriority.low
    : /\bspot\b/i.test(names)
      ? PricePriority.spot
      : PricePriority.regular;
  const os = /windows/i.test(item.productName ?? '') ? PriceOs.windows : PriceOs.linux;
  return {
    vmSize,
    region,
    os,
    hourlyRate: rate,
    currency: (item.currencyCode ?? 'USD').toUpperCase(),
    priority,
  };
}

async function getPage(
  pipeline: Pipeline,
  httpClient: HttpClient,
  url: string,
  abortSignal: AbortSignal | undefined,
): Promise<RetailPricesPage> {
  const response = await pipeline.sendRequest(
    httpClient,
    createPipelineRequest({
      url,
      method: 'GET',
      headers: createHttpHeaders({ accept: 'application/json' }),
      allowInsecureConnection: isLoopbackEndpoint(url),
      abortSignal,
    }),
  );
  if (response.status < 200 || response.status > 299)
    throw new RetailPricesError(`retail prices API answered ${response.status}`);
  return JSON.parse(response.bodyAsText ?? '{}') as RetailPricesPage;
}

/** VM consumption rates of the regions, one per size, region, OS and priority (latest effective). */
export async function fetchVmPrices(options: FetchPricesOptions): Promise<PriceEntry[]> {
  const endpoint = new URL(options.endpoint ?? retailPricesEndpoint);
  const currency = (options.currency ?? 'USD').toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new RetailPricesError('currency must be a 3-letter ISO code');
  const chosen = new Map<string, { entry: PriceEntry; item: RetailPriceItem }>();
  const pipeline = createPipelineFromOptions({
    retryOptions: { maxRetries: options.maxRetries ?? 4, retryDelayInMs: options.retryDelayInMs ?? 500 },
  });
  const httpClient = createDefaultHttpClient();
  let pages = 0;
  for (const rawRegion of options.regions) {
    const region = rawRegion.trim().toLowerCase();
    if (!regionPattern.test(region))
      throw new RetailPricesError(`not a region name: ${JSON.stringify(rawRegion)}`);
    const first = new URL(endpoint);
    first.searchParams.set('currencyCode', currency);
    first.searchParams.set('$filter', vmPricesFilter(region));
    let next: string | undefined = first.toString();
    while (next !== undefined) {
      const page = await getPage(pipeline, httpClient, next, options.abortSignal);
      pages += 1;
      options.onPage?.(pages, page.Items?.length ?? 0);
      for (const item of page.Items ?? []) {
        const entry = priceEntryOf(item);
        if (entry === undefined) continue;
        const key = [entry.vmSize.toLowerCase(), entry.region, entry.os, entry.priority].join('\n');
        const held = chosen.get(key);
        if (held === undefined || better(item, held.item)) chosen.set(key, { entry, item });
      }
      const link = page.NextPageLink ?? undefined;
      if (link === undefined || link === '') next = undefined;
      else {
        const url = new URL(link, endpoint);
        // Follow paging on the same service only.
        if (url.hostname !== endpoint.hostname)
          throw new RetailPricesError('NextPageLink points to another host');
        next = url.toString();
      }
    }
  }
  return [...chosen.values()]
    .map((c) => c.entry)
    .sort((a, b) =>
      [a.region, a.vmSize.toLowerCase(), a.os, a.priority]
        .join(' ')
        .localeCompare([b.region, b.vmSize.toLowerCase(), b.os, b.priority].join(' ')),
    );
}

/** Prefer the primary meter region, then the latest effective start. */
function better(candidate: RetailPriceItem, held: RetailPriceItem): boolean {
  const primary = (i: RetailPriceItem) => (i.isPrimaryMeterRegion === false ? 0 : 1);
  if (primary(candidate) !== primary(held)) return primary(candidate) > primary(held);
  return (candidate.effectiveStartDate ?? '') > (held.effectiveStartDate ?? '');
}
