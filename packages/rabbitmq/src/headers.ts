/**
 * Between AMQP's typed header tables and Hostwork's string headers, and the headers of the copies Hostwork publishes
 * for retries and dead letters.
 */
import {
  ATTEMPT_HEADER,
  DEAD_LETTER_HEADERS,
  type DeadLetterReason,
  type DeliveryError,
  type Headers,
} from 'hostwork';

/** Headers the broker owns (dead-lettering history): never copied into a message Hostwork publishes. */
const BROKER_HEADERS = /^x-(death|first-death-|last-death-)/;
/** The most attempts' errors a message carries (the latest), and the longest error message kept, in characters. */
const MAX_HISTORY = 25;
const MAX_ERROR_MESSAGE = 1_000;

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

/** The attempt a message is: its attempt header + 1, or 1 when it has none (or not a whole number >= 0). */
export function attemptOf(headers: Headers): number {
  const value = headers[ATTEMPT_HEADER];
  const n = value === undefined ? Number.NaN : Number(value);
  return Number.isInteger(n) && n >= 0 ? n + 1 : 1;
}

/** The headers of a received message to publish again: its own, without the broker's dead-lettering history. */
export function copiedHeaders(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) if (!BROKER_HEADERS.test(key)) headers[key] = value;
  return headers;
}

/** The errors carried so far in the history header (empty when absent or unreadable). */
function historyOf(headers: Headers): DeliveryError[] {
  const text = headers[DEAD_LETTER_HEADERS.history];
  if (text === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as DeliveryError[]) : [];
  } catch {
    return [];
  }
}

function trimmed(error: DeliveryError): DeliveryError {
  return error.message.length > MAX_ERROR_MESSAGE
    ? { ...error, message: `${error.message.slice(0, MAX_ERROR_MESSAGE)}…` }
    : error;
}

/** The history header's value: the errors (the latest {@link MAX_HISTORY}, messages trimmed), as JSON. */
function historyValue(errors: readonly DeliveryError[]): string {
  return JSON.stringify(errors.slice(-MAX_HISTORY).map(trimmed));
}

/**
 * The headers of a retry's copy: the message's own, the attempt header set to the attempt that failed, and the
 * history header with this attempt's error added (so a later dead letter carries every attempt's error).
 */
export function retryHeaders(
  raw: Record<string, unknown> | undefined,
  headers: Headers,
  error: DeliveryError,
): Record<string, unknown> {
  const history = historyOf(headers).filter((e) => e.attempt !== error.attempt);
  return {
    ...copiedHeaders(raw),
    [ATTEMPT_HEADER]: String(error.attempt),
    [DEAD_LETTER_HEADERS.history]: historyValue([...history, error]),
  };
}

/**
 * The headers of a dead letter: the message's own, the reason, the last error's message (the reason when there is
 * none), and the history: the errors
 * carried in the history header merged with the errors given (the given one wins for the same attempt), by attempt.
 */
export function deadLetterHeaders(
  raw: Record<string, unknown> | undefined,
  headers: Headers,
  reason: DeadLetterReason,
  errors: readonly DeliveryError[],
): Record<string, unknown> {
  const given = new Set(errors.map((e) => e.attempt));
  const history = [...historyOf(headers).filter((e) => !given.has(e.attempt)), ...errors].sort(
    (a, b) => a.attempt - b.attempt,
  );
  const last = errors.at(-1) ?? history.at(-1);
  return {
    ...copiedHeaders(raw),
    [DEAD_LETTER_HEADERS.reason]: reason,
    [DEAD_LETTER_HEADERS.error]: last === undefined ? reason : trimmed(last).message,
    [DEAD_LETTER_HEADERS.history]: historyValue(history),
  };
}
