/**
 * Between NATS message headers and Hostwork's string headers, and the headers of the copies Hostwork publishes for
 * retries and dead letters.
 */
import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
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
