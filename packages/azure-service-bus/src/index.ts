/**
 * @hostwork/azure-service-bus: the Azure Service Bus transport for Hostwork's message consumers, on
 * `@azure/service-bus`. Queues and topic subscriptions received in peek-lock mode, no more than the consumer's
 * concurrency at once; locks renewed while long handlers run; complete on success; retries as copies scheduled for
 * their backoff, the original completed; the native dead-letter sub-queue with reason and description; sessions for
 * ordered processing (`sessions: true`); a `close()` bounded in time.
 *
 * @example
 * ```ts
 * import { azureServiceBusTransport } from '@hostwork/azure-service-bus';
 *
 * const bus = azureServiceBusTransport({ connectionString: process.env.SERVICEBUS_CONNECTION_STRING });
 * ```
 */
export { AzureServiceBusDelivery } from './azure-service-bus-delivery.ts';
export { AzureServiceBusTransport, azureServiceBusTransport } from './azure-service-bus-transport.ts';
export type {
  AzureServiceBusSourceOptions,
  AzureServiceBusTransportOptions,
} from './azure-service-bus-transport-options.ts';
export { ID_HEADER, RETRY_FOR_HEADER } from './header-names.ts';
export type { WarningDetails, WarningListener } from './warnings.ts';
