/** `vm-timeline prices --region <r>[,<r>...]`: writes a price file from the Azure Retail Prices API. */
import { writeFile } from 'node:fs/promises';
import { fetchVmPrices, retailPricesEndpoint } from '../adapters/retail-prices';
import { ensureError, InputError } from '../app/errors';
import { pricesToCsv } from '../domain/prices';
import { ExitCode, requiredOption, stringOption, type Command } from './command';
import { json } from './format';

export const pricesCommand: Command = {
  name: 'prices',
  synopsis: '--region <r>[,<r>...]',
  summary: 'write a price file (hourly VM rates) from the public Azure Retail Prices API',
  description: [
    'Reads the pay-as-you-go (Consumption) hourly rates of Virtual Machines in the given regions from',
    'the public Azure Retail Prices API (no sign-in), following its paging, and prints or writes them',
    'as the price file `usage --prices` reads: vmSize,region,os,hourlyRate,currency,priority. Spot and',
    'Low Priority meters are kept apart (priority spot / low), Windows rates by os=windows.',
    '',
    'Example: vm-timeline prices --region westeurope,northeurope --currency EUR --out prices.csv',
  ].join('\n'),
  options: {
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
  positionals: { min: 0, max: 0 },
  async run(invocation) {
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
    const out = stringOption(invocation.options, 'out');
    if (out === undefined) {
      invocation.io.stdout.write(text);
      return ExitCode.ok;
    }
    try {
      await writeFile(out, text, 'utf8');
    } catch (error) {
      throw new InputError(`--out: cannot write ${out}: ${ensureError(error).message}`);
    }
    invocation.print(
      `wrote ${entries.length} rates (${regions.join(', ')}, ${currency.toUpperCase()}) to ${out}`,
    );
    return ExitCode.ok;
  },
};
