import { execFile, spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');
const compiledMain = path.join(root, 'dist/kit/cli.js');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts'))
      newest = Math.max(newest, (await stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

async function mtime(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return undefined;
  }
}

describe('the vm-timeline bin', () => {
  beforeAll(async () => {
    const built = await mtime(compiledMain);
    if (built !== undefined && built >= (await newestSource(path.join(root, 'src')))) return;
    // What `npm ci` does through `prepare`. Type errors elsewhere still emit JavaScript; the help below
    // is what this test checks.
    await run(
      process.execPath,
      [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: root },
    ).catch(() => undefined);
    expect(await mtime(compiledMain)).toBeDefined();
  }, 180_000);

  it('prints the help and exits 0 when run as a process', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [path.join(root, 'bin/vm-timeline.js'), '--help'],
      { cwd: root, timeout: 20_000 },
    );

    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: vm-timeline <command> \[options\]/);
    expect(stdout).toContain('ingest <file|->');
    expect(stdout).toContain('--storage');
  });

  it('exits 2 with one line on stderr for an unknown option', async () => {
    const failure = await run(process.execPath, [path.join(root, 'bin/vm-timeline.js'), 'usage', '--bogus'], {
      cwd: root,
      timeout: 20_000,
    }).then(
      () => undefined,
      (error: unknown) => error as { code?: number; stderr?: string },
    );

    expect(failure?.code).toBe(2);
    expect(failure?.stderr?.split('\n')[0]).toBe("vm-timeline: unknown option '--bogus'");
  });

  it('ends normally when the reader of its output has gone (vm-timeline --help | head)', async () => {
    const child = spawn(process.execPath, [path.join(root, 'bin/vm-timeline.js'), '--help'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
