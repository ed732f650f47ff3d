import { describe, expect, it } from 'vitest';
import { TopK } from '../../src/app/top-k';

describe('TopK', () => {
  it('keeps the k smallest of a stream, in order, as sorting everything would', () => {
    let seed = 7;
    const next = () => (seed = (seed * 48_271) % 2_147_483_647);
    const values = Array.from({ length: 5_000 }, () => next() % 1_000);
    for (const k of [1, 2, 51, 4_999, 5_000, 6_000]) {
      const top = new TopK<number>(k, (a, b) => a - b);
      for (const v of values) top.offer(v);
      expect(top.size).toBe(Math.min(k, values.length));
      expect(top.sorted()).toEqual([...values].sort((a, b) => a - b).slice(0, k));
    }
  });

  it('refuses a k that is not a positive integer', () => {
    expect(() => new TopK<number>(0, (a, b) => a - b)).toThrow(RangeError);
  });
});
