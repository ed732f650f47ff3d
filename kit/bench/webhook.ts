/**
 * Webhook benchmark: what one Event Grid delivery costs the local host (`npm start`), each case in a child
 * process of its own (the local host with the `vmEvents` registration, Azurite tables), which POSTs one
 * delivery to its own webhook and reports the answer, the time to answer and its peak RSS.
 *
 * Cases:
 * - `valid5000`: 5,000 valid VM events (distinct VMs, about 5 MB): more than one delivery may hold;
 * - `junk50000`: 50,000 junk events in about 100 KB: more events than one delivery may hold;
 * - `largestValid`: as many valid VM events as fit Event Grid's 1 MiB delivery (all recorded);
 * - `small5000`: 5,000 small events of another resource type within 1 MiB: the most invocations one
 *   accepted delivery can ask for.
 *
 * Targets: every case answered (no reset), the oversized ones with 413, peak RSS ≤ 300 MB each.
 * Settings: `BENCH_STORAGE` (default: a fresh in-memory Azurite).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/adapters/logger';
import { startArmEmulator, type ArmEmulator } from '../emulator/arm-emulator';
import { startLocalHost } from '../local/host';
import { MemoryLocalQueues } from '../local/queues';
import { appRegistrations } from '../local/registrations';
import {
  atMost,
  benchStorage,
  exactly,
  sig3,
  type BenchmarkContext,
  type BenchmarkResult,
  type BenchStorage,
  type Target,
} from './benchmark';
import { benchSubscriptionId, benchVmResourceId, resourceEvent } from './events';

const cases = ['valid5000', 'junk50000', 'largestValid', 'small5000'] as const;
type Case = (typeof cases)[number];

interface ChildResult {
  events: number;
  bodyBytes: number;
  status: number;
  /** The request failed without an answer (connection reset). */
  error?: string;
  answerInMs: number;
  rssBeforeMb: number;
  peakRssMb: number;
}

const deliveryLimitInBytes = 1024 * 1024;

function validEvents(count: number, tag: string): unknown[] {
  const at = Date.now() - 60_000;
  return Array.from(
    { length: count },
    (_, i) =>
      resourceEvent({
        id: `${tag}-${i}`,
        resourceId: benchVmResourceId(`${tag}-${String(i).padStart(5, '0')}`),
        operation: 'start',
        time: at,
        caller: 'bench@contoso.com',
        schema: 'eventGrid',
      }).raw,
  );
}

function delivery(name: Case): unknown[] {
  switch (name) {
    case 'valid5000':
      return validEvents(5000, 'v');
    case 'junk50000':
      return Array.from({ length: 50_000 }, () => 0);
    case 'largestValid': {
      const events = validEvents(5000, 'l');
      let size = 2;
      let n = 0;
      for (const event of events) {
        size += JSON.stringify(event).length + 1;
        if (size > deliveryLimitInBytes) break;
        n += 1;
      }
      return events.slice(0, n);
    }
    case 'small5000':
      // Events of another resource type, as small as Event Grid's schema allows: skipped, one by one.
      return Array.from({ length: 5000 }, (_, i) => ({
        id: `s-${i}`,
        subject: `/providers/Microsoft.Web/sites/s${i}`,
        eventType: 'Microsoft.Resources.ResourceWriteSuccess',
        eventTime: '2026-11-30T10:00:00Z',
        data: {},
      }));
  }
}

/** Child: the local host on Azurite, one delivery to its own webhook, the figures on stdout. */
async function child(name: Case): Promise<void> {
  const host = await startLocalHost({
    registrations: appRegistrations(['vmEvents']),
    queues: new MemoryLocalQueues(),
    log: silentLogger,
    port: 0,
    timers: false,
  });
  const body = JSON.stringify(delivery(name));
  const events = (JSON.parse(body) as unknown[]).length;
  global.gc?.();
  const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
  const t = performance.now();
  const result: ChildResult = {
    events,
    bodyBytes: Buffer.byteLength(body),
    status: 0,
    answerInMs: 0,
    rssBeforeMb,
    peakRssMb: 0,
  };
  try {
    const response = await fetch(`${host.url}/runtime/webhooks/eventgrid?functionName=vmEvents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
      body,
      signal: AbortSignal.timeout(600_000),
    });
    await response.arrayBuffer();
    result.status = response.status;
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    result.error = error instanceof Error ? `${error.message}${cause}` : String(error);
  }
  result.answerInMs = performance.now() - t;
  result.peakRssMb = process.resourceUsage().maxRSS / 1024;
  await host.stop();
  process.stdout.write(JSON.stringify(result));
}

function runChild(name: Case, env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const forked = fork(__filename, ['--webhook-child', name], {
      env,
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    forked.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    forked.once('error', reject);
    forked.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`webhook child ${name} exited with ${code}`));
      try {
        resolve(JSON.parse(out) as ChildResult);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

export async function runWebhookBenchmark({ progress }: BenchmarkContext): Promise<BenchmarkResult> {
  let tables: BenchStorage | undefined;
  let emulator: ArmEmulator | undefined;
  try {
    tables = await benchStorage();
    emulator = await startArmEmulator();
    emulator.fleet.addSubscription(benchSubscriptionId);
    const env = {
      ...process.env,
      TIMELINE_STORAGE: tables.connectionString,
      TABLE_NAME_PREFIX: `w${randomBytes(4).toString('hex')}`,
      ARM_ENDPOINT: emulator.url,
      SUBSCRIPTION_IDS: benchSubscriptionId,
      LOG_LEVEL: 'error',
    };
    const figures: Record<string, unknown> = { storage: tables.description };
    const targets: Target[] = [];
    for (const name of cases) {
      const r = await runChild(name, env);
      progress(
        `${name}: ${r.events} events, ${Math.round(r.bodyBytes / 1024)} KB → ${r.error ?? r.status} in ${(r.answerInMs / 1000).toFixed(1)} s, peak RSS ${Math.round(r.peakRssMb)} MB (${Math.round(r.rssBeforeMb)} MB before)`,
      );
      figures[name] = {
        events: r.events,
        bodyKb: sig3(r.bodyBytes / 1024),
        status: r.status,
        ...(r.error === undefined ? {} : { error: r.error }),
        answerInS: sig3(r.answerInMs / 1000),
        rssBeforeMb: sig3(r.rssBeforeMb),
        peakRssMb: sig3(r.peakRssMb),
      };
      const oversized = name === 'valid5000' || name === 'junk50000';
      targets.push(exactly(`${name}Status`, r.status, oversized ? 413 : 200));
      targets.push(atMost(`${name}PeakRssMb`, r.peakRssMb, 300));
    }
    return { figures, targets };
  } finally {
    await emulator?.close();
    await tables?.stop();
  }
}

if (require.main === module && process.argv[2] === '--webhook-child') {
  child(process.argv[3] as Case).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
