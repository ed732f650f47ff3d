/** An AppContext on the test Azurite, with tables no other test uses. */
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/adapters/logger';
import { createAppContext, type AppContext, type ContextOptions } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { tableConnectionString } from './azurite';

export function uniquePrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** Settings for a test app: Azurite storage, unique table prefix, the given ARM endpoint. */
export function testSettings(armEndpoint = 'http://127.0.0.1:9'): Record<string, string> {
  return {
    TIMELINE_STORAGE: tableConnectionString(),
    TABLE_NAME_PREFIX: uniquePrefix(),
    ARM_ENDPOINT: armEndpoint,
  };
}

export async function testContext(
  settings: Record<string, string> = testSettings(),
  options: ContextOptions = {},
): Promise<AppContext> {
  const ctx = createAppContext(loadConfig(settings), { log: silentLogger, ...options });
  await ctx.ensureTables();
  return ctx;
}

/** Deletes the context's tables. */
export async function dropTables(ctx: AppContext): Promise<void> {
  for (const name of Object.values(ctx.tableNames)) await ctx.tables.table(name).deleteTable();
}
