/**
 * Starts Azurite (Table, Queue and Blob) from `node_modules/azurite` as a child process, for local runs
 * (`npm start`), benchmarks and, later, the vitest global setup.
 *
 * - Ports default to 0: the OS picks free ones, read back from Azurite's "successfully listening at"
 *   lines. Fixed ports (e.g. the default 10000/10001/10002) can be asked for.
 * - In memory by default (`--inMemoryPersistence`, which Azurite 3.35 refuses together with `--location`);
 *   the child then runs in a temporary directory, removed on stop, so its debug files stay out of the
 *   checkout. With `inMemory: false`, data lives in `location` (default: a new temporary directory).
 * - Ready when all three services have announced their port and the table port answers HTTP.
 * - `stop()` sends SIGTERM, then SIGKILL after 10 s; the child is also killed if this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { azuriteAccountKey, azuriteAccountName } from '../../src/adapters/storage';

export interface AzuritePorts {
  readonly blob: number;
  readonly queue: number;
  readonly table: number;
}

export const azuriteDefaultPorts: AzuritePorts = { blob: 10000, queue: 10001, table: 10002 };

export interface StartAzuriteOptions {
  /** Ports to listen on (127.0.0.1); a missing or 0 port is picked by the OS. */
  ports?: Partial<AzuritePorts>;
  /** Data directory when not in memory (default: a new temporary directory, removed on stop). */
  location?: string;
  /** Keep everything in memory (default true unless `location` is given). */
  inMemory?: boolean;
  /** Milliseconds to wait for Azurite to listen and answer (default 30 s). */
  startTimeoutInMs?: number;
}

export interface StartedAzurite {
  /** e.g. `http://127.0.0.1:10002/devstoreaccount1` */
  readonly tableEndpoint: string;
  readonly queueEndpoint: string;
  readonly blobEndpoint: string;
  /** Connection string for the dev account with `BlobEndpoint=`, `QueueEndpoint=` and `TableEndpoint=`. */
  readonly connectionString: string;
  readonly ports: AzuritePorts;
  /** Process id of the Azurite child (diagnostics: CPU use). */
  readonly pid: number | undefined;
  /** Stops the child and removes its temporary directory (idempotent). */
  stop(): Promise<void>;
}

type Service = keyof AzuritePorts;
const serviceNames: Readonly<Record<Service, string>> = { blob: 'Blob', queue: 'Queue', table: 'Table' };
const stopTimeoutInMs = 10_000;
const probeTimeoutInMs = 1_000;

/** Endpoints and connection string of an Azurite listening on these ports of 127.0.0.1. */
export function azuriteEndpoints(ports: AzuritePorts): Omit<StartedAzurite, 'stop' | 'ports' | 'pid'> {
  const endpoint = (port: number): string => `http://127.0.0.1:${port}/${azuriteAccountName}`;
  const tableEndpoint = endpoint(ports.table);
  const queueEndpoint = endpoint(ports.queue);
  const blobEndpoint = endpoint(ports.blob);
  const connectionString = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${azuriteAccountName}`,
    `AccountKey=${azuriteAccountKey}`,
    `BlobEndpoint=${blobEndpoint}`,
    `QueueEndpoint=${queueEndpoint}`,
    `TableEndpoint=${tableEndpoint}`,
  ].join(';');
  return { tableEndpoint, queueEndpoint, blobEndpoint, connectionString };
}

/** True when all three ports answer as Azurite (its `Server` header names the service). */
export async function isAzuriteUp(ports: AzuritePorts = azuriteDefaultPorts): Promise<boolean> {
  const services = Object.keys(serviceNames) as Service[];
  const answers = await Promise.all(services.map((s) => serverHeader(ports[s])));
  return services.every((s, i) => answers[i]?.startsWith(`Azurite-${serviceNames[s]}/`) === true);
}

export async function startAzurite(options: StartAzuriteOptions = {}): Promise<StartedAzurite> {
  const startTimeoutInMs = options.startTimeoutInMs ?? 30_000;
  const inMemory = options.inMemory ?? options.location === undefined;
  if (inMemory && options.location !== undefined) {
    throw new Error('Azurite cannot keep data in memory and in a location at once');
  }
  const entry = await azuriteEntryPoint();
  // The working directory of the child (and its data when persistent without a given location).
  const workDir = await mkdtemp(path.join(tmpdir(), 'azurite-'));
  const ports = options.ports ?? {};
  const args = [
    entry,
    ...(inMemory
      ? ['--inMemoryPersistence', '--extentMemoryLimit', '256']
      : ['--location', options.location ?? workDir]),
    '--silent',
    '--disableTelemetry',
    // @azure/storage-blob 12.34 speaks a service version newer than Azurite 3.37 knows; the blob
    // operations the app uses (list, ranged download) are unchanged by it.
    '--skipApiVersionCheck',
  ];
  for (const service of Object.keys(serviceNames) as Service[]) {
    args.push(`--${service}Host`, '127.0.0.1', `--${service}Port`, String(ports[service] ?? 0));
  }
  const child = spawn(process.execPath, args, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off('exit', killOnExit);
      await stopChild(child);
      await rm(workDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const listening = await listeningPorts(child, startTimeoutInMs);
    await waitUntilAnswers(listening.table, startTimeoutInMs);
    return { ...azuriteEndpoints(listening), ports: listening, pid: child.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function azuriteEntryPoint(): Promise<string> {
  const packageJsonPath = require.resolve('azurite/package.json', { paths: [process.cwd(), __dirname] });
  const packageJson = JSON.parse(await readFile(packageJsonPath, 'utf8')) as { bin?: Record<string, string> };
  const bin = packageJson.bin?.['azurite'];
  if (bin === undefined) throw new Error('The azurite package declares no "azurite" bin');
  return path.resolve(path.dirname(packageJsonPath), bin);
}

/** The `Server` header of a GET on the port, or undefined when nothing answers. */
function serverHeader(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', method: 'GET', timeout: probeTimeoutInMs },
      (res) => {
        res.resume();
        const server = res.headers.server;
        resolve(Array.isArray(server) ? server[0] : server);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

const listeningLine = /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/[^:]+:(\d+)/g;

/** Reads the ports from Azurite's "successfully listening at" lines; fails if it exits or is too slow. */
function listeningPorts(child: ChildProcess, timeoutInMs: number): Promise<AzuritePorts> {
  return new Promise((resolve, reject) => {
    let output = '';
    const found: Partial<Record<Service, number>> = {};
    const done = (error?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', done);
      // Keep draining so a chatty Azurite never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      for (const match of output.matchAll(listeningLine)) {
        const service = match[1]?.toLowerCase() as Service;
        found[service] = Number(match[2]);
      }
      const { blob, queue, table } = found;
      if (blob !== undefined && queue !== undefined && table !== undefined) {
        done();
        resolve({ blob, queue, table });
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      done(new Error(`Azurite exited before listening (code ${code}, signal ${signal}):\n${output}`));
    };
    const timer = setTimeout(() => {
      done(new Error(`Azurite did not listen within ${timeoutInMs} ms:\n${output}`));
    }, timeoutInMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', done);
  });
}

async function waitUntilAnswers(port: number, timeoutInMs: number): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while ((await serverHeader(port)) === undefined) {
    if (Date.now() > deadline) throw new Error(`Azurite table port ${port} did not answer in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutInMs);
  await exited;
  clearTimeout(timer);
}
