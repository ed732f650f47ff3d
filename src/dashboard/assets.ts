/**
 * The dashboard: one static page (`src/dashboard/index.html` + `dashboard.css` + `dashboard.js`, no
 * build step) served as one HTML document with its stylesheet and script inlined, so it needs one request
 * (behind the function key when deployed, where `functions/dashboard.ts` serves it). The files are read
 * from the source folder, which the deployment package keeps (`.funcignore` leaves out only `*.ts`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** `src/dashboard` seen from this module: this folder (sources) or from `dist/src/dashboard/`. */
export function dashboardDirectory(): string {
  const candidates = [__dirname, path.resolve(__dirname, '..', '..', '..', 'src', 'dashboard')];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? (candidates[0] as string);
}

/** Text safe inside a `<script>` or `<style>` element. */
function inlineSafe(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1');
}

/**
 * The page with `dashboard.css` and `dashboard.js` (followed by `coverage-panel.js`, the Coverage section's
 * script, in the same element) inlined, and the headers that let only those run.
 */
export async function dashboardResponse(
  directory = dashboardDirectory(),
): Promise<{ headers: Record<string, string>; body: string }> {
  const [html, css, js, coverage] = await Promise.all(
    ['index.html', 'dashboard.css', 'dashboard.js', 'coverage-panel.js'].map((file) =>
      readFile(path.join(directory, file), 'utf8'),
    ),
  );
  const style = `\n${inlineSafe(css ?? '')}`;
  const script = `\n${inlineSafe(`${js ?? ''}\n${coverage ?? ''}`)}`;
  const body = (html ?? '')
    .replace('<link rel="stylesheet" href="dashboard.css" />', () => `<style>${style}</style>`)
    .replace('<script src="dashboard.js"></script>', () => `<script>${script}</script>`);
  return { headers: dashboardHeaders({ script, style }), body };
}

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * Headers of the page: no caching, no framing, no Referer (the page's URL may still carry `?code=`
 * when it is sent), and only the inlined script and stylesheet (by their SHA-256) may run.
 */
export function dashboardHeaders(inlined: { script: string; style: string }): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'content-security-policy': `default-src 'none'; script-src ${sha256(inlined.script)}; style-src ${sha256(inlined.style)}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  };
}
