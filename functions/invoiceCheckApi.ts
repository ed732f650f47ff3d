import type { HttpRequest } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invoiceAgreement, maxAgreementPageSize } from '../src/app/invoice-agreement';
import { InputError } from '../src/app/errors';
import type { AppContext } from '../src/composition';
import { range, route, type Handler } from './api';

function pageSize(request: HttpRequest): number | undefined {
  const text = request.query.get('pageSize');
  if (text === null || text.trim() === '') return undefined;
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 1 || n > maxAgreementPageSize)
    throw new InputError(`pageSize must be a whole number from 1 to ${maxAgreementPageSize}`);
  return n;
}

/**
 * `GET /api/invoice-check?from&to`: the stored invoice checks (`check-invoice --store`) of the days the
 * range touches: totals (VM-days and hours that agree) and a page of the rows that disagree.
 */
export function invoiceCheckHandler(getContext: () => Promise<AppContext>): Handler {
  return route(
    'invoiceCheck',
    (request, ctx) => {
      const { from = 0, to = 0 } = range(request, true);
      return invoiceAgreement(ctx.invoiceChecks, {
        from,
        to,
        pageSize: pageSize(request),
        continuation: request.query.get('continuation') ?? undefined,
      });
    },
    getContext,
  );
}

export const invoiceCheck = invoiceCheckHandler(hostContext);

export const invoiceCheckApiFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'http',
  name: 'invoiceAgreement',
  options: {
    route: 'invoice-check',
    methods: ['GET'],
    authLevel: 'function',
    handler: invoiceCheckHandler(contextOf),
  },
});
