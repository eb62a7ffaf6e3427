/**
 * The pool under trouble: a query stuck waiting for a connection or running behind a lock is reported while it is
 * stuck, and an idle connection killed by the server neither crashes the process nor breaks the next query.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { adminPool, describeWithDatabase } from './support/database.ts';
import { job, useSchemas, waitUntil } from './support/stores.ts';

await describeWithDatabase('pool trouble (PostgreSQL)', () => {
  const stores = useSchemas();

  it('warns while a query waits for a pool connection', async () => {
    const seen: string[] = [];
    const store = stores.fresh({ poolSize: 1, slowQueryWarningMs: 100, onWarning: (m) => seen.push(m) });
    await store.migrate();
    seen.length = 0; // a migration slowed by a loaded machine may have warned; this test is about the wait
    const held = await store.pool.connect();
    let counted = false;
    const counting = store.counts().then(() => {
      counted = true;
    });
    try {
      const warning = await waitUntil(
        () => seen.find((m) => m.includes('has waited')),
        'the waiting warning',
      );
      assert.match(
        warning,
        /counts has waited \d+\.\d s for a pool connection \(1 of 1 open, 0 idle, 1 waiting\)/,
      );
      assert.match(warning, /Raise poolSize/);
      assert.equal(counted, false, 'reported while still waiting');
    } finally {
      held.release();
    }
    await counting;
    assert.equal(seen.filter((m) => m.includes('has waited')).length, 1, 'one warning per wait');
  });

  it('warns while a query runs behind a lock another session holds', async () => {
    const seen: string[] = [];
    const store = stores.fresh({ slowQueryWarningMs: 100, onWarning: (m) => seen.push(m) });
    await store.migrate();
    const [inserted] = await store.insert([job()]);
    const locker = await adminPool().connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT FROM "${store.schema}".jobs WHERE id = $1 FOR UPDATE`, [inserted!.id]);
      const cancelling = store.cancel(inserted!.id, 1);
      // Under load the migration may warn too (rightly); the warning under test is the cancel's.
      const warning = await waitUntil(
        () => seen.find((m) => m.includes('cancel has been running')),
        'the running warning',
      );
      assert.match(warning, /PostgresStore \(schema "hw_test_\w+"\): cancel has been running for \d+\.\d s/);
      assert.match(warning, /pg_locks/);
      await locker.query('ROLLBACK');
      assert.equal(await cancelling, 'cancelled');
    } finally {
      locker.release();
    }
  });

  it('survives the server killing an idle pool connection, and reports it', async () => {
    const seen: string[] = [];
    const store = stores.fresh({ onWarning: (m) => seen.push(m) });
    await store.migrate();
    await store.counts();
    // The store's idle pool connections: found by application name and by their last query, which names the schema.
    const { rows } = await adminPool().query<{ pid: number }>(
      `SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
       WHERE application_name = 'hostwork' AND state = 'idle' AND query LIKE $1`,
      [`%"${store.schema}"%`],
    );
    assert.ok(rows.length >= 1, 'an idle connection to kill');
    await waitUntil(() => seen.some((m) => m.includes('an idle pool connection failed')), 'the warning');
    assert.deepEqual(await store.counts(), [], 'the next query gets a new connection');
  });

  it("a claim's asynchronous commit (synchronous_commit off) stays inside the claim's own transaction", async () => {
    const store = stores.fresh({ poolSize: 1 });
    await store.migrate();
    await store.insert([job()]);
    const { jobs } = await store.claim({
      queue: 'default',
      limit: 10,
      owner: 'w1',
      leaseMs: 60_000,
      now: 10,
    });
    assert.equal(jobs.length, 1);
    // The pool's only connection ran the claim: a setting leaked from it would show here.
    const { rows } = await store.pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
    assert.equal(rows[0]!.synchronous_commit, 'on');
    // The claim is visible to others at once, as any committed write.
    const seen = await adminPool().query(`SELECT state FROM "${store.schema}".jobs`);
    assert.equal(seen.rows[0]!.state, 'running');
  });
});
