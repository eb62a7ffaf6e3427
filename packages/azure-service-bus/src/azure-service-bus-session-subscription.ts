/**
 * A subscription on a session-enabled queue or subscription (`sessions: true`): ordered processing per `sessionId`.
 * It holds up to `prefetch` sessions at once, each through a session receiver of its own (`acceptNextSession`)
 * handing over one message at a time (`maxConcurrentCalls: 1`), so that a session's messages run in order and
 * different sessions side by side. The SDK renews each session's lock while its receiver is open; a session that
 * hands nothing over for `sessionIdleTimeoutMs` with nothing unsettled is released for the next one.
 */
import type {
  ProcessErrorArgs,
  ServiceBusReceivedMessage,
  ServiceBusSessionReceiver,
} from '@azure/service-bus';
import type { SubscribeOptions, Subscription } from 'hostwork';
import { AzureServiceBusDelivery } from './azure-service-bus-delivery.ts';
import {
  checkSourceExists,
  type SubscriptionHost,
  sourceReceiver,
} from './azure-service-bus-subscription.ts';
import type { ResolvedSource } from './azure-service-bus-transport-options.ts';

/** Long enough that the SDK renews a session's lock for as long as the session receiver is open. */
const RENEW_FOR_MS = 10 * 365 * 24 * 3_600_000;
/** The pause before asking again for a session after none was free. */
const NO_SESSION_PAUSE_MS = 250;
/** The errors that mean "no session free now": try again after {@link NO_SESSION_PAUSE_MS}. */
const NO_SESSION = new Set(['ServiceTimeout', 'SessionCannotBeLocked', 'OperationTimeoutError']);

/** A running session subscription; see the module's comment. */
export class AzureServiceBusSessionSubscription implements Subscription {
  readonly #host: SubscriptionHost;
  readonly #source: ResolvedSource;
  readonly #options: SubscribeOptions;
  readonly #receivers = new Set<ServiceBusSessionReceiver>();
  readonly #running = new Set<{ close(): Promise<void> }>();
  #loops: Promise<void>[] = [];
  #stopped = false;
  readonly #stop = Promise.withResolvers<void>();
  #stopping: Promise<void> | undefined;

  constructor(host: SubscriptionHost, source: ResolvedSource, options: SubscribeOptions) {
    this.#host = host;
    this.#source = source;
    this.#options = options;
  }

  async start(): Promise<void> {
    // A plain receiver serves the check (a peek); sessions are accepted by the loops.
    const receiver = sourceReceiver(this.#host, this.#source);
    await checkSourceExists(receiver, this.#source);
    await receiver.close();
    this.#loops = Array.from({ length: this.#options.prefetch }, () => this.#loop());
  }

  /** Accepts the next free session, drains it, releases it; again until stopped. */
  async #loop(): Promise<void> {
    const { entity, subscription } = this.#source;
    const options = {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: RENEW_FOR_MS,
      skipParsingBodyAsJson: true,
    } as const;
    let failures = 0;
    while (!this.#stopped) {
      let receiver: ServiceBusSessionReceiver;
      try {
        const client = this.#host.client();
        receiver =
          subscription === undefined
            ? await client.acceptNextSession(entity, options)
            : await client.acceptNextSession(entity, subscription, options);
        failures = 0;
      } catch (error) {
        if (this.#stopped) return;
        const code = (error as { code?: string })?.code ?? (error as Error)?.name;
        if (!NO_SESSION.has(String(code))) {
          failures++;
          this.#host.warn(
            `Azure Service Bus: accepting a session of '${this.#source.path}' failed: ${(error as Error)?.message}; trying again.`,
            error,
            { warning: 'receive-error', path: this.#source.path, errorSource: 'acceptSession' },
          );
        }
        // No free session: the service answers so only after waiting for one (up to a minute), a local peer may at once.
        await this.#pause(failures > 0 ? Math.min(200 * 2 ** failures, 5_000) : NO_SESSION_PAUSE_MS);
        continue;
      }
      if (this.#stopped) {
        this.#receivers.add(receiver);
        return;
      }
      this.#receivers.add(receiver);
      const released = await this.#drain(receiver);
      if (released) {
        this.#receivers.delete(receiver);
        await receiver.close().catch(() => {});
      }
    }
  }

  /**
   * Receives from one session until it is idle with nothing unsettled (true: release it), or the subscription stops
   * (false: the receiver stays open so what was handed over can still be settled, until the transport closes).
   */
  #drain(receiver: ServiceBusSessionReceiver): Promise<boolean> {
    const done = Promise.withResolvers<boolean>();
    let unsettled = 0;
    let idle: NodeJS.Timeout | undefined;
    const services = this.#host.services(this.#source, receiver);
    const rearm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (unsettled === 0) done.resolve(true);
      }, this.#source.sessionIdleTimeoutMs);
    };
    const receive = async (message: ServiceBusReceivedMessage) => {
      clearTimeout(idle);
      if (this.#stopped) {
        await receiver.abandonMessage(message).catch(() => {});
        return;
      }
      unsettled++;
      const slot = Promise.withResolvers<void>();
      this.#options.onDelivery(
        new AzureServiceBusDelivery(message, services, { freed: () => slot.resolve() }, true),
      );
      await slot.promise;
      unsettled--;
      rearm();
    };
    const running = receiver.subscribe(
      {
        processMessage: receive,
        processError: async (args: ProcessErrorArgs) => {
          const code = (args.error as { code?: string })?.code;
          if (code === 'SessionLockLost') {
            clearTimeout(idle);
            done.resolve(true);
            return;
          }
          if (!this.#stopped)
            this.#host.warn(
              `Azure Service Bus: receiving session '${receiver.sessionId}' of '${this.#source.path}' failed (${args.errorSource}): ${(args.error as Error)?.message}.`,
              args.error,
              { warning: 'receive-error', path: this.#source.path, errorSource: args.errorSource },
            );
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: 1 },
    );
    this.#running.add(running);
    rearm();
    void this.#stop.promise.then(() => {
      clearTimeout(idle);
      done.resolve(false);
    });
    return done.promise.then(async (release) => {
      this.#running.delete(running);
      await running.close().catch(() => {});
      return release;
    });
  }

  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      void this.#stop.promise.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Stops receiving on every session; deliveries handed over stay settle-able until {@link close}. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#stop.resolve();
    this.#stopping ??= (async () => {
      await Promise.allSettled([...this.#running].map((r) => r.close()));
      await Promise.allSettled(this.#loops);
    })();
    return this.#stopping;
  }

  /** Releases every session (after the transport's pending settles). */
  async close(): Promise<void> {
    await this.stop();
    await Promise.allSettled([...this.#receivers].map((r) => r.close()));
  }
}
