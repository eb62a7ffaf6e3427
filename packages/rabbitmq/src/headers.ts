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
 * Headers that count deliveries or record the broker's dead-lettering: never copied into a retry or dead-letter copy
 * (a retry carrying the original's count would show it on its first delivery) and not shown in `Delivery.headers`.
 */
const COUNTING_HEADERS = /^(x-(death|first-death-|last-death-|delivery-count$)|hostwork-redeliveries$)/;

/** The header in which a quorum queue counts the earlier deliveries of a redelivered message (RabbitMQ 3.10+). */
export const DELIVERY_COUNT_HEADER = 'x-delivery-count';

/**
 * The header in which Hostwork counts the redeliveries of a message from a classic queue, which keeps no count: set on
 * the copy Hostwork publishes in place of each redelivery (classic-redelivery.ts).
 */
export const REDELIVERIES_HEADER = 'hostwork-redeliveries';

/** A header value read as a count: a non-negative integer, else undefined. */
function countOf(value: unknown): number | undefined {
  let n = Number.NaN;
  if (typeof value === 'number' || typeof value === 'bigint') n = Number(value);
  else if (typeof value === 'string' && /^\d+$/.test(value)) n = Number(value);
  else if (Buffer.isBuffer(value) && /^\d+$/.test(value.toString('utf8'))) n = Number(value.toString('utf8'));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Hostwork's count of earlier redeliveries of a classic-queue message: its {@link REDELIVERIES_HEADER}, or 0. */
export function countedRedeliveries(raw: Record<string, unknown> | undefined): number {
  return countOf(raw?.[REDELIVERIES_HEADER]) ?? 0;
}

/**
 * The broker's own count of earlier deliveries of a redelivered message (a quorum queue's `x-delivery-count`), or
 * undefined when it keeps none (a classic queue only flags a redelivery).
 */
export function brokerDeliveryCount(raw: Record<string, unknown> | undefined): number | undefined {
  const n = countOf(raw?.[DELIVERY_COUNT_HEADER]);
  return n !== undefined && n >= 1 ? n : undefined;
}

/**
 * How many times the message was delivered before without a settle: Hostwork's count (0 when the message has none),
 * plus a quorum queue's `x-delivery-count` on a redelivery. Undefined on a redelivery without a broker count (a
 * classic queue): the subscription never hands such a delivery over but publishes a counted copy in its place.
 */
export function redeliveriesOf(
  redelivered: boolean,
  raw: Record<string, unknown> | undefined,
): number | undefined {
  const counted = countedRedeliveries(raw);
  if (!redelivered) return counted;
  const broker = brokerDeliveryCount(raw);
  return broker === undefined ? undefined : counted + broker;
}

/**
 * The headers of a received message as strings: strings as they are, numbers, booleans and bigints written out,
 * Buffers as UTF-8; tables, arrays, the broker's own dead-lettering headers and the delivery counts left out (the
 * count is `Delivery.redeliveries`).
 */
export function stringHeaders(raw: Record<string, unknown> | undefined): Headers {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (COUNTING_HEADERS.test(key)) continue;
    if (typeof value === 'string') headers[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
      headers[key] = String(value);
    else if (Buffer.isBuffer(value)) headers[key] = value.toString('utf8');
  }
  return headers;
}

/** The attempt a message is: its attempt header + 1, or 1 when it has none (Hostwork's shared rule). */
export const attemptOf: (headers: Headers) => number = deliveryAttempt;

/**
 * The headers of a received message to publish again: its own, without the broker's dead-lettering history and
 * without the delivery counts (a copy is a new message, delivered for the first time).
 */
export function copiedHeaders(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) if (!COUNTING_HEADERS.test(key)) headers[key] = value;
  return headers;
}

/**
 * The headers of the copy published in place of a classic-queue redelivery: the message's own, and
 * {@link REDELIVERIES_HEADER} one more than the message carried.
 */
export function redeliveryCopyHeaders(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  return { ...copiedHeaders(raw), [REDELIVERIES_HEADER]: countedRedeliveries(raw) + 1 };
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
