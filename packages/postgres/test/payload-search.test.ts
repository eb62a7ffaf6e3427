/**
 * The payload filter on PostgreSQL beyond the conformance suite: the same answers with and without the payload index,
 * the index actually serving the filter, numbers kept exact, digit segments read both ways, and payloads jsonb
 * cannot hold (which the index must not turn into failed enqueues).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import type { PayloadFilter } from 'hostwork';
import { payloadIndexSql } from '../src/payload-search.ts';
import type { PostgresStore } from '../src/postgres-store.ts';
import { buildStatements } from '../src/statements.ts';
import { adminPool, describeWithDatabase } from './support/database.ts';
import { job, useSchemas } from './support/stores.ts';

await describeWithDatabase('PostgreSQL payload filter and payload index', () => {
  const stores = useSchemas();

  const PAYLOADS = [
    { big: 'BIG' },
    { items: { '0': { sku: 'A1' } } },
    { items: [{ sku: 'A1' }] },
    { o: { a: 1, b: [true, null] } },
    { deep: [[[[{ x: 'y' }]]]] },
    { s: 'x\u0000y', k: 'bad' },
    { s: '\ud800', k: 'bad' },
    { s: 'ok', k: 'good', n: 1e21 },
  ];

  /** The payloads as the test writes them: a number beyond a JS number's precision, written as text. */
  const texts = PAYLOADS.map((p) => JSON.stringify(p).replace('"BIG"', '12345678901234567890'));

  const found = async (store: PostgresStore, path: string[], equals: string) =>
    (await store.list({ limit: 50, payload: { path, equals } }))
      .map((j) => j.id)
      .sort((a, b) => Number(a) - Number(b));

  for (const indexed of [false, true]) {
    it(`answers the same ${indexed ? 'with' : 'without'} the payload index`, async () => {
      const store = stores.fresh();
      await store.migrate();
      if (indexed) await store.createPayloadIndex();
      assert.equal(await store.payloadFilterIndexed(), indexed);
      // Enqueued after the index exists: the payloads jsonb refuses must still go in.
      const ids = (await store.insert(texts.map((payload) => job({ payload })))).map((r) => r.id);
      assert.equal(ids.length, texts.length);
      assert.deepEqual(
        await found(store, ['big'], '12345678901234567890'),
        [ids[0]],
        'a big integer, exactly',
      );
      assert.deepEqual(await found(store, ['big'], '12345678901234567891'), []);
      assert.deepEqual(
        await found(store, ['items', '0', 'sku'], 'A1'),
        [ids[1], ids[2]],
        'a digit segment: an object key or an array index',
      );
      assert.deepEqual(
        await found(store, ['o'], '{"a": 1, "b": [true, null]}'),
        [ids[3]],
        'an object as text',
      );
      assert.deepEqual(await found(store, ['o'], '{"a":1,"b":[true,null]}'), [], 'as PostgreSQL writes it');
      assert.deepEqual(
        await found(store, ['deep', '0', '0', '0', '0', 'x'], 'y'),
        [ids[4]],
        'more digit segments than the containment shapes',
      );
      assert.deepEqual(await found(store, ['k'], 'bad'), [], 'payloads jsonb cannot hold are never matched');
      assert.deepEqual(await found(store, ['s'], 'x\u0000y'), [], 'nor a value holding NUL');
      assert.deepEqual(await found(store, ['k'], 'good'), [ids[7]]);
      assert.deepEqual(
        await found(store, ['n'], '1000000000000000000000'),
        [ids[7]],
        'a number as jsonb writes it',
      );
      assert.equal(
        await store.purge({ payload: { path: ['items', '0', 'sku'], equals: 'A1' }, limit: 10 }),
        2,
        'purge filters the same way',
      );
      assert.equal((await store.list({ limit: 50 })).length, texts.length - 2);
    });
  }

  it('the index serves the filter (the planner may not read the table otherwise)', async () => {
    const store = stores.fresh();
    await store.migrate();
    await store.createPayloadIndex();
    await store.createPayloadIndex(); // again: nothing to do
    await store.insert(texts.map((payload) => job({ payload })));
    // Enough other jobs that reading them all costs more than the index, as on a real store.
    await store.insert(Array.from({ length: 3000 }, (_, i) => job({ payload: JSON.stringify({ i }) })));
    await adminPool().query(`ANALYZE "${store.schema}".jobs`);
    const plan = await explain(store, { path: ['items', '0', 'sku'], equals: 'A1' });
    assert.match(plan, /Bitmap Index Scan on jobs_payload/, plan);
    await store.dropPayloadIndex();
    assert.equal(await store.payloadFilterIndexed(), false);
    assert.doesNotMatch(await explain(store, { path: ['k'], equals: 'good' }), /jobs_payload/);
  });

  it('docs/dashboard.md shows the statement createPayloadIndex runs', () => {
    const docs = readFileSync(new URL('../../../docs/dashboard.md', import.meta.url), 'utf8');
    const shown = /```sql\n(CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_payload[^`]*)```/.exec(docs)?.[1];
    assert.ok(shown, 'the statement is in docs/dashboard.md');
    const normal = (sql: string) => sql.replace(/\s+/g, ' ').replace(/\( /g, '(').trim();
    assert.equal(normal(shown), normal(payloadIndexSql('hostwork')));
  });

  it('an invalid index left by an interrupted build is not reported, and is built again', async () => {
    const store = stores.fresh();
    await store.migrate();
    await store.createPayloadIndex();
    await adminPool().query(
      `UPDATE pg_index SET indisvalid = false WHERE indexrelid = '"${store.schema}".jobs_payload'::regclass`,
    );
    assert.equal(await store.payloadFilterIndexed(), false);
    await store.createPayloadIndex();
    assert.equal(await store.payloadFilterIndexed(), true);
  });

  /** The plan of the store's own list statement for `payload`, with the plain scans switched off. */
  async function explain(store: PostgresStore, payload: PayloadFilter): Promise<string> {
    const client = await adminPool().connect();
    try {
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_indexscan = off');
      const { listJobsPlanned } = buildStatements(store.schema);
      const { payloadContainments } = await import('../src/payload-search.ts');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${listJobsPlanned.text}`, [
        '9223372036854775807',
        null,
        null,
        null,
        51,
        null,
        null,
        payload.path,
        payload.equals,
        payloadContainments(payload),
        null,
        null,
      ]);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await client.query('RESET ALL');
      client.release();
    }
  }
});
