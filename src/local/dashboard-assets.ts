/**
 * The dashboard: one static page (`src/local/dashboard/index.html` + `dashboard.css` + `dashboard.js`, no
 * build step) served as one HTML document with its stylesheet and script inlined, so it needs one request
 * (behind the function key when deployed, where `functions/dashboard.ts` serves it). The files are read
 * from the source folder, which the deployment package keeps (`.funcignore` leaves out only `*.ts`).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** `src/local/dashboard` seen from this module: next to it (sources) or from `dist/src/local/`. */
export function dashboardDirectory(): string {
  const candidates = [
    path.join(__dirname, 'dashboard'),
    path.resolve(__dirname, '..', '..', '..', 'src', 'local', 'dashboard'),
  ];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? (candidates[0] as string);
}

/** Text safe inside a `<script>` or `<style>` element. */
function inlineSafe(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1');
}

/** The page with `dashboard.css` and `dashboard.js` inlined. */
export async function dashboardPage(directory = dashboardDirectory()): Promise<string> {
  const [html, css, js] = await Promise.all(
    ['index.html', 'dashboard.css', 'dashboard.js'].map((file) =>
      readFile(path.join(directory, file), 'utf8'),
    ),
  );
  return (html ?? '')
    .replace(
      '<link rel="stylesheet" href="dashboard.css" />',
      () => `<style>\n${inlineSafe(css ?? '')}</style>`,
    )
    .replace('<script src="dashboard.js"></script>', () => `<script>\n${inlineSafe(js ?? '')}</script>`);
}

/** Headers of the page: no caching, no framing, scripts and styles only from the page itself. */
export const dashboardHeaders: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
};
