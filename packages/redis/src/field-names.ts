/**
 * The fields Hostwork reserves in a stream entry (see fields.ts for the whole layout); every other field is a header.
 * A module of its own so the package's public declarations do not reach node-redis's.
 */

/** The field holding the message id (absent in an entry another producer added: the entry's id stands in). */
export const ID_FIELD = 'id';
/** The field holding the body, bytes as they are. */
export const BODY_FIELD = 'body';
/** The field holding the ordering key, when the message has one. */
export const KEY_FIELD = 'key';
