/**
 * `npm start` and `vm-timeline serve`: the whole app on this machine (see `local-app.ts`) until Ctrl-C,
 * which stops everything it started.
 *
 *   node dist/kit/local/start.js [--port 7071] [--fast] [--sandbox | --no-sandbox]
 *                                [--azurite-ports 10000,10001,10002] [--azurite-location .azurite|memory]
 */
import { parseArgs } from 'node:util';
import type { AzuritePorts } from './azurite';
import { startLocalApp, type LocalAppOptions } from './local-app';
import { localUsage } from './local-usage';

export function parseLocalArgs(argv: readonly string[]): LocalAppOptions & { help: boolean } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      fast: { type: 'boolean' },
      sandbox: { type: 'boolean' },
      'no-sandbox': { type: 'boolean' },
      'sandbox-interval': { type: 'string' },
      'azurite-ports': { type: 'string' },
      'azurite-location': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const options: LocalAppOptions & { help: boolean } = {
    help: values.help === true,
    fast: values.fast === true,
  };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be a port number');
    options.port = port;
  }
  if (values.sandbox === true) options.sandbox = true;
  if (values['no-sandbox'] === true) options.sandbox = false;
  if (values['sandbox-interval'] !== undefined) {
    const seconds = Number(values['sandbox-interval']);
    if (!(seconds > 0)) throw new Error('--sandbox-interval must be a positive number of seconds');
    options.sandboxIntervalInMs = seconds * 1000;
  }
  if (values['azurite-ports'] !== undefined) {
    const [blob, queue, table] = values['azurite-ports'].split(',').map(Number);
    if ([blob, queue, table].some((p) => p === undefined || !Number.isInteger(p) || p < 0 || p > 65535))
      throw new Error('--azurite-ports must be three ports: blob,queue,table');
    options.azuritePorts = { blob: blob ?? 0, queue: queue ?? 0, table: table ?? 0 } satisfies AzuritePorts;
  }
  if (values['azurite-location'] !== undefined) options.azuriteLocation = values['azurite-location'];
  return options;
}

/** Runs until SIGINT / SIGTERM; the exit code. */
export async function runLocal(
  argv: readonly string[],
  say: (line: string) => unknown = (line) => process.stdout.write(`${line}\n`),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const options = parseLocalArgs(argv);
  if (options.help) {
    say(localUsage);
    return 0;
  }
  const app = await startLocalApp({ ...options, say, env });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('Stopping…');
  await app.stop();
  say('Stopped everything started here.');
  return 0;
}

if (require.main === module) {
  runLocal(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`vm-timeline start: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
