import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { dashboardHeaders, dashboardPage } from '../src/local/dashboard-assets';

/**
 * `GET /api/dashboard?code=<function key>`: the dashboard page (the same one `npm start` serves at `/`).
 * It calls the HTTP API with the key it was opened with.
 */
export async function dashboard(
  _request: HttpRequest,
  _context: InvocationContext,
): Promise<HttpResponseInit> {
  return { status: 200, headers: { ...dashboardHeaders }, body: await dashboardPage() };
}

app.http('dashboard', { route: 'dashboard', methods: ['GET'], authLevel: 'function', handler: dashboard });
