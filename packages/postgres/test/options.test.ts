/** postgresStore options: defaults, refused keys and values (no server needed: the pool connects lazily). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, HostworkError } from 'hostwork';
import pg from 'pg';
import { postgresStore } from '../src/postgres-store.ts';
import { type PostgresStoreOptions, resolvePostgresStoreOptions } from '../src/postgres-store-options.ts';

const URL = 'postgres://nobody@127.0.0.1:1/none';

function refused(
  options: PostgresStoreOptions,
  code: string,
  pattern: RegExp,
  env: NodeJS.ProcessEnv = {},
): void {
  assert.throws(
    () => resolvePostgresStoreOptions(options, env),
    (error: unknown) => {
      assert.ok(error instanceof HostworkError);
      assert.equal(error.code, code);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('postgresStore options', () => {
  it('applies the defaults, taking the database from DATABASE_URL', () => {
    const o = resolvePostgresStoreOptions({}, { DATABASE_URL: URL });
    assert.deepEqual(o.source, { kind: 'own', connectionString: URL, max: 10 });
    assert.equal(o.schema, 'hostwork');
    assert.equal(o.pollIntervalMs, 1_000);
    assert.equal(o.migrate, true);
    assert.equal(o.slowQueryWarningMs, 5_000);
  });

  it('refuses unknown keys, suggesting the closest', () => {
    refused(
      { connectionStrin: URL } as PostgresStoreOptions,
      ErrorCodes.UNKNOWN_OPTION,
      /'connectionStrin'.*'connectionString'/,
    );
  });

  it('refuses bad values, naming them', () => {
    const pool = new pg.Pool({ connectionString: URL });
    try {
      refused({}, ErrorCodes.INVALID_OPTION, /DATABASE_URL/);
      refused({ connectionString: URL, pool }, ErrorCodes.INVALID_OPTION, /either connectionString or pool/);
      refused({ pool, poolSize: 3 }, ErrorCodes.INVALID_OPTION, /poolSize/);
      refused(
        { connectionString: URL, poolSize: 0 },
        ErrorCodes.INVALID_OPTION,
        /poolSize must be an integer >= 1/,
      );
      refused({ connectionString: URL, schema: 'my-jobs' }, ErrorCodes.INVALID_OPTION, /schema must be/);
      refused({ connectionString: URL, schema: 'x'.repeat(64) }, ErrorCodes.INVALID_OPTION, /schema must be/);
      refused({ connectionString: URL, pollIntervalMs: 0 }, ErrorCodes.INVALID_OPTION, /pollIntervalMs/);
      refused(
        { connectionString: URL, slowQueryWarningMs: -1 },
        ErrorCodes.INVALID_OPTION,
        /slowQueryWarningMs/,
      );
      refused(
        { connectionString: URL, migrate: 'yes' as unknown as boolean },
        ErrorCodes.INVALID_OPTION,
        /migrate/,
      );
    } finally {
      void pool.end();
    }
  });

  it('is kind postgres; close is idempotent and a closed store refuses work', async () => {
    const store = postgresStore({ connectionString: URL, schema: 'Mixed_Case_1' });
    assert.equal(store.kind, 'postgres');
    assert.equal(store.schema, 'Mixed_Case_1');
    await Promise.all([store.close(), store.close(), store[Symbol.asyncDispose]()]);
    await assert.rejects(store.claim({ queue: 'q', limit: 1, owner: 'w', leaseMs: 1, now: 0 }), /is closed/);
    await assert.rejects(
      store.migrate(),
      (e: unknown) => e instanceof HostworkError && e.code === ErrorCodes.HOST_STATE,
    );
  });

  it('leaves a pool it was given open on close', async () => {
    const pool = new pg.Pool({ connectionString: URL });
    const store = postgresStore({ pool });
    assert.equal(store.pool, pool);
    await store.close();
    assert.equal(pool.ended, false);
    assert.equal(pool.listenerCount('error'), 0, 'its error listener is removed');
    await pool.end();
  });
});
