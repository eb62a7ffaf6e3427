/**
 * The headers Hostwork's NATS transport adds to the messages it publishes, besides Hostwork's own attempt headers.
 * (Kept apart from the functions that read and write NATS headers, so that the package's public declarations do not
 * reach into the NATS client's.)
 */

/**
 * The message id of a copy (retry or dead letter): a copy's `Nats-Msg-Id` must differ from the original's (the stream
 * would drop it as a duplicate), so the id travels in this header and is what the copy's delivery reports.
 */
export const ID_HEADER = 'hostwork-id';
/**
 * Deliver no earlier than this time (epoch ms): set on a retry copy (the backoff) and on a message published with
 * `delayMs`. JetStream 2.9 has no delayed publish; the subscription hands such a message back with `nak(delay)` for
 * the time left, without counting an attempt, and delivers it once it is due.
 */
export const NOT_BEFORE_HEADER = 'hostwork-not-before';
/**
 * The durable consumer a retry copy is for. Several consumers may read one stream (a `limits` or `interest` stream);
 * the copy is published to the original's subject, so every other consumer acknowledges it without handing it over.
 */
export const RETRY_FOR_HEADER = 'hostwork-retry-for';
