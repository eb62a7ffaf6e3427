/**
 * The options of {@link rabbitmqTransport} and of each source and destination (`Destination.options`), checked once
 * with Hostwork's option errors (HW_UNKNOWN_OPTION for a misspelt key, HW_INVALID_OPTION for a bad value).
 */
import { assertKnownKeys, ErrorCodes, HostworkError } from 'hostwork';
import type { WarningListener } from './warnings.ts';

/** A RabbitMQ queue type Hostwork declares. */
export type QueueType = 'classic' | 'quorum';

/** What {@link rabbitmqTransport} takes. */
export interface RabbitmqTransportOptions {
  /** The broker: `amqp://user:password@host:5672/vhost` (or `amqps://`). */
  readonly url: string;
  /**
   * Whether Hostwork declares each source queue (durable, of {@link queueType}) when it subscribes, or only checks
   * that it exists (a passive declare: HW_MESSAGE_SOURCE_MISSING naming the queue when it does not). Default false;
   * a source's own `declare` option wins.
   */
  readonly declare?: boolean;
  /** The type of the queues Hostwork declares (source and dead-letter queues). Default 'quorum'. */
  readonly queueType?: QueueType;
  /**
   * The type of the delay queues retries wait in. 'quorum' (default) makes the move back to the source at-least-once
   * (RabbitMQ's `x-dead-letter-strategy: at-least-once`), so a retry waiting out its delay survives a broker restart;
   * 'classic' is lighter but its dead-lettering is at-most-once: a restart can drop a waiting retry.
   */
  readonly delayQueueType?: QueueType;
  /** The dead-letter queue of a source: `<source>.dead` unless given here (or in the source's own options). */
  readonly deadLetterQueue?: (source: string) => string;
  /** The connection's name in RabbitMQ's management UI and `rabbitmqctl list_connections`. Default 'hostwork'. */
  readonly connectionName?: string;
  /** The first wait before reconnecting after a loss, in ms, doubling up to {@link maxReconnectDelayMs}. Default 100. */
  readonly reconnectDelayMs?: number;
  /** The longest wait between reconnect attempts, in ms. Default 5000. */
  readonly maxReconnectDelayMs?: number;
  /** How long `close()` waits for pending settle and publish calls and the broker's close, in ms. Default 10000. */
  readonly closeTimeoutMs?: number;
  /** Receives the transport's warnings instead of the host's logger (see {@link WarningListener}). */
  readonly onWarning?: WarningListener;
}

/** `Destination.options` of a source given to `subscribe`. */
export interface RabbitmqSourceOptions {
  /** Declare this queue (true) or only check it exists (false). Default: the transport's `declare`. */
  readonly declare?: boolean;
  /** The type this queue is declared with. Default: the transport's `queueType`. */
  readonly queueType?: QueueType;
  /** This source's dead-letter queue. Default `<source>.dead` (or the transport's `deadLetterQueue`). */
  readonly deadLetterQueue?: string;
}

/**
 * `Destination.options` of a destination given to `publish`. A queue destination may carry the
 * {@link RabbitmqSourceOptions} too (one Destination serves to consume and to publish): with `declare`, the queue is
 * declared before the first publish to it.
 */
export interface RabbitmqDestinationOptions {
  /**
   * Publish to this exchange, with the destination's name as the routing key. Without it the destination is a queue
   * name, published to through the default exchange. Delays (`delayMs`) are for queue destinations only.
   */
  readonly exchange?: string;
}

/** The options with their defaults applied. */
export interface ResolvedOptions {
  readonly url: string;
  readonly declare: boolean;
  readonly queueType: QueueType;
  readonly delayQueueType: QueueType;
  readonly deadLetterQueue: (source: string) => string;
  readonly connectionName: string;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly closeTimeoutMs: number;
  readonly onWarning: WarningListener | undefined;
}

/** A source's options with the transport's defaults applied. */
export interface ResolvedSource {
  readonly queue: string;
  readonly declare: boolean;
  readonly queueType: QueueType;
  readonly deadLetterQueue: string;
}

const KNOWN = [
  'url',
  'declare',
  'queueType',
  'delayQueueType',
  'deadLetterQueue',
  'connectionName',
  'reconnectDelayMs',
  'maxReconnectDelayMs',
  'closeTimeoutMs',
  'onWarning',
];
const SOURCE_KNOWN = ['declare', 'queueType', 'deadLetterQueue'];
const DESTINATION_KNOWN = ['exchange'];
const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum'];
const WHERE = 'rabbitmqTransport';

function invalid(problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `${WHERE}: ${problem}.`);
}

function queueType(where: string, value: unknown, fallback: QueueType): QueueType {
  if (value === undefined) return fallback;
  if (!QUEUE_TYPES.includes(value as QueueType))
    throw invalid(`'${where}' must be 'classic' or 'quorum', got ${JSON.stringify(value)}`);
  return value as QueueType;
}

function positiveInteger(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw invalid(`'${key}' must be a whole number of ms >= 1, got ${JSON.stringify(value)}`);
  return value;
}

function queueName(where: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > 255)
    throw invalid(`${where} must be a queue name of 1 to 255 bytes, got ${JSON.stringify(value)}`);
  return value;
}

/** Checks the transport's options and applies the defaults. */
export function resolveOptions(options: RabbitmqTransportOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw invalid('the options must be an object with a url');
  assertKnownKeys('the rabbitmqTransport options', options, KNOWN);
  if (typeof options.url !== 'string' || !/^amqps?:\/\//.test(options.url))
    throw invalid(
      `'url' must be an amqp:// or amqps:// URL, got ${JSON.stringify(redact(String(options.url)))}`,
    );
  if (options.declare !== undefined && typeof options.declare !== 'boolean')
    throw invalid(`'declare' must be true or false, got ${JSON.stringify(options.declare)}`);
  if (options.deadLetterQueue !== undefined && typeof options.deadLetterQueue !== 'function')
    throw invalid(
      "'deadLetterQueue' must be a function from a source queue's name to its dead-letter queue's name",
    );
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
    throw invalid("'onWarning' must be a function");
  const reconnectDelayMs = positiveInteger('reconnectDelayMs', options.reconnectDelayMs, 100);
  const maxReconnectDelayMs = positiveInteger('maxReconnectDelayMs', options.maxReconnectDelayMs, 5_000);
  if (maxReconnectDelayMs < reconnectDelayMs)
    throw invalid(
      `'maxReconnectDelayMs' (${maxReconnectDelayMs}) must be at least 'reconnectDelayMs' (${reconnectDelayMs})`,
    );
  return {
    url: options.url,
    declare: options.declare ?? false,
    queueType: queueType('queueType', options.queueType, 'quorum'),
    delayQueueType: queueType('delayQueueType', options.delayQueueType, 'quorum'),
    deadLetterQueue: options.deadLetterQueue ?? ((source) => `${source}.dead`),
    connectionName: options.connectionName ?? 'hostwork',
    reconnectDelayMs,
    maxReconnectDelayMs,
    closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, 10_000),
    onWarning: options.onWarning,
  };
}

/** Checks a source's name and options and applies the transport's defaults. */
export function resolveSource(
  name: string,
  given: Readonly<Record<string, unknown>> | undefined,
  defaults: ResolvedOptions,
): ResolvedSource {
  const queue = queueName('a source', name);
  const options = (given ?? {}) as RabbitmqSourceOptions;
  assertKnownKeys(`the options of the RabbitMQ source '${queue}'`, options, SOURCE_KNOWN);
  if (options.declare !== undefined && typeof options.declare !== 'boolean')
    throw invalid(
      `source '${queue}': 'declare' must be true or false, got ${JSON.stringify(options.declare)}`,
    );
  return {
    queue,
    declare: options.declare ?? defaults.declare,
    queueType: queueType(`${queue}'s queueType`, options.queueType, defaults.queueType),
    deadLetterQueue: queueName(
      `source '${queue}': the dead-letter queue`,
      options.deadLetterQueue ?? defaults.deadLetterQueue(queue),
    ),
  };
}

/**
 * Checks a publish destination: the exchange ('' for a queue by name), the routing key, and for a queue the source
 * options it may carry too (the same Destination is used to consume and to publish): the queue is declared before the
 * first publish when it would be declared to consume from it.
 */
export function resolveDestination(
  name: string,
  given: Readonly<Record<string, unknown>> | undefined,
  defaults: ResolvedOptions,
): { readonly exchange: string; readonly routingKey: string; readonly queue: ResolvedSource | undefined } {
  const options = (given ?? {}) as RabbitmqDestinationOptions & RabbitmqSourceOptions;
  assertKnownKeys(`the options of the RabbitMQ destination '${name}'`, options, [
    ...DESTINATION_KNOWN,
    ...SOURCE_KNOWN,
  ]);
  if (options.exchange !== undefined) {
    if (typeof options.exchange !== 'string' || options.exchange === '')
      throw invalid(
        `destination '${name}': 'exchange' must be an exchange's name, got ${JSON.stringify(options.exchange)}`,
      );
    const misplaced = SOURCE_KNOWN.find((key) => key in options);
    if (misplaced !== undefined)
      throw invalid(`destination '${name}': '${misplaced}' is for queues, not with 'exchange'`);
    if (typeof name !== 'string')
      throw invalid(`a destination's name must be a routing key, got ${JSON.stringify(name)}`);
    return { exchange: options.exchange, routingKey: name, queue: undefined };
  }
  const { exchange: _, ...source } = options;
  return { exchange: '', routingKey: name, queue: resolveSource(name, source, defaults) };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
