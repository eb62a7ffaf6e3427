/**
 * Acknowledgements of one subscription, sent together: every ack made in the same run of the event loop (a batch of
 * deliveries handled at once, as the consumer engine does with synchronous handlers) goes out as one XACK with all
 * their ids (with `deleteAcked`, one script acknowledging and deleting them all), sent once the current synchronous
 * work and the microtasks queued before it are done: no timer, no added wait. One command instead of one per message
 * saves the server and the client a dispatch, an encode and a reply per message. Each ack resolves with its batch; a
 * batch that fails fails each of its acks, which their callers send again (XACK is idempotent).
 */
import type { RedisConnection } from './connection.ts';
import type { ResolvedStream } from './redis-transport-options.ts';
import { SCRIPTS } from './scripts.ts';

/** The most ids in one XACK. */
const MAX_BATCH = 1_000;

/** Collects a subscription's acks into one command per turn of the event loop. */
export class AckBatcher {
  readonly #connection: RedisConnection;
  readonly #source: ResolvedStream;
  #ids: string[] = [];
  #batch: PromiseWithResolvers<unknown> | undefined;

  constructor(connection: RedisConnection, source: ResolvedStream) {
    this.#connection = connection;
    this.#source = source;
  }

  /** Acknowledges `entryId` with the others of this turn; resolves once the server has the batch. */
  ack(entryId: string): Promise<unknown> {
    this.#ids.push(entryId);
    let batch = this.#batch;
    if (batch === undefined) {
      batch = Promise.withResolvers<unknown>();
      this.#batch = batch;
      queueMicrotask(() => this.#flush());
    } else if (this.#ids.length >= MAX_BATCH) {
      // Full: sent now; the acks after it start the next batch.
      this.#flush();
    }
    return batch.promise;
  }

  #flush(): void {
    const batch = this.#batch;
    const ids = this.#ids;
    if (batch === undefined || ids.length === 0) return;
    this.#batch = undefined;
    this.#ids = [];
    const { stream, group, deleteAcked } = this.#source;
    let sent: Promise<unknown>;
    try {
      sent = deleteAcked
        ? SCRIPTS.ackAndDelete.run(this.#connection, [stream], [group, ...ids])
        : this.#connection.send(['XACK', stream, group, ...ids]);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(batch.resolve, batch.reject);
  }
}
