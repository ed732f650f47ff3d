/**
 * NCRONTAB schedules as the Functions timer trigger reads them: six fields
 * `{second} {minute} {hour} {day} {month} {day-of-week}` (a five-field expression gets second 0), with
 * `*`, values, ranges `a-b`, steps `*\/n` and `a-b/n`, lists `a,b`, month and day names (`Jan`, `Mon`), and
 * day-of-week 0-6 from Sunday (7 is Sunday too). As in NCrontab, a day and a day-of-week that are both
 * restricted must both match. The `hh:mm:ss` interval form is accepted too. Times are UTC (the Functions
 * host's default time zone).
 */

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

const months = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const fieldSpecs: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: months },
  { name: 'day-of-week', min: 0, max: 7, names: days },
];

function value(text: string, spec: FieldSpec, expression: string): number {
  const named = spec.names?.indexOf(text.toLowerCase().slice(0, 3)) ?? -1;
  if (named >= 0 && /^[a-z]+$/i.test(text)) return spec.min === 1 ? named + 1 : named;
  if (!/^\d+$/.test(text)) throw new ScheduleError(`invalid ${spec.name} "${text}" in "${expression}"`);
  const n = Number(text);
  if (n < spec.min || n > spec.max)
    throw new ScheduleError(`${spec.name} ${n} is outside ${spec.min}-${spec.max} in "${expression}"`);
  return n;
}

/** The set of allowed values of one field. */
function parseField(text: string, spec: FieldSpec, expression: string): { values: Set<number> } {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1 || (stepText !== undefined && !/^\d+$/.test(stepText)))
      throw new ScheduleError(`invalid step in ${spec.name} "${part}" of "${expression}"`);
    let from: number;
    let to: number;
    if (range === '*') {
      [from, to] = [spec.min, spec.name === 'day-of-week' ? 6 : spec.max];
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [from, to] = [value(a, spec, expression), value(b, spec, expression)];
      if (from > to) throw new ScheduleError(`reversed range ${spec.name} "${range}" in "${expression}"`);
    } else {
      from = value(range, spec, expression);
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(spec.name === 'day-of-week' && v === 7 ? 0 : v);
  }
  return { values };
}

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
  type Field = ReturnType<typeof parseField>;
  const fields = parts.map((p, i) => parseField(p, fieldSpecs[i] as FieldSpec, expression));
  const [second, minute, hour, day, month, weekday] = fields as [Field, Field, Field, Field, Field, Field];
  const f = { second, minute, hour, day, month, weekday };

  const dayMatches = (d: Date): boolean =>
    f.month.values.has(d.getUTCMonth() + 1) &&
    f.day.values.has(d.getUTCDate()) &&
    f.weekday.values.has(d.getUTCDay());

  return {
    expression: text,
    next(after: number): number {
      // Walk from the next whole second, jumping over days, hours and minutes that cannot match.
      let t = Math.floor(after / 1000) * 1000 + 1000;
      const limit = after + 5 * 366 * 86_400_000;
      while (t <= limit) {
        const d = new Date(t);
        if (!dayMatches(d)) {
          t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
        } else if (!f.hour.values.has(d.getUTCHours())) {
          t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
        } else if (!f.minute.values.has(d.getUTCMinutes())) {
          t = Date.UTC(
            d.getUTCFullYear(),
            d.getUTCMonth(),
            d.getUTCDate(),
            d.getUTCHours(),
            d.getUTCMinutes() + 1,
          );
        } else if (!f.second.values.has(d.getUTCSeconds())) {
          t += 1000;
        } else {
          return t;
        }
      }
      throw new ScheduleError(`"${expression}" has no occurrence in the next five years`);
    },
  };
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
