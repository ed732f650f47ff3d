/**
 * The `k` smallest items of a stream under `compare`, held in a bounded max-heap: O(n log k) time and
 * O(k) memory, where sorting everything holds and orders all n. An item no smaller than the largest kept
 * costs one comparison once the heap is full.
 */
export class TopK<T> {
  readonly #heap: T[] = [];

  constructor(
    private readonly k: number,
    private readonly compare: (a: T, b: T) => number,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError('k must be a positive integer');
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Keeps `item` if it is among the `k` smallest seen so far. */
  offer(item: T): void {
    const heap = this.#heap;
    if (heap.length < this.k) {
      heap.push(item);
      this.#up(heap.length - 1);
      return;
    }
    if (this.compare(item, heap[0] as T) >= 0) return;
    heap[0] = item;
    this.#down(0);
  }

  /** The kept items, smallest first. */
  sorted(): T[] {
    return [...this.#heap].sort(this.compare);
  }

  #up(i: number): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(heap[i] as T, heap[parent] as T) <= 0) return;
      [heap[i], heap[parent]] = [heap[parent] as T, heap[i] as T];
      i = parent;
    }
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < heap.length && this.compare(heap[left] as T, heap[largest] as T) > 0) largest = left;
      if (right < heap.length && this.compare(heap[right] as T, heap[largest] as T) > 0) largest = right;
      if (largest === i) return;
      [heap[i], heap[largest]] = [heap[largest] as T, heap[i] as T];
      i = largest;
    }
  }
}
