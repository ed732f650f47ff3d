import { describe, expect, it } from 'vitest';
import { TaskQueue } from '../../src/app/concurrency';

/** A task that runs until `release()` is called, recording how many ran at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, release: () => open() };
}

describe('TaskQueue', () => {
  it('runs at most `limit` tasks at once, takes more while they run, and drains when all have ended', async () => {
    const errors: unknown[] = [];
    const queue = new TaskQueue(2, (e) => errors.push(e));
    const gates = [gate(), gate(), gate()];
    let running = 0;
    let most = 0;
    const done: number[] = [];
    gates.forEach((g, i) =>
      queue.push(async () => {
        running += 1;
        most = Math.max(most, running);
        await g.opened;
        running -= 1;
        done.push(i);
      }),
    );
    expect(queue.size).toBe(3);
    let drained = false;
    const draining = queue.drain().then(() => (drained = true));

    gates[1]?.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(done).toEqual([1]);
    expect(drained).toBe(false);
    gates[0]?.release();
    gates[2]?.release();
    await draining;

    expect(most).toBe(2);
    expect(done.sort()).toEqual([0, 1, 2]);
    expect(queue.size).toBe(0);
    expect(errors).toEqual([]);
  });

  it('hands a failing task to onError and runs the others', async () => {
    const errors: unknown[] = [];
    const queue = new TaskQueue(1, (e) => errors.push(e));
    const ran: string[] = [];
    queue.push(() => Promise.reject(new Error('one VM failed')));
    queue.push(() => {
      ran.push('next');
      return Promise.resolve();
    });

    await queue.drain();

    expect(ran).toEqual(['next']);
    expect(errors).toEqual([new Error('one VM failed')]);
  });

  it('drains at once when nothing was pushed', async () => {
    await expect(new TaskQueue(4, () => {}).drain()).resolves.toBeUndefined();
  });
});
