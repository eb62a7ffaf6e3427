import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import {
  expectRejection,
  jobHost,
  recordEvents,
  T,
  totalJobs,
  waitFor,
  waitForState,
  withHost,
} from './helpers.ts';

// Enqueueing: validation before anything is stored, run times, unique keys, batches and concurrent callers.

const Signup = defineJob({
  name: 'signup',
  schema: z.object({ email: z.email(), age: z.number().int().min(18), name: z.string().min(1) }),
  handle() {},
});

const valid = { email: 'ada@example.com', age: 36, name: 'Ada' };

describe('validation at enqueue', () => {
  it('refuses an invalid payload naming each failing field, and stores nothing', T, async () => {
    const { host, client } = jobHost({ jobs: [Signup], worker: false });
    try {
      const error = await expectRejection(
        client.enqueue(Signup, { email: 'not-an-email', age: 12, name: 'Ada' }),
        ErrorCodes.JOB_INVALID_PAYLOAD,
        "'signup'",
        'nothing was stored',
      );
      // One line per failing field, the valid field not mentioned.
      const fields = error.message
        .split('\n')
        .filter((l) => l.startsWith('  - '))
        .map((l) => l.slice(4).split(':')[0]);
      assert.deepEqual(fields.sort(), ['age', 'email']);
      await expectRejection(
        // @ts-expect-error: a number is not an object
        client.enqueue(Signup, 42),
        ErrorCodes.JOB_INVALID_PAYLOAD,
        '(payload)',
      );
      assert.equal(await totalJobs(client), 0);
      assert.deepEqual(await client.counts(), []);
    } finally {
      await host.stop();
    }
  });

  it('refuses an unknown option key (a typo) and stores nothing', T, async () => {
    const { host, client } = jobHost({ jobs: [Signup], worker: false });
    try {
      await expectRejection(
        // @ts-expect-error: 'priorty' is not an enqueue option
        client.enqueue(Signup, valid, { priorty: 3 }),
        ErrorCodes.UNKNOWN_OPTION,
        "'priorty'",
        "Did you mean 'priority'",
      );
      await expectRejection(
        client.enqueue(Signup, valid, { maxAttempts: 0 }),
        ErrorCodes.INVALID_OPTION,
        'maxAttempts',
      );
      await expectRejection(
        client.enqueue(Signup, valid, { runAt: new Date('not a date') }),
        ErrorCodes.INVALID_OPTION,
        'runAt',
      );
      assert.equal(await totalJobs(client), 0);
    } finally {
      await host.stop();
    }
  });

  it('refuses a job definition that was not registered with addJobs', T, async () => {
    const Stranger = defineJob({ name: 'stranger', schema: z.object({}), handle() {} });
    const Impostor = defineJob({ name: 'signup', schema: Signup.schema, handle() {} });
    const { host, client } = jobHost({ jobs: [Signup], worker: false });
    try {
      await expectRejection(
        client.enqueue(Stranger, {}),
        ErrorCodes.JOB_NOT_REGISTERED,
        "'stranger' is not registered",
      );
      await expectRejection(
        client.enqueue(Impostor, valid),
        ErrorCodes.JOB_NOT_REGISTERED,
        "A different definition named 'signup'",
      );
      await expectRejection(
        client.enqueueMany(Stranger, [{ payload: {} }]),
        ErrorCodes.JOB_NOT_REGISTERED,
        'stranger',
      );
      assert.equal(await totalJobs(client), 0);
    } finally {
      await host.stop();
    }
  });
});

describe('transactional enqueue', () => {
  it(
    "on SQLite writes through the application's DatabaseSync: a committed job runs, a rolled-back one never exists",
    T,
    async () => {
      const ran: string[] = [];
      const Note = defineJob({
        name: 'note',
        schema: z.object({ label: z.string() }),
        handle({ label }) {
          ran.push(label);
        },
      });
      // The worker polls only every 10 s: the store's data-version poll is what finds the job after the commit.
      const { host, client, path } = jobHost({ jobs: [Note], worker: { pollIntervalMs: 10_000 } });
      await host.start();
      const db = new DatabaseSync(path, { timeout: 5_000 });
      try {
        db.exec('BEGIN IMMEDIATE');
        await client.enqueue(Note, { label: 'rolled back' }, { tx: db });
        await client.enqueueMany(Note, [{ payload: { label: 'rolled back too' } }], { tx: db });
        db.exec('ROLLBACK');
        db.exec('BEGIN IMMEDIATE');
        db.exec('CREATE TABLE app_rows (id INTEGER PRIMARY KEY)');
        const committed = await client.enqueue(Note, { label: 'committed' }, { tx: db });
        db.exec('INSERT INTO app_rows DEFAULT VALUES');
        // Not visible to the store's own connection before the commit.
        assert.equal(await totalJobs(client), 0);
        db.exec('COMMIT');
        await waitForState(client, committed.id, 'completed');
        assert.deepEqual(ran, ['committed']);
        assert.equal(await totalJobs(client), 1);
      } finally {
        db.close();
        await host.stop();
      }
    },
  );

  it(
    'on SQLite refuses a tx it cannot write through safely, naming the fix, and stores nothing',
    T,
    async () => {
      const { host, client, path } = jobHost({ jobs: [Signup], worker: false });
      await host.start();
      const other = new DatabaseSync(':memory:');
      const idle = new DatabaseSync(path, { timeout: 5_000 });
      try {
        await expectRejection(
          client.enqueue(Signup, valid, { tx: {} }),
          ErrorCodes.INVALID_OPTION,
          'DatabaseSync',
        );
        other.exec('BEGIN');
        await expectRejection(
          client.enqueueMany(Signup, [{ payload: valid }], { tx: other }),
          ErrorCodes.INVALID_OPTION,
          "not to the store's file",
        );
        await expectRejection(
          client.enqueue(Signup, valid, { tx: idle }),
          ErrorCodes.INVALID_OPTION,
          'no open transaction',
        );
        assert.equal(await totalJobs(client), 0);
      } finally {
        other.close();
        idle.close();
        await host.stop();
      }
    },
  );

  it('ctx.completeWithin fails the attempt on the SQLite store, naming the reason', T, async () => {
    const Within = defineJob({
      name: 'within',
      schema: z.object({}),
      maxAttempts: 1,
      async handle(_p, ctx) {
        await ctx.completeWithin({});
      },
    });
    await withHost({ jobs: [Within] }, async ({ client }) => {
      const { id } = await client.enqueue(Within, {});
      const dead = await waitForState(client, id, 'dead');
      assert.match(dead.errors[0]!.message, /cannot complete a job inside the handler's transaction/);
    });
  });
});

describe('run time', () => {
  it('does not run a delayed job before its time, then runs it', T, async () => {
    const started = new Map<string, number>();
    const Later = defineJob({
      name: 'later',
      schema: z.object({ tag: z.string() }),
      handle({ tag }) {
        started.set(tag, Date.now());
      },
    });
    await withHost({ jobs: [Later] }, async ({ client }) => {
      const before = Date.now();
      const delayed = await client.enqueue(Later, { tag: 'delay' }, { delay: 800 });
      const at = await client.enqueue(Later, { tag: 'runAt' }, { runAt: new Date(before + 1_000) });
      const now = await client.enqueue(Later, { tag: 'now' });
      // The job without a delay runs while the others wait.
      await waitForState(client, now.id, 'completed');
      const d = await client.get(delayed.id);
      assert.ok(d!.runAt >= before + 800, `runAt ${d!.runAt - before} ms after enqueue`);
      const doneDelayed = await waitForState(client, delayed.id, 'completed');
      const doneAt = await waitForState(client, at.id, 'completed');
      assert.ok(started.get('delay')! >= doneDelayed.runAt, 'the delayed job started before its run time');
      assert.ok(started.get('runAt')! >= before + 1_000, 'the runAt job started before its run time');
      assert.equal(doneAt.runAt, before + 1_000);
      // Loose upper bound: the worker sleeps until the run time rather than the next poll.
      assert.ok(started.get('delay')! - doneDelayed.runAt < 3_000);
    });
  });
});

describe('unique keys', () => {
  it(
    'returns the first id with outcome duplicate while the first job is pending, and stores nothing',
    T,
    async () => {
      const { host, client, events } = jobHost({ jobs: [Signup], worker: false });
      try {
        const recorded = recordEvents(events);
        const first = await client.enqueue(Signup, valid, { uniqueKey: 'signup:ada' });
        const second = await client.enqueue(Signup, { ...valid, age: 40 }, { uniqueKey: 'signup:ada' });
        assert.equal(first.outcome, 'inserted');
        assert.deepEqual(second, { id: first.id, outcome: 'duplicate' });
        const other = await client.enqueue(Signup, valid, { uniqueKey: 'signup:bob' });
        assert.notEqual(other.id, first.id);
        assert.equal(await totalJobs(client), 2);
        assert.deepEqual((await client.get(first.id))?.payload, valid, 'the first payload is kept');
        assert.deepEqual(
          recorded.map((e) => (e.event === 'enqueued' ? [e.id, e.outcome] : e.event)),
          [
            [first.id, 'inserted'],
            [first.id, 'duplicate'],
            [other.id, 'inserted'],
          ],
        );
      } finally {
        await host.stop();
      }
    },
  );

  it('frees the key once the job has finished', T, async () => {
    await withHost({ jobs: [Signup] }, async ({ client }) => {
      const first = await client.enqueue(Signup, valid, { uniqueKey: 'k' });
      await waitForState(client, first.id, 'completed');
      const again = await client.enqueue(Signup, valid, { uniqueKey: 'k' });
      assert.equal(again.outcome, 'inserted');
      assert.notEqual(again.id, first.id);
    });
  });

  it('gives concurrent enqueues of one key a single job', T, async () => {
    const { host, client } = jobHost({ jobs: [Signup], worker: false });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => client.enqueue(Signup, valid, { uniqueKey: 'same' })),
      );
      assert.equal(new Set(results.map((r) => r.id)).size, 1);
      assert.equal(results.filter((r) => r.outcome === 'inserted').length, 1);
      assert.equal(await totalJobs(client), 1);
    } finally {
      await host.stop();
    }
  });
});

describe('batches and concurrent callers', () => {
  it('enqueueMany stores every item in one call, with per-item options', T, async () => {
    const { host, client } = jobHost({ jobs: [Signup], worker: false });
    try {
      const results = await client.enqueueMany(Signup, [
        { payload: valid },
        { payload: { ...valid, name: 'Bob' }, options: { priority: 9, queue: 'vip' } },
        { payload: { ...valid, name: 'Cy' }, options: { uniqueKey: 'cy' } },
        { payload: { ...valid, name: 'Cy again' }, options: { uniqueKey: 'cy' } },
      ]);
      assert.deepEqual(
        results.map((r) => r.outcome),
        ['inserted', 'inserted', 'inserted', 'duplicate'],
      );
      assert.equal(results[3]!.id, results[2]!.id);
      assert.equal(new Set(results.map((r) => r.id)).size, 3);
      const bob = await client.get(results[1]!.id);
      assert.deepEqual(
        [bob!.queue, bob!.priority, (bob!.payload as { name: string }).name],
        ['vip', 9, 'Bob'],
      );
      assert.equal(await totalJobs(client), 3);
    } finally {
      await host.stop();
    }
  });

  it(
    'enqueueMany with one invalid item rejects the whole batch, naming the item, and stores nothing',
    T,
    async () => {
      const { host, client } = jobHost({ jobs: [Signup], worker: false });
      try {
        await expectRejection(
          client.enqueueMany(Signup, [
            { payload: valid },
            { payload: valid },
            { payload: { ...valid, age: 3 } },
            { payload: valid },
          ]),
          ErrorCodes.JOB_INVALID_PAYLOAD,
          'Item 2',
          'age',
        );
        await expectRejection(
          // @ts-expect-error: 'dely' is not an enqueue option
          client.enqueueMany(Signup, [{ payload: valid }, { payload: valid, options: { dely: 5 } }]),
          ErrorCodes.UNKNOWN_OPTION,
          'Item 1',
        );
        assert.equal(await totalJobs(client), 0);
      } finally {
        await host.stop();
      }
    },
  );

  it('gives each of 200 concurrent enqueues its own id, and stores all of them', T, async () => {
    const { host, client, events } = jobHost({ jobs: [Signup], worker: false });
    try {
      const recorded = recordEvents(events);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => client.enqueue(Signup, { ...valid, name: `user ${i}` })),
      );
      assert.equal(new Set(results.map((r) => r.id)).size, 200);
      assert.ok(results.every((r) => r.outcome === 'inserted'));
      assert.equal(await totalJobs(client), 200);
      // Each caller got the id of its own payload.
      for (const i of [0, 57, 199]) {
        const info = await client.get(results[i]!.id);
        assert.equal((info!.payload as { name: string }).name, `user ${i}`);
      }
      assert.equal(recorded.filter((e) => e.event === 'enqueued').length, 200);
    } finally {
      await host.stop();
    }
  });

  it('a mix of valid and invalid concurrent enqueues: each caller gets its own id or error', T, async () => {
    const { host, client } = jobHost({ jobs: [Signup], worker: false });
    try {
      const settled = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => client.enqueue(Signup, { ...valid, age: i % 3 === 0 ? 1 : 30 })),
      );
      const rejected = settled.filter((s) => s.status === 'rejected');
      const fulfilled = settled.filter((s) => s.status === 'fulfilled');
      assert.equal(rejected.length, 10);
      assert.equal(new Set(fulfilled.map((s) => s.value.id)).size, 20);
      assert.equal(await totalJobs(client), 20);
    } finally {
      await host.stop();
    }
  });

  it('jobs enqueued by one host are run by another host on the same file', T, async () => {
    const ran: string[] = [];
    const Remote = defineJob({
      name: 'remote',
      schema: z.object({ n: z.number() }),
      handle({ n }) {
        ran.push(String(n));
      },
    });
    const producer = jobHost({ jobs: [Remote], worker: false });
    try {
      await withHost({ jobs: [Remote], path: producer.path }, async ({ client }) => {
        const { id } = await producer.client.enqueue(Remote, { n: 7 });
        await waitForState(client, id, 'completed');
        await waitFor(() => ran.length === 1, 'the job to run');
        assert.deepEqual(ran, ['7']);
      });
    } finally {
      await producer.host.stop();
    }
  });
});

describe('what is stored', () => {
  it(
    "stores the schema's output: unknown keys stripped, defaults filled in; the handler gets it re-validated",
    T,
    async () => {
      const received: unknown[] = [];
      const Account = defineJob({
        name: 'account',
        schema: z.object({ s: z.string(), n: z.number(), plan: z.string().default('free') }),
        handle(payload) {
          received.push(payload);
        },
      });
      await withHost({ jobs: [Account] }, async ({ client }) => {
        const { id } = await client.enqueue(Account, { s: 'a', n: 1, password: 'hunter2' } as never);
        const job = await waitForState(client, id, 'completed');
        assert.deepEqual(job.payload, { s: 'a', n: 1, plan: 'free' });
        assert.ok(
          !JSON.stringify(await client.list()).includes('hunter2'),
          'the secret is nowhere in the store',
        );
        assert.deepEqual(received, [{ s: 'a', n: 1, plan: 'free' }]);
      });
    },
  );

  it(
    'refuses, before storing, a schema that does not accept its own output (a transform that changes the type)',
    T,
    async () => {
      const Length = defineJob({
        name: 'length',
        schema: z.string().transform((s) => s.length),
        handle() {},
      });
      const { host, client } = jobHost({ jobs: [Length], worker: false });
      try {
        const error = await expectRejection(client.enqueue(Length, 'abc'), ErrorCodes.JOB_INVALID_PAYLOAD);
        assert.match(error.message, /does not accept its own output/);
        assert.match(error.message, /Fix:/);
        assert.equal(await totalJobs(client), 0);
      } finally {
        await host.stop();
      }
    },
  );

  it('stores a transform that keeps the type (trimmed, lower-cased)', T, async () => {
    const Email = defineJob({
      name: 'email',
      schema: z.object({ to: z.string().trim().toLowerCase() }),
      handle() {},
    });
    const { host, client } = jobHost({ jobs: [Email], worker: false });
    try {
      const { id } = await client.enqueue(Email, { to: '  Ada@Example.COM ' });
      assert.deepEqual((await client.get(id))?.payload, { to: 'ada@example.com' });
    } finally {
      await host.stop();
    }
  });
});
