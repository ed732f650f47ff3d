import { describe, expect, it } from 'vitest';
import { commands } from '../../kit/cli';
import { runCli } from '../support/cli';

/** Runs the CLI in-process; usage errors are found before any storage is touched, so no network here. */

const vmId =
  '/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1';

describe('vm-timeline main', () => {
  it('prints the help of the whole tool with every command and common option, exit 0', async () => {
    const run = await runCli(['--help']);

    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^Usage: vm-timeline <command> \[options\]/);
    for (const name of ['ingest', 'timeline', 'usage']) expect(run.stdout).toContain(`  ${name} `);
    for (const option of ['--storage', '--arm-endpoint', '--table-prefix', '--json', '--verbose', '--help'])
      expect(run.stdout).toContain(option);
  });

  it('prints the help of one command, from "<command> --help" and "help <command>"', async () => {
    for (const argv of [
      ['usage', '--help'],
      ['help', 'usage'],
      ['usage', '-h', '--from', 'x'],
    ]) {
      const run = await runCli(argv);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: vm-timeline usage --from <ISO> --to <ISO> \[options\]/);
      expect(run.stdout).toContain('--storage');
    }
  });

  it('answers an unknown or missing command with the usage text on stderr, exit 2', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^vm-timeline: unknown command "frobnicate"\nUsage: vm-timeline/);
    expect(unknown.stdout).toBe('');

    const missing = await runCli([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^vm-timeline: missing command\n/);
  });

  it('finds the command after common options that take a value', async () => {
    const run = await runCli(['--table-prefix', 'abc', 'usage', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: vm-timeline usage/);
  });

  it.each([
    [
      ['usage', '--from', '2025-03-10', '--frm', 'x'],
      "vm-timeline: unknown option '--frm' (Did you mean --from?)",
    ],
    [['usage', '--from', '2025-03-10'], 'vm-timeline: --to is required'],
    [
      ['usage', '--from', 'yesterday', '--to', '2025-03-10'],
      'vm-timeline: --from must be an ISO 8601 date or date-time, got "yesterday"',
    ],
    [['usage', '--from', '2025-03-10', '--to', '2025-03-09'], 'vm-timeline: --to must be after --from'],
    [['usage', '--from'], "vm-timeline: option '--from <ISO>' argument missing"],
    [['timeline'], "vm-timeline: missing required argument 'resourceId'"],
    [
      ['timeline', vmId, 'extra'],
      "vm-timeline: too many arguments for 'timeline'. Expected 1 argument but got 2.",
    ],
    [
      ['timeline', 'not-an-id'],
      'vm-timeline: <resourceId> must be the resource id of a VM or of a scale-set instance',
    ],
    [
      ['timeline', vmId, '--to', '2025-02-30T25:00'],
      'vm-timeline: --to is not a valid date: "2025-02-30T25:00"',
    ],
    [
      ['usage', '--from', '2026-02-31', '--to', '2026-03-05'],
      'vm-timeline: --from is not a valid date: "2026-02-31"',
    ],
    [
      ['timeline', vmId, '--from', '2026-04-31T10:00:00Z'],
      'vm-timeline: --from is not a valid date: "2026-04-31T10:00:00Z"',
    ],
    [
      ['timeline', vmId, '--table-prefix', '9bad'],
      'vm-timeline: TABLE_NAME_PREFIX must be letters and digits, starting with a letter',
    ],
    [
      ['timeline', vmId, '--storage', 'not a connection string'],
      'vm-timeline: storage must be a connection string or a table endpoint URL',
    ],
    [
      ['ingest', '/nonexistent/events.json'],
      'vm-timeline: cannot read /nonexistent/events.json: no such file',
    ],
  ])('rejects %j with one clear line and exit 2', async (argv, message) => {
    const run = await runCli(argv);

    expect(run.code).toBe(2);
    const [first, second, ...more] = run.stderr.split('\n');
    expect(first).toBe(message);
    expect(second).toMatch(/^Run 'vm-timeline \w+ --help' for usage\.$/);
    expect(more.join('')).toBe('');
    expect(run.stdout).toBe('');
  });

  it('names each command once in the command table', () => {
    const names = commands.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
