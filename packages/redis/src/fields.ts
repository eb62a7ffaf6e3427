/**
 * How a Hostwork message is laid out in a stream entry's fields, both ways:
 *
 * - `id`: the message id (absent in an entry another producer added: the entry's own id stands in);
 * - `body`: the body, bytes as they are;
 * - `key`: the ordering key, when the message has one (carried, not used for ordering);
 * - every other field: a header of that name (Hostwork's own are `hostwork-type`, `hostwork-attempt`...).
 *
 * So an entry added by hand (`XADD orders * body '{"n":1}'`) is a message too. A header cannot be named `id`, `body`
 * or `key`.
 */
import { ATTEMPT_HEADER, ErrorCodes, type Headers, HostworkError, TYPE_HEADER } from 'hostwork';
import type { RedisArgument } from 'redis';
import type { Reply } from './connection.ts';
import { BODY_FIELD, ID_FIELD, KEY_FIELD } from './field-names.ts';
import type { Trim } from './redis-transport-options.ts';

const RESERVED = new Set([ID_FIELD, BODY_FIELD, KEY_FIELD]);

/** A message as fields of an entry. */
export interface EntryMessage {
  readonly id: string;
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly key?: string | undefined;
}

/** An entry read from a stream: its stream id and its message. */
export interface StreamEntry {
  /** The entry's id in the stream (`<ms>-<seq>`). */
  readonly entryId: string;
  readonly message: EntryMessage;
}

/** The fields of `message`, flat (name, value, name, value...), for XADD. */
export function toFields(message: EntryMessage, where: string): RedisArgument[] {
  const fields: RedisArgument[] = [
    ID_FIELD,
    message.id,
    BODY_FIELD,
    Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
  ];
  if (message.key !== undefined) fields.push(KEY_FIELD, message.key);
  for (const [name, value] of Object.entries(message.headers)) {
    if (RESERVED.has(name))
      throw new HostworkError(
        ErrorCodes.INVALID_OPTION,
        `redisTransport: message '${message.id}' to ${where} has a header named '${name}', a field the Redis transport uses for the message itself (id, body, key); rename the header.`,
      );
    fields.push(name, value);
  }
  return fields;
}

/**
 * Texts decoded before, by their bytes: field names repeat in every entry, and so do some values (the message type).
 * Decoding a short Buffer to a string is most of the cost of reading an entry; comparing its bytes with a few seen
 * before is a fraction of it. By length, up to {@link MEMO_WAYS} texts each (the oldest replaced), for short texts only.
 */
const recent: { bytes: Buffer; text: string }[][] = [];
const MEMO_MAX = 48;
const MEMO_WAYS = 4;
let replace = 0;

/** A short Buffer as text, reusing a text decoded before from the same bytes. */
function memoText(bytes: Buffer): string {
  const length = bytes.length;
  if (length > MEMO_MAX) return bytes.toString('utf8');
  let slots = recent[length];
  if (slots === undefined) {
    slots = [];
    recent[length] = slots;
  }
  for (const slot of slots) {
    const known = slot.bytes;
    let i = 0;
    while (i < length && known[i] === bytes[i]) i++;
    if (i === length) return slot.text;
  }
  const decoded = bytes.toString('utf8');
  // A copy: the reply's Buffer may be a view of a larger one.
  const entry = { bytes: Buffer.from(bytes), text: decoded };
  if (slots.length < MEMO_WAYS) slots.push(entry);
  else slots[replace++ % MEMO_WAYS] = entry;
  return decoded;
}

/** The body of an entry without one (shared: a zero-length array cannot be written to). */
const NO_BODY = new Uint8Array(0);

/** Reads an entry's fields (a flat array of Buffers) as a message. */
export function fromFields(entryId: string, fields: readonly Reply[]): EntryMessage {
  let id: string | undefined;
  let body: Uint8Array = NO_BODY;
  let key: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const raw = fields[i];
    const name = Buffer.isBuffer(raw) ? memoText(raw) : text(raw);
    const value = fields[i + 1];
    if (name === BODY_FIELD) body = Buffer.isBuffer(value) ? value : Buffer.from(text(value));
    else if (name === ID_FIELD) id = text(value);
    else if (name === KEY_FIELD) key = text(value);
    // The values that repeat from entry to entry: the message type, the attempt (others are often unique: no memo).
    else if ((name === TYPE_HEADER || name === ATTEMPT_HEADER) && Buffer.isBuffer(value))
      headers[name] = memoText(value);
    else headers[name] = text(value);
  }
  // One object, whether or not there is a key (no spread: this runs for every entry read).
  return { id: id ?? entryId, body, headers, key };
}

/** An entry's stream id as text: ids are ASCII (`<ms>-<seq>`), so latin1 decodes them without UTF-8's checks. */
export function entryIdOf(raw: Reply | undefined): string {
  return Buffer.isBuffer(raw) ? raw.toString('latin1') : text(raw);
}

/** A reply's bulk string as text. */
export function text(value: Reply | undefined): string {
  // No encoding argument: Buffer's shortest path to UTF-8.
  if (Buffer.isBuffer(value)) return value.toString();
  if (value === null || value === undefined) return '';
  return String(value);
}

/** XADD's trimming arguments for `trim` (before the `*`). */
export function trimArguments(trim: Trim): string[] {
  switch (trim.kind) {
    case 'maxlen':
      return ['MAXLEN', '~', String(trim.count)];
    case 'minid':
      return ['MINID', '~', String(Math.max(0, Date.now() - trim.ageMs))];
    default:
      return [];
  }
}

/** The trimming as the scripts take it: a kind ('none', 'maxlen', 'minid') and a number (count or age in ms). */
export function trimScriptArguments(trim: Trim): [string, string] {
  switch (trim.kind) {
    case 'maxlen':
      return ['maxlen', String(trim.count)];
    case 'minid':
      return ['minid', String(trim.ageMs)];
    default:
      return ['none', '0'];
  }
}
