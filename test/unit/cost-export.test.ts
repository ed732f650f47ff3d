import { describe, expect, it } from 'vitest';
import {
  CostExportError,
  ExportAccumulator,
  exportRowReader,
  hourlyRateOf,
  isHourUnit,
  parseExportDate,
} from '../../src/domain/cost-export';
import { CsvFormatError, CsvRecordReader } from '../../src/domain/csv-records';
import {
  focusColumns,
  focusCsv,
  focusRow,
  focusVmUsage,
  legacyCsv,
  legacyMcaColumns,
  legacyRow,
  legacyVmUsage,
  scaleSetId,
  vmId,
} from '../../kit/emulator/cost-exports';

function records(text: string, chunkSize = text.length): string[][] {
  const out: string[][] = [];
  const reader = new CsvRecordReader();
  for (let i = 0; i < text.length; i += chunkSize)
    reader.push(text.slice(i, i + chunkSize), (r) => out.push(r));
  reader.end((r) => out.push(r));
  return out;
}

/** Reads a whole CSV text through the row reader into an accumulator. */
function accumulate(
  text: string,
  options: { includeLicences?: boolean } = {},
  range?: { from: number; to: number },
) {
  const acc = new ExportAccumulator(range);
  let read: ReturnType<typeof exportRowReader>['read'] | undefined;
  const reader = new CsvRecordReader();
  const onRecord = (fields: string[]) => {
    if (read === undefined) {
      const rows = exportRowReader(fields, options);
      acc.startFile(rows.format);
      read = rows.read;
    } else acc.add(read(fields));
  };
  reader.push(text, onRecord);
  reader.end(onRecord);
  return acc;
}

const day = (name: string) => Date.parse(`${name}T00:00:00Z`);

describe('CsvRecordReader', () => {
  const text = '\uFEFFa,b,c\r\n1,"x, ""quoted""",3\r\n\r\n"multi\nline",,"" \n4,5,6';
  it('reads quoted commas, doubled quotes, line breaks in quotes, CRLF, a BOM and skips blank lines', () => {
    expect(records(text)).toEqual([
      ['a', 'b', 'c'],
      ['1', 'x, "quoted"', '3'],
      ['multi\nline', '', ' '],
      ['4', '5', '6'],
    ]);
  });
  it('gives the same records whatever the chunk size', () => {
    for (const size of [1, 2, 3, 5, 7, 64]) expect(records(text, size)).toEqual(records(text));
  });
  it('names a file that ends inside a quoted field', () => {
    expect(() => records('a,b\n"open,1\n')).toThrow(CsvFormatError);
  });
});

describe('export values', () => {
  it('reads the hour units of the VM meters, block-priced or not', () => {
    for (const unit of ['Hours', 'Hour', '1 Hour', '10 Hours', '100 Hours', '1/Hour'])
      expect(isHourUnit(unit)).toBe(true);
    for (const unit of ['1 GB/Month', '10K', '1/Month', '']) expect(isHourUnit(unit)).toBe(false);
  });
  it('reads ISO and US dates as UTC', () => {
    expect(parseExportDate('2026-11-03T00:00:00Z')).toBe(day('2026-11-03'));
    expect(parseExportDate('2026-11-03T00:00:00.0000000Z')).toBe(day('2026-11-03'));
    expect(parseExportDate('2026-11-03')).toBe(day('2026-11-03'));
    expect(parseExportDate('11/03/2026')).toBe(day('2026-11-03'));
    expect(parseExportDate('2026-11-03T01:00:00+01:00')).toBe(day('2026-11-03'));
    expect(parseExportDate('13/45/2026')).toBeUndefined();
    expect(parseExportDate('yesterday')).toBeUndefined();
  });
});

describe('FOCUS 1.0 exports', () => {
  const web = vmId('web-01');
  const batch = vmId('hpc-01', 'RG-Batch');
  const reserved = vmId('res-01');
  const sql = vmId('sql-01');
  const vmss = scaleSetId('vmss-api');
  const rows = [
    focusVmUsage({ resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 2.4 }),
    // The same VM with the resource id in other casing, on a second meter line of the same day.
    focusVmUsage({ resourceId: web.toUpperCase(), day: '2026-11-03', hours: 0, effectiveCost: 0 }),
    // Partial day, block-priced in 10 hours.
    focusVmUsage({
      resourceId: batch,
      day: '2026-11-03',
      hours: 12,
      effectiveCost: 3,
      pricingUnit: '10 Hours',
    }),
    // A reservation: used hours at their amortized cost, billed at 0; the purchase is a row of its own.
    focusVmUsage({
      resourceId: reserved,
      day: '2026-11-03',
      hours: 24,
      effectiveCost: 1.2,
      billedCost: 0,
      reservation: true,
    }),
    focusRow({
      ChargeCategory: 'Purchase',
      ChargePeriodStart: '2026-11-01T00:00:00Z',
      ChargePeriodEnd: '2026-12-01T00:00:00Z',
      BilledCost: 876,
      EffectiveCost: 0,
      CommitmentDiscountId: '/providers/Microsoft.Capacity/reservationOrders/ro1/reservations/r1',
      x_SkuMeterCategory: 'Virtual Machines',
    }),
    // Unused reservation hours.
    focusRow({
      ChargeCategory: 'Usage',
      CommitmentDiscountStatus: 'Unused',
      ChargePeriodStart: '2026-11-03T00:00:00Z',
      ChargePeriodEnd: '2026-11-04T00:00:00Z',
      ConsumedUnit: 'Hours',
      EffectiveCost: 0.3,
      x_SkuMeterCategory: 'Virtual Machines',
    }),
    // Hybrid Benefit: a Windows VM billed on the base (Linux) compute meter, no licence row.
    focusVmUsage(
      { resourceId: vmId('win-ahb'), day: '2026-11-03', hours: 24, effectiveCost: 2.304 },
      { x_SkuDetails: '{"ImageType":"Windows Server BYOL","ServiceType":"Standard_D2s_v5"}' },
    ),
    // A SQL Server VM: compute, and the licence billed apart.
    focusVmUsage({ resourceId: sql, day: '2026-11-03', hours: 10, effectiveCost: 1 }),
    focusVmUsage({
      resourceId: sql,
      day: '2026-11-03',
      hours: 10,
      effectiveCost: 2.5,
      meterCategory: 'Virtual Machines Licenses',
      meterSubcategory: 'SQL Server Standard',
    }),
    // A scale set billed as one resource, in 100-hour blocks.
    focusVmUsage({
      resourceId: vmss,
      day: '2026-11-03',
      hours: 48,
      effectiveCost: 4.8,
      pricingUnit: '100 Hours',
    }),
    // Disk, bandwidth, an IP address, tax.
    focusRow({
      ChargeCategory: 'Usage',
      ChargePeriodStart: '2026-11-03T00:00:00Z',
      ChargePeriodEnd: '2026-11-04T00:00:00Z',
      ResourceId: `${web.replace(/virtualMachines\/web-01$/, 'disks/web-01_OsDisk')}`,
      ConsumedQuantity: 0.0333,
      ConsumedUnit: 'GB/Month',
      EffectiveCost: 0.16,
      ServiceName: 'Storage Accounts',
      x_SkuMeterCategory: 'Storage',
    }),
    focusRow({
      ChargeCategory: 'Usage',
      ChargePeriodStart: '2026-11-03T00:00:00Z',
      ChargePeriodEnd: '2026-11-04T00:00:00Z',
      ResourceId: web,
      ConsumedQuantity: 1.5,
      ConsumedUnit: 'GB',
      EffectiveCost: 0.13,
      ServiceName: 'Bandwidth',
      x_SkuMeterCategory: 'Bandwidth',
    }),
    focusRow({
      ChargeCategory: 'Tax',
      ChargePeriodStart: '2026-11-01T00:00:00Z',
      ChargePeriodEnd: '2026-12-01T00:00:00Z',
      BilledCost: 12,
      EffectiveCost: 12,
    }),
    // A VM meter on another resource type (a dedicated host).
    focusVmUsage({
      resourceId: `/subscriptions/${'0'.repeat(8)}-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg/hosts/h1`,
      day: '2026-11-03',
      hours: 24,
      effectiveCost: 40,
    }),
    // Next day.
    focusVmUsage({ resourceId: web, day: '2026-11-04', hours: 6.5, effectiveCost: 0.65 }),
  ];

  it('keeps the VM compute rows, skips the rest with reasons, and derives the effective rate per VM and day', () => {
    const acc = accumulate(focusCsv(rows));
    const stats = acc.stats();
    expect(stats).toMatchObject({
      formats: ['focus'],
      rowsRead: rows.length,
      rowsKept: 8,
      rowsSkipped: 7,
      skipped: {
        notUsage: 2,
        unusedCommitment: 1,
        notVmCompute: 2,
        licence: 1,
        notVmResource: 1,
      },
      firstDay: '2026-11-01',
      lastDay: '2026-11-04',
    });
    expect(acc.currency).toBe('USD');
    const rates = Object.fromEntries(
      acc
        .vmDays()
        .map((d) => [
          `${d.resourceId.split('/').at(-1)?.toLowerCase()} ${new Date(d.day).toISOString().slice(0, 10)}`,
          [d.hours, hourlyRateOf(d)],
        ]),
    );
    expect(rates).toEqual({
      'web-01 2026-11-03': [24, 0.1],
      'web-01 2026-11-04': [6.5, 0.1],
      'hpc-01 2026-11-03': [12, 0.25],
      'res-01 2026-11-03': [24, 0.05],
      'win-ahb 2026-11-03': [24, 0.096],
      'sql-01 2026-11-03': [10, 0.1],
      'vmss-api 2026-11-03': [48, 0.1],
    });
  });

  it('adds licences billed apart to the rate when asked, without counting their hours twice', () => {
    const acc = accumulate(focusCsv(rows), { includeLicences: true });
    const sqlDay = acc.vmDays().find((d) => d.resourceId === sql);
    expect(sqlDay).toMatchObject({ hours: 10, cost: 3.5 });
    expect(hourlyRateOf(sqlDay!)).toBeCloseTo(0.35, 10);
  });

  it('counts rows outside the days asked for apart', () => {
    const acc = accumulate(focusCsv(rows), {}, { from: day('2026-11-04'), to: day('2026-11-05') });
    expect(acc.stats().skipped.outsideRange).toBe(7);
    expect(acc.vmDays().map((d) => d.resourceId)).toEqual([web]);
  });

  it('rejects an export that mixes billing currencies, naming both', () => {
    const mixed = focusCsv([
      focusVmUsage({ resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 2.4 }),
      focusVmUsage({ resourceId: batch, day: '2026-11-03', hours: 24, effectiveCost: 2.2, currency: 'EUR' }),
    ]);
    expect(() => accumulate(mixed)).toThrow(/mixes billing currencies \(USD, EUR\)/);
  });

  it('skips a row whose charge period is longer than a day, and one with an unreadable number', () => {
    const acc = accumulate(
      focusCsv([
        focusVmUsage(
          { resourceId: web, day: '2026-11-03', hours: 48, effectiveCost: 4.8 },
          { ChargePeriodEnd: '2026-11-05T00:00:00Z' },
        ),
        focusVmUsage(
          { resourceId: web, day: '2026-11-03', hours: 24, effectiveCost: 2.4 },
          { ConsumedQuantity: 'n/a' },
        ),
      ]),
    );
    expect(acc.stats().skipped).toEqual({ notDaily: 1, badValue: 1 });
  });

  it('names the missing columns of a file that is not an export', () => {
    expect(() => exportRowReader(['ChargeCategory', 'BilledCost'])).toThrow(CostExportError);
    expect(() => exportRowReader(['ChargeCategory', 'BilledCost'])).toThrow(
      /lacks ChargePeriodStart, ResourceId, ConsumedQuantity, ConsumedUnit, EffectiveCost, BillingCurrency/,
    );
    expect(() => exportRowReader(['name', 'value'])).toThrow(/not a Cost Management export/);
    expect(exportRowReader([...focusColumns].map((c) => c.toLowerCase())).format).toBe('focus');
  });
});

describe('legacy cost details exports', () => {
  const web = vmId('web-01');
  const reserved = vmId('res-01');
  it('reads the actual-cost file: MM/DD/YYYY days, hours whatever the unit block, reserved usage at 0 has no rate', () => {
    const acc = accumulate(
      legacyCsv([
        legacyVmUsage({
          resourceId: web,
          day: '2026-11-03',
          hours: 24,
          effectiveCost: 2.4,
          pricingUnit: '100 Hours',
        }),
        legacyVmUsage({
          resourceId: reserved,
          day: '2026-11-03',
          hours: 24,
          effectiveCost: 0,
          reservation: true,
        }),
        legacyRow({
          date: '11/01/2026',
          chargeType: 'Purchase',
          pricingModel: 'Reservation',
          costInBillingCurrency: 876,
          billingCurrency: 'USD',
          meterCategory: 'Virtual Machines',
        }),
        legacyRow({
          date: '11/03/2026',
          chargeType: 'UnusedReservation',
          pricingModel: 'Reservation',
          costInBillingCurrency: 0.3,
          billingCurrency: 'USD',
          meterCategory: 'Virtual Machines',
        }),
        legacyVmUsage(
          { resourceId: web, day: '2026-11-03', hours: 720, effectiveCost: 3.2, meterCategory: 'Storage' },
          { unitOfMeasure: '1 GB/Month' },
        ),
      ]),
    );
    expect(acc.stats()).toMatchObject({
      formats: ['legacy'],
      rowsKept: 2,
      skipped: { notUsage: 1, unusedCommitment: 1, notVmCompute: 1 },
    });
    const [res, w] = acc.vmDays();
    expect(res).toMatchObject({ resourceId: reserved, hours: 24, costUnknown: true });
    expect(hourlyRateOf(res!)).toBeUndefined();
    expect(hourlyRateOf(w!)).toBeCloseTo(0.1, 10);
  });

  it('reads the amortized file: reserved usage carries its share of the purchase', () => {
    const acc = accumulate(
      legacyCsv([
        legacyVmUsage({
          resourceId: reserved,
          day: '2026-11-03',
          hours: 24,
          effectiveCost: 1.2,
          reservation: true,
        }),
      ]),
    );
    expect(hourlyRateOf(acc.vmDays()[0]!)).toBeCloseTo(0.05, 10);
  });

  it('reads an Enterprise Agreement header (BillingCurrencyCode, PascalCase)', () => {
    const header = [
      'Date',
      'ResourceId',
      'MeterCategory',
      'Quantity',
      'UnitOfMeasure',
      'CostInBillingCurrency',
      'BillingCurrencyCode',
      'ChargeType',
      'PricingModel',
    ];
    const text = `${header.join(',')}\n2026-11-03,${web},Virtual Machines,10,10 Hours,1.5,EUR,Usage,OnDemand\n`;
    const acc = accumulate(text);
    expect(acc.currency).toBe('EUR');
    expect(hourlyRateOf(acc.vmDays()[0]!)).toBeCloseTo(0.15, 10);
    expect(legacyMcaColumns).toContain('costInBillingCurrency');
  });
});
