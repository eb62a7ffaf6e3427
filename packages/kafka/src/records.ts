/**
 * Kafka records to and from Hostwork's message shape: headers are bytes in Kafka and strings in Hostwork (UTF-8 both
 * ways), the message id travels in a header of its own, and a delayed record (a retry, a publish with `delayMs`)
 * carries the time it is due in another.
 */
import type { Headers } from 'hostwork';

/** The header carrying the Hostwork message id (Kafka records have none of their own). */
export const ID_HEADER = 'hostwork-id';
/** The header of a delayed record: the epoch ms before which it is not handed to a handler. */
export const NOT_BEFORE_HEADER = 'hostwork-not-before';

/** A record to produce, as the client takes it. */
export interface RecordToProduce {
  readonly topic: string;
  readonly key: Buffer | undefined;
  readonly value: Buffer;
  readonly headers: Map<Buffer, Buffer>;
}

/** A record as fetched, with what Hostwork reads of it. */
export interface FetchedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly id: string;
  readonly key: string | undefined;
  readonly body: Uint8Array;
  /** Hostwork's headers: every header but the id and not-before ones. */
  readonly headers: Headers;
  /** Epoch ms before which the record is not handed over (0: at once). */
  readonly notBefore: number;
}

/** Builds a record to produce: `headers` plus the id (and the not-before time when given). */
export function recordToProduce(
  topic: string,
  message: { id: string; body: Uint8Array; headers: Headers; key?: string | undefined },
  notBefore?: number,
): RecordToProduce {
  const headers = new Map<Buffer, Buffer>();
  for (const [name, value] of Object.entries(message.headers)) {
    if (name === ID_HEADER || name === NOT_BEFORE_HEADER) continue;
    headers.set(Buffer.from(name), Buffer.from(value));
  }
  headers.set(Buffer.from(ID_HEADER), Buffer.from(message.id));
  if (notBefore !== undefined) headers.set(Buffer.from(NOT_BEFORE_HEADER), Buffer.from(String(notBefore)));
  return {
    topic,
    key: message.key === undefined ? undefined : Buffer.from(message.key),
    value: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
    headers,
  };
}

/** Reads a fetched record: the id header (else `<topic>-<partition>-<offset>`), the key, the not-before time. */
export function readRecord(
  topic: string,
  partition: number,
  offset: bigint,
  record: {
    readonly key: Buffer | null;
    readonly value: Buffer | null;
    readonly headers: ReadonlyArray<readonly [Buffer | null, Buffer | null]>;
  },
): FetchedRecord {
  const headers: Record<string, string> = {};
  let id: string | undefined;
  let notBefore = 0;
  for (const [name, value] of record.headers) {
    if (name === null) continue;
    const key = name.toString('utf8');
    const text = value === null ? '' : value.toString('utf8');
    if (key === ID_HEADER) id = text;
    else if (key === NOT_BEFORE_HEADER) notBefore = Number(text) || 0;
    else headers[key] = text;
  }
  return {
    topic,
    partition,
    offset,
    id: id || `${topic}-${partition}-${offset}`,
    key: record.key === null ? undefined : record.key.toString('utf8'),
    body: record.value ?? new Uint8Array(0),
    headers,
    notBefore,
  };
}
