/**
 * The streams and consumers a source needs: its stream (declared with `declare`, else checked), its durable pull
 * consumer (the same), and its dead-letter stream (declared when missing: Hostwork owns it). Existing ones are used
 * as they are when they fit (a stream that captures the subject, an explicit-ack pull consumer filtered on it); one
 * that does not is an error naming what to change. Hostwork changes an existing consumer only where it declares it:
 * its AckWait and `max_ack_pending` when they differ from what the source asks for.
 */
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamInfo,
} from '@nats-io/jetstream';
import { ErrorCodes, HostworkError } from 'hostwork';
import {
  defaultMaxAckPending,
  type ResolvedOptions,
  type ResolvedSource,
  subjectMatches,
} from './nats-transport-options.ts';

/** JetStream's API error codes Hostwork tells apart. */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
/** "stream name already in use": another process declared it first. */
const STREAM_NAME_IN_USE = 10058;

const NS_PER_MS = 1_000_000;

/** What a subscription consumes with: the consumer's AckWait and `max_ack_pending` as the server has them. */
export interface ConsumerSettings {
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
}

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

function failed(message: string, cause: unknown): HostworkError {
  return new HostworkError(
    ErrorCodes.TRANSPORT_FAILED,
    `natsTransport: ${message}: ${(cause as Error)?.message ?? String(cause)}.`,
    { cause },
  );
}

async function streamInfo(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream);
  } catch (error) {
    if (apiCode(error) === STREAM_NOT_FOUND) return undefined;
    throw error;
  }
}

/** The info of a stream's durable consumer, or undefined when it (or its stream) does not exist. */
export async function consumerInfo(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, durable);
  } catch (error) {
    const code = apiCode(error);
    if (code === CONSUMER_NOT_FOUND || code === STREAM_NOT_FOUND) return undefined;
    throw error;
  }
}

/** Adds a stream; one another process added meanwhile is read back. */
async function addStream(
  jsm: JetStreamManager,
  config: Parameters<JetStreamManager['streams']['add']>[0],
): Promise<StreamInfo> {
  try {
    return await jsm.streams.add(config);
  } catch (error) {
    if (apiCode(error) === STREAM_NAME_IN_USE) {
      const info = await streamInfo(jsm, config.name);
      if (info) return info;
    }
    throw failed(
      `declaring stream '${config.name}' (subjects ${config.subjects?.join(', ')}) failed; a stream whose subjects overlap these may exist`,
      error,
    );
  }
}

/**
 * The source's stream, declared (with `declare`) or checked: it must capture the source's subject. Used before
 * subscribing and, with `declare`, before the first publish to a destination.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  source: ResolvedSource,
  options: ResolvedOptions,
): Promise<void> {
  let info = await streamInfo(jsm, source.stream);
  if (!info) {
    if (!source.declare)
      throw new HostworkError(
        ErrorCodes.MESSAGE_SOURCE_MISSING,
        `natsTransport: stream '${source.stream}' does not exist; create it (capturing subject '${source.subject}'), or let Hostwork declare it with declare: true (in the destination's options or the transport's).`,
      );
    info = await addStream(jsm, {
      name: source.stream,
      subjects: [...source.subjects],
      retention: RETENTION[options.retention],
      storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: options.replicas,
    });
  }
  const subjects = info.config.subjects ?? [];
  if (!subjects.some((pattern) => subjectMatches(pattern, source.subject)))
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `natsTransport: stream '${source.stream}' exists but does not capture subject '${source.subject}' (its subjects: ${subjects.join(', ') || 'none'}); add the subject to the stream, or name the stream that captures it in the destination's 'stream' option.`,
    );
}

const RETENTION = {
  workqueue: RetentionPolicy.Workqueue,
  limits: RetentionPolicy.Limits,
  interest: RetentionPolicy.Interest,
} as const;

/**
 * The source's durable pull consumer, declared (with `declare`) or checked, and updated where Hostwork declares it
 * and its AckWait or `max_ack_pending` differ from what the source asks for. Returns the settings it has.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  source: ResolvedSource,
  prefetch: number,
  options: ResolvedOptions,
): Promise<ConsumerSettings> {
  const where = `consumer '${source.durable}' of stream '${source.stream}'`;
  const wantedAckPending = source.maxAckPending ?? defaultMaxAckPending(prefetch);
  let info = await consumerInfo(jsm, source.stream, source.durable);
  if (!info) {
    if (!source.declare)
      throw new HostworkError(
        ErrorCodes.MESSAGE_SOURCE_MISSING,
        `natsTransport: ${where} does not exist; create it (a durable pull consumer with explicit acks, filtered on '${source.subject}'), or let Hostwork declare it with declare: true.`,
      );
    try {
      info = await jsm.consumers.add(source.stream, {
        durable_name: source.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: source.subject,
        ack_wait: source.ackWaitMs * NS_PER_MS,
        // Hostwork counts attempts and dead-letters; JetStream redelivers for as long as it takes.
        max_deliver: -1,
        max_ack_pending: wantedAckPending,
        ...(options.replicas > 1 ? { num_replicas: options.replicas } : {}),
      });
    } catch (error) {
      // Another process declared it first: use it (checked below).
      info = await consumerInfo(jsm, source.stream, source.durable);
      if (!info) throw failed(`declaring ${where} failed`, error);
    }
  }
  const config = info.config;
  if (config.deliver_subject)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `natsTransport: ${where} is a push consumer; Hostwork consumes with a pull consumer. Name another 'durable', or delete it.`,
    );
  if (config.ack_policy !== AckPolicy.Explicit)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `natsTransport: ${where} has ack_policy '${config.ack_policy}'; Hostwork needs 'explicit' (each message acknowledged once handled). Name another 'durable', or delete it.`,
    );
  const filter = config.filter_subject ?? '';
  // The stream is read only for an unfiltered consumer (one round trip less at start in the common case).
  const streamSubjects = filter === '' ? ((await streamInfo(jsm, source.stream))?.config.subjects ?? []) : [];
  const filtersSource =
    filter === source.subject ||
    (filter === '' && streamSubjects.length === 1 && streamSubjects[0] === source.subject);
  if (!filtersSource)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `natsTransport: ${where} is filtered on '${filter || '(every subject)'}', not on '${source.subject}'; name another 'durable', or delete it.`,
    );
  let ackWaitMs = Math.round((config.ack_wait ?? 30_000 * NS_PER_MS) / NS_PER_MS);
  let maxAckPending = config.max_ack_pending ?? -1;
  if (source.declare) {
    const raise =
      source.maxAckPending !== undefined
        ? maxAckPending !== source.maxAckPending
        : maxAckPending !== -1 && maxAckPending < prefetch;
    if (ackWaitMs !== source.ackWaitMs || raise) {
      const updated = await jsm.consumers.update(source.stream, source.durable, {
        ack_wait: source.ackWaitMs * NS_PER_MS,
        ...(raise ? { max_ack_pending: wantedAckPending } : {}),
      });
      ackWaitMs = Math.round((updated.config.ack_wait ?? 30_000 * NS_PER_MS) / NS_PER_MS);
      maxAckPending = updated.config.max_ack_pending ?? -1;
    }
  }
  return { ackWaitMs, maxAckPending };
}

/**
 * The dead-letter stream, declared when missing (limits retention: dead letters stay until someone deals with them),
 * or given the dead-letter subject when it exists without it.
 */
export async function ensureDeadLetterStream(
  jsm: JetStreamManager,
  source: ResolvedSource,
  options: ResolvedOptions,
): Promise<void> {
  const info = await streamInfo(jsm, source.deadLetterStream);
  if (!info) {
    await addStream(jsm, {
      name: source.deadLetterStream,
      subjects: [source.deadLetterSubject],
      retention: RetentionPolicy.Limits,
      storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: options.replicas,
    });
    return;
  }
  const subjects = info.config.subjects ?? [];
  if (subjects.some((pattern) => subjectMatches(pattern, source.deadLetterSubject))) return;
  try {
    await jsm.streams.update(source.deadLetterStream, {
      ...info.config,
      subjects: [...subjects, source.deadLetterSubject],
    });
  } catch (error) {
    throw failed(
      `adding subject '${source.deadLetterSubject}' to the dead-letter stream '${source.deadLetterStream}' failed`,
      error,
    );
  }
}

/** The consumer's count of unacknowledged deliveries and its `max_ack_pending`, or undefined when it is missing. */
export async function ackPending(
  jsm: JetStreamManager,
  source: ResolvedSource,
): Promise<{ readonly pending: number; readonly max: number } | undefined> {
  const info = await consumerInfo(jsm, source.stream, source.durable);
  if (!info) return undefined;
  return { pending: info.num_ack_pending, max: info.config.max_ack_pending ?? -1 };
}
