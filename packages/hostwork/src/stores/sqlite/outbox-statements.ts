/**
 * The SQLite store's outbox and inbox statements (see OutboxStore, InboxStore). Named parameters; times are ms since the epoch.
 */

/** One message; `:seq` is drawn by AUTOINCREMENT, so rows keep the append order. */
export const APPEND_OUTBOX = `
  INSERT INTO hw_outbox (id, transport, destination, key, headers, body, delay_ms, created_at, next_attempt_at)
  VALUES (:id, :transport, :destination, :key, :headers, :body, :delayMs, :createdAt, :createdAt)`;

/**
 * Whether anything may be claimable: a read, which takes no write lock (WAL readers never wait), so an idle relay's
 * poll never contends with the application's or the workers' writes.
 */
export const OUTBOX_CLAIMABLE = `
  SELECT 1 AS found FROM hw_outbox
  WHERE sent_at IS NULL AND next_attempt_at <= :now AND (claimed_by IS NULL OR lease_expires_at <= :now)
  LIMIT 1`;

/**
 * Claims the oldest due, unheld, unsent rows. A row with a key is left out while an earlier unsent row of its key is
 * held by a relay or waiting for its retry; one cut by LIMIT leaves every later row of its key out too (the LIMIT
 * takes a prefix in seq order). SQLite runs one writer at a time, so the check and the claim are one atomic step.
 */
export const CLAIM_OUTBOX = `
  UPDATE hw_outbox SET claimed_by = :owner, lease_expires_at = :leaseExpiresAt
  WHERE seq IN (
    SELECT o.seq FROM hw_outbox AS o
    WHERE o.sent_at IS NULL AND o.next_attempt_at <= :now
      AND (o.claimed_by IS NULL OR o.lease_expires_at <= :now)
      AND (o.key IS NULL OR NOT EXISTS (
        SELECT 1 FROM hw_outbox AS e
        WHERE e.key = o.key AND e.seq < o.seq AND e.sent_at IS NULL
          AND (e.next_attempt_at > :now OR (e.claimed_by IS NOT NULL AND e.lease_expires_at > :now))))
    ORDER BY o.seq
    LIMIT :limit)
  RETURNING seq, id, transport, destination, key, headers, body, delay_ms, created_at, attempts`;

/** Marks rows sent (a JSON array of seqs), whoever holds them: the broker has them. */
export const MARK_OUTBOX_SENT = `
  UPDATE hw_outbox SET sent_at = :now, claimed_by = NULL, lease_expires_at = NULL
  WHERE seq IN (SELECT value FROM json_each(:seqs)) AND sent_at IS NULL`;

/** A failed publish of rows `owner` holds. */
export const RETRY_OUTBOX = `
  UPDATE hw_outbox
  SET attempts = attempts + 1, next_attempt_at = :nextAt, last_error = :error, claimed_by = NULL,
      lease_expires_at = NULL
  WHERE seq IN (SELECT value FROM json_each(:seqs)) AND claimed_by = :owner AND sent_at IS NULL`;

/** Hands held rows back without counting an attempt. */
export const RELEASE_OUTBOX = `
  UPDATE hw_outbox SET claimed_by = NULL, lease_expires_at = NULL
  WHERE seq IN (SELECT value FROM json_each(:seqs)) AND claimed_by = :owner AND sent_at IS NULL`;

/** Deletes the oldest sent rows. */
export const PRUNE_OUTBOX = `
  DELETE FROM hw_outbox WHERE seq IN (
    SELECT seq FROM hw_outbox WHERE sent_at IS NOT NULL AND sent_at < :sentBefore ORDER BY sent_at LIMIT :limit)`;

export const COUNT_OUTBOX = `
  SELECT count(*) FILTER (WHERE sent_at IS NULL) AS unsent, count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent
  FROM hw_outbox`;

/** Whether the consumer processed the message (an unexpired row). */
export const INBOX_HAS = `
  SELECT 1 AS found FROM hw_inbox WHERE consumer = :consumer AND message_id = :messageId AND expires_at > :now`;

/** Records a processed message; returns a row unless an unexpired record exists (another delivery processed it). */
export const RECORD_INBOX = `
  INSERT INTO hw_inbox (consumer, message_id, processed_at, expires_at)
  VALUES (:consumer, :messageId, :now, :expiresAt)
  ON CONFLICT (consumer, message_id) DO UPDATE SET processed_at = excluded.processed_at, expires_at = excluded.expires_at
  WHERE hw_inbox.expires_at <= excluded.processed_at
  RETURNING 1 AS recorded`;

/** Deletes expired records. */
export const PRUNE_INBOX = `
  DELETE FROM hw_inbox WHERE (consumer, message_id) IN (
    SELECT consumer, message_id FROM hw_inbox WHERE expires_at <= :now LIMIT :limit)`;
