#!/usr/bin/env node
'use strict';
// The `vm-timeline` command: a shim over the compiled CLI (`npm run build` / `npm ci` build dist/), the app's
// commands plus the developer kit's `serve` (kit/cli.ts).

// A reader that stops early (`vm-timeline --help | head`) closes stdout: what is left to print is dropped and
// the command still finishes its work, instead of dying on an unhandled EPIPE with a stack trace.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
});
require('../dist/kit/cli.js')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`vm-timeline: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
