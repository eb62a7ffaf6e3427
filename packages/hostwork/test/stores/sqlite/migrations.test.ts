import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from '../../../src/stores/sqlite/migrations.ts';
import { sqliteStore } from '../../../src/stores/sqlite/sqlite-store.ts';
import { newJob, useTemp } from './helpers.ts';

function header(path: string): { applicationId: number; version: number; journalMode: string } {
  const db = new DatabaseSync(path);
  try {
    return {
      applicationId: Number(db.prepare('PRAGMA application_id').get()?.application_id),
      version: Number(db.prepare('PRAGMA user_version').get()?.user_version),
      journalMode: String(db.prepare('PRAGMA journal_mode').get()?.journal_mode),
    };
  } finally {
    db.close();
  }
}

/** Starts `count` workers that each open `path` at the same instant; resolves with their reports. */
async function openAtOnce(path: string, count: number): Promise<{ ok: boolean; error?: string }[]> {
  const start = new SharedArrayBuffer(4);
  const workers = Array.from(
    { length: count },
    (_, index) =>
      new Worker(new URL('./fixtures/migrate-worker.ts', import.meta.url), {
        workerData: { path, start, index },
      }),
  );
  const reports = workers.map(
    (worker) =>
      new Promise<{ ok: boolean; error?: string }>((resolve, reject) => {
        worker.on('message', (message) => {
          if (message !== 'ready') resolve(message);
        });
        worker.on('error', reject);
      }),
  );
  await Promise.all(
    workers.map((worker) => new Promise<void>((resolve) => worker.once('message', () => resolve()))),
  );
  const flag = new Int32Array(start);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  try {
    return await Promise.all(reports);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

describe('sqlite store: migrations', () => {
  const temp = useTemp();

  it('numbers migrations 1, 2, 3, ... and the schema version is the last', () => {
    MIGRATIONS.forEach((migration, i) => {
      assert.equal(migration.version, i + 1);
    });
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  });

  it('marks the file as ours and records the schema version, in WAL mode', async () => {
    const path = join(temp.dir(), 'jobs.db');
    await temp.store({ path }).migrate();
    assert.deepEqual(header(path), {
      applicationId: APPLICATION_ID,
      version: SCHEMA_VERSION,
      journalMode: 'wal',
    });
  });

  it('is idempotent: migrating again, and reopening, keeps the data', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const store = sqliteStore({ path });
    await store.migrate();
    const [inserted] = await store.insert([newJob({ payload: '{"keep":true}' })]);
    await store.migrate();
    await store.close();

    const reopened = temp.store({ path });
    await reopened.migrate();
    await reopened.migrate();
    const info = await reopened.get(inserted!.id);
    assert.deepEqual(info?.payload, { keep: true });
    assert.equal(header(path).version, SCHEMA_VERSION);
  });

  it('is safe with several threads opening the same new file at the same instant', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const reports = await openAtOnce(path, 4);
    assert.deepEqual(reports, Array(4).fill({ ok: true }));
    const store = temp.store({ path });
    const counts = await store.counts();
    assert.deepEqual(counts, [{ queue: 'default', state: 'pending', count: 4 }]);
    assert.deepEqual(header(path), {
      applicationId: APPLICATION_ID,
      version: SCHEMA_VERSION,
      journalMode: 'wal',
    });
  });

  it('lets two stores in one process open the same new file', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const a = temp.store({ path });
    const b = temp.store({ path });
    await Promise.all([a.migrate(), b.migrate()]);
    await a.insert([newJob()]);
    assert.deepEqual(await b.counts(), [{ queue: 'default', state: 'pending', count: 1 }]);
  });

  it('upgrades a version 1 file in place: rows kept, the workers table added', async () => {
    const path = join(temp.dir(), 'jobs.db');
    // A file as the first release left it: migration 1 only.
    const old = new DatabaseSync(path);
    old.exec('PRAGMA journal_mode = WAL');
    old.exec(MIGRATIONS[0]!.sql);
    old.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    old.exec('PRAGMA user_version = 1');
    old.exec(
      `INSERT INTO hw_jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('kept', 'default', '{}', 'pending', 0, 0, 3, 0, 0)`,
    );
    old.close();
    const store = temp.store({ path });
    await store.migrate();
    assert.equal(header(path).version, SCHEMA_VERSION);
    const claimed = await store.claim({
      queue: 'default',
      limit: 5,
      owner: 'w',
      leaseMs: 1_000,
      now: Date.now(),
    });
    assert.deepEqual(
      claimed.jobs.map((j) => j.name),
      ['kept'],
    );
    await store.announceWorker!('w', ['default', 'emails'], 1_000, 1);
    assert.deepEqual((await store.liveQueues!(2)).sort(), ['default', 'emails']);
  });

  it('upgrades a version-1 file in place: its jobs are kept, and completions store results', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const db = new DatabaseSync(path);
    db.exec(MIGRATIONS[0]!.sql);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec('PRAGMA user_version = 1');
    db.prepare(
      `INSERT INTO hw_jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('old', 'default', '{"v":1}', 'pending', 0, 0, 3, 0, 0)`,
    ).run();
    db.close();

    const store = temp.store({ path });
    await store.migrate();
    assert.equal(header(path).version, SCHEMA_VERSION);
    const [old] = await store.list({ limit: 10 });
    assert.equal(old?.name, 'old');
    assert.deepEqual(old?.payload, { v: 1 });
    assert.equal(old?.result, null);
    const claimed = await store.claim({ queue: 'default', limit: 1, owner: 'w', leaseMs: 60_000, now: 1 });
    assert.equal(claimed.jobs[0]?.id, old?.id);
    await store.settle('w', [{ id: old!.id, kind: 'completed', result: '{"done":true}' }], 2);
    assert.deepEqual((await store.get(old!.id))?.result, { done: true });
  });
  it('upgrades a version-3 file in place: its jobs are kept, and the outbox is added and usable', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const db = new DatabaseSync(path);
    for (const migration of MIGRATIONS.filter((m) => m.version <= 3)) db.exec(migration.sql);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec('PRAGMA user_version = 3');
    db.prepare(
      `INSERT INTO hw_jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('old', 'default', '{"v":3}', 'pending', 0, 0, 3, 0, 0)`,
    ).run();
    db.close();

    const store = temp.store({ path });
    await store.migrate();
    assert.equal(header(path).version, SCHEMA_VERSION);
    assert.ok(SCHEMA_VERSION >= 4);
    const [old] = await store.list({ limit: 10 });
    assert.deepEqual(old?.payload, { v: 3 });
    await store.appendOutbox([
      {
        id: 'm1',
        transport: 'memory',
        destination: '{"name":"q"}',
        key: null,
        headers: '{}',
        body: new Uint8Array([1, 2]),
        delayMs: 0,
        createdAt: 1,
      },
    ]);
    const [claimed] = await store.claimOutbox(10, 'relay', 1_000, 2);
    assert.equal(claimed?.id, 'm1');
  });

  it('upgrades a version-4 file in place: its jobs are kept (no metadata), and new jobs carry theirs to the claim', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const db = new DatabaseSync(path);
    for (const migration of MIGRATIONS.filter((m) => m.version <= 4)) db.exec(migration.sql);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec('PRAGMA user_version = 4');
    db.prepare(
      `INSERT INTO hw_jobs (name, queue, payload, state, priority, run_at, max_attempts, timeout_ms, created_at)
       VALUES ('old', 'default', '{"v":4}', 'pending', 0, 0, 3, 0, 0)`,
    ).run();
    db.close();

    const store = temp.store({ path });
    await store.migrate();
    assert.equal(header(path).version, SCHEMA_VERSION);
    await store.insert([
      {
        name: 'new',
        queue: 'default',
        payload: '{}',
        priority: 0,
        runAt: 1,
        maxAttempts: 3,
        timeoutMs: 0,
        uniqueKey: null,
        backoff: null,
        metadata: '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
      },
    ]);
    const { jobs } = await store.claim({ queue: 'default', limit: 10, owner: 'w', leaseMs: 60_000, now: 2 });
    assert.deepEqual(
      jobs.map((j) => [j.name, j.metadata]),
      [
        ['old', null],
        ['new', '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'],
      ],
    );
  });
});
