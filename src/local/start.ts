/**
 * `npm start` (until the local Functions host lands): a local Azurite (reused when one already listens on
 * the default ports; data under `.azurite/`, git-ignored), the bundled sample events ingested through the
 * same CLI code, then each sample VM's timeline and the usage printed. Azurite keeps running until Ctrl-C so
 * the tables can be queried with `npx vm-timeline …` or Storage Explorer.
 */
import path from 'node:path';
import { main } from '../cli/main';
import { azuriteDefaultPorts, isAzuriteUp, startAzurite, type StartedAzurite } from './azurite';

const root = path.resolve(__dirname, '..', '..', '..');
const sample = path.join(root, 'samples', 'events.json');
const sampleFrom = '2025-03-10';
const sampleTo = '2025-03-12';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function run(): Promise<number> {
  let azurite: StartedAzurite | undefined;
  const configured = process.env['TIMELINE_STORAGE'];
  let storage: string;
  if (configured !== undefined && configured !== '') {
    storage = configured;
    say('Using the storage set in TIMELINE_STORAGE.');
  } else if (await isAzuriteUp(azuriteDefaultPorts)) {
    storage = 'UseDevelopmentStorage=true';
    say('Reusing the Azurite already listening on 127.0.0.1:10000-10002.');
  } else {
    azurite = await startAzurite({ ports: azuriteDefaultPorts, location: path.join(root, '.azurite') });
    storage = 'UseDevelopmentStorage=true';
    say(`Started Azurite on 127.0.0.1 (table ${azurite.ports.table}), data in .azurite/`);
  }
  const common = ['--storage', storage];
  say(`\n$ vm-timeline ingest samples/events.json`);
  let code = await main(['ingest', sample, ...common]);
  if (code === 0) {
    say(`\n$ vm-timeline usage --from ${sampleFrom} --to ${sampleTo}`);
    code = await main(['usage', '--from', sampleFrom, '--to', sampleTo, ...common]);
  }
  if (azurite === undefined) return code;
  say('\nAzurite keeps running so you can query the tables, e.g.');
  say(`  npx vm-timeline usage --from ${sampleFrom} --to ${sampleTo}`);
  say('  npx vm-timeline timeline <resourceId from the usage table>');
  say('Press Ctrl-C to stop.');
  const running = azurite;
  await new Promise<void>((resolve) => {
    const stop = () => {
      void running.stop().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  say('Stopped Azurite.');
  return code;
}

run().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`vm-timeline start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
