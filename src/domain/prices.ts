/**
 * Hourly compute rates by VM size, region, OS and priority, read from a CSV or JSON price file, and the
 * lookup of a VM's rate. A VM with no matching rate is reported as unpriced, never priced at 0.
 *
 * File format (one rate per line / element):
 * - CSV with a header row: `vmSize,region,os,hourlyRate,currency[,priority]`
 * - JSON: `[{ "vmSize", "region", "os", "hourlyRate", "currency", "priority"? }]` (or `{ "prices": [...] }`)
 * `os` is `linux` or `windows`; `priority` is `regular` (default), `spot` or `low`; `region` is the ARM
 * region name (`westeurope`). Sizes and regions match case-insensitively.
 */
import type { VmAttributes } from './daily-usage';

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

export class PriceFileError extends Error {
  override name = 'PriceFileError';
}

export const priceCsvHeader = ['vmSize', 'region', 'os', 'hourlyRate', 'currency', 'priority'] as const;

function entryFrom(record: Record<string, unknown>, where: string): PriceEntry {
  const str = (name: string): string => {
    const value = record[name];
    if (typeof value !== 'string' || value.trim() === '')
      throw new PriceFileError(`${where}: ${name} is missing`);
    return value.trim();
  };
  const os = str('os').toLowerCase();
  if (os !== PriceOs.linux && os !== PriceOs.windows)
    throw new PriceFileError(`${where}: os must be linux or windows`);
  const rateValue = record['hourlyRate'];
  const hourlyRate =
    typeof rateValue === 'number'
      ? rateValue
      : typeof rateValue === 'string' && rateValue.trim() !== ''
        ? Number(rateValue.trim())
        : Number.NaN;
  if (!Number.isFinite(hourlyRate) || hourlyRate < 0)
    throw new PriceFileError(`${where}: hourlyRate must be a number >= 0`);
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
export function parsePrices(text: string): PriceEntry[] {
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
  for (const name of ['vmSize', 'region', 'os', 'hourlyRate', 'currency'])
    if (!header.some((h) => h.toLowerCase() === name.toLowerCase()))
      throw new PriceFileError(`price file CSV header lacks ${name}`);
  return lines.slice(1).map((line, i) => {
    const fields = csvFields(line);
    const record: Record<string, unknown> = {};
    header.forEach((h, j) => {
      const name = priceCsvHeader.find((n) => n.toLowerCase() === h.toLowerCase()) ?? h;
      record[name] = fields[j];
    });
    return entryFrom(record, `line ${i + 2}`);
  });
}

/** Serialises rates as the CSV price file. */
export function pricesToCsv(entries: readonly PriceEntry[]): string {
  const lines = [priceCsvHeader.join(',')];
  for (const e of entries) lines.push(priceCsvHeader.map((name) => csvField(e[name])).join(','));
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

  constructor(entries: readonly PriceEntry[]) {
    const currencies = new Set(entries.map((e) => e.currency));
    if (currencies.size > 1)
      throw new PriceFileError(`price file mixes currencies: ${[...currencies].join(', ')}`);
    this.currency = entries[0]?.currency;
    for (const e of entries)
      this.#rates.set(PriceTable.#key(e.vmSize, e.region, e.os, e.priority), e.hourlyRate);
  }

  static #key(vmSize: string, region: string, os: string, priority: string): string {
    return [vmSize.toLowerCase(), region.toLowerCase().replace(/\s+/g, ''), os, priority].join('\n');
  }

  get size(): number {
    return this.#rates.size;
  }

  /** Hourly rate for the VM's details; undefined when size, region or OS is unknown or has no rate. */
  rateOf(details: VmAttributes | undefined): number | undefined {
    const os = priceOsOf(details?.osType);
    if (details?.vmSize === undefined || details.location === undefined || os === undefined) return undefined;
    return this.#rates.get(
      PriceTable.#key(details.vmSize, details.location, os, pricePriorityOf(details.priority)),
    );
  }
}
