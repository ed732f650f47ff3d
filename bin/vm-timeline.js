#!/usr/bin/env node
'use strict';
// The `vm-timeline` command: a shim over the compiled CLI (`npm run build` / `npm ci` build dist/).
require('../dist/src/cli/main.js')
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
