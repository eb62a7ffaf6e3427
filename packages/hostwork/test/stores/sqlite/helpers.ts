import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'node:test';
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

export { expectRejection } from '../../support/errors.ts';

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
