/**
 * Turns anything a command throws into one line for stderr and an exit code: never a stack trace,
 * never a key. Storage errors are recognised by shape (the CLI does not import @azure/*).
 */
import { InvalidStorageSettingError } from '../adapters/storage';
import { ensureError, InputError } from '../app/errors';
import { NotFoundError } from '../app/queries';
import { ConfigError } from '../config';
import { ExitCode, UsageError } from './command';

/** Codes of failures to connect at all (no HTTP status). */
const networkCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'REQUEST_SEND_ERROR',
]);

interface RestErrorShape {
  name: string;
  code?: unknown;
  statusCode?: unknown;
}

function restError(error: Error): RestErrorShape | undefined {
  return error.name === 'RestError' ? error : undefined;
}

/** The request never got an HTTP answer (refused, DNS, timeout). */
export function isUnreachable(error: unknown): boolean {
  const e = ensureError(error);
  const rest = restError(e);
  if (rest !== undefined && rest.statusCode === undefined) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && networkCodes.has(code);
}

/** A 404 from Table Storage: the table does not exist (nothing recorded yet under this prefix). */
export function isTableMissing(error: unknown): boolean {
  const rest = restError(ensureError(error));
  return rest !== undefined && rest.statusCode === 404;
}

export function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.trim() === '' ? 'unknown error' : line.trim();
}

export interface Described {
  message: string;
  exitCode: ExitCode;
}

/** One line (without the `vm-timeline: ` prefix) and the exit code for an error. */
export function describeError(error: unknown, storageEndpoint?: string): Described {
  const e = ensureError(error);
  if (
    e instanceof UsageError ||
    e instanceof InputError ||
    e instanceof ConfigError ||
    e instanceof InvalidStorageSettingError
  ) {
    return { message: firstLine(e.message), exitCode: ExitCode.usage };
  }
  if (e instanceof NotFoundError) return { message: firstLine(e.message), exitCode: ExitCode.failure };
  if (storageEndpoint !== undefined && isUnreachable(e)) {
    return {
      message: `cannot reach table storage at ${storageEndpoint}: ${firstLine(e.message)}`,
      exitCode: ExitCode.failure,
    };
  }
  return { message: firstLine(e.message), exitCode: ExitCode.failure };
}
