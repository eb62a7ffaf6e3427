import { describeThrown } from '../jobs/thrown-value.ts';
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type DeadLetterReason,
  type DeliveryError,
  type Headers,
} from './transport.ts';

/**
 * Hostwork's attempt headers, written the same way by every adapter: the attempt count, the attempt history (JSON in
 * `hostwork-attempt-errors`, written on every retry so the dead letter carries every attempt's error), and the
 * dead-letter reason and last error. Adapters call {@link retryHeaders} in `retry` and {@link deadLetterHeaders} in
 * `deadLetter`; the engine reads the history back with {@link readAttemptErrors}.
 */

/**
 * The most UTF-8 bytes the history header holds. Brokers bound headers (SQS: 256 KiB for the whole message, Service
 * Bus: 64 KiB of properties), so the oldest attempts are dropped first when the history grows past it; the first
 * entry kept is marked by its `attempt` number, so a reader sees what is missing.
 */
export const MAX_HISTORY_BYTES = 4_096;
/** The longest error message kept per attempt in the headers (the rest is cut with an ellipsis). */
export const MAX_HEADER_ERROR_CHARS = 500;

/** The attempt a delivery with these headers is: Hostwork's attempt header + 1 (1 when absent or unreadable). */
export function deliveryAttempt(headers: Headers): number {
  const value = Number(headers[ATTEMPT_HEADER]);
  return Number.isInteger(value) && value >= 0 ? value + 1 : 1;
}

/** The attempt errors carried in the history header; an absent or unreadable header gives none. */
export function readAttemptErrors(headers: Headers): DeliveryError[] {
  const text = headers[DEAD_LETTER_HEADERS.history];
  if (text === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(isDeliveryError);
  } catch {
    return [];
  }
}

/** The headers of the copy a `retry` sends back: the attempt header set to the failed attempt, the history grown. */
export function retryHeaders(headers: Headers, error: DeliveryError): Record<string, string> {
  return {
    ...headers,
    [ATTEMPT_HEADER]: String(error.attempt),
    [DEAD_LETTER_HEADERS.history]: historyHeader([...readAttemptErrors(headers), error]),
  };
}

/** The headers of a dead-lettered copy: the reason, the last error's message, and the history (capped). */
export function deadLetterHeaders(
  headers: Headers,
  reason: DeadLetterReason,
  errors: readonly DeliveryError[],
): Record<string, string> {
  const last = errors.at(-1);
  return {
    ...headers,
    ...(last ? { [ATTEMPT_HEADER]: String(last.attempt) } : {}),
    [DEAD_LETTER_HEADERS.reason]: reason,
    [DEAD_LETTER_HEADERS.error]: cut(last?.message ?? reason),
    [DEAD_LETTER_HEADERS.history]: historyHeader(errors),
  };
}

/** A thrown value as a {@link DeliveryError} of `attempt`: never throws (see `describeThrown`). */
export function deliveryError(attempt: number, error: unknown, message?: string): DeliveryError {
  const thrown = describeThrown(error);
  const name = readString(error, 'name');
  const code = readString(error, 'code');
  return {
    attempt,
    message: message ?? thrown.message,
    ...(name ? { name } : {}),
    ...(code ? { code } : {}),
    at: Date.now(),
  };
}

/** The history as JSON of at most MAX_HISTORY_BYTES, newest attempts kept. */
export function historyHeader(errors: readonly DeliveryError[]): string {
  const entries = errors.map((e) => ({ ...e, message: cut(e.message) }));
  let text = JSON.stringify(entries);
  while (entries.length > 1 && Buffer.byteLength(text, 'utf8') > MAX_HISTORY_BYTES) {
    entries.shift();
    text = JSON.stringify(entries);
  }
  return text;
}

function cut(message: string): string {
  return message.length > MAX_HEADER_ERROR_CHARS ? `${message.slice(0, MAX_HEADER_ERROR_CHARS)}…` : message;
}

function isDeliveryError(value: unknown): value is DeliveryError {
  const v = value as Partial<DeliveryError> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.attempt === 'number' &&
    typeof v.message === 'string' &&
    typeof v.at === 'number'
  );
}

function readString(value: unknown, key: string): string | undefined {
  try {
    const v = (value as Record<string, unknown> | null)?.[key];
    return typeof v === 'string' && v !== '' ? v : undefined;
  } catch {
    return undefined;
  }
}
