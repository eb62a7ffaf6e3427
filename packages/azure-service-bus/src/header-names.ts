/**
 * The application properties Hostwork adds to a message besides the engine's own headers (attempt, type, dead-letter
 * reason and history).
 */

/**
 * The Hostwork message id, kept on the retry copies (whose Service Bus `messageId` differs from the original's, so
 * that a namespace with duplicate detection does not drop them): a delivery's id is this, else the `messageId`.
 */
export const ID_HEADER = 'hostwork-id';

/**
 * On a retry copy sent to a topic: the subscription (`<topic>/Subscriptions/<name>`) the retry is for. Every
 * subscription receives what is sent to its topic; the other Hostwork subscriptions complete such a copy without
 * handing it over. A subscription rule `[hostwork-retry-for] IS NULL OR [hostwork-retry-for] = '<path>'` keeps the
 * copies from reaching them at all (and from reaching subscribers that are not Hostwork).
 */
export const RETRY_FOR_HEADER = 'hostwork-retry-for';
