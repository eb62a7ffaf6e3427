/**
 * A window of the job list (`after` and `before`, the dashboard's bounded search) is a bound of the walk at both
 * ends: the store plans it with its values. Planned once for any values (a generic plan), `$11 IS NULL OR j.id > $11`
 * would only filter, and a window with a filter matching nothing would walk on to the oldest job.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { buildStatements } from '../src/statements.ts';
import { adminPool, describeWithDatabase } from './support/database.ts';
import { job, useSchemas } from './support/stores.ts';

await describeWithDatabase('PostgreSQL list window', () => {
  const stores = useSchemas();

  /** The parameters of LIST_JOBS for `name` in the window (after, before). */
  const windowParams = (name: string, after: string, before: string) => [
    before,
    null,
    null,
    name,
    51,
    null,
    null,
    null,
    null,
    null,
    after,
    null,
  ];

  it('a window is listed by a statement planned with its values, whose walk is bounded by both ids', async () => {
    const store = stores.fresh();
    await store.migrate();
    const ids = (await store.insert(Array.from({ length: 300 }, () => job({ name: 'email.send' })))).map(
      (r) => r.id,
    );
    const statements = buildStatements(store.schema);
    assert.equal(statements.listJobsPlanned.name, '', 'unnamed: planned at each run with its values');
    assert.deepEqual(
      await store.list({ limit: 51, name: 'missing', after: ids[100]!, before: ids[200]! }),
      [],
    );
    assert.equal(
      (await store.list({ limit: 51, name: 'email.send', after: ids[100]!, before: ids[103]! })).length,
      2,
    );
    const client = await adminPool().connect();
    try {
      // The walk the planner would take on a large table: the primary key, backwards.
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_bitmapscan = off');
      const params = windowParams('missing', ids[100]!, ids[200]!);
      const custom = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${statements.listJobsPlanned.text}`,
        params,
      );
      const plan = custom.rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /Index Cond: \(\(id < '?\d+'?(::bigint)?\) AND \(id > '?\d+'?(::bigint)?\)\)/, plan);
      // Why: the same statement planned for any values bounds the walk above only.
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE list_window AS ${statements.listJobs.text}`);
      const generic = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE list_window(${params.map((p) => (p === null ? 'NULL' : `'${p}'`)).join(', ')})`,
      );
      const genericPlan = generic.rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.doesNotMatch(genericPlan, /Index Cond: [^\n]*id > /, genericPlan);
    } finally {
      await client.query('DEALLOCATE ALL');
      await client.query('RESET ALL');
      client.release();
    }
  });
});
