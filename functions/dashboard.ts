import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { FunctionRegistration } from './registration';
import { dashboardResponse } from '../src/dashboard/assets';

/**
 * `GET /api/dashboard?code=<function key>`: the dashboard page (the same one `npm start` serves at `/`).
 * It calls the HTTP API with the key it was opened with, and drops `?code=` from the address bar.
 */
export async function dashboard(
  _request: HttpRequest,
  _context: InvocationContext,
): Promise<HttpResponseInit> {
  const page = await dashboardResponse();
  return { status: 200, headers: page.headers, body: page.body };
}

export const dashboardFunction: FunctionRegistration = {
  kind: 'http',
  name: 'dashboard',
  options: { route: 'dashboard', methods: ['GET'], authLevel: 'function', handler: dashboard },
};
