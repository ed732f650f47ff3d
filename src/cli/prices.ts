/**
 * `vm-timeline prices --region <r>[,<r>...]`: writes a price file from the Azure Retail Prices API;
 * `vm-timeline prices --from-export <file|folder>`: your effective rates per VM and day from a Cost
 * Management export.
 */
import { writeFile } from 'node:fs/promises';
import { fetchVmPrices, retailPricesEndpoint } from '../adapters/retail-prices';
import { ensureError, InputError } from '../app/errors';
import { hourlyRateOf } from '../domain/cost-export';
import { dayFromName, dayName } from '../domain/daily-usage';
import { pricesToCsv, type PriceFileEntry, type ResourcePriceEntry } from '../domain/prices';
import { ExitCode, requiredOption, stringOption, type Command, type Invocation } from './command';
import { allRunsOption, readExport, statsLine } from './cost-export';
import { json } from './format';

async function writeOut(invocation: Invocation, text: string): Promise<string | undefined> {
  const out = stringOption(invocation.options, 'out');
  if (out === undefined) {
    invocation.io.stdout.write(text);
    return undefined;
  }
  try {
    await writeFile(out, text, 'utf8');
  } catch (error) {
    throw new InputError(`--out: cannot write ${out}: ${ensureError(error).message}`);
  }
  return out;
}

function optionalDay(invocation: Invocation, name: string): number | undefined {
  const value = stringOption(invocation.options, name);
  if (value === undefined) return undefined;
  const day = dayFromName(value.trim());
  if (day === undefined)
    throw new InputError(`--${name} must be a day (yyyy-mm-dd), got ${JSON.stringify(value)}`);
  return day;
}

/** `--from-export`: one rate per resource and day with hours; days with no effective cost are listed. */
async function pricesFromExport(invocation: Invocation, location: string): Promise<ExitCode> {
  const from = optionalDay(invocation, 'from');
  const to = optionalDay(invocation, 'to');
  if (from !== undefined && to !== undefined && !(to > from))
    throw new InputError('--to must be after --from');
  const exported = await readExport(location, '--from-export', {
    includeLicences: invocation.options['include-licences'] === true,
    allRuns: invocation.options['all-runs'] === true,
    ...(from === undefined && to === undefined
      ? {}
      : { range: { from: from ?? -Infinity, to: to ?? Infinity } }),
  });
  const stats = exported.stats();
  const currency = exported.currency ?? '';
  const entries: ResourcePriceEntry[] = [];
  const withoutRate: string[] = [];
  for (const vmDay of exported.vmDays()) {
    const hourlyRate = hourlyRateOf(vmDay);
    if (hourlyRate === undefined) {
      if (vmDay.hours > 0) withoutRate.push(`${vmDay.resourceId} ${dayName(vmDay.day)}`);
      continue;
    }
    entries.push({ resourceId: vmDay.resourceId, day: dayName(vmDay.day), hourlyRate, currency });
  }
  const priced: PriceFileEntry[] = entries;
  const text = invocation.json ? `${json(priced)}\n` : pricesToCsv(priced);
  const out = await writeOut(invocation, text);
  // The file may be stdout: the summary goes to stderr then.
  const say = (line: string) =>
    out === undefined ? invocation.io.stderr.write(`${line}\n`) : invocation.print(line);
  say(statsLine(stats));
  say(
    `${out === undefined ? 'printed' : 'wrote'} ${entries.length} rates (VM-days, ${currency === '' ? 'no currency' : currency})${out === undefined ? '' : ` to ${out}`}`,
  );
  if (withoutRate.length > 0)
    say(
      `no effective cost for ${withoutRate.length} VM-days (reserved usage at 0 in an actual-cost export: read the amortized export): ${withoutRate.slice(0, 5).join(', ')}${withoutRate.length > 5 ? ', ...' : ''}`,
    );
  return ExitCode.ok;
}

export const pricesCommand: Command = {
  name: 'prices',
  synopsis: '--region <r>[,<r>...] | --from-export <file|folder>',
  summary: 'write a price file: list prices (Retail Prices API) or your own rates (a cost export)',
  description: [
    'With --region: reads the pay-as-you-go (Consumption) hourly rates of Virtual Machines in the given',
    'regions from the public Azure Retail Prices API (no sign-in), following its paging, and prints or',
    'writes them as the price file `usage --prices` reads: vmSize,region,os,hourlyRate,currency,priority.',
    'Spot and Low Priority meters are kept apart (priority spot / low), Windows rates by os=windows.',
    '',
    'With --from-export: reads a Cost Management export (FOCUS 1.0 or legacy actual/amortized cost',
    'details CSV, gzip or not, or Parquet; a file or a folder), streaming, keeps the usage rows of the Virtual',
    'Machines meters of VMs, scale sets and scale-set instances, and writes the effective hourly rate',
    'of each resource and UTC day (EffectiveCost / ConsumedQuantity; legacy CostInBillingCurrency /',
    'Quantity) as resource rates: resourceId,day,hourlyRate,currency. Rows read, kept and skipped (with',
    'the reasons) are reported. One billing currency per export.',
    '',
    'Example: vm-timeline prices --region westeurope,northeurope --currency EUR --out prices.csv',
    'Example: vm-timeline prices --from-export ./exports/2026-11 --out my-prices.csv',
  ].join('\n'),
  options: {
    'from-export': {
      type: 'string',
      value: '<file|folder|container URL>',
      description:
        'derive the rates from a Cost Management export (.csv, .csv.gz, .parquet; a file, a folder or a blob container URL) instead of list prices',
    },
    'all-runs': allRunsOption,
    'include-licences': {
      type: 'boolean',
      description: 'with --from-export: add licences billed apart (Virtual Machines Licenses) to the rate',
    },
    from: { type: 'string', value: '<day>', description: 'with --from-export: first day kept (yyyy-mm-dd)' },
    to: { type: 'string', value: '<day>', description: 'with --from-export: day after the last kept' },
    region: {
      type: 'string',
      value: '<r>[,<r>...]',
      description: 'ARM region names, comma-separated (westeurope)',
    },
    currency: { type: 'string', value: '<code>', description: 'ISO currency code (default USD)' },
    out: { type: 'string', value: '<file>', description: 'write the file here instead of stdout' },
    'prices-endpoint': {
      type: 'string',
      value: '<url>',
      description: `Retail Prices API endpoint (default ${retailPricesEndpoint})`,
    },
  },
  arguments: [],
  async run(invocation) {
    const fromExport = stringOption(invocation.options, 'from-export');
    if (fromExport !== undefined) {
      if (stringOption(invocation.options, 'region') !== undefined)
        throw new InputError('--region and --from-export exclude each other');
      return pricesFromExport(invocation, fromExport);
    }
    const regions = requiredOption(invocation.options, 'region')
      .split(/[\s,]+/)
      .filter((r) => r !== '');
    const currency = stringOption(invocation.options, 'currency') ?? 'USD';
    if (!/^[A-Za-z]{3}$/.test(currency)) throw new InputError('--currency must be a 3-letter ISO code');
    for (const region of regions)
      if (!/^[A-Za-z][A-Za-z0-9]{1,40}$/.test(region))
        throw new InputError(`--region must be ARM region names (westeurope), got ${JSON.stringify(region)}`);
    const endpoint = stringOption(invocation.options, 'prices-endpoint');
    if (endpoint !== undefined) {
      try {
        new URL(endpoint);
      } catch {
        throw new InputError('--prices-endpoint must be a URL');
      }
    }
    const entries = await fetchVmPrices({
      regions,
      currency,
      ...(endpoint === undefined ? {} : { endpoint }),
    });
    const text = invocation.json ? `${json(entries)}\n` : pricesToCsv(entries);
    const out = await writeOut(invocation, text);
    if (out === undefined) return ExitCode.ok;
    invocation.print(
      `wrote ${entries.length} rates (${regions.join(', ')}, ${currency.toUpperCase()}) to ${out}`,
    );
    return ExitCode.ok;
  },
};
