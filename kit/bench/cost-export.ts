/**
 * Benchmark `costExport`: reading a large generated FOCUS 1.0 CSV export the way `prices --from-export`
 * and `check-invoice` do (stream, split into records, classify, sum per VM and day), against the raw
 * read rate of the same file: `node:fs` stream alone, and `node:fs` stream + the CSV parser alone.
 * Peak memory is sampled while reading: it must stay bounded whatever the file's size.
 *
 * `BENCH_EXPORT_MB` (default 1024) sets the file's size; `BENCH_EXPORT_VMS` (default 10,000) the VMs.
 * The three reads alternate `BENCH_EXPORT_REPEATS` times (default 2) and each keeps its fastest pass:
 * the machines are shared, and a ratio of two passes minutes apart measures the neighbours.
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readCostExport } from '../../src/adapters/cost-export-files';
import { ExportAccumulator } from '../../src/domain/cost-export';
import { CsvRecordReader } from '../../src/domain/csv-records';
import { focusColumns, focusRow, focusVmUsage, vmId } from '../emulator/cost-exports';
import { atLeast, exactly, intSetting, sig3, type BenchmarkContext, type BenchmarkResult } from './benchmark';

const dayInMs = 86_400_000;
const start = Date.parse('2026-11-01T00:00:00Z');

/** Writes the export: per day and VM one compute row, one disk row, one bandwidth row, until the size is reached. */
async function writeExport(
  file: string,
  targetBytes: number,
  vms: number,
): Promise<{ rows: number; vmRows: number; vmDays: number }> {
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve()));
  let bytes = 0;
  let rows = 0;
  let vmRows = 0;
  const vmDays = new Set<string>();
  const header = `${focusColumns.join(',')}\r\n`;
  await write(header);
  bytes += header.length;
  let batch: string[] = [];
  for (let i = 0; bytes < targetBytes; i++) {
    const vm = i % vms;
    const day = Math.floor(i / vms) % 60;
    const dayName = new Date(start + day * dayInMs).toISOString().slice(0, 10);
    const id = vmId(`vm-${String(vm).padStart(5, '0')}`, `rg-${vm % 50}`);
    const hours = ((vm * 7 + day) % 24) + 0.5;
    const lines = [
      focusVmUsage({
        resourceId: id,
        day: dayName,
        hours,
        effectiveCost: hours * 0.096,
        pricingUnit: vm % 3 === 0 ? '10 Hours' : '1 Hour',
      }),
      focusRow({
        ChargeCategory: 'Usage',
        ChargePeriodStart: `${dayName}T00:00:00Z`,
        ConsumedQuantity: 0.0333,
        ConsumedUnit: 'GB/Month',
        EffectiveCost: 0.16,
        BilledCost: 0.16,
        ResourceId: `${id.replace('virtualMachines', 'disks')}_OsDisk`,
        ServiceName: 'Storage Accounts',
        x_SkuMeterCategory: 'Storage',
        Tags: '"team": "web", "env": "prod"',
      }),
      focusRow({
        ChargeCategory: 'Usage',
        ChargePeriodStart: `${dayName}T00:00:00Z`,
        ConsumedQuantity: 1.25,
        ConsumedUnit: 'GB',
        EffectiveCost: 0.1,
        BilledCost: 0.1,
        ResourceId: id,
        ServiceName: 'Bandwidth',
        x_SkuMeterCategory: 'Bandwidth',
      }),
    ];
    vmRows++;
    vmDays.add(`${vm} ${day}`);
    rows += lines.length;
    for (const l of lines) {
      batch.push(l);
      bytes += l.length + 2;
    }
    if (batch.length >= 3000) {
      await write(`${batch.join('\r\n')}\r\n`);
      batch = [];
    }
  }
  if (batch.length > 0) await write(`${batch.join('\r\n')}\r\n`);
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return { rows, vmRows, vmDays: vmDays.size };
}

/** A full garbage collection, so that a pass starts from the live memory only (not the last pass's garbage). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}

/** Runs `work` while sampling RSS; returns its duration and the peak RSS above the RSS before it. */
async function measured<T>(
  work: () => Promise<T>,
): Promise<{ result: T; seconds: number; peakRssMb: number }> {
  collectGarbage();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t = performance.now();
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, seconds: (performance.now() - t) / 1000, peakRssMb: (peak - before) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

async function rawRead(file: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>)
    bytes += chunk.length;
  return bytes;
}

async function rawParse(file: string): Promise<number> {
  let records = 0;
  const decoder = new StringDecoder('utf8');
  const reader = new CsvRecordReader();
  const count = () => {
    records++;
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>)
    reader.push(decoder.write(chunk), count);
  reader.end(count);
  return records - 1; // the header
}

/**
 * The full read again in a child Node process whose heap may not exceed `heapInMb`: it completes only if
 * the memory it keeps is bounded by that (RSS peaks measure V8's heap growth policy as much as the data).
 */
function readWithHeapLimit(file: string, heapInMb: number): Promise<{ ok: boolean; detail: string }> {
  const script = `
    const { readCostExport } = require(${JSON.stringify(path.join(__dirname, '../../src/adapters/cost-export-files.js'))});
    const { ExportAccumulator } = require(${JSON.stringify(path.join(__dirname, '../../src/domain/cost-export.js'))});
    const acc = new ExportAccumulator();
    readCostExport(${JSON.stringify(file)}, acc).then(() => {
      process.stdout.write(JSON.stringify({ vmDays: acc.vmDays().length, heapUsedMb: process.memoryUsage().heapUsed / 1048576 }));
    });`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`--max-old-space-size=${heapInMb}`, '-e', script],
      { maxBuffer: 1 << 20 },
      (error, stdout, stderr) =>
        resolve(
          error === null
            ? { ok: true, detail: stdout }
            : { ok: false, detail: `${error.message} ${stderr.slice(-300)}` },
        ),
    );
  });
}

export async function runCostExportBenchmark(context: BenchmarkContext): Promise<BenchmarkResult> {
  const sizeMb = intSetting('BENCH_EXPORT_MB', 1024);
  const vms = intSetting('BENCH_EXPORT_VMS', 10_000);
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-cost-export-'));
  const file = path.join(dir, 'focus-export.csv');
  try {
    context.progress(`writing a ${sizeMb} MB FOCUS 1.0 export of ${vms} VMs`);
    const written = await writeExport(file, sizeMb * 2 ** 20, vms);
    const bytes = (await stat(file)).size;
    context.progress(`wrote ${written.rows} rows, ${(bytes / 2 ** 20).toFixed(0)} MB`);
    const repeats = intSetting('BENCH_EXPORT_REPEATS', 2);
    type Pass<T> = Awaited<ReturnType<typeof measured<T>>>;
    const fastest = <T>(best: Pass<T> | undefined, pass: Pass<T>): Pass<T> =>
      best === undefined || pass.seconds < best.seconds
        ? { ...pass, peakRssMb: Math.max(pass.peakRssMb, best?.peakRssMb ?? 0) }
        : { ...best, peakRssMb: Math.max(pass.peakRssMb, best.peakRssMb) };
    let raw: Pass<number> | undefined;
    let parsed: Pass<number> | undefined;
    let full: Pass<ExportAccumulator> | undefined;
    for (let pass = 1; pass <= repeats; pass++) {
      full = fastest(
        full,
        await measured(async () => {
          const acc = new ExportAccumulator();
          await readCostExport(file, acc);
          return acc;
        }),
      );
      parsed = fastest(parsed, await measured(() => rawParse(file)));
      raw = fastest(raw, await measured(() => rawRead(file)));
      context.progress(
        `pass ${pass}/${repeats}: raw read ${raw.seconds.toFixed(1)} s, parser alone ${parsed.seconds.toFixed(1)} s, full read ${full.seconds.toFixed(1)} s (fastest so far)`,
      );
    }
    if (raw === undefined || parsed === undefined || full === undefined) throw new Error('no pass ran');
    const heapLimitInMb = intSetting('BENCH_EXPORT_HEAP_MB', 256);
    context.progress(`full read in a child process limited to a ${heapLimitInMb} MB heap`);
    const limited = await readWithHeapLimit(file, heapLimitInMb);
    const stats = full.result.stats();
    const vmDays = full.result.vmDays().length;
    const rowsPerSecond = stats.rowsRead / full.seconds;
    const parserRowsPerSecond = parsed.result / parsed.seconds;
    const rawRowsPerSecond = written.rows / raw.seconds;
    return {
      figures: {
        passes: repeats,
        fileMb: sig3(bytes / 2 ** 20),
        rows: written.rows,
        vmRows: written.vmRows,
        vmDays,
        full: {
          seconds: sig3(full.seconds),
          rowsPerSecond: sig3(rowsPerSecond),
          mbPerSecond: sig3(bytes / 2 ** 20 / full.seconds),
          /** The highest of the passes. */
          peakRssAboveStartMb: sig3(full.peakRssMb),
          rowsKept: stats.rowsKept,
          skipped: stats.skipped,
        },
        parserAlone: {
          seconds: sig3(parsed.seconds),
          rowsPerSecond: sig3(parserRowsPerSecond),
          peakRssAboveStartMb: sig3(parsed.peakRssMb),
        },
        heapLimited: { heapLimitInMb, completed: limited.ok, detail: limited.detail },
        rawRead: {
          seconds: sig3(raw.seconds),
          mbPerSecond: sig3(bytes / 2 ** 20 / raw.seconds),
          rowsPerSecond: sig3(rawRowsPerSecond),
        },
      },
      targets: [
        exactly('rows read = rows written', stats.rowsRead, written.rows),
        exactly('rows kept = VM compute rows', stats.rowsKept, written.vmRows),
        exactly('VM-days summed', vmDays, written.vmDays),
        atLeast('rate / parser-alone rate', rowsPerSecond / parserRowsPerSecond, 0.5),
        exactly(`full read completes within a ${heapLimitInMb} MB heap (1 = yes)`, limited.ok ? 1 : 0, 1),
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
