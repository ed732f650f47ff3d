/**
 * The dashboard page as the deployed `dashboard` function serves it (the local host serves the same
 * response; the browser test checks it there): no Referer leaves the page, and only the page's own
 * inlined script and stylesheet may run (by hash, not `'unsafe-inline'`).
 */
import { createHash } from 'node:crypto';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { dashboard } from '../../functions/dashboard';

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

describe('dashboard page', () => {
  it('sends no Referer and allows only its own inlined script and style, by hash', async () => {
    const response = await dashboard(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/dashboard?code=k' }),
      new InvocationContext({ functionName: 'dashboard' }),
    );
    const headers = response.headers as Record<string, string>;
    const body = typeof response.body === 'string' ? response.body : '';
    expect(headers['referrer-policy']).toBe('no-referrer');
    const csp = headers['content-security-policy'] ?? '';
    expect(csp).not.toContain('unsafe-inline');
    const script = /<script>([\s\S]*?)<\/script>/.exec(body)?.[1] ?? '';
    const style = /<style>([\s\S]*?)<\/style>/.exec(body)?.[1] ?? '';
    expect(script).toContain('history.replaceState');
    expect(csp).toContain(`script-src ${hash(script)};`);
    expect(csp).toContain(`style-src ${hash(style)};`);
    expect(body.match(/<script/g)).toHaveLength(1);
  });
});
