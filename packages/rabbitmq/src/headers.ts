/**
 * Between AMQP's typed header tables and Hostwork's string headers, and the headers of the copies Hostwork publishes
 * for retries and dead letters.
 */
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type DeadLetterReason,
  type DeliveryError,
  deliveryAttempt,
  type Headers,
  deadLetterHeaders as sharedDeadLetterHeaders,
  retryHeaders as sharedRetryHeaders,
} from 'hostwork';

/**
 * Headers the broker owns (dead-lettering history, a quorum queue's delivery count): never copied into a message
 * Hostwork publishes (a copy carrying the original's `x-delivery-count` would show it on its first delivery).
 */
const BROKER_HEADERS = /^x-(death|first-death-|last-death-|delivery-count$)/;

/** The header in which a quorum queue counts the earlier deliveries of a redelivered message (RabbitMQ 3.10+). */
export const DELIVERY_COUNT_HEADER = 'x-delivery-count';

/**
 * How many times the broker delivered the message before without a settle: 0 on a first delivery; a quorum queue's
 * `x-delivery-count` on a redelivery; undefined on a redelivery from a classic queue (only `redelivered`, no count).
 */
export function redeliveriesOf(
  redelivered: boolean,
  raw: Record<string, unknown> | undefined,
): number | undefined {
  if (!redelivered) return 0;
  const count = raw?.[DELIVERY_COUNT_HEADER];
  const n = typeof count === 'number' || typeof count === 'bigint' ? Number(count) : Number.NaN;
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/**
 * The headers of a received message as strings: strings as they are, numbers, booleans and bigints written out,
 * Buffers as UTF-8; tables, arrays and the broker's own dead-lettering headers left out.
 */
export function stringHeaders(raw: Record<string, unknown> | undefined): Headers {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (BROKER_HEADERS.test(key)) continue;
    if (typeof value === 'string') headers[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
      headers[key] = String(value);
    else if (Buffer.isBuffer(value)) headers[key] = value.toString('utf8');
  }
  return headers;
}

/** The attempt a message is: its attempt header + 1, or 1 when it has none (Hostwork's shared rule). */
export const attemptOf: (headers: Headers) => number = deliveryAttempt;

/** The headers of a received message to publish again: its own, without the broker's dead-lettering history. */
export function copiedHeaders(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) if (!BROKER_HEADERS.test(key)) headers[key] = value;
  return headers;
}

/** Hostwork's own headers of `headers` (attempt and dead-letter headers), the values every transport writes. */
function hostworkHeaders(headers: Record<string, string>): Record<string, string> {
  const own: Record<string, string> = {};
  for (const key of [ATTEMPT_HEADER, ...Object.values(DEAD_LETTER_HEADERS)]) {
    const value = headers[key];
    if (value !== undefined) own[key] = value;
  }
  return own;
}

/**
 * The headers of a retry's copy: the message's own (typed as received), the attempt header set to the attempt that
 * failed, and the history with this attempt's error added, as Hostwork's shared helpers write them.
 */
export function retryHeaders(
  raw: Record<string, unknown> | undefined,
  headers: Headers,
  error: DeliveryError,
): Record<string, unknown> {
  return { ...copiedHeaders(raw), ...hostworkHeaders(sharedRetryHeaders(headers, error)) };
}

/** The headers of a dead letter: the message's own, the reason, the last error's message and every attempt's error. */
export function deadLetterHeaders(
  raw: Record<string, unknown> | undefined,
  headers: Headers,
  reason: DeadLetterReason,
  errors: readonly DeliveryError[],
): Record<string, unknown> {
  return { ...copiedHeaders(raw), ...hostworkHeaders(sharedDeadLetterHeaders(headers, reason, errors)) };
}
