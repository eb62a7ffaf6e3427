/**
 * The storage side of the transactional outbox: a small interface of its own, which a {@link JobStore} implements
 * besides (the SQLite and PostgreSQL stores do), so the outbox lives in the job store's schema and commits with the
 * application's transaction the same way transactional enqueue does, while stores without it stay valid job stores.
 */
import type { JobStore } from '../jobs/job-store.ts';

/** One message to keep in the outbox until the relay has published it. */
export interface OutboxMessage {
  /** The message id, published unchanged (every retry and duplicate carries it). */
  readonly id: string;
  /** The name of the transport registered with `addMessaging`. */
  readonly transport: string;
  /** The destination as JSON (`{"name": ..., "options": ...}`). */
  readonly destination: string;
  /** Ordering key: messages of one key are published in append order, one key's message never before an earlier one. */
  readonly key: string | null;
  /** The headers as a JSON object of strings. */
  readonly headers: string;
  readonly body: Uint8Array;
  /** Deliver no earlier than this many ms after `createdAt`; 0 for at once. */
  readonly delayMs: number;
  readonly createdAt: number;
}

/** A message claimed by a relay. */
export interface ClaimedOutboxMessage extends OutboxMessage {
  /** The row's position in the outbox (append order), as a string; what the relay marks and retries by. */
  readonly seq: string;
  /** Failed publishes so far. */
  readonly attempts: number;
}

/** Options of {@link OutboxStore.appendOutbox}. */
export interface AppendOutboxOptions {
  /**
   * The application's open transaction (store-specific: a node-postgres client after BEGIN or a postgres.js `tx`;
   * for SQLite, the application's own `DatabaseSync` on the store's file, inside its transaction). The rows exist if
   * and only if it commits.
   */
  readonly tx?: unknown;
}

/**
 * What the outbox relay needs from a store. Guarantees a store must give:
 * - `claimOutbox` is exclusive (one relay holds a row until its lease expires) and hands out rows oldest first;
 * - per key, it never hands out a message while an earlier unsent message of the same key is held by another relay,
 *   waiting for its retry, or left out of this claim: a key's messages are published in order across relay crashes;
 * - a row is never deleted before it is marked sent.
 */
export interface OutboxStore {
  /** Appends messages in order (one transaction; through `tx` when given) and wakes the relays after commit. */
  appendOutbox(messages: readonly OutboxMessage[], options?: AppendOutboxOptions): Promise<void>;
  /** Claims up to `limit` unsent, due, unheld messages for `owner` until `now + leaseMs`, oldest first. */
  claimOutbox(limit: number, owner: string, leaseMs: number, now: number): Promise<ClaimedOutboxMessage[]>;
  /** Marks published messages sent (one statement for the batch). */
  markOutboxSent(seqs: readonly string[], now: number): Promise<void>;
  /** A failed publish: counts the attempt, records `error`, and makes the message due again at `nextAt`. */
  retryOutbox(owner: string, seqs: readonly string[], nextAt: number, error: string): Promise<void>;
  /** Hands claimed messages back unpublished (relay stopping), without counting an attempt. */
  releaseOutbox(owner: string, seqs: readonly string[]): Promise<void>;
  /** Deletes up to `limit` messages sent before `sentBefore`; returns how many. */
  pruneOutbox(sentBefore: number, limit: number): Promise<number>;
  /** Unsent messages (for inspection and tests). */
  countOutbox(): Promise<{ readonly unsent: number; readonly sent: number }>;
}

/** Whether `store` keeps an outbox. */
export function isOutboxStore(store: JobStore): store is JobStore & OutboxStore {
  const s = store as Partial<OutboxStore>;
  return (
    typeof s.appendOutbox === 'function' &&
    typeof s.claimOutbox === 'function' &&
    typeof s.markOutboxSent === 'function' &&
    typeof s.retryOutbox === 'function' &&
    typeof s.releaseOutbox === 'function' &&
    typeof s.pruneOutbox === 'function'
  );
}
