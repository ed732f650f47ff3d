/**
 * Loggers: the console of the CLI and the local host (readable lines, or JSON lines with `LOG_FORMAT=json`)
 * and the Functions invocation context.
 */
import type { InvocationContext } from '@azure/functions';
import type { Logger } from '../app/ports';
import { parseComputeResourceId } from '../domain/resource-id';

export const LogLevel = { debug: 'debug', info: 'info', warn: 'warn', error: 'error' } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];
const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export const LogFormat = { text: 'text', json: 'json' } as const;
export type LogFormat = (typeof LogFormat)[keyof typeof LogFormat];

/**
 * The console's format variable (CLI, local host), not an app setting: the deployed app logs through the
 * invocation context (Application Insights), so infra never sets it.
 */
export const logFormatVariable = 'LOG_FORMAT';

export function levelFrom(value: string | undefined): LogLevel {
  const v = value?.trim().toLowerCase();
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : LogLevel.info;
}

/** `json` gives JSON lines; anything else readable text. */
export function logFormatFrom(value: string | undefined): LogFormat {
  return value?.trim().toLowerCase() === LogFormat.json ? LogFormat.json : LogFormat.text;
}

export function isLevelShown(level: LogLevel, minimum: LogLevel): boolean {
  return order[level] >= order[minimum];
}

export interface LogRecord {
  /** Epoch ms. */
  time: number;
  level: LogLevel;
  message: string;
  properties?: Record<string, unknown> | undefined;
}

const two = (n: number): string => String(n).padStart(2, '0');

/** `HH:MM:SS` in local time, as Core Tools shows it. */
export function clockTime(time: number): string {
  const d = new Date(time);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A VM's name for a VM or scale-set instance id; other text as it is. */
export function vmNameOf(value: string): string {
  return parseComputeResourceId(value)?.name ?? value;
}

function textValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.startsWith('/subscriptions/') ? vmNameOf(value) : value;
    return /^[^\s"=]+$/.test(shown) ? shown : JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** `key=value` pairs of the properties that have a value; resource ids shortened to the VM name. */
export function textProperties(properties: Record<string, unknown> | undefined): string {
  return Object.entries(properties ?? {})
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${key === 'vmId' ? 'vm' : key}=${textValue(value)}`)
    .join(' ');
}

const levelLabel: Record<LogLevel, string> = {
  debug: 'debug: ',
  info: '',
  warn: 'WARNING: ',
  error: 'ERROR: ',
};

/** One console line: readable (`12:00:01 WARNING: event rejected  vm=web-01 reason=…`) or JSON. */
export function formatLogLine(record: LogRecord, format: LogFormat): string {
  if (format === LogFormat.json)
    return JSON.stringify({
      time: new Date(record.time).toISOString(),
      level: record.level,
      message: record.message,
      ...record.properties,
    });
  const properties = textProperties(record.properties);
  return `${clockTime(record.time)} ${levelLabel[record.level]}${record.message}${properties === '' ? '' : `  ${properties}`}`;
}

export interface ConsoleLoggerOptions {
  /** Default `LOG_LEVEL`, else info. */
  minimum?: LogLevel;
  /** Default `LOG_FORMAT`, else text. */
  format?: LogFormat;
  /** Default: stderr. */
  write?: (line: string) => void;
  now?: () => number;
}

/** Lines at or above the minimum level on stderr, readable or JSON (`LOG_FORMAT=json`). */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const env = process.env;
  const minimum = options.minimum ?? levelFrom(env['LOG_LEVEL']);
  const format = options.format ?? logFormatFrom(env[logFormatVariable]);
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const at = (level: LogLevel) => (message: string, properties?: Record<string, unknown>) => {
    if (isLevelShown(level, minimum))
      write(formatLogLine({ time: now(), level, message, properties }, format));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Logs to the invocation context (Application Insights traces with custom dimensions). */
export function invocationLogger(context: InvocationContext): Logger {
  return {
    debug: (message, properties) => context.debug(message, properties ?? {}),
    info: (message, properties) => context.info(message, properties ?? {}),
    warn: (message, properties) => context.warn(message, properties ?? {}),
    error: (message, properties) => context.error(message, properties ?? {}),
  };
}

/** Discards everything (benchmarks). */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
