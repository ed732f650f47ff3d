import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/app/errors';
import { jsonErrorOffset, parseEvents } from '../../src/cli/event-input';

describe('parseEvents', () => {
  it('reads a JSON array, a single object and NDJSON alike', () => {
    // Arrange
    const a = { id: 'a' };
    const b = { id: 'b' };
    const c = { id: 'c' };

    // Act / Assert
    expect(parseEvents(JSON.stringify([a, b], null, 2))).toEqual([a, b]);
    expect(parseEvents(JSON.stringify(a, null, 2))).toEqual([a]);
    expect(parseEvents(`${JSON.stringify(a)}\n\n${JSON.stringify(b)}\r\n${JSON.stringify(c)}\n`)).toEqual([
      a,
      b,
      c,
    ]);
  });

  it('accepts a JSON array per NDJSON line, as batched Event Grid deliveries are', () => {
    expect(parseEvents('[{"id":"a"},{"id":"b"}]\n{"id":"c"}\n[{"id":"d"}]')).toEqual([
      { id: 'a' },
      { id: 'b' },
      { id: 'c' },
      { id: 'd' },
    ]);
  });

  it('reads empty input as no events', () => {
    expect(parseEvents(' \n')).toEqual([]);
  });

  it('names the NDJSON line that is not JSON', () => {
    const text = '{"id":"a"}\n{"id":"b"}\n{"id": oops}\n{"id":"d"}';
    expect(() => parseEvents(text)).toThrow(InputError);
    expect(() => parseEvents(text)).toThrow(/^line 3 is not valid JSON/);
  });

  it('names the line and column of the error in a JSON document spread over lines', () => {
    const text = '[\n  {"id": "a"},\n  {"id": "b",}\n]';
    expect(() => parseEvents(text)).toThrow(/^line 3, column 14: invalid JSON/);
  });

  it('rejects text that is not JSON at all, on line 1', () => {
    expect(() => parseEvents('id,time\na,2025-01-01')).toThrow(/^line 1, column 1: invalid JSON/);
  });
});

describe('jsonErrorOffset', () => {
  it('finds the offset of the first syntax error', () => {
    expect(jsonErrorOffset('{"a": [1, 2,, 3]}')).toBe(12);
    expect(jsonErrorOffset('{"a": tru}')).toBe(6);
    expect(jsonErrorOffset('"unterminated')).toBe(13);
    expect(jsonErrorOffset('{"a": 1} x')).toBe(9);
  });

  it('reports the end for valid JSON', () => {
    const text = '{"a": [1, -2.5e3, "x\\u0041", true, false, null, {}], "b": []}';
    expect(jsonErrorOffset(text)).toBe(text.length);
  });
});
