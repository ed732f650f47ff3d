import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { coverageReport } from '../src/app/coverage';
import { ensureError } from '../src/app/errors';
import type { AppContext } from '../src/composition';

/** `GET /api/coverage`: the coverage report, as `vm-timeline coverage --json`. */
export function coverageHandler(
  getContext: () => Promise<AppContext>,
): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (_request, context) => {
    try {
      return { status: 200, jsonBody: await coverageReport(await getContext()) };
    } catch (error) {
      invocationLogger(context).error('api request failed', {
        route: 'coverage',
        error: ensureError(error).message,
      });
      throw error;
    }
  };
}

export const coverage = coverageHandler(hostContext);

export const coverageFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'http',
  name: 'coverage',
  options: {
    route: 'coverage',
    methods: ['GET'],
    authLevel: 'function',
    handler: coverageHandler(contextOf),
  },
});
