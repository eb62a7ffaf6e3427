import type { Configuration } from '../config/configuration.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';
import { describeThrown } from '../jobs/thrown-value.ts';
import type { Logger, LoggerFactory } from '../logging/logger-factory.ts';
import type { Transport } from './transport.ts';

/** A transport, or a function building it from configuration (called once, when first needed). */
export type TransportEntry = Transport | ((configuration: Configuration) => Transport);

/**
 * The transports registered with `addMessaging`, by name: each built once, connected once, and closed once when the
 * host disposes its singletons, which is after every hosted service (every consumer) has stopped. Consumers and the
 * publisher share them.
 */
export class MessagingTransports implements AsyncDisposable {
  readonly #entries: ReadonlyMap<string, TransportEntry>;
  readonly #configuration: Configuration;
  readonly #log: Logger;
  readonly #loggers: LoggerFactory | undefined;
  readonly #built = new Map<string, Transport>();
  readonly #connecting = new Map<string, Promise<Transport>>();
  #closed = false;

  constructor(
    entries: Readonly<Record<string, TransportEntry>>,
    configuration: Configuration,
    log: Logger,
    loggers?: LoggerFactory,
  ) {
    this.#entries = new Map(Object.entries(entries));
    this.#configuration = configuration;
    this.#log = log;
    this.#loggers = loggers;
  }

  /** The registered names. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** The transport registered as `name`, built on first use; HW_TRANSPORT_NOT_REGISTERED naming `where` otherwise. */
  get(name: string, where: string): Transport {
    const built = this.#built.get(name);
    if (built) return built;
    const entry = this.#entries.get(name);
    if (entry === undefined) {
      throw new HostworkError(
        ErrorCodes.TRANSPORT_NOT_REGISTERED,
        `${where} names transport '${name}', which addMessaging did not register (registered: ${this.names().join(', ') || '(none)'}). Fix: add it to addMessaging({ transports: { ${name}: ... } }) or use one of those names.`,
      );
    }
    const transport = typeof entry === 'function' ? entry(this.#configuration) : entry;
    assertTransport(transport, `addMessaging transports.${name}`);
    if (this.#loggers) transport.attachLogger?.(this.#loggers);
    this.#built.set(name, transport);
    return transport;
  }

  /** The transport, connected (once; a failed connect is tried again by the next call). */
  connected(name: string, where: string): Promise<Transport> {
    let connecting = this.#connecting.get(name);
    if (!connecting) {
      const transport = this.get(name, where);
      connecting = transport.connect().then(() => transport);
      connecting.catch(() => this.#connecting.delete(name));
      this.#connecting.set(name, connecting);
    }
    return connecting;
  }

  /** Closes every transport built, once each. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      [...this.#built].map(async ([name, transport]) => {
        try {
          await transport.close();
        } catch (error) {
          this.#log.error(
            { transport: name, error: describeThrown(error).message },
            `Closing transport '${name}' (${transport.kind}) failed: ${describeThrown(error).message}`,
          );
        }
      }),
    );
  }
}

/** Refuses a value that does not look like a {@link Transport}, naming where it came from. */
export function assertTransport(value: unknown, where: string): asserts value is Transport {
  const t = value as Partial<Transport> | null;
  const missing = ['connect', 'subscribe', 'publish', 'close'].filter(
    (m) => typeof (t as Record<string, unknown> | null)?.[m] !== 'function',
  );
  if (typeof t !== 'object' || t === null || missing.length > 0 || typeof t.kind !== 'string') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where} must be a Transport (an adapter such as rabbitmqTransport(...), sqsTransport(...) or inMemoryTransport()), or a function of the configuration returning one; ${missing.length > 0 ? `it lacks ${missing.join(', ')}` : 'it has no kind'}.`,
    );
  }
}
