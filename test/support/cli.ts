/** Runs the `vm-timeline` CLI in-process with captured output. */
import { Readable } from 'node:stream';
import { main } from '../../kit/cli';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  elapsedInMs: number;
}

export async function runCli(
  argv: string[],
  stdin?: string,
  env: Record<string, string> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const started = performance.now();
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from(stdin === undefined ? [] : [stdin]),
    env,
  });
  return { code, stdout, stderr, elapsedInMs: performance.now() - started };
}
