/** Help of `npm start -- --help` and `vm-timeline serve --help` (kept apart so the CLI loads the host only when run). */
export const localUsage = [
  'Usage: npm start -- [options]   (or: vm-timeline serve -- [options])',
  '',
  'Runs the Functions app locally: Azurite, the function handlers behind the Functions host routes on',
  '127.0.0.1, the timers, the queue trigger, the dashboard, and a sandbox subscription when none is set.',
  '',
  '  --port <n>                   host port (LOCAL_PORT; default 7071; 0 = any free port)',
  '  --fast                       sandbox: a change every ~3 s, reconcile every 20 s, alert grace 1 min',
  '  --sandbox-interval <s>       sandbox: seconds between changes (default 15)',
  '  --sandbox / --no-sandbox     force the sandbox on or off (default: on unless SUBSCRIPTION_IDS or',
  '                               ARM_ENDPOINT is set)',
  '  --azurite-ports <b,q,t>      ports of a started Azurite (default 10000,10001,10002; 0,0,0 = free ports)',
  '  --azurite-location <dir>     Azurite data folder (default .azurite/), or "memory"',
  '',
  'Example: npm start -- --fast --port 7072',
].join('\n');
