/**
 * The usage report as one JSON document (the text of `JSON.stringify(report)`, grouped with a newline
 * per page of VMs read), written piece by piece as the report reads the fleet: the opening members once
 * the first page of VMs has been read, grouped by VM each row as its chunk of VMs completes, then the
 * closing members. The reader pulls: the report waits while more than `highWaterInChars` of text is
 * waiting to be read, so memory holds a chunk of VMs and that much text, whatever the fleet's size.
 *
 * A failure before the first page of VMs is read (bad range, storage unreachable) propagates from the
 * first `next()`: nothing was written, the caller can still answer with an error status. A failure after
 * it cannot change what was sent: `onFailure` is told, and the text ends with `failureTrailer` instead of
 * the document's closing members, so the body is never valid JSON and its last line says why.
 */
import type { GroupedUsageReport, UsageQuery, UsageReportDependencies, UsageReportRow } from './usage-report';
import { groupByName, usageReport } from './usage-report';
import { GroupKind } from '../domain/grouping';

/** The last line of a body whose report failed after the answer began (a constant: no error text leaks). */
export const failureTrailer =
  '\n{"error":"the usage report failed after the answer began; the rows above are incomplete"}\n';

const highWaterInChars = 64 * 1024;

class Cancelled extends Error {}

export interface UsageReportJsonOptions {
  /** Told of a failure after the answer began, with the rows written before it. */
  onFailure: (error: unknown, rowsWritten: number) => void;
}

/** The members before `rows`, in the order `usageReport` builds them. */
function opening(query: UsageQuery): string {
  const text = JSON.stringify({
    from: new Date(query.from).toISOString(),
    to: new Date(query.to).toISOString(),
    asOf: new Date(query.asOf).toISOString(),
    groupBy: groupByName(query.groupBy),
  });
  return `${text.slice(0, -1)},"rows":[`;
}

/** The rows the report kept (grouped: all of them) and the members after `rows`, then the closing brace. */
function closing(report: GroupedUsageReport, rowsBefore: number): string {
  const { from: _f, to: _t, asOf: _a, groupBy: _g, rows, ...rest } = report;
  const rowText = rows.map((row, i) => `${rowsBefore + i > 0 ? ',' : ''}${JSON.stringify(row)}`).join('');
  const tail = JSON.stringify(rest);
  return `${rowText}]${tail === '{}' ? '}' : `,${tail.slice(1)}`}`;
}

export function usageReportJson(
  deps: UsageReportDependencies,
  query: UsageQuery,
  options: UsageReportJsonOptions,
): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator]: () => pieces(deps, query, options)[Symbol.asyncIterator](),
  };
}

async function* pieces(
  deps: UsageReportDependencies,
  query: UsageQuery,
  options: UsageReportJsonOptions,
): AsyncGenerator<string> {
  const waiting: string[] = [];
  let waitingChars = 0;
  let opened = false;
  const byVm = (query.groupBy?.kind ?? GroupKind.vm) === GroupKind.vm;
  let rowsWritten = 0;
  let finished = false;
  let cancelled = false;
  let outcome: { report: GroupedUsageReport } | { error: unknown } | undefined;
  /** Wakes the reader (something to read, or the report ended). */
  let wakeReader: (() => void) | undefined;
  /** Lets the report go on (the reader took what was waiting, or left). */
  let wakeReport: (() => void) | undefined;
  const wake = (): void => {
    wakeReader?.();
    wakeReader = undefined;
  };
  const put = (text: string): void => {
    waiting.push(text);
    waitingChars += text.length;
    wake();
  };
  const open = (): void => {
    if (opened) return;
    opened = true;
    put(opening(query));
  };
  const onPage = (): void => {
    if (cancelled) throw new Cancelled();
    // Grouped, nothing else is written until the end: a newline (JSON whitespace) per page keeps the
    // connection from looking idle (Azure's load balancer drops an HTTP response idle for 230 s).
    if (opened && !byVm) put('\n');
    open();
  };
  const onRow = async (row: UsageReportRow): Promise<void> => {
    if (cancelled) throw new Cancelled();
    put(`${rowsWritten > 0 ? ',' : ''}${JSON.stringify(row)}`);
    rowsWritten += 1;
    if (waitingChars > highWaterInChars) await new Promise<void>((resolve) => (wakeReport = resolve));
    if (cancelled) throw new Cancelled();
  };
  void usageReport(deps, query, { onRow, onPage })
    .then(
      (report) => (outcome = { report }),
      (error: unknown) => (outcome = { error }),
    )
    .finally(() => {
      finished = true;
      wake();
    });
  try {
    for (;;) {
      if (waiting.length > 0) {
        const text = waiting.join('');
        waiting.length = 0;
        waitingChars = 0;
        wakeReport?.();
        wakeReport = undefined;
        yield text;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => (wakeReader = resolve));
    }
    if (outcome === undefined || !('report' in outcome)) {
      const error = outcome?.error;
      // Before the opening was read, the caller can still answer with an error.
      if (!opened) throw error;
      options.onFailure(error, rowsWritten);
      yield failureTrailer;
      return;
    }
    const start = opened ? '' : opening(query);
    yield `${start}${closing(outcome.report, rowsWritten)}`;
  } finally {
    // The reader left (the client went away): the report stops at its next row.
    cancelled = true;
    wakeReport?.();
  }
}
