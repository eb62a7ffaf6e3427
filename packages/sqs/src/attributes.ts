/**
 * Hostwork messages as SQS messages: the body as text (base64 when it is not text SQS accepts), headers as String
 * message attributes, within SQS's limit of 10 attributes per message (headers beyond it share one JSON attribute),
 * and the size SQS counts (body plus every attribute's name, type and value).
 */
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { Headers } from 'hostwork';

/** The publisher's message id. */
export const ID_ATTRIBUTE = 'hostwork-id';
/** How the body is encoded when it is not plain text: 'base64' or 'empty'. */
export const BODY_ATTRIBUTE = 'hostwork-body';
/** Headers that did not fit in attributes of their own, as a JSON object. */
export const PACKED_ATTRIBUTE = 'hostwork-headers';
/** Not to be handed over before this time (epoch ms): a delay longer than SQS's 15 minutes, chained by visibility. */
export const NOT_BEFORE_ATTRIBUTE = 'hostwork-not-before';

/** Attributes of the adapter's own, never shown as headers. */
const INTERNAL = new Set([ID_ATTRIBUTE, BODY_ATTRIBUTE, PACKED_ATTRIBUTE, NOT_BEFORE_ATTRIBUTE]);

/** SQS's limit of message attributes per message. */
export const MAX_ATTRIBUTES = 10;

/** Names SQS accepts for message attributes. */
const ATTRIBUTE_NAME = /^(?!aws\.|amazon\.)(?!\.)(?!.*\.\.)[A-Za-z0-9_.-]{1,256}(?<!\.)$/i;

/** Characters SQS refuses in bodies and attribute values. */
const INVALID_TEXT = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A message as sent: the body text and the attributes. */
export interface EncodedMessage {
  readonly body: string;
  readonly attributes: Record<string, MessageAttributeValue>;
}

/** The body as SQS text and the attribute telling how to read it back. */
export function encodeBody(body: Uint8Array): { text: string; encoding?: 'base64' | 'empty' } {
  if (body.byteLength === 0) return { text: '-', encoding: 'empty' };
  try {
    const text = utf8.decode(body);
    if (!INVALID_TEXT.test(text)) return { text };
  } catch {
    // Not UTF-8: base64 below.
  }
  return {
    text: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'),
    encoding: 'base64',
  };
}

/** The body bytes of a received message. */
export function decodeBody(text: string, encoding: string | undefined): Uint8Array {
  if (encoding === 'empty') return new Uint8Array(0);
  if (encoding === 'base64') return new Uint8Array(Buffer.from(text, 'base64'));
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

function stringAttribute(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: value };
}

/**
 * The attributes for a message: the adapter's own (`own`: id, body encoding, not-before), then the headers, each in
 * an attribute of its own while they all fit in 10 (Hostwork's `hostwork-*` headers first), the rest (and headers
 * SQS cannot carry as attributes: empty values, names it refuses, characters it refuses) in one JSON attribute.
 */
export function encodeAttributes(
  own: Readonly<Record<string, string>>,
  headers: Headers,
): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(own)) attributes[name] = stringAttribute(value);
  const entries = Object.entries(headers).filter(([name]) => !INTERNAL.has(name));
  entries.sort(([a], [b]) => Number(b.startsWith('hostwork-')) - Number(a.startsWith('hostwork-')));
  const carried = ([name, value]: [string, string]) =>
    ATTRIBUTE_NAME.test(name) && value !== '' && !INVALID_TEXT.test(value);
  const direct = entries.filter(carried);
  const fitsAll =
    direct.length === entries.length && Object.keys(own).length + entries.length <= MAX_ATTRIBUTES;
  const packed: Record<string, string> = {};
  let room = MAX_ATTRIBUTES - Object.keys(own).length - (fitsAll ? 0 : 1);
  for (const [name, value] of entries) {
    if (room > 0 && carried([name, value])) {
      attributes[name] = stringAttribute(value);
      room--;
    } else packed[name] = value;
  }
  if (Object.keys(packed).length > 0) attributes[PACKED_ATTRIBUTE] = stringAttribute(JSON.stringify(packed));
  return attributes;
}

/** The headers of a received message (its String and Number attributes, the packed ones unpacked). */
export function decodeHeaders(
  attributes: Record<string, MessageAttributeValue> | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (attributes === undefined) return headers;
  for (const [name, value] of Object.entries(attributes)) {
    if (INTERNAL.has(name)) continue;
    if (value.StringValue !== undefined) headers[name] = value.StringValue;
    else if (value.BinaryValue !== undefined)
      headers[name] = Buffer.from(value.BinaryValue).toString('base64');
  }
  const packed = attributes[PACKED_ATTRIBUTE]?.StringValue;
  if (packed !== undefined) {
    try {
      const values = JSON.parse(packed) as unknown;
      if (values !== null && typeof values === 'object')
        for (const [name, value] of Object.entries(values))
          if (typeof value === 'string') headers[name] = value;
    } catch {
      // Not ours after all: left out.
    }
  }
  return headers;
}

/** One attribute's string value. */
export function attributeValue(
  attributes: Record<string, MessageAttributeValue> | undefined,
  name: string,
): string | undefined {
  return attributes?.[name]?.StringValue;
}

/** The size SQS counts for a message: the body and each attribute's name, data type and value, in UTF-8 bytes. */
export function messageSize(message: EncodedMessage): number {
  let size = Buffer.byteLength(message.body, 'utf8');
  for (const [name, value] of Object.entries(message.attributes))
    size +=
      Buffer.byteLength(name, 'utf8') +
      Buffer.byteLength(value.DataType ?? '', 'utf8') +
      (value.StringValue !== undefined ? Buffer.byteLength(value.StringValue, 'utf8') : 0) +
      (value.BinaryValue?.byteLength ?? 0);
  return size;
}
