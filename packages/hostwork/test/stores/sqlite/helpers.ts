/** Shared pieces of the SQLite store's own tests: temporary folders, stores that clean up, error assertions. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'node:test';
import { type ErrorCode, HostworkError } from '../../../src/errors.ts';
import type { NewJob } from '../../../src/jobs/job-record.ts';
import { type SqliteStore, sqliteStore } from '../../../src/stores/sqlite/sqlite-store.ts';
import type { SqliteStoreOptions } from '../../../src/stores/sqlite/sqlite-store-options.ts';

/** Registers an `afterEach` that closes every store and removes every folder the test made. */
export function useTemp(): { dir(): string; store(options: SqliteStoreOptions): SqliteStore } {
  let stores: SqliteStore[] = [];
  let dirs: string[] = [];
  afterEach(async () => {
    for (const store of stores) await store.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    stores = [];
    dirs = [];
  });
  return {
    dir() {
      const dir = mkdtempSync(join(tmpdir(), 'hostwork-sqlite-'));
      dirs.push(dir);
      return dir;
    },
    store(options) {
      const store = sqliteStore(options);
      stores.push(store);
      return store;
    },
  };
}

/** Asserts that `promise` rejects with a HostworkError with `code` whose message contains every fragment. */
export async function expectRejection(
  promise: Promise<unknown>,
  code: ErrorCode,
  ...fragments: string[]
): Promise<HostworkError> {
  const thrown = await promise.then(
    () => undefined,
    (error: unknown) => error ?? new Error('rejected with nothing'),
  );
  assert.ok(thrown !== undefined, `expected a rejection with code ${code}, but it resolved`);
  assert.ok(thrown instanceof HostworkError, `expected a HostworkError, got: ${String(thrown)}`);
  assert.equal(thrown.code, code, `wrong code; message: ${thrown.message}`);
  for (const fragment of fragments) {
    assert.ok(thrown.message.includes(fragment), `message should contain "${fragment}": ${thrown.message}`);
  }
  return thrown;
}

/** A valid job, due now. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    name: 'test.job',
    queue: 'default',
    payload: '{}',
    priority: 0,
    runAt: Date.now(),
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
    ...overrides,
  };
}
