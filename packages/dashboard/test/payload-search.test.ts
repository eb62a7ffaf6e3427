/**
 * The payload search of the job list: without an index it reads windows of ids within a time budget and says how far
 * it searched, so every page is bounded; with PostgreSQL's payload index it answers from the index. Real stores.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type JobStore, type NewJob, sqliteStore } from 'hostwork';
import { describeWhenAvailable } from '../../hostwork/test/support/services.ts';
import { databaseProblem, dropSchema, freshSchemaName } from '../../postgres/test/support/database.ts';
import { testStore } from '../../postgres/test/support/factory.ts';
import { createDashboard } from '../src/dashboard.ts';
import type { DashboardOptions } from '../src/dashboard-options.ts';

interface ListAnswer {
  jobs: { id: string }[];
  next: string | null;
  search?: { indexed: boolean; filters?: string[]; searchedTo?: string | null; hint?: string };
  /** The former name of `search`, still answered with a payload filter. */
  payloadSearch?: { indexed: boolean; searchedTo?: string | null; hint?: string };
}

function newJob(payload: unknown): NewJob {
  return {
    name: 'order.ship',
    queue: 'default',
    payload: JSON.stringify(payload),
    priority: 0,
    runAt: 0,
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
  };
}

/** 100 jobs; customer 42 owns jobs 5, 50 and 95 (by position), customer 7 every other one. */
async function seedCustomers(store: JobStore): Promise<string[]> {
  const jobs = Array.from({ length: 100 }, (_, i) =>
    newJob({ customer: { id: i === 5 || i === 50 || i === 95 ? 42 : i % 2 === 0 ? 7 : 8 } }),
  );
  return (await store.insert(jobs)).map((r) => r.id);
}

function api(store: JobStore, extra: Partial<DashboardOptions> = {}) {
  const handler = createDashboard({ store, auth: { kind: 'none', loopbackOnly: true }, ...extra });
  return async (path: string): Promise<ListAnswer> => {
    const response = await handler(new Request(`http://dashboard${path}`), { remoteAddress: '127.0.0.1' });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as ListAnswer;
  };
}

/** Follows `next` from `path` to the end; returns every page. */
async function allPages(get: (path: string) => Promise<ListAnswer>, path: string): Promise<ListAnswer[]> {
  const pages: ListAnswer[] = [];
  let next: string | null = null;
  do {
    const page = await get(next === null ? path : `${path}&before=${next}`);
    pages.push(page);
    next = page.next;
  } while (next !== null && pages.length < 100);
  return pages;
}

function unindexedCases(create: () => Promise<JobStore>): void {
  it('without an index: one window per page when the budget is spent, each page saying how far it searched', async () => {
    const store = await create();
    const ids = await seedCustomers(store);
    const get = api(store, { scanWindow: 20, scanMs: 0 });
    const pages = await allPages(get, '/api/jobs?payload=customer.id%3D42');
    // 100 ids in windows of 20: five pages, newest first.
    assert.equal(pages.length, 5);
    assert.deepEqual(
      pages.flatMap((p) => p.jobs.map((j) => j.id)),
      [ids[95], ids[50], ids[5]],
    );
    for (const page of pages) {
      assert.equal(page.search?.indexed, false);
      assert.deepEqual(page.search?.filters, ['payload']);
      assert.match(page.search?.hint ?? '', /payload/);
      assert.deepEqual(
        page.payloadSearch,
        { indexed: false, searchedTo: page.search?.searchedTo, hint: page.search?.hint },
        'the former name answers the same',
      );
    }
    assert.deepEqual(
      pages.map((p) => p.search?.searchedTo),
      [ids[80], ids[60], ids[40], ids[20], null],
      'each page searched 20 ids; the last reached the oldest job',
    );
    assert.deepEqual(
      pages.map((p) => p.jobs.length),
      [1, 0, 1, 0, 1],
    );
  });

  it('without an index: within the budget, windows follow each other until the page is full', async () => {
    const store = await create();
    const ids = await seedCustomers(store);
    const get = api(store, { scanWindow: 7, scanMs: 60_000 });
    const all = await get('/api/jobs?payload=customer.id%3D42');
    assert.deepEqual(
      all.jobs.map((j) => j.id),
      [ids[95], ids[50], ids[5]],
    );
    assert.equal(all.next, null);
    assert.equal(all.search?.searchedTo, null, 'every job searched');
    const full = await get('/api/jobs?payload=customer.id%3D7&limit=10');
    assert.equal(full.jobs.length, 10);
    assert.equal(full.next, full.jobs[9]!.id, 'a full page pages on as usual');
    assert.equal(full.search?.searchedTo, null);
    const next = await get(`/api/jobs?payload=customer.id%3D7&limit=10&before=${full.next}`);
    assert.ok(next.jobs.every((j) => BigInt(j.id) < BigInt(full.next!)));
    assert.equal(next.jobs.length, 10);
    const scoped = await get('/api/jobs?payload=customer.id%3D42&state=completed');
    assert.deepEqual(scoped.jobs, [], 'the other filters apply too');
  });
}

describe('the payload search, on SQLite', () => {
  const stores: JobStore[] = [];
  after(async () => {
    for (const store of stores) await store.close();
  });
  unindexedCases(async () => {
    const store = sqliteStore({ path: ':memory:' });
    await store.migrate();
    stores.push(store);
    return store;
  });
});

describeWhenAvailable(
  'the payload search, on PostgreSQL',
  await databaseProblem(),
  () => {
    const schemas: string[] = [];
    const stores: JobStore[] = [];
    const create = async () => {
      const schema = freshSchemaName();
      const store = testStore(schema);
      await store.migrate();
      schemas.push(schema);
      stores.push(store);
      return store;
    };
    after(async () => {
      for (const store of stores) await store.close();
      for (const schema of schemas) await dropSchema(schema);
    });
    unindexedCases(create);

    it('with the payload index: one answer from the index, marked indexed, paged as usual', async () => {
      const store = await create();
      const ids = await seedCustomers(store);
      await (store as ReturnType<typeof testStore>).createPayloadIndex();
      // The options' former names still apply.
      const get = api(store, { payloadScanWindow: 20, payloadScanMs: 0 });
      const first = await get('/api/jobs?payload=customer.id%3D42&limit=2');
      assert.deepEqual(first.search, { indexed: true });
      assert.deepEqual(first.payloadSearch, { indexed: true });
      const withName = await get('/api/jobs?payload=customer.id%3D42&name=missing');
      assert.deepEqual(withName.search, { indexed: true }, 'the payload index bounds the other filters too');
      assert.deepEqual(
        first.jobs.map((j) => j.id),
        [ids[95], ids[50]],
      );
      const second = await get(`/api/jobs?payload=customer.id%3D42&limit=2&before=${first.next}`);
      assert.deepEqual(
        second.jobs.map((j) => j.id),
        [ids[5]],
      );
      assert.equal(second.next, null);
    });
  },
  'run PostgreSQL (set DATABASE_URL), as .ci/run does',
);
