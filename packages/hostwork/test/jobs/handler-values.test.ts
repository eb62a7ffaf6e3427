import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ErrorCodes, HostworkError } from '../../src/errors.ts';
import type { JobClient } from '../../src/jobs/job-client.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import type { JobId, JobInfo } from '../../src/jobs/job-record.ts';
import { describeThrown, MAX_THROWN_TEXT } from '../../src/jobs/thrown-value.ts';
import { overrideStore, T, waitFor, waitForState, withHost } from './helpers.ts';

// What a handler hands to the engine (a snooze delay, a progress value, a thrown value, a backoff's result) can
// never leave its job 'running': a bad value fails the attempt with an error naming it, and an outcome the store
// refuses for good is recorded as a failed attempt instead of being retried forever.

/** Waits until the job's first attempt is settled (no longer running) and returns it. */
function firstSettled(client: JobClient, id: JobId): Promise<JobInfo> {
  return waitFor(
    async () => {
      const j = await client.get(id);
      return j && j.state !== 'running' && j.errors.length >= 1 ? j : undefined;
    },
    `job ${id}'s first attempt to be settled`,
    8_000,
  );
}

describe('values a handler hands to the engine', () => {
  for (const [label, delay] of [
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['1e300', 1e300],
    ['a string', '100' as unknown as number],
  ] as const) {
    it(
      `fails the attempt of a handler returning ctx.snooze(${label}), with the value in the error`,
      T,
      async () => {
        const Snoozy = defineJob({
          name: 'snoozy',
          schema: z.object({}),
          maxAttempts: 3,
          backoff: { type: 'fixed', delay: 60_000 },
          handle: (_payload, ctx) => ctx.snooze(delay),
        });
        await withHost({ jobs: [Snoozy] }, async ({ client }) => {
          const { id } = await client.enqueue(Snoozy, {});
          const job = await firstSettled(client, id);
          assert.equal(job.state, 'pending', 'a failed attempt with attempts left: retried later');
          assert.equal(job.attempt, 1);
          assert.match(job.errors[0]!.message, /ctx\.snooze\(.*\): the delay must /);
          assert.ok(job.errors[0]!.message.includes(String(delay)), job.errors[0]!.message);
        });
      },
    );
  }

  it(
    'throws HW_JOB_INVALID_HANDLER_VALUE to the handler, which may catch it; a negative delay means now',
    T,
    async () => {
      const seen: unknown[] = [];
      const Careful = defineJob({
        name: 'careful',
        schema: z.object({}),
        handle(_payload, ctx) {
          try {
            ctx.snooze(Number.NaN);
          } catch (error) {
            seen.push(error);
          }
          seen.push(ctx.snooze(-50).snoozeMs);
        },
      });
      await withHost({ jobs: [Careful] }, async ({ client }) => {
        const { id } = await client.enqueue(Careful, {});
        await waitForState(client, id, 'completed');
        assert.ok(seen[0] instanceof HostworkError);
        assert.equal((seen[0] as HostworkError).code, ErrorCodes.JOB_INVALID_HANDLER_VALUE);
        assert.match((seen[0] as HostworkError).message, /NaN/);
        assert.equal(seen[1], 0);
      });
    },
  );

  for (const [label, value, pattern] of [
    ['a BigInt', 10n, /cannot be stored as JSON/],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
      /cannot be stored as JSON/,
    ],
    [
      'a throwing toJSON',
      {
        toJSON: () => {
          throw new Error('no JSON here');
        },
      },
      /no JSON here/,
    ],
  ] as const) {
    it(`refuses ctx.progress() with ${label}, in the handler, and stores nothing of it`, T, async () => {
      const errors: unknown[] = [];
      const Reporter = defineJob({
        name: 'reporter',
        schema: z.object({}),
        handle(_payload, ctx) {
          try {
            ctx.progress(value);
          } catch (error) {
            errors.push(error);
          }
          ctx.progress({ done: 1 });
        },
      });
      await withHost({ jobs: [Reporter] }, async ({ client }) => {
        const { id } = await client.enqueue(Reporter, {});
        const job = await waitForState(client, id, 'completed');
        assert.equal(errors.length, 1);
        assert.equal((errors[0] as HostworkError).code, ErrorCodes.JOB_INVALID_HANDLER_VALUE);
        assert.match((errors[0] as HostworkError).message, pattern);
        assert.deepEqual(job.progress, { done: 1 });
      });
    });
  }

  it(
    'retries after the default backoff when a backoff function returns a delay no Date can hold',
    T,
    async () => {
      const Far = defineJob({
        name: 'far',
        schema: z.object({}),
        maxAttempts: 3,
        backoff: () => 1e300,
        handle() {
          throw new Error('handler failed');
        },
      });
      await withHost({ jobs: [Far] }, async ({ client, logs }) => {
        const { id } = await client.enqueue(Far, {});
        const job = await firstSettled(client, id);
        assert.equal(job.state, 'pending');
        assert.ok(job.runAt > job.errors[0]!.at && job.runAt < Date.now() + 3_600_000, 'the default backoff');
        assert.ok(logs.find('the backoff returned 1e+300'), 'the bad backoff is logged with its value');
      });
    },
  );
});

/**
 * Values a handler may throw that defeat a naive `String(error)` or `error.message`. The traps throw the Proxy
 * itself, so that whatever the engine reads from it to describe it throws the same unreadable value again.
 */
function hostileValues(): Array<[string, () => unknown, RegExp]> {
  const selfThrowing = (target: object, traps: readonly (keyof ProxyHandler<object>)[]) => {
    const handler: ProxyHandler<object> = {};
    const proxy = new Proxy(target, handler);
    for (const trap of traps)
      (handler as Record<string, unknown>)[trap] = () => {
        throw proxy;
      };
    return proxy;
  };
  const trap = () => {
    throw selfThrowing({}, ['get']);
  };
  return [
    ['a Proxy whose get throws', () => selfThrowing({}, ['get']), /object/],
    ['a Proxy whose get and has throw', () => selfThrowing({}, ['get', 'has']), /object/],
    [
      'a Proxy whose every trap throws',
      () => selfThrowing({}, ['get', 'has', 'getPrototypeOf', 'ownKeys', 'getOwnPropertyDescriptor']),
      /a value of type object was thrown that cannot be read/,
    ],
    ['an Error Proxy whose get throws', () => selfThrowing(new Error('inner'), ['get']), /class Error/],
    [
      'an Error with throwing getters',
      () => Object.defineProperties(new Error('x'), { message: { get: trap }, stack: { get: trap } }),
      /class Error/,
    ],
    [
      'a null-prototype object',
      () => Object.assign(Object.create(null), { reason: 'gone' }),
      /no prototype.*"reason":"gone"/,
    ],
    ['a BigInt', () => 12n, /bigint was thrown: 12/],
    ['a Symbol', () => Symbol('boom'), /symbol was thrown: Symbol\(boom\)/],
    ['undefined', () => undefined, /undefined was thrown/],
    ['a string with NUL and a lone surrogate', () => 'bad\u0000byte \ud800', /^bad\uFFFDbyte \uFFFD$/],
  ];
}

describe('whatever a handler throws', () => {
  for (const [label, make, expected] of hostileValues()) {
    for (const how of ['throws', 'rejects with'] as const) {
      it(
        `settles a handler that ${how} ${label} as a failed attempt with a readable message`,
        T,
        async () => {
          const Hostile = defineJob({
            name: 'hostile',
            schema: z.object({}),
            maxAttempts: 2,
            backoff: { type: 'fixed', delay: 60_000 },
            handle:
              how === 'throws'
                ? () => {
                    throw make();
                  }
                : () => Promise.reject(make()),
          });
          await withHost({ jobs: [Hostile] }, async ({ client }) => {
            const { id } = await client.enqueue(Hostile, {});
            const job = await firstSettled(client, id);
            assert.equal(job.state, 'pending');
            assert.equal(job.errors[0]!.kind, 'error');
            assert.match(job.errors[0]!.message, expected);
          });
        },
      );
    }
  }
});

describe('describeThrown', () => {
  it('describes every hostile value without throwing, bounded and storable', () => {
    for (const [label, make, expected] of hostileValues()) {
      const d = describeThrown(make());
      assert.match(d.message, expected, label);
    }
    const huge = describeThrown(new Error('x'.repeat(100_000)));
    assert.ok(
      huge.message.length < MAX_THROWN_TEXT + 100 &&
        huge.message.endsWith(`(cut at ${MAX_THROWN_TEXT} characters)`),
    );
    assert.deepEqual(describeThrown(new TypeError('plain')).message, 'plain');
    assert.match(
      describeThrown({ code: 42 }).message,
      /^an object of class Object was thrown: \{"code":42\}$/,
    );
  });
});

describe('outcomes the store refuses', () => {
  it(
    'records an outcome the store refuses for good as a failed attempt (HW_JOB_OUTCOME_UNWRITABLE), never loops',
    T,
    async () => {
      // After the checks above no handler value makes a real store refuse an outcome, so this one refusal (a
      // completion of one job) is injected: the safety net must end the attempt rather than retry the write forever.
      let refusals = 0;
      const Refused = defineJob({ name: 'refused', schema: z.object({}), maxAttempts: 2, handle() {} });
      await withHost(
        {
          jobs: [Refused],
          wrapStore: (store) =>
            overrideStore(store, {
              settle: (real, owner, settlements, now) => {
                if (settlements.some((s) => s.kind === 'completed')) {
                  refusals++;
                  return Promise.reject(new RangeError('value out of range for this column'));
                }
                return real(owner, settlements, now);
              },
            }),
        },
        async ({ client, logs }) => {
          const { id } = await client.enqueue(Refused, {});
          const job = await firstSettled(client, id);
          assert.equal(job.state, 'pending', 'retried: the attempt counts as failed');
          assert.match(job.errors[0]!.message, /refused this attempt's outcome \(completed\) for good/);
          assert.ok(job.errors[0]!.message.endsWith(`[${ErrorCodes.JOB_OUTCOME_UNWRITABLE}]`));
          assert.match(job.errors[0]!.message, /value out of range/);
          assert.ok(logs.lines.some((l) => l.code === ErrorCodes.JOB_OUTCOME_UNWRITABLE));
          const seen = refusals;
          await sleep(700);
          assert.ok(
            refusals <= seen + 2,
            `the refused write is not retried without end (${seen} → ${refusals})`,
          );
        },
      );
    },
  );
});

describe('while the store cannot be reached', () => {
  it(
    'a write begun before the store went away, committing after a later one failed, does not end the hold-back',
    T,
    async () => {
      let down = false;
      let slow: 'armed' | 'in-flight' | 'done' | undefined;
      let held = false;
      let startedWhileHeld = 0;
      const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
      const Short = defineJob({
        name: 'short',
        schema: z.object({ i: z.number() }),
        async handle() {
          if (held) startedWhileHeld++;
          await sleep(5);
        },
      });
      await withHost(
        {
          jobs: [Short],
          worker: {
            queues: { default: { concurrency: 4 } },
            batchSize: 100,
            // Room for the slow batch's outcomes, so jobs go on finishing and a later write fails while it waits.
            maxUnwrittenOutcomes: 200,
            leaseMs: 20_000,
          },
          wrapStore: (store) =>
            overrideStore(store, {
              // One batch write is slow to commit (as during a server's shutdown): it succeeds after later ones fail.
              // Only outcome writes fail here, so claimed jobs keep coming and that later write surely happens.
              settle: (real, ...args) => {
                if (slow === 'armed') {
                  slow = 'in-flight';
                  return sleep(500).then(async () => {
                    await real(...args);
                    slow = 'done';
                  });
                }
                return down ? unreachable() : real(...args);
              },
              progress: (real, ...args) => (down ? unreachable() : real(...args)),
            }),
        },
        async ({ client, logs }) => {
          const total = 3_000; // a stream of about 4 s: the outage comes while it flows
          await client.enqueueMany(
            Short,
            Array.from({ length: total }, (_, i) => ({ payload: { i } })),
          );
          await waitFor(
            async () => (await client.counts()).some((c) => c.state === 'completed'),
            'jobs to run',
          );
          slow = 'armed';
          await waitFor(() => slow === 'in-flight', 'the slow write to begin');
          down = true;
          await waitFor(() => logs.find('Holding back'), 'the worker to say it holds back');
          held = true;
          assert.equal(slow, 'in-flight', 'the worker held back while the slow write was still under way');
          await waitFor(() => slow === 'done', 'the slow write to commit');
          await sleep(200);
          assert.equal(startedWhileHeld, 0, 'jobs started because a write begun before the outage succeeded');
          assert.equal(logs.find('starting jobs again'), undefined);
          held = false;
          down = false;
          await waitFor(
            async () => (await client.counts()).every((c) => c.state === 'completed'),
            'every job completed',
            15_000,
          );
          assert.ok(logs.find('starting jobs again'), 'a write begun after the hold-back ends it');
        },
      );
    },
  );

  it('stops starting jobs at the first failed write, so at most the bound finish unwritten', T, async () => {
    const concurrency = 4;
    const maxUnwrittenOutcomes = 8;
    let down = false;
    let ranWhileDown = 0;
    let runs = 0;
    const unreachable = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    const Short = defineJob({
      name: 'short',
      schema: z.object({ i: z.number() }),
      async handle() {
        await sleep(2);
        runs++;
        if (down) ranWhileDown++;
      },
    });
    await withHost(
      {
        jobs: [Short],
        worker: {
          queues: { default: { concurrency } },
          batchSize: 100,
          maxUnwrittenOutcomes,
          leaseMs: 20_000,
        },
        wrapStore: (store) =>
          overrideStore(store, {
            settle: (real, ...args) => (down ? unreachable() : real(...args)),
            claim: (real, ...args) => (down ? unreachable() : real(...args)),
            renew: (real, ...args) => (down ? unreachable() : real(...args)),
            progress: (real, ...args) => (down ? unreachable() : real(...args)),
          }),
      },
      async ({ client, logs }) => {
        const total = 600;
        await client.enqueueMany(
          Short,
          Array.from({ length: total }, (_, i) => ({ payload: { i } })),
        );
        await waitFor(() => runs >= 50, '50 jobs to run');
        down = true;
        await waitFor(() => logs.find('Holding back'), 'the worker to say it holds back');
        await sleep(600);
        const bound = concurrency + maxUnwrittenOutcomes;
        assert.ok(
          ranWhileDown <= bound,
          `${ranWhileDown} jobs finished unwritten while the store was down (bound ${bound})`,
        );
        assert.ok(runs < total, 'jobs were left to run');
        down = false;
        await waitFor(
          async () => (await client.counts()).every((c) => c.state === 'completed'),
          'every job completed',
          15_000,
        );
        assert.equal(runs, total, 'no job ran twice: every outcome kept was written once the store was back');
        assert.ok(logs.find('starting jobs again'));
      },
    );
  });

  it('caps the outcomes waiting to be written at maxUnwrittenOutcomes while writes are slow', T, async () => {
    let slow = false;
    let highest = 0;
    let waiting = 0;
    const Tiny = defineJob({ name: 'tiny', schema: z.object({ i: z.number() }), handle() {} });
    await withHost(
      {
        jobs: [Tiny],
        worker: { queues: { default: { concurrency: 2 } }, batchSize: 50, maxUnwrittenOutcomes: 5 },
        wrapStore: (store) =>
          overrideStore(store, {
            settle: async (real, owner, settlements, now) => {
              const completions = settlements.filter((s) => s.kind === 'completed').length;
              waiting += completions;
              highest = Math.max(highest, waiting);
              if (slow) await sleep(30);
              try {
                return await real(owner, settlements, now);
              } finally {
                waiting -= completions;
              }
            },
          }),
      },
      async ({ client }) => {
        slow = true;
        await client.enqueueMany(
          Tiny,
          Array.from({ length: 200 }, (_, i) => ({ payload: { i } })),
        );
        await waitFor(
          async () => (await client.counts()).every((c) => c.state === 'completed'),
          'every job completed',
          15_000,
        );
        // Unwritten outcomes plus running jobs never exceed maxUnwrittenOutcomes + concurrency.
        assert.ok(
          highest <= 5 + 2,
          `at most maxUnwrittenOutcomes + concurrency (7) completions were unwritten at once, saw ${highest}`,
        );
      },
    );
  });
});
