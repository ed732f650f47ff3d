/**
 * What a `vm-timeline` command is: its name, help, options and a `run` that returns the exit code.
 * `main.ts` holds the table of commands; adding a command is one module plus one entry there.
 */
import type { AppContext } from '../composition';

export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface TextSink {
  write(chunk: string): unknown;
}

/** Where the CLI reads and writes: the process by default, buffers in tests. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  stdin: AsyncIterable<string | Buffer>;
  env: Readonly<Record<string, string | undefined>>;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in the help text (`<ISO>`). */
  value?: string;
  description: string;
  /** The option may be repeated; its value is then a list. */
  multiple?: true;
}

export type OptionValues = Readonly<Record<string, string | boolean | Array<string | boolean> | undefined>>;

/** One run of a command, after its arguments were parsed. */
export interface Invocation {
  /** Positional arguments after the command name. */
  args: readonly string[];
  options: OptionValues;
  json: boolean;
  io: CliIo;
  /** The application context for the storage and ARM endpoint the options name (made once). */
  context(): AppContext;
  /** Writes one line to stdout. */
  print(line: string): void;
}

export interface Command {
  name: string;
  /** Arguments as shown in the help (`<file|->`). */
  synopsis: string;
  summary: string;
  /** Longer help, printed by `<command> --help`. */
  description: string;
  options: Readonly<Record<string, OptionSpec>>;
  /** Positional arguments, as commander declares them: `<file>` required, `[file]` optional, `[files...]` any number. */
  arguments: readonly string[];
  run(invocation: Invocation): Promise<ExitCode>;
}

/** Wrong use of the command line: printed with a pointer to the help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function stringOption(options: OptionValues, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a repeatable string option; comma-separated values are split too. */
export function stringsOption(options: OptionValues, name: string): string[] {
  const value = options[name];
  const values = Array.isArray(value) ? value : [value];
  return values
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

export function requiredOption(options: OptionValues, name: string): string {
  const value = stringOption(options, name);
  if (value === undefined || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}
