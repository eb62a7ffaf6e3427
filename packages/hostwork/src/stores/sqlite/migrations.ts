/**
 * The SQLite job store's schema, as numbered migrations, and the code that applies them.
 *
 * What makes a database file "ours": its header's `application_id` is {@link APPLICATION_ID}. The schema version is
 * the header's `user_version`. Both live in the file header, so checking them reads no table. A file is accepted when
 * it carries our marker with a version this code understands, or when it is empty (a new file, or a SQLite database
 * with no tables at all), which we then claim. Anything else is refused without writing to it: a database with tables
 * but no marker belongs to someone else (Hostwork does not share a database file with an application's own tables),
 * a different non-zero `application_id` is another program's file format, and a higher `user_version` was written by
 * a newer Hostwork whose schema this one cannot read safely.
 */
import type { DatabaseSync } from 'node:sqlite';
import { ErrorCodes, HostworkError } from '../../errors.ts';

/** One step of the schema; `version` ascends by 1 from 1, and a released migration is never edited. */
export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** The marker in the header of every Hostwork job database: 'HWJB' as a 32-bit integer. */
export const APPLICATION_ID = 0x48574a42;

/** Every migration, oldest first. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE hw_jobs (
        -- A plain rowid, not AUTOINCREMENT: AUTOINCREMENT writes sqlite_sequence on every insert, which halves the
        -- rate of small insert transactions. The cost: ids of the newest jobs can be reused after they are purged.
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'completed', 'dead', 'cancelled')),
        priority INTEGER NOT NULL,
        run_at INTEGER NOT NULL,
        -- The number of attempts started (a claim counts one; a release gives it back).
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        timeout_ms INTEGER NOT NULL,
        unique_key TEXT,
        -- A per-job backoff override as JSON, or NULL for the job definition's.
        backoff TEXT,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        progress TEXT,
        -- JSON array of AttemptError, appended to on each failed attempt.
        errors TEXT NOT NULL DEFAULT '[]',
        created_at INTEGER NOT NULL,
        finished_at INTEGER
      );

      -- insert: a unique key holds only while its job is alive, so a finished job keeps its key for inspection
      -- without blocking a new one. Partial, so jobs without a key cost nothing.
      CREATE UNIQUE INDEX hw_jobs_unique_key ON hw_jobs (unique_key)
        WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');

      -- claim: walks a queue's pending jobs in claim order and stops after LIMIT, with no sort. Partial, so it holds
      -- only the backlog, not the (usually far larger) history of finished jobs.
      CREATE INDEX hw_jobs_claim ON hw_jobs (queue, priority DESC, run_at, id) WHERE state = 'pending';

      -- recoverExpired: finds expired leases among running jobs only, without scanning the table.
      CREATE INDEX hw_jobs_lease ON hw_jobs (lease_expires_at) WHERE state = 'running';

      -- prune: the oldest completed jobs first (the index also orders by rowid, which breaks ties).
      CREATE INDEX hw_jobs_prune ON hw_jobs (finished_at) WHERE state = 'completed';

      CREATE TABLE hw_schedules (
        name TEXT PRIMARY KEY,
        cron TEXT NOT NULL,
        timezone TEXT,
        paused INTEGER NOT NULL DEFAULT 0,
        next_run_at INTEGER,
        last_run_at INTEGER
      );

      -- One row per maintenance role: its owner leads until expires_at unless it renews first.
      CREATE TABLE hw_leader (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    sql: `
      -- The live workers and the queues each consumes (a JSON array), renewed on the maintenance cadence until
      -- expires_at; a client reads it to warn of jobs enqueued to a queue no worker consumes.
      CREATE TABLE hw_workers (
        owner TEXT PRIMARY KEY,
        queues TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    sql: `
      -- What a completed job's handler returned, as JSON text; NULL when it returned nothing.
      ALTER TABLE hw_jobs ADD COLUMN result TEXT;
    `,
  },
  {
    version: 4,
    sql: `
      -- The transactional outbox: messages written with the application's transaction, published by the relay after
      -- commit. seq is the append order (per key, the publish order); claimed_by/lease_expires_at hold a row for one
      -- relay; sent_at is set once the broker has it.
      CREATE TABLE hw_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        transport TEXT NOT NULL,
        destination TEXT NOT NULL,
        key TEXT,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        delay_ms INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        claimed_by TEXT,
        lease_expires_at INTEGER,
        sent_at INTEGER,
        last_error TEXT
      );
      -- The relay's claim walks the unsent rows in order; the per-key check looks up a key's earlier unsent rows.
      CREATE INDEX hw_outbox_unsent ON hw_outbox (seq) WHERE sent_at IS NULL;
      CREATE INDEX hw_outbox_unsent_key ON hw_outbox (key, seq) WHERE sent_at IS NULL AND key IS NOT NULL;
      CREATE INDEX hw_outbox_sent ON hw_outbox (sent_at) WHERE sent_at IS NOT NULL;

      -- The consumers' inbox: the message ids each consumer processed, until expires_at (the consumer's window).
      CREATE TABLE hw_inbox (
        consumer TEXT NOT NULL,
        message_id TEXT NOT NULL,
        processed_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (consumer, message_id)
      ) WITHOUT ROWID;
      CREATE INDEX hw_inbox_expiry ON hw_inbox (expires_at);
    `,
  },
  {
    version: 5,
    sql: `
      -- What travels with a job besides its payload, as a JSON object of strings: the W3C trace context of the
      -- enqueue (traceparent, tracestate) when it was traced; NULL otherwise. Adding a nullable column rewrites no row.
      ALTER TABLE hw_jobs ADD COLUMN metadata TEXT;
    `,
  },
  {
    version: 6,
    sql: `
      -- counts (the dashboard's queues, 'hostwork queues'): the jobs that are not pending, counted from this index
      -- alone, in order, without reading the table or sorting (pending jobs are counted on the claim index): 60 ms
      -- instead of 600 ms for 1M jobs. throughput: the dead jobs by finish time. Partial, so the claim, which reads
      -- pending jobs only, never picks it. The cost: one more index entry to move on each change of state (finished_at
      -- changes only with the state).
      CREATE INDEX IF NOT EXISTS hw_jobs_counts ON hw_jobs (state, queue, finished_at) WHERE state <> 'pending';
    `,
  },
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** What a database file holds, as far as the job store is concerned. */
export type DatabaseKind =
  | { readonly kind: 'empty' }
  | { readonly kind: 'ours'; readonly version: number }
  | {
      readonly kind: 'foreign';
      readonly problem: string /** True when another application's id marks it (certain without a re-check). */;
      readonly marked: boolean;
    }
  | { readonly kind: 'newer'; readonly version: number };

/** Reads the header marker, version and (only without our marker) whether any table exists. Writes nothing. */
export function inspectDatabase(db: DatabaseSync): DatabaseKind {
  const found = readKind(db);
  if (found.kind !== 'foreign' || found.marked || db.isTransaction) return found;
  // Tables without our marker may be another process's migration caught between two reads (the header, then the
  // table list): confirm under the write lock, where nobody can commit in between. Nothing is written.
  db.exec('BEGIN IMMEDIATE');
  try {
    return readKind(db);
  } finally {
    db.exec('ROLLBACK');
  }
}

function readKind(db: DatabaseSync): DatabaseKind {
  const applicationId = Number(db.prepare('PRAGMA application_id').get()?.application_id ?? 0);
  const version = Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
  if (applicationId === APPLICATION_ID) {
    return version > SCHEMA_VERSION ? { kind: 'newer', version } : { kind: 'ours', version };
  }
  if (applicationId !== 0) {
    const hex = `0x${(applicationId >>> 0).toString(16).padStart(8, '0')}`;
    return {
      kind: 'foreign',
      marked: true,
      problem: `belongs to another application (its application_id is ${hex})`,
    };
  }
  const objects = Number(db.prepare('SELECT count(*) AS n FROM sqlite_schema').get()?.n ?? 0);
  if (objects > 0) {
    return {
      kind: 'foreign',
      marked: false,
      problem: 'is a SQLite database of another application (it has tables but no Hostwork marker)',
    };
  }
  return { kind: 'empty' };
}

/** Throws the error for a database the store must not use; does nothing for an empty or current one. */
export function assertUsable(found: DatabaseKind, path: string): void {
  if (found.kind === 'foreign') {
    throw new HostworkError(
      ErrorCodes.STORE_OPEN,
      `The job database ${path} ${found.problem}. Fix: point Jobs:Sqlite:Path at a new file or at a Hostwork job database; Hostwork keeps its jobs in a database file of its own.`,
    );
  }
  if (found.kind === 'newer') {
    throw new HostworkError(
      ErrorCodes.STORE_OPEN,
      `The job database ${path} has schema version ${found.version}, written by a newer Hostwork; this version understands up to ${SCHEMA_VERSION}. Fix: upgrade Hostwork, or point Jobs:Sqlite:Path at another file.`,
    );
  }
}

/**
 * Brings the schema to {@link SCHEMA_VERSION}. The check and every missing migration run in one `BEGIN IMMEDIATE`
 * transaction, so of several processes migrating at once one applies the migrations and the others, having waited
 * for its write lock, find nothing left to do. A database that is already current is only read.
 */
export function applyMigrations(db: DatabaseSync, path: string): void {
  const before = inspectDatabase(db);
  assertUsable(before, path);
  if (before.kind === 'ours' && before.version === SCHEMA_VERSION) return;

  db.exec('BEGIN IMMEDIATE');
  try {
    // Read again under the write lock: another process may have migrated (or written) since.
    const found = inspectDatabase(db);
    assertUsable(found, path);
    const current = found.kind === 'ours' ? found.version : 0;
    for (const migration of MIGRATIONS) {
      if (migration.version > current) db.exec(migration.sql);
    }
    // The header pragmas take no bound parameters; both values are integers of ours.
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
