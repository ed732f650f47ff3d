/**
 * NCRONTAB schedules as the Functions timer trigger reads them: six fields
 * `{second} {minute} {hour} {day} {month} {day-of-week}` (a five-field expression gets second 0), with
 * `*`, values, ranges `a-b`, steps `*\/n`, `a-b/n` and `a/n`, lists `a,b`, month and day names (`Jan`,
 * `January`, `Mon`), and day-of-week 0-6 from Sunday (7 is Sunday too). As in NCrontab, a day and a
 * day-of-week that are both restricted must both match. The `hh:mm:ss` interval form is accepted too. Times
 * are UTC (the Functions host's default time zone; WEBSITE_TIME_ZONE is not read here).
 *
 * The occurrences come from croner; this module checks the NCRONTAB grammar first (croner also reads
 * Quartz-style `L`, `W`, `#`, `?` and `@daily`, which the Functions host refuses) and turns names into
 * numbers, so every expression croner sees is one NCrontab reads the same way.
 */
import { Cron } from 'croner';

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

export interface Schedule {
  /** The expression as given (after %NAME% settings resolution). */
  readonly expression: string;
  /** The first occurrence strictly after `after` (epoch ms). */
  next(after: number): number;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const months = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const days = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const fieldSpecs: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: months },
  { name: 'day-of-week', min: 0, max: 7, names: days },
];

/** One list item of a field: `*`, a value or a range `a-b`, with an optional step `/n`. */
const itemPattern = /^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/([0-9]+))?$/i;

/** A value of a field as a number: digits, or a month or day name (as in NCrontab, any start of the name). */
function value(text: string, spec: FieldSpec, expression: string): number {
  if (/^[a-z]+$/i.test(text)) {
    const named = spec.names?.findIndex((name) => name.startsWith(text.toLowerCase())) ?? -1;
    if (named >= 0) return spec.min === 1 ? named + 1 : named;
  }
  if (!/^\d+$/.test(text)) throw new ScheduleError(`invalid ${spec.name} "${text}" in "${expression}"`);
  const n = Number(text);
  if (n < spec.min || n > spec.max)
    throw new ScheduleError(`${spec.name} ${n} is outside ${spec.min}-${spec.max} in "${expression}"`);
  return n;
}

/** One list item checked against the NCRONTAB grammar, with names turned into numbers. */
function numericItem(part: string, spec: FieldSpec, expression: string): string {
  const match = itemPattern.exec(part);
  if (!match) throw new ScheduleError(`invalid ${spec.name} "${part}" in "${expression}"`);
  const [, range = '', step] = match;
  if (step !== undefined && Number(step) < 1)
    throw new ScheduleError(`invalid step in ${spec.name} "${part}" of "${expression}"`);
  if (range === '*') return step === undefined ? '*' : `*/${step}`;
  const [a, b] = range.split('-').map((v) => value(v, spec, expression)) as [number, number?];
  // A reversed range reads as the same range in order, as NCrontab swaps it (`20-10` is `10-20`).
  const [from, to] = b === undefined ? [a, undefined] : [Math.min(a, b), Math.max(a, b)];
  if (step === undefined) return to === undefined ? `${from}` : `${from}-${to}`;
  // `a/n` steps from a to the field's end (croner reads only `*/n` and `a-b/n`).
  return `${from}-${to ?? spec.max}/${step}`;
}

const numericField = (text: string, spec: FieldSpec, expression: string): string =>
  text
    .split(',')
    .map((part) => numericItem(part, spec, expression))
    .join(',');

function intervalSchedule(expression: string): Schedule | undefined {
  const match = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(expression);
  if (!match) return undefined;
  const [, h = '0', m = '0', s = '0'] = match;
  const periodInMs = ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000;
  if (periodInMs <= 0) throw new ScheduleError(`the interval "${expression}" must be positive`);
  return { expression, next: (after) => (Math.floor(after / periodInMs) + 1) * periodInMs };
}

export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  const interval = intervalSchedule(text);
  if (interval) return interval;
  let parts = text.split(/\s+/);
  if (parts.length === 5) parts = ['0', ...parts];
  if (parts.length !== 6)
    throw new ScheduleError(
      `"${expression}" is not an NCRONTAB expression (6 fields: second minute hour day month day-of-week)`,
    );
  const pattern = parts.map((p, i) => numericField(p, fieldSpecs[i] as FieldSpec, expression)).join(' ');
  let cron: Cron;
  try {
    // domAndDow: a restricted day and day-of-week must both match, as in NCrontab (Vixie cron takes either).
    cron = new Cron(pattern, { mode: '6-part', domAndDow: true, timezone: 'Etc/UTC' });
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, '');
    throw new ScheduleError(`"${expression}" is not an NCRONTAB expression: ${reason}`);
  }
  const next = (after: number): number => {
    const occurrence = cron.nextRun(new Date(after));
    if (!occurrence)
      throw new ScheduleError(`"${expression}" has no occurrence after ${new Date(after).toISOString()}`);
    return occurrence.getTime();
  };
  if (!cron.nextRun()) throw new ScheduleError(`"${expression}" never occurs`);
  return { expression: text, next };
}

/** Resolves %NAME% settings references (the Functions host's app-setting syntax) from `env`. */
export function resolveSettings(text: string, env: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/%([^%]+)%/g, (_, name: string) => {
    const resolved = env[name];
    if (resolved === undefined || resolved.trim() === '')
      throw new ScheduleError(`the app setting ${name} is not set`);
    return resolved;
  });
}

/**
 * A timer's schedule as the Functions host reads it: `%NAME%` settings resolved from `env`, then the
 * NCRONTAB expression; an expression that is not one is refused with the app setting it came from.
 */
export function readSchedule(template: string, env: Readonly<Record<string, string | undefined>>): Schedule {
  const expression = resolveSettings(template, env);
  try {
    return parseSchedule(expression);
  } catch (error) {
    const settings = [...template.matchAll(/%([^%]+)%/g)].map(([, name]) => name);
    if (!(error instanceof ScheduleError) || settings.length === 0) throw error;
    throw new ScheduleError(`the app setting ${settings.join(', ')} is not a schedule: ${error.message}`, {
      cause: error,
    });
  }
}
