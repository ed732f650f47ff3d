/**
 * Azure Cost Management exports, row by row: which rows are the compute charges of a VM or scale-set
 * instance, the hours and effective cost they carry, and their sum per resource and UTC day.
 *
 * Two shapes are read, recognised by their header (column names match case-insensitively):
 * - **FOCUS 1.0** (`FocusCost` exports): `ChargeCategory`, `ChargePeriodStart`, `ChargePeriodEnd`,
 *   `ResourceId`, `ConsumedQuantity`, `ConsumedUnit`, `EffectiveCost`, `BillingCurrency`, and Microsoft's
 *   `x_SkuMeterCategory` (else `ServiceName`), `CommitmentDiscountStatus`.
 * - **Legacy actual / amortized cost details**: `Date`, `ResourceId` (`InstanceName` / `InstanceId` in
 *   older EA files), `MeterCategory`, `Quantity`, `UnitOfMeasure`, `CostInBillingCurrency` (`Cost` in
 *   older files), `BillingCurrency` (MCA) or `BillingCurrencyCode` (EA), `ChargeType`, `PricingModel`.
 *
 * Quantities are hours whatever the pricing block: Cost Management's `Quantity` and FOCUS
 * `ConsumedQuantity` are the consumed quantity; a unit of measure of `10 Hours` or `100 Hours` only says
 * how the meter is priced (`PricingQuantity` = quantity / block size). The rate of a VM and day is
 * effective cost / hours: FOCUS `EffectiveCost` spreads reservations and savings plans over the usage
 * they cover (the purchase row has an effective cost of 0), Hybrid Benefit shows as the cheaper meter.
 * A legacy *actual* export bills reserved usage at 0 (the purchase is a row of its own): those hours
 * count, but give no rate (use the amortized export for rates).
 */
import { dayInMs } from './daily-usage';
import { parseComputeResourceId, ResourceKind } from './resource-id';
import { parseInstantText } from './time';

export const ExportFormat = { focus: 'focus', legacy: 'legacy' } as const;
export type ExportFormat = (typeof ExportFormat)[keyof typeof ExportFormat];

/** Why a row was not kept (counted, so a user sees what was left out). */
export const SkipReason = {
  /** Purchases, taxes, credits, adjustments, refunds: not metered usage. */
  notUsage: 'notUsage',
  /** Unused reservation or savings-plan hours: no VM ran them. */
  unusedCommitment: 'unusedCommitment',
  /** Another meter category: disks, bandwidth, IP addresses, other services. */
  notVmCompute: 'notVmCompute',
  /** Licences billed apart from the compute meter (kept with `includeLicences`). */
  licence: 'licence',
  /** A VM meter on a resource that is not a VM, scale set or scale-set instance. */
  notVmResource: 'notVmResource',
  /** A VM meter whose unit is not hours. */
  notHourly: 'notHourly',
  /** A charge period that is not within one UTC day (monthly or multi-day rows). */
  notDaily: 'notDaily',
  /** A number or date that does not parse. */
  badValue: 'badValue',
  /** Outside the days asked for. */
  outsideRange: 'outsideRange',
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export class CostExportError extends Error {
  override name = 'CostExportError';
}

/** One kept row: compute (hours and cost) or a licence (cost only). */
export interface ExportCharge {
  /** The resource id as the export writes it. */
  resourceId: string;
  /** Start of the UTC day (epoch ms). */
  day: number;
  /** Consumed hours (0 for a licence row). */
  hours: number;
  /** Effective cost in `currency`; undefined when the row's cost is not the effective one. */
  cost: number | undefined;
  currency: string;
}

/** A row kept, or skipped with its reason (and its day when it has one, for the export's coverage). */
export type RowVerdict = { kept: ExportCharge } | { skipped: SkipReason; day?: number | undefined };

export interface RowOptions {
  includeLicences?: boolean;
}

interface Columns {
  format: ExportFormat;
  index: (name: string) => number | undefined;
}

const required: Record<ExportFormat, string[][]> = {
  focus: [
    ['ChargeCategory'],
    ['ChargePeriodStart'],
    ['ResourceId'],
    ['ConsumedQuantity'],
    ['ConsumedUnit'],
    ['EffectiveCost'],
    ['BillingCurrency'],
  ],
  legacy: [
    ['Date'],
    ['ResourceId', 'InstanceName', 'InstanceId'],
    ['MeterCategory'],
    ['Quantity'],
    ['UnitOfMeasure'],
    ['CostInBillingCurrency', 'Cost', 'PreTaxCost'],
    ['BillingCurrency', 'BillingCurrencyCode', 'Currency'],
  ],
};

/**
 * Reads one header row: the format and a row reader. Throws a `CostExportError` naming the missing
 * columns when the header is neither FOCUS 1.0 nor a legacy cost details export.
 */
export function exportRowReader(
  header: readonly string[],
  options: RowOptions = {},
): { format: ExportFormat; read: (fields: readonly string[]) => RowVerdict } {
  const positions = new Map<string, number>();
  header.forEach((name, i) => {
    const key = name
      .trim()
      .replace(/^\uFEFF/, '')
      .toLowerCase();
    if (!positions.has(key)) positions.set(key, i);
  });
  const index = (name: string) => positions.get(name.toLowerCase());
  const missing = (format: ExportFormat) =>
    required[format].filter((alternatives) => alternatives.every((n) => index(n) === undefined));
  const focusMissing = missing(ExportFormat.focus);
  const legacyMissing = missing(ExportFormat.legacy);
  let format: ExportFormat;
  if (focusMissing.length === 0) format = ExportFormat.focus;
  else if (legacyMissing.length === 0) format = ExportFormat.legacy;
  else {
    const focusLike = index('ChargeCategory') !== undefined || index('ConsumedQuantity') !== undefined;
    const lacking = (focusLike ? focusMissing : legacyMissing).map((a) => a.join(' or '));
    throw new CostExportError(
      `not a Cost Management export (FOCUS 1.0 or legacy cost details): the header lacks ${lacking.join(', ')}`,
    );
  }
  const columns: Columns = { format, index };
  const read = format === ExportFormat.focus ? focusReader(columns, options) : legacyReader(columns, options);
  return { format, read };
}

type Getter = (fields: readonly string[]) => string;

/** `parseExportDate` remembering its last answer: rows of one day repeat the same text. */
function cachedDateParser(): (text: string) => number | undefined {
  let lastText: string | undefined;
  let lastValue: number | undefined;
  return (text) => {
    if (text !== lastText) {
      lastText = text;
      lastValue = parseExportDate(text);
    }
    return lastValue;
  };
}

function getter(columns: Columns, ...names: string[]): Getter {
  for (const name of names) {
    const i = columns.index(name);
    if (i !== undefined) return (fields) => (fields[i] ?? '').trim();
  }
  return () => '';
}

const hourUnit = /^(?:\d+\s*)?\/?\s*hours?$/i;

/** `Hours`, `Hour`, `1 Hour`, `10 Hours`, `100 Hours`, `1/Hour`: quantities in hours. */
export function isHourUnit(unit: string): boolean {
  return hourUnit.test(unit.trim());
}

function parseNumber(text: string): number | undefined {
  if (text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A date as exports write it: ISO 8601 (`2026-11-03`, `2026-11-03T00:00:00Z`,
 * `2026-11-03T00:00:00.0000000Z`; no offset means UTC) or the US `MM/DD/YYYY` of legacy CSVs.
 */
export function parseExportDate(text: string): number | undefined {
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s.*)?$/.exec(text);
  const iso =
    us === null ? text : `${us[3] ?? ''}-${(us[1] ?? '').padStart(2, '0')}-${(us[2] ?? '').padStart(2, '0')}`;
  const parsed = parseInstantText(iso);
  return 'at' in parsed ? parsed.at : undefined;
}

const vmMeterCategory = 'virtual machines';
const licenceMeterCategory = 'virtual machines licenses';

/** Whether a resource id is a VM, a scale set or a scale-set instance. */
function isComputeResource(resourceId: string): boolean {
  const parsed = parseComputeResourceId(resourceId);
  return (
    parsed !== undefined &&
    (parsed.kind === ResourceKind.vm ||
      parsed.kind === ResourceKind.scaleSet ||
      parsed.kind === ResourceKind.scaleSetInstance)
  );
}

/** What a meter category is to us: VM compute, a licence billed apart (kept when asked), or a skip. */
const computeMeter = { kind: 'compute' } as const;

function meterVerdict(
  category: string,
  options: RowOptions,
): { kind: 'compute' | 'licence' } | { skip: SkipReason } {
  if (category === 'Virtual Machines') return computeMeter;
  const c = category.toLowerCase();
  if (c === vmMeterCategory) return { kind: 'compute' };
  if (c === licenceMeterCategory)
    return options.includeLicences === true ? { kind: 'licence' } : { skip: SkipReason.licence };
  return { skip: SkipReason.notVmCompute };
}

function focusReader(columns: Columns, options: RowOptions) {
  const chargeCategory = getter(columns, 'ChargeCategory');
  const commitmentStatus = getter(columns, 'CommitmentDiscountStatus');
  const start = getter(columns, 'ChargePeriodStart');
  const end = getter(columns, 'ChargePeriodEnd');
  const resourceId = getter(columns, 'ResourceId');
  const quantity = getter(columns, 'ConsumedQuantity');
  const unit = getter(columns, 'ConsumedUnit');
  const effectiveCost = getter(columns, 'EffectiveCost');
  const currency = getter(columns, 'BillingCurrency');
  const hasMeterCategory = columns.index('x_SkuMeterCategory') !== undefined;
  const meterCategory = getter(columns, 'x_SkuMeterCategory');
  const serviceName = getter(columns, 'ServiceName');
  const parseStart = cachedDateParser();
  const parseEnd = cachedDateParser();
  return (fields: readonly string[]): RowVerdict => {
    const from = parseStart(start(fields));
    const day = from === undefined ? undefined : Math.floor(from / dayInMs) * dayInMs;
    const skip = (reason: SkipReason): RowVerdict => ({ skipped: reason, day });
    const category = chargeCategory(fields);
    if (category !== 'Usage' && category.toLowerCase() !== 'usage') return skip(SkipReason.notUsage);
    const status = commitmentStatus(fields);
    if (status !== '' && status.toLowerCase() === 'unused') return skip(SkipReason.unusedCommitment);
    // Without Microsoft's meter columns, ServiceName names the service (licences cannot be told apart).
    const verdict = meterVerdict(hasMeterCategory ? meterCategory(fields) : serviceName(fields), options);
    if ('skip' in verdict) return skip(verdict.skip);
    const meter = verdict.kind;
    const id = resourceId(fields);
    if (!isComputeResource(id)) return skip(SkipReason.notVmResource);
    if (meter === 'compute' && !isHourUnit(unit(fields))) return skip(SkipReason.notHourly);
    const toText = end(fields);
    const to = toText === '' ? undefined : parseEnd(toText);
    const hours = parseNumber(quantity(fields));
    const cost = parseNumber(effectiveCost(fields));
    if (from === undefined || day === undefined || (toText !== '' && to === undefined) || cost === undefined)
      return skip(SkipReason.badValue);
    if (meter === 'compute' && hours === undefined) return skip(SkipReason.badValue);
    if (to !== undefined && (to <= from || to > day + dayInMs)) return skip(SkipReason.notDaily);
    return {
      kept: {
        resourceId: id,
        day,
        hours: meter === 'compute' ? (hours ?? 0) : 0,
        cost,
        currency: currency(fields).toUpperCase(),
      },
    };
  };
}

const commitmentModels: ReadonlySet<string> = new Set(['reservation', 'savingsplan', 'savings plan']);

function legacyReader(columns: Columns, options: RowOptions) {
  const chargeType = getter(columns, 'ChargeType');
  const pricingModel = getter(columns, 'PricingModel');
  const date = getter(columns, 'Date', 'UsageDate');
  const resourceId = getter(columns, 'ResourceId', 'InstanceName', 'InstanceId');
  const meterCategory = getter(columns, 'MeterCategory');
  const quantity = getter(columns, 'Quantity');
  const unit = getter(columns, 'UnitOfMeasure');
  const cost = getter(columns, 'CostInBillingCurrency', 'Cost', 'PreTaxCost');
  const currency = getter(columns, 'BillingCurrency', 'BillingCurrencyCode', 'Currency');
  const parseDate = cachedDateParser();
  return (fields: readonly string[]): RowVerdict => {
    const at = parseDate(date(fields));
    const day = at === undefined ? undefined : Math.floor(at / dayInMs) * dayInMs;
    const skip = (reason: SkipReason): RowVerdict => ({ skipped: reason, day });
    const type = chargeType(fields).toLowerCase();
    if (type === 'unusedreservation' || type === 'unusedsavingsplan')
      return skip(SkipReason.unusedCommitment);
    if (type !== '' && type !== 'usage') return skip(SkipReason.notUsage);
    const verdict = meterVerdict(meterCategory(fields), options);
    if ('skip' in verdict) return skip(verdict.skip);
    const meter = verdict.kind;
    const id = resourceId(fields);
    if (!isComputeResource(id)) return skip(SkipReason.notVmResource);
    if (meter === 'compute' && !isHourUnit(unit(fields))) return skip(SkipReason.notHourly);
    const hours = parseNumber(quantity(fields));
    const amount = parseNumber(cost(fields));
    if (day === undefined || amount === undefined || (meter === 'compute' && hours === undefined))
      return skip(SkipReason.badValue);
    // Reserved or savings-plan usage in an actual-cost export is billed at 0: the cost is not effective.
    const zeroCommitment = amount === 0 && commitmentModels.has(pricingModel(fields).toLowerCase());
    return {
      kept: {
        resourceId: id,
        day,
        hours: meter === 'compute' ? (hours ?? 0) : 0,
        cost: zeroCommitment ? undefined : amount,
        currency: currency(fields).toUpperCase(),
      },
    };
  };
}

/** A string that shares no memory with the one given (substrings keep their whole source alive). */
function copyOf(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** Hours and effective cost of one resource on one UTC day. */
export interface ExportVmDay {
  /** The resource id as the export first wrote it. */
  resourceId: string;
  day: number;
  hours: number;
  cost: number;
  /** Some kept row of this resource and day had no effective cost (reserved usage in an actual export). */
  costUnknown: boolean;
}

export interface ExportStats {
  files: number;
  rowsRead: number;
  rowsKept: number;
  rowsSkipped: number;
  skipped: Partial<Record<SkipReason, number>>;
  formats: ExportFormat[];
  /** First and last UTC day of any row in the export (kept or not), `yyyy-mm-dd`. */
  firstDay: string | null;
  lastDay: string | null;
}

/**
 * Sums kept rows per resource (case-insensitive) and UTC day, and counts the rest. Memory grows with
 * the resource-days kept, not with the rows read. One currency per export: a second one is an error.
 */
export class ExportAccumulator {
  /** Lower-cased resource id → day → sums. Nested so that no string is kept per resource-day. */
  readonly #vmDays = new Map<string, { resourceId: string; days: Map<number, ExportVmDay> }>();
  #currency: string | undefined;
  readonly #skipped = new Map<SkipReason, number>();
  readonly #formats = new Set<ExportFormat>();
  #rowsRead = 0;
  #rowsKept = 0;
  #files = 0;
  #firstDay = Infinity;
  #lastDay = -Infinity;

  /** @param range days `[from, to)` (epoch ms) to keep; rows of other days are counted `outsideRange`. */
  constructor(readonly range?: { from: number; to: number }) {}

  get currency(): string | undefined {
    return this.#currency;
  }

  startFile(format: ExportFormat): void {
    this.#files++;
    this.#formats.add(format);
  }

  /** Counts a row read that could not be classified at all. */
  skip(reason: SkipReason): void {
    this.#rowsRead++;
    this.#skipped.set(reason, (this.#skipped.get(reason) ?? 0) + 1);
  }

  /** Notes the day of a row that was skipped for another reason (the export's coverage). */
  seeDay(day: number): void {
    if (day < this.#firstDay) this.#firstDay = day;
    if (day > this.#lastDay) this.#lastDay = day;
  }

  add(verdict: RowVerdict): void {
    if ('skipped' in verdict) {
      if (verdict.day !== undefined) this.seeDay(verdict.day);
      this.skip(verdict.skipped);
      return;
    }
    const charge = verdict.kept;
    this.seeDay(charge.day);
    if (this.range !== undefined && (charge.day < this.range.from || charge.day >= this.range.to)) {
      this.skip(SkipReason.outsideRange);
      return;
    }
    if (charge.currency === '')
      throw new CostExportError(`row ${this.#rowsRead + 1}: the billing currency is empty`);
    if (this.#currency === undefined) this.#currency = copyOf(charge.currency);
    else if (charge.currency !== this.#currency)
      throw new CostExportError(
        `the export mixes billing currencies (${this.#currency}, ${charge.currency}): read one billing account or profile at a time`,
      );
    this.#rowsRead++;
    this.#rowsKept++;
    const lower = charge.resourceId.toLowerCase();
    let resource = this.#vmDays.get(lower);
    if (resource === undefined) {
      // Fresh copies: the id read is a slice of a whole chunk of the file, which it would keep alive.
      resource = { resourceId: copyOf(charge.resourceId), days: new Map() };
      this.#vmDays.set(copyOf(lower), resource);
    }
    const { days } = resource;
    const vmDay = days.get(charge.day);
    if (vmDay === undefined)
      days.set(charge.day, {
        resourceId: resource.resourceId,
        day: charge.day,
        hours: charge.hours,
        cost: charge.cost ?? 0,
        costUnknown: charge.cost === undefined,
      });
    else {
      vmDay.hours += charge.hours;
      vmDay.cost += charge.cost ?? 0;
      if (charge.cost === undefined) vmDay.costUnknown = true;
    }
  }

  /** Kept resource-days, sorted by resource id (case-insensitive) then day. */
  vmDays(): ExportVmDay[] {
    const ids = [...this.#vmDays.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    return ids.flatMap((id) =>
      [...(this.#vmDays.get(id)?.days.values() ?? [])].sort((a, b) => a.day - b.day),
    );
  }

  stats(): ExportStats {
    const skipped: Partial<Record<SkipReason, number>> = {};
    for (const reason of Object.values(SkipReason)) {
      const n = this.#skipped.get(reason);
      if (n !== undefined) skipped[reason] = n;
    }
    const name = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString().slice(0, 10) : null);
    return {
      files: this.#files,
      rowsRead: this.#rowsRead,
      rowsKept: this.#rowsKept,
      rowsSkipped: this.#rowsRead - this.#rowsKept,
      skipped,
      formats: [...this.#formats],
      firstDay: name(this.#firstDay),
      lastDay: name(this.#lastDay),
    };
  }
}

/**
 * The effective hourly rate of a resource-day (12 significant digits: exports carry fewer), or
 * undefined when it has none (no hours, or a cost that is not the effective one).
 */
export function hourlyRateOf(vmDay: ExportVmDay): number | undefined {
  if (vmDay.costUnknown || !(vmDay.hours > 0)) return undefined;
  return Number((vmDay.cost / vmDay.hours).toPrecision(12));
}
