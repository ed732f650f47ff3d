/**
 * The command line as operators and scripts see it: every command and option in the help, each option
 * reaching its command, the exit codes and the usage errors. The commands' `run` is replaced by a probe
 * that records what it was given, so nothing here touches storage or ARM.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { commands } from '../../kit/cli';
import { InputError } from '../../src/app/errors';
import { NotFoundError } from '../../src/app/queries';
import {
  stringOption,
  stringsOption,
  UsageError,
  type Command,
  type Invocation,
} from '../../src/cli/command';
import { commonOptions } from '../../src/cli/common-options';
import { main } from '../../src/cli/main';

/** Every command, in help order, with its options (kind: s string, b boolean, m repeatable string). */
const inventory: ReadonlyArray<readonly [string, Readonly<Record<string, 's' | 'b' | 'm'>>]> = [
  ['ingest', {}],
  ['timeline', { from: 's', to: 's' }],
  ['usage', { from: 's', to: 's', 'group-by': 's', prices: 's', csv: 'b' }],
  ['reconcile', { subscription: 'm', details: 'b' }],
  ['backfill', { subscription: 'm', days: 's' }],
  ['stopped', {}],
  ['coverage', {}],
  [
    'prices',
    {
      'from-export': 's',
      'all-runs': 'b',
      'include-licences': 'b',
      from: 's',
      to: 's',
      region: 's',
      currency: 's',
      out: 's',
      'prices-endpoint': 's',
    },
  ],
  [
    'check-invoice',
    { export: 's', 'all-runs': 'b', from: 's', to: 's', 'tolerance-minutes': 's', csv: 'b', store: 'b' },
  ],
  ['serve', {}],
];
const common: Readonly<Record<string, 's' | 'b'>> = {
  storage: 's',
  'arm-endpoint': 's',
  'table-prefix': 's',
  json: 'b',
  verbose: 'b',
};
/** Positional arguments each command needs, as a valid run gives them. */
const positionals: Readonly<Record<string, readonly string[]>> = {
  ingest: ['events.json'],
  timeline: ['/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1'],
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** What the command's run was given, when it ran. */
  invocation: Invocation | undefined;
}

/** Runs `main` over the real command table with each `run` replaced by `behave` (default: exit 0). */
async function probe(
  argv: string[],
  behave: (invocation: Invocation) => Promise<number> = () => Promise.resolve(0),
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let invocation: Invocation | undefined;
  const probes: Command[] = commands.map((command) => ({
    ...command,
    run(given: Invocation) {
      invocation = given;
      return behave(given) as ReturnType<Command['run']>;
    },
  }));
  const code = await main(
    argv,
    {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      stdin: Readable.from([]),
      env: {},
    },
    probes,
  );
  return { code, stdout, stderr, invocation };
}

/** Text with every run of whitespace as one space (help may wrap a description anywhere). */
const flat = (text: string) => text.replace(/\s+/g, ' ');

function commandNamed(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (command === undefined) throw new Error(`no command ${name}`);
  return command;
}

describe('vm-timeline help', () => {
  it('has exactly the commands and options of the inventory, in help order', () => {
    expect(commands.map((c) => c.name)).toEqual(inventory.map(([name]) => name));
    for (const [name, options] of inventory) {
      const command = commandNamed(name);
      expect(Object.keys(command.options).sort(), name).toEqual(Object.keys(options).sort());
      for (const [option, kind] of Object.entries(options)) {
        const spec = command.options[option];
        expect(spec?.type, `${name} --${option}`).toBe(kind === 'b' ? 'boolean' : 'string');
        expect(spec?.multiple === true, `${name} --${option}`).toBe(kind === 'm');
      }
    }
    expect(Object.keys(commonOptions).sort()).toEqual(Object.keys(common).sort());
  });

  it('lists every command with its summary and every common option with its description, exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const run = await probe(argv);

      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.invocation).toBeUndefined();
      expect(run.stdout).toMatch(/^Usage: vm-timeline <command> \[options\]\n/);
      const help = flat(run.stdout);
      for (const command of commands) {
        expect(run.stdout).toMatch(new RegExp(`^  ${command.name}( |$)`, 'm'));
        expect(help).toContain(flat(command.summary));
      }
      for (const [name, spec] of Object.entries(commonOptions)) {
        expect(run.stdout).toContain(`--${name}`);
        expect(help).toContain(flat(spec.description));
      }
      expect(help).toContain('-h, --help show this help');
    }
  });

  it.each(inventory.map(([name]) => name))(
    'lists the description, every option and every common option of %s, exit 0',
    async (name) => {
      const command = commandNamed(name);
      const run = await probe([name, '--help']);

      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.invocation).toBeUndefined();
      expect(run.stdout).toMatch(new RegExp(`^Usage: vm-timeline ${name}( |\\n)`));
      const help = flat(run.stdout);
      expect(help).toContain(flat(command.description));
      for (const [option, spec] of Object.entries({ ...command.options, ...commonOptions })) {
        const flag = `--${option}${spec.value === undefined ? '' : ` ${spec.value}`}`;
        expect(run.stdout, flag).toContain(flag);
        expect(help, flag).toContain(flat(spec.description));
      }
      expect(help).toContain('-h, --help show this help');

      const again = await probe(['help', name]);
      expect(again.code).toBe(0);
      expect(again.stdout).toBe(run.stdout);
    },
  );
});

describe('vm-timeline options', () => {
  it.each(inventory.flatMap(([name, options]) => Object.entries(options).map(([o, k]) => [name, o, k])))(
    '%s --%s reaches the command',
    async (name, option, kind) => {
      const args = positionals[name] ?? [];
      if (kind === 'b') {
        const set = await probe([name, ...args, `--${option}`]);
        expect(set.code).toBe(0);
        expect(set.invocation?.options[option]).toBe(true);
        const unset = await probe([name, ...args]);
        expect(unset.invocation?.options[option]).toBeUndefined();
        return;
      }
      const spaced = await probe([name, ...args, `--${option}`, 'v1']);
      expect(spaced.code).toBe(0);
      expect(spaced.stderr).toBe('');
      const joined = await probe([name, `--${option}=v,2`, ...args]);
      expect(joined.code).toBe(0);
      if (kind === 's') {
        expect(stringOption(spaced.invocation?.options ?? {}, option)).toBe('v1');
        expect(stringOption(joined.invocation?.options ?? {}, option)).toBe('v,2');
        const twice = await probe([name, ...args, `--${option}`, 'a', `--${option}`, 'b']);
        expect(stringOption(twice.invocation?.options ?? {}, option)).toBe('b');
      } else {
        const repeated = await probe([name, ...args, `--${option}`, 'a,b', `--${option}`, 'c']);
        expect(stringsOption(repeated.invocation?.options ?? {}, option)).toEqual(['a', 'b', 'c']);
        expect(stringsOption(joined.invocation?.options ?? {}, option)).toEqual(['v', '2']);
      }
      expect(spaced.invocation?.args).toEqual(args);
    },
  );

  it.each(Object.entries(common))(
    'every command takes --%s, after the command name or before it',
    async (option, kind) => {
      for (const [name] of inventory) {
        const args = positionals[name] ?? [];
        const value = kind === 'b' ? [] : ['x1'];
        const expected = kind === 'b' ? true : 'x1';
        const after = await probe([name, ...args, `--${option}`, ...value]);
        expect(after.code, name).toBe(0);
        expect(after.invocation?.options[option], name).toBe(expected);
        const before = await probe([`--${option}`, ...value, name, ...args]);
        expect(before.code, name).toBe(0);
        expect(before.invocation?.options[option], name).toBe(expected);
        expect(before.invocation?.args, name).toEqual(args);
        if (option === 'json') expect(after.invocation?.json && before.invocation?.json, name).toBe(true);
      }
      const none = await probe(['stopped']);
      expect(none.invocation?.options[option]).toBeUndefined();
      expect(none.invocation?.json).toBe(false);
    },
  );

  it('gives the positional arguments to the command: a file, stdin (-), a resource id, host options', async () => {
    expect((await probe(['ingest', 'events.json'])).invocation?.args).toEqual(['events.json']);
    expect((await probe(['ingest', '-', '--json'])).invocation?.args).toEqual(['-']);
    expect((await probe(['timeline', '--from', '2026-01-01', 'id1'])).invocation?.args).toEqual(['id1']);
    const serve = await probe(['serve', '--table-prefix', 'p', '--', '--fast', '--port', '0']);
    expect(serve.code).toBe(0);
    expect(serve.invocation?.args).toEqual(['--fast', '--port', '0']);
    expect(serve.invocation?.options['table-prefix']).toBe('p');
    expect((await probe(['serve'])).invocation?.args).toEqual([]);
  });
});

describe('vm-timeline exit codes', () => {
  it("passes the command's exit code through: 0 ok, 1 failure", async () => {
    const ok = await probe(['stopped'], () => Promise.resolve(0));
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    const failed = await probe(['coverage'], () => Promise.resolve(1));
    expect([failed.code, failed.stderr]).toEqual([1, '']);
  });

  it('prints what the command prints, on stdout and stderr', async () => {
    const run = await probe(['stopped', '--json'], (invocation) => {
      invocation.print('{"vms": []}');
      invocation.io.stderr.write('progress\n');
      return Promise.resolve(0);
    });
    expect([run.code, run.stdout, run.stderr]).toEqual([0, '{"vms": []}\n', 'progress\n']);
  });

  it.each([
    ['a usage error', new UsageError('--days must be a whole number'), 2],
    ['bad input', new InputError('line 2 is not valid JSON'), 2],
  ])('answers %s with one line, the pointer to the help, exit 2', async (_, error, code) => {
    const run = await probe(['backfill'], () => Promise.reject(error));
    expect(run.code).toBe(code);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`vm-timeline: ${error.message}\nRun 'vm-timeline backfill --help' for usage.\n`);
  });

  it.each([
    ['a runtime failure', new Error('storage said no\n    at somewhere (file.js:1:1)')],
    ['nothing found', new NotFoundError('no timeline recorded')],
  ])('answers %s with its first line only, exit 1', async (_, error) => {
    const run = await probe(['timeline', 'id1'], () => Promise.reject(error));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`vm-timeline: ${error.message.split('\n')[0]}\n`);
  });
});

describe('vm-timeline usage errors', () => {
  it('answers a missing or unknown command with the message and the whole help on stderr, exit 2', async () => {
    for (const [argv, message] of [
      [[], 'vm-timeline: missing command'],
      [['--verbose'], 'vm-timeline: missing command'],
      [['frobnicate'], 'vm-timeline: unknown command "frobnicate"'],
      [['Usage', '--json'], 'vm-timeline: unknown command "Usage"'],
      [['help', 'frobnicate'], 'vm-timeline: unknown command "frobnicate"'],
    ] as const) {
      const run = await probe([...argv]);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      const [first, ...rest] = run.stderr.split('\n');
      expect(first).toBe(message);
      expect(rest.join('\n')).toMatch(/Usage: vm-timeline <command> \[options\]/);
      for (const command of commands) expect(rest.join('\n')).toContain(`  ${command.name}`);
    }
  });

  it.each([
    [['usage', '--frm', 'x'], "vm-timeline: unknown option '--frm' (Did you mean --from?)"],
    [['stopped', '-x'], "vm-timeline: unknown option '-x'"],
    [['serve', '--fast'], "vm-timeline: unknown option '--fast'"],
    [['usage', '--from'], "vm-timeline: option '--from <ISO>' argument missing"],
    [['reconcile', '--subscription'], "vm-timeline: option '--subscription <id>' argument missing"],
    [['stopped', '--storage'], "vm-timeline: option '--storage <conn-string|url>' argument missing"],
    [['timeline'], "vm-timeline: missing required argument 'resourceId'"],
    [['ingest'], "vm-timeline: missing required argument 'file|-'"],
    [
      ['timeline', 'id1', 'extra'],
      "vm-timeline: too many arguments for 'timeline'. Expected 1 argument but got 2.",
    ],
    [['stopped', 'now'], "vm-timeline: too many arguments for 'stopped'. Expected 0 arguments but got 1."],
  ])('rejects %j before running the command: one line and the pointer, exit 2', async (argv, message) => {
    const run = await probe(argv);

    expect(run.invocation).toBeUndefined();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`${message}\nRun 'vm-timeline ${argv[0] ?? ''} --help' for usage.\n`);
  });

  it('does not take the next option for the value of an option that needs one', async () => {
    for (const argv of [
      ['usage', '--from', '--to', '2026-01-02'],
      ['reconcile', '--subscription', '--details'],
    ]) {
      const run = await probe(argv);
      expect(run.invocation, argv.join(' ')).toBeUndefined();
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toContain(argv[1]);
    }
  });
});
