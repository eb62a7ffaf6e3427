/**
 * Between NATS message headers and Hostwork's string headers, and the headers of the copies Hostwork publishes for
 * retries and dead letters.
 */
import { type Msg, type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
import type { Headers } from 'hostwork';
import { NOT_BEFORE_HEADER, RETRY_FOR_HEADER } from './header-names.ts';

export { ID_HEADER, NOT_BEFORE_HEADER, RETRY_FOR_HEADER } from './header-names.ts';

/** JetStream's own headers (`Nats-Msg-Id`, `Nats-Expected-*`...): never copied into a message Hostwork publishes. */
const SERVER_HEADER = /^nats-/i;
/** Hostwork's routing headers, meaningless on a dead letter. */
const ROUTING_HEADERS = new Set([NOT_BEFORE_HEADER, RETRY_FOR_HEADER]);

/**
 * A message's headers as Hostwork's string headers, without JetStream's own (the last value of a repeated key), and
 * its `Nats-Msg-Id`: one pass over the decoded headers (looking keys up one by one scans them all each time).
 */
export function readHeaders(raw: MsgHdrs | undefined): {
  headers: Record<string, string>;
  msgId: string | undefined;
} {
  const headers: Record<string, string> = {};
  let msgId: string | undefined;
  if (!raw) return { headers, msgId };
  for (const [key, values] of raw) {
    const last = values.at(-1);
    if (last === undefined) continue;
    if (SERVER_HEADER.test(key)) {
      if (key === 'Nats-Msg-Id') msgId = last;
      continue;
    }
    headers[key] = last;
  }
  return { headers, msgId };
}

const decoder = new TextDecoder();

/**
 * The header names seen lately: the same few names come with every message, and reusing the string seen before
 * spares a new string and its hashing when it becomes a property of the headers object.
 */
const recentKeys: string[] = [];
const RECENT_KEYS = 8;
let nextKey = 0;

/** The name of header line `line` (its colon at `colon`), reusing a name seen before. */
function knownKey(line: string, colon: number): string {
  for (const key of recentKeys) if (key.length === colon && line.startsWith(key)) return key;
  const key = line.slice(0, colon);
  if (recentKeys.length < RECENT_KEYS) recentKeys.push(key);
  else recentKeys[nextKey++ % RECENT_KEYS] = key;
  return key;
}

/** The fields of nats.js's received message that hold the raw header block (not part of its typed API). */
interface RawMsg {
  readonly _msg?: { readonly hdr?: unknown };
  readonly _rdata?: unknown;
}

/**
 * {@link readHeaders} of a received message, read from its raw header block in one pass: the client's own decoding
 * (a `MsgHdrs` with every key validated and canonicalised, and arrays of values) costs more than the rest of
 * receiving a message. Falls back to the client's decoding when the message is not the client's usual object.
 */
export function readMessageHeaders(msg: Msg): { headers: Record<string, string>; msgId: string | undefined } {
  const raw = msg as unknown as RawMsg;
  const length = raw._msg?.hdr;
  const data = raw._rdata;
  if (typeof length !== 'number' || !(data instanceof Uint8Array)) return readHeaders(msg.headers);
  const headers: Record<string, string> = {};
  let msgId: string | undefined;
  if (length <= 0) return { headers, msgId };
  const lines = decoder.decode(data.subarray(0, length)).split('\r\n');
  // lines[0] is the version line (`NATS/1.0`, a status message's code: not handed over).
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon < 1) continue;
    const key = knownKey(line, colon);
    const value = line.slice(colon + 1).trim();
    // 110: 'n' (a key starting with N or n); the pattern only for those.
    if ((key.charCodeAt(0) | 32) === 110 && SERVER_HEADER.test(key)) {
      if (key === 'Nats-Msg-Id') msgId = value;
      continue;
    }
    headers[key] = value;
  }
  return { headers, msgId };
}

/**
 * NATS headers from string headers. A header value cannot hold a line break in NATS: each CR or LF is written as a
 * space (an error message over several lines arrives on one).
 */
export function writeHeaders(values: Headers): MsgHdrs {
  const h = natsHeaders();
  for (const [key, value] of Object.entries(values)) h.set(key, value.replace(/\r\n?|\n/g, ' '));
  return h;
}

/** The headers of a dead-lettered copy: without the routing headers of retries and delays. */
export function withoutRouting(values: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (!ROUTING_HEADERS.has(key)) out[key] = value;
  return out;
}

/** The time a message is due (epoch ms), or undefined when it carries no valid not-before header. */
export function notBefore(values: Headers): number | undefined {
  const text = values[NOT_BEFORE_HEADER];
  if (text === undefined) return undefined;
  const at = Number(text);
  return Number.isFinite(at) ? at : undefined;
}
