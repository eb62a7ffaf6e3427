/**
 * The Azure Service Bus transport, on `@azure/service-bus` (the only official client): one `ServiceBusClient` (one
 * AMQP connection), a peek-lock receiver per subscription, a sender per queue or topic published to. The client
 * reconnects by itself after a loss, and its receivers re-attach. See the package's README for the mapping and the
 * guarantees.
 */
import { isNamedKeyCredential, isTokenCredential } from '@azure/core-auth';
import {
  ServiceBusAdministrationClient,
  ServiceBusClient,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';
import {
  type ConsumerLag,
  type Destination,
  ErrorCodes,
  HostworkError,
  type LoggerFactory,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type Transport,
} from 'hostwork';
import type { DeliveryServices } from './azure-service-bus-delivery.ts';
import { AzureServiceBusSessionSubscription } from './azure-service-bus-session-subscription.ts';
import {
  AzureServiceBusSubscription,
  entityMissing,
  type SubscriptionHost,
} from './azure-service-bus-subscription.ts';
import {
  type AzureServiceBusTransportOptions,
  type ResolvedOptions,
  type ResolvedSource,
  resolveOptions,
  resolveSource,
} from './azure-service-bus-transport-options.ts';
import { toServiceBusMessage } from './message-mapping.ts';
import { WarningRoute } from './warnings.ts';

/**
 * Cuts the client's socket after its close gave up, so that nothing of it lingers (a reconnect loop, a heartbeat
 * keeping the process alive). The SDK offers no way to do it: this reaches its connection (`rhea` underneath) and
 * does nothing when the shape is not the expected one.
 */
function abortConnection(client: ServiceBusClient | undefined): void {
  const rhea = (
    client as unknown as {
      _connectionContext?: {
        connection?: { _connection?: { socket?: unknown; abort_socket?(s: unknown): void } };
      };
    }
  )?._connectionContext?.connection?._connection;
  try {
    if (rhea?.socket && typeof rhea.abort_socket === 'function') rhea.abort_socket(rhea.socket);
  } catch {
    // Already gone.
  }
}

/** A pipeline policy of the administration client (typed from it: `@azure/core-rest-pipeline` is not a dependency). */
type AdministrationPolicy = Parameters<ServiceBusAdministrationClient['pipeline']['addPolicy']>[0];

/**
 * Sends the administration client's requests to `origin` instead of `https://<namespace>` (the emulator's management
 * port, over plain http where the options allowed it), before they are signed, so the token names the URL asked.
 */
function redirectTo(origin: string): AdministrationPolicy {
  const target = new URL(origin);
  return {
    name: 'hostworkManagementEndpoint',
    sendRequest(request, next) {
      const url = new URL(request.url);
      url.protocol = target.protocol;
      url.host = target.host;
      request.url = url.toString();
      if (target.protocol === 'http:') request.allowInsecureConnection = true;
      return next(request);
    },
  };
}

/** Whether the administration client says the entity does not exist. */
function entityNotFound(error: unknown): boolean {
  return (error as { code?: unknown })?.code === 'MessageEntityNotFoundError';
}

/** Creates an {@link AzureServiceBusTransport}; nothing connects until `subscribe()` or `publish()`. */
export function azureServiceBusTransport(options: AzureServiceBusTransportOptions): AzureServiceBusTransport {
  return new AzureServiceBusTransport(options);
}

/** The Azure Service Bus {@link Transport}; see the module's comment and the package's README. */
export class AzureServiceBusTransport implements Transport {
  readonly kind = 'azure-service-bus';
  readonly #options: ResolvedOptions;
  readonly #warnings: WarningRoute;
  #client: ServiceBusClient | undefined;
  /** The management API's client, made on the first `lag()`; null when the credential cannot sign its requests. */
  #admin: ServiceBusAdministrationClient | null | undefined;
  readonly #senders = new Map<string, ServiceBusSender>();
  readonly #subscriptions = new Set<AzureServiceBusSubscription | AzureServiceBusSessionSubscription>();
  readonly #pending = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(options: AzureServiceBusTransportOptions) {
    this.#options = resolveOptions(options);
    this.#warnings = new WarningRoute(this.#options.onWarning);
  }

  /** Sends the transport's warnings to the host's logger, category `Hostwork.AzureServiceBus` (unless `onWarning`). */
  attachLogger(loggers: LoggerFactory): void {
    this.#warnings.attach(loggers.create('Hostwork.AzureServiceBus'));
  }

  /**
   * Creates the client. The SDK opens its AMQP connection with the first operation (a subscription's first receive,
   * a publish), so a wrong namespace or credential is reported there.
   */
  async connect(): Promise<void> {
    this.#assertOpen();
    this.#ensureClient();
  }

  async subscribe(source: Destination, options: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    const resolved = resolveSource(source.name, source.options, this.#options);
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 10_000)
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `azureServiceBusTransport: the prefetch of '${resolved.path}' must be a whole number from 1 to 10000, got ${options.prefetch}.`,
      );
    const subscription = resolved.sessions
      ? new AzureServiceBusSessionSubscription(this.#subscriptionHost, resolved, options)
      : new AzureServiceBusSubscription(this.#subscriptionHost, resolved, options);
    await subscription.start();
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async publish(destination: Destination, messages: readonly OutgoingMessage[]): Promise<void> {
    this.#assertOpen();
    const target = resolveSource(destination.name, destination.options, this.#options, 'destination');
    if (messages.length === 0) return;
    const now = [];
    const later = new Map<number, ServiceBusMessage[]>();
    for (const message of messages) {
      const mapped = toServiceBusMessage(message);
      if (message.delayMs !== undefined && message.delayMs >= 1) {
        const group = later.get(message.delayMs) ?? [];
        group.push(mapped);
        later.set(message.delayMs, group);
      } else now.push(mapped);
    }
    const sender = this.#sender(target.entity);
    const run = (async () => {
      try {
        await Promise.all([
          now.length > 0 ? this.#sendBatched(sender, now) : undefined,
          ...[...later].map(([delay, group]) => sender.scheduleMessages(group, new Date(Date.now() + delay))),
        ]);
      } catch (error) {
        throw new HostworkError(
          entityMissing(error) ? ErrorCodes.MESSAGE_SOURCE_MISSING : ErrorCodes.TRANSPORT_FAILED,
          entityMissing(error)
            ? `azureServiceBusTransport: publishing to '${target.entity}' failed: no such queue or topic in the namespace. Create it; Hostwork does not create Service Bus entities.`
            : `azureServiceBusTransport: publishing ${messages.length} message(s) to '${target.entity}' failed: ${(error as Error)?.message ?? String(error)}. A message not confirmed may or may not have arrived; publishing again with the same ids is safe where duplicate detection is on.`,
          { cause: error },
        );
      }
    })();
    return this.#track(run);
  }

  /**
   * The active messages of the source's queue or subscription (`activeMessageCount` of its runtime properties, one
   * request to the namespace's HTTP management API through `ServiceBusAdministrationClient`): messages ready and
   * messages locked by a receiver and not settled yet, those a subscription prefetched included; not scheduled ones
   * (retries waiting for their delay) and not dead letters. The credential needs the Manage right to read them.
   * Undefined when the entity does not exist, or with a SAS credential, which cannot sign management requests.
   */
  async lag(source: Destination): Promise<ConsumerLag | undefined> {
    this.#assertOpen();
    const resolved = resolveSource(source.name, source.options, this.#options);
    const admin = this.#administration();
    if (admin === null) return undefined;
    const options = { abortSignal: AbortSignal.timeout(this.#options.operationTimeoutMs) };
    try {
      const properties =
        resolved.subscription === undefined
          ? await admin.getQueueRuntimeProperties(resolved.entity, options)
          : await admin.getSubscriptionRuntimeProperties(resolved.entity, resolved.subscription, options);
      return { messages: properties.activeMessageCount };
    } catch (error) {
      if (entityNotFound(error)) return undefined;
      const status = (error as { statusCode?: unknown })?.statusCode;
      throw new HostworkError(
        ErrorCodes.TRANSPORT_FAILED,
        status === 401 || status === 403
          ? `azureServiceBusTransport: reading the lag of '${resolved.path}' was refused (HTTP ${status}): the management API needs a credential with the Manage right on the namespace or the entity.`
          : `azureServiceBusTransport: reading the lag of '${resolved.path}' from the management API failed: ${(error as Error)?.message ?? String(error)}.`,
        { cause: error },
      );
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- internals ----------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closing)
      throw new HostworkError(
        ErrorCodes.HOST_STATE,
        'azureServiceBusTransport: the transport is closed; create a new one to connect again.',
      );
  }

  #ensureClient(): ServiceBusClient {
    if (this.#client) return this.#client;
    const o = this.#options;
    const clientOptions: ServiceBusClientOptions = {
      retryOptions: {
        maxRetries: o.maxRetries,
        retryDelayInMs: o.retryDelayMs,
        maxRetryDelayInMs: o.maxRetryDelayMs,
        timeoutInMs: o.operationTimeoutMs,
        mode: 1, // exponential
      },
    };
    this.#client =
      o.connectionString !== undefined
        ? new ServiceBusClient(o.connectionString, clientOptions)
        : new ServiceBusClient(
            o.fullyQualifiedNamespace as string,
            o.credential as NonNullable<ResolvedOptions['credential']>,
            clientOptions,
          );
    return this.#client;
  }

  /** The administration client, created once; null when the credential is a SAS credential (it cannot sign). */
  #administration(): ServiceBusAdministrationClient | null {
    if (this.#admin !== undefined) return this.#admin;
    const o = this.#options;
    const options = {
      retryOptions: {
        maxRetries: o.maxRetries,
        retryDelayInMs: o.retryDelayMs,
        maxRetryDelayInMs: o.maxRetryDelayMs,
      },
    };
    const credential = o.credential;
    let admin: ServiceBusAdministrationClient | null = null;
    if (o.connectionString !== undefined)
      admin = new ServiceBusAdministrationClient(o.connectionString, options);
    else if (isTokenCredential(credential) || isNamedKeyCredential(credential))
      admin = new ServiceBusAdministrationClient(o.fullyQualifiedNamespace as string, credential, options);
    // In the Serialize phase: before the signing policy, which signs the URL as it then is.
    if (admin && o.managementEndpoint !== undefined)
      admin.pipeline.addPolicy(redirectTo(o.managementEndpoint), { phase: 'Serialize' });
    this.#admin = admin;
    return admin;
  }

  /** The sender of a queue or topic, created once. */
  #sender(entity: string): ServiceBusSender {
    let sender = this.#senders.get(entity);
    if (!sender) {
      sender = this.#ensureClient().createSender(entity);
      this.#senders.set(entity, sender);
    }
    return sender;
  }

  /** Sends `messages` in as few batches as the link's maximum message size allows. */
  async #sendBatched(sender: ServiceBusSender, messages: readonly ServiceBusMessage[]): Promise<void> {
    if (messages.length === 1) return sender.sendMessages(messages[0] as ServiceBusMessage);
    let batch = await sender.createMessageBatch();
    const sends: Promise<void>[] = [];
    for (const message of messages) {
      if (batch.tryAddMessage(message)) continue;
      if (batch.count === 0)
        throw new HostworkError(
          ErrorCodes.TRANSPORT_FAILED,
          `azureServiceBusTransport: message '${String(message.messageId)}' is larger than the entity's maximum message size (${batch.maxSizeInBytes} bytes).`,
        );
      sends.push(sender.sendMessages(batch));
      batch = await sender.createMessageBatch();
      if (!batch.tryAddMessage(message))
        throw new HostworkError(
          ErrorCodes.TRANSPORT_FAILED,
          `azureServiceBusTransport: message '${String(message.messageId)}' is larger than the entity's maximum message size (${batch.maxSizeInBytes} bytes).`,
        );
    }
    if (batch.count > 0) sends.push(sender.sendMessages(batch));
    await Promise.all(sends);
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    this.#pending.add(operation);
    const done = () => this.#pending.delete(operation);
    operation.then(done, done);
    return operation;
  }

  readonly #subscriptionHost: SubscriptionHost = {
    client: () => this.#ensureClient(),
    warn: (message, error, details) => this.#warnings.warn(message, error, details),
    isClosing: () => this.#closing !== undefined,
    services: (source: ResolvedSource, receiver: ServiceBusReceiver): DeliveryServices => ({
      source,
      receiver,
      sendCopy: async (message, at) => {
        const sender = this.#sender(source.entity);
        if (at === undefined) await sender.sendMessages(message);
        else await sender.scheduleMessages(message, at);
      },
      track: (settle) => this.#track(settle),
    }),
  };

  /**
   * Stops every subscription, waits for the settles and publishes made before, then closes the receivers, senders and
   * client, all within `closeTimeoutMs`: past it, a warning, and the client is left to the garbage collector (the
   * SDK's close can wait forever on a connection that died without a close handshake).
   */
  async #close(): Promise<void> {
    const deadline = Promise.withResolvers<'timeout'>();
    const timer = setTimeout(() => deadline.resolve('timeout'), this.#options.closeTimeoutMs);
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.then(() => 'done' as const), deadline.promise]);
    try {
      let outcome = await bounded(Promise.allSettled([...this.#subscriptions].map((s) => s.stop())));
      if (outcome === 'done') outcome = await bounded(Promise.allSettled([...this.#pending]));
      if (outcome === 'done')
        outcome = await bounded(
          (async () => {
            const closes = [
              ...[...this.#subscriptions].map((s) => s.close()),
              ...[...this.#senders.values()].map((s) => s.close()),
            ];
            for (const result of await Promise.allSettled(closes))
              if (result.status === 'rejected')
                this.#warnings.warn('Azure Service Bus: closing a link failed.', result.reason, {
                  warning: 'close-failed',
                });
            await this.#client?.close();
          })(),
        );
      if (outcome === 'timeout') {
        abortConnection(this.#client);
        this.#warnings.warn(
          `Azure Service Bus: close() gave up after ${this.#options.closeTimeoutMs} ms (closeTimeoutMs) waiting for the service or the SDK's close; unsettled messages are delivered again once their locks run out.`,
          undefined,
          { warning: 'close-timeout', closeTimeoutMs: this.#options.closeTimeoutMs },
        );
      }
    } catch (error) {
      this.#warnings.warn('Azure Service Bus: closing the client failed.', error, {
        warning: 'close-failed',
      });
    } finally {
      clearTimeout(timer);
      this.#subscriptions.clear();
      this.#senders.clear();
      this.#client = undefined;
    }
  }
}
