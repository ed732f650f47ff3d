/** The documented table names (a public interface: see README "Tables"). */
export const tableNames = {
  timeline: 'VmTimeline',
  current: 'VmCurrent',
  dailyUsage: 'VmDailyUsage',
  dailyDigest: 'VmDailyDigest',
  rejectedEvents: 'VmRejectedEvents',
  alerts: 'VmAlerts',
  reconcileRuns: 'VmReconcileRuns',
  backfill: 'VmBackfill',
  coverage: 'VmCoverage',
  invoiceCheck: 'VmInvoiceCheck',
} as const;
export type TableRole = keyof typeof tableNames;

/** Table names with an optional prefix (tests and side-by-side installs use one). */
export function prefixedTableNames(prefix = ''): Record<TableRole, string> {
  if (prefix !== '' && !/^[A-Za-z][A-Za-z0-9]{0,30}$/.test(prefix)) {
    throw new RangeError('table prefix must be letters and digits, starting with a letter');
  }
  const names = {} as Record<TableRole, string>;
  for (const [role, name] of Object.entries(tableNames) as [TableRole, string][])
    names[role] = `${prefix}${name}`;
  return names;
}
