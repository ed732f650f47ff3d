/**
 * Turns anything a command throws into one line for stderr and an exit code: never a stack trace,
 * never a key. Storage errors are recognised by the adapters' mapping (the CLI does not import @azure/*).
 */
import { InvalidStorageSettingError, isStorageUnreachable } from '../adapters/storage';
import { ensureError, InputError } from '../app/errors';
import { NotFoundError } from '../app/queries';
import { ConfigError } from '../config';
import { ExitCode, UsageError } from './command';

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
  if (storageEndpoint !== undefined && isStorageUnreachable(e)) {
    return {
      message: `cannot reach table storage at ${storageEndpoint}: ${firstLine(e.message)}`,
      exitCode: ExitCode.failure,
    };
  }
  return { message: firstLine(e.message), exitCode: ExitCode.failure };
}
