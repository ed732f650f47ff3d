/**
 * The dependency rules `npm run lint` checks (.dependency-cruiser.cjs) catch the imports they forbid: each
 * case writes a tiny project with one bad import into a temporary folder and cruises it with the
 * repository's rules; the real tree is cruised last and must be clean.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}
interface CruiseResult {
  output: { summary: { violations: Violation[] } };
}
type Cruise = (files: string[], options: object) => Promise<CruiseResult>;

const root = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rules = require(path.join(root, '.dependency-cruiser.cjs')) as { forbidden: object[]; options: object };
const work = mkdtempSync(path.join(tmpdir(), 'dep-rules-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function cruise(files: Readonly<Record<string, string>>, baseDir?: string): Promise<Violation[]> {
  // dependency-cruiser is ESM-only: loaded through a dynamic import.
  const { cruise: run } = (await import('dependency-cruiser')) as unknown as { cruise: Cruise };
  let dir = baseDir;
  if (dir === undefined) {
    dir = mkdtempSync(path.join(work, 'case-'));
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
  }
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const result = await run(
      ['src', 'functions', 'kit'].filter((d) => baseDir !== undefined || d in topFolders(files)),
      {
        validate: true,
        ruleSet: { forbidden: rules.forbidden },
        tsPreCompilationDeps: true,
        moduleSystems: ['cjs', 'es6'],
        doNotFollow: { path: 'node_modules' },
        exclude: { path: '^(dist|node_modules|coverage)/' },
      },
    );
    return result.output.summary.violations;
  } finally {
    process.chdir(cwd);
  }
}

function topFolders(files: Readonly<Record<string, string>>): Record<string, true> {
  return Object.fromEntries(Object.keys(files).map((file) => [file.split('/')[0] as string, true]));
}

const ruleNames = (violations: Violation[]): string[] => violations.map((v) => v.rule.name);

// Loading dependency-cruiser (ESM, many modules) takes seconds on a busy machine: the first case pays for it.
describe('dependency rules', { timeout: 60_000 }, () => {
  it('fail an app module that imports the developer kit', async () => {
    const violations = await cruise({
      'src/cli/serve.ts': "import { kit } from '../../kit/local/host';\nexport const x = kit;\n",
      'kit/local/host.ts': 'export const kit = 1;\n',
    });

    expect(ruleNames(violations)).toContain('app-not-kit');
  });

  it('fail a domain module that imports a use case, and a use case that imports config or an adapter', async () => {
    const violations = await cruise({
      'src/domain/a.ts': "import { b } from '../app/b';\nexport const a = b;\n",
      'src/app/b.ts':
        "import { c } from '../config';\nimport { d } from '../adapters/d';\nexport const b = c + d;\n",
      'src/config.ts': 'export const c = 1;\n',
      'src/adapters/d.ts': 'export const d = 1;\n',
    });

    expect(ruleNames(violations)).toEqual(expect.arrayContaining(['domain-pure', 'use-cases-inward']));
    expect(violations.filter((v) => v.rule.name === 'use-cases-inward').map((v) => v.to)).toEqual(
      expect.arrayContaining(['src/config.ts', 'src/adapters/d.ts']),
    );
  });

  it('fail a cycle between two modules', async () => {
    const violations = await cruise({
      'src/cli/a.ts': "import { b } from './b';\nexport const a = (): number => b();\n",
      'src/cli/b.ts': "import { a } from './a';\nexport const b = (): number => a();\n",
    });

    expect(ruleNames(violations)).toContain('no-circular');
  });

  it('fail an adapter that imports the composition root, and a use case that imports an SDK', async () => {
    const violations = await cruise({
      'src/adapters/x.ts': "import { wire } from '../composition';\nexport const x = wire;\n",
      'src/composition.ts': 'export const wire = 1;\n',
      'src/app/y.ts': "import { TableClient } from '@azure/data-tables';\nexport const y = TableClient;\n",
    });

    expect(ruleNames(violations)).toEqual(expect.arrayContaining(['adapters-inward', 'sdk-in-adapters']));
  });

  it('fail a function or the composition root that imports an SDK throwing RestError', async () => {
    const violations = await cruise({
      'functions/x.ts':
        "import { isRestError } from '@azure/core-rest-pipeline';\nexport const x = isRestError;\n",
      'src/composition.ts':
        "import { RestError } from '@azure/data-tables';\nexport const wire = RestError;\n",
    });

    expect(violations.filter((v) => v.rule.name === 'sdk-errors-in-adapters').map((v) => v.from)).toEqual(
      expect.arrayContaining(['functions/x.ts', 'src/composition.ts']),
    );
  });

  it('find no violation in this repository', async () => {
    expect(await cruise({}, root)).toEqual([]);
  }, 60_000);
});
