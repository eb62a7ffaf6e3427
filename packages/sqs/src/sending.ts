/**
 * What publishing and settling share: a message's SQS send entry (FIFO group and deduplication id, a delay within
 * SQS's 15 minutes, longer ones chained through a not-before attribute) and fitting an error history into SQS's
 * message size.
 */
import { createHash } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { type DeliveryError, ErrorCodes, type Headers, HostworkError } from 'hostwork';
import {
  BODY_ATTRIBUTE,
  type EncodedMessage,
  encodeAttributes,
  ID_ATTRIBUTE,
  messageSize,
  NOT_BEFORE_ATTRIBUTE,
} from './attributes.ts';

/** The longest DelaySeconds SQS takes: 15 minutes. */
export const MAX_DELAY_MS = 900_000;

/** One message ready for SendMessage or a SendMessageBatch entry. */
export interface SendEntry extends EncodedMessage {
  readonly id: string;
  readonly delaySeconds?: number;
  readonly groupId?: string;
  readonly deduplicationId?: string;
  readonly size: number;
}

/** What a message to send is made of. */
export interface SendParts {
  readonly id: string;
  /** The body as SQS text, and how it is encoded (see attributes.ts). */
  readonly text: string;
  readonly encoding: string | undefined;
  readonly headers: Headers;
  readonly key?: string;
  readonly delayMs?: number;
}

const DEDUPLICATION_ID = /^[\x21-\x7e]{1,128}$/;

/** A FIFO deduplication id for a message id: the id itself when SQS accepts it, else its SHA-256. */
export function deduplicationId(id: string): string {
  return DEDUPLICATION_ID.test(id) ? id : createHash('sha256').update(id).digest('hex');
}

/** The send entry of a message for a standard or FIFO queue (`queue` names it in errors). */
export function sendEntry(queue: string, fifo: boolean, parts: SendParts, now = Date.now()): SendEntry {
  const own: Record<string, string> = { [ID_ATTRIBUTE]: parts.id };
  if (parts.encoding !== undefined) own[BODY_ATTRIBUTE] = parts.encoding;
  const delayMs = Math.max(0, Math.ceil(parts.delayMs ?? 0));
  if (fifo && parts.key === undefined)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `Message ${parts.id} to FIFO queue ${queue} has no key; SQS FIFO queues need a message group: give the message a key.`,
    );
  if (fifo && delayMs > 0)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `Message ${parts.id} to FIFO queue ${queue} has delayMs ${delayMs}; SQS FIFO queues take no per-message delay: send it without delayMs (or set the queue's DelaySeconds).`,
    );
  if (delayMs > MAX_DELAY_MS) own[NOT_BEFORE_ATTRIBUTE] = String(now + delayMs);
  const attributes: Record<string, MessageAttributeValue> = encodeAttributes(own, parts.headers);
  const message = { body: parts.text, attributes };
  return {
    ...message,
    id: parts.id,
    delaySeconds: delayMs > 0 ? Math.min(900, Math.ceil(delayMs / 1000)) : undefined,
    groupId: fifo ? parts.key : undefined,
    deduplicationId: fifo ? deduplicationId(parts.id) : undefined,
    size: messageSize(message),
  };
}

/** Refuses a message larger than SQS takes, naming it. */
export function checkSize(queue: string, entry: SendEntry, maxBytes: number): void {
  if (entry.size > maxBytes)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `Message ${entry.id} to SQS queue ${queue} is ${entry.size} bytes with its attributes; SQS takes at most ${maxBytes} (maxMessageBytes): make the body smaller or keep it elsewhere and send a reference.`,
    );
}

/**
 * The send entry built by `build` with as much of `history` as fits in `maxBytes`: the oldest attempts are dropped
 * first (the last error always stays, in its own header where the caller puts one). Hostwork's header helpers
 * already cap the history's size and each message; this fits what remains beside a large body.
 */
export function fitHistory(
  history: readonly DeliveryError[],
  maxBytes: number,
  build: (history: readonly DeliveryError[]) => SendEntry,
): SendEntry {
  let kept = history;
  let entry = build(kept);
  while (entry.size > maxBytes && kept.length > 0) {
    kept = kept.slice(Math.max(1, Math.floor(kept.length / 4)));
    entry = build(kept);
  }
  return entry;
}
