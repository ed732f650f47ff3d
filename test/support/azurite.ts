import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { AzuriteEndpoints } from './azurite-endpoints';

/**
 * The Azurite started (or reused) by `test/global-setup.ts`. Only tests under `test/integration/` get it:
 * that project is the one that runs the global setup.
 */
export function azurite(): AzuriteEndpoints {
  const endpoints = inject('azurite') as AzuriteEndpoints | undefined;
  if (endpoints === undefined) {
    throw new Error(
      'Azurite is not available: only tests under test/integration/ get it (vitest global setup)',
    );
  }
  return endpoints;
}

/**
 * Connection string for the Azurite dev account. It names an http endpoint, so a `TableClient` built from
 * it needs `{ allowInsecureConnection: true }`.
 */
export function tableConnectionString(): string {
  return azurite().connectionString;
}

const tableNamePattern = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/**
 * A table name no other test uses: `prefix` + random suffix. Table names are alphanumeric, 3-63
 * characters and start with a letter; `prefix` must obey that too and leave room for the suffix.
 */
export function uniqueTableName(prefix: string): string {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  if (!tableNamePattern.test(name)) {
    throw new RangeError(
      `Invalid table name prefix ${JSON.stringify(prefix)}: use letters and digits, start with a letter, at most 51 characters`,
    );
  }
  return name;
}
