/**
 * A worker process whose database connections the server keeps terminating (pg_terminate_backend, as a restart or
 * an administrator would) in the middle of its claims, settles and heartbeats. The process must survive: a pg client
 * that emits 'error' with nobody listening crashes it, and a connection can fail while the store has it checked out,
 * or in the very network read that completed it. Only this worker's pool connections are terminated (they carry an
 * application_name of their own), so other tests using the server are not disturbed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PostgresStore } from '../../src/postgres-store.ts';
import { adminPool, describeWithDatabase, dropSchema, freshSchemaName } from '../support/database.ts';
import { testStore } from '../support/factory.ts';
import { job } from '../support/stores.ts';
import {
  describeAll,
  killWorkersAfterEach,
  sideTablesSql,
  startWorkers,
  waitUntil,
} from './worker-process.ts';

await describeWithDatabase('a worker process losing its connections (PostgreSQL)', () => {
  killWorkersAfterEach();
  let schema: string | undefined;
  let store: PostgresStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (schema !== undefined) await dropSchema(schema);
    store = undefined;
    schema = undefined;
  });

  it('survives connections terminated mid-query, and every job still completes', {
    timeout: 90_000,
  }, async () => {
    schema = freshSchemaName();
    store = testStore(schema, { poolSize: 2 });
    await store.migrate();
    const db = adminPool();
    await db.query(sideTablesSql(schema));
    const appName = `hw-conn-loss-${randomBytes(4).toString('hex')}`;
    const [worker] = await startWorkers(1, schema, {
      HW_APP_NAME: appName,
      HW_CONCURRENCY: '5',
      HW_LEASE_MS: '5000',
      HW_HEARTBEAT_MS: '250',
      HW_POLL_MS: '100',
    });
    const w = worker!;
    // 200 jobs of 10–40 ms, due over 3 s, while the server terminates the worker's connections every 25 ms.
    const now = Date.now();
    const total = 200;
    await store.insert(
      Array.from({ length: total }, (_, i) =>
        job({
          name: 'pg.work',
          payload: JSON.stringify({ ms: 10 + Math.floor(Math.random() * 30) }),
          runAt: now + i * 15,
          maxAttempts: 10,
        }),
      ),
    );
    let terminated = 0;
    const killUntil = performance.now() + 3_500;
    while (performance.now() < killUntil && w.alive) {
      const { rows } = await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
        [appName],
      );
      terminated += rows.length;
      await sleep(25);
    }
    assert.ok(w.alive, `the worker survived ${terminated} terminated connections\n${w.describe()}`);
    assert.ok(terminated >= 20, `connections were terminated (${terminated})`);

    const q = `"${schema}"`;
    const counts = async () =>
      (
        await db.query<{ state: string; n: number }>(
          `SELECT state, count(*)::int AS n FROM ${q}.jobs GROUP BY state ORDER BY state`,
        )
      ).rows;
    await waitUntil(
      async () => {
        const c = await counts();
        return c.length === 1 && c[0]!.state === 'completed' && c[0]!.n === total;
      },
      async () => `every job to complete: ${JSON.stringify(await counts())}\n${describeAll([w])}`,
      40_000,
      100,
    );
    assert.ok(w.alive, w.describe());
    const { rows: again } = await db.query<{ id: string; attempt: number; errors: Array<{ kind: string }> }>(
      `SELECT id::text, attempt, errors FROM ${q}.jobs WHERE attempt > 1`,
    );
    for (const j of again) {
      assert.ok(
        j.errors.some((e) => e.kind === 'lease-expired'),
        `job ${j.id} ran again only after its lease expired: ${JSON.stringify(j.errors)}`,
      );
    }
    assert.ok(w.problems().length > 0, 'the worker logged the failures');
    // The engine drops an outcome whose lone write fails while others succeed (see #writeOneByOne): with
    // connections cut at random that happens to sound outcomes too, and those jobs run again after their lease.
    const dropped = w.logs('Could not write the outcome of job').length;
    const exit = await w.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, w.describe());
    process.stdout.write(
      `# ${terminated} connections terminated; ${w.problems().length} warning/error lines; ${dropped} outcome(s) dropped; ${again.length} job(s) ran again after a lost lease\n`,
    );
  });
});
