/**
 * The schema: concurrent migrations, the script a DBA applies by hand, migrate: false, a newer schema, and the
 * catalogue (index comments, the claim plan).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCodes, HostworkError } from 'hostwork';
import pg from 'pg';
import { MIGRATIONS, migrationSql, SCHEMA_VERSION } from '../src/migrations.ts';
import { buildStatements } from '../src/statements.ts';
import { adminPool, DATABASE_URL, describeWithDatabase } from './support/database.ts';
import { job, useSchemas } from './support/stores.ts';

/** A parameter value as an SQL literal (EXPLAIN EXECUTE takes no bind parameters). */
function literal(client: pg.PoolClient, value: unknown): string {
  if (value === null) return 'NULL';
  if (Array.isArray(value)) {
    return client.escapeLiteral(
      `{${value.map((v) => (v === null ? 'NULL' : JSON.stringify(String(v)))).join(',')}}`,
    );
  }
  return typeof value === 'string' ? client.escapeLiteral(value) : String(value);
}

async function versions(schema: string): Promise<number[]> {
  const { rows } = await adminPool().query<{ version: number }>(
    `SELECT version FROM "${schema}".migrations ORDER BY version`,
  );
  return rows.map((r) => r.version);
}

/** Every version this code applies, in order. */
const ALL_VERSIONS = MIGRATIONS.map((m) => m.version);

function isStoreOpenError(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof HostworkError, `a HostworkError, got ${String(error)}`);
    assert.equal(error.code, ErrorCodes.STORE_OPEN);
    assert.match(error.message, pattern);
    return true;
  };
}

await describeWithDatabase('schema and migrations (PostgreSQL)', () => {
  const stores = useSchemas();

  it('4 stores migrating a fresh schema at once: all succeed, each version applied once', async () => {
    const schema = stores.schema();
    const racing = [1, 2, 3, 4].map(() => stores.at(schema));
    await Promise.all(racing.map((s) => s.migrate()));
    assert.deepEqual(await versions(schema), ALL_VERSIONS);
    const [r] = await racing[2]!.insert([job({ payload: '{"from":2}' })]);
    for (const s of racing) assert.deepEqual((await s.get(r!.id))?.payload, { from: 2 });
  });

  it('migrationSql applies cleanly as one simple query, and again as a no-op', async () => {
    const schema = stores.schema();
    const script = migrationSql(schema);
    const client = new pg.Client({ connectionString: DATABASE_URL });
    client.on('notice', () => {}); // "already exists, skipping" on the second run
    await client.connect();
    try {
      await client.query(script);
      await client.query(script);
    } finally {
      await client.end();
    }
    assert.deepEqual(await versions(schema), ALL_VERSIONS);
    // A store that may not migrate accepts the schema the script made, and works on it.
    const store = stores.at(schema, { migrate: false });
    await store.migrate();
    const [r] = await store.insert([job()]);
    assert.equal(r?.outcome, 'inserted');
  });

  it('upgrades a schema left at version 1 in place: rows kept, each later version applied once', async () => {
    const schema = stores.schema();
    // The script as the first release wrote it: version 1 only.
    const v1 = migrationSql(schema).replace(/\n-- Version [2-9]\d*:[\s\S]*?\$migration\$;\n/g, '');
    assert.doesNotMatch(v1, /Version 2:/);
    await adminPool().query(v1);
    assert.deepEqual(await versions(schema), [1]);
    const old = stores.at(schema, { migrate: false });
    await assert.rejects(old.migrate(), isStoreOpenError(/at version 1, this Hostwork needs/));
    await adminPool().query(
      `INSERT INTO "${schema}".jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('kept', 'default', '{}', 'pending', 0, 0, 3, 1000, 0)`,
    );
    const store = stores.at(schema);
    await store.migrate();
    assert.deepEqual(await versions(schema), ALL_VERSIONS);
    const { rows } = await adminPool().query<{ reloptions: string[] | null }>(
      `SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = 'jobs'`,
      [schema],
    );
    assert.deepEqual(rows[0]?.reloptions, ['fillfactor=50']);
    const claimed = await store.claim({
      queue: 'default',
      limit: 10,
      owner: 'w',
      leaseMs: 1000,
      now: Date.now(),
    });
    assert.deepEqual(
      claimed.jobs.map((j) => j.name),
      ['kept'],
    );
    // Version 3: the workers table.
    await store.announceWorker('w', ['default', 'emails'], 1_000, 1);
    assert.deepEqual((await store.liveQueues(2)).sort(), ['default', 'emails']);
  });

  it('upgrades a schema left at version 2 in place: rows kept, completions then store results', async () => {
    const schema = stores.schema();
    const v2 = migrationSql(schema).replace(/\n-- Version (?:[3-9]|\d{2,}):[\s\S]*?\$migration\$;\n/g, '');
    assert.match(v2, /Version 2:/);
    assert.doesNotMatch(v2, /Version 3:/);
    await adminPool().query(v2);
    assert.deepEqual(await versions(schema), [1, 2]);
    await adminPool().query(
      `INSERT INTO "${schema}".jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('kept', 'default', '{"v":2}', 'pending', 0, 0, 3, 1000, 0)`,
    );
    const store = stores.at(schema);
    await store.migrate();
    assert.deepEqual(await versions(schema), ALL_VERSIONS);
    const [kept] = await store.list({ limit: 10 });
    assert.equal(kept?.name, 'kept');
    assert.deepEqual(kept?.payload, { v: 2 });
    assert.equal(kept?.result, null);
    const claimed = await store.claim({
      queue: 'default',
      limit: 1,
      owner: 'w',
      leaseMs: 60_000,
      now: Date.now(),
    });
    assert.equal(claimed.jobs[0]?.id, kept?.id);
    await store.settle('w', [{ id: kept!.id, kind: 'completed', result: '{"done":true}' }], Date.now());
    assert.deepEqual((await store.get(kept!.id))?.result, { done: true });
  });

  it('upgrades a schema left at version 4 in place: rows kept, the outbox added and usable', async () => {
    const schema = stores.schema();
    const v4 = migrationSql(schema).replace(/\n-- Version (?:[5-9]|\d{2,}):[\s\S]*?\$migration\$;\n/g, '');
    assert.match(v4, /Version 4:/);
    assert.doesNotMatch(v4, /Version 5:/);
    await adminPool().query(v4);
    assert.deepEqual(await versions(schema), [1, 2, 3, 4]);
    await adminPool().query(
      `INSERT INTO "${schema}".jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('kept', 'default', '{"v":4}', 'pending', 0, 0, 3, 1000, 0)`,
    );
    const store = stores.at(schema);
    await store.migrate();
    assert.deepEqual(await versions(schema), ALL_VERSIONS);
    const [kept] = await store.list({ limit: 10 });
    assert.deepEqual(kept?.payload, { v: 4 });
    const body = new TextEncoder().encode('{"a":1}');
    await store.appendOutbox([
      {
        id: 'm1',
        transport: 'memory',
        destination: '{"name":"q"}',
        key: 'k',
        headers: '{}',
        body,
        delayMs: 0,
        createdAt: 1,
      },
    ]);
    const [claimed] = await store.claimOutbox(10, 'relay', 1_000, 2);
    assert.equal(claimed?.id, 'm1');
    assert.deepEqual([...claimed!.body], [...body]);
  });

  it('upgrades a schema left at version 5 in place: rows kept (no metadata), new jobs carry theirs to the claim', async () => {
    const schema = stores.schema();
    const v5 = migrationSql(schema).replace(/\n-- Version (?:[6-9]|\d{2,}):[\s\S]*?\$migration\$;\n/g, '');
    assert.match(v5, /Version 5:/);
    assert.doesNotMatch(v5, /Version 6:/);
    await adminPool().query(v5);
    assert.deepEqual(await versions(schema), [1, 2, 3, 4, 5]);
    await adminPool().query(
      `INSERT INTO "${schema}".jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('kept', 'default', '{"v":5}', 'pending', 0, 0, 3, 1000, 0)`,
    );
    const store = stores.at(schema);
    await store.migrate();
    assert.deepEqual(await versions(schema), ALL_VERSIONS);
    const metadata = '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}';
    await store.insert([job({ name: 'new', runAt: 1, metadata })]);
    const { jobs } = await store.claim({ queue: 'default', limit: 10, owner: 'w', leaseMs: 60_000, now: 2 });
    assert.deepEqual(
      jobs.map((j) => [j.name, j.metadata]),
      [
        ['kept', null],
        ['new', metadata],
      ],
    );
  });

  it('the script names only its own schema, with a lock key of its own', async () => {
    const a = migrationSql('alpha');
    assert.match(a, /^-- Hostwork job store: schema "alpha", version \d+\./);
    assert.match(a, /pg_advisory_xact_lock\(-?\d+\)/);
    assert.doesNotMatch(a, /\{schema\}|"hostwork"\./);
    assert.notEqual(
      a.match(/pg_advisory_xact_lock\((-?\d+)\)/)![1],
      migrationSql('beta').match(/lock\((-?\d+)\)/)![1],
    );
    assert.throws(() => migrationSql('bad-name'), /schema must be/);
  });

  it('migrate: false refuses a schema that is missing or behind, naming the fix', async () => {
    const store = stores.fresh({ migrate: false });
    await assert.rejects(
      store.migrate(),
      isStoreOpenError(/migrate: false.*hostwork migrate --database-url <url> --schema/),
    );
    await assert.rejects(store.insert([job()]), isStoreOpenError(/version 0/));
  });

  it('refuses a schema migrated by a newer Hostwork, and the script refuses it too', async () => {
    const store = stores.fresh();
    await store.migrate();
    await adminPool().query(
      `INSERT INTO "${store.schema}".migrations (version) VALUES (${SCHEMA_VERSION + 1})`,
    );
    const later = stores.peer(store);
    await assert.rejects(later.migrate(), isStoreOpenError(/newer Hostwork/));
    const client = await adminPool().connect();
    try {
      await assert.rejects(client.query(migrationSql(store.schema)), /migrated by a newer Hostwork/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('every index names its hot path in a comment', async () => {
    const store = stores.fresh();
    await store.migrate();
    const { rows } = await adminPool().query<{ index: string; comment: string | null }>(
      `SELECT c.relname AS index, obj_description(c.oid, 'pg_class') AS comment
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname LIKE 'jobs%'
       ORDER BY c.relname`,
      [store.schema],
    );
    assert.deepEqual(
      rows.map((r) => r.index),
      ['jobs_claim', 'jobs_dead', 'jobs_lease', 'jobs_pkey', 'jobs_prune', 'jobs_states', 'jobs_unique_key'],
    );
    for (const r of rows) assert.ok(r.comment && r.comment.length > 10, `${r.index} has a comment`);
  });

  it('a claim walks the claim index, even with a large history of finished jobs', async () => {
    const store = stores.fresh();
    await store.migrate();
    const s = `"${store.schema}"`;
    await adminPool().query(
      `INSERT INTO ${s}.jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at, finished_at)
       SELECT 'old', 'default', '{}', 'completed', 0, 0, 1, 0, 0, g FROM generate_series(1, 20000) g`,
    );
    await store.insert(Array.from({ length: 50 }, () => job()));
    await adminPool().query(`ANALYZE ${s}.jobs`);
    const { rows } = await adminPool().query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM ${s}.jobs
       WHERE state = 'pending' AND queue = 'default' AND run_at <= 1
       ORDER BY priority DESC, run_at, id LIMIT 100 FOR UPDATE SKIP LOCKED`,
    );
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(plan, /Index Scan using jobs_claim/, plan);
    assert.doesNotMatch(plan, /Sort|Seq Scan/, plan);
  });

  it('the batch statements (insert, claim, settle, complete, remove, renew) reach their rows by index, never by a scan of jobs', async () => {
    const store = stores.fresh();
    await store.migrate();
    const s = `"${store.schema}"`;
    // A backlog and a history, as a busy queue has them: the planner once hashed the whole table for each claim.
    await adminPool().query(
      `INSERT INTO ${s}.jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at, finished_at)
       SELECT 'j', 'default', '{}', CASE WHEN g <= 20000 THEN 'completed' ELSE 'pending' END, 0, g, 1, 0, 0,
              CASE WHEN g <= 20000 THEN g END
       FROM generate_series(1, 40000) g`,
    );
    await adminPool().query(`ANALYZE ${s}.jobs`);
    const ids = Array.from({ length: 500 }, (_, i) => String(20001 + i));
    const statements = buildStatements(store.schema);
    const cases: [string, string, unknown[]][] = [
      ['claim', statements.claimJobs.text, ['default', Date.now(), 500, 'w', Date.now()]],
      [
        'settle',
        statements.settleJobs.text,
        [
          'w',
          ids,
          ids.map(() => 'completed'),
          ids.map(() => null),
          ids.map(() => null),
          1,
          'c',
          'p',
          false,
          ids,
          ids.map(() => '{"r":1}'),
        ],
      ],
      ['complete', statements.completeJobs.text, ['w', ids, 1]],
      [
        'complete (results)',
        statements.completeJobsWithResults.text,
        ['w', ids, 1, ids.map(() => '{"r":1}')],
      ],
      ['complete (removed)', statements.removeCompletedJobs.text, ['w', ids]],
      ['renew', statements.renewLeases.text, [ids, 'w', 1]],
    ];
    for (const keyed of [false, true]) {
      const n = (v: unknown) => ids.map(() => v);
      const keys = keyed ? ids.map((id) => `key-${id}`) : n(null);
      cases.push([
        keyed ? 'insert (unique keys)' : 'insert',
        statements.insertJobs.text,
        [
          n('j'),
          n('default'),
          n('{}'),
          n(0),
          n(1),
          n(1),
          n(0),
          keys,
          n(null),
          1,
          'c',
          'p',
          n(null),
          n(null),
          n(null),
        ],
      ]);
    }
    cases.push([
      'insert (one job)',
      statements.insertJob.text,
      ['j', 'default', '{}', 0, 1, 1, 0, null, 1, 'c', 'p', null, null, null],
    ]);
    const client = await adminPool().connect();
    try {
      for (const [name, text, values] of cases) {
        // A prepared statement starts on custom plans and may settle on the generic one: both must hold.
        await client.query(`PREPARE plan_probe AS ${text}`);
        try {
          const literals = values.map((v) => literal(client, v)).join(', ');
          for (const mode of ['force_custom_plan', 'force_generic_plan']) {
            await client.query(`SET plan_cache_mode = ${mode}`);
            // Run for real (then rolled back): only the nodes a batch executes count, not a branch it skips.
            await client.query('BEGIN');
            const { rows } = await client.query<{ 'QUERY PLAN': string }>(
              `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE plan_probe(${literals})`,
            );
            await client.query('ROLLBACK');
            const plan = rows.map((r) => r['QUERY PLAN']);
            const scans = plan.filter(
              (line) => /Seq Scan on jobs/.test(line) && !/never executed/.test(line),
            );
            assert.deepEqual(scans, [], `${name} (${mode}):\n${plan.join('\n')}`);
          }
        } finally {
          await client.query('RESET plan_cache_mode');
          await client.query('DEALLOCATE plan_probe');
        }
      }
    } finally {
      client.release();
    }
  });
});
