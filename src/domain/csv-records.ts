/**
 * Incremental CSV reading (RFC 4180): text arrives in chunks of any size, records come out as arrays
 * of fields. Quoted fields may hold commas, `""` and line breaks, and may span chunks. A leading byte
 * order mark is dropped; `\r\n` and `\n` both end a record; blank lines are skipped.
 */
export class CsvRecordReader {
  #field = '';
  #fields: string[] = [];
  #quoted = false;
  /** A quote just closed a quoted field: `"` next is an escaped quote, anything else ends the quoting. */
  #quoteClosed = false;
  #started = false;
  #pendingCr = false;

  /** Feeds a chunk; `onRecord` is called for every record the chunk completes. */
  push(chunk: string, onRecord: (fields: string[]) => void): void {
    let text = chunk;
    if (!this.#started) {
      if (text.length === 0) return;
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (this.#quoted) {
        const q = text.indexOf('"', i);
        if (q === -1) {
          this.#field += text.slice(i);
          return;
        }
        this.#field += text.slice(i, q);
        this.#quoted = false;
        this.#quoteClosed = true;
        i = q + 1;
        continue;
      }
      const c = text.charCodeAt(i);
      if (this.#quoteClosed) {
        this.#quoteClosed = false;
        if (c === 34) {
          // `""` inside quotes: a literal quote, still quoted.
          this.#field += '"';
          this.#quoted = true;
          i++;
          continue;
        }
      }
      if (this.#pendingCr) {
        this.#pendingCr = false;
        if (c === 10) {
          i++;
          continue;
        }
      }
      if (c === 34 && this.#field === '') {
        this.#quoted = true;
        i++;
        continue;
      }
      // Fast path: read up to the next separator.
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 44 || d === 10 || d === 13 || (d === 34 && j === i && this.#field === '')) break;
        j++;
      }
      if (j > i) this.#field += text.slice(i, j);
      if (j >= n) return;
      const d = text.charCodeAt(j);
      if (d === 44) {
        this.#fields.push(this.#field);
        this.#field = '';
        i = j + 1;
      } else if (d === 10 || d === 13) {
        this.#endRecord(onRecord);
        if (d === 13) this.#pendingCr = true;
        i = j + 1;
      } else i = j; // a quote opening a field: handled above
    }
  }

  /** Ends the input: emits a last record that had no line break. */
  end(onRecord: (fields: string[]) => void): void {
    if (this.#quoted) throw new CsvFormatError('the file ends inside a quoted field');
    this.#quoteClosed = false;
    if (this.#field !== '' || this.#fields.length > 0) this.#endRecord(onRecord);
  }

  #endRecord(onRecord: (fields: string[]) => void): void {
    this.#fields.push(this.#field);
    const fields = this.#fields;
    this.#fields = [];
    this.#field = '';
    if (fields.length === 1 && fields[0] === '') return; // blank line
    onRecord(fields);
  }
}

export class CsvFormatError extends Error {
  override name = 'CsvFormatError';
}
