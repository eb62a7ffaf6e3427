/**
 * The counts per queue and state on a table with a history (what the dashboard's queues and `hostwork queues` show):
 * exact whatever the state of the visibility map, read from the claim and states indexes only, by one process (the
 * script keeps the plan serial even where the server would run it in parallel); the throughput's dead jobs from their
 * own index; and a schema at version 7 upgraded to the smaller index.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobCount } from 'hostwork';
import type pg from 'pg';
import { migrationSql } from '../src/migrations.ts';
import { buildStatements } from '../src/statements.ts';
import { adminPool, describeWithDatabase } from './support/database.ts';
import { useSchemas } from './support/stores.ts';

const STATES = ['pending', 'running', 'completed', 'dead', 'cancelled'] as const;

/** Inserts n jobs over 3 queues, job i in state STATES[i % 5] weighted to a history: most completed. */
async function seed(schema: string, n: number): Promise<void> {
  await adminPool().query(
    `INSERT INTO "${schema}".jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at,
                                   finished_at, lease_owner, lease_expires_at)
     SELECT 'j', 'q' || (g % 3), '{}', s, 0, g, 3, 0, g,
            CASE WHEN s IN ('completed', 'dead', 'cancelled') THEN g END,
            CASE WHEN s = 'running' THEN 'w' END, CASE WHEN s = 'running' THEN g + 60000 END
     FROM (SELECT g, CASE WHEN g % 20 < 15 THEN 'completed' WHEN g % 20 < 17 THEN 'pending' WHEN g % 20 = 17
                          THEN 'running' WHEN g % 20 = 18 THEN 'dead' ELSE 'cancelled' END AS s
           FROM generate_series(1, $1::int) g) AS t`,
    [n],
  );
}

/**
 * Vacuums the jobs table until every page is all-visible, as autovacuum leaves a table at rest. A vacuum cannot mark a
 * page whose rows a transaction open elsewhere on the server may still not see, so it is tried again for a while.
 */
async function vacuumAllVisible(schema: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await adminPool().query(`VACUUM ANALYZE "${schema}".jobs`);
    const { rows } = await adminPool().query<{ pages: number; visible: number }>(
      `SELECT relpages AS pages, relallvisible AS visible FROM pg_class WHERE oid = $1::regclass`,
      [`"${schema}".jobs`],
    );
    if (rows[0]!.visible >= rows[0]!.pages) return;
    assert.ok(
      attempt < 50,
      `jobs stays ${rows[0]!.visible} of ${rows[0]!.pages} pages all-visible after vacuums`,
    );
    await sleep(200);
  }
}

/** The counts from the heap, by a sequential scan: the truth the store's answer must equal. */
async function truth(schema: string): Promise<JobCount[]> {
  const client = await adminPool().connect();
  try {
    await client.query('BEGIN');
    await client.query(
      'SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off',
    );
    const { rows } = await client.query<{ queue: string; state: JobCount['state']; count: string }>(
      `SELECT queue, state, count(*) AS count FROM "${schema}".jobs GROUP BY queue, state ORDER BY queue, state`,
    );
    await client.query('COMMIT');
    return rows.map((r) => ({ queue: r.queue, state: r.state, count: Number(r.count) }));
  } finally {
    client.release();
  }
}

/** The plan of the store's counts script as it runs, on a session where a parallel plan costs nothing. */
async function countsPlan(text: string): Promise<string> {
  const client = await adminPool().connect();
  try {
    await client.query(
      'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_index_scan_size = 0; SET min_parallel_table_scan_size = 0',
    );
    // The script, with its query explained: the SET LOCAL before it applies as it does for the store.
    const explained = text.replace(/;\s*SELECT/, '; EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT');
    assert.notEqual(explained, text, 'the counts are a script whose last statement is the SELECT');
    const results = (await client.query(explained)) as unknown as pg.QueryResult<{ 'QUERY PLAN': string }>[];
    return results
      .at(-1)!
      .rows.map((r) => r['QUERY PLAN'])
      .join('\n');
  } finally {
    await client.query('RESET ALL');
    client.release();
  }
}

await describeWithDatabase('counts on a large table (PostgreSQL)', () => {
  const stores = useSchemas();

  it('are exact after a vacuum and after changes since, read the claim and states indexes only, in one process', async () => {
    const store = stores.fresh();
    await store.migrate();
    const s = `"${store.schema}"`;
    await seed(store.schema, 30_000);
    await vacuumAllVisible(store.schema);
    assert.deepEqual(await store.counts(), await truth(store.schema));

    const { countJobs } = buildStatements(store.schema);
    const plan = await countsPlan(countJobs.text);
    assert.match(plan, /Index Only Scan using jobs_claim/, plan);
    assert.match(plan, /Index Only Scan using jobs_states/, plan);
    assert.doesNotMatch(plan, /Seq Scan|Gather|Parallel/, plan);
    for (const fetches of plan.matchAll(/Heap Fetches: (\d+)/g)) assert.equal(fetches[1], '0', plan);
    // The control: the same query without the script's SET LOCAL goes parallel on this session.
    const parallel = await countsPlan(
      countJobs.text.replace(/SET LOCAL max_parallel_workers_per_gather = 0;/, 'SELECT 1;'),
    );
    assert.match(parallel, /Gather/, parallel);

    // Changes since the vacuum: the pages they touched are no longer all-visible, so the scan checks those rows in
    // the table; the answer stays exact, including an open transaction's changes left out.
    await adminPool().query(
      `UPDATE ${s}.jobs SET state = 'completed', finished_at = 1, lease_owner = NULL, lease_expires_at = NULL
       WHERE state = 'running' AND id % 7 = 0`,
    );
    await adminPool().query(
      `UPDATE ${s}.jobs SET state = 'pending', finished_at = NULL WHERE state = 'dead' AND id < 5000`,
    );
    await adminPool().query(`DELETE FROM ${s}.jobs WHERE state = 'completed' AND id % 11 = 0`);
    await adminPool().query(
      `INSERT INTO ${s}.jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       SELECT 'j', 'new', '{}', 'pending', 0, 0, 1, 0, 0 FROM generate_series(1, 10)`,
    );
    const open = await adminPool().connect();
    try {
      await open.query('BEGIN');
      await open.query(
        `UPDATE ${s}.jobs SET state = 'cancelled', finished_at = 1 WHERE state = 'pending' AND queue = 'q1'`,
      );
      const counts = await store.counts();
      assert.deepEqual(counts, await truth(store.schema));
      assert.deepEqual(
        counts.filter((c) => c.queue === 'new'),
        [{ queue: 'new', state: 'pending', count: 10 }],
      );
      await open.query('COMMIT');
    } finally {
      open.release();
    }
    const after = await store.counts();
    assert.deepEqual(after, await truth(store.schema));
    assert.ok(
      !after.some((c) => c.queue === 'q1' && c.state === 'pending'),
      'the committed change is counted',
    );
    for (const c of after) assert.ok(STATES.includes(c.state));
  });

  it('throughput reads the completed jobs on the prune index and the dead ones on the dead index', async () => {
    const store = stores.fresh();
    await store.migrate();
    await seed(store.schema, 30_000);
    await vacuumAllVisible(store.schema);
    const { throughput } = buildStatements(store.schema);
    const client = await adminPool().connect();
    try {
      await client.query(`PREPARE throughput_probe AS ${throughput.text}`);
      for (const mode of ['force_custom_plan', 'force_generic_plan']) {
        await client.query(`SET plan_cache_mode = ${mode}`);
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(
          'EXPLAIN (COSTS OFF) EXECUTE throughput_probe(29000, 60000)',
        );
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        assert.match(plan, /jobs_prune/, `${mode}:\n${plan}`);
        assert.match(plan, /jobs_dead/, `${mode}:\n${plan}`);
        assert.doesNotMatch(plan, /Seq Scan/, `${mode}:\n${plan}`);
      }
    } finally {
      await client.query('RESET plan_cache_mode');
      await client.query('DEALLOCATE throughput_probe');
      client.release();
    }
    const buckets = await store.throughput(29_000, 1_000);
    const total = buckets.reduce((sum, b) => sum + b.completed + b.dead, 0);
    // Jobs 29000..30000: 1,001 of them, 15 in 20 completed and 1 in 20 dead.
    const { rows } = await adminPool().query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${store.schema}".jobs WHERE state IN ('completed', 'dead') AND finished_at >= 29000`,
    );
    assert.equal(total, rows[0]!.n);
  });

  it('upgrades a schema at version 7: jobs_counts replaced by jobs_states and jobs_dead, counts unchanged', async () => {
    const schema = stores.schema();
    const v7 = migrationSql(schema).replace(/\n-- Version (?:[8-9]|\d{2,}):[\s\S]*?\$migration\$;\n/g, '');
    assert.match(v7, /Version 7:/);
    assert.doesNotMatch(v7, /Version 8:/);
    await adminPool().query(v7);
    await seed(schema, 2_000);
    const before = await truth(schema);
    const store = stores.at(schema);
    await store.migrate();
    const { rows } = await adminPool().query<{ index: string }>(
      `SELECT c.relname AS index FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname IN ('jobs_counts', 'jobs_states', 'jobs_dead')
       ORDER BY 1`,
      [schema],
    );
    assert.deepEqual(
      rows.map((r) => r.index),
      ['jobs_dead', 'jobs_states'],
    );
    assert.deepEqual(await store.counts(), before);
  });
});
