/**
 * Acknowledgements of one subscription, sent together: every ack made in the same run of the event loop (a batch of
 * deliveries handled at once, as the consumer engine does with synchronous handlers) goes out as one XACK with all
 * their ids (with `deleteAcked`, one script acknowledging and deleting them all), sent once the current synchronous
 * work and the microtasks queued before it are done: no timer, no added wait. One command instead of one per message
 * saves the server and the client a dispatch, an encode and a reply per message, and the acks share one promise. A
 * batch that fails with the connection is sent again once reconnected (XACK is idempotent); each ack resolves (or
 * rejects) with its batch.
 *
 * When the subscription is about to read again in the same turn (a batch handled synchronously, or the settle that
 * freed room for the read), it takes the batch along first ({@link AckBatcher.sendBefore}): the XACK goes on the
 * reading connection right before the XREADGROUP, in the same write, so the server reads, runs and answers both in one
 * go (one system call and one wake-up of the server per batch instead of two). Redis runs a connection's commands in
 * order, so the XACK is done before the read starts blocking. A batch sent again after a lost connection goes on the
 * command connection.
 */
import type { RedisConnection } from './connection.ts';
import type { ResolvedStream } from './redis-transport-options.ts';
import { SCRIPTS } from './scripts.ts';

/** The most ids in one XACK. */
const MAX_BATCH = 1_000;

/** What the batcher needs of its subscription and transport. */
export interface AckBatcherContext<T extends AckedEntry> {
  readonly connection: RedisConnection;
  readonly source: ResolvedStream;
  /** Sends a command until it succeeds (again after a lost connection), tracked for close(); `onDone` after it. */
  persist(what: () => string, command: () => Promise<unknown>, onDone?: () => void): Promise<void>;
  /** Called with the deliveries of a batch once it reached the server (or gave up). */
  finished(deliveries: readonly T[]): void;
}

/** What is acknowledged: a delivery, by its entry id (the delivery itself is handed back in `finished`). */
export interface AckedEntry {
  readonly entryId: string;
}

/** Collects a subscription's acks into one command per turn of the event loop. */
export class AckBatcher<T extends AckedEntry = AckedEntry> {
  readonly #context: AckBatcherContext<T>;
  #acked: T[] = [];
  #batch: PromiseWithResolvers<void> | undefined;

  constructor(context: AckBatcherContext<T>) {
    this.#context = context;
  }

  /** Acknowledges `entry` with the others of this turn; resolves once the server has the batch. */
  ack(entry: T): Promise<void> {
    this.#acked.push(entry);
    let batch = this.#batch;
    if (batch === undefined) {
      batch = Promise.withResolvers<void>();
      this.#batch = batch;
      queueMicrotask(() => this.#flush());
    } else if (this.#acked.length >= MAX_BATCH) {
      // Full: sent now; the acks after it start the next batch.
      this.#flush();
    }
    return batch.promise;
  }

  /** Sends the acks of this turn now, on `reader` (its next command being the read): see the module's comment. */
  sendBefore(reader: RedisConnection): void {
    if (this.#batch !== undefined) this.#flush(reader);
  }

  #flush(first?: RedisConnection): void {
    const batch = this.#batch;
    const acked = this.#acked;
    if (batch === undefined || acked.length === 0) return;
    this.#batch = undefined;
    this.#acked = [];
    const ids = acked.map((entry) => entry.entryId);
    const { connection, source, persist, finished } = this.#context;
    const { stream, group, deleteAcked } = source;
    // The first send on `first` (the reader) when given; any send again on the command connection.
    let on = first ?? connection;
    const send = () => {
      const target = on;
      on = connection;
      return deleteAcked
        ? SCRIPTS.ackAndDelete.run(target, [stream], [group, ...ids])
        : target.send(['XACK', stream, group, ...ids]);
    };
    batch.resolve(
      persist(
        () => `acknowledging ${ids.length} entries of stream '${stream}'`,
        send,
        () => finished(acked),
      ),
    );
  }
}
