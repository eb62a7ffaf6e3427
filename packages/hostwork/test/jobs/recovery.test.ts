import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import {
  aborted,
  type JobHost,
  jobHost,
  overrideStore,
  recordEvents,
  T,
  waitFor,
  waitForState,
  withHost,
} from './helpers.ts';

// Crash recovery and shutdown: a killed worker loses nothing, a stopping worker hands its jobs back.

describe('graceful shutdown', () => {
  it('hands a job that honours its signal back to pending without counting the attempt', T, async () => {
    const attempts: number[] = [];
    const signals: AbortSignal[] = [];
    const started = Promise.withResolvers<void>();
    const Long = defineJob({
      name: 'long',
      schema: z.object({}),
      maxAttempts: 1,
      async handle(_p, ctx) {
        attempts.push(ctx.attempt);
        signals.push(ctx.signal);
        if (attempts.length === 1) {
          started.resolve();
          await aborted(ctx.signal);
          throw ctx.signal.reason;
        }
      },
    });
    const first = jobHost({ jobs: [Long], shutdownTimeout: 1_000 });
    let id: string;
    try {
      await first.host.start();
      const recorded = recordEvents(first.events);
      id = (await first.client.enqueue(Long, {})).id;
      await started.promise;
      const began = performance.now();
      await first.host.stop();
      const took = performance.now() - began;
      assert.ok(took < 3_000, `stopping took ${Math.round(took)} ms with a 1,000 ms budget`);
      assert.ok(signals[0]!.aborted, "the job's signal aborted at the end of the grace period");
      assert.equal((signals[0]!.reason as Error).name, 'AbortError');
      assert.deepEqual(first.host.servicesLeftBehind, []);
      assert.ok(first.logs.find('Handed 1 unfinished job(s) back'));
      // A hand-back is neither a failure nor a snooze.
      assert.deepEqual(
        recorded.filter((e) => e.event !== 'enqueued' && e.event !== 'started').map((e) => e.event),
        [],
      );
    } finally {
      await first.host.stop();
    }
    // Read the file with a host that runs nothing: the job waits, its attempt given back, no error recorded.
    const reader = jobHost({ jobs: [Long], worker: false, path: first.path });
    try {
      const info = await reader.client.get(id);
      assert.equal(info?.state, 'pending');
      assert.equal(info?.attempt, 0);
      assert.deepEqual(info?.errors, []);
      assert.equal(info?.leaseOwner, null);
    } finally {
      await reader.host.stop();
    }
    // The next worker runs it as the same attempt; maxAttempts is 1, so a counted attempt would have left none.
    await withHost({ jobs: [Long], path: first.path }, async ({ client }) => {
      const done = await waitForState(client, id, 'completed');
      assert.deepEqual(attempts, [1, 1]);
      assert.equal(done.attempt, 1);
      assert.deepEqual(done.errors, []);
    });
  });

  it('lets a job that finishes within the shutdown budget complete', T, async () => {
    const started = Promise.withResolvers<void>();
    let signalAborted: boolean | undefined;
    const Short = defineJob({
      name: 'short',
      schema: z.object({}),
      async handle(_p, ctx) {
        started.resolve();
        await sleep(300);
        signalAborted = ctx.signal.aborted;
      },
    });
    const h = jobHost({ jobs: [Short], shutdownTimeout: 5_000 });
    let id: string;
    try {
      await h.host.start();
      id = (await h.client.enqueue(Short, {})).id;
      await started.promise;
    } finally {
      await h.host.stop();
    }
    assert.equal(signalAborted, false);
    const reader = jobHost({ jobs: [Short], worker: false, path: h.path });
    try {
      const info = await reader.client.get(id);
      assert.equal(info?.state, 'completed');
      assert.equal(info?.attempt, 1);
    } finally {
      await reader.host.stop();
    }
  });

  it('keeps renewing the leases of running jobs while it waits for them at shutdown', T, async () => {
    const started = Promise.withResolvers<void>();
    const Slow = defineJob({
      name: 'slow',
      schema: z.object({}),
      async handle() {
        started.resolve();
        await sleep(1_500); // well past the 300 ms lease
      },
    });
    const h = jobHost({ jobs: [Slow], shutdownTimeout: 5_000, worker: { leaseMs: 300, heartbeatMs: 100 } });
    const reader = jobHost({ jobs: [Slow], worker: false, path: h.path });
    await h.host.start();
    const id = (await h.client.enqueue(Slow, {})).id;
    await started.promise;
    const stopping = h.host.stop();
    const expiries: number[] = [];
    try {
      // Sample the lease during the grace period: it must always lie in the future.
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        const info = await reader.client.get(id);
        if (info?.state !== 'running') break;
        assert.ok(
          info.leaseExpiresAt !== null && info.leaseExpiresAt > Date.now(),
          `the lease expired during shutdown (${info.leaseExpiresAt} <= ${Date.now()})`,
        );
        expiries.push(info.leaseExpiresAt);
      }
      assert.ok(expiries.length >= 5, `the job ran on while stopping (${expiries.length} samples)`);
      assert.ok(expiries.at(-1)! > expiries[0]!, 'the lease was renewed during shutdown');
    } finally {
      await stopping;
      await reader.host.stop();
    }
    const info = await jobHost({ jobs: [Slow], worker: false, path: h.path }).client.get(id);
    assert.equal(info?.state, 'completed');
    assert.ok(!h.logs.find('housekeeping failed'), 'no housekeeping reached the closed store');
  });

  it(
    'lets the housekeeping pass under way finish before the store closes (stop right after start)',
    T,
    async () => {
      // The store answers slowly (a remote database), so the first pass is still under way when the host stops.
      let prunes = 0;
      const h = jobHost({
        jobs: [],
        wrapStore: (store) =>
          overrideStore(store, {
            acquireLeadership: async (real, ...args) => {
              await sleep(100);
              return real(...args);
            },
            prune: (real, policy) => {
              prunes++;
              return real(policy);
            },
          }),
      });
      await h.host.start();
      await h.host.stop();
      await sleep(300); // a pass left running would reach the closed store in this time
      assert.equal(h.logs.find('housekeeping failed'), undefined, 'housekeeping ran against a closed store');
      assert.equal(prunes, 0, 'a stopping worker started pruning');
    },
  );

  it('hands back a job that ignores its signal too, and its late end changes nothing', T, async () => {
    const started = Promise.withResolvers<void>();
    const ended = Promise.withResolvers<void>();
    const Deaf = defineJob({
      name: 'deaf',
      schema: z.object({}),
      async handle() {
        started.resolve();
        await sleep(1_500);
        ended.resolve();
      },
    });
    const h = jobHost({ jobs: [Deaf], shutdownTimeout: 500 });
    let id: string;
    try {
      await h.host.start();
      id = (await h.client.enqueue(Deaf, {})).id;
      await started.promise;
    } finally {
      await h.host.stop();
    }
    await ended.promise;
    const reader = jobHost({ jobs: [Deaf], worker: false, path: h.path });
    try {
      const info = await reader.client.get(id);
      assert.equal(info?.state, 'pending');
      assert.equal(info?.attempt, 0);
    } finally {
      await reader.host.stop();
    }
  });
});

describe('graceful shutdown in the middle of a burst', () => {
  it(
    'leaves nothing running and no pending job with a counted attempt (prefetched jobs included)',
    T,
    async () => {
      const Tiny = defineJob({ name: 'tiny', schema: z.object({ i: z.number() }), handle() {} });
      const h = jobHost({ jobs: [Tiny], worker: { queues: { default: { concurrency: 2 } } } });
      let total = 0;
      try {
        const results = await h.client.enqueueMany(
          Tiny,
          Array.from({ length: 3_000 }, (_, i) => ({ payload: { i } })),
        );
        total = results.length;
        await h.host.start();
        await waitFor(async () => {
          const counts = await h.client.counts();
          return (counts.find((c) => c.state === 'completed')?.count ?? 0) >= 300;
        }, 'some jobs to complete');
      } finally {
        await h.host.stop();
      }
      const reader = jobHost({ jobs: [Tiny], worker: false, path: h.path });
      try {
        const counts = await reader.client.counts();
        const byState = Object.fromEntries(counts.map((c) => [c.state, c.count]));
        assert.equal(byState.running, undefined, `nothing left running: ${JSON.stringify(counts)}`);
        assert.equal((byState.completed ?? 0) + (byState.pending ?? 0), total);
        const pending = await reader.client.list({ state: 'pending', limit: 10_000 });
        const counted = pending.filter((j) => j.attempt !== 0 || j.errors.length > 0);
        assert.deepEqual(
          counted.map((j) => j.id),
          [],
          'a job handed back has its attempt given back',
        );
      } finally {
        await reader.host.stop();
      }
    },
  );
});

describe('expired leases', () => {
  const Recoverable = defineJob({
    name: 'recoverable',
    schema: z.object({}),
    maxAttempts: 3,
    handle() {},
  });

  /** Enqueues a job and claims it as a worker that will never renew nor settle it (as if it died at once). */
  async function claimedByGhost(h: JobHost, maxAttempts: number): Promise<string> {
    const { id } = await h.client.enqueue(Recoverable, {}, { maxAttempts });
    const { jobs } = await h.client.store.claim({
      queue: 'default',
      limit: 10,
      owner: 'ghost-worker',
      leaseMs: 300,
      now: Date.now(),
    });
    assert.deepEqual(
      jobs.map((j) => j.id),
      [id],
    );
    return id;
  }

  it(
    'returns a job whose worker vanished to pending with a lease-expired entry, then runs it',
    T,
    async () => {
      const h = jobHost({ jobs: [Recoverable] });
      try {
        const id = await claimedByGhost(h, 3);
        await h.host.start();
        const done = await waitForState(h.client, id, 'completed');
        assert.equal(done.attempt, 2);
        assert.equal(done.errors.length, 1);
        assert.equal(done.errors[0]!.kind, 'lease-expired');
        assert.equal(done.errors[0]!.attempt, 1);
        assert.match(done.errors[0]!.message, /ghost-worker/);
        assert.ok(h.logs.find('Recovered 1 job(s)'));
      } finally {
        await h.host.stop();
      }
    },
  );

  it('sends a job whose last attempt was lost to dead', T, async () => {
    const h = jobHost({ jobs: [Recoverable] });
    try {
      const id = await claimedByGhost(h, 1);
      await h.host.start();
      const dead = await waitForState(h.client, id, 'dead');
      assert.equal(dead.attempt, 1);
      assert.deepEqual(
        dead.errors.map((e) => [e.attempt, e.kind]),
        [[1, 'lease-expired']],
      );
    } finally {
      await h.host.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A real crash: a worker process killed with SIGKILL in the middle of its jobs.

/** A fixture process with its stdout read as JSON lines. */
class Fixture {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = '';

  constructor(name: string, env: Record<string, string>) {
    const childEnv: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'production', ...env };
    delete childEnv.NODE_TEST_CONTEXT;
    // Nothing else the runner put there, but the condition that resolves Hostwork's packages to their sources.
    childEnv.NODE_OPTIONS = '--conditions=hostwork-source';
    this.child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', `${name}.ts`)], {
      env: childEnv,
      cwd: join(import.meta.dirname, 'fixtures'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  events(event: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.event === event);
  }

  describe(): string {
    return `stdout:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr}`;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const fixtures: Fixture[] = [];
afterEach(() => {
  for (const f of fixtures.splice(0)) f.kill();
});

describe('a worker process killed with SIGKILL', () => {
  // A real process, and recovery waits for the dead worker's job leases and its maintenance leadership to expire.
  it('loses nothing: another host recovers its running jobs once their lease expires', {
    timeout: 30_000,
  }, async () => {
    const ran: Array<{ id: string; attempt: number }> = [];
    // The same name and schema as the fixture's job; this host's handler completes at once.
    const Sleeper = defineJob({
      name: 'crash.sleeper',
      schema: z.object({ ms: z.number() }),
      handle(_p, ctx) {
        ran.push({ id: ctx.id, attempt: ctx.attempt });
      },
    });
    const producer = jobHost({ jobs: [Sleeper], worker: false });
    let ids: string[];
    try {
      const quick = await producer.client.enqueue(Sleeper, { ms: 0 }, { priority: 1 });
      const slow = await producer.client.enqueueMany(
        Sleeper,
        Array.from({ length: 3 }, () => ({ payload: { ms: 60_000 } })),
      );
      ids = [quick.id, ...slow.map((r) => r.id)];
    } finally {
      await producer.host.stop();
    }
    const [quickId, slow1, slow2, slow3] = ids;

    const worker = new Fixture('crash-worker', { HW_DB: producer.path });
    fixtures.push(worker);
    // Concurrency 2: the quick job completes, then two slow jobs run and the third waits.
    await waitFor(
      () => worker.events('finished').length === 1 && worker.events('started').length === 3,
      () => `the fixture to start three jobs and finish one.\n${worker.describe()}`,
      15_000,
    );
    const startedIds = worker.events('started').map((l) => l.id);
    assert.deepEqual(startedIds, [quickId, slow1, slow2], worker.describe());
    // The quick job's outcome is written just after its handler returns: wait for it, or the kill could land in
    // between and (at-least-once) it would rightly run again.
    const reader = jobHost({ jobs: [Sleeper], worker: false, path: producer.path });
    try {
      await waitForState(reader.client, quickId!, 'completed');
      const running = await reader.client.list({ state: 'running' });
      assert.deepEqual(running.map((j) => j.id).sort(), [slow1!, slow2!].sort());
      assert.ok(running.every((j) => j.leaseOwner?.includes(`:${worker.child.pid}:`)));
    } finally {
      await reader.host.stop();
    }
    worker.child.kill('SIGKILL');
    const exit = await worker.exited;
    assert.equal(exit.signal, 'SIGKILL');

    // The killed worker's jobs are still running under its lease: nothing has settled them.
    await withHost({ jobs: [Sleeper], path: producer.path }, async ({ client }) => {
      const all = await Promise.all(
        [slow1!, slow2!, slow3!].map((id) => waitForState(client, id, 'completed', 20_000)),
      );
      const [r1, r2, r3] = all;
      for (const crashed of [r1!, r2!]) {
        assert.equal(crashed.attempt, 2, 'the crashed attempt counts');
        assert.equal(crashed.errors.length, 1);
        assert.equal(crashed.errors[0]!.attempt, 1);
        assert.equal(crashed.errors[0]!.kind, 'lease-expired');
        assert.match(crashed.errors[0]!.message, new RegExp(`:${worker.child.pid}:`));
      }
      assert.equal(r3!.attempt, 1, 'the job that never started runs as its first attempt');
      assert.deepEqual(r3!.errors, []);
      const quick = await client.get(quickId!);
      assert.equal(quick?.state, 'completed');
      assert.equal(quick?.attempt, 1);
      assert.deepEqual(
        ran.map((r) => r.id).sort(),
        [slow1!, slow2!, slow3!].sort(),
        'each unfinished job ran exactly once more; the completed one did not',
      );
      const counts = await client.counts();
      assert.deepEqual(counts, [{ queue: 'default', state: 'completed', count: 4 }]);
    });
  });
});
