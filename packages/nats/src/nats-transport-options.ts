/**
 * The options of {@link natsTransport} and of each source and destination (`Destination.options`), checked once with
 * Hostwork's option errors (HW_UNKNOWN_OPTION for a misspelt key, HW_INVALID_OPTION for a bad value).
 *
 * A Destination's `name` is a NATS subject: Hostwork publishes to it, and a subscription consumes the messages of
 * that subject from the stream that captures it, through a durable pull consumer. See the README for the mapping.
 */
import { assertKnownKeys, ErrorCodes, HostworkError } from 'hostwork';
import type { WarningListener } from './warnings.ts';

/** How a stream Hostwork declares keeps its messages (JetStream's retention policy). */
export type Retention = 'workqueue' | 'limits' | 'interest';
/** Where a stream Hostwork declares keeps its messages. */
export type Storage = 'file' | 'memory';

/**
 * Connection settings passed on to `@nats-io/transport-node`'s `connect`: credentials, TLS, pings. The transport owns
 * `servers`, `name` and the reconnect settings. (Declared here rather than taken from the client's types, so that an
 * application type-checking its dependencies does not check the client's declarations through these.)
 */
export interface NatsConnectionOptions {
  /** User and password authentication. */
  readonly user?: string;
  readonly pass?: string;
  /** Token authentication. */
  readonly token?: string;
  /**
   * Any other authentication (nkeys, JWT credentials): an authenticator from `@nats-io/transport-node`
   * (`credsAuthenticator`, `nkeyAuthenticator`, `jwtAuthenticator`...), or several.
   */
  readonly authenticator?: ((nonce?: string) => unknown) | readonly ((nonce?: string) => unknown)[];
  /** TLS: an empty object requires it; files or PEM strings for the CA, the client certificate and its key. */
  readonly tls?: {
    readonly caFile?: string;
    readonly ca?: string;
    readonly certFile?: string;
    readonly cert?: string;
    readonly keyFile?: string;
    readonly key?: string;
    readonly handshakeFirst?: boolean;
  } | null;
  /** The client's PING interval in ms (default 2 minutes) and how many may go unanswered before it reconnects. */
  readonly pingInterval?: number;
  readonly maxPingOut?: number;
  /** How long the connection handshake may take, in ms (default 20000). */
  readonly timeout?: number;
  /** A prefix for the client's inboxes (the replies of requests and the subscriptions' pull requests). */
  readonly inboxPrefix?: string;
  /** Connect to the servers in the order given. */
  readonly noRandomize?: boolean;
  /** Do not add the servers a cluster announces to the list. */
  readonly ignoreClusterUpdates?: boolean;
  /** Print the protocol to the console (debugging). */
  readonly debug?: boolean;
}

/** What {@link natsTransport} takes. */
export interface NatsTransportOptions {
  /** The server(s): `127.0.0.1:4222`, `nats://host:4222`, or several of a cluster. Default `127.0.0.1:4222`. */
  readonly servers?: string | readonly string[];
  /**
   * Whether Hostwork declares what a source needs when it subscribes (its stream, its durable consumer, its
   * dead-letter stream) and the stream of a destination before publishing to it. Default true. With false, the
   * stream and the consumer must exist (HW_MESSAGE_SOURCE_MISSING names what is missing); the dead-letter stream is
   * still declared when missing, since Hostwork owns it. A source's own `declare` option wins.
   */
  readonly declare?: boolean;
  /** The retention of the streams Hostwork declares for sources. Default 'workqueue' (a message goes once acked). */
  readonly retention?: Retention;
  /** The storage of the streams Hostwork declares (sources and dead letters). Default 'file'. */
  readonly storage?: Storage;
  /** The replicas of the streams and consumers Hostwork declares (a cluster). Default 1. */
  readonly replicas?: number;
  /**
   * The AckWait of the consumers Hostwork declares, in ms: how long a delivery stays locked before JetStream
   * delivers it again. The engine keeps it locked with `working()` while the handler runs. Default 30000.
   */
  readonly ackWaitMs?: number;
  /** The dead-letter stream of a source stream: `<stream>_dead` unless given here (or in the source's options). */
  readonly deadLetterStream?: (stream: string) => string;
  /** The connection's name in the server's monitoring (`nats server report connections`). Default 'hostwork'. */
  readonly connectionName?: string;
  /** Other connection settings (credentials, TLS...): see {@link NatsConnectionOptions}. */
  readonly connectionOptions?: NatsConnectionOptions;
  /** How long a publish waits for the stream's acknowledgement, in ms, before it is tried again. Default 5000. */
  readonly publishTimeoutMs?: number;
  /** The first wait before reconnecting after a loss, in ms, doubling up to {@link maxReconnectDelayMs}. Default 100. */
  readonly reconnectDelayMs?: number;
  /** The longest wait between reconnect attempts, in ms. Default 5000. */
  readonly maxReconnectDelayMs?: number;
  /** How long `close()` waits for pending settle and publish calls and the connection's drain, in ms. Default 10000. */
  readonly closeTimeoutMs?: number;
  /**
   * How often each subscription reads its consumer's ack-pending count to warn before `max_ack_pending` stalls it,
   * in ms. Default 10000.
   */
  readonly ackPendingCheckMs?: number;
  /** Receives the transport's warnings instead of the host's logger (see {@link WarningListener}). */
  readonly onWarning?: WarningListener;
}

/** `Destination.options` of a source given to `subscribe` (and of a destination given to `publish`). */
export interface NatsSourceOptions {
  /** The stream that captures the subject. Default: the subject with `.`, `*`, `>` and spaces turned into `_`. */
  readonly stream?: string;
  /** The subjects of the stream when Hostwork declares it. Default: the destination's name alone. */
  readonly subjects?: readonly string[];
  /** The durable consumer's name. Default: the stream's default name (the subject with `.` turned into `_`). */
  readonly durable?: string;
  /** This source's AckWait in ms. Default: the transport's `ackWaitMs`. */
  readonly ackWaitMs?: number;
  /**
   * The consumer's `max_ack_pending`: deliveries JetStream lets be unacknowledged at once, across every process of
   * this consumer, retries waiting out their delay included. Default: 20 × the subscription's prefetch, at least 1000.
   */
  readonly maxAckPending?: number;
  /** Declare (true) or only check (false) this source's stream and consumer. Default: the transport's `declare`. */
  readonly declare?: boolean;
  /** This source's dead-letter stream. Default `<stream>_dead` (or the transport's `deadLetterStream`). */
  readonly deadLetterStream?: string;
  /** The subject dead letters are published to. Default `hostwork.dead.<stream>.<durable>`. */
  readonly deadLetterSubject?: string;
}

/** The options with their defaults applied. */
export interface ResolvedOptions {
  readonly servers: string[];
  readonly declare: boolean;
  readonly retention: Retention;
  readonly storage: Storage;
  readonly replicas: number;
  readonly ackWaitMs: number;
  readonly deadLetterStream: (stream: string) => string;
  readonly connectionName: string;
  readonly connectionOptions: NatsConnectionOptions;
  readonly publishTimeoutMs: number;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly closeTimeoutMs: number;
  readonly ackPendingCheckMs: number;
  readonly onWarning: WarningListener | undefined;
}

/** A source's options with the transport's defaults applied. */
export interface ResolvedSource {
  readonly subject: string;
  readonly stream: string;
  readonly subjects: readonly string[];
  readonly durable: string;
  readonly ackWaitMs: number;
  /** Undefined: sized from the subscription's prefetch. */
  readonly maxAckPending: number | undefined;
  readonly declare: boolean;
  readonly deadLetterStream: string;
  readonly deadLetterSubject: string;
}

const KNOWN = [
  'servers',
  'declare',
  'retention',
  'storage',
  'replicas',
  'ackWaitMs',
  'deadLetterStream',
  'connectionName',
  'connectionOptions',
  'publishTimeoutMs',
  'reconnectDelayMs',
  'maxReconnectDelayMs',
  'closeTimeoutMs',
  'ackPendingCheckMs',
  'onWarning',
];
const SOURCE_KNOWN = [
  'stream',
  'subjects',
  'durable',
  'ackWaitMs',
  'maxAckPending',
  'declare',
  'deadLetterStream',
  'deadLetterSubject',
];
/** Connection settings the transport owns: refused in `connectionOptions`. */
const OWNED_CONNECTION_OPTIONS = [
  'servers',
  'port',
  'name',
  'reconnect',
  'maxReconnectAttempts',
  'reconnectTimeWait',
  'reconnectJitter',
  'reconnectJitterTLS',
  'reconnectDelayHandler',
  'waitOnFirstConnect',
];
const RETENTIONS: readonly Retention[] = ['workqueue', 'limits', 'interest'];
const STORAGES: readonly Storage[] = ['file', 'memory'];
const WHERE = 'natsTransport';

/** The default of `maxAckPending`: room for every process's prefetch and for retries waiting out their delay. */
export function defaultMaxAckPending(prefetch: number): number {
  return Math.max(1_000, prefetch * 20);
}

function invalid(problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `${WHERE}: ${problem}.`);
}

function positiveInteger(key: string, value: unknown, fallback: number, unit = 'ms'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw invalid(
      `'${key}' must be a whole number${unit ? ` of ${unit}` : ''} >= 1, got ${JSON.stringify(value)}`,
    );
  return value;
}

function oneOf<T extends string>(key: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw invalid(
      `'${key}' must be ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`,
    );
  return value as T;
}

/** A stream or consumer name: JetStream refuses `.`, `*`, `>`, whitespace, path separators. */
function streamName(where: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > 255 || /[.*>\s/\\]/.test(value))
    throw invalid(
      `${where} must be a JetStream name of 1 to 255 characters without '.', '*', '>', '/', '\\' or whitespace, got ${JSON.stringify(value)}`,
    );
  return value;
}

/** A subject: tokens separated by `.`, none empty, no whitespace; wildcards only where `wildcards` allows. */
function subjectName(where: string, value: unknown, wildcards: boolean): string {
  const valid =
    typeof value === 'string' &&
    value !== '' &&
    !/\s/.test(value) &&
    value.split('.').every((token, i, all) => {
      if (token === '') return false;
      if (!wildcards) return !/[*>]/.test(token);
      if (token === '>') return i === all.length - 1;
      return token === '*' || !/[*>]/.test(token);
    });
  if (!valid)
    throw invalid(
      `${where} must be a NATS subject (tokens separated by '.', no spaces${wildcards ? '' : ', no wildcards'}), got ${JSON.stringify(value)}`,
    );
  return value as string;
}

/** A subject turned into a stream or consumer name: `orders.created` → `orders_created`. */
export function nameOf(subject: string): string {
  return subject.replace(/[.*>\s/\\]/g, '_');
}

/** Checks the transport's options and applies the defaults. */
export function resolveOptions(options: NatsTransportOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('the options must be an object');
  assertKnownKeys('the natsTransport options', options, KNOWN);
  const given = options.servers ?? '127.0.0.1:4222';
  const servers = typeof given === 'string' ? [given] : Array.isArray(given) ? [...given] : undefined;
  if (servers === undefined || servers.length === 0 || servers.some((s) => typeof s !== 'string' || s === ''))
    throw invalid(
      `'servers' must be a server ('127.0.0.1:4222', 'nats://host:4222') or a non-empty list of them, got ${JSON.stringify(given)}`,
    );
  if (options.declare !== undefined && typeof options.declare !== 'boolean')
    throw invalid(`'declare' must be true or false, got ${JSON.stringify(options.declare)}`);
  if (options.deadLetterStream !== undefined && typeof options.deadLetterStream !== 'function')
    throw invalid(
      "'deadLetterStream' must be a function from a source stream's name to its dead-letter stream's name",
    );
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
    throw invalid("'onWarning' must be a function");
  if (
    options.connectionName !== undefined &&
    (typeof options.connectionName !== 'string' || options.connectionName === '')
  )
    throw invalid(
      `'connectionName' must be a non-empty string, got ${JSON.stringify(options.connectionName)}`,
    );
  const connectionOptions = options.connectionOptions ?? {};
  if (typeof connectionOptions !== 'object' || connectionOptions === null)
    throw invalid("'connectionOptions' must be an object of @nats-io/transport-node connection options");
  const owned = OWNED_CONNECTION_OPTIONS.find((key) => key in connectionOptions);
  if (owned !== undefined)
    throw invalid(
      `'connectionOptions.${owned}' is set by the transport; use ${owned === 'servers' || owned === 'port' ? "'servers'" : owned === 'name' ? "'connectionName'" : "'reconnectDelayMs' and 'maxReconnectDelayMs'"} instead`,
    );
  const reconnectDelayMs = positiveInteger('reconnectDelayMs', options.reconnectDelayMs, 100);
  const maxReconnectDelayMs = positiveInteger('maxReconnectDelayMs', options.maxReconnectDelayMs, 5_000);
  if (maxReconnectDelayMs < reconnectDelayMs)
    throw invalid(
      `'maxReconnectDelayMs' (${maxReconnectDelayMs}) must be at least 'reconnectDelayMs' (${reconnectDelayMs})`,
    );
  return {
    servers,
    declare: options.declare ?? true,
    retention: oneOf('retention', options.retention, RETENTIONS, 'workqueue'),
    storage: oneOf('storage', options.storage, STORAGES, 'file'),
    replicas: positiveInteger('replicas', options.replicas, 1, ''),
    ackWaitMs: positiveInteger('ackWaitMs', options.ackWaitMs, 30_000),
    deadLetterStream: options.deadLetterStream ?? ((stream) => `${stream}_dead`),
    connectionName: options.connectionName ?? 'hostwork',
    connectionOptions,
    publishTimeoutMs: positiveInteger('publishTimeoutMs', options.publishTimeoutMs, 5_000),
    reconnectDelayMs,
    maxReconnectDelayMs,
    closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, 10_000),
    ackPendingCheckMs: positiveInteger('ackPendingCheckMs', options.ackPendingCheckMs, 10_000),
    onWarning: options.onWarning,
  };
}

/** Checks a source's (or a destination's) name and options and applies the transport's defaults. */
export function resolveSource(
  name: string,
  given: Readonly<Record<string, unknown>> | undefined,
  defaults: ResolvedOptions,
  what = 'source',
): ResolvedSource {
  const subject = subjectName(`a ${what}'s name`, name, false);
  const options = (given ?? {}) as NatsSourceOptions;
  if (typeof options !== 'object' || options === null)
    throw invalid(`the options of the NATS ${what} '${subject}' must be an object`);
  assertKnownKeys(`the options of the NATS ${what} '${subject}'`, options, SOURCE_KNOWN);
  const where = `${what} '${subject}'`;
  if (options.declare !== undefined && typeof options.declare !== 'boolean')
    throw invalid(`${where}: 'declare' must be true or false, got ${JSON.stringify(options.declare)}`);
  const stream = streamName(`${where}: 'stream'`, options.stream ?? nameOf(subject));
  let subjects: readonly string[] = [subject];
  if (options.subjects !== undefined) {
    if (!Array.isArray(options.subjects) || options.subjects.length === 0)
      throw invalid(
        `${where}: 'subjects' must be a non-empty list of subjects, got ${JSON.stringify(options.subjects)}`,
      );
    subjects = options.subjects.map((s, i) => subjectName(`${where}: subjects[${i}]`, s, true));
    if (!subjects.some((pattern) => subjectMatches(pattern, subject)))
      throw invalid(
        `${where}: 'subjects' (${subjects.join(', ')}) must capture the subject '${subject}' itself; add it or a wildcard that matches it`,
      );
  }
  const durable = streamName(`${where}: 'durable'`, options.durable ?? nameOf(subject));
  const deadLetterStream = streamName(
    `${where}: the dead-letter stream`,
    options.deadLetterStream ?? defaults.deadLetterStream(stream),
  );
  if (deadLetterStream === stream)
    throw invalid(`${where}: the dead-letter stream must not be the source's stream '${stream}'`);
  const deadLetterSubject = subjectName(
    `${where}: 'deadLetterSubject'`,
    options.deadLetterSubject ?? `hostwork.dead.${stream}.${durable}`,
    false,
  );
  if (subjects.some((pattern) => subjectMatches(pattern, deadLetterSubject)))
    throw invalid(
      `${where}: the dead-letter subject '${deadLetterSubject}' is captured by the source stream's subjects (${subjects.join(', ')}); name another 'deadLetterSubject'`,
    );
  return {
    subject,
    stream,
    subjects,
    durable,
    ackWaitMs: positiveInteger(`${subject}'s ackWaitMs`, options.ackWaitMs, defaults.ackWaitMs),
    maxAckPending:
      options.maxAckPending === undefined
        ? undefined
        : positiveInteger(`${subject}'s maxAckPending`, options.maxAckPending, 1, ''),
    declare: options.declare ?? defaults.declare,
    deadLetterStream,
    deadLetterSubject,
  };
}

/** Whether `subject` (no wildcards) matches `pattern` (NATS wildcards: `*` one token, `>` the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
