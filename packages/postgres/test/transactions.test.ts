/**
 * Transactional enqueue and completion: through a node-postgres client and a postgres.js transaction, a job exists
 * (or is completed) if and only if the application's transaction commits.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import {
  addJobs,
  createHostBuilder,
  defineJob,
  ErrorCodes,
  HostworkError,
  JobClient,
  JobEvents,
  type JobStore,
} from 'hostwork';
import type pg from 'pg';
import postgres from 'postgres';
import { z } from 'zod';
import type { PostgresStore } from '../src/postgres-store.ts';
import { DATABASE_URL, describeWithDatabase } from './support/database.ts';
import { job, useSchemas, waitUntil } from './support/stores.ts';

/** A host builder whose logs go nowhere (a worker's errors would only clutter the test output). */
function quietHostBuilder(): ReturnType<typeof createHostBuilder> {
  return createHostBuilder({
    env: {},
    args: [],
    logging: {
      destination: new Writable({ write: (_c, _e, done) => done() }),
      level: 'error',
      pretty: false,
    },
  });
}

const LONG = 60_000;

/** A postgres.js client for one test, ended afterwards. */
async function withPostgresJs<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end();
  }
}

/** Claims the one pending job of the default queue for `owner`; returns its id. */
async function claimOne(store: JobStore, owner: string): Promise<string> {
  const { jobs } = await store.claim({ queue: 'default', limit: 1, owner, leaseMs: LONG, now: Date.now() });
  assert.equal(jobs.length, 1);
  return jobs[0]!.id;
}

/**
 * What both completeWithin tests on a pg client start with: a job claimed by w1, completed in a transaction that
 * another owner cannot complete it in and that is rolled back, which leaves it running under w1. Returns the job
 * and the connection (checked out; the caller releases it).
 */
async function completedThenRolledBack(
  store: PostgresStore,
  remove: boolean,
): Promise<{ id: string; client: pg.PoolClient }> {
  await store.insert([job()]);
  const id = await claimOne(store, 'w1');
  const client = await store.pool.connect();
  try {
    await client.query('BEGIN');
    assert.equal(
      await store.completeWithin(client, 'w2', id, Date.now(), remove),
      false,
      'w2 does not hold it',
    );
    assert.equal(await store.completeWithin(client, 'w1', id, Date.now(), remove), true);
    await client.query('ROLLBACK');
    const info = await store.get(id);
    assert.equal(info?.state, 'running', 'a rollback keeps it');
    assert.equal(info?.leaseOwner, 'w1');
  } catch (error) {
    client.release();
    throw error;
  }
  return { id, client };
}

await describeWithDatabase('transactional enqueue and completion (PostgreSQL)', () => {
  const stores = useSchemas();

  it('pg client: the job exists only once the transaction commits; rollback leaves nothing', async () => {
    const store = stores.fresh();
    await store.migrate();
    const client = await store.pool.connect();
    try {
      await client.query('BEGIN');
      const [result] = await store.insert([job({ payload: '{"tx":"pg"}' })], { tx: client });
      assert.equal(result?.outcome, 'inserted');
      assert.equal(await store.get(result!.id), undefined, 'invisible to others before commit');
      await client.query('COMMIT');
      assert.deepEqual((await store.get(result!.id))?.payload, { tx: 'pg' });

      await client.query('BEGIN');
      const [rolledBack] = await store.insert([job(), job()], { tx: client });
      await client.query('ROLLBACK');
      assert.equal(await store.get(rolledBack!.id), undefined);
      assert.deepEqual(
        (await store.counts()).map((c) => [c.state, c.count]),
        [['pending', 1]],
      );
    } finally {
      client.release();
    }
  });

  it('postgres.js: the job exists only once sql.begin commits; a throw rolls it back', async () => {
    const store = stores.fresh();
    await store.migrate();
    await withPostgresJs(async (sql) => {
      const committed = await sql.begin(async (tx) => {
        const results = await store.insert(
          [job({ payload: '{"tx":"postgres.js"}', uniqueKey: 'k' }), job({ uniqueKey: 'k' })],
          { tx },
        );
        assert.equal(await store.get(results[0]!.id), undefined, 'invisible to others before commit');
        return results;
      });
      assert.deepEqual(
        committed.map((r) => r.outcome),
        ['inserted', 'duplicate'],
      );
      assert.equal(committed[1]!.id, committed[0]!.id);
      assert.deepEqual((await store.get(committed[0]!.id))?.payload, { tx: 'postgres.js' });

      let id: string | undefined;
      await assert.rejects(
        sql.begin(async (tx) => {
          id = (await store.insert([job()], { tx }))[0]!.id;
          throw new Error('the application fails after enqueueing');
        }),
        /the application fails/,
      );
      assert.ok(id);
      assert.equal(await store.get(id), undefined);
      assert.equal((await store.list({ limit: 10 })).length, 1);
    });
  });

  it('a job enqueued in a committed transaction is run by a worker; a rolled-back one never', async () => {
    const schema = stores.schema();
    const ran: string[] = [];
    const Record = defineJob({
      name: 'record',
      schema: z.object({ label: z.string() }),
      handle: ({ label }) => {
        ran.push(label);
      },
    });
    const builder = quietHostBuilder();
    const store = stores.at(schema);
    addJobs(builder, {
      jobs: [Record],
      store,
      worker: { leaseMs: 4_000, heartbeatMs: 200, pollIntervalMs: 10_000, maintenanceIntervalMs: 100 },
    });
    const host = builder.build();
    await host.start();
    try {
      const jobs = host.services.get(JobClient);
      const completed = new Set<string>();
      host.services.get(JobEvents).on('completed', ({ id }) => completed.add(id));
      const client = await store.pool.connect();
      try {
        await client.query('BEGIN');
        const rolledBack = await jobs.enqueue(Record, { label: 'rolled back' }, { tx: client });
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        const committed = await jobs.enqueue(Record, { label: 'committed' }, { tx: client });
        await client.query('COMMIT');
        // The worker polls only every 10 s here: the NOTIFY sent at commit is what wakes it.
        await waitUntil(() => completed.has(committed.id), 'the committed job to complete');
        assert.deepEqual(ran, ['committed']);
        assert.equal(await jobs.get(rolledBack.id), undefined);
      } finally {
        client.release();
      }
      await withPostgresJs(async (sql) => {
        const viaPostgresJs = await sql.begin((tx) => jobs.enqueue(Record, { label: 'postgres.js' }, { tx }));
        await waitUntil(
          () => completed.has(viaPostgresJs.id),
          'the job enqueued through postgres.js to complete',
        );
      });
      assert.deepEqual(ran, ['committed', 'postgres.js']);
    } finally {
      await host.stop();
    }
  });

  it('an insert racing an open transaction for a unique key resolves to the winner, whichever way it ends', async () => {
    const store = stores.fresh();
    await store.migrate();
    const client = await store.pool.connect();
    try {
      for (const ending of ['COMMIT', 'ROLLBACK'] as const) {
        const key = `race-${ending}`;
        await client.query('BEGIN');
        const [first] = await store.insert([job({ uniqueKey: key })], { tx: client });
        // Waits for the open transaction: its uncommitted row holds the key. The statement's snapshot predates the
        // commit, so the holder is found by the follow-up lookup; after a rollback the key is free and it inserts.
        const racing = store.insert([job({ uniqueKey: key }), job()]);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await client.query(ending);
        const [second, third] = await racing;
        if (ending === 'COMMIT') assert.deepEqual(second, { id: first!.id, outcome: 'duplicate' });
        else {
          assert.equal(second?.outcome, 'inserted');
          assert.notEqual(second?.id, first!.id);
        }
        assert.equal(third?.outcome, 'inserted');
      }
      const live = (await store.list({ limit: 10 })).filter((j) => j.uniqueKey?.startsWith('race-'));
      assert.equal(live.length, 2, 'one job per key');
    } finally {
      client.release();
    }
  });

  it('completeWithin (pg): completes with the commit, not with a rollback; false for another owner', async () => {
    const store = stores.fresh();
    const { id, client } = await completedThenRolledBack(store, false);
    try {
      await client.query('BEGIN');
      const now = Date.now();
      assert.equal(await store.completeWithin(client, 'w1', id, now), true);
      assert.equal((await store.get(id))?.state, 'running', 'not completed before the commit');
      await client.query('COMMIT');
      const info = await store.get(id);
      assert.equal(info?.state, 'completed');
      assert.equal(info?.finishedAt, now);
      assert.equal(info?.leaseOwner, null);

      await client.query('BEGIN');
      assert.equal(await store.completeWithin(client, 'w1', id, Date.now()), false, 'already completed');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  for (const worker of [{}, { maxCompletedJobs: 0 }]) {
    it(`a handler completes its job in its own transaction with its effects (${JSON.stringify(worker)})`, async () => {
      const schema = stores.schema();
      const store = stores.at(schema);
      await store.migrate();
      await store.pool.query(`CREATE TABLE "${schema}".effects (label text PRIMARY KEY)`);
      const Effect = defineJob({
        name: 'effect',
        schema: z.object({ label: z.string() }),
        async handle({ label }, ctx) {
          const client = await store.pool.connect();
          try {
            await client.query('BEGIN');
            await client.query(`INSERT INTO "${schema}".effects (label) VALUES ($1)`, [label]);
            await ctx.completeWithin(client);
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        },
      });
      const builder = quietHostBuilder();
      addJobs(builder, { jobs: [Effect], store, worker: { pollIntervalMs: 10_000, ...worker } });
      const host = builder.build();
      await host.start();
      try {
        const jobs = host.services.get(JobClient);
        const completed = new Set<string>();
        host.services.get(JobEvents).on('completed', ({ id }) => completed.add(id));
        const { id } = await jobs.enqueue(Effect, { label: 'a' });
        await waitUntil(() => completed.has(id), 'the job to complete');
        const { rows } = await store.pool.query(`SELECT label FROM "${schema}".effects`);
        assert.deepEqual(rows, [{ label: 'a' }], 'the effect committed once');
        const info = await jobs.get(id);
        if ('maxCompletedJobs' in worker) assert.equal(info, undefined, 'deleted with the commit');
        else assert.equal(info?.state, 'completed');
      } finally {
        await host.stop();
      }
    });
  }

  it('completeWithin with remove (retention 0): deletes the job with the commit, not with a rollback', async () => {
    const store = stores.fresh();
    const { id, client } = await completedThenRolledBack(store, true);
    try {
      await client.query('BEGIN');
      assert.equal(await store.completeWithin(client, 'w1', id, Date.now(), true), true);
      assert.equal((await store.get(id))?.state, 'running', 'still there before the commit');
      await client.query('COMMIT');
      assert.equal(await store.get(id), undefined, 'deleted with the commit');
    } finally {
      client.release();
    }
  });

  it('completeWithin (postgres.js): completes with the commit, not with a rollback', async () => {
    const store = stores.fresh();
    await store.insert([job()]);
    const id = await claimOne(store, 'w1');
    await withPostgresJs(async (sql) => {
      await assert.rejects(
        sql.begin(async (tx) => {
          assert.equal(await store.completeWithin(tx, 'w1', id, Date.now()), true);
          throw new Error('rolled back');
        }),
        /rolled back/,
      );
      assert.equal((await store.get(id))?.state, 'running');
      const held = await sql.begin((tx) => store.completeWithin(tx, 'w1', id, Date.now()));
      assert.equal(held, true);
      assert.equal((await store.get(id))?.state, 'completed');
      // A settle after completeWithin changes nothing: the lease is gone.
      await store.settle(
        'w1',
        [{ id, kind: 'dead', error: { attempt: 1, at: 0, message: 'x', kind: 'error' } }],
        1,
      );
      assert.equal((await store.get(id))?.state, 'completed');
    });
  });

  it('an open completeWithin transaction holds up neither lease renewal nor lease recovery', async () => {
    const store = stores.fresh();
    const [a, b] = (await store.insert([job(), job()])).map((r) => r.id);
    const now = Date.now();
    const { jobs } = await store.claim({ queue: 'default', limit: 2, owner: 'w1', leaseMs: 1_000, now });
    assert.equal(jobs.length, 2);
    const client = await store.pool.connect();
    try {
      for (const ending of ['ROLLBACK', 'COMMIT'] as const) {
        await client.query('BEGIN');
        assert.equal(await store.completeWithin(client, 'w1', a!, now), true); // locks job a until the end
        const started = performance.now();
        const renewed = await store.renew('w1', [a!, b!], 5_000, now + 500);
        assert.deepEqual(renewed, { lost: [], cancelRequested: [] }, 'the locked job is not lost');
        assert.equal((await store.get(b!))?.leaseExpiresAt, now + 5_500, 'the other job is renewed');
        assert.equal((await store.get(a!))?.leaseExpiresAt, now + 1_000, 'the locked one is left as it was');
        assert.equal(await store.recoverExpired(now + 2_000), 0, 'the expired but locked job is skipped');
        assert.ok(performance.now() - started < 1_000, 'nothing waited for the open transaction');
        await client.query(ending);
      }
      assert.equal((await store.get(a!))?.state, 'completed');
      assert.equal(await store.recoverExpired(now + 2_000), 0);
    } finally {
      client.release();
    }
  });

  it('a NOTIFY at commit wakes the inserting store itself (its own in-process wake would come too early)', async () => {
    const store = stores.fresh();
    await store.migrate();
    let wakes = 0;
    const off = store.onWake(() => wakes++);
    try {
      await waitUntil(() => store.notificationState === 'listening', 'the LISTEN connection');
      await waitUntil(() => wakes >= 1, 'the wake-up after connecting');
      wakes = 0;
      const client = await store.pool.connect();
      try {
        await client.query('BEGIN');
        await store.insert([job()], { tx: client });
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(wakes, 0, 'no wake-up before the commit');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      await waitUntil(() => wakes === 1, 'the wake-up of the commit', 2_000);
    } finally {
      off();
    }
  });

  it('refuses a tx it cannot write through, naming what to pass', async () => {
    const store = stores.fresh();
    await store.migrate();
    const refused = async (tx: unknown, pattern: RegExp) => {
      await assert.rejects(store.insert([job()], { tx }), (error: unknown) => {
        assert.ok(error instanceof HostworkError);
        assert.equal(error.code, ErrorCodes.INVALID_OPTION);
        assert.match(error.message, pattern);
        return true;
      });
    };
    await refused(store.pool, /pg Pool/);
    await refused({}, /node-postgres client inside a transaction/);
    await refused('BEGIN', /a string/);
    await refused(null, /null/);
    await withPostgresJs(async (sql) => {
      await refused(sql, /sql\.begin/);
    });
    await assert.rejects(store.completeWithin({ nope: true }, 'w1', '1', 0), /tx/);
    assert.deepEqual(await store.counts(), [], 'nothing was written');
  });
});
