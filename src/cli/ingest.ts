/** `vm-timeline ingest <file|->`: events from a file or stdin through the same use case as the function. */
import { readFile } from 'node:fs/promises';
import { InputError } from '../app/errors';
import { forEachLimited } from '../app/concurrency';
import { ingestEvent } from '../app/ingest-event';
import { IngestOutcome, type IngestResult } from '../app/ingest-outcome';
import { describeError } from './cli-errors';
import { ExitCode, type CliIo, type Command, type Invocation } from './command';
import { parseEvents } from './event-input';
import { json, table } from './format';

/** Events ingested at once (distinct VMs proceed in parallel; the store is safe for concurrent writers). */
export const ingestConcurrency = 8;

export interface IngestReport {
  events: number;
  recorded: number;
  duplicate: number;
  skipped: number;
  rejected: Array<{ eventId: string | null; reason: string }>;
  failed: Array<{ eventId: string | null; error: string }>;
}

async function readText(source: string, io: CliIo): Promise<string> {
  if (source === '-') {
    let text = '';
    for await (const chunk of io.stdin) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    return text;
  }
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : 'unreadable';
    throw new InputError(`cannot read ${source}: ${reason}`);
  }
}

/** The `id` of a raw event, for reporting an event the use case could not handle. */
function rawId(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const id = (raw as Record<string, unknown>)['id'];
  return typeof id === 'string' ? id : null;
}

type Outcome = { result: IngestResult } | { eventId: string | null; error: string };

function report(events: readonly unknown[], outcomes: readonly Outcome[]): IngestReport {
  const r: IngestReport = {
    events: events.length,
    recorded: 0,
    duplicate: 0,
    skipped: 0,
    rejected: [],
    failed: [],
  };
  for (const outcome of outcomes) {
    if (!('result' in outcome)) {
      r.failed.push(outcome);
      continue;
    }
    const { result } = outcome;
    if (result.outcome === IngestOutcome.rejected)
      r.rejected.push({ eventId: result.eventId ?? null, reason: result.reason ?? 'rejected' });
    else r[result.outcome] += 1;
  }
  return r;
}

function printText(r: IngestReport, invocation: Invocation): void {
  const reasons = new Map<string, number>();
  for (const { reason } of r.rejected) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  const lines = table(
    [
      ['events', String(r.events)],
      ['recorded', String(r.recorded)],
      ['duplicate', String(r.duplicate)],
      ['skipped', String(r.skipped)],
      ['rejected', String(r.rejected.length)],
      ['failed', String(r.failed.length)],
    ],
    ['left', 'right'],
  );
  lines.forEach((line) => {
    invocation.print(line);
    if (line.startsWith('rejected')) {
      for (const [reason, count] of [...reasons].sort((a, b) => b[1] - a[1]))
        invocation.print(`  ${String(count).padStart(4)}  ${reason}`);
    }
    if (line.startsWith('failed')) {
      for (const { eventId, error } of r.failed) invocation.print(`  ${eventId ?? '(no id)'}: ${error}`);
    }
  });
}

export const ingestCommand: Command = {
  name: 'ingest',
  synopsis: '<file|->',
  summary: 'record Event Grid / CloudEvents events from a file or stdin (-)',
  description: [
    'Records resource events as Event Grid delivers them to the function: a JSON array, a single JSON',
    'object, or NDJSON (one event, or one array of events, per line), in the Event Grid or the',
    'CloudEvents 1.0 schema. Events of other resource types are skipped; malformed VM events are',
    'rejected with a reason (kept in the rejected-events table); an event that fails (storage or ARM',
    'unavailable) is reported and does not stop the rest. Ingesting the same events again records',
    'nothing new. Exit code 1 when any event failed, 2 when the input is not JSON or NDJSON.',
    'Events whose outcome is uncertain (write, redeploy, scale-set-wide actions) read the instance view',
    'from --arm-endpoint.',
    '',
    'Example: vm-timeline ingest samples/events.json --json   (or: cat events.ndjson | vm-timeline ingest -)',
  ].join('\n'),
  options: {},
  arguments: ['<file|->'],
  async run(invocation) {
    const source = invocation.args[0] ?? '-';
    const events = parseEvents(await readText(source, invocation.io));
    const ctx = invocation.context();
    await ctx.ensureTables();
    const outcomes = new Array<Outcome>(events.length);
    await forEachLimited([...events.keys()], ingestConcurrency, async (index) => {
      const raw = events[index];
      try {
        outcomes[index] = { result: await ingestEvent(raw, ctx) };
      } catch (error) {
        outcomes[index] = { eventId: rawId(raw), error: describeError(error, ctx.tables.endpoint).message };
      }
    });
    const r = report(events, outcomes);
    if (invocation.json) invocation.print(json(r));
    else printText(r, invocation);
    return r.failed.length > 0 ? ExitCode.failure : ExitCode.ok;
  },
};
