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

  it("prefers a VM's own rate for the day, then its scale set's, then every day's, then its size's", () => {
    const sub =
      '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute';
    const csv = [
      'vmSize,region,os,hourlyRate,currency,priority,resourceId,day',
      'Standard_D2s_v5,westeurope,linux,0.1,USD,,,',
      `,,,0.07,USD,,${sub}/virtualMachines/web-01,2026-11-03`,
      `,,,0.08,USD,,${sub}/virtualMachines/web-01,`,
      `,,,0.05,USD,,${sub}/virtualMachineScaleSets/api,2026-11-03`,
    ].join('\n');
    const entries = parsePrices(csv);
    expect(entries[1]).toEqual({
      resourceId: `${sub}/virtualMachines/web-01`,
      day: '2026-11-03',
      hourlyRate: 0.07,
      currency: 'USD',
    });
    expect(parsePrices(pricesToCsv(entries))).toEqual(entries);
    const table = new PriceTable(entries);
    expect(table.hasResourceRates).toBe(true);
    const vm = { vmSize: 'Standard_D2s_v5', location: 'westeurope', osType: 'Linux' };
    const nov3 = Date.parse('2026-11-03T00:00:00Z');
    const nov4 = Date.parse('2026-11-04T00:00:00Z');
    const web = `${sub}/virtualMachines/WEB-01`.toUpperCase();
    expect(table.rateOf(vm, web, nov3)).toBe(0.07);
    expect(table.rateOf(vm, web, nov4)).toBe(0.08);
    expect(table.rateOf(vm, `${sub}/virtualMachineScaleSets/api/virtualMachines/3`, nov3)).toBe(0.05);
    expect(table.rateOf(vm, `${sub}/virtualMachineScaleSets/api/virtualMachines/3`, nov4)).toBe(0.1);
    expect(table.rateOf(undefined, `${sub}/virtualMachines/other`, nov3)).toBeUndefined();
  });

  it('reads a price file of resource rates only (JSON too), and names a bad day', () => {
    const id = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a';
    expect(parsePrices(`resourceId,day,hourlyRate,currency\n${id},2026-11-03,0.1,eur\n`)).toEqual([
      { resourceId: id, day: '2026-11-03', hourlyRate: 0.1, currency: 'EUR' },
    ]);
    expect(parsePrices(JSON.stringify([{ resourceId: id, hourlyRate: 0.2, currency: 'EUR' }]))).toEqual([
      { resourceId: id, day: null, hourlyRate: 0.2, currency: 'EUR' },
    ]);
    expect(() => parsePrices(`resourceId,day,hourlyRate,currency\n${id},03/11/2026,0.1,EUR\n`)).toThrow(
      'line 2: day must be yyyy-mm-dd',
    );
  });
});
