import { describe, expect, it } from 'vitest';
import { parseInstantText } from '../../src/domain/time';

describe('parseInstantText', () => {
  it('reads RFC 3339 instants with Z or an offset, to the millisecond, as Event Grid sends them', () => {
    expect(parseInstantText('2026-11-30T10:00:00Z')).toEqual({ at: Date.UTC(2026, 10, 30, 10) });
    expect(parseInstantText('2017-06-26T18:41:00.9584103Z')).toEqual({
      at: Date.UTC(2017, 5, 26, 18, 41, 0, 958),
    });
    expect(parseInstantText('2026-11-30T10:00:00-05:00')).toEqual({ at: Date.UTC(2026, 10, 30, 15) });
    expect(parseInstantText('2026-11-30T10:00:00+0130')).toEqual({ at: Date.UTC(2026, 10, 30, 8, 30) });
    expect(parseInstantText('2024-02-29T00:00:00Z')).toEqual({ at: Date.UTC(2024, 1, 29) });
  });

  it('reads a time without an offset as UTC, never in the machine time zone, unless an offset is required', () => {
    expect(parseInstantText('2026-11-30T10:00:00')).toEqual({ at: Date.UTC(2026, 10, 30, 10) });
    expect(parseInstantText('2026-11-30')).toEqual({ at: Date.UTC(2026, 10, 30) });
    expect(parseInstantText('2026-11-30T10:00:00', { requireOffset: true })).toEqual({ problem: 'offset' });
    expect(parseInstantText('2026-11-30', { requireOffset: true })).toEqual({ problem: 'offset' });
  });

  it('refuses impossible calendar dates and times instead of rolling them over', () => {
    for (const text of [
      '2026-02-31',
      '2026-02-29T00:00:00Z',
      '2100-02-29',
      '2026-04-31T00:00:00Z',
      '2026-13-01',
      '2026-00-10',
      '2026-11-00',
      '2026-11-30T24:00:00Z',
      '2026-11-30T10:60:00Z',
      '2026-11-30T10:00:60Z',
      '2026-11-30T10:00:00+24:00',
    ])
      expect(parseInstantText(text), text).toEqual({ problem: 'calendar' });
  });

  it('refuses what is not an ISO 8601 instant', () => {
    for (const text of [
      '',
      'now',
      '30/11/2026',
      '2026-11-30T10',
      'Mon, 30 Nov 2026 10:00:00 GMT',
      '1764496800000',
    ])
      expect(parseInstantText(text), text).toEqual({ problem: 'format' });
  });
});
