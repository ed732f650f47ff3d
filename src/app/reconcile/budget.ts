/**
 * A subscription run's time budget and its pacing against ARM's HighCostGet rate limit: the listing asks,
 * between pages, whether one more page still fits and how long to wait before it.
 */
import type { Clock } from '../ports';

/**
 * The smallest HighCostGet count left, from the `x-ms-ratelimit-remaining-*` headers
 * (`Microsoft.Compute/HighCostGet3Min;107,Microsoft.Compute/HighCostGet30Min;587`); undefined when absent.
 */
export function highCostGetRemaining(
  remaining: Readonly<Record<string, string>> | undefined,
): number | undefined {
  let lowest: number | undefined;
  for (const value of Object.values(remaining ?? {})) {
    for (const match of value.matchAll(/HighCostGet[^;,]*;\s*(\d+)/gi)) {
      const count = Number(match[1]);
      if (Number.isFinite(count)) lowest = lowest === undefined ? count : Math.min(lowest, count);
    }
  }
  return lowest;
}

/** HighCostGet refills at 300 a minute: one token every 200 ms. */
export const highCostGetRefillInMs = 200;

/** How long to wait before the next listing page, given the HighCostGet count left. */
export function pacingDelayInMs(remaining: number | undefined, threshold: number): number {
  if (remaining === undefined || remaining >= threshold) return 0;
  return (threshold - remaining) * highCostGetRefillInMs;
}

export interface RunBudgetOptions {
  budgetInMs: number;
  /** Below this many HighCostGet requests left, wait before the next page. */
  pacingThreshold: number;
}

/** The clock of one run: started when made; learns how long pages take. */
export class RunBudget {
  readonly startedAt: number;
  #slowestPageInMs = 0;

  constructor(
    private readonly now: Clock,
    private readonly options: RunBudgetOptions,
  ) {
    this.startedAt = now();
  }

  get budgetInMs(): number {
    return this.options.budgetInMs;
  }

  /** A page requested at `requestedAt` arrived at `fetchedAt`. */
  pageRead(requestedAt: number, fetchedAt: number): void {
    this.#slowestPageInMs = Math.max(this.#slowestPageInMs, fetchedAt - requestedAt);
  }

  /** True when one more page might not fit: twice the slowest page so far, or 5 % of the budget, is left. */
  nearEnd(): boolean {
    const elapsed = this.now() - this.startedAt;
    const budget = this.options.budgetInMs;
    return elapsed + Math.max(this.#slowestPageInMs * 2, budget * 0.05) >= budget;
  }

  /**
   * How long to wait before the next page, given the rate-limit headers of the last answer: the refill
   * time of the requests missing below the threshold, never more than half the budget left.
   */
  pacingDelayInMs(remaining: Readonly<Record<string, string>> | undefined): number {
    const wanted = pacingDelayInMs(highCostGetRemaining(remaining), this.options.pacingThreshold);
    if (wanted <= 0) return 0;
    const left = this.options.budgetInMs - (this.now() - this.startedAt);
    return Math.max(0, Math.min(wanted, left / 2));
  }
}
