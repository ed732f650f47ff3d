/**
 * Vitest global setup for the `integration` project: makes Azurite's Table, Queue and Blob services
 * available, so `npm test` needs nothing running beforehand.
 *
 * - An Azurite already answering on the default ports (10000 blob, 10001 queue, 10002 table) is reused.
 * - Otherwise Azurite is started from `node_modules/azurite` as a child process, in memory, on ports the
 *   OS picks (`--xxxPort 0`; the real ports are read from Azurite's "successfully listening" lines), and
 *   stopped in teardown.
 *
 * Tests get the endpoints with `inject('azurite')` (see `test/support/azurite.ts`) and, in the
 * environment of every worker, `AZURITE_TABLE_ENDPOINT`, `AZURITE_QUEUE_ENDPOINT`,
 * `AZURITE_BLOB_ENDPOINT` and `AZURE_STORAGE_CONNECTION_STRING`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
// vitest/node is ESM-only and this package compiles tests as CommonJS: a type-only import needs the mode.
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import {
  azuriteDefaultPorts,
  azuriteEndpoints,
  type AzuriteEndpoints,
  type AzuritePorts,
} from './support/azurite-endpoints';

const startTimeoutInMs = 30_000;
const stopTimeoutInMs = 10_000;
const probeTimeoutInMs = 1_000;

type Service = keyof AzuritePorts;
const serviceNames: Readonly<Record<Service, string>> = { blob: 'Blob', queue: 'Queue', table: 'Table' };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedAt = performance.now();
  let stop: () => Promise<void> = () => Promise.resolve();
  let endpoints: AzuriteEndpoints;

  if (await isAzuriteUp(azuriteDefaultPorts)) {
    endpoints = azuriteEndpoints(azuriteDefaultPorts, true);
  } else {
    const started = await startAzurite(project.config.root);
    endpoints = azuriteEndpoints(started.ports, false);
    stop = started.stop;
  }

  // Workers are forked after global setup with a copy of process.env, so these reach every test.
  process.env.AZURITE_TABLE_ENDPOINT = endpoints.tableEndpoint;
  process.env.AZURITE_QUEUE_ENDPOINT = endpoints.queueEndpoint;
  process.env.AZURITE_BLOB_ENDPOINT = endpoints.blobEndpoint;
  process.env.AZURE_STORAGE_CONNECTION_STRING = endpoints.connectionString;
  project.provide('azurite', endpoints);

  const elapsedInMs = Math.round(performance.now() - startedAt);
  console.log(
    `[azurite] ${endpoints.reused ? 'reusing the one on the default ports' : 'started'}: ` +
      `table ${endpoints.tableEndpoint} (${elapsedInMs} ms)`,
  );
  return stop;
}

/** True when all three default ports answer as Azurite (its `Server` header names the service). */
async function isAzuriteUp(ports: AzuritePorts): Promise<boolean> {
  const services = Object.keys(ports) as Service[];
  const answers = await Promise.all(services.map((s) => serverHeader(ports[s])));
  return services.every((s, i) => answers[i]?.startsWith(`Azurite-${serviceNames[s]}/`) === true);
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

interface StartedAzurite {
  readonly ports: AzuritePorts;
  readonly stop: () => Promise<void>;
}

async function startAzurite(root: string): Promise<StartedAzurite> {
  const entry = await azuriteEntryPoint(root);
  // With --inMemoryPersistence, Azurite 3.35 refuses --location; the temp dir is its working directory
  // so whatever it writes (debug logs) stays out of the checkout.
  const workDir = await mkdtemp(path.join(tmpdir(), 'azurite-'));
  const args = [
    entry,
    '--inMemoryPersistence',
    '--extentMemoryLimit',
    '256',
    '--silent',
    '--skipApiVersionCheck',
    '--loose',
    '--disableTelemetry',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    '0',
    '--queueHost',
    '127.0.0.1',
    '--queuePort',
    '0',
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    '0',
  ];
  const child = spawn(process.execPath, args, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    await stopChild(child);
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    const ports = await listeningPorts(child);
    await waitUntilAnswers(ports.table);
    return { ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function azuriteEntryPoint(root: string): Promise<string> {
  const packageJsonPath = createRequire(path.join(root, 'package.json')).resolve('azurite/package.json');
  const packageJson = JSON.parse(await readFile(packageJsonPath, 'utf8')) as { bin?: Record<string, string> };
  const bin = packageJson.bin?.azurite;
  if (bin === undefined) throw new Error('The azurite package declares no "azurite" bin');
  return path.resolve(path.dirname(packageJsonPath), bin);
}

const listeningLine = /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/[^:]+:(\d+)/g;

/** Reads the ports from Azurite's "successfully listening at" lines; fails if it exits or is too slow. */
function listeningPorts(child: ChildProcess): Promise<AzuritePorts> {
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
      done(new Error(`Azurite did not listen within ${startTimeoutInMs} ms:\n${output}`));
    }, startTimeoutInMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', done);
  });
}

async function waitUntilAnswers(port: number): Promise<void> {
  const deadline = Date.now() + startTimeoutInMs;
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
