import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchVmPrices, type RetailPriceItem } from '../../src/adapters/retail-prices';
import { main } from '../../kit/cli';
import { parsePrices } from '../../src/domain/prices';
import {
  startRetailPricesEmulator,
  type RetailPricesEmulator,
} from '../../kit/emulator/retail-prices-emulator';

/** Items shaped like the documented response (fields as the service returns them). */
function item(
  armSkuName: string,
  region: string,
  price: number,
  extra: Partial<RetailPriceItem> = {},
): RetailPriceItem {
  const series = armSkuName.replace(/^Standard_/, '');
  return {
    currencyCode: 'USD',
    retailPrice: price,
    unitPrice: price,
    armRegionName: region,
    armSkuName,
    productName: `Virtual Machines ${series} Series`,
    skuName: series,
    meterName: series,
    serviceName: 'Virtual Machines',
    unitOfMeasure: '1 Hour',
    type: 'Consumption',
    effectiveStartDate: '2024-01-01T00:00:00Z',
    isPrimaryMeterRegion: true,
    ...extra,
  };
}

describe('Azure Retail Prices API client (loopback emulator)', () => {
  let emulator: RetailPricesEmulator;
  beforeAll(async () => {
    emulator = await startRetailPricesEmulator(
      [
        item('Standard_D2s_v5', 'westeurope', 0.096),
        item('Standard_D2s_v5', 'westeurope', 0.02, { skuName: 'D2s v5 Spot', meterName: 'D2s v5 Spot' }),
        item('Standard_D2s_v5', 'westeurope', 0.03, {
          skuName: 'D2s v5 Low Priority',
          meterName: 'D2s v5 Low Priority',
        }),
        item('Standard_D2s_v5', 'westeurope', 0.188, { productName: 'Virtual Machines Dsv5 Series Windows' }),
        item('Standard_D2s_v5', 'westeurope', 500, { type: 'Reservation', unitOfMeasure: '1 Hour' }),
        item('Standard_D2s_v5', 'westeurope', 0.09, { effectiveStartDate: '2023-01-01T00:00:00Z' }),
        item('Standard_F4s_v2', 'westeurope', 0.19),
        item('Standard_F4s_v2', 'northeurope', 0.17),
      ],
      { pageSize: 2 },
    );
  });
  afterAll(async () => {
    await emulator.stop();
  });

  it('follows NextPageLink, keeps Spot, Low Priority and Windows apart and the latest rate', async () => {
    const before = emulator.requests.length;
    const entries = await fetchVmPrices({ regions: ['westeurope'], endpoint: emulator.url });
    const requests = emulator.requests.slice(before);
    expect(requests.length).toBe(3); // 6 matching items (the reservation filtered out by the service), pages of 2
    expect(new URL(requests[0] ?? '', 'http://127.0.0.1').searchParams.get('$filter')).toBe(
      "serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and priceType eq 'Consumption'",
    );
    expect(entries).toEqual([
      {
        vmSize: 'Standard_D2s_v5',
        region: 'westeurope',
        os: 'linux',
        hourlyRate: 0.03,
        currency: 'USD',
        priority: 'low',
      },
      {
        vmSize: 'Standard_D2s_v5',
        region: 'westeurope',
        os: 'linux',
        hourlyRate: 0.096,
        currency: 'USD',
        priority: 'regular',
      },
      {
        vmSize: 'Standard_D2s_v5',
        region: 'westeurope',
        os: 'linux',
        hourlyRate: 0.02,
        currency: 'USD',
        priority: 'spot',
      },
      {
        vmSize: 'Standard_D2s_v5',
        region: 'westeurope',
        os: 'windows',
        hourlyRate: 0.188,
        currency: 'USD',
        priority: 'regular',
      },
      {
        vmSize: 'Standard_F4s_v2',
        region: 'westeurope',
        os: 'linux',
        hourlyRate: 0.19,
        currency: 'USD',
        priority: 'regular',
      },
    ]);
  });

  it('waits the Retry-After a throttled page asks for (429, then 503) and still reads every page', async () => {
    const before = emulator.answers.length;
    const unthrottled = await fetchVmPrices({ regions: ['westeurope'], endpoint: emulator.url });
    emulator.throttleNext(1, { status: 429, retryAfterInSeconds: 1 });
    const entries = await fetchVmPrices({
      regions: ['westeurope'],
      endpoint: emulator.url,
      // The second page's first request is answered 503 with Retry-After.
      onPage: (page) => {
        if (page === 1) emulator.throttleNext(1, { status: 503, retryAfterInSeconds: 1 });
      },
    });
    const answers = emulator.answers.slice(before + 3); // after the 3 pages of the unthrottled read
    expect(answers.map((a) => a.status)).toEqual([429, 200, 503, 200, 200]);
    const [throttled, retried, unavailable, retriedAgain] = answers;
    // Each retry waits the asked second (the SDK sleeps at least the Retry-After).
    expect((retried?.at ?? 0) - (throttled?.at ?? 0)).toBeGreaterThanOrEqual(990);
    expect((retriedAgain?.at ?? 0) - (unavailable?.at ?? 0)).toBeGreaterThanOrEqual(990);
    expect(retried?.url).toBe(throttled?.url);
    expect(retriedAgain?.url).toBe(unavailable?.url);
    expect(entries).toEqual(unthrottled);
    expect(entries).toHaveLength(5);
  });

  it('writes the price file for several regions in the asked currency through the CLI', async () => {
    const out = path.join(await mkdtemp(path.join(tmpdir(), 'prices-')), 'rates.csv');
    const printed: string[] = [];
    const io = {
      stdout: { write: (s: string) => printed.push(s) },
      stderr: { write: (s: string) => printed.push(s) },
      stdin: (async function* () {})(),
      env: {},
    };
    const code = await main(
      [
        'prices',
        '--region',
        'westeurope,northeurope',
        '--currency',
        'eur',
        '--out',
        out,
        '--prices-endpoint',
        emulator.url,
      ],
      io,
    );
    expect(code).toBe(0);
    expect(printed.join('')).toContain('wrote 6 rates');
    const entries = parsePrices(await readFile(out, 'utf8'));
    expect(entries).toContainEqual({
      vmSize: 'Standard_F4s_v2',
      region: 'northeurope',
      os: 'linux',
      hourlyRate: 0.17,
      currency: 'EUR',
      priority: 'regular',
    });
    expect(await main(['prices', '--region', "west'europe", '--prices-endpoint', emulator.url], io)).toBe(2);
  });
});
