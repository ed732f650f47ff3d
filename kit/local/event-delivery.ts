/**
 * Delivers events to an Event Grid webhook over HTTP the way Event Grid does, for the sandbox: each event
 * some seconds after it happened, several due events in one array, sometimes a second time (at least
 * once), in no particular order, and again after a failure (10 s, 30 s, 1 min, then every 5 min).
 */
import type { Logger } from '../../src/app/ports';

export interface DeliveryOptions {
  /** `http://127.0.0.1:7071/runtime/webhooks/eventgrid?functionName=vmEvents` */
  webhookUrl: string;
  log: Logger;
  random: () => number;
  /** Delay range of a first delivery (default 1-8 s). */
  minDelayInMs?: number;
  maxDelayInMs?: number;
  /** Share of events delivered twice (default 0.1). */
  duplicateRate?: number;
  /** Largest array per POST (default 10). */
  maxBatch?: number;
}

interface Pending {
  event: Record<string, unknown>;
  dueAt: number;
  attempt: number;
}

const retryDelaysInMs = [10_000, 30_000, 60_000, 300_000];

/** POSTs one delivery; the HTTP status (0 when unreachable). */
export async function postEvents(webhookUrl: string, events: readonly unknown[]): Promise<number> {
  try {
    const response = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(30_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

export class EventDelivery {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private stopped = false;
  delivered = 0;
  failedDeliveries = 0;

  constructor(private readonly options: DeliveryOptions) {}

  /** Schedules an event (and maybe its duplicate). */
  publish(event: Record<string, unknown>): void {
    const { random } = this.options;
    const min = this.options.minDelayInMs ?? 1000;
    const max = this.options.maxDelayInMs ?? 8000;
    const delay = (): number => min + random() * (max - min);
    this.pending.push({ event, dueAt: Date.now() + delay(), attempt: 0 });
    if (random() < (this.options.duplicateRate ?? 0.1))
      this.pending.push({ event, dueAt: Date.now() + delay() * 3, attempt: 0 });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
      if (this.pending.length > 0) this.schedule();
    }, 250);
  }

  private flush(): void {
    const now = Date.now();
    const due = this.pending.filter((p) => p.dueAt <= now);
    if (due.length === 0) return;
    this.pending = this.pending.filter((p) => p.dueAt > now);
    const maxBatch = this.options.maxBatch ?? 10;
    for (let i = 0; i < due.length; i += maxBatch) {
      const batch = due.slice(i, i + maxBatch);
      const sending = this.send(batch).finally(() => this.inFlight.delete(sending));
      this.inFlight.add(sending);
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    const status = await postEvents(
      this.options.webhookUrl,
      batch.map((p) => p.event),
    );
    if (status >= 200 && status < 300) {
      this.delivered += batch.length;
      return;
    }
    this.failedDeliveries += 1;
    this.options.log.warn('sandbox event delivery failed; redelivering later', {
      status,
      events: batch.length,
    });
    if (this.stopped) return;
    for (const p of batch) {
      const wait = retryDelaysInMs[Math.min(p.attempt, retryDelaysInMs.length - 1)] ?? 300_000;
      this.pending.push({ ...p, attempt: p.attempt + 1, dueAt: Date.now() + wait });
    }
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }
}
