import type { EventGridEvent, InvocationContext } from '@azure/functions';
import { hostContext, type ContextFactory, type FunctionRegistration } from './registration';
import { invocationLogger } from '../src/adapters/logger';
import { noteEventArrival } from '../src/app/coverage';
import { ingestEvent } from '../src/app/ingest-event';
import type { IngestResult } from '../src/app/ingest-outcome';
import { eventGridMaxEventAgeInMs } from '../src/domain/events';

/**
 * Event Grid trigger on the subscription's resource events (Event Grid schema or CloudEvents 1.0).
 * Bad events are recorded and acknowledged; a transient failure throws so Event Grid redelivers. Event
 * Grid retries for 24 hours at most, so an older event time is refused (archives: `vm-timeline ingest`).
 */
export function vmEventsHandler(contextOf: ContextFactory) {
  return async function vmEvents(event: EventGridEvent, context: InvocationContext): Promise<IngestResult> {
    const ctx = await contextOf();
    const log = invocationLogger(context);
    const result = await ingestEvent(event, { ...ctx, log }, { maxEventAgeInMs: eventGridMaxEventAgeInMs });
    await noteEventArrival(ctx.eventArrivals, event, ctx.now(), log);
    context.info('event ingested', {
      eventId: result.eventId,
      vmId: result.resourceId,
      outcome: result.outcome,
      reason: result.reason,
    });
    return result;
  };
}

/** The handler on the Functions host's context (the app settings of this process). */
export const vmEvents = vmEventsHandler(hostContext);

export const vmEventsFunction = (contextOf: ContextFactory): FunctionRegistration => ({
  kind: 'eventGrid',
  name: 'vmEvents',
  options: { handler: vmEventsHandler(contextOf) },
});
