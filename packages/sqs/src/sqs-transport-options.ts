/**
 * What `sqsTransport()` takes, its defaults, and their validation (unknown keys and out-of-range values are refused
 * with the key named, like every Hostwork option object).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCodes, HostworkError } from 'hostwork';

/** Where the transport logs trouble it recovers from by itself (a pino `Logger` fits). */
export interface TransportLogger {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

/** Static AWS credentials (for an emulator, any non-empty strings). */
export interface SqsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Options of {@link sqsTransport}. */
export interface SqsTransportOptions {
  /**
   * A client of your own (your credentials provider, retry strategy, HTTP agent). It is not destroyed by `close()`.
   * Without it the transport creates one from `region`, `endpoint` and `credentials` and destroys it on `close()`.
   */
  readonly client?: SQSClient;
  /** AWS region of a created client. Default: the SDK's (AWS_REGION...). */
  readonly region?: string;
  /** Endpoint of a created client (an emulator, a VPC endpoint). Default: the SDK's for the region. */
  readonly endpoint?: string;
  /** Credentials of a created client. Default: the SDK's provider chain. */
  readonly credentials?: SqsCredentials;
  /** Create queues that do not exist (the source, publish targets, a `<queue>-dead` dead-letter queue). For dev. */
  readonly createQueues?: boolean;
  /** Long polling: how long one receive waits for messages, 0 to 20 s. Default: 20. */
  readonly waitTimeSeconds?: number;
  /**
   * The visibility timeout asked for on every receive, in ms (whole seconds, 0 to 12 h). Default: the queue's own
   * `VisibilityTimeout`, read once at subscribe.
   */
  readonly visibilityTimeoutMs?: number;
  /**
   * The dead-letter queue (name or URL) of every source without its own (`deadLetterQueue` in the source's
   * options). Default: the source's RedrivePolicy `deadLetterTargetArn`, else `<queue>-dead` when `createQueues`.
   */
  readonly deadLetterQueue?: string;
  /** How long acks are collected into one DeleteMessageBatch (at most 10 entries), in ms. Default: 5. */
  readonly ackBatchMs?: number;
  /**
   * The largest message SQS takes, body and attributes, in bytes; also the limit of one batch. Default: 262,144
   * (256 KiB; AWS accepts up to 1 MiB since 2025 when the queue's MaximumMessageSize allows it).
   */
  readonly maxMessageBytes?: number;
  /** Backoff between failed receives (broker unreachable): first and longest wait, in ms. Default: 200 and 10,000. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** How long `close()` waits for pending acks and settles before giving up with a warning, in ms. Default: 10,000. */
  readonly closeTimeoutMs?: number;
  /** Where recoverable trouble is logged. Default: `process.emitWarning`, once per outage. */
  readonly logger?: TransportLogger;
}

/** What a source's `Destination.options` may hold. */
export interface SqsSourceOptions {
  /** This source's dead-letter queue (name or URL); overrides the transport's `deadLetterQueue`. */
  readonly deadLetterQueue?: string;
  /** This source's visibility timeout in ms; overrides the transport's `visibilityTimeoutMs`. */
  readonly visibilityTimeoutMs?: number;
}

/** The options with their defaults. */
export interface ResolvedOptions {
  readonly createQueues: boolean;
  readonly waitTimeSeconds: number;
  readonly visibilityTimeoutMs: number | undefined;
  readonly deadLetterQueue: string | undefined;
  readonly ackBatchMs: number;
  readonly maxMessageBytes: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly closeTimeoutMs: number;
}

/** The longest visibility timeout SQS allows: 12 h. */
export const MAX_VISIBILITY_MS = 43_200_000;

const KNOWN = new Set([
  'client',
  'region',
  'endpoint',
  'credentials',
  'createQueues',
  'waitTimeSeconds',
  'visibilityTimeoutMs',
  'deadLetterQueue',
  'ackBatchMs',
  'maxMessageBytes',
  'reconnectMinMs',
  'reconnectMaxMs',
  'closeTimeoutMs',
  'logger',
]);

function invalid(key: string, value: unknown, expected: string): HostworkError {
  return new HostworkError(
    ErrorCodes.INVALID_OPTION,
    `sqsTransport: option ${key} is ${JSON.stringify(value)}; expected ${expected}.`,
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

/** Validates the options and fills in the defaults. */
export function resolveOptions(options: SqsTransportOptions): ResolvedOptions {
  const raw = options as unknown as Record<string, unknown>;
  for (const key of Object.keys(raw))
    if (!KNOWN.has(key))
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `sqsTransport: unknown option ${key}; known options are ${[...KNOWN].join(', ')}.`,
      );
  if (
    options.client !== undefined &&
    (options.region ?? options.endpoint ?? options.credentials) !== undefined
  )
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      'sqsTransport: give either client or region/endpoint/credentials, not both (configure your own client fully).',
    );
  if (options.visibilityTimeoutMs !== undefined)
    visibilityMs('visibilityTimeoutMs', options.visibilityTimeoutMs);
  if (
    options.deadLetterQueue !== undefined &&
    (typeof options.deadLetterQueue !== 'string' || !options.deadLetterQueue)
  )
    throw invalid('deadLetterQueue', options.deadLetterQueue, 'a queue name or URL');
  const reconnectMinMs = integer(raw, 'reconnectMinMs', 1, 600_000, 200);
  return {
    createQueues: options.createQueues === true,
    waitTimeSeconds: integer(raw, 'waitTimeSeconds', 0, 20, 20),
    visibilityTimeoutMs: options.visibilityTimeoutMs,
    deadLetterQueue: options.deadLetterQueue,
    ackBatchMs: integer(raw, 'ackBatchMs', 0, 1_000, 5),
    maxMessageBytes: integer(raw, 'maxMessageBytes', 1_024, 1_048_576, 262_144),
    reconnectMinMs,
    reconnectMaxMs: integer(raw, 'reconnectMaxMs', reconnectMinMs, 600_000, Math.max(10_000, reconnectMinMs)),
    closeTimeoutMs: integer(raw, 'closeTimeoutMs', 0, 600_000, 10_000),
  };
}

/** Checks a visibility timeout in ms: whole seconds from 0 to 12 h. */
export function visibilityMs(key: string, value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 0 ||
    value > MAX_VISIBILITY_MS ||
    value % 1000
  )
    throw invalid(key, value, 'whole seconds in ms from 0 to 43,200,000 (12 h)');
  return value;
}

/** Validates a source's `Destination.options`. */
export function resolveSourceOptions(
  queue: string,
  options: Readonly<Record<string, unknown>> | undefined,
): SqsSourceOptions {
  if (options === undefined) return {};
  for (const key of Object.keys(options))
    if (key !== 'deadLetterQueue' && key !== 'visibilityTimeoutMs')
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `sqsTransport: unknown option ${key} of source ${queue}; known: deadLetterQueue, visibilityTimeoutMs.`,
      );
  const dead = options.deadLetterQueue;
  if (dead !== undefined && (typeof dead !== 'string' || !dead))
    throw invalid(`deadLetterQueue (source ${queue})`, dead, 'a queue name or URL');
  const visibility = options.visibilityTimeoutMs;
  if (visibility !== undefined) visibilityMs(`visibilityTimeoutMs (source ${queue})`, visibility);
  return {
    deadLetterQueue: dead as string | undefined,
    visibilityTimeoutMs: visibility as number | undefined,
  };
}
