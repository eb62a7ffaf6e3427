/**
 * What `kafkaTransport()` takes, its defaults, and their validation (unknown keys and out-of-range values are refused
 * with the key named and the fix, like every Hostwork option object).
 */
import { ErrorCodes, HostworkError } from 'hostwork';
import type { WarningListener } from './warnings.ts';

/** How deliveries of one partition may overlap. */
export type KafkaOrdering =
  /** One message of a partition at a time, in offset order (Kafka's own guarantee); partitions run side by side. */
  | 'partition'
  /**
   * Messages of a partition with different keys run side by side; messages with the same key one at a time, in
   * offset order. A message without a key is ordered with nothing.
   */
  | 'key';

/** Where a group that has no committed offset for a partition starts reading it. */
export type KafkaStartFrom = 'earliest' | 'latest';

/** Options of {@link kafkaTransport}. */
export interface KafkaTransportOptions {
  /** Bootstrap brokers, `host:port` each. */
  readonly brokers: readonly string[];
  /** The Kafka client id of the transport's connections. Default: 'hostwork'. */
  readonly clientId?: string;
  /**
   * The consumer group of a source without its own (`group` in the source's options). Default: `hostwork.<topic>`:
   * one group per topic, shared by every process consuming it.
   */
  readonly groupId?: string;
  /** The retry topic of a topic: `<topic><retrySuffix>`. Default: '.retry'. Per source: `retryTopic`. */
  readonly retrySuffix?: string;
  /** The dead-letter topic of a topic: `<topic><deadLetterSuffix>`. Default: '.dead'. Per source: `deadLetterTopic`. */
  readonly deadLetterSuffix?: string;
  /** Default ordering of every source (see {@link KafkaOrdering}). Default: 'partition'. */
  readonly ordering?: KafkaOrdering;
  /** Where a new group starts on a partition without a committed offset. Default: 'earliest' (nothing missed). */
  readonly startFrom?: KafkaStartFrom;
  /** The group session timeout, in ms: a member silent this long is evicted. Default: 30,000. */
  readonly sessionTimeoutMs?: number;
  /** How often a member heartbeats, in ms (on a timer, never behind a handler). Default: 3,000. */
  readonly heartbeatIntervalMs?: number;
  /** How long the group waits for members to rejoin during a rebalance, in ms. Default: 60,000. */
  readonly rebalanceTimeoutMs?: number;
  /**
   * How long a member waits, before rejoining in a rebalance, for its running handlers to settle so their offsets
   * are committed, in ms; below `rebalanceTimeoutMs`. Default: 10,000.
   */
  readonly drainTimeoutMs?: number;
  /** How long settled offsets are collected into one commit, in ms. Default: 5. */
  readonly commitIntervalMs?: number;
  /** How long one fetch waits at the broker for new records, in ms. Default: 500. */
  readonly fetchMaxWaitMs?: number;
  /** The most bytes one fetch returns per partition. Default: 1,048,576. */
  readonly fetchMaxBytesPerPartition?: number;
  /** Backoff after a failed fetch, commit or join (broker unreachable): first and longest wait, in ms. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** How long `close()` waits for the last commits and the group leave before giving up, in ms. Default: 10,000. */
  readonly closeTimeoutMs?: number;
  /** Receives every warning (lost connection, failed commit...). Default: the host's logger, else `process.emitWarning`. */
  readonly onWarning?: WarningListener;
}

/** What a source's `Destination.options` may hold. */
export interface KafkaSourceOptions {
  /** This source's consumer group. */
  readonly group?: string;
  /** This source's retry topic (read by the same group). */
  readonly retryTopic?: string;
  /** This source's dead-letter topic. */
  readonly deadLetterTopic?: string;
  /** This source's ordering (see {@link KafkaOrdering}). */
  readonly ordering?: KafkaOrdering;
}

/** What a publish destination's `Destination.options` may hold. */
export interface KafkaDestinationOptions {
  /** Where messages with `delayMs` go (read by the destination's consumers with the not-before header). */
  readonly retryTopic?: string;
}

/** The options with their defaults. */
export interface ResolvedOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly groupId: string | undefined;
  readonly retrySuffix: string;
  readonly deadLetterSuffix: string;
  readonly ordering: KafkaOrdering;
  readonly startFrom: KafkaStartFrom;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly commitIntervalMs: number;
  readonly fetchMaxWaitMs: number;
  readonly fetchMaxBytesPerPartition: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly closeTimeoutMs: number;
}

/** A source resolved: its topics, group and ordering. */
export interface ResolvedSource {
  readonly topic: string;
  readonly retryTopic: string;
  readonly deadLetterTopic: string;
  readonly group: string;
  readonly ordering: KafkaOrdering;
}

const KNOWN = new Set([
  'brokers',
  'clientId',
  'groupId',
  'retrySuffix',
  'deadLetterSuffix',
  'ordering',
  'startFrom',
  'sessionTimeoutMs',
  'heartbeatIntervalMs',
  'rebalanceTimeoutMs',
  'drainTimeoutMs',
  'commitIntervalMs',
  'fetchMaxWaitMs',
  'fetchMaxBytesPerPartition',
  'reconnectMinMs',
  'reconnectMaxMs',
  'closeTimeoutMs',
  'onWarning',
]);
const SOURCE_KNOWN = ['group', 'retryTopic', 'deadLetterTopic', 'ordering'];
const DESTINATION_KNOWN = ['retryTopic'];

function invalid(key: string, value: unknown, expected: string): HostworkError {
  return new HostworkError(
    ErrorCodes.INVALID_OPTION,
    `kafkaTransport: option ${key} is ${JSON.stringify(value)}; expected ${expected}.`,
  );
}

function integer(
  options: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw invalid(key, value, `an integer from ${min} to ${max}`);
  return value;
}

function text(options: Record<string, unknown>, key: string, fallback: string): string;
function text(options: Record<string, unknown>, key: string, fallback: undefined): string | undefined;
function text(
  options: Record<string, unknown>,
  key: string,
  fallback: string | undefined,
): string | undefined {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw invalid(key, value, 'a non-empty string');
  return value;
}

function oneOf<T extends string>(
  options: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = options[key];
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw invalid(key, value, allowed.map((a) => `'${a}'`).join(' or '));
  return value as T;
}

/** Validates the options and fills in the defaults. */
export function resolveOptions(options: KafkaTransportOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      "kafkaTransport: options are required, at least { brokers: ['host:9092'] }.",
    );
  const raw = options as unknown as Record<string, unknown>;
  for (const key of Object.keys(raw))
    if (!KNOWN.has(key))
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `kafkaTransport: unknown option ${key}; known options are ${[...KNOWN].join(', ')}.`,
      );
  const brokers = options.brokers;
  if (
    !Array.isArray(brokers) ||
    brokers.length === 0 ||
    !brokers.every((b) => typeof b === 'string' && /^[^\s:]+:\d+$/.test(b))
  )
    throw invalid('brokers', brokers, "a non-empty array of 'host:port' strings");
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
    throw invalid('onWarning', typeof options.onWarning, 'a function (message, error, details)');
  const sessionTimeoutMs = integer(raw, 'sessionTimeoutMs', 1_000, 3_600_000, 30_000);
  const rebalanceTimeoutMs = integer(raw, 'rebalanceTimeoutMs', 1_000, 3_600_000, 60_000);
  const reconnectMinMs = integer(raw, 'reconnectMinMs', 1, 600_000, 200);
  return {
    brokers: [...brokers],
    clientId: text(raw, 'clientId', 'hostwork'),
    groupId: text(raw, 'groupId', undefined),
    retrySuffix: text(raw, 'retrySuffix', '.retry'),
    deadLetterSuffix: text(raw, 'deadLetterSuffix', '.dead'),
    ordering: oneOf(raw, 'ordering', ['partition', 'key'], 'partition'),
    startFrom: oneOf(raw, 'startFrom', ['earliest', 'latest'], 'earliest'),
    sessionTimeoutMs,
    // A heartbeat must come well within the session, or a member is evicted between two of them.
    heartbeatIntervalMs: integer(
      raw,
      'heartbeatIntervalMs',
      50,
      Math.floor(sessionTimeoutMs / 3),
      Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
    ),
    rebalanceTimeoutMs,
    // Draining must end before the group gives up on this member's rejoin.
    drainTimeoutMs: integer(
      raw,
      'drainTimeoutMs',
      0,
      rebalanceTimeoutMs - 500,
      Math.min(10_000, Math.floor(rebalanceTimeoutMs / 2)),
    ),
    commitIntervalMs: integer(raw, 'commitIntervalMs', 0, 10_000, 5),
    fetchMaxWaitMs: integer(raw, 'fetchMaxWaitMs', 0, 30_000, 500),
    fetchMaxBytesPerPartition: integer(raw, 'fetchMaxBytesPerPartition', 1_024, 104_857_600, 1_048_576),
    reconnectMinMs,
    reconnectMaxMs: integer(raw, 'reconnectMaxMs', reconnectMinMs, 600_000, Math.max(10_000, reconnectMinMs)),
    closeTimeoutMs: integer(raw, 'closeTimeoutMs', 0, 600_000, 10_000),
  };
}

/** Validates a source's `Destination.options` and resolves its topics, group and ordering. */
export function resolveSource(
  topic: string,
  options: Readonly<Record<string, unknown>> | undefined,
  resolved: ResolvedOptions,
): ResolvedSource {
  const raw = options ?? {};
  for (const key of Object.keys(raw))
    if (!SOURCE_KNOWN.includes(key))
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `kafkaTransport: unknown option ${key} of source ${topic}; known: ${SOURCE_KNOWN.join(', ')}.`,
      );
  checkTopic(topic);
  const retryTopic = text(raw, 'retryTopic', `${topic}${resolved.retrySuffix}`);
  const deadLetterTopic = text(raw, 'deadLetterTopic', `${topic}${resolved.deadLetterSuffix}`);
  if (retryTopic === topic || deadLetterTopic === topic || retryTopic === deadLetterTopic)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `kafkaTransport: source ${topic} needs three different topics (source, retry, dead letters); got ${topic}, ${retryTopic}, ${deadLetterTopic}.`,
    );
  return {
    topic,
    retryTopic,
    deadLetterTopic,
    group: text(raw, 'group', resolved.groupId ?? `hostwork.${topic}`),
    ordering: oneOf(raw, 'ordering', ['partition', 'key'], resolved.ordering),
  };
}

/** Validates a publish destination's options: its retry topic (where delayed messages go). */
export function resolveDestination(
  topic: string,
  options: Readonly<Record<string, unknown>> | undefined,
  resolved: ResolvedOptions,
): { readonly topic: string; readonly retryTopic: string } {
  const raw = options ?? {};
  for (const key of Object.keys(raw))
    if (!DESTINATION_KNOWN.includes(key) && !SOURCE_KNOWN.includes(key))
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `kafkaTransport: unknown option ${key} of destination ${topic}; known: ${DESTINATION_KNOWN.join(', ')}.`,
      );
  checkTopic(topic);
  return { topic, retryTopic: text(raw, 'retryTopic', `${topic}${resolved.retrySuffix}`) };
}

/** Kafka's topic name rule: 1 to 249 of [a-zA-Z0-9._-]. */
function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(topic))
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `kafkaTransport: topic ${JSON.stringify(topic)} is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -).`,
    );
}
