/**
 * What a subscription knows of one assigned partition: the records fetched and not yet handed over, the ones handed
 * over and not yet committed past, and which may start next under the ordering rule. Kafka commits one offset per
 * partition (everything before it is done), so the offset committed is always the lowest unfinished one: a running,
 * released or not-yet-started record holds it back, and records finished after it wait for it.
 */
import type { KafkaOrdering } from './kafka-transport-options.ts';
import type { FetchedRecord } from './records.ts';

/** One record handed to the consumer. */
export interface Entry {
  readonly record: FetchedRecord;
  readonly partition: PartitionState;
  /** running: with a handler; done: settled, waiting for the commit; released: handed back, holds the commit. */
  state: 'running' | 'done' | 'released';
  /** The partition was revoked or lost under it: its settle can no longer commit. */
  orphaned: boolean;
  /** Resolved once a commit covers the record, rejected when that can no longer happen. */
  committed?: PromiseWithResolvers<void>;
}

/** What may start next in a partition. */
export type NextRecord =
  | { readonly index: number; readonly waitUntil?: undefined }
  /** A retry partition whose head is not due yet: nothing starts before `waitUntil` (epoch ms). */
  | { readonly index?: undefined; readonly waitUntil: number };

/** How far ahead of the consumer a partition reads: up to this many records kept in memory per partition. */
export const READ_AHEAD = 500;
/**
 * How far ahead of the consumer a subscription reads over its source topic's partitions (or 4 × prefetch when more):
 * no fetch starts while this many records wait, unless nothing queued may start (see `KafkaSubscription`). Without
 * it, 50 partitions could hold 25,000 records; records kept that long outlive the young generation and cost major
 * GCs (measured: most of the gap to the plain client's loop in a fresh process).
 */
export const READ_AHEAD_TOTAL = 1_000;
/** How far `next` looks past blocked keys in key ordering. */
const KEY_SCAN = 1_000;

/** The state of one assigned partition (see the file comment). */
export class PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** A retry topic's partition: records start in offset order once due (their not-before time). */
  readonly retry: boolean;
  /** The next offset to fetch. */
  position: bigint;
  /** The offset last committed (the next one the group reads), or undefined when none was yet. */
  committed: bigint | undefined;
  /** Fetched, not handed over, in offset order. */
  readonly queue: FetchedRecord[] = [];
  /** Handed over and not yet committed past, in offset order. */
  readonly handed: Entry[] = [];
  /** Set once the partition is revoked or lost: the subscription forgets it. */
  revoked = false;
  #running = 0;
  readonly #runningKeys = new Map<string, number>();

  constructor(
    topic: string,
    partition: number,
    retry: boolean,
    position: bigint,
    committed: bigint | undefined,
  ) {
    this.topic = topic;
    this.partition = partition;
    this.retry = retry;
    this.position = position;
    this.committed = committed;
  }

  /** Handlers running on this partition's records. */
  get running(): number {
    return this.#running;
  }

  /** Whether a fetch should ask for more of this partition. */
  get wantsRecords(): boolean {
    return !this.revoked && this.queue.length < READ_AHEAD;
  }

  /**
   * Adds fetched records: those at or after the position, skipping records already handed over (fetched again after
   * the read-ahead was dropped), and moves the position past the batch (`next`: the offset after its last record,
   * control records included). Returns how many were queued.
   */
  append(records: readonly FetchedRecord[], next: bigint): number {
    // Records past the last one handed over (the usual case) need no look-up in `handed`.
    const last = this.handed.at(-1)?.record.offset;
    const before = this.queue.length;
    for (const record of records) {
      if (record.offset < this.position) continue;
      if (last !== undefined && record.offset <= last && this.#isHanded(record.offset)) continue;
      this.queue.push(record);
    }
    if (next > this.position) this.position = next;
    return this.queue.length - before;
  }

  /** Whether the record at `offset` is handed over and not yet committed past (`handed` is in offset order). */
  #isHanded(offset: bigint): boolean {
    let lo = 0;
    let hi = this.handed.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const at = this.handed[mid]!.record.offset;
      if (at === offset) return true;
      if (at < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** The record that may start now under `ordering`, the wait of a retry partition's head, or undefined. */
  next(ordering: KafkaOrdering, now: number): NextRecord | undefined {
    const head = this.queue[0];
    if (head === undefined || this.revoked) return undefined;
    // A retry topic's records are out of their key's order already: each starts when due, in offset order.
    if (this.retry) return head.notBefore > now ? { waitUntil: head.notBefore } : { index: 0 };
    if (ordering === 'partition') return this.#running === 0 ? { index: 0 } : undefined;
    const blocked = new Set<string>();
    const limit = Math.min(this.queue.length, KEY_SCAN);
    for (let i = 0; i < limit; i++) {
      const key = this.queue[i]!.key;
      if (key === undefined) return { index: i };
      if (!blocked.has(key) && !this.#runningKeys.has(key)) return { index: i };
      // An earlier record of the key waits: later ones of it wait behind it.
      blocked.add(key);
    }
    return undefined;
  }

  /** Takes the queued record at `index` as a running entry. */
  take(index: number): Entry {
    // The head is the usual pick: shift is cheaper than splice.
    const record = index === 0 ? this.queue.shift() : this.queue.splice(index, 1)[0];
    if (record === undefined) throw new Error(`no queued record at ${index}`);
    const entry: Entry = { record, partition: this, state: 'running', orphaned: false };
    // Offsets are taken in increasing order but for key ordering's skips: insert from the end.
    let i = this.handed.length;
    while (i > 0 && this.handed[i - 1]!.record.offset > record.offset) i--;
    if (i === this.handed.length) this.handed.push(entry);
    else this.handed.splice(i, 0, entry);
    this.#running++;
    if (record.key !== undefined)
      this.#runningKeys.set(record.key, (this.#runningKeys.get(record.key) ?? 0) + 1);
    return entry;
  }

  /** A running entry is settled (`done`) or handed back (`released`). */
  finish(entry: Entry, state: 'done' | 'released'): void {
    if (entry.state !== 'running') return;
    entry.state = state;
    this.#running--;
    const key = entry.record.key;
    if (key !== undefined) {
      const left = (this.#runningKeys.get(key) ?? 1) - 1;
      if (left > 0) this.#runningKeys.set(key, left);
      else this.#runningKeys.delete(key);
    }
  }

  /** A released entry goes back to the front of the queue, to be handed over again (the partition is still held). */
  requeue(entry: Entry): void {
    this.finish(entry, 'released');
    const i = this.handed.indexOf(entry);
    if (i >= 0) this.handed.splice(i, 1);
    let at = 0;
    while (at < this.queue.length && this.queue[at]!.offset < entry.record.offset) at++;
    this.queue.splice(at, 0, entry.record);
  }

  /** The offset to commit: that of the first record not done (running, released or still queued), else the position. */
  watermark(): bigint {
    let mark = this.position;
    for (const entry of this.handed) {
      if (entry.state !== 'done') {
        mark = entry.record.offset;
        break;
      }
    }
    const head = this.queue[0];
    if (head !== undefined && head.offset < mark) mark = head.offset;
    return mark;
  }

  /** A commit of `offset` succeeded: entries before it are committed (their settles resolve) and forgotten. */
  committedTo(offset: bigint): void {
    if (this.committed === undefined || offset > this.committed) this.committed = offset;
    let n = 0;
    while (n < this.handed.length && this.handed[n]!.record.offset < offset) {
      this.handed[n]!.committed?.resolve();
      n++;
    }
    if (n > 0) this.handed.splice(0, n);
  }

  /**
   * Forgets the read-ahead (a rebalance, a stop): the position goes back to the first record not handed over, read
   * again later by whichever member holds the partition then.
   */
  dropQueue(): void {
    const head = this.queue[0];
    if (head !== undefined && head.offset < this.position) this.position = head.offset;
    this.queue.length = 0;
  }

  /** The partition is revoked or lost: every entry's later settle fails, and waiting commits are given up. */
  revoke(reason: Error): void {
    this.revoked = true;
    this.queue.length = 0;
    for (const entry of this.handed) {
      entry.orphaned = true;
      entry.committed?.reject(reason);
    }
    this.handed.length = 0;
  }
}
