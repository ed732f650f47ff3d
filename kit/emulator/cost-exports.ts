/**
 * Developer kit: Cost Management export rows as Cost Management writes them (tests, the benchmark),
 * with the columns Microsoft documents:
 * - FOCUS 1.0 (`FocusCost` export; FOCUS_Spec columns plus Microsoft's `x_` columns), in the order
 *   Cost Management writes them (FOCUS columns alphabetically, then `x_` columns).
 * - Legacy cost details of a Microsoft Customer Agreement (dataset-schema/cost-usage-details-mca), whose
 *   header is camelCase and whose `date` is `MM/DD/YYYY`; Enterprise Agreement files name the currency
 *   `BillingCurrencyCode`.
 */
import { csvField } from '../../src/domain/prices';

export const focusColumns = [
  'AvailabilityZone',
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingAccountType',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'CommitmentDiscountCategory',
  'CommitmentDiscountId',
  'CommitmentDiscountName',
  'CommitmentDiscountStatus',
  'CommitmentDiscountType',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'ContractedUnitPrice',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ListCost',
  'ListUnitPrice',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'RegionId',
  'RegionName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'ServiceCategory',
  'ServiceName',
  'SkuId',
  'SkuPriceId',
  'SubAccountId',
  'SubAccountName',
  'SubAccountType',
  'Tags',
  'x_BilledCostInUsd',
  'x_EffectiveCostInUsd',
  'x_EffectiveUnitPrice',
  'x_PricingBlockSize',
  'x_PricingCurrency',
  'x_PricingSubcategory',
  'x_PricingUnitDescription',
  'x_ResourceGroupName',
  'x_SkuDetails',
  'x_SkuMeterCategory',
  'x_SkuMeterId',
  'x_SkuMeterName',
  'x_SkuMeterSubcategory',
  'x_SkuRegion',
] as const;
export type FocusColumn = (typeof focusColumns)[number];

export const legacyMcaColumns = [
  'invoiceId',
  'previousInvoiceId',
  'billingAccountId',
  'billingAccountName',
  'billingProfileId',
  'billingProfileName',
  'invoiceSectionId',
  'invoiceSectionName',
  'resellerName',
  'resellerMpnId',
  'costCenter',
  'billingPeriodEndDate',
  'billingPeriodStartDate',
  'servicePeriodEndDate',
  'servicePeriodStartDate',
  'date',
  'serviceFamily',
  'productOrderId',
  'productOrderName',
  'consumedService',
  'meterId',
  'meterName',
  'meterCategory',
  'meterSubCategory',
  'meterRegion',
  'ProductId',
  'ProductName',
  'SubscriptionId',
  'subscriptionName',
  'publisherType',
  'publisherId',
  'publisherName',
  'resourceGroupName',
  'ResourceId',
  'resourceLocation',
  'location',
  'effectivePrice',
  'quantity',
  'unitOfMeasure',
  'chargeType',
  'billingCurrency',
  'pricingCurrency',
  'costInBillingCurrency',
  'costInPricingCurrency',
  'costInUsd',
  'paygCostInBillingCurrency',
  'paygCostInUsd',
  'exchangeRatePricingToBilling',
  'exchangeRateDate',
  'isAzureCreditEligible',
  'serviceInfo1',
  'serviceInfo2',
  'additionalInfo',
  'tags',
  'PayGPrice',
  'frequency',
  'term',
  'reservationId',
  'reservationName',
  'pricingModel',
  'unitPrice',
  'costAllocationRuleName',
  'benefitId',
  'benefitName',
  'provider',
] as const;
export type LegacyColumn = (typeof legacyMcaColumns)[number];

export const exportSubscription = '00000000-0000-0000-0000-0000000000e1';

export function vmId(name: string, group = 'rg-app'): string {
  return `/subscriptions/${exportSubscription}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`;
}

export function scaleSetId(name: string, group = 'rg-app'): string {
  return `/subscriptions/${exportSubscription}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
}

function line<C extends string>(columns: readonly C[], values: Partial<Record<C, string | number>>): string {
  return columns.map((c) => csvField(values[c])).join(',');
}

/** Block size of a Cost Management unit of measure (`1 Hour` → 1, `100 Hours` → 100). */
function blockSize(unit: string): number {
  return Number(/^(\d+)/.exec(unit)?.[1] ?? '1');
}

export interface VmUsageSpec {
  resourceId: string;
  /** `yyyy-mm-dd`. */
  day: string;
  hours: number;
  /** Effective (amortized) cost of the row. */
  effectiveCost: number;
  /** Billed (actual) cost; defaults to the effective cost. */
  billedCost?: number;
  currency?: string;
  /** Unit of measure as priced: `1 Hour`, `10 Hours`, `100 Hours`. */
  pricingUnit?: string;
  meterCategory?: string;
  meterSubcategory?: string;
  reservation?: boolean;
  tags?: string;
}

const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** A FOCUS 1.0 usage row of a VM (Microsoft's values: ServiceName `Virtual Machines`, ConsumedUnit `Hours`). */
export function focusVmUsage(
  spec: VmUsageSpec,
  more: Partial<Record<FocusColumn, string | number>> = {},
): string {
  const unit = spec.pricingUnit ?? '1 Hour';
  const name = spec.resourceId.split('/').at(-1) ?? '';
  return line(focusColumns, {
    BilledCost: spec.billedCost ?? spec.effectiveCost,
    BillingAccountId: '/providers/Microsoft.Billing/billingAccounts/ba1/billingProfiles/bp1',
    BillingAccountName: 'Contoso',
    BillingAccountType: 'Billing Profile',
    BillingCurrency: spec.currency ?? 'USD',
    BillingPeriodEnd: '2026-12-01T00:00:00Z',
    BillingPeriodStart: '2026-11-01T00:00:00Z',
    ChargeCategory: 'Usage',
    ChargeDescription: `${spec.meterSubcategory ?? 'Dv5 Series'} - D2s v5 - US West 2`,
    ChargeFrequency: 'Usage-Based',
    ChargePeriodEnd: `${nextDay(spec.day)}T00:00:00Z`,
    ChargePeriodStart: `${spec.day}T00:00:00Z`,
    ...(spec.reservation === true
      ? {
          CommitmentDiscountCategory: 'Usage',
          CommitmentDiscountId: '/providers/Microsoft.Capacity/reservationOrders/ro1/reservations/r1',
          CommitmentDiscountName: 'D2s v5 reservation',
          CommitmentDiscountStatus: 'Used',
          CommitmentDiscountType: 'Reservation',
          PricingCategory: 'Committed',
        }
      : { PricingCategory: 'Standard' }),
    ConsumedQuantity: spec.hours,
    ConsumedUnit: 'Hours',
    EffectiveCost: spec.effectiveCost,
    InvoiceIssuerName: 'Microsoft',
    PricingQuantity: spec.hours / blockSize(unit),
    PricingUnit: 'Hours',
    ProviderName: 'Microsoft',
    PublisherName: 'Microsoft',
    RegionId: 'westus2',
    RegionName: 'West US 2',
    ResourceId: spec.resourceId,
    ResourceName: name,
    ResourceType: spec.resourceId.toLowerCase().includes('virtualmachinescalesets')
      ? 'Virtual machine scale set'
      : 'Virtual machine',
    ServiceCategory: 'Compute',
    ServiceName: 'Virtual Machines',
    SkuId: 'DZH318Z0BQ4L',
    SubAccountId: `/subscriptions/${exportSubscription}`,
    SubAccountName: 'Production',
    SubAccountType: 'Subscription',
    Tags: spec.tags ?? '"team": "web", "env": "prod"',
    x_PricingBlockSize: blockSize(unit),
    x_PricingUnitDescription: unit,
    x_ResourceGroupName: 'rg-app',
    x_SkuDetails: '{"ServiceType":"Standard_D2s_v5","VCPUs":2,"UsageType":"ComputeHR"}',
    x_SkuMeterCategory: spec.meterCategory ?? 'Virtual Machines',
    x_SkuMeterName: 'D2s v5',
    x_SkuMeterSubcategory: spec.meterSubcategory ?? 'Dv5 Series',
    x_SkuRegion: 'US West 2',
    ...more,
  });
}

/** A FOCUS 1.0 row of anything else (a disk, bandwidth, a purchase, tax...): the fields given. */
export function focusRow(values: Partial<Record<FocusColumn, string | number>>): string {
  return line(focusColumns, { ProviderName: 'Microsoft', BillingCurrency: 'USD', ...values });
}

export function focusCsv(rows: readonly string[]): string {
  return `${[focusColumns.join(','), ...rows].join('\r\n')}\r\n`;
}

/** `yyyy-mm-dd` as the legacy files write it: `MM/DD/YYYY`. */
export function usDate(day: string): string {
  const [y, m, d] = day.split('-');
  return `${m}/${d}/${y}`;
}

/** A legacy (MCA) usage row of a VM. */
export function legacyVmUsage(
  spec: VmUsageSpec,
  more: Partial<Record<LegacyColumn, string | number>> = {},
): string {
  const cost = spec.billedCost ?? spec.effectiveCost;
  return line(legacyMcaColumns, {
    billingAccountId: 'ba1',
    billingProfileId: 'bp1',
    date: usDate(spec.day),
    serviceFamily: 'Compute',
    consumedService: 'Microsoft.Compute',
    meterName: 'D2s v5',
    meterCategory: spec.meterCategory ?? 'Virtual Machines',
    meterSubCategory: spec.meterSubcategory ?? 'Dv5 Series',
    meterRegion: 'US West 2',
    SubscriptionId: exportSubscription,
    resourceGroupName: 'rg-app',
    ResourceId: spec.resourceId,
    resourceLocation: 'westus2',
    location: 'US West 2',
    effectivePrice: spec.hours > 0 ? cost / spec.hours : 0,
    quantity: spec.hours,
    unitOfMeasure: spec.pricingUnit ?? '1 Hour',
    chargeType: 'Usage',
    billingCurrency: spec.currency ?? 'USD',
    pricingCurrency: spec.currency ?? 'USD',
    costInBillingCurrency: cost,
    costInPricingCurrency: cost,
    additionalInfo: '{"ServiceType":"Standard_D2s_v5","VCPUs":2}',
    frequency: 'UsageBased',
    pricingModel: spec.reservation === true ? 'Reservation' : 'OnDemand',
    ...(spec.reservation === true
      ? { benefitId: '/providers/Microsoft.Capacity/reservationOrders/ro1/reservations/r1' }
      : {}),
    provider: 'Azure',
    ...more,
  });
}

export function legacyRow(values: Partial<Record<LegacyColumn, string | number>>): string {
  return line(legacyMcaColumns, values);
}

export function legacyCsv(rows: readonly string[]): string {
  return `${[legacyMcaColumns.join(','), ...rows].join('\n')}\n`;
}
