/**
 * `vm-timeline` as installed here: the app's commands (`src/cli/main.ts`) plus the developer kit's
 * `serve` (the local host). The app never imports this module; `bin/vm-timeline.js` runs it.
 */
import { appCommands, main as appMain } from '../src/cli/main';
import type { CliIo, Command } from '../src/cli/command';
import { serveCommand } from './local/serve-command';

/** Every command, in help order: the app's, then the kit's. */
export const commands: readonly Command[] = [...appCommands, serveCommand];

export function main(argv: readonly string[], io?: CliIo): Promise<number> {
  return appMain(argv, io, commands);
}
