/**
 * The local host's console, as Core Tools shows it: one readable line per function execution
 * (`12:00:01 vmEvents: recorded web-01 → stopped (14 ms)`), warnings and errors as they come, and with
 * `LOG_FORMAT=json` every log line as JSON instead (for those who pipe them). While the host starts, the
 * execution lines are held and counted, so the banner ends with the dashboard URL.
 */
import {
  formatLogLine,
  isLevelShown,
  levelFrom,
  LogFormat,
  logFormatFrom,
  logFormatVariable,
  LogLevel,
  textProperties,
  vmNameOf,
  type LogRecord,
} from '../../src/adapters/logger';
import { ensureError } from '../../src/app/errors';
import type { Logger } from '../../src/app/ports';
import type { RegistrationKind } from './registrations';

/** One execution as the host saw it. */
export interface Execution {
  functionName: string;
  kind: RegistrationKind;
  durationInMs: number;
  /** Info and debug lines the function logged. */
  records: readonly LogRecord[];
  error?: Error | undefined;
}

/** What the host tells the console about each execution (see `invoke.ts`). */
export interface ExecutionObserver {
  begin(functionName: string, kind: RegistrationKind): ExecutionLog;
}

export interface ExecutionLog {
  /** The logger the execution's `InvocationContext` writes to. */
  readonly log: Logger;
  end(error?: unknown): void;
}

/** Executions while held: function name → outcome → count. */
export type HeldExecutions = Record<string, Record<string, number>>;

export interface LocalConsole extends ExecutionObserver {
  readonly format: LogFormat;
  /** The host's own lines (outside executions). */
  readonly log: Logger;
  /** Holds info lines and execution lines (counted) until the returned release is called. */
  hold(): () => HeldExecutions;
}

export interface LocalConsoleOptions {
  /** `LOG_FORMAT` and `LOG_LEVEL` (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default: stderr. */
  write?: (line: string) => void;
  now?: () => number;
}

const lastOf = (
  records: readonly LogRecord[],
  matches: (record: LogRecord) => boolean,
): LogRecord | undefined => [...records].reverse().find(matches);
const last = (records: readonly LogRecord[], message: string): LogRecord | undefined =>
  lastOf(records, (r) => r.message === message);

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The outcome an execution is counted under while held. */
function outcomeOf(execution: Execution): string {
  if (execution.error !== undefined) return 'failed';
  return str(last(execution.records, 'event ingested')?.properties?.['outcome']) || 'ran';
}

/** What one execution did, in words: from the summary line its function logs. */
export function executionSummary(execution: Execution): string {
  const { records } = execution;
  const ingested = last(records, 'event ingested')?.properties;
  if (ingested !== undefined) {
    const vm = vmNameOf(str(ingested['vmId']) || str(ingested['eventId']));
    const state = lastOf(records, (r) => typeof r.properties?.['state'] === 'string')?.properties?.['state'];
    const outcome = str(ingested['outcome']);
    const reason = str(ingested['reason']);
    if (outcome === 'recorded') return `recorded ${vm}${typeof state === 'string' ? ` → ${state}` : ''}`;
    if (outcome === 'rejected') return `rejected ${vm}: ${reason}`;
    if (outcome === 'skipped') return `skipped ${vm}${reason === '' ? '' : `: ${reason}`}`;
    return `${outcome} ${vm}`;
  }
  const reconciled = last(records, 'reconcile summary')?.properties;
  if (reconciled !== undefined) {
    const p = reconciled;
    const run = p['complete'] === true ? 'complete' : 'partial';
    return `${str(p['subscriptionId'])} ${num(p['seen'])} seen, ${num(p['changed'])} changed, ${num(p['new'])} new, ${num(p['deleted'])} deleted, ${num(p['unknown'])} unknown, ${num(p['failed'])} failed; ${run}`;
  }
  const skipped = last(records, 'reconcile skipped')?.properties;
  if (skipped !== undefined) return `${str(skipped['subscriptionId'])} skipped: ${str(skipped['reason'])}`;
  const enqueued = last(records, 'reconcile enqueued')?.properties;
  if (enqueued !== undefined) return `${plural(num(enqueued['subscriptions']), 'subscription')} queued`;
  const alerts = last(records, 'stopped allocated alerts evaluated')?.properties;
  if (alerts !== undefined) {
    const enqueuedAlerts = alerts['enqueued'] as { detected?: number; resolved?: number } | undefined;
    return `${num(alerts['stopped'])} stopped (${num(alerts['pastGrace'])} past grace, ${num(alerts['exempt'])} exempt, ${num(alerts['withinGrace'])} within grace); Detected ${enqueuedAlerts?.detected ?? 0}, Resolved ${enqueuedAlerts?.resolved ?? 0}, published ${num(alerts['published'])}`;
  }
  const rollup = last(records, 'usage rollup run')?.properties;
  if (rollup !== undefined)
    return `through ${str(rollup['through']).slice(0, 10)}: ${plural(num(rollup['vms']), 'VM')}, ${num(rollup['recomputed'])} recomputed, ${plural(num(rollup['rows']), 'row')}`;
  const final = lastOf(records, (r) => r.level === LogLevel.info);
  if (final === undefined) return 'done';
  const properties = textProperties(final.properties);
  return `${final.message}${properties === '' ? '' : `  ${properties}`}`;
}

export function createLocalConsole(options: LocalConsoleOptions = {}): LocalConsole {
  const env = options.env ?? process.env;
  const format = logFormatFrom(env[logFormatVariable]);
  const minimum = levelFrom(env['LOG_LEVEL']);
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  let held: HeldExecutions | undefined;

  const emit = (level: LogLevel, message: string, properties?: Record<string, unknown>): void => {
    if (!isLevelShown(level, minimum)) return;
    if (held !== undefined && !isLevelShown(level, LogLevel.warn)) return;
    write(formatLogLine({ time: now(), level, message, properties }, format));
  };
  const logger = (at: (level: LogLevel, message: string, p?: Record<string, unknown>) => void): Logger => ({
    debug: (message, properties) => at(LogLevel.debug, message, properties),
    info: (message, properties) => at(LogLevel.info, message, properties),
    warn: (message, properties) => at(LogLevel.warn, message, properties),
    error: (message, properties) => at(LogLevel.error, message, properties),
  });
  const log = logger(emit);

  return {
    format,
    log,
    hold() {
      held = {};
      return () => {
        const counted = held ?? {};
        held = undefined;
        return counted;
      };
    },
    begin(functionName, kind) {
      // JSON: every line as it comes, as the deployed app sends them to Application Insights.
      if (format === LogFormat.json) return { log, end: () => undefined };
      const records: LogRecord[] = [];
      const startedAt = now();
      const collect = (level: LogLevel, message: string, properties?: Record<string, unknown>): void => {
        if (isLevelShown(level, LogLevel.warn)) {
          // Readable: the function's name leads; the invocation id is noise here.
          const { functionName: _name, invocationId: _id, ...rest } = properties ?? {};
          emit(level, `${functionName}: ${message}`, rest);
        } else {
          records.push({ time: now(), level, message, properties });
          // LOG_LEVEL=debug: the execution's own lines too.
          if (minimum === LogLevel.debug) emit(level, message, properties);
        }
      };
      return {
        log: logger(collect),
        end(error) {
          const execution: Execution = {
            functionName,
            kind,
            durationInMs: now() - startedAt,
            records,
            error: error === undefined ? undefined : ensureError(error),
          };
          if (held !== undefined) {
            const counts = (held[functionName] ??= {});
            const outcome = outcomeOf(execution);
            counts[outcome] = (counts[outcome] ?? 0) + 1;
          }
          const took = `(${Math.round(execution.durationInMs)} ms)`;
          if (execution.error !== undefined) {
            emit(LogLevel.error, `${functionName}: failed ${took}`, { error: execution.error.message });
            return;
          }
          // HTTP functions answer the dashboard's polls: shown with LOG_LEVEL=debug only.
          const level = kind === 'http' ? LogLevel.debug : LogLevel.info;
          emit(level, `${functionName}: ${executionSummary(execution)} ${took}`);
        },
      };
    },
  };
}

/** `vmEvents 96 recorded, 4 duplicate; reconcile 1; …`: what ran while held. */
export function describeHeld(held: HeldExecutions): string {
  return Object.entries(held)
    .map(
      ([name, outcomes]) =>
        `${name} ${Object.entries(outcomes)
          .map(([outcome, n]) => (outcome === 'ran' ? String(n) : `${n} ${outcome}`))
          .join(', ')}`,
    )
    .join('; ');
}
