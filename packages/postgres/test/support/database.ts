/**
 * The test database: where it is, whether it is reachable, and fresh schemas for tests.
 *
 * Tests that need PostgreSQL register through {@link describeWithDatabase}. When the server is unreachable they are
 * skipped with a line saying what and why, unless `HOSTWORK_REQUIRE_SERVICES=1` (set by CI): then they fail, so a
 * CI machine without its database can never pass by skipping.
 *
 * Every test works in its own schema ({@link freshSchemaName}, dropped afterwards), so test files running in
 * parallel never see each other's jobs, listeners or locks.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';
import { describeWhenAvailable } from '../../../hostwork/test/support/services.ts';

/** The test database: `DATABASE_URL`, or the local default. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let probe: Promise<string | undefined> | undefined;

/** Why the database is unusable, or undefined when it answers. Probed once per test file. */
export function databaseProblem(): Promise<string | undefined> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (error) {
      return `PostgreSQL is unreachable at ${redact(DATABASE_URL)}: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return probe;
}

/**
 * Registers `body` (a describe block's body) when the database answers. Otherwise registers one test named `what`
 * that is skipped, saying why, or, under HOSTWORK_REQUIRE_SERVICES=1, fails with the reason.
 */
export async function describeWithDatabase(what: string, body: () => void): Promise<void> {
  describeWhenAvailable(
    what,
    await databaseProblem(),
    body,
    'set DATABASE_URL to a reachable server to run these tests',
  );
}

/** A new schema name no other test uses. */
export function freshSchemaName(): string {
  return `hw_test_${randomBytes(6).toString('hex')}`;
}

let admin: pg.Pool | undefined;

/** A small pool for test set-up and clean-up (dropping schemas, inspecting the server), ended after the file. */
export function adminPool(): pg.Pool {
  if (admin === undefined) {
    admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2, application_name: 'hostwork-test-admin' });
    admin.on('error', () => {});
  }
  return admin;
}

// Registered when the module loads (a hook added while tests run may never run): ends the pool if one was made.
after(async () => {
  const pool = admin;
  admin = undefined;
  await pool?.end();
});

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await adminPool().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
