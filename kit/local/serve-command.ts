/** `vm-timeline serve`: the local host (`npm start` without the build), see `local-app.ts`. */
import { stringOption, type Command } from '../../src/cli/command';
import { localUsage } from './local-usage';
import { runLocal } from './start';

export const serveCommand: Command = {
  name: 'serve',
  synopsis: '[-- host options]',
  summary: 'run the app locally: Functions host routes, timers, queue, dashboard, sandbox',
  description: [
    localUsage,
    '',
    'Example: vm-timeline serve -- --fast   (then open the Dashboard URL it prints)',
  ].join('\n'),
  options: {},
  arguments: ['[host-options...]'],
  async run(invocation) {
    // The options every command takes name the app settings the local host reads.
    const settings = {
      storage: 'TIMELINE_STORAGE',
      'arm-endpoint': 'ARM_ENDPOINT',
      'table-prefix': 'TABLE_NAME_PREFIX',
    };
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [option, setting] of Object.entries(settings)) {
      const value = stringOption(invocation.options, option);
      if (value !== undefined) env[setting] = value;
    }
    return (await runLocal(invocation.args, (line) => invocation.print(line), env)) === 0 ? 0 : 1;
  },
};
