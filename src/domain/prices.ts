/**
 * Hourly compute rates, read from a CSV or JSON price file, and the lookup of a VM's rate. Two kinds of
 * rate: by VM size, region, OS and priority (list prices, `vm-timeline prices --region`), and of one
 * resource, for one day or every day (your effective prices, `vm-timeline prices --from-export`). A
 * resource's own rate for the day wins over its size's rate. A VM with no matching rate is reported
 * as unpriced, never priced at 0.
 *
 * File format (one rate per line / element):
 * - CSV with a header row: `vmSize,region,os,hourlyRate,currency[,priority][,resourceId,day]`
 * - JSON: `[{ "vmSize", "region", "os", "hourlyRate", "currency", "priority"? }]` or
 *   `[{ "resourceId", "day"?, "hourlyRate", "currency" }]` (or `{ "prices": [...] }`)
 * `os` is `linux` or `windows`; `priority` is `regular` (default), `spot` or `low`; `region` is the ARM
 * region name (`westeurope`). A line with a `resourceId` (a VM, a scale-set instance, or a scale set,
 * whose rate its instances take) is a resource rate; `day` (`yyyy-mm-dd`, UTC) limits it to that day.
 * Sizes, regions and resource ids match case-insensitively.
 */
import { dayName, dayFromName, type VmAttributes } from './daily-usage';

export const PriceOs = { linux: 'linux', windows: 'windows' } as const;
export type PriceOs = (typeof PriceOs)[keyof typeof PriceOs];

export const PricePriority = { regular: 'regular', spot: 'spot', low: 'low' } as const;
export type PricePriority = (typeof PricePriority)[keyof typeof PricePriority];

export interface PriceEntry {
  vmSize: string;
  region: string;
  os: PriceOs;
  hourlyRate: number;
  currency: string;
  priority: PricePriority;
}

/** The rate of one resource (VM, scale-set instance or scale set), for one UTC day or (day null) every day. */
export interface ResourcePriceEntry {
  resourceId: string;
  day: string | null;
  hourlyRate: number;
  currency: string;
}

export type PriceFileEntry = PriceEntry | ResourcePriceEntry;

export function isResourcePrice(entry: PriceFileEntry): entry is ResourcePriceEntry {
  return 'resourceId' in entry;
}

export class PriceFileError extends Error {
  override name = 'PriceFileError';
}

export const priceCsvHeader = ['vmSize', 'region', 'os', 'hourlyRate', 'currency', 'priority'] as const;
/** The header of a price file that holds resource rates. */
export const resourcePriceCsvHeader = [...priceCsvHeader, 'resourceId', 'day'] as const;

function hourlyRateFrom(record: Record<string, unknown>, where: string): number {
  const rateValue = record['hourlyRate'];
  const hourlyRate =
    typeof rateValue === 'number'
      ? rateValue
      : typeof rateValue === 'string' && rateValue.trim() !== ''
        ? Number(rateValue.trim())
        : Number.NaN;
  if (!Number.isFinite(hourlyRate) || hourlyRate < 0)
    throw new PriceFileError(`${where}: hourlyRate must be a number >= 0`);
  return hourlyRate;
}

function entryFrom(record: Record<string, unknown>, where: string): PriceFileEntry {
  const resourceId = record['resourceId'];
  if (typeof resourceId === 'string' && resourceId.trim() !== '') {
    const currency = record['currency'];
    if (typeof currency !== 'string' || currency.trim() === '')
      throw new PriceFileError(`${where}: currency is missing`);
    const dayValue = record['day'];
    const day = typeof dayValue === 'string' && dayValue.trim() !== '' ? dayValue.trim() : null;
    if (day !== null && dayFromName(day) === undefined)
      throw new PriceFileError(`${where}: day must be yyyy-mm-dd`);
    return {
      resourceId: resourceId.trim(),
      day,
      hourlyRate: hourlyRateFrom(record, where),
      currency: currency.trim().toUpperCase(),
    };
  }
  return sizeEntryFrom(record, where);
}

function sizeEntryFrom(record: Record<string, unknown>, where: string): PriceEntry {
  const str = (name: string): string => {
    const value = record[name];
    if (typeof value !== 'string' || value.trim() === '')
      throw new PriceFileError(`${where}: ${name} is missing`);
    return value.trim();
  };
  const os = str('os').toLowerCase();
  if (os !== PriceOs.linux && os !== PriceOs.windows)
    throw new PriceFileError(`${where}: os must be linux or windows`);
  const hourlyRate = hourlyRateFrom(record, where);
  const priorityValue = record['priority'];
  const priority =
    typeof priorityValue === 'string' && priorityValue.trim() !== ''
      ? priorityValue.trim().toLowerCase()
      : PricePriority.regular;
  if (!(Object.values(PricePriority) as string[]).includes(priority))
    throw new PriceFileError(`${where}: priority must be regular, spot or low`);
  return {
    vmSize: str('vmSize'),
    region: str('region').toLowerCase().replace(/\s+/g, ''),
    os,
    hourlyRate,
    currency: str('currency').toUpperCase(),
    priority: priority as PricePriority,
  };
}

/** One CSV line into fields (double quotes around a field may hold commas; `""` is a quote). */
export function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** A CSV field, quoted when it needs to be. */
export function csvField(value: string | number | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Parses a price file (JSON when it starts with `[` or `{`, else CSV). */
export function parsePrices(text: string): PriceFileEntry[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new PriceFileError('price file is not valid JSON');
    }
    const list = Array.isArray(parsed) ? parsed : (parsed as { prices?: unknown }).prices;
    if (!Array.isArray(list)) throw new PriceFileError('price file JSON must be an array of rates');
    return list.map((item: unknown, i) => {
      if (typeof item !== 'object' || item === null) throw new PriceFileError(`rate ${i + 1}: not an object`);
      return entryFrom(item as Record<string, unknown>, `rate ${i + 1}`);
    });
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = csvFields(lines[0] ?? '').map((h) => h.trim());
  const has = (name: string) => header.some((h) => h.toLowerCase() === name.toLowerCase());
  const needed = has('resourceId')
    ? ['hourlyRate', 'currency']
    : ['vmSize', 'region', 'os', 'hourlyRate', 'currency'];
  for (const name of needed) if (!has(name)) throw new PriceFileError(`price file CSV header lacks ${name}`);
  return lines.slice(1).map((line, i) => {
    const fields = csvFields(line);
    const record: Record<string, unknown> = {};
    header.forEach((h, j) => {
      const name = resourcePriceCsvHeader.find((n) => n.toLowerCase() === h.toLowerCase()) ?? h;
      record[name] = fields[j];
    });
    return entryFrom(record, `line ${i + 2}`);
  });
}

/** Serialises rates as the CSV price file (with the resourceId and day columns when it holds resource rates). */
export function pricesToCsv(entries: readonly PriceFileEntry[]): string {
  const header = entries.some(isResourcePrice) ? resourcePriceCsvHeader : priceCsvHeader;
  const lines = [header.join(',')];
  for (const e of entries) {
    const record = e as unknown as Record<string, string | number | null | undefined>;
    lines.push(header.map((name) => csvField(record[name])).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function priceOsOf(osType: string | undefined): PriceOs | undefined {
  const os = osType?.toLowerCase();
  return os === PriceOs.linux || os === PriceOs.windows ? os : undefined;
}

/** The VM's priority as a price priority: `Spot` → spot, `Low` → low, anything else → regular. */
export function pricePriorityOf(priority: string | undefined): PricePriority {
  const p = priority?.toLowerCase();
  if (p === 'spot') return PricePriority.spot;
  if (p === 'low') return PricePriority.low;
  return PricePriority.regular;
}

/** Rates indexed for lookup. All rates of one table share a currency. */
export class PriceTable {
  readonly currency: string | undefined;
  readonly #rates = new Map<string, number>();
  /** `<lower-cased resource id>\n<yyyy-mm-dd or empty for every day>` → rate. */
  readonly #resourceRates = new Map<string, number>();

  constructor(entries: readonly PriceFileEntry[]) {
    const currencies = new Set(entries.map((e) => e.currency));
    if (currencies.size > 1)
      throw new PriceFileError(`price file mixes currencies: ${[...currencies].join(', ')}`);
    this.currency = entries[0]?.currency;
    for (const e of entries)
      if (isResourcePrice(e))
        this.#resourceRates.set(`${e.resourceId.toLowerCase()}\n${e.day ?? ''}`, e.hourlyRate);
      else this.#rates.set(PriceTable.#key(e.vmSize, e.region, e.os, e.priority), e.hourlyRate);
  }

  /** True when some rate is a resource's own (usage then prices each VM day by day). */
  get hasResourceRates(): boolean {
    return this.#resourceRates.size > 0;
  }

  static #key(vmSize: string, region: string, os: string, priority: string): string {
    return [vmSize.toLowerCase(), region.toLowerCase().replace(/\s+/g, ''), os, priority].join('\n');
  }

  get size(): number {
    return this.#rates.size + this.#resourceRates.size;
  }

  /**
   * Hourly rate of a VM on a day: its own rate for the day, else its scale set's for the day, else its
   * own or its scale set's for every day, else the rate of its size, region, OS and priority; undefined
   * when none matches.
   */
  rateOf(details: VmAttributes | undefined, resourceId?: string, day?: number): number | undefined {
    if (resourceId !== undefined && this.#resourceRates.size > 0) {
      const id = resourceId.toLowerCase().replace(/\/+$/, '');
      const ids = [id];
      const scaleSet = /^(.*\/virtualmachinescalesets\/[^/]+)\/virtualmachines\/[^/]+$/.exec(id)?.[1];
      if (scaleSet !== undefined) ids.push(scaleSet);
      const days = day === undefined ? [''] : [dayName(day), ''];
      for (const d of days)
        for (const candidate of ids) {
          const rate = this.#resourceRates.get(`${candidate}\n${d}`);
          if (rate !== undefined) return rate;
        }
    }
    return this.sizeRateOf(details);
  }

  /** Hourly rate for the VM's details; undefined when size, region or OS is unknown or has no rate. */
  sizeRateOf(details: VmAttributes | undefined): number | undefined {
    const os = priceOsOf(details?.osType);
    if (details?.vmSize === undefined || details.location === undefined || os === undefined) return undefined;
    return this.#rates.get(
      PriceTable.#key(details.vmSize, details.location, os, pricePriorityOf(details.priority)),
    );
  }
}
