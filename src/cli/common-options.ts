/** Options every command takes, and the application context they select. */
import { consoleLogger, silentLogger } from '../adapters/logger';
import { createAppContext, type AppContext } from '../composition';
import { loadConfig } from '../config';
import { stringOption, type CliIo, type OptionSpec, type OptionValues } from './command';

export const commonOptions: Readonly<Record<string, OptionSpec>> = {
  storage: {
    type: 'string',
    value: '<conn-string|url>',
    description:
      'Table Storage: a connection string or a table endpoint URL (Entra ID). Default: $TIMELINE_STORAGE, else $AzureWebJobsStorage, else local Azurite (UseDevelopmentStorage=true)',
  },
  'arm-endpoint': {
    type: 'string',
    value: '<url>',
    description:
      'Azure Resource Manager endpoint (default: $ARM_ENDPOINT, else public Azure); a loopback http URL is an emulator, no credential sent',
  },
  'table-prefix': {
    type: 'string',
    value: '<prefix>',
    description: 'prefix of the table names (default: $TABLE_NAME_PREFIX)',
  },
  json: { type: 'boolean', description: 'print JSON instead of text' },
  verbose: {
    type: 'boolean',
    description:
      'log what the use cases do to stderr (readable lines, JSON with LOG_FORMAT=json; level $LOG_LEVEL, default info)',
  },
};

/** App settings named by the options, over the environment (options win). */
export function settingsFrom(options: OptionValues, env: CliIo['env']): Record<string, string | undefined> {
  const settings: Record<string, string | undefined> = { ...env };
  const storage = stringOption(options, 'storage');
  const arm = stringOption(options, 'arm-endpoint');
  const prefix = stringOption(options, 'table-prefix');
  if (storage !== undefined) settings['TIMELINE_STORAGE'] = storage;
  if (arm !== undefined) settings['ARM_ENDPOINT'] = arm;
  if (prefix !== undefined) settings['TABLE_NAME_PREFIX'] = prefix;
  return settings;
}

/** The context for these options: use-case logs on stderr only with --verbose. */
export function contextFor(options: OptionValues, env: CliIo['env']): AppContext {
  const config = loadConfig(settingsFrom(options, env));
  return createAppContext(config, { log: options['verbose'] === true ? consoleLogger() : silentLogger });
}
