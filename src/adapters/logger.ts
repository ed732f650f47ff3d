/** Loggers: JSON lines on stderr (CLI, local host) and the Functions invocation context. */
import type { InvocationContext } from '@azure/functions';
import type { Logger } from '../app/ports';

type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function levelFrom(value: string | undefined): Level {
  return value === 'debug' || value === 'info' || value === 'warn' || value === 'error' ? value : 'info';
}

/** JSON lines on stderr, at or above `LOG_LEVEL` (default info). */
export function consoleLogger(minimum: Level = levelFrom(process.env['LOG_LEVEL'])): Logger {
  const write = (level: Level) => (message: string, properties?: Record<string, unknown>) => {
    if (order[level] < order[minimum]) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, message, ...properties })}\n`,
    );
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
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
