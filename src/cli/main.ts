/**
 * `vm-timeline`: the operators' command line over the same use cases as the Functions app.
 * `main(argv, io)` parses the arguments with commander (commands, options, help, usage errors), runs one
 * command from the table below and returns the exit code (0 ok, 1 runtime failure, 2 usage error).
 * Errors are one line on stderr, never a stack trace.
 */
import { Command as Program, CommanderError, InvalidArgumentError, Option, type Argument } from 'commander';
import type { AppContext } from '../composition';
import { describeError } from './cli-errors';
import {
  ExitCode,
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

const commonGroup = 'Options of every command:';
/** Help width when the output is not a terminal (the command descriptions are written for it). */
const defaultHelpWidth = 100;

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/** commander's message as one line: without its "error: ", a suggestion ("(Did you mean --from?)") joined. */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .trimEnd()
    .replace(/\n/g, ' ');
}

/** An argument as the help shows it: `<file>`, `[files...]`. */
function shown(argument: Argument): string {
  const name = `${argument.name()}${argument.variadic ? '...' : ''}`;
  return argument.required ? `<${name}>` : `[${name}]`;
}

/** The flags of these options, as typed (`--from`, `-h`). */
function flagsOf(options: Readonly<Record<string, OptionSpec>>): string[] {
  return Object.entries(options).flatMap(([name, spec]) => [
    `--${name}`,
    ...(spec.short === undefined ? [] : [`-${spec.short}`]),
  ]);
}

/**
 * The commander option of a spec. A value that is one of the command's flags is refused (`--from --to x`
 * would else read `--to` as the date); a repeatable option collects its values in a list.
 */
function toOption(name: string, spec: OptionSpec, flags: ReadonlySet<string>): Option {
  const flag = `${spec.short === undefined ? '' : `-${spec.short}, `}--${name}`;
  const option = new Option(
    spec.type === 'string' ? `${flag} ${spec.value ?? '<value>'}` : flag,
    spec.description,
  );
  if (spec.type === 'boolean') return option;
  return option.argParser((value: string, previous: unknown) => {
    if (flags.has(value)) throw new InvalidArgumentError(`--${name} needs a value (${value} is an option)`);
    if (spec.multiple !== true) return value;
    return [...(Array.isArray(previous) ? (previous as string[]) : []), value];
  });
}

/** Adds the options to a commander command; returns them by our name (commander keys them in camelCase). */
function addOptions(
  target: Program,
  options: Readonly<Record<string, OptionSpec>>,
  flags: ReadonlySet<string>,
  group?: string,
): Map<string, Option> {
  const added = new Map<string, Option>();
  for (const [name, spec] of Object.entries(options)) {
    const option = toOption(name, spec, flags);
    if (group !== undefined) option.helpGroup(group);
    target.addOption(option);
    added.set(name, option);
  }
  return added;
}

function valuesOf(
  target: Program,
  options: ReadonlyMap<string, Option>,
): Record<string, OptionValues[string]> {
  const values: Record<string, OptionValues[string]> = {};
  for (const [name, option] of options) {
    const value: unknown = target.getOptionValue(option.attributeName());
    if (value !== undefined) values[name] = value as OptionValues[string];
  }
  return values;
}

/**
 * The command line as commander sees it: the tool with the options of every command (also accepted
 * before the command name), each command with its own options, arguments and help. `exit` receives
 * the exit code of a command that ran (commander's own errors and help end in a CommanderError).
 */
function program(commands: readonly Command[], io: CliIo, exit: (code: ExitCode) => void): Program {
  const helpWidth = () => (io.stdout as { columns?: number }).columns ?? defaultHelpWidth;
  const tool = new Program(toolName)
    .usage('<command> [options]')
    .description(
      'Records Azure VM power-state timelines (billed / not billed) in Table Storage and queries them.',
    )
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`${toolName}: ${oneLine(text)}\n`),
      getOutHelpWidth: helpWidth,
      getErrHelpWidth: helpWidth,
    })
    // The command list shows each command with its arguments (its usage line adds the required options).
    .configureHelp({
      subcommandTerm: (command) => [command.name(), ...command.registeredArguments.map(shown)].join(' '),
    })
    .addHelpOption(new Option('-h, --help', 'show this help').helpGroup(commonGroup))
    .helpCommand(false)
    .showHelpAfterError(`Run '${toolName} --help' for usage.`)
    .addHelpText(
      'after',
      [
        '',
        `Run '${toolName} <command> --help' for the options of one command.`,
        'Exit codes: 0 ok, 1 runtime failure, 2 usage error.',
      ].join('\n'),
    );
  const commonFlags = new Set([...flagsOf(commonOptions), '-h', '--help']);
  const toolOptions = addOptions(tool, commonOptions, commonFlags, commonGroup);

  for (const command of commands) {
    const flags = new Set([...commonFlags, ...flagsOf(command.options)]);
    const sub = tool
      .command(command.name)
      .usage(`${command.synopsis} [options]`.trimStart())
      .summary(command.summary)
      .description(command.summary)
      .addHelpText('after', `\n${command.description}`)
      .showHelpAfterError(`Run '${toolName} ${command.name} --help' for usage.`);
    for (const argument of command.arguments) sub.argument(argument);
    const own = addOptions(sub, command.options, flags);
    const common = addOptions(sub, commonOptions, flags, commonGroup);
    sub.action(async () => {
      // The options of every command count after the command name and before it (there they are the tool's).
      const options: OptionValues = {
        ...valuesOf(tool, toolOptions),
        ...valuesOf(sub, common),
        ...valuesOf(sub, own),
      };
      exit(await runCommand(command, sub.args, options, io));
    });
  }

  // No command, or a word that is none: the message and the whole help on stderr.
  const noCommand = (name: string | undefined) => {
    io.stderr.write(
      `${toolName}: ${name === undefined ? 'missing command' : `unknown command ${JSON.stringify(name)}`}\n`,
    );
    tool.outputHelp({ error: true });
    exit(ExitCode.usage);
  };
  tool
    .command('help')
    .argument('[command]')
    .description('show the help of a command')
    .action((name?: string) => {
      const topic = name === undefined ? tool : tool.commands.find((c) => c.name() === name);
      if (topic === undefined) noCommand(name);
      else topic.outputHelp();
    });
  tool.argument('[command]').allowExcessArguments().action(noCommand);
  return tool;
}

/** Runs a command whose arguments were parsed: its exit code, or one line for what it threw. */
async function runCommand(
  command: Command,
  args: readonly string[],
  options: OptionValues,
  io: CliIo,
): Promise<ExitCode> {
  let context: AppContext | undefined;
  try {
    const invocation: Invocation = {
      args,
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
    io.stderr.write(`${toolName}: ${message}\n`);
    if (exitCode === ExitCode.usage) io.stderr.write(`Run '${toolName} ${command.name} --help' for usage.\n`);
    return exitCode;
  }
}

export async function main(
  argv: readonly string[],
  io: CliIo = processIo(),
  commands: readonly Command[] = appCommands,
): Promise<number> {
  let exitCode: ExitCode = ExitCode.ok;
  try {
    await program(commands, io, (code) => (exitCode = code)).parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    // Help asked for (exit 0), or a usage error commander has printed.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    throw error;
  }
}
