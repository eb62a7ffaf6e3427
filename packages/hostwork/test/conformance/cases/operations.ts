import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  claimIds,
  insertMany,
  insertOne,
  mustGet,
  newJob,
  newJobs,
  type StoreFactory,
  T0,
  UNKNOWN_ID,
  useStores,
} from '../harness.ts';

/**
 * What a dashboard needs beyond list/counts/purge: filters by payload field and creation time (list and purge), and
 * the optional runNow, listWorkers and throughput.
 */
export function operationCases(factory: StoreFactory): void {
  describe('operations (payload and time filters, run now, workers, throughput)', () => {
    const stores = useStores(factory);

    it('list and purge filter by a payload field compared as text, nested, in arrays, with other filters', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ payload: '{"customer":{"id":42,"tier":"gold"},"items":[{"sku":"A1"}],"vip":true}' }),
        newJob({ payload: '{"customer":{"id":"42","tier":"silver"},"vip":false}' }),
        newJob({ payload: '{"customer":{"id":7,"tier":"gold"},"ratio":1.5}' }),
        newJob({ payload: '{"customer":{"id":42,"tier":"gold"}}', queue: 'other' }),
        newJob({ payload: '[1,2]' }),
        newJob({ payload: '{"customer":null}' }),
        newJob({ payload: '{"customer.id":"dotted"}' }),
      ]);
      const found = async (path: string[], equals: string, queue?: string) =>
        (
          await store.list({
            limit: 50,
            payload: { path, equals },
            ...(queue === undefined ? {} : { queue }),
          })
        ).map((j) => j.id);
      assert.deepEqual(
        await found(['customer', 'id'], '42'),
        [ids[3], ids[1], ids[0]],
        'number and string alike',
      );
      assert.deepEqual(await found(['customer', 'id'], '42', 'default'), [ids[1], ids[0]], 'with a queue');
      assert.deepEqual(
        await found(['customer', 'tier'], 'gold'),
        [ids[3], ids[2], ids[0]],
        'a string, unquoted',
      );
      assert.deepEqual(await found(['vip'], 'true'), [ids[0]], 'a boolean as true/false');
      assert.deepEqual(await found(['vip'], 'false'), [ids[1]]);
      assert.deepEqual(await found(['ratio'], '1.5'), [ids[2]], 'a fraction as written');
      assert.deepEqual(
        await found(['items', '0', 'sku'], 'A1'),
        [ids[0]],
        'a digit segment indexes an array',
      );
      assert.deepEqual(await found(['customer'], 'null'), [], 'JSON null never matches');
      assert.deepEqual(await found(['customer.id'], 'dotted'), [ids[6]], 'a key with a dot is one key');
      assert.deepEqual(await found(['missing'], '42'), []);
      await assert.rejects(store.list({ limit: 5, payload: { path: [], equals: 'x' } }), /path must list/);
      await assert.rejects(store.list({ limit: 5, payload: { path: ['a"b'], equals: 'x' } }), /without/);

      assert.equal(
        await store.purge({ payload: { path: ['customer', 'tier'], equals: 'gold' }, queue: 'default' }),
        2,
      );
      assert.equal(await store.get(ids[0]!), undefined);
      assert.equal(await store.get(ids[2]!), undefined);
      assert.ok(await store.get(ids[3]!), 'the other queue kept');
      assert.ok(await store.get(ids[1]!), 'silver kept');
    });

    it('the payload filter tells numbers, strings and booleans apart only by their text, never matches a missing or null field', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ payload: '{"n":42}' }),
        newJob({ payload: '{"n":"42"}' }),
        newJob({ payload: '{"n":42.5}' }),
        newJob({ payload: '{"n":"042"}' }),
        newJob({ payload: '{"n":true}' }),
        newJob({ payload: '{"n":"true"}' }),
        newJob({ payload: '{"n":null}' }),
        newJob({ payload: '{"n":"null"}' }),
        newJob({ payload: '{"n":""}' }),
        newJob({ payload: '{"n":-7}' }),
        newJob({ payload: '{"m":42}' }),
      ]);
      const found = async (equals: string, path = ['n']) =>
        (await store.list({ limit: 50, payload: { path, equals } })).map((j) => j.id).sort(byNumber);
      assert.deepEqual(await found('42'), [ids[0], ids[1]], 'the number 42 and the string "42"');
      assert.deepEqual(await found('042'), [ids[3]], 'a string is compared as written, not as a number');
      assert.deepEqual(await found('42.5'), [ids[2]]);
      assert.deepEqual(await found('42.50'), [], 'a number matches as written (42.5), not by value');
      assert.deepEqual(await found('-7'), [ids[9]], 'a negative number');
      assert.deepEqual(await found('true'), [ids[4], ids[5]], 'the boolean and the string "true"');
      assert.deepEqual(await found('null'), [ids[7]], 'the string "null"; JSON null never matches');
      assert.deepEqual(await found(''), [ids[8]], 'the empty string');
      assert.deepEqual(await found('42', ['m']), [ids[10]]);
      assert.deepEqual(await found('42', ['x']), [], 'a missing field never matches');
    });

    it('the payload filter follows nested paths, and never an array by a key or a scalar by a path', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ payload: '{"a":{"b":{"c":{"d":"deep"}}}}' }),
        newJob({ payload: '{"a":{"b":"deep"}}' }),
        newJob({ payload: '{"a":[{"b":{"c":{"d":"deep"}}}]}' }),
        newJob({ payload: '{"a":{"b":[{"c":{"d":"deep"}}]}}' }),
        newJob({ payload: '{"a":{"b":{"c":{"d":["deep"]}}}}' }),
        newJob({ payload: '{"tags":["x","y"]}' }),
        newJob({ payload: '[{"sku":"A1"},{"sku":"B2"}]' }),
      ]);
      const found = async (path: string[], equals: string) =>
        (await store.list({ limit: 50, payload: { path, equals } })).map((j) => j.id).sort(byNumber);
      assert.deepEqual(await found(['a', 'b', 'c', 'd'], 'deep'), [ids[0]], 'four levels down');
      assert.deepEqual(await found(['a', 'b', 'c', 'd', 'e'], 'deep'), [], 'past a string');
      assert.deepEqual(await found(['a', '0', 'b', 'c', 'd'], 'deep'), [ids[2]], 'through an array by index');
      assert.deepEqual(await found(['a', 'b', '0', 'c', 'd'], 'deep'), [ids[3]]);
      assert.deepEqual(await found(['a', 'b', 'c', 'd', '0'], 'deep'), [ids[4]]);
      assert.deepEqual(await found(['tags', '1'], 'y'), [ids[5]], 'an element of an array');
      assert.deepEqual(await found(['tags', '0'], 'y'), [], 'the element at that index only');
      assert.deepEqual(await found(['tags'], 'x'), [], 'an array never equals one of its elements');
      assert.deepEqual(await found(['1', 'sku'], 'B2'), [ids[6]], 'a payload that is an array');
      assert.deepEqual(await found(['a', 'b', 'c'], 'deep'), [], 'an object never equals a string');
    });

    it('the payload filter takes any key and value as data: quotes, SQL, backslashes, Unicode', async () => {
      const store = await stores.fresh();
      const hostile = [
        "it's",
        "'; DROP TABLE jobs; --",
        'a\\b',
        '$.x',
        'a]b[0]',
        'ключ',
        'with space',
        'a}b{',
      ];
      const ids = await insertMany(
        store,
        hostile.map((text) => newJob({ payload: JSON.stringify({ [text]: text, v: `"${text}"` }) })),
      );
      for (const [i, text] of hostile.entries()) {
        const byKey = await store.list({ limit: 50, payload: { path: [text], equals: text } });
        assert.deepEqual(
          byKey.map((j) => j.id),
          [ids[i]],
          `the key and value ${JSON.stringify(text)}`,
        );
        const byQuoted = await store.list({ limit: 50, payload: { path: ['v'], equals: `"${text}"` } });
        assert.deepEqual(
          byQuoted.map((j) => j.id),
          [ids[i]],
          `a value in double quotes, ${JSON.stringify(text)}`,
        );
      }
      assert.deepEqual(
        await store.list({ limit: 50, payload: { path: ['v'], equals: "' OR '1'='1" } }),
        [],
        'an injection attempt is a value that matches nothing',
      );
      assert.equal((await store.list({ limit: 50 })).length, hostile.length, 'every job still there');
      assert.equal(
        await store.purge({ payload: { path: [hostile[1]!], equals: hostile[1]! } }),
        1,
        'purge by the same filter',
      );
    });

    it('a payload jsonb cannot hold (NUL, a lone surrogate) never breaks a payload filter', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [
        newJob({ payload: JSON.stringify({ k: 'a', s: 'x\u0000y' }) }),
        newJob({ payload: JSON.stringify({ k: 'a', s: '\ud800' }) }),
        newJob({ payload: JSON.stringify({ k: 'a', s: 'fine' }) }),
      ]);
      const found = await store.list({ limit: 50, payload: { path: ['s'], equals: 'fine' } });
      assert.deepEqual(
        found.map((j) => j.id),
        [ids[2]],
      );
      const k = await store.list({ limit: 50, payload: { path: ['k'], equals: 'a' } });
      assert.ok(
        k.some((j) => j.id === ids[2]),
        'the other payloads are searched',
      );
      // A value with NUL: SQLite compares the text and finds the job; PostgreSQL cannot read that payload as jsonb
      // and skips it (packages/postgres/test/payload-search.test.ts). Either way, no error.
      const nul = await store.list({ limit: 50, payload: { path: ['s'], equals: 'x\u0000y' } });
      assert.ok(nul.length <= 1 && nul.every((j) => j.id === ids[0]));
    });

    it('list takes a window of ids: after and before, both excluded', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, newJobs(6));
      const window = await store.list({ limit: 50, after: ids[1]!, before: ids[4]! });
      assert.deepEqual(
        window.map((j) => j.id),
        [ids[3], ids[2]],
      );
      assert.deepEqual(
        (await store.list({ limit: 50, after: ids[3]! })).map((j) => j.id),
        [ids[5], ids[4]],
      );
      assert.deepEqual(
        (await store.list({ limit: 50, after: ids[1]!, payload: { path: ['i'], equals: '0' } })).map(
          (j) => j.id,
        ),
        [],
        'with a payload filter',
      );
      assert.deepEqual(
        (await store.list({ limit: 50, after: ids[1]!, payload: { path: ['i'], equals: '3' } })).map(
          (j) => j.id,
        ),
        [ids[3]],
      );
    });

    it('list and purge filter by ids', async () => {
      const store = await stores.fresh();
      const ids = await insertMany(store, [newJob(), newJob(), newJob({ queue: 'b' }), newJob()]);
      const listed = await store.list({ limit: 10, ids: [ids[0]!, ids[2]!, UNKNOWN_ID] });
      assert.deepEqual(
        listed.map((j) => j.id),
        [ids[2], ids[0]],
      );
      assert.deepEqual(
        (await store.list({ limit: 10, ids: [ids[0]!, ids[2]!], queue: 'b' })).map((j) => j.id),
        [ids[2]],
      );
      assert.deepEqual(await store.list({ limit: 10, ids: [] }), [], 'no ids, no jobs');
      await assert.rejects(store.list({ limit: 10, ids: ['x1'] }), /whole numbers/);
      assert.equal(await store.purge({ ids: [ids[1]!, ids[3]!] }), 2);
      assert.equal((await store.list({ limit: 10 })).length, 2);
    });

    it('list and purge filter by creation time: createdAfter inclusive, createdBefore exclusive', async () => {
      const store = await stores.fresh();
      const first = await insertOne(store);
      await sleep(5);
      const second = await insertOne(store);
      await sleep(5);
      const third = await insertOne(store);
      const at = (await mustGet(store, second)).createdAt;
      const firstAt = (await mustGet(store, first)).createdAt;
      const ids = async (filter: { createdAfter?: number; createdBefore?: number }) =>
        (await store.list({ limit: 10, ...filter })).map((j) => j.id);
      assert.deepEqual(await ids({ createdAfter: at }), [third, second]);
      assert.deepEqual(await ids({ createdBefore: at }), [first]);
      assert.deepEqual(await ids({ createdAfter: firstAt, createdBefore: at + 1 }), [second, first]);
      await assert.rejects(store.list({ limit: 10, createdAfter: Number.NaN }), /createdAfter/);
      assert.equal(await store.purge({ createdBefore: at }), 1);
      assert.equal(await store.get(first), undefined);
    });

    it('runNow makes a delayed pending job due; false for running, finished and unknown jobs', async (t) => {
      const store = await stores.fresh();
      if (!store.runNow) {
        t.skip('this store has no runNow');
        return;
      }
      const later = await insertOne(store, { runAt: T0 + 60_000 });
      const due = await insertOne(store, { runAt: T0 - 5 });
      assert.deepEqual(await claimIds(store, 5, { now: T0 }), [due], 'only the due job is claimed');
      assert.equal(await store.runNow(later, T0 + 10), true);
      assert.equal((await mustGet(store, later)).runAt, T0 + 10);
      assert.equal(await store.runNow(later, T0 + 20), true, 'already due: still pending');
      assert.equal((await mustGet(store, later)).runAt, T0 + 10, 'the run time of a due job is kept');
      assert.equal(await store.runNow(due, T0 + 10), false, 'running');
      assert.equal(await store.runNow(UNKNOWN_ID, T0), false);
      assert.deepEqual(await claimIds(store, 5, { now: T0 + 20 }), [later]);
      await store.settle('w1', [{ id: due, kind: 'completed' }], T0 + 30);
      assert.equal(await store.runNow(due, T0 + 40), false, 'completed');
      assert.equal((await mustGet(store, due)).state, 'completed');
    });

    it('listWorkers returns live announcements with their queues', async (t) => {
      const store = await stores.fresh();
      if (!store.listWorkers || !store.announceWorker) {
        t.skip('this store does not list workers');
        return;
      }
      await store.announceWorker('w-b', ['emails', 'reports'], 5_000, T0);
      await store.announceWorker('w-a', ['default'], 1_000, T0);
      assert.deepEqual(await store.listWorkers(T0 + 1), [
        { owner: 'w-a', queues: ['default'], expiresAt: T0 + 1_000 },
        { owner: 'w-b', queues: ['emails', 'reports'], expiresAt: T0 + 5_000 },
      ]);
      assert.deepEqual(
        (await store.listWorkers(T0 + 2_000)).map((w) => w.owner),
        ['w-b'],
        'w-a expired',
      );
    });

    it('throughput counts completed and dead jobs per bucket of finish time', async (t) => {
      const store = await stores.fresh();
      if (!store.throughput) {
        t.skip('this store has no throughput');
        return;
      }
      await insertMany(
        store,
        Array.from({ length: 5 }, () => newJob({ maxAttempts: 1 })),
      );
      const ids = await claimIds(store, 5, { now: T0 });
      const error = { attempt: 1, at: T0, message: 'x', kind: 'error' as const };
      await store.settle('w1', [{ id: ids[0]!, kind: 'completed' }], T0 + 1_000);
      await store.settle('w1', [{ id: ids[1]!, kind: 'completed' }], T0 + 59_000);
      await store.settle('w1', [{ id: ids[2]!, kind: 'dead', error }], T0 + 61_000);
      await store.settle('w1', [{ id: ids[3]!, kind: 'completed' }], T0 + 125_000);
      assert.deepEqual(await store.throughput(T0, 60_000), [
        { at: T0, completed: 2, dead: 0 },
        { at: T0 + 60_000, completed: 0, dead: 1 },
        { at: T0 + 120_000, completed: 1, dead: 0 },
      ]);
      assert.deepEqual(await store.throughput(T0 + 60_000, 60_000), [
        { at: T0 + 60_000, completed: 0, dead: 1 },
        { at: T0 + 120_000, completed: 1, dead: 0 },
      ]);
    });
  });
}

/** Job ids in ascending numeric order (ids are decimal strings). */
function byNumber(a: string | undefined, b: string | undefined): number {
  return Number(a) - Number(b);
}
