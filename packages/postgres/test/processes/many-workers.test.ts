/**
 * Three real worker processes (fixtures/worker.ts: a host with addJobs and postgresStore) sharing one schema:
 * - 3,000 jobs run exactly once each, spread over the processes;
 * - a schedule ticking every second on all three enqueues exactly one job per tick;
 * - when the maintenance leader is killed (SIGKILL), another process takes the leadership over once its lease runs
 *   out, and recovers the jobs the dead leader was running.
 * Short leases (leaseMs 2,000, heartbeatMs 500, maintenanceIntervalMs 250) keep it quick.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PostgresStore } from '../../src/postgres-store.ts';
import { adminPool, describeWithDatabase, dropSchema, freshSchemaName } from '../support/database.ts';
import { testStore } from '../support/factory.ts';
import { job } from '../support/stores.ts';
import {
  describeAll,
  killWorkersAfterEach,
  sideTablesSql,
  startWorkers,
  type WorkerProcess,
  waitUntil,
} from './worker-process.ts';

const LEADS = 'This worker now leads maintenance';

await describeWithDatabase('many worker processes on one schema (PostgreSQL)', () => {
  killWorkersAfterEach();
  let schema: string | undefined;
  let store: PostgresStore | undefined;

  /** A fresh, migrated schema with the fixture's side tables, and a store on it for the test itself. */
  async function prepare(): Promise<{ schema: string; store: PostgresStore }> {
    schema = freshSchemaName();
    store = testStore(schema, { poolSize: 2 });
    await store.migrate();
    await adminPool().query(sideTablesSql(schema));
    return { schema, store };
  }

  afterEach(async () => {
    await store?.close();
    if (schema !== undefined) await dropSchema(schema);
    store = undefined;
    schema = undefined;
  });

  /** Stops running workers gracefully (SIGTERM) and checks each exited cleanly. */
  async function stopAll(workers: readonly WorkerProcess[]): Promise<void> {
    const exits = await Promise.all(workers.map((w) => w.stop()));
    for (const [i, exit] of exits.entries()) {
      const w = workers[i]!;
      assert.deepEqual(exit, { code: 0, signal: null }, `worker ${w.pid} exited cleanly\n${w.describe()}`);
      assert.equal(w.logs('Job worker stopped').length, 1, w.describe());
    }
  }

  it('3,000 jobs on three processes: each runs exactly once, and the work is shared', {
    timeout: 120_000,
  }, async () => {
    const { schema, store } = await prepare();
    const workers = await startWorkers(3, schema);
    const pids = workers.map((w) => w.pid);
    const began = performance.now();
    const total = 3_000;
    const inserted = await store.insert(
      Array.from({ length: total }, (_, i) => job({ name: 'pg.record', payload: JSON.stringify({ i }) })),
    );
    assert.equal(inserted.filter((r) => r.outcome === 'inserted').length, total);
    await waitUntil(
      async () => {
        const counts = await store.counts();
        return counts.length === 1 && counts[0]!.state === 'completed' && counts[0]!.count === total;
      },
      async () => `every job to complete: ${JSON.stringify(await store.counts())}\n${describeAll(workers)}`,
      60_000,
      100,
    );
    const tookMs = Math.round(performance.now() - began);
    await stopAll(workers);

    const q = `"${schema}"`;
    const db = adminPool();
    const twice = await db.query(
      `SELECT job_id, attempt, count(*)::int AS runs FROM ${q}.runs GROUP BY job_id, attempt HAVING count(*) > 1`,
    );
    assert.deepEqual(twice.rows, [], 'no (job, attempt) ran twice');
    const missing = await db.query(
      `SELECT id FROM ${q}.jobs AS j WHERE NOT EXISTS (SELECT FROM ${q}.runs AS r WHERE r.job_id = j.id)`,
    );
    assert.deepEqual(missing.rows, [], 'every job ran');
    const summary = await db.query<{ runs: number; jobs: number; max_attempt: number }>(
      `SELECT count(*)::int AS runs, count(DISTINCT job_id)::int AS jobs, max(attempt) AS max_attempt FROM ${q}.runs`,
    );
    assert.deepEqual(
      summary.rows[0],
      { runs: total, jobs: total, max_attempt: 1 },
      'one run per job, attempt 1',
    );
    const states = await db.query(
      `SELECT state, attempt, jsonb_array_length(errors) AS errors, count(*)::int AS jobs
       FROM ${q}.jobs GROUP BY 1, 2, 3`,
    );
    assert.deepEqual(states.rows, [{ state: 'completed', attempt: 1, errors: 0, jobs: total }]);

    const byPid = await db.query<{ pid: number; runs: number }>(
      `SELECT pid, count(*)::int AS runs FROM ${q}.runs GROUP BY pid ORDER BY pid`,
    );
    const share = Object.fromEntries(byPid.rows.map((r) => [r.pid, r.runs]));
    assert.ok(byPid.rows.length >= 2, `at least two processes did work: ${JSON.stringify(share)}`);
    for (const r of byPid.rows) assert.ok(pids.includes(r.pid), `runs by a worker of this test: ${r.pid}`);
    for (const w of workers) {
      assert.deepEqual(
        w.problems().filter((l) => (l.level ?? 0) >= 50),
        [],
        `worker ${w.pid} logged no error\n${w.describe()}`,
      );
    }
    process.stdout.write(`# 3,000 jobs in ${tookMs} ms; runs per process: ${JSON.stringify(share)}\n`);
  });

  it('a schedule ticking every second on three processes enqueues exactly one job per tick', {
    timeout: 60_000,
  }, async () => {
    const { schema, store } = await prepare();
    const workers = await startWorkers(3, schema, { HW_SCHEDULE: '1' });
    await sleep(4_200);
    // Stop the schedule, then let its last jobs finish.
    assert.equal(await store.setSchedulePaused('every-second', true), true);
    const q = `"${schema}"`;
    const db = adminPool();
    await waitUntil(
      async () => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS open FROM ${q}.jobs WHERE state IN ('pending', 'running')`,
        );
        return rows[0].open === 0;
      },
      () => `the tick jobs to finish\n${describeAll(workers)}`,
      10_000,
      50,
    );
    await stopAll(workers);

    const { rows: jobs } = await db.query<{
      id: string;
      unique_key: string;
      state: string;
      attempt: number;
      created_at: number;
    }>(
      `SELECT id::text, unique_key, state, attempt, created_at FROM ${q}.jobs WHERE name = 'pg.tick' ORDER BY unique_key`,
    );
    const keys = jobs.map((j) => j.unique_key);
    assert.equal(new Set(keys).size, keys.length, `one job per tick: ${keys.join(', ')}`);
    const ticks = keys.map((k) => {
      const match = /^schedule:every-second:(\d+)$/.exec(k);
      assert.ok(match, `the key names the schedule and its tick: ${k}`);
      return Number(match[1]);
    });
    ticks.sort((a, b) => a - b);
    assert.ok(ticks.length >= 3 && ticks.length <= 6, `about 4 ticks in ~4 s: ${ticks.length}`);
    for (const t of ticks) assert.equal(t % 1_000, 0, `ticks fall on whole seconds: ${t}`);
    const createdAt = new Map(jobs.map((j) => [Number(j.unique_key.split(':')[2]), Number(j.created_at)]));
    for (let i = 1; i < ticks.length; i++) {
      const gap = ticks[i]! - ticks[i - 1]!;
      if (gap === 1_000) continue;
      // A gap is only allowed as the documented misfire: the leader fired the earlier tick more than a second late
      // (a stalled machine), and `runOnce` enqueues one job for the ticks it missed.
      const late = createdAt.get(ticks[i - 1]!)! - ticks[i - 1]!;
      assert.ok(
        late >= 1_000,
        `no tick missed: ${ticks.join(', ')} (the tick before the gap fired ${late} ms late)`,
      );
    }
    assert.deepEqual(
      jobs.filter((j) => j.state !== 'completed' || j.attempt !== 1),
      [],
      'every tick job completed at its first attempt',
    );
    const runs = await db.query(
      `SELECT job_id, count(*)::int AS n FROM ${q}.runs GROUP BY job_id HAVING count(*) <> 1`,
    );
    assert.deepEqual(runs.rows, [], 'each tick job ran once');
    const { rows: ran } = await db.query(`SELECT count(*)::int AS n FROM ${q}.runs`);
    assert.equal(ran[0].n, jobs.length);
    // Every tick a process reports having won produced exactly one job; no process believed it won a tick twice.
    const announced = workers.flatMap((w) => w.logs("Schedule 'every-second' enqueued its tick"));
    assert.equal(announced.length, jobs.length, describeAll(workers));
    assert.equal(new Set(announced.map((l) => l.tick)).size, announced.length);
  });

  it('a killed maintenance leader is replaced within its leadership lease, and its running jobs are recovered', {
    timeout: 90_000,
  }, async () => {
    const { schema, store } = await prepare();
    const q = `"${schema}"`;
    const db = adminPool();
    // Concurrency 2 and six held jobs: each process holds exactly two (a full process claims nothing more).
    const workers = await startWorkers(3, schema, { HW_CONCURRENCY: '2' });
    const leaderOf = async (): Promise<string | undefined> => {
      const { rows } = await db.query<{ owner: string }>(
        `SELECT owner FROM ${q}.leader WHERE expires_at > $1`,
        [Date.now()],
      );
      return rows[0]?.owner;
    };
    const owner = await waitUntil(leaderOf, 'a maintenance leader', 10_000);
    const leader = workers.find((w) => owner.includes(`:${w.pid}:`));
    assert.ok(leader, `the leader ${owner} is one of the workers ${workers.map((w) => w.pid).join(', ')}`);
    assert.equal(leader.logs(LEADS).length, 1, `the leader logged it\n${leader.describe()}`);
    const survivors = workers.filter((w) => w !== leader);

    const ids = (
      await store.insert(Array.from({ length: 6 }, () => job({ name: 'pg.hold', payload: '{}' })))
    ).map((r) => r.id);
    await waitUntil(
      () => workers.every((w) => w.events('hold-started').length === 2),
      () => `each worker to hold two jobs\n${describeAll(workers)}`,
      15_000,
    );
    const leaderJobs = leader.events('hold-started').map((l) => l.id!);
    const { rows: running } = await db.query<{ id: string; lease_owner: string }>(
      `SELECT id::text, lease_owner FROM ${q}.jobs WHERE state = 'running' AND id = ANY($1::bigint[])`,
      [leaderJobs],
    );
    assert.equal(running.length, 2);
    assert.ok(running.every((r) => r.lease_owner === owner));
    assert.equal(await leaderOf(), owner, 'still the leader');

    const killedAt = Date.now();
    leader.kill();
    assert.equal((await leader.exited).signal, 'SIGKILL');
    // Let every held job finish: the survivors' at once, the dead leader's once recovered and claimed again.
    await db.query(`INSERT INTO ${q}.release VALUES (1)`);

    const takeover = await waitUntil(
      () => survivors.flatMap((w) => w.logs(LEADS)).find((l) => l.time >= killedAt),
      () => `a survivor to take the leadership over\n${describeAll(survivors)}`,
      12_000,
    );
    const takeoverMs = takeover.time - killedAt;
    assert.ok(takeoverMs <= 10_000, `taken over within 10 s (took ${takeoverMs} ms)`);
    // The dead leader's lease on the leadership (max(5 s, 3 x 250 ms)) had to run out first.
    assert.ok(takeoverMs >= 3_000, `not before the dead leader's lease ran out (took ${takeoverMs} ms)`);
    const newLeader = survivors.find((w) => w.pid === takeover.pid)!;
    assert.ok((await leaderOf())?.includes(`:${newLeader.pid}:`), 'the leader table names the new leader');

    const done = await waitUntil(
      async () => {
        const { rows } = await db.query<{ id: string; state: string; attempt: number; errors: unknown[] }>(
          `SELECT id::text, state, attempt, errors FROM ${q}.jobs WHERE id = ANY($1::bigint[]) ORDER BY id`,
          [ids],
        );
        return rows.every((r) => r.state === 'completed') ? rows : undefined;
      },
      () => `the held jobs to complete\n${describeAll(survivors)}`,
      20_000,
      100,
    );
    const recoveredAt = Date.now();
    for (const j of done) {
      if (leaderJobs.includes(j.id)) {
        assert.equal(j.attempt, 2, `job ${j.id} of the dead leader ran again`);
        assert.equal(j.errors.length, 1);
        const [error] = j.errors as Array<{ attempt: number; kind: string; message: string }>;
        assert.equal(error!.kind, 'lease-expired');
        assert.equal(error!.attempt, 1);
        assert.match(error!.message, new RegExp(`:${leader.pid}:`));
      } else {
        assert.equal(j.attempt, 1, `job ${j.id} of a survivor completed at once`);
        assert.deepEqual(j.errors, []);
      }
    }
    const { rows: runs } = await db.query<{ job_id: string; attempt: number; pid: number }>(
      `SELECT job_id::text, attempt, pid FROM ${q}.runs WHERE job_id = ANY($1::bigint[]) ORDER BY job_id, attempt`,
      [leaderJobs],
    );
    assert.equal(runs.length, 4, JSON.stringify(runs));
    for (const id of leaderJobs) {
      const [first, second] = runs.filter((r) => r.job_id === id);
      assert.deepEqual([first!.attempt, first!.pid], [1, leader.pid]);
      assert.equal(second!.attempt, 2);
      assert.ok(
        survivors.some((w) => w.pid === second!.pid),
        'the second attempt ran on a survivor',
      );
    }
    const recovered = newLeader
      .logs('whose worker stopped renewing its lease')
      .reduce((n, l) => n + Number(l.recovered), 0);
    assert.equal(recovered, 2, `the new leader recovered both jobs\n${newLeader.describe()}`);
    await stopAll(survivors);
    process.stdout.write(
      `# leadership taken over ${takeoverMs} ms after the kill; jobs recovered and completed ${recoveredAt - killedAt} ms after it\n`,
    );
  });
});
