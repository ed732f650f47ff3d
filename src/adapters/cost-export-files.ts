/**
 * Reads Cost Management export files as a stream: a file or a folder (searched recursively, as Cost
 * Management writes scheduled exports in dated subfolders) of `.csv`, `.csv.gz` / `.gz` (gzip, also
 * recognised by its magic bytes) and `.parquet` files. A CSV file is read in chunks, decompressed and
 * split into records on the fly; a Parquet file one row group at a time (hyparquet, pure JavaScript,
 * Snappy built in), so memory stays bounded by a chunk or a row group whatever the file's size; rows
 * go to an `ExportAccumulator` one by one. A blob container URL is read the same way, from the blobs
 * (see `cost-export-blobs.ts`).
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import {
  CostExportError,
  exportRowReader,
  type ExportAccumulator,
  type RowOptions,
} from '../domain/cost-export';
import { CsvFormatError, CsvRecordReader } from '../domain/csv-records';
import {
  blobExportEntries,
  isContainerUrl,
  type BlobExportOptions,
  type ExportEntry,
} from './cost-export-blobs';

const exportFile = /\.(csv|csv\.gz|gz|parquet)$/i;
const parquetFile = /\.parquet$/i;

/** The export files at `location`: the file itself, or every export file under the folder, in name order. */
export async function listExportFiles(location: string): Promise<string[]> {
  let info;
  try {
    info = await stat(location);
  } catch (error) {
    throw new CostExportError(`cannot read ${location}: ${(error as Error).message}`);
  }
  if (info.isFile()) return [location];
  const files: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (exportFile.test(entry.name)) files.push(full);
    }
  };
  await walk(location);
  if (files.length === 0)
    throw new CostExportError(`no export files (.csv, .csv.gz, .parquet) under ${location}`);
  return files.sort();
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

export interface ReadExportOptions extends RowOptions {
  /** Called after each file with its name and the rows read so far. */
  onFile?: (file: string, rowsRead: number) => void;
  /** How a blob container is read (identity, runs). */
  blobs?: BlobExportOptions | undefined;
}

/** A local file as an export entry. */
async function fileEntry(file: string): Promise<ExportEntry> {
  const hyparquet = await import('hyparquet');
  let buffer: Awaited<ReturnType<typeof hyparquet.asyncBufferFromFile>> | undefined;
  const parquet = parquetFile.test(file);
  if (parquet) buffer = await hyparquet.asyncBufferFromFile(file);
  return {
    name: file,
    parquet,
    byteLength: buffer?.byteLength ?? 0,
    isGzip: () => isGzip(file),
    stream: () => Promise.resolve(createReadStream(file, { highWaterMark: 1 << 20 })),
    slice: async (start, end) => {
      if (buffer === undefined) throw new CostExportError(`${file}: not a Parquet file`);
      return buffer.slice(start, end);
    },
  };
}

/** Streams every row of the export at `location` (a file, a folder or a blob container URL) into `accumulator`. */
export async function readCostExport(
  location: string,
  accumulator: ExportAccumulator,
  options: ReadExportOptions = {},
): Promise<void> {
  const entries = isContainerUrl(location)
    ? await blobExportEntries(location, options.blobs)
    : await Promise.all((await listExportFiles(location)).map(fileEntry));
  for (const entry of entries) {
    await readOneFile(entry, accumulator, options);
    options.onFile?.(entry.name, accumulator.stats().rowsRead);
  }
}

/** A Parquet value as the CSV text the row reader expects. */
function fieldOf(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

async function readParquetFile(
  entry: ExportEntry,
  accumulator: ExportAccumulator,
  options: RowOptions,
): Promise<void> {
  // hyparquet is an ES module: loaded on demand from this CommonJS build.
  const hyparquet = await import('hyparquet');
  const buffer = {
    byteLength: entry.byteLength,
    slice: (start: number, end?: number) => entry.slice(start, end),
  };
  const metadata = await hyparquet.parquetMetadataAsync(buffer);
  const names = hyparquet.parquetSchema(metadata).children.map((child) => child.element.name);
  const rows = exportRowReader(names, options);
  accumulator.startFile(rows.format);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    await hyparquet.parquetRead({
      file: buffer,
      metadata,
      columns: names,
      rowStart,
      rowEnd,
      onComplete: (data: unknown[][]) => {
        for (const row of data) accumulator.add(rows.read(row.map(fieldOf)));
      },
    });
    rowStart = rowEnd;
  }
}

async function readOneFile(
  entry: ExportEntry,
  accumulator: ExportAccumulator,
  options: RowOptions,
): Promise<void> {
  const file = entry.name;
  if (entry.parquet) {
    try {
      await readParquetFile(entry, accumulator, options);
    } catch (error) {
      if (error instanceof CostExportError) throw new CostExportError(`${file}: ${error.message}`);
      throw new CostExportError(`${file}: cannot read as Parquet: ${(error as Error).message}`);
    }
    return;
  }
  let gzip: boolean;
  let raw: NodeJS.ReadableStream;
  try {
    gzip = await entry.isGzip();
    raw = await entry.stream();
  } catch (error) {
    if (error instanceof CostExportError) throw error;
    throw new CostExportError(`${file}: cannot read: ${(error as Error).message}`);
  }
  const stream: NodeJS.ReadableStream & { destroy(error?: Error): void } = gzip
    ? raw.pipe(createGunzip())
    : (raw as NodeJS.ReadableStream & { destroy(error?: Error): void });
  raw.on('error', (error: Error) => stream.destroy(error));
  const decoder = new StringDecoder('utf8');
  const reader = new CsvRecordReader();
  let read:
    ((fields: readonly string[]) => ReturnType<ReturnType<typeof exportRowReader>['read']>) | undefined;
  const onRecord = (fields: string[]) => {
    if (read === undefined) {
      const rows = exportRowReader(fields, options);
      accumulator.startFile(rows.format);
      read = rows.read;
      return;
    }
    accumulator.add(read(fields));
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) reader.push(decoder.write(chunk), onRecord);
    reader.push(decoder.end(), onRecord);
    reader.end(onRecord);
  } catch (error) {
    stream.destroy();
    if (error instanceof CostExportError || error instanceof CsvFormatError)
      throw new CostExportError(`${file}: ${error.message}`);
    throw new CostExportError(`${file}: cannot read: ${(error as Error).message}`);
  }
  if (read === undefined) throw new CostExportError(`${file}: the file is empty (no header row)`);
}
