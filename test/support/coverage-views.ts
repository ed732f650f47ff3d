/** The coverage report three ways at once: `vm-timeline coverage --json`, the text form, and GET /api/coverage. */
import { HttpRequest, InvocationContext } from '@azure/functions';
import { coverageHandler } from '../../functions/coverage';
import type { AppContext } from '../../src/composition';
import { runCli } from './cli';

export async function coverageViews(ctx: AppContext) {
  const settings = {
    TIMELINE_STORAGE: process.env['TIMELINE_STORAGE'] ?? '',
    TABLE_NAME_PREFIX: process.env['TABLE_NAME_PREFIX'] ?? '',
  };
  const cli = await runCli(['coverage', '--json'], undefined, settings);
  const text = await runCli(['coverage'], undefined, settings);
  const response = await coverageHandler(() => Promise.resolve(ctx))(
    new HttpRequest({ url: 'http://localhost/api/coverage', method: 'GET' }),
    new InvocationContext({ functionName: 'coverage', invocationId: 'test-coverage', logHandler: () => {} }),
  );
  return { cli, text, response };
}
