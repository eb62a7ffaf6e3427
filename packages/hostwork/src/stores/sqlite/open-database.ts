/**
 * Opens and configures the job database connection, turning every way that can fail into one error that names the
 * file, the problem and the fix.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ErrorCodes, HostworkError } from '../../errors.ts';
import type { MigrationStatus } from '../../jobs/migration-status.ts';
import { applyMigrations, assertUsable, inspectDatabase, SCHEMA_VERSION } from './migrations.ts';

/** The path of a database that lives in memory only (for tests): no folder, no WAL. */
export const IN_MEMORY = ':memory:';

/** WAL pages after which a commit checkpoints (see where it is set). */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** How to open the job database. */
export interface OpenOptions {
  /** An absolute file path, or {@link IN_MEMORY}. */
  readonly path: string;
  readonly busyTimeoutMs: number;
  readonly synchronous: 'normal' | 'full';
}

/**
 * Opens the job database, checks it is ours (or empty) before writing anything, switches it to WAL and migrates it.
 * Nothing is written to a file that turns out to be someone else's.
 */
export function openDatabase(options: OpenOptions): DatabaseSync {
  // Opening a new file while other processes open it too can report SQLITE_BUSY without waiting (switching to WAL
  // needs a lock SQLite does not wait for): open again until the busy timeout is spent.
  const deadline = Date.now() + options.busyTimeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    try {
      return openOnce(options);
    } catch (error) {
      const busy = ((error as { cause?: { errcode?: unknown } }).cause?.errcode ?? undefined) === SQLITE_BUSY;
      if (!busy || Date.now() + pause > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}

function openOnce(options: OpenOptions): DatabaseSync {
  const { path } = options;
  if (path !== IN_MEMORY) createFolder(path);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (error) {
    throw openError(path, error);
  }
  try {
    // Set first: the checks below may wait for another process that is migrating the same new file.
    db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs}`);
    assertUsable(inspectDatabase(db), path);
    // WAL: readers never block the writer and a commit is an append; with synchronous=NORMAL a commit does not
    // fsync (a power cut may lose the last commits, never corrupt the file). Persistent in the file.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec('PRAGMA foreign_keys = ON');
    // A checkpoint copies the WAL into the database and fsyncs both, on the committing call. At SQLite's default of
    // 1,000 pages that happened every ~5,000 jobs of a busy queue and cost about a third of the throughput; 10,000
    // pages (~40 MB of WAL at most between checkpoints) makes it rare, and the hot pages it rewrites are deduplicated.
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    applyMigrations(db, path);
    return db;
  } catch (error) {
    db.close();
    throw openError(path, error);
  }
}

/**
 * The schema version of the database file, read-only: a missing file is version 0 and is not created, and nothing is
 * ever written (no WAL switch, no migration). A file that is not a Hostwork job database is refused as on open.
 */
export function readMigrationStatus(path: string, busyTimeoutMs: number): MigrationStatus {
  if (!existsSync(path)) return { current: 0, latest: SCHEMA_VERSION };
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (error) {
    throw openError(path, error);
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    // Inside a read transaction, so the inspection is one consistent snapshot and needs no write lock to confirm.
    db.exec('BEGIN');
    const found = inspectDatabase(db);
    db.exec('ROLLBACK');
    if (found.kind === 'foreign') {
      assertUsable(found, path);
      return { current: 0, latest: SCHEMA_VERSION };
    }
    return { current: found.kind === 'empty' ? 0 : found.version, latest: SCHEMA_VERSION };
  } catch (error) {
    throw openError(path, error);
  } finally {
    db.close();
  }
}

function createFolder(path: string): void {
  const folder = dirname(path);
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new HostworkError(
      ErrorCodes.STORE_OPEN,
      `Cannot create the folder ${folder} for the job database ${path} (${messageOf(error)}). Fix: create it with write access for this process, or point Jobs:Sqlite:Path elsewhere.`,
      { cause: error },
    );
  }
}

/** SQLite result codes (https://sqlite.org/rescode.html) with a diagnosis of their own. */
const SQLITE_BUSY = 5;
const SQLITE_READONLY = 8;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** The error for a failure while opening, checking or migrating `path`. */
function openError(path: string, error: unknown): HostworkError {
  if (error instanceof HostworkError) return error;
  const code = (error as { errcode?: unknown }).errcode;
  const detail = messageOf(error);
  let problem: string;
  let fix: string;
  if (code === SQLITE_NOTADB) {
    problem = `is not a SQLite database (${detail})`;
    fix = 'point Jobs:Sqlite:Path at a new file or at a Hostwork job database.';
  } else if (code === SQLITE_CANTOPEN && isDirectory(path)) {
    problem = 'is a directory, not a database file';
    fix = `point Jobs:Sqlite:Path at a file, e.g. ${path.replace(/[\\/]+$/, '')}/jobs.db.`;
  } else if (code === SQLITE_CANTOPEN) {
    problem = `cannot be opened (${detail})`;
    fix =
      'check that this process may read and write the file and its folder, or point Jobs:Sqlite:Path elsewhere.';
  } else if (code === SQLITE_READONLY) {
    problem = `is read-only (${detail})`;
    fix =
      'give this process write access to the file and its folder (WAL mode writes -wal and -shm files next to it).';
  } else if (code === SQLITE_BUSY) {
    problem = `stayed locked by another connection for longer than the busy timeout (${detail})`;
    fix = 'raise the store option busyTimeoutMs, or find the process that holds a long transaction on it.';
  } else {
    problem = `cannot be used (${detail})`;
    fix = 'point Jobs:Sqlite:Path at a new file or at a Hostwork job database.';
  }
  return new HostworkError(ErrorCodes.STORE_OPEN, `The job database ${path} ${problem}. Fix: ${fix}`, {
    cause: error,
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
