/**
 * The job list's bounded search for filters no index serves (name, time, queue, state): each page reads windows of
 * ids within a time budget and says how far it searched, and following `next` goes on to the oldest match. Real
 * stores with a table of some thousands of jobs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type JobStore, type NewJob, sqliteStore } from 'hostwork';
import { describeWhenAvailable } from '../../hostwork/test/support/services.ts';
import { databaseProblem, dropSchema, freshSchemaName } from '../../postgres/test/support/database.ts';
import { testStore } from '../../postgres/test/support/factory.ts';
import { createDashboard } from '../src/dashboard.ts';
import type { DashboardOptions } from '../src/dashboard-options.ts';

interface ListAnswer {
  jobs: { id: string; name: string }[];
  next: string | null;
  search?: { indexed: boolean; filters?: string[]; searchedTo?: string | null; hint?: string };
  payloadSearch?: unknown;
}

const JOBS = 12_000;

function newJob(name: string, queue: string): NewJob {
  return {
    name,
    queue,
    payload: '{}',
    priority: 0,
    runAt: 0,
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
  };
}

/** JOBS jobs: the oldest named `old.match` in queue `archive`, the others `email.send` over two queues. */
async function seed(store: JobStore): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i += 1000) {
    const batch = Array.from({ length: 1000 }, (_, k) =>
      i + k === 0 ? newJob('old.match', 'archive') : newJob('email.send', (i + k) % 2 === 0 ? 'a' : 'b'),
    );
    ids.push(...(await store.insert(batch)).map((r) => r.id));
  }
  return ids;
}

function api(store: JobStore, extra: Partial<DashboardOptions> = {}) {
  const handler = createDashboard({ store, auth: { kind: 'none', loopbackOnly: true }, ...extra });
  return async (path: string): Promise<ListAnswer> => {
    const response = await handler(new Request(`http://dashboard${path}`), { remoteAddress: '127.0.0.1' });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as ListAnswer;
  };
}

function cases(create: () => Promise<JobStore>): void {
  let store: JobStore;
  let ids: string[];
  before(async () => {
    store = await create();
    ids = await seed(store);
  });

  it('a name no recent job has: the page stops after the window, says how far it searched, and "next" goes on to the old match', async () => {
    const get = api(store, { scanWindow: 1000, scanMs: 0 });
    const first = await get('/api/jobs?name=old.match');
    assert.deepEqual(first.jobs, []);
    assert.deepEqual(first.search?.filters, ['name']);
    assert.equal(first.search?.indexed, false);
    assert.equal(first.search?.searchedTo, ids[JOBS - 1000], 'one window of 1000 ids searched');
    assert.equal(first.next, first.search?.searchedTo);
    assert.equal(first.payloadSearch, undefined, 'the former payload-only answer only with a payload filter');
    let page = first;
    let pages = 1;
    while (page.jobs.length === 0 && page.next !== null) {
      page = await get(`/api/jobs?name=old.match&before=${page.next}`);
      pages++;
    }
    assert.deepEqual(
      page.jobs.map((j) => j.id),
      [ids[0]],
    );
    assert.equal(page.next, null);
    assert.equal(page.search?.searchedTo, null, 'the last page reached the oldest job');
    assert.equal(pages, JOBS / 1000);
  });

  it('within the default budget a page searches many windows, and stops before walking the whole table when the budget is short', async () => {
    const wide = await api(store, { scanWindow: 500, scanMs: 60_000 })('/api/jobs?name=old.match');
    assert.deepEqual(
      wide.jobs.map((j) => j.id),
      [ids[0]],
    );
    assert.equal(wide.search?.searchedTo, null);
    // A budget too short for a second window: one window only, however large the table.
    const started = performance.now();
    const short = await api(store, { scanWindow: 500, scanMs: 0 })('/api/jobs?name=missing&queue=a');
    const elapsed = performance.now() - started;
    assert.deepEqual(short.jobs, []);
    assert.deepEqual(short.search?.filters, ['queue', 'name']);
    assert.equal(short.search?.searchedTo, ids[JOBS - 500]);
    assert.ok(elapsed < 5000, `one window took ${elapsed} ms`);
  });

  it('a filter matching recent jobs fills the page in the first window, paged as usual', async () => {
    const get = api(store, { scanWindow: 1000, scanMs: 0 });
    const first = await get('/api/jobs?queue=a&limit=10');
    assert.equal(first.jobs.length, 10);
    assert.equal(first.search?.searchedTo, null, 'a full page');
    assert.equal(first.next, first.jobs[9]!.id);
    const second = await get(`/api/jobs?queue=a&limit=10&before=${first.next}`);
    assert.equal(second.jobs.length, 10);
    assert.ok(second.jobs.every((j) => BigInt(j.id) < BigInt(first.next!)));
  });

  it('state, the creation time and state with queue are bounded the same way', async () => {
    const get = api(store, { scanWindow: 1000, scanMs: 0 });
    const dead = await get('/api/jobs?state=dead');
    assert.deepEqual(dead.jobs, []);
    assert.deepEqual(dead.search?.filters, ['state']);
    assert.equal(dead.search?.searchedTo, ids[JOBS - 1000]);
    const both = await get('/api/jobs?state=pending&queue=archive');
    assert.deepEqual(both.search?.filters, ['queue', 'state']);
    assert.equal(both.search?.searchedTo, ids[JOBS - 1000]);
    const future = await get(`/api/jobs?from=${Date.now() + 86_400_000}`);
    assert.deepEqual(future.search?.filters, ['from']);
    assert.equal(future.search?.searchedTo, ids[JOBS - 1000]);
    assert.match(future.search?.hint ?? '', /No index serves these filters/);
  });

  it('the unfiltered list answers directly, without a search note', async () => {
    const page = await api(store, { scanWindow: 1, scanMs: 0 })('/api/jobs?limit=5');
    assert.equal(page.jobs.length, 5);
    assert.equal(page.search, undefined);
    assert.equal(page.next, ids[JOBS - 5]);
  });
}

describe('the bounded job-list search, on SQLite', () => {
  let store: JobStore | undefined;
  after(async () => {
    await store?.close();
  });
  cases(async () => {
    store = sqliteStore({ path: ':memory:' });
    await store.migrate();
    return store;
  });
});

describeWhenAvailable(
  'the bounded job-list search, on PostgreSQL',
  await databaseProblem(),
  () => {
    const schema = freshSchemaName();
    let store: JobStore | undefined;
    after(async () => {
      await store?.close();
      await dropSchema(schema);
    });
    cases(async () => {
      store = testStore(schema);
      await store.migrate();
      return store;
    });
  },
  'run PostgreSQL (set DATABASE_URL), as .ci/run does',
);
