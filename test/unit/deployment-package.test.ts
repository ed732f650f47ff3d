/**
 * The deployment package is the app alone: what `azd deploy` / `func azure functionapp publish` zips (the
 * project folder after `npm run build`, minus the `.funcignore` rules, node_modules installed there) holds the compiled functions
 * and everything they import, and nothing of the developer kit (kit/). The file list is the sources plus
 * the outputs `tsc -p tsconfig.build.json` writes for them, so no build is needed to check it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const read = (relative: string): string => readFileSync(path.join(root, relative), 'utf8');
const skippedFolders = new Set(['.git', 'node_modules', 'dist', 'coverage', 'test-results', '.azurite']);

function projectFiles(dir = ''): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) return skippedFolders.has(entry.name) ? [] : projectFiles(relative);
    return [relative];
  });
}

function buildConfig(): ts.ParsedCommandLine {
  const file = path.join(root, 'tsconfig.build.json');
  const { config } = ts.readConfigFile(file, (f) => ts.sys.readFile(f)) as { config: unknown };
  return ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, file);
}

/** `dist/<path>.js` for each TypeScript source the build compiles. */
function builtFiles(config: ts.ParsedCommandLine): string[] {
  return config.fileNames.map((file) => `dist/${path.relative(root, file).replace(/\.ts$/, '.js')}`);
}

function packaged(files: readonly string[]): string[] {
  const rules = ignore().add(read('.funcignore'));
  return files.filter((file) => !rules.ignores(file));
}

/** Project files (relative, .ts) the given entry files import, transitively (type-only imports included). */
function importClosure(entries: readonly string[], options: ts.CompilerOptions): Set<string> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const info = ts.preProcessFile(read(file), true, true);
    for (const { fileName } of info.importedFiles) {
      const resolved = ts.resolveModuleName(fileName, path.join(root, file), options, ts.sys).resolvedModule;
      if (resolved === undefined || resolved.isExternalLibraryImport) continue;
      queue.push(path.relative(root, resolved.resolvedFileName).split(path.sep).join('/'));
    }
  }
  return seen;
}

describe('the deployment package', () => {
  const config = buildConfig();
  const files = packaged([...projectFiles(), ...builtFiles(config)]);

  it('holds nothing of the developer kit: no kit/, no dist/kit/, no bin/ shim that runs it', () => {
    const kitFiles = files.filter((file) => /^(dist\/)?kit\/|^bin\//.test(file));

    expect(files.length).toBeGreaterThan(0);
    expect(kitFiles).toEqual([]);
  });

  it('holds the entry point package.json "main" names, every function module and everything they import', () => {
    const main = (JSON.parse(read('package.json')) as { main: string }).main;
    const functionSources = readdirSync(path.join(root, 'functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `functions/${f}`);
    const closure = importClosure([main.replace(/^dist\//, '').replace(/\.js$/, '.ts')], config.options);
    const needed = [...closure].map((file) => `dist/${file.replace(/\.ts$/, '.js')}`);

    expect(main).toBe('dist/functions/index.js');
    expect(functionSources.filter((file) => !closure.has(file))).toEqual([]);
    expect(needed.filter((file) => !files.includes(file))).toEqual([]);
    expect([...closure].filter((file) => !/^(src|functions)\//.test(file))).toEqual([]);
  });

  it('holds the dashboard page the deployed dashboard function reads', () => {
    for (const page of [
      'src/dashboard/index.html',
      'src/dashboard/dashboard.css',
      'src/dashboard/dashboard.js',
    ])
      expect(files).toContain(page);
    expect(files).toContain('host.json');
    expect(files).toContain('package.json');
  });

  it('leaves out sources, tests, infra and local settings', () => {
    const unwanted = files.filter((file) =>
      /^(test|infra|samples)\/|\.ts$|^local\.settings|^tsconfig|^vitest\.config/.test(file),
    );

    expect(unwanted).toEqual([]);
  });
});
