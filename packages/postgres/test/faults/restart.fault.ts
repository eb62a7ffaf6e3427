/**
 * Fault injection against a real PostgreSQL server. Not a `.test.ts` file on purpose: restarting the server breaks
 * every other test using it at the same time, so this runs alone, after the unit tests (`npm run test:faults`).
 *
 * - A restart of the server while two worker processes run a steady stream of 50–200 ms jobs: the workers log the
 *   lost connections, keep running (same pids), finish the handlers in flight and write their outcomes once the
 *   server is back; every job ends completed, none lost, none left running.
 * - An outage longer than the job leases (the server stopped for 4 s, leases of 2 s): jobs whose lease ran out
 *   meanwhile are recovered and run again; none is lost, none left running.
 * - The server stopped under a stream of 3 ms jobs: the worker holds back (starts no job) from its first failed
 *   write until a write succeeds, so at most concurrency + maxUnwrittenOutcomes handlers finish unwritten.
 * - Pool exhaustion: with poolSize 1 and a handler holding the only connection in an open transaction, the worker's
 *   own queries wait, and a warning says so while they wait instead of the worker going silent.
 *
 * The restart needs a local Debian-style cluster (`pg_ctlcluster`, run as root). Without one the test is skipped
 * with the reason, unless HOSTWORK_REQUIRE_SERVICES=1, which makes it fail. The server is up and accepting
 * connections again when the file ends, whatever happened.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addJobs, createHostBuilder, defineJob, JobClient, type Logger, LoggerFactory } from 'hostwork';
import { z } from 'zod';
import { postgresStore } from '../../src/postgres-store.ts';
import {
  describeAll,
  killWorkersAfterEach,
  type Line,
  sideTablesSql,
  startWorkers,
  waitUntil,
} from '../processes/worker-process.ts';
import {
  adminPool,
  DATABASE_URL,
  describeWithDatabase,
  dropSchema,
  freshSchemaName,
} from '../support/database.ts';
import { testStore } from '../support/factory.ts';
import { job } from '../support/stores.ts';

const REQUIRED = process.env.HOSTWORK_REQUIRE_SERVICES === '1';
const url = new URL(DATABASE_URL);
const host = url.hostname.replace(/^\[|\]$/g, '');
const port = url.port || '5432';

/** The local cluster `pg_ctlcluster` can restart, or why there is none. */
function findCluster(): { version: string } | { problem: string } {
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    return { problem: `DATABASE_URL points at ${host}, not a local server this test can restart` };
  }
  if (process.getuid?.() !== 0) return { problem: 'restarting the server with pg_ctlcluster needs root' };
  let versions: string[];
  try {
    versions = readdirSync('/etc/postgresql').sort();
  } catch {
    return { problem: 'no /etc/postgresql: not a Debian-style installation managed by pg_ctlcluster' };
  }
  const version = versions[0];
  if (version === undefined) return { problem: '/etc/postgresql holds no cluster' };
  const listed = spawnSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' });
  if (listed.error || listed.status !== 0) {
    return { problem: `pg_lsclusters is not available (${listed.error?.message ?? listed.stderr.trim()})` };
  }
  const cluster = listed.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(([v, name]) => v === version && name === 'main');
  if (!cluster) return { problem: `no cluster ${version}/main in pg_lsclusters` };
  if (cluster[2] !== port) {
    return { problem: `cluster ${version}/main listens on port ${cluster[2]}, DATABASE_URL on ${port}` };
  }
  return { version };
}

/** Runs a command without blocking the event loop (the workers' stdout must keep flowing). */
function run(command: string, args: readonly string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}`.trim() || (error?.message ?? '') });
    });
  });
}

/** Waits until the server accepts connections (pg_isready), starting the cluster if it is still down after 5 s. */
async function serverAccepting(version: string | undefined, timeoutMs = 60_000): Promise<boolean> {
  const began = performance.now();
  let started = false;
  while (performance.now() - began < timeoutMs) {
    if ((await run('pg_isready', ['-h', host, '-p', port, '-t', '1'])).ok) return true;
    if (!started && version !== undefined && performance.now() - began > 5_000) {
      started = true;
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
    }
    await sleep(100);
  }
  return false;
}

const found = findCluster();
const clusterVersion = 'version' in found ? found.version : undefined;

// Whatever happened, leave the server accepting connections for whatever runs next.
after(async () => {
  if (clusterVersion !== undefined) await serverAccepting(clusterVersion);
});

/** Skips the test with `reason`, or fails it under HOSTWORK_REQUIRE_SERVICES=1. */
function unavailable(t: TestContext, reason: string): void {
  if (REQUIRED)
    assert.fail(`${reason} (HOSTWORK_REQUIRE_SERVICES=1, so this fails instead of being skipped)`);
  process.stdout.write(`# skipped: ${reason}\n`);
  t.skip(reason);
}

await describeWithDatabase('PostgreSQL faults', () => {
  killWorkersAfterEach();
  const schemas: string[] = [];
  after(async () => {
    for (const schema of schemas) await dropSchema(schema).catch(() => {});
  });

  it('a server restart while two workers run: nothing lost, nothing stuck, in-flight outcomes written afterwards', {
    timeout: 180_000,
  }, async (t) => {
    if ('problem' in found) return unavailable(t, found.problem);
    const version = found.version;
    const schema = freshSchemaName();
    schemas.push(schema);
    const store = testStore(schema, { poolSize: 2 });
    try {
      await store.migrate();
      await adminPool().query(sideTablesSql(schema));
      // Leases (10 s) outlast the restart (about 2 s here): the workers' own jobs stay theirs meanwhile.
      const workers = await startWorkers(2, schema, {
        HW_CONCURRENCY: '5',
        HW_LEASE_MS: '10000',
        HW_HEARTBEAT_MS: '1000',
        HW_POLL_MS: '500',
      });
      const pids = workers.map((w) => w.pid);
      // A steady stream: 400 jobs of 50–200 ms due one every 25 ms over 10 s (about 40 a second; the two workers
      // can run about 80), stored before the restart so the test itself writes nothing while the server is down.
      const now = Date.now();
      const stream = Array.from({ length: 400 }, (_, i) =>
        job({
          name: 'pg.work',
          payload: JSON.stringify({ ms: 50 + Math.floor(Math.random() * 150) }),
          runAt: now + i * 25,
          maxAttempts: 5,
        }),
      );
      const total = stream.length + 50;
      await store.insert(stream);
      const started = () => workers.flatMap((w) => w.events('work-started'));
      await waitUntil(
        () => started().length >= 60,
        () => `the stream to flow\n${describeAll(workers)}`,
        20_000,
      );

      const restartBegan = Date.now();
      const restart = await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart']);
      const restartEnded = Date.now();
      assert.ok(await serverAccepting(version), 'the server accepts connections again after the restart');
      const serverUp = Date.now();
      if (!restart.ok) {
        await Promise.all(workers.map((w) => w.stop()));
        return unavailable(t, `pg_ctlcluster ${version} main restart failed: ${restart.output}`);
      }

      // New work after the restart is found too (wake-ups or polling).
      const more = Array.from({ length: 50 }, () =>
        job({ name: 'pg.work', payload: JSON.stringify({ ms: 50 }), maxAttempts: 5 }),
      );
      for (let attempt = 1; ; attempt++) {
        try {
          await store.insert(more);
          break;
        } catch (error) {
          // The test's own pool may still hold a connection the restart cut.
          if (attempt >= 3) throw error;
        }
      }

      const q = `"${schema}"`;
      const db = adminPool();
      const counts = async () =>
        (
          await db.query<{ state: string; n: number }>(
            `SELECT state, count(*)::int AS n FROM ${q}.jobs GROUP BY state ORDER BY state`,
          )
        ).rows;
      await waitUntil(
        async () => {
          const c = await counts();
          return c.length === 1 && c[0]!.state === 'completed' && c[0]!.n === total;
        },
        async () => `every job to complete: ${JSON.stringify(await counts())}\n${describeAll(workers)}`,
        60_000,
        200,
      );
      const drainedAt = Date.now();

      // The workers survived the restart: same processes, both still working afterwards.
      for (const w of workers) {
        assert.ok(w.alive, `worker ${w.pid} still runs\n${w.describe()}`);
        assert.ok(
          w.events('work-started').some((l) => l.time > serverUp),
          `worker ${w.pid} ran jobs after the restart\n${w.describe()}`,
        );
      }
      assert.deepEqual(
        workers.map((w) => w.pid),
        pids,
      );

      // Each logged the connection loss while the server was away.
      const during = (l: Line) => l.time >= restartBegan && l.time <= serverUp + 5_000;
      for (const w of workers) {
        assert.ok(
          w.logs('the LISTEN connection for wake-ups was lost').some(during),
          `worker ${w.pid} warned that its LISTEN connection was lost\n${w.describe(80)}`,
        );
        assert.ok(w.problems().some(during), `worker ${w.pid} logged the outage`);
      }
      // Handlers kept running through the outage; outcomes that could not be written were kept and written later.
      const retried = workers.flatMap((w) => w.logs('job outcome(s) failed; retrying in 500 ms'));
      assert.ok(
        retried.length > 0,
        `an outcome write failed during the outage and was retried\n${describeAll(workers)}`,
      );
      // The outage as the workers saw it: from their first trouble to their last failed query.
      const trouble = workers.flatMap((w) => w.problems()).filter((l) => l.time >= restartBegan);
      const downFrom = Math.min(...trouble.map((l) => l.time));
      const downUntil = Math.max(...trouble.filter((l) => (l.level ?? 0) >= 50).map((l) => l.time));
      const finishedDuring = new Map(
        workers
          .flatMap((w) => w.events('work-finished'))
          .filter((l) => l.time >= downFrom && l.time <= downUntil)
          .map((l) => [l.id!, l.attempt!]),
      );
      assert.ok(
        finishedDuring.size > 0,
        'some handler was still running when the server went away, and finished',
      );
      const { rows: jobs } = await db.query<{ id: string; attempt: number; errors: Array<{ kind: string }> }>(
        `SELECT id::text, attempt, errors FROM ${q}.jobs ORDER BY id`,
      );
      // At-least-once: a job may have run again only if a lease expired (a claim or an outcome lost in the outage).
      const again = jobs.filter((j) => j.attempt > 1);
      for (const j of again) {
        assert.ok(
          j.errors.some((e) => e.kind === 'lease-expired'),
          `job ${j.id} ran ${j.attempt} times only because a lease expired: ${JSON.stringify(j.errors)}`,
        );
      }
      // Those that finished while the server was away were recorded as completed at that attempt: the outcome kept
      // in memory was written once the server was back.
      const writtenLater = jobs.filter((j) => finishedDuring.get(j.id) === j.attempt);
      assert.ok(
        writtenLater.length > 0,
        `the outcome of a handler that finished during the outage was written afterwards (${finishedDuring.size} finished then)`,
      );
      const dropped = workers.flatMap((w) => w.logs('Could not write the outcome of job'));
      const exits = await Promise.all(workers.map((w) => w.stop()));
      assert.deepEqual(
        exits,
        workers.map(() => ({ code: 0, signal: null })),
      );
      process.stdout.write(
        `# restart took ${restartEnded - restartBegan} ms, accepting after ${serverUp - restartBegan} ms; ` +
          `queue drained ${drainedAt - serverUp} ms later; ${retried.length} outcome batch write(s) retried, ` +
          `${finishedDuring.size} handler(s) finished while it was away (${downUntil - downFrom} ms), ` +
          `${writtenLater.length} of their outcomes written afterwards, ${again.length} job(s) ran again after a ` +
          `lost lease, ${dropped.length} outcome(s) dropped\n`,
      );
    } finally {
      await store.close();
    }
  });

  it('an outage longer than the leases: jobs whose lease expired meanwhile run again, none is lost', {
    timeout: 180_000,
  }, async (t) => {
    if ('problem' in found) return unavailable(t, found.problem);
    const version = found.version;
    const schema = freshSchemaName();
    schemas.push(schema);
    const store = testStore(schema, { poolSize: 2 });
    try {
      await store.migrate();
      await adminPool().query(sideTablesSql(schema));
      // 2 s leases, a 4 s outage: the leases of the jobs in flight run out while the server is away.
      const workers = await startWorkers(2, schema, { HW_CONCURRENCY: '4', HW_POLL_MS: '500' });
      const total = 60;
      await store.insert(
        Array.from({ length: total }, () => job({ name: 'pg.work', payload: '{"ms":700}', maxAttempts: 5 })),
      );
      await waitUntil(
        () => workers.every((w) => w.events('work-started').length >= 4),
        () => `both workers to be busy\n${describeAll(workers)}`,
        20_000,
      );
      const stopped = await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop']);
      const stoppedAt = Date.now();
      if (!stopped.ok) {
        assert.ok(await serverAccepting(version));
        await Promise.all(workers.map((w) => w.stop()));
        return unavailable(t, `pg_ctlcluster ${version} main stop failed: ${stopped.output}`);
      }
      await sleep(4_000);
      const started = await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
      assert.ok(await serverAccepting(version), `the server accepts connections again (${started.output})`);
      const upAt = Date.now();

      const q = `"${schema}"`;
      const db = adminPool();
      const counts = async () =>
        (
          await db.query<{ state: string; n: number }>(
            `SELECT state, count(*)::int AS n FROM ${q}.jobs GROUP BY state ORDER BY state`,
          )
        ).rows;
      await waitUntil(
        async () => {
          const c = await counts().catch(() => []);
          return c.length === 1 && c[0]!.state === 'completed' && c[0]!.n === total;
        },
        async () => `every job to complete: ${JSON.stringify(await counts())}\n${describeAll(workers)}`,
        60_000,
        200,
      );
      for (const w of workers) assert.ok(w.alive, `worker ${w.pid} still runs\n${w.describe()}`);
      const { rows: jobs } = await db.query<{ id: string; attempt: number; errors: Array<{ kind: string }> }>(
        `SELECT id::text, attempt, errors FROM ${q}.jobs ORDER BY id`,
      );
      const again = jobs.filter((j) => j.attempt > 1);
      for (const j of again) {
        assert.ok(
          j.errors.some((e) => e.kind === 'lease-expired'),
          `job ${j.id} ran again only because its lease expired: ${JSON.stringify(j.errors)}`,
        );
      }
      const recovered = workers
        .flatMap((w) => w.logs('whose worker stopped renewing its lease'))
        .reduce((n, l) => n + Number(l.recovered), 0);
      const lost = workers.flatMap((w) => w.logs('Lost the lease of job')).length;
      const exits = await Promise.all(workers.map((w) => w.stop()));
      assert.deepEqual(
        exits,
        workers.map(() => ({ code: 0, signal: null })),
      );
      process.stdout.write(
        `# server down ${upAt - stoppedAt} ms with 2 s leases: ${recovered} job(s) recovered after the outage, ` +
          `${again.length} ran again, ${lost} running handler(s) aborted on a lost lease; all ${total} completed\n`,
      );
    } finally {
      await store.close();
    }
  });

  it('the server stopped under a stream of short jobs: the worker holds back, at most the bound finish unwritten', {
    timeout: 180_000,
  }, async (t) => {
    if ('problem' in found) return unavailable(t, found.problem);
    const version = found.version;
    const schema = freshSchemaName();
    schemas.push(schema);
    const store = testStore(schema, { poolSize: 2 });
    try {
      await store.migrate();
      await adminPool().query(sideTablesSql(schema));
      // 3 ms jobs: the worker prefetches hundreds; leases (30 s) outlast the outage, so no job is recovered.
      const concurrency = 4;
      const maxUnwritten = 40;
      const [worker] = await startWorkers(1, schema, {
        HW_CONCURRENCY: String(concurrency),
        HW_MAX_UNWRITTEN: String(maxUnwritten),
        HW_LEASE_MS: '30000',
        HW_HEARTBEAT_MS: '1000',
        HW_POLL_MS: '500',
      });
      const w = worker!;
      const total = 4_000;
      await store.insert(
        Array.from({ length: total }, () => job({ name: 'pg.work', payload: '{"ms":3}', maxAttempts: 5 })),
      );
      await waitUntil(
        () => w.events('work-finished').length >= 300,
        () => `the stream to flow\n${w.describe()}`,
        20_000,
      );
      const stoppedAt = Date.now();
      const stopped = await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop']);
      if (!stopped.ok) {
        assert.ok(await serverAccepting(version));
        await w.stop();
        return unavailable(t, `pg_ctlcluster ${version} main stop failed: ${stopped.output}`);
      }
      await sleep(3_000);
      const upFrom = Date.now();
      const started = await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
      assert.ok(await serverAccepting(version), `the server accepts connections again (${started.output})`);

      const held = w.logs('Holding back');
      assert.ok(held.length > 0, `the worker said it holds back\n${w.describe(60)}`);
      const heldAt = held[0]!.time;
      const startedWhileHeld = w.events('work-started').filter((l) => l.time > heldAt && l.time < upFrom);
      assert.equal(startedWhileHeld.length, 0, 'no job started while the worker held back');
      // The outage as the worker saw it: from its first failed query (until then outcomes were written).
      const downFrom = Math.min(
        ...w
          .problems()
          .filter((l) => l.time >= stoppedAt)
          .map((l) => l.time),
      );
      const finishedWhileDown = w
        .events('work-finished')
        .filter((l) => l.time >= downFrom && l.time < upFrom);
      assert.ok(
        finishedWhileDown.length <= concurrency + maxUnwritten,
        `${finishedWhileDown.length} jobs finished unwritten while the server was down (bound ${concurrency + maxUnwritten})`,
      );

      const q = `"${schema}"`;
      const db = adminPool();
      const counts = async () =>
        (
          await db.query<{ state: string; n: number }>(
            `SELECT state, count(*)::int AS n FROM ${q}.jobs GROUP BY state ORDER BY state`,
          )
        ).rows;
      await waitUntil(
        async () => {
          const c = await counts().catch(() => []);
          return c.length === 1 && c[0]!.state === 'completed' && c[0]!.n === total;
        },
        async () => `every job to complete: ${JSON.stringify(await counts())}\n${w.describe()}`,
        60_000,
        200,
      );
      assert.ok(w.logs('starting jobs again').length > 0, 'the worker said it starts jobs again');
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${q}.jobs WHERE attempt > 1`,
      );
      assert.equal(
        rows[0]!.n,
        0,
        'no job ran twice: the outcomes kept were written once the server was back',
      );
      assert.deepEqual(await w.stop(), { code: 0, signal: null });
      process.stdout.write(
        `# server down ${upFrom - stoppedAt} ms under 3 ms jobs: first failed query ${downFrom - stoppedAt} ms after the stop began, held back ${heldAt - downFrom} ms later, ` +
          `${finishedWhileDown.length} job(s) finished unwritten (bound ${concurrency + maxUnwritten}), all ${total} completed once\n`,
      );
    } finally {
      await store.close();
    }
  });

  it('pool exhaustion: a handler holding the only connection in a transaction is reported while it holds it', {
    timeout: 30_000,
  }, async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const lines: Array<{ level: number; msg: string; category?: string; time: number }> = [];
    let partial = '';
    const destination = new Writable({
      write(chunk, _encoding, done) {
        const parts = (partial + String(chunk)).split('\n');
        partial = parts.pop() ?? '';
        for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
        done();
      },
    });
    let log: Logger | undefined;
    const store = postgresStore({
      connectionString: DATABASE_URL,
      schema,
      poolSize: 1,
      slowQueryWarningMs: 300,
      onWarning: (message, error) => log?.warn({ err: error }, message),
    });
    await store.migrate();
    await adminPool().query(`CREATE TABLE "${schema}".effects (job_id bigint PRIMARY KEY)`);
    const holding = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const HoldTx = defineJob({
      name: 'pg.hold-tx',
      schema: z.object({}),
      maxAttempts: 1,
      async handle(_payload, ctx) {
        const client = await store.pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(`INSERT INTO "${schema}".effects (job_id) VALUES ($1)`, [ctx.id]);
          holding.resolve();
          await release.promise;
          await ctx.completeWithin(client);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        } finally {
          client.release();
        }
      },
    });
    const builder = createHostBuilder({
      env: {},
      args: [],
      logging: { destination, level: 'info', pretty: false },
    });
    addJobs(builder, {
      jobs: [HoldTx],
      store,
      worker: { leaseMs: 10_000, heartbeatMs: 200, pollIntervalMs: 100, maintenanceIntervalMs: 200 },
    });
    const app = builder.build();
    log = app.services.get(LoggerFactory).create('Hostwork.Postgres');
    await app.start();
    try {
      const jobs = app.services.get(JobClient);
      const { id } = await jobs.enqueue(HoldTx, {});
      await holding.promise;
      const heldSince = Date.now();
      // The worker's heartbeat, claims and maintenance now queue for the one connection the handler holds.
      const warning = await waitUntil(
        () => lines.find((l) => l.level === 40 && l.msg.includes('for a pool connection')),
        () => `a warning about the wait\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
        5_000,
      );
      assert.match(
        warning.msg,
        /: (renew|claim|acquireLeadership|settle|counts|get|prune|recoverExpired|announceWorker|liveQueues|tickSchedule) has waited \d+\.\d s for a pool connection \(1 of 1 open, 0 idle, \d+ waiting\)\. Raise poolSize, or look for work holding connections/,
      );
      assert.equal(warning.category, 'Hostwork.Postgres');
      assert.ok(warning.time - heldSince < 2_000, 'reported while the handler still holds the connection');
      release.resolve();
      const done = await waitUntil(
        async () => {
          const info = await jobs.get(id);
          return info?.state === 'completed' ? info : undefined;
        },
        'the job to complete once the handler commits',
        10_000,
      );
      assert.equal(done.attempt, 1);
      assert.deepEqual(done.errors, []);
      const { rows } = await adminPool().query(`SELECT job_id::text FROM "${schema}".effects`);
      assert.deepEqual(rows, [{ job_id: id }], "the handler's effect committed with the completion");
    } finally {
      release.resolve();
      await app.stop();
    }
  });
});
