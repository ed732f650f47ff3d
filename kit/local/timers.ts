/**
 * Timer triggers on their NCRONTAB schedules. Like the Functions host, one run of a timer at a time: the
 * next occurrence is computed when a run ends, and a run that started after its occurrence had passed
 * (by more than a second) is `isPastDue`.
 */
import type { Timer } from '@azure/functions';
import type { Logger } from '../../src/app/ports';
import { readSchedule, type Schedule } from './ncrontab';

export interface ScheduledTimer {
  name: string;
  schedule: Schedule;
  /** Next occurrence, epoch ms (undefined once stopped). */
  nextAt: number | undefined;
}

export interface TimerRunner {
  readonly timers: readonly ScheduledTimer[];
  /** Runs a timer now (also used by `POST /admin/functions/{name}`), after any run in progress. */
  runNow(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface TimerDefinition {
  name: string;
  schedule: string;
  runOnStartup?: boolean | undefined;
  run(timer: Timer): Promise<unknown>;
}

export function startTimers(
  definitions: readonly TimerDefinition[],
  env: Readonly<Record<string, string | undefined>>,
  log: Logger,
  now: () => number = Date.now,
): TimerRunner {
  let stopped = false;
  const handles = new Map<string, NodeJS.Timeout>();
  const running = new Map<string, Promise<void>>();
  const timers: ScheduledTimer[] = [];
  const byName = new Map<string, { definition: TimerDefinition; scheduled: ScheduledTimer; last?: number }>();

  for (const definition of definitions) {
    const schedule = readSchedule(definition.schedule, env);
    const scheduled: ScheduledTimer = { name: definition.name, schedule, nextAt: undefined };
    timers.push(scheduled);
    byName.set(definition.name, { definition, scheduled });
  }

  const runOnce = (name: string, dueAt: number): Promise<void> => {
    const entry = byName.get(name);
    if (!entry) return Promise.reject(new Error(`no timer named ${name}`));
    const previous = running.get(name) ?? Promise.resolve();
    const run = previous.then(async () => {
      const startedAt = now();
      const timer: Timer = {
        isPastDue: startedAt - dueAt > 1000,
        schedule: { adjustForDST: false },
        scheduleStatus: {
          last: new Date(entry.last ?? startedAt).toISOString(),
          next: new Date(entry.scheduled.schedule.next(startedAt)).toISOString(),
          lastUpdated: new Date(startedAt).toISOString(),
        },
      };
      entry.last = startedAt;
      try {
        await entry.definition.run(timer);
      } catch (error) {
        log.error('timer function failed', {
          functionName: name,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    });
    running.set(name, run);
    return run;
  };

  const arm = (name: string): void => {
    const entry = byName.get(name);
    if (!entry || stopped) return;
    const nextAt = entry.scheduled.schedule.next(now());
    entry.scheduled.nextAt = nextAt;
    // setTimeout caps at ~24.8 days; re-arm in steps for rarer schedules.
    const delay = Math.min(nextAt - now(), 2 ** 31 - 1);
    const handle = setTimeout(
      () => {
        if (now() + 5 < nextAt) return arm(name);
        void runOnce(name, nextAt).then(() => arm(name));
      },
      Math.max(0, delay),
    );
    handles.set(name, handle);
  };

  for (const { definition } of byName.values()) {
    if (definition.runOnStartup === true)
      void runOnce(definition.name, now()).then(() => arm(definition.name));
    else arm(definition.name);
  }

  return {
    timers,
    runNow: (name) => runOnce(name, now()),
    async stop() {
      stopped = true;
      for (const handle of handles.values()) clearTimeout(handle);
      for (const t of timers) t.nextAt = undefined;
      await Promise.allSettled(running.values());
    },
  };
}
