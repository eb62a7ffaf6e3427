import { resolve } from 'node:path';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../../errors.ts';
import { IN_MEMORY } from './open-database.ts';

/** How the SQLite job store opens its database. */
export interface SqliteStoreOptions {
  // `| undefined` on optional options: with exactOptionalPropertyTypes, `{ key: process.env.X }` still type-checks
  // (an undefined value means the default).
  /**
   * The database file; relative paths resolve against the working directory, and a missing parent folder is
   * created. The file must be new (or empty) or a Hostwork job database. `':memory:'` keeps the jobs in memory
   * (one store instance only; for tests).
   */
  readonly path: string;
  /** How long a statement waits for another process's write lock before failing, in ms. Default: 5,000. */
  readonly busyTimeoutMs?: number | undefined;
  /** How often other processes' writes are polled for, while someone waits for work, in ms. Default: 4. */
  readonly pollIntervalMs?: number | undefined;
  /**
   * `'normal'` (default): a commit does not wait for the disk, so a power cut (not a process crash) may lose the
   * last commits. `'full'`: every commit is flushed to disk, at a cost in throughput.
   */
  readonly synchronous?: 'normal' | 'full' | undefined;
}

/** The options with every default applied and the path made absolute. */
export type ResolvedSqliteStoreOptions = Required<SqliteStoreOptions>;

const KNOWN_KEYS = ['path', 'busyTimeoutMs', 'pollIntervalMs', 'synchronous'];

/** Applies the defaults, refusing unknown keys and bad values with a message naming them. */
export function resolveSqliteStoreOptions(given: SqliteStoreOptions): ResolvedSqliteStoreOptions {
  assertKnownKeys('sqliteStore options', given, KNOWN_KEYS);
  const { path, busyTimeoutMs = 5_000, pollIntervalMs = 4, synchronous = 'normal' } = given;
  if (typeof path !== 'string' || path.trim() === '') {
    throw invalid(`path must be a non-empty file path, got ${JSON.stringify(path)}`);
  }
  if (!(Number.isInteger(busyTimeoutMs) && busyTimeoutMs >= 0)) {
    throw invalid(`busyTimeoutMs must be an integer >= 0, got ${busyTimeoutMs}`);
  }
  if (!(Number.isFinite(pollIntervalMs) && pollIntervalMs >= 1)) {
    throw invalid(`pollIntervalMs must be a number >= 1, got ${pollIntervalMs}`);
  }
  if (synchronous !== 'normal' && synchronous !== 'full') {
    throw invalid(`synchronous must be 'normal' or 'full', got ${JSON.stringify(synchronous)}`);
  }
  return {
    path: path === IN_MEMORY ? path : resolve(path),
    busyTimeoutMs,
    pollIntervalMs,
    synchronous,
  };
}

function invalid(problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `sqliteStore options: ${problem}.`);
}
