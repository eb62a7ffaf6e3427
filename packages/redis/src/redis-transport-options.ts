/**
 * The options of {@link redisTransport} and of each source and destination (`Destination.options`), checked once with
 * Hostwork's option errors (HW_UNKNOWN_OPTION for a misspelt key, HW_INVALID_OPTION for a bad value).
 */
import { assertKnownKeys, ErrorCodes, HostworkError } from 'hostwork';
import type { WarningListener } from './warnings.ts';

/** Where a consumer group Hostwork creates starts reading: the whole stream ('0') or only what comes after ('$'). */
export type GroupStart = '0' | '$';

/** What {@link redisTransport} takes. */
export interface RedisTransportOptions {
  /** The server: `redis://[[user]:password@]host:6379[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** The consumer group every source is read through, unless the source names its own. Default 'hostwork'. */
  readonly group?: string;
  /**
   * The lease of a delivery, in ms: how long an entry may stay pending with a consumer that neither settles nor extends
   * it before another consumer takes it over (its claim's min-idle-time). It is each delivery's `lockMs`;
   * the consumer engine extends it while the handler runs. Every consumer of a group should use the same lease.
   * Default 30000.
   */
  readonly leaseMs?: number;
  /** How often a subscription looks for entries whose lease ran out, in ms. Default leaseMs / 2, at most 5000. */
  readonly claimIntervalMs?: number;
  /** The longest one XREADGROUP blocks waiting for entries, in ms (stop() interrupts it). Default 5000. */
  readonly blockMs?: number;
  /**
   * How often a subscription moves due retries (and delayed publishes) from the scheduled set back to the stream when
   * it knows of none due sooner, in ms. Default 1000.
   */
  readonly schedulePollMs?: number;
  /** The dead-letter stream of a source stream. Default `<stream>:dead`. */
  readonly deadLetterStream?: (stream: string) => string;
  /** The sorted set holding a source's delayed retries and delayed publishes. Default `<stream>:scheduled`. */
  readonly scheduledKey?: (stream: string) => string;
  /** Trims each source stream to about this many entries as Hostwork adds to it (XADD MAXLEN ~). Default: no trimming. */
  readonly maxLength?: number;
  /** Trims entries older than this many ms as Hostwork adds to a source stream (XADD MINID ~). Default: no trimming. */
  readonly maxAgeMs?: number;
  /**
   * Deletes an entry from the stream (XDEL) when it is settled, besides acknowledging it: the stream is then a work
   * queue that holds only what is not done. Only for a stream read by one consumer group. Default false.
   */
  readonly deleteAcked?: boolean;
  /** Where a consumer group Hostwork creates starts: '0' (default, everything in the stream) or '$' (new entries only). */
  readonly groupStart?: GroupStart;
  /** The connections' name (CLIENT SETNAME), seen in CLIENT LIST. Default 'hostwork'. */
  readonly connectionName?: string;
  /** How long connecting may take before it counts as failed, in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** The first wait before reconnecting after a loss, in ms, doubling up to {@link maxReconnectDelayMs}. Default 100. */
  readonly reconnectDelayMs?: number;
  /** The longest wait between reconnect attempts, in ms. Default 5000. */
  readonly maxReconnectDelayMs?: number;
  /** How long `close()` waits for pending settle and publish calls and the server, in ms. Default 10000. */
  readonly closeTimeoutMs?: number;
  /** Receives the transport's warnings instead of the host's logger (see {@link WarningListener}). */
  readonly onWarning?: WarningListener;
}

/**
 * `Destination.options` of a source given to `subscribe`, or of a destination given to `publish` (one Destination
 * serves both; a publish uses only the trimming and the scheduled set).
 */
export interface RedisSourceOptions {
  /** This source's consumer group. Default: the transport's `group`. */
  readonly group?: string;
  /** This source's lease in ms. Default: the transport's `leaseMs`. */
  readonly leaseMs?: number;
  /** This source's dead-letter stream. Default `<stream>:dead` (or the transport's `deadLetterStream`). */
  readonly deadLetterStream?: string;
  /** Trimming of this stream (XADD MAXLEN ~). Default: the transport's `maxLength`. */
  readonly maxLength?: number;
  /** Trimming of this stream by age (XADD MINID ~). Default: the transport's `maxAgeMs`. */
  readonly maxAgeMs?: number;
  /** XDEL entries when settled. Default: the transport's `deleteAcked`. */
  readonly deleteAcked?: boolean;
  /** Where the group starts when Hostwork creates it. Default: the transport's `groupStart`. */
  readonly groupStart?: GroupStart;
}

/** The options with their defaults applied. */
export interface ResolvedOptions {
  readonly url: string;
  readonly group: string;
  readonly leaseMs: number;
  readonly claimIntervalMs: number | undefined;
  readonly blockMs: number;
  readonly schedulePollMs: number;
  readonly deadLetterStream: (stream: string) => string;
  readonly scheduledKey: (stream: string) => string;
  readonly maxLength: number | undefined;
  readonly maxAgeMs: number | undefined;
  readonly deleteAcked: boolean;
  readonly groupStart: GroupStart;
  readonly connectionName: string;
  readonly connectTimeoutMs: number;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly closeTimeoutMs: number;
  readonly onWarning: WarningListener | undefined;
}

/** How XADD trims a stream: nothing, MAXLEN ~ n, or MINID ~ (now - age). */
export type Trim =
  | { readonly kind: 'none' }
  | { readonly kind: 'maxlen'; readonly count: number }
  | { readonly kind: 'minid'; readonly ageMs: number };

/** A source (or destination) stream with the transport's defaults applied. */
export interface ResolvedStream {
  readonly stream: string;
  readonly group: string;
  readonly leaseMs: number;
  readonly claimIntervalMs: number;
  readonly deadLetterStream: string;
  readonly scheduledKey: string;
  readonly trim: Trim;
  readonly deleteAcked: boolean;
  readonly groupStart: GroupStart;
}

const KNOWN = [
  'url',
  'group',
  'leaseMs',
  'claimIntervalMs',
  'blockMs',
  'schedulePollMs',
  'deadLetterStream',
  'scheduledKey',
  'maxLength',
  'maxAgeMs',
  'deleteAcked',
  'groupStart',
  'connectionName',
  'connectTimeoutMs',
  'reconnectDelayMs',
  'maxReconnectDelayMs',
  'closeTimeoutMs',
  'onWarning',
];
const STREAM_KNOWN = [
  'group',
  'leaseMs',
  'deadLetterStream',
  'maxLength',
  'maxAgeMs',
  'deleteAcked',
  'groupStart',
];
const WHERE = 'redisTransport';

function invalid(problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `${WHERE}: ${problem}.`);
}

function wholeNumber(key: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw invalid(`'${key}' must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
  return value;
}

function name(where: string, value: unknown): string {
  if (typeof value !== 'string' || value === '')
    throw invalid(`${where} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

function boolean(key: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean')
    throw invalid(`'${key}' must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function groupStart(key: string, value: unknown): GroupStart | undefined {
  if (value !== undefined && value !== '0' && value !== '$')
    throw invalid(
      `'${key}' must be '0' (the whole stream) or '$' (new entries only), got ${JSON.stringify(value)}`,
    );
  return value;
}

function naming(key: string, value: unknown): ((stream: string) => string) | undefined {
  if (value !== undefined && typeof value !== 'function')
    throw invalid(`'${key}' must be a function from a source stream's name to a key name`);
  return value as ((stream: string) => string) | undefined;
}

/** Checks the transport's options and applies the defaults. */
export function resolveOptions(options: RedisTransportOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw invalid('the options must be an object with a url');
  assertKnownKeys('the redisTransport options', options, KNOWN);
  if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))
    throw invalid(
      `'url' must be a redis:// or rediss:// URL, got ${JSON.stringify(redact(String(options.url)))}`,
    );
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
    throw invalid("'onWarning' must be a function");
  const reconnectDelayMs = wholeNumber('reconnectDelayMs', options.reconnectDelayMs, 1) ?? 100;
  const maxReconnectDelayMs = wholeNumber('maxReconnectDelayMs', options.maxReconnectDelayMs, 1) ?? 5_000;
  if (maxReconnectDelayMs < reconnectDelayMs)
    throw invalid(
      `'maxReconnectDelayMs' (${maxReconnectDelayMs}) must be at least 'reconnectDelayMs' (${reconnectDelayMs})`,
    );
  const maxLength = wholeNumber('maxLength', options.maxLength, 1);
  const maxAgeMs = wholeNumber('maxAgeMs', options.maxAgeMs, 1);
  if (maxLength !== undefined && maxAgeMs !== undefined)
    throw invalid("give 'maxLength' or 'maxAgeMs', not both (XADD trims by one of them)");
  return {
    url: options.url,
    group: options.group === undefined ? 'hostwork' : name("'group'", options.group),
    leaseMs: wholeNumber('leaseMs', options.leaseMs, 100) ?? 30_000,
    claimIntervalMs: wholeNumber('claimIntervalMs', options.claimIntervalMs, 10),
    blockMs: wholeNumber('blockMs', options.blockMs, 1) ?? 5_000,
    schedulePollMs: wholeNumber('schedulePollMs', options.schedulePollMs, 10) ?? 1_000,
    deadLetterStream: naming('deadLetterStream', options.deadLetterStream) ?? ((stream) => `${stream}:dead`),
    scheduledKey: naming('scheduledKey', options.scheduledKey) ?? ((stream) => `${stream}:scheduled`),
    maxLength,
    maxAgeMs,
    deleteAcked: boolean('deleteAcked', options.deleteAcked) ?? false,
    groupStart: groupStart('groupStart', options.groupStart) ?? '0',
    connectionName:
      options.connectionName === undefined ? 'hostwork' : name("'connectionName'", options.connectionName),
    connectTimeoutMs: wholeNumber('connectTimeoutMs', options.connectTimeoutMs, 1) ?? 5_000,
    reconnectDelayMs,
    maxReconnectDelayMs,
    closeTimeoutMs: wholeNumber('closeTimeoutMs', options.closeTimeoutMs, 1) ?? 10_000,
    onWarning: options.onWarning,
  };
}

/** Checks a source's (or destination's) name and options and applies the transport's defaults. */
export function resolveStream(
  streamName: string,
  given: Readonly<Record<string, unknown>> | undefined,
  defaults: ResolvedOptions,
): ResolvedStream {
  const stream = name('a stream name', streamName);
  const options = (given ?? {}) as RedisSourceOptions;
  if (typeof options !== 'object' || options === null)
    throw invalid(`the options of stream '${stream}' must be an object`);
  assertKnownKeys(`the options of the Redis stream '${stream}'`, options, STREAM_KNOWN);
  const where = (key: string) => `stream '${stream}': '${key}'`;
  const leaseMs = wholeNumber(where('leaseMs'), options.leaseMs, 100) ?? defaults.leaseMs;
  const ownMaxLength = wholeNumber(where('maxLength'), options.maxLength, 1);
  const ownMaxAgeMs = wholeNumber(where('maxAgeMs'), options.maxAgeMs, 1);
  if (ownMaxLength !== undefined && ownMaxAgeMs !== undefined)
    throw invalid(`stream '${stream}': give 'maxLength' or 'maxAgeMs', not both`);
  // A source's own trimming replaces the transport's, whichever kind either is.
  const own = ownMaxLength !== undefined || ownMaxAgeMs !== undefined;
  const maxLength = own ? ownMaxLength : defaults.maxLength;
  const maxAgeMs = own ? ownMaxAgeMs : defaults.maxAgeMs;
  const trim: Trim =
    maxLength !== undefined
      ? { kind: 'maxlen', count: maxLength }
      : maxAgeMs !== undefined
        ? { kind: 'minid', ageMs: maxAgeMs }
        : { kind: 'none' };
  const deadLetterStream = name(
    `stream '${stream}': the dead-letter stream`,
    options.deadLetterStream ?? defaults.deadLetterStream(stream),
  );
  const scheduledKey = name(`stream '${stream}': the scheduled set`, defaults.scheduledKey(stream));
  for (const [what, key] of [
    ['dead-letter stream', deadLetterStream],
    ['scheduled set', scheduledKey],
  ] as const)
    if (key === stream)
      throw invalid(`stream '${stream}': its ${what} must be another key than the stream itself`);
  return {
    stream,
    group: options.group === undefined ? defaults.group : name(where('group'), options.group),
    leaseMs,
    claimIntervalMs: defaults.claimIntervalMs ?? Math.max(10, Math.min(Math.floor(leaseMs / 2), 5_000)),
    deadLetterStream,
    scheduledKey,
    trim,
    deleteAcked: boolean(where('deleteAcked'), options.deleteAcked) ?? defaults.deleteAcked,
    groupStart: groupStart(where('groupStart'), options.groupStart) ?? defaults.groupStart,
  };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
}
