/**
 * Publishes alerts as CloudEvents 1.0 to the Event Grid custom topic with `@azure/eventgrid`, signed in with
 * the app's managed identity (the topic has local auth off). A loopback `http://` endpoint is a test receiver:
 * no credential is sent (a placeholder key header) and plain http is allowed.
 */
import type { TokenCredential } from '@azure/identity';
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { AlertPublisher } from '../app/alert-ports';
import type { AlertEvent } from '../domain/alerts';
import type { InvoiceAgreementEvent } from '../domain/invoice-check';
import { isLoopbackEndpoint } from './arm';

export interface AlertPublisherOptions {
  /** The topic endpoint, e.g. `https://<topic>.<region>-1.eventgrid.azure.net/api/events`. */
  endpoint: string;
  /** Client id of the user-assigned managed identity. */
  clientId?: string | undefined;
  credential?: TokenCredential | undefined;
  /** Retries of one publish inside the SDK (default 2; the outbox retries on the next run anyway). */
  maxRetries?: number;
}

export function createEventGridAlertPublisher(options: AlertPublisherOptions): AlertPublisher {
  const endpoint = options.endpoint.trim();
  const loopback = isLoopbackEndpoint(endpoint);
  const retryOptions = { maxRetries: options.maxRetries ?? 2, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 };
  const client = loopback
    ? new EventGridPublisherClient(endpoint, 'CloudEvent', new AzureKeyCredential('loopback-receiver'), {
        allowInsecureConnection: true,
        retryOptions,
      })
    : new EventGridPublisherClient(
        endpoint,
        'CloudEvent',
        options.credential ??
          (options.clientId !== undefined && options.clientId !== ''
            ? new ManagedIdentityCredential({ clientId: options.clientId })
            : new DefaultAzureCredential()),
        { retryOptions },
      );
  return {
    destination: endpoint,
    async publish(event: AlertEvent | InvoiceAgreementEvent): Promise<void> {
      await client.send([
        {
          id: event.id,
          type: event.type,
          source: event.source,
          subject: event.subject,
          time: new Date(event.time),
          data: event.data,
          datacontenttype: 'application/json',
        },
      ]);
    },
  };
}
