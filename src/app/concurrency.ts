/** Runs `fn` over `items`, at most `limit` at a time. `fn` handles its own errors. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/**
 * Tasks pushed while other work goes on (a listing reading its next page), at most `limit` running at a
 * time; `drain` waits for every task pushed so far. A task's failure goes to `onError` (and never stops
 * the others).
 */
export class TaskQueue {
  #active = 0;
  readonly #queue: (() => Promise<void>)[] = [];
  readonly #idle: (() => void)[] = [];
  constructor(
    private readonly limit: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Tasks running or waiting. */
  get size(): number {
    return this.#active + this.#queue.length;
  }

  push(task: () => Promise<void>): void {
    this.#queue.push(task);
    this.#pump();
  }

  /** Resolves when every task pushed so far has ended. */
  drain(): Promise<void> {
    return this.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#active < this.limit && this.#queue.length > 0) {
      const task = this.#queue.shift();
      if (task === undefined) break;
      this.#active += 1;
      task()
        .catch(this.onError)
        .finally(() => {
          this.#active -= 1;
          this.#pump();
          if (this.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}
