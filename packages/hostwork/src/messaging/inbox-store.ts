/**
 * The storage side of the consumers' inbox: which message ids each consumer processed, for a window. A small
 * interface of its own, which the SQLite and PostgreSQL job stores implement besides `JobStore`.
 */
import type { JobStore } from '../jobs/job-store.ts';

/** Options of {@link InboxStore.recordInbox}. */
export interface RecordInboxOptions {
  /** The application's open transaction (as for the outbox): the record commits with the handler's effects. */
  readonly tx?: unknown;
}

/**
 * What a consumer with an inbox needs from a store. A record is unique per consumer and message id: of two deliveries
 * of one message recording at once, one wins (on PostgreSQL, the second waits for the first's transaction).
 */
export interface InboxStore {
  /** Whether `consumer` processed `messageId` (a record that has not expired at `now`). */
  inboxHas(consumer: string, messageId: string, now: number): Promise<boolean>;
  /**
   * Records that `consumer` processed `messageId`, until `expiresAt`; false when an unexpired record exists already
   * (another delivery of the message processed it: roll back). Through `tx` when given.
   */
  recordInbox(
    consumer: string,
    messageId: string,
    now: number,
    expiresAt: number,
    options?: RecordInboxOptions,
  ): Promise<boolean>;
  /** Deletes up to `limit` records expired at `now`; returns how many. */
  pruneInbox(now: number, limit: number): Promise<number>;
}

/** Whether `store` keeps an inbox. */
export function isInboxStore(store: JobStore): store is JobStore & InboxStore {
  const s = store as Partial<InboxStore>;
  return (
    typeof s.inboxHas === 'function' &&
    typeof s.recordInbox === 'function' &&
    typeof s.pruneInbox === 'function'
  );
}
