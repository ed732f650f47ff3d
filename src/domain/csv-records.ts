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
    // Next line feed / carriage return at or after i (n when none is left in this chunk): found with
    // the native indexOf once per line rather than once per field.
    let lf = -1;
    let cr = -1;
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
      if (lf < i) {
        lf = text.indexOf('\n', i);
        if (lf === -1) lf = n;
      }
      if (cr < i) {
        cr = text.indexOf('\r', i);
        if (cr === -1) cr = n;
      }
      const lineEnd = lf < cr ? lf : cr;
      let j = text.indexOf(',', i);
      if (j === -1 || j > lineEnd) j = lineEnd;
      if (j > i) this.#field += text.slice(i, j);
      if (j >= n) return;
      if (j === lineEnd) {
        this.#endRecord(onRecord);
        if (text.charCodeAt(j) === 13) this.#pendingCr = true;
      } else {
        this.#fields.push(this.#field);
        this.#field = '';
      }
      i = j + 1;
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
