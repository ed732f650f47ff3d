/**
 * The one parser of ISO 8601 / RFC 3339 instants, for events, HTTP parameters and CLI options. Strict:
 * `yyyy-mm-dd[Thh:mm[:ss[.fraction]]][Z|±hh:mm]`, real calendar dates only (no `2026-02-31` rolling over
 * to March), and never the machine's time zone: a time without an offset is either refused (events) or
 * UTC (what a user types).
 */

export const InstantProblem = {
  /** Not of the form above. */
  format: 'format',
  /** A date-time without `Z` or `±hh:mm` where one is required. */
  offset: 'offset',
  /** Month, day, hour, minute, second or offset out of range (`2026-02-31`, `25:00`). */
  calendar: 'calendar',
} as const;
export type InstantProblem = (typeof InstantProblem)[keyof typeof InstantProblem];

export type InstantParse = { at: number } | { problem: InstantProblem };

export interface InstantOptions {
  /** Refuse a date or date-time without an offset (events); otherwise it is read as UTC. */
  requireOffset?: boolean;
}

const instantPattern =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

/** Offset of `Z` / `±hh:mm` / `±hhmm` in minutes; undefined when out of range. */
function offsetInMinutes(text: string): number | undefined {
  if (text === 'Z' || text === 'z') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  const digits = text.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2, 4));
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes);
}

/** Parses an instant (epoch ms), or says what is wrong with it. */
export function parseInstantText(text: string, options: InstantOptions = {}): InstantParse {
  const match = instantPattern.exec(text.trim());
  if (match === null) return { problem: InstantProblem.format };
  const [, y = '', mo = '', d = '', h, mi, s, fraction, offset] = match;
  if (options.requireOffset === true && offset === undefined) return { problem: InstantProblem.offset };
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month))
    return { problem: InstantProblem.calendar };
  if (hour > 23 || minute > 59 || second > 59) return { problem: InstantProblem.calendar };
  const offsetMinutes = offset === undefined ? 0 : offsetInMinutes(offset);
  if (offsetMinutes === undefined) return { problem: InstantProblem.calendar };
  const millis = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return { at: date.getTime() - offsetMinutes * 60_000 };
}
