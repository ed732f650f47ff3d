/**
 * `vm-timeline`: the operators' command line over the same use cases as the Functions app.
 * `main(argv, io)` parses the arguments, runs one command from the table below and returns the exit
 * code (0 ok, 1 runtime failure, 2 usage error). Errors are one line on stderr, never a stack trace.
 */
import { parseArgs } from 'node:util';
import type { AppContext } from '../composition';
import { describeError } from './cli-errors';
import {
  ExitCode,
  UsageError,
  type CliIo,
  type Command,
  type Invocation,
  type OptionSpec,
  type OptionValues,
} from './command';
import { commonOptions, contextFor } from './common-options';
import { ingestCommand } from './ingest';
import { stoppedCommand } from './stopped';
import { timelineCommand } from './timeline';
import { usageCommand } from './usage';
import { backfillCommand } from './backfill';
import { reconcileCommand } from './reconcile';
import { pricesCommand } from './prices';
import { checkInvoiceCommand } from './check-invoice';
import { coverageCommand } from './coverage';

export const toolName = 'vm-timeline';

/**
 * The app's commands, in help order. Adding a command: one module exporting a `Command`, one entry here.
 * The developer kit adds its own (`serve`, see `kit/cli.ts`) by passing a longer list to `main`.
 */
export const appCommands: readonly Command[] = [
  ingestCommand,
  timelineCommand,
  usageCommand,
  reconcileCommand,
  backfillCommand,
  stoppedCommand,
  coverageCommand,
  pricesCommand,
  checkInvoiceCommand,
];

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const flagWidth = 28;
  return Object.entries(options).flatMap(([name, spec]) => {
    const flag = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
    const [first = '', ...more] = wrap(spec.description, 70);
    const indent = ' '.repeat(flagWidth + 4);
    const head =
      flag.length > flagWidth
        ? [`  ${flag}`, `${indent}${first}`]
        : [`  ${flag.padEnd(flagWidth)}  ${first}`];
    return [...head, ...more.map((line) => `${indent}${line}`)];
  });
}

export function toolHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.synopsis}`.length));
  return [
    `Usage: ${toolName} <command> [options]`,
    '',
    'Records Azure VM power-state timelines (billed / not billed) in Table Storage and queries them.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${`${c.name} ${c.synopsis}`.padEnd(width)}  ${c.summary}`),
    '',
    'Options of every command:',
    ...optionLines(commonOptions),
    '',
    `Run '${toolName} <command> --help' for the options of one command.`,
    'Exit codes: 0 ok, 1 runtime failure, 2 usage error.',
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  return [
    `Usage: ${toolName} ${command.name} ${command.synopsis} [options]`,
    '',
    command.description,
    '',
    ...(Object.keys(command.options).length > 0 ? ['Options:', ...optionLines(command.options), ''] : []),
    'Options of every command:',
    ...optionLines(commonOptions),
    '',
  ].join('\n');
}

const valueOptions: ReadonlySet<string> = new Set(
  Object.entries(commonOptions)
    .filter(([, spec]) => spec.type === 'string')
    .map(([name]) => `--${name}`),
);

/** Index of the command name: the first argument that is neither an option nor a common option's value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!arg.startsWith('-')) return i;
    if (valueOptions.has(arg)) i++;
  }
  return -1;
}

function parseCommandArgs(
  command: Command,
  args: string[],
): { options: OptionValues; positionals: string[] } {
  const options = { ...commonOptions, ...command.options };
  const parsed = parseArgs({
    args,
    options: Object.fromEntries(
      Object.entries(options).map(([name, spec]) => [
        name,
        {
          type: spec.type,
          ...(spec.short === undefined ? {} : { short: spec.short }),
          ...(spec.multiple === undefined ? {} : { multiple: true }),
        },
      ]),
    ),
    strict: true,
    allowPositionals: true,
  });
  return { options: parsed.values, positionals: parsed.positionals };
}

export async function main(
  argv: readonly string[],
  io: CliIo = processIo(),
  commands: readonly Command[] = appCommands,
): Promise<number> {
  const printError = (message: string) => io.stderr.write(`${toolName}: ${message}\n`);
  const index = commandIndex(argv);
  const name = index < 0 ? undefined : argv[index];
  const rest = index < 0 ? [...argv] : [...argv.slice(0, index), ...argv.slice(index + 1)];

  if (name === undefined || name === 'help') {
    const topic =
      name === 'help' ? commands.find((c) => c.name === rest.find((a) => !a.startsWith('-'))) : undefined;
    const wantsHelp = name === 'help' || rest.includes('--help') || rest.includes('-h');
    if (wantsHelp) {
      io.stdout.write(topic === undefined ? toolHelp(commands) : commandHelp(topic));
      return ExitCode.ok;
    }
    printError('missing command');
    io.stderr.write(toolHelp(commands));
    return ExitCode.usage;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    printError(`unknown command ${JSON.stringify(name)}`);
    io.stderr.write(toolHelp(commands));
    return ExitCode.usage;
  }

  let context: AppContext | undefined;
  try {
    const { options, positionals } = parseCommandArgs(command, rest);
    if (options['help'] === true) {
      io.stdout.write(commandHelp(command));
      return ExitCode.ok;
    }
    if (positionals.length < command.positionals.min)
      throw new UsageError(
        `missing argument: ${command.synopsis.split(' ')[positionals.length] ?? ''}`.trim(),
      );
    if (positionals.length > command.positionals.max)
      throw new UsageError(`unexpected argument ${positionals[command.positionals.max] ?? ''}`);
    const invocation: Invocation = {
      args: positionals,
      options,
      json: options['json'] === true,
      io,
      context() {
        context ??= contextFor(options, io.env);
        return context;
      },
      print(line) {
        io.stdout.write(`${line}\n`);
      },
    };
    return await command.run(invocation);
  } catch (error) {
    const { message, exitCode } = describeError(error, context?.tables.endpoint);
    printError(message);
    if (exitCode === ExitCode.usage) io.stderr.write(`Run '${toolName} ${command.name} --help' for usage.\n`);
    return exitCode;
  }
}
