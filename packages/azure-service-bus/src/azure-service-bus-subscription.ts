/**
 * One subscription: a peek-lock receiver on a queue or a topic subscription, receiving through the SDK's streaming
 * `subscribe()` with `maxConcurrentCalls` = the prefetch, so that the link's credit is the number of deliveries not yet
 * settled (the SDK adds one credit each time a handler call resolves, and the call resolves when its delivery's first
 * settle starts). The SDK's own lock renewal is off (`maxAutoLockRenewalDurationInMs: 0`): the engine renews while the
 * handler runs. The SDK re-attaches the link after a lost connection by itself.
 */
import type {
  ProcessErrorArgs,
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from '@azure/service-bus';
import { ErrorCodes, HostworkError, type SubscribeOptions, type Subscription } from 'hostwork';
import { AzureServiceBusDelivery, type DeliveryServices } from './azure-service-bus-delivery.ts';
import type { ResolvedSource } from './azure-service-bus-transport-options.ts';
import { RETRY_FOR_HEADER } from './header-names.ts';

/** What a subscription needs from its transport. */
export interface SubscriptionHost {
  client(): ServiceBusClient;
  services(source: ResolvedSource, receiver: ServiceBusReceiver): DeliveryServices;
  warn(message: string, error: unknown, details: { warning: string; [key: string]: unknown }): void;
  isClosing(): boolean;
}

/** Whether an SDK error says the entity does not exist. */
export function entityMissing(error: unknown): boolean {
  return (error as { code?: string })?.code === 'MessagingEntityNotFound';
}

/** A peek-lock receiver on `source` (the link opens once it is used). */
export function sourceReceiver(host: SubscriptionHost, source: ResolvedSource): ServiceBusReceiver {
  const { entity, subscription } = source;
  const client = host.client();
  const options = {
    receiveMode: 'peekLock',
    maxAutoLockRenewalDurationInMs: 0,
    skipParsingBodyAsJson: true,
  } as const;
  return subscription === undefined
    ? client.createReceiver(entity, options)
    : client.createReceiver(entity, subscription, options);
}

/**
 * Checks that `receiver`'s entity exists with a peek (which also opens the connection): a missing one is
 * HW_MESSAGE_SOURCE_MISSING, another failure HW_TRANSPORT_FAILED; the receiver is closed then.
 */
export async function checkSourceExists(receiver: ServiceBusReceiver, source: ResolvedSource): Promise<void> {
  const { entity, subscription, path } = source;
  try {
    await receiver.peekMessages(1);
  } catch (error) {
    await receiver.close().catch(() => {});
    if (entityMissing(error))
      throw new HostworkError(
        ErrorCodes.MESSAGE_SOURCE_MISSING,
        `azureServiceBusTransport: the ${subscription === undefined ? `queue '${entity}'` : `subscription '${subscription}' of topic '${entity}'`} does not exist in the namespace. Create it (portal, Bicep, Terraform, ServiceBusAdministrationClient); Hostwork does not create Service Bus entities.`,
        { cause: error },
      );
    throw new HostworkError(
      ErrorCodes.TRANSPORT_FAILED,
      `azureServiceBusTransport: cannot receive from '${path}': ${(error as Error)?.message ?? String(error)}. Check the connection string or credential, and that the identity may listen on the entity.`,
      { cause: error },
    );
  }
}

/** A running Service Bus subscription; see the module's comment. */
export class AzureServiceBusSubscription implements Subscription {
  readonly #host: SubscriptionHost;
  readonly #source: ResolvedSource;
  readonly #options: SubscribeOptions;
  #receiver: ServiceBusReceiver | undefined;
  #running: { close(): Promise<void> } | undefined;
  #services: DeliveryServices | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  /** Set after a receive error, until the next message arrives: the `reconnected` event is due then. */
  #lost = false;
  /** While start() checks the entity exists (see start). */
  #checking = false;

  constructor(host: SubscriptionHost, source: ResolvedSource, options: SubscribeOptions) {
    this.#host = host;
    this.#source = source;
    this.#options = options;
  }

  /**
   * Starts receiving and checks the entity exists (a peek) meanwhile, not before: a start waits for one opening of
   * the connection and its links, not two in a row (about 100 ms instead of 200 against a peer on loopback). Receive
   * errors during the check are the check's to report; a failed check stops the receiving again.
   */
  async start(): Promise<void> {
    const receiver = sourceReceiver(this.#host, this.#source);
    this.#receiver = receiver;
    this.#services = this.#host.services(this.#source, receiver);
    this.#checking = true;
    this.#running = receiver.subscribe(
      {
        processMessage: (message) => this.#receive(message),
        processError: async (args) => this.#error(args),
      },
      { autoCompleteMessages: false, maxConcurrentCalls: this.#options.prefetch },
    );
    try {
      await checkSourceExists(receiver, this.#source);
    } catch (error) {
      this.#stopped = true;
      await this.#running.close().catch(() => {});
      throw error;
    } finally {
      this.#checking = false;
    }
  }

  /** Hands a message over and resolves once its slot is free (its first settle call), which gives the link a credit. */
  async #receive(message: ServiceBusReceivedMessage): Promise<void> {
    const receiver = this.#receiver as ServiceBusReceiver;
    if (this.#stopped) {
      // Arrived while stopping: straight back, not counted as an attempt.
      await receiver.abandonMessage(message).catch(() => {});
      return;
    }
    if (this.#lost) {
      this.#lost = false;
      this.#options.events?.reconnected?.();
    }
    const retryFor = message.applicationProperties?.[RETRY_FOR_HEADER];
    if (typeof retryFor === 'string' && retryFor.toLowerCase() !== this.#source.path.toLowerCase()) {
      // A retry copy another subscription of the topic scheduled for itself.
      await receiver
        .completeMessage(message)
        .catch((error: unknown) =>
          this.#host.warn(
            `Azure Service Bus: completing a retry copy meant for '${retryFor}' on '${this.#source.path}' failed; it comes back once its lock runs out.`,
            error,
            { warning: 'foreign-retry-failed', path: this.#source.path },
          ),
        );
      return;
    }
    const slot = Promise.withResolvers<void>();
    const delivery = new AzureServiceBusDelivery(message, this.#services as DeliveryServices, {
      freed: () => slot.resolve(),
    });
    this.#options.onDelivery(delivery);
    await slot.promise;
  }

  #error(args: ProcessErrorArgs): void {
    if (this.#stopped || this.#checking || this.#host.isClosing()) return;
    this.#host.warn(
      `Azure Service Bus: receiving from '${this.#source.path}' failed (${args.errorSource}): ${(args.error as Error)?.message}; the client tries again by itself.`,
      args.error,
      { warning: 'receive-error', path: this.#source.path, errorSource: args.errorSource },
    );
    if (args.errorSource === 'receive' && !this.#lost) {
      this.#lost = true;
      this.#options.events?.disconnected?.(args.error);
    }
  }

  /** Stops receiving (the link's credit is drained); deliveries handed over stay settle-able on the link. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping ??= (this.#running?.close() ?? Promise.resolve()).catch(() => {});
    return this.#stopping;
  }

  /** Closes the receiver's link (after the transport's pending settles). */
  async close(): Promise<void> {
    await this.stop();
    await this.#receiver?.close();
  }
}
