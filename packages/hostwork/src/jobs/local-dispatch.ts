import type { ClaimedJob } from './job-record.ts';

/** The lease a job is inserted under when it goes straight to a worker of the enqueuing process. */
export interface LocalLease {
  readonly owner: string;
  readonly leaseExpiresAt: number;
}

/**
 * A slot a worker set aside for one job about to be inserted. Exactly one of `accept` (the row was stored, claimed
 * under `lease`) and `cancel` (nothing was stored under it: a duplicate unique key, a failed insert) must be called.
 */
export interface LocalReservation {
  readonly lease: LocalLease;
  accept(job: ClaimedJob): void;
  cancel(): void;
}

/** What a worker offers the client of its own process (implemented by the JobWorker). */
export interface LocalReceiver {
  /** Sets aside an idle slot of `queue`, or returns undefined when the worker has none to spare right now. */
  reserve(queue: string, now: number): LocalReservation | undefined;
}

/**
 * The in-process link from {@link JobClient} to the {@link JobWorker} of the same process. When a job is enqueued
 * (one at a time, not in a transaction, due now) and the local worker has an idle slot for its queue, the client
 * inserts the row already claimed by that worker (state running, attempt 1, the worker's lease) in the same
 * statement as any other insert, and hands it over in-process: the job starts as soon as the insert commits, without
 * a wake-up and a claim round trip. What happens on a crash is what happens to any claimed job: the lease expires and
 * the job is recovered. A worker takes only jobs it would have claimed at once anyway (idle slots, nothing in hand,
 * no claim in flight), so the queue's order changes only among jobs enqueued at the same moment.
 */
export class LocalDispatch {
  #receiver: LocalReceiver | undefined;

  /** Attaches the worker of this process; returns the function that detaches it. */
  attach(receiver: LocalReceiver): () => void {
    this.#receiver = receiver;
    return () => {
      if (this.#receiver === receiver) this.#receiver = undefined;
    };
  }

  /** A reservation from the attached worker, or undefined (no worker, or no idle slot for `queue`). */
  reserve(queue: string, now: number): LocalReservation | undefined {
    return this.#receiver?.reserve(queue, now);
  }
}
