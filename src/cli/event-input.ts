/**
 * Reads events as delivered to a webhook: one JSON array, one JSON object, or NDJSON (one event, or one
 * array of events, per line). Input that is none of these names the line at fault.
 */
import { InputError } from '../app/errors';

function parseLine(line: string): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return Array.isArray(value) ? (value as unknown[]) : [value];
  } catch {
    return undefined;
  }
}

/** Events in `text`, in input order. Throws InputError naming the line when the text is not JSON or NDJSON. */
export function parseEvents(text: string): unknown[] {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') return [];
  const whole = parseLine(body);
  if (whole !== undefined) return whole;

  const lines = body.split(/\r?\n/);
  const events: unknown[] = [];
  let firstBad: number | undefined;
  let firstGood: number | undefined;
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const parsed = parseLine(line);
    if (parsed === undefined) {
      firstBad ??= index + 1;
      return;
    }
    firstGood ??= index + 1;
    events.push(...parsed);
  });
  if (firstBad === undefined) return events;
  // NDJSON with a bad line, when the first line holds JSON of its own; else one document spread over lines.
  if (firstGood !== undefined && firstGood < firstBad) {
    throw new InputError(
      `line ${firstBad} is not valid JSON (input must be a JSON array, a JSON object or NDJSON)`,
    );
  }
  const { line, column } = lineAndColumn(body, jsonErrorOffset(body));
  throw new InputError(
    `line ${line}, column ${column}: invalid JSON (input must be a JSON array, a JSON object or NDJSON)`,
  );
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Offset of the first syntax error in a JSON document (a small recursive-descent validator: the
 * messages of JSON.parse do not give a position on every Node version).
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  class Stop extends Error {}
  const fail = (): never => {
    throw new Stop();
  };
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text.charAt(i))) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const string = () => {
    i++; // opening quote
    while (i < text.length) {
      const c = text.charAt(i);
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const next = text.charAt(i + 1);
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return fail();
          i += 6;
        } else if ('"\\/bfnrt'.includes(next) && next !== '') i += 2;
        else return fail();
      } else if (c < ' ') return fail();
      else i++;
    }
    fail();
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (match === null) return fail();
    i += match[0].length;
  };
  const value = (): void => {
    ws();
    const c = text.charAt(i);
    if (c === '{') {
      i++;
      ws();
      if (text.charAt(i) === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text.charAt(i) !== '"') fail();
        string();
        ws();
        if (text.charAt(i) !== ':') fail();
        i++;
        value();
        ws();
        if (text.charAt(i) === ',') i++;
        else if (text.charAt(i) === '}') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text.charAt(i) === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text.charAt(i) === ',') i++;
        else if (text.charAt(i) === ']') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    return number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
  return Math.min(i, text.length);
}
