/**
 * The stored invoice check (`VmInvoiceCheck`): `check-invoice --store` keeps its rows, one per resource
 * and UTC day, so the dashboard can show how well the timeline agreed with the invoice over a range
 * without reading the export again. A later check of the same VM-day replaces the earlier one.
 */
import { InputError } from './errors';
import { dayName } from '../domain/daily-usage';
import {
  daysOf,
  InvoiceVerdict,
  totalsOf,
  type InvoiceCheckRow,
  type InvoiceCheckTotals,
} from '../domain/invoice-check';

/** One stored row: the check's row plus where it came from. */
export interface StoredInvoiceCheckRow extends InvoiceCheckRow {
  /** The export's file, folder or container the row was checked against. */
  exportName: string;
  /** ISO 8601 instant of the check. */
  checkedAt: string;
  toleranceInMinutes: number;
}

/** Port: the `VmInvoiceCheck` table. */
export interface InvoiceCheckStore {
  /** Replaces the rows of the same resource and day. */
  upsertRows(rows: readonly StoredInvoiceCheckRow[]): Promise<void>;
  /** The rows of one day (`yyyy-mm-dd`), in pages; nothing when the table does not exist. */
  listDay(day: string): AsyncIterable<StoredInvoiceCheckRow[]>;
}

export const maxAgreementPageSize = 200;
export const defaultAgreementPageSize = 50;

export interface AgreementQuery {
  from: number;
  to: number;
  pageSize?: number | undefined;
  /** The number of disagreeing rows already returned (from the previous page's `continuation`). */
  continuation?: string | undefined;
}

export interface AgreementPage {
  from: string;
  to: string;
  /** Days of the range with at least one stored row. */
  checkedDays: number;
  totals: InvoiceCheckTotals;
  /** Most recent check among the rows; null when none. */
  lastCheckedAt: string | null;
  /** The rows that do not agree, by day then resource (a page of them). */
  rows: StoredInvoiceCheckRow[];
  continuation: string | null;
}

/** Stores a check's rows. */
export async function storeInvoiceCheck(
  store: InvoiceCheckStore,
  rows: readonly InvoiceCheckRow[],
  source: { exportName: string; checkedAt: number; toleranceInMinutes: number },
): Promise<number> {
  const checkedAt = new Date(source.checkedAt).toISOString();
  await store.upsertRows(
    rows.map((row) => ({
      ...row,
      exportName: source.exportName,
      checkedAt,
      toleranceInMinutes: source.toleranceInMinutes,
    })),
  );
  return rows.length;
}

function offsetOf(continuation: string | undefined): number {
  if (continuation === undefined) return 0;
  const n = Number(continuation);
  if (!/^\d+$/.test(continuation) || !Number.isSafeInteger(n))
    throw new InputError('continuation is not a token this route returned');
  return n;
}

/** Agreement over `[from, to)` (whole UTC days touched by the range) and a page of the rows that disagree. */
export async function invoiceAgreement(
  store: InvoiceCheckStore,
  query: AgreementQuery,
): Promise<AgreementPage> {
  const pageSize = query.pageSize ?? defaultAgreementPageSize;
  const offset = offsetOf(query.continuation);
  const all: StoredInvoiceCheckRow[] = [];
  const disagreeing: StoredInvoiceCheckRow[] = [];
  let checkedDays = 0;
  let lastCheckedAt: string | null = null;
  for (const day of daysOf(query.from, query.to)) {
    let any = false;
    for await (const page of store.listDay(dayName(day))) {
      for (const row of page) {
        any = true;
        all.push(row);
        if (row.verdict !== InvoiceVerdict.agrees) disagreeing.push(row);
        if (lastCheckedAt === null || row.checkedAt > lastCheckedAt) lastCheckedAt = row.checkedAt;
      }
    }
    if (any) checkedDays++;
  }
  disagreeing.sort((a, b) =>
    a.day !== b.day
      ? a.day < b.day
        ? -1
        : 1
      : a.resourceId.toLowerCase() < b.resourceId.toLowerCase()
        ? -1
        : 1,
  );
  const rows = disagreeing.slice(offset, offset + pageSize);
  const next = offset + rows.length;
  return {
    from: new Date(query.from).toISOString(),
    to: new Date(query.to).toISOString(),
    checkedDays,
    totals: totalsOf(all),
    lastCheckedAt,
    rows,
    continuation: next < disagreeing.length ? String(next) : null,
  };
}
