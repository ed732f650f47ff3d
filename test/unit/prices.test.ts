import { describe, expect, it } from 'vitest';
import { parsePrices, PriceFileError, PriceTable, pricesToCsv } from '../../src/domain/prices';

describe('price files', () => {
  it('reads CSV and JSON with the documented columns and round-trips CSV', () => {
    const csv =
      'vmSize,region,os,hourlyRate,currency,priority\nStandard_D2s_v5,West Europe,linux,0.096,usd,\nStandard_D2s_v5,westeurope,linux,0.02,USD,spot\n';
    const entries = parsePrices(csv);
    expect(entries).toEqual([
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
    ]);
    expect(parsePrices(pricesToCsv(entries))).toEqual(entries);
    expect(parsePrices(JSON.stringify({ prices: entries }))).toEqual(entries);
  });

  it('rejects a file with a bad rate, OS or mixed currencies, naming the line', () => {
    expect(() => parsePrices('vmSize,region,os,hourlyRate,currency\nA,westeurope,linux,cheap,USD')).toThrow(
      /line 2: hourlyRate/,
    );
    expect(() =>
      parsePrices('[{"vmSize":"A","region":"x","os":"bsd","hourlyRate":1,"currency":"USD"}]'),
    ).toThrow(PriceFileError);
    expect(
      () =>
        new PriceTable(
          parsePrices(
            'vmSize,region,os,hourlyRate,currency\nA,westeurope,linux,1,USD\nA,westeurope,windows,1,EUR',
          ),
        ),
    ).toThrow(/mixes currencies/);
  });

  it('matches size and region case-insensitively, by OS and priority, and finds no rate otherwise', () => {
    const table = new PriceTable(
      parsePrices(
        'vmSize,region,os,hourlyRate,currency,priority\nStandard_D2s_v5,westeurope,linux,0.1,USD,\nStandard_D2s_v5,westeurope,windows,0.2,USD,\nStandard_D2s_v5,westeurope,linux,0.03,USD,spot',
      ),
    );
    const vm = { vmSize: 'standard_d2s_v5', location: 'WestEurope', osType: 'Linux' };
    expect(table.rateOf(vm)).toBe(0.1);
    expect(table.rateOf({ ...vm, osType: 'Windows' })).toBe(0.2);
    expect(table.rateOf({ ...vm, priority: 'Spot' })).toBe(0.03);
    expect(table.rateOf({ ...vm, priority: 'Low' })).toBeUndefined();
    expect(table.rateOf({ ...vm, location: 'northeurope' })).toBeUndefined();
    expect(table.rateOf({ vmSize: 'Standard_D2s_v5', location: 'westeurope' })).toBeUndefined(); // OS unknown
  });
});
