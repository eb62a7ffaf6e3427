import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import type { JobStore } from '../../src/jobs/job-store.ts';
import { resolveWorkerOptions } from '../../src/jobs/worker-options.ts';
import {
  expectRejection,
  expectThrow,
  jobHost,
  recordEvents,
  T,
  tempDb,
  waitFor,
  waitForState,
  withHost,
  withHosts,
} from './helpers.ts';

// Results: what a handler returns is stored with its job, checked where it is handed over; and waitFor.

/** Returns whatever its payload says; `kind` picks values a schema cannot carry. */
const Echo = defineJob({
  name: 'echo',
  schema: z.object({
    kind: z.enum(['value', 'nothing', 'bigint', 'function', 'cycle', 'large', 'fail']),
    value: z.unknown().optional(),
    size: z.number().optional(),
  }),
  maxAttempts: 2,
  backoff: { type: 'fixed', delay: 20 },
  handle({ kind, value, size }) {
    switch (kind) {
      case 'value':
        return value;
      case 'nothing':
        return undefined;
      case 'bigint':
        return 10n;
      case 'function':
        return () => 1;
      case 'cycle': {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        return cyclic;
      }
      case 'large':
        return { data: 'x'.repeat(size ?? 0) };
      case 'fail':
        throw new Error('failed on purpose');
    }
  },
});

describe('stored results', () => {
  it(
    "stores a returned object as the job's result: get, list and the completed event carry it",
    T,
    async () => {
      await withHost({ jobs: [Echo] }, async ({ client, events }) => {
        const recorded = recordEvents(events);
        const value = { url: 's3://bucket/out.png', sizes: [1, 2.5], ok: true, note: 'ünïcode ✓' };
        const { id } = await client.enqueue(Echo, { kind: 'value', value });
        const done = await waitForState(client, id, 'completed');
        assert.deepEqual(done.result, value);
        const [listed] = await client.list({ state: 'completed' });
        assert.equal(listed?.id, id);
        assert.deepEqual(listed?.result, value);
        const completed = await waitFor(
          () => recorded.find((e) => e.event === 'completed' && e.id === id),
          'the completed event',
        );
        assert.deepEqual(completed.event === 'completed' && completed.result, value);
      });
    },
  );

  it('stores null when the handler returns nothing, and primitives as they are', T, async () => {
    await withHost({ jobs: [Echo] }, async ({ client }) => {
      const nothing = await client.enqueue(Echo, { kind: 'nothing' });
      const text = await client.enqueue(Echo, { kind: 'value', value: 'done' });
      const zero = await client.enqueue(Echo, { kind: 'value', value: 0 });
      assert.equal((await waitForState(client, nothing.id, 'completed')).result, null);
      assert.equal((await waitForState(client, text.id, 'completed')).result, 'done');
      assert.equal((await waitForState(client, zero.id, 'completed')).result, 0);
    });
  });

  it(
    'a result over maxResultBytes fails the attempt naming the job, the size, the limit and the fix; then dead',
    T,
    async () => {
      await withHost({ jobs: [Echo], worker: { maxResultBytes: 1_000 } }, async ({ client }) => {
        const fits = await client.enqueue(Echo, { kind: 'large', size: 900 });
        const { id } = await client.enqueue(Echo, { kind: 'large', size: 1_000 });
        assert.equal(
          ((await waitForState(client, fits.id, 'completed')).result as { data: string }).data.length,
          900,
        );
        const dead = await waitForState(client, id, 'dead');
        assert.equal(dead.errors.length, 2, 'retried like any failed attempt, then dead');
        assert.equal(dead.result, null);
        for (const error of dead.errors) {
          assert.equal(error.kind, 'error');
          for (const fragment of [
            `echo#${id}`,
            '1011 bytes',
            'limit of 1000 bytes',
            'maxResultBytes',
            'elsewhere',
          ]) {
            assert.ok(error.message.includes(fragment), `"${fragment}" missing from: ${error.message}`);
          }
        }
      });
    },
  );

  it(
    'a result JSON cannot hold (BigInt, function, cycle) fails the attempt with a clear message',
    T,
    async () => {
      await withHost({ jobs: [Echo] }, async ({ client }) => {
        const cases = [
          { kind: 'bigint', fragment: 'BigInt' },
          { kind: 'function', fragment: 'function' },
          { kind: 'cycle', fragment: 'circular' },
        ] as const;
        for (const { kind, fragment } of cases) {
          const { id } = await client.enqueue(Echo, { kind });
          const dead = await waitForState(client, id, 'dead');
          const message = dead.errors[0]?.message ?? '';
          assert.ok(
            message.includes(`echo#${id} returned a value that cannot be stored as its result`),
            message,
          );
          assert.ok(message.toLowerCase().includes(fragment.toLowerCase()), `${kind}: ${message}`);
        }
      });
    },
  );

  it(
    'a worker keeping no completed jobs stores no result, but the completed event carries it',
    T,
    async () => {
      await withHost({ jobs: [Echo], worker: { maxCompletedJobs: 0 } }, async ({ client, events }) => {
        const recorded = recordEvents(events);
        const { id } = await client.enqueue(Echo, { kind: 'value', value: { n: 1 } });
        const completed = await waitFor(
          () => recorded.find((e) => e.event === 'completed' && e.id === id),
          'the completed event',
        );
        assert.deepEqual(completed.event === 'completed' && completed.result, { n: 1 });
        assert.equal(await client.get(id), undefined, 'the job was deleted as it completed');
      });
    },
  );

  it('maxResultBytes must be a whole number of bytes > 0', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '64k']) {
      expectThrow(
        () => resolveWorkerOptions({ maxResultBytes: bad as number }),
        ErrorCodes.INVALID_OPTION,
        'maxResultBytes',
        String(bad),
      );
    }
    assert.equal(resolveWorkerOptions().maxResultBytes, 65_536);
  });
});

describe('waitFor on SQLite', () => {
  it('resolves with the info and result of a job a worker of this process completes', T, async () => {
    await withHost({ jobs: [Echo] }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'value', value: { answer: 42 } });
      const info = await client.waitFor(id, { timeout: 10_000 });
      assert.equal(info.id, id);
      assert.equal(info.state, 'completed');
      assert.deepEqual(info.result, { answer: 42 });
    });
  });

  it(
    'a client-only host sees a job completed by a worker host on the same file (another store instance)',
    T,
    async () => {
      const path = tempDb();
      await withHosts([{ jobs: [Echo], path, worker: false }], async ([client]) => {
        const { id } = await client!.client.enqueue(Echo, { kind: 'value', value: 'from the other host' });
        const waiting = client!.client.waitFor(id, { timeout: 10_000 });
        // The worker starts only once the wait is under way, so it is the store's signal that ends it.
        const worker = jobHost({ jobs: [Echo], path });
        await worker.host.start();
        try {
          const info = await waiting;
          assert.equal(info.state, 'completed');
          assert.equal(info.result, 'from the other host');
        } finally {
          await worker.host.stop();
        }
      });
    },
  );

  it('works with a store that has neither onSettled nor getMany (a custom store): it polls', T, async () => {
    const path = tempDb();
    let gets = 0;
    // The SQLite store without its optional methods, as a minimal custom store would be.
    const minimal = (store: JobStore): JobStore =>
      new Proxy(store, {
        get(target, key) {
          if (key === 'onSettled' || key === 'getMany') return undefined;
          if (key === 'get') gets++;
          const value = Reflect.get(target, key, target) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    await withHosts([{ jobs: [Echo], path, worker: false, wrapStore: minimal }], async ([client]) => {
      const { id } = await client!.client.enqueue(Echo, { kind: 'value', value: 'polled' });
      const waiting = client!.client.waitFor(id, { timeout: 10_000 });
      const worker = jobHost({ jobs: [Echo], path });
      await worker.host.start();
      try {
        assert.equal((await waiting).result, 'polled');
        assert.ok(gets >= 2, 'read with get, once at the start and again by the poll');
      } finally {
        await worker.host.stop();
      }
    });
  });

  it('many waits in one process resolve together, each with its own job', T, async () => {
    const path = tempDb();
    await withHosts([{ jobs: [Echo], path, worker: false }], async ([client]) => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++)
        ids.push((await client!.client.enqueue(Echo, { kind: 'value', value: i })).id);
      const waits = ids.map((id) => client!.client.waitFor(id, { timeout: 10_000 }));
      const twice = client!.client.waitFor(ids[3]!, { timeout: 10_000 });
      const worker = jobHost({ jobs: [Echo], path });
      await worker.host.start();
      try {
        const infos = await Promise.all(waits);
        infos.forEach((info, i) => {
          assert.equal(info.id, ids[i]);
          assert.equal(info.result, i);
        });
        assert.equal((await twice).result, 3);
      } finally {
        await worker.host.stop();
      }
    });
  });

  it('resolves with state dead for a job that failed its last attempt', T, async () => {
    await withHost({ jobs: [Echo] }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'fail' });
      const info = await client.waitFor(id, { timeout: 10_000 });
      assert.equal(info.state, 'dead');
      assert.equal(info.errors.length, 2);
      assert.equal(info.result, null);
    });
  });

  it('resolves with state cancelled when a pending job is cancelled', T, async () => {
    await withHost({ jobs: [Echo], worker: false }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'nothing' });
      const waiting = client.waitFor(id, { timeout: 10_000 });
      assert.equal(await client.cancel(id), 'cancelled');
      assert.equal((await waiting).state, 'cancelled');
    });
  });

  it('resolves at once for a job already finished', T, async () => {
    await withHost({ jobs: [Echo] }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'value', value: 'x' });
      await waitForState(client, id, 'completed');
      assert.equal((await client.waitFor(id)).result, 'x');
    });
  });

  it('rejects with HW_JOB_WAIT_TIMEOUT naming the job, its state and the timeout', T, async () => {
    await withHost({ jobs: [Echo], worker: false }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'nothing' });
      await expectRejection(
        client.waitFor(id, { timeout: 150 }),
        ErrorCodes.JOB_WAIT_TIMEOUT,
        `echo#${id}`,
        '150 ms',
        "pending in queue 'default'",
      );
      assert.equal((await client.get(id))?.state, 'pending', 'the job itself is unchanged');
    });
  });

  it("rejects with the signal's reason when aborted, before or during the wait", T, async () => {
    await withHost({ jobs: [Echo], worker: false }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'nothing' });
      const reason = new Error('the caller gave up');
      const controller = new AbortController();
      const waiting = client.waitFor(id, { signal: controller.signal });
      controller.abort(reason);
      await assert.rejects(waiting, (error) => error === reason);
      await assert.rejects(
        client.waitFor(id, { signal: AbortSignal.abort(reason) }),
        (error) => error === reason,
      );
    });
  });

  it('rejects with HW_JOB_NOT_FOUND for an unknown id', T, async () => {
    await withHost({ jobs: [Echo], worker: false }, async ({ client }) => {
      await expectRejection(client.waitFor('424242'), ErrorCodes.JOB_NOT_FOUND, "'424242'");
      await expectRejection(client.waitFor('not-an-id'), ErrorCodes.JOB_NOT_FOUND, "'not-an-id'");
    });
  });

  it('rejects with HW_JOB_NOT_FOUND when the job is purged while waited for', T, async () => {
    await withHost({ jobs: [Echo], worker: false }, async ({ client }) => {
      const { id } = await client.enqueue(Echo, { kind: 'nothing' });
      const gone = client.waitFor(id, { timeout: 10_000 });
      await new Promise((resolve) => setImmediate(resolve)); // the wait's first read has seen the job by now
      assert.equal(await client.purge({ state: 'pending' }), 1);
      await expectRejection(gone, ErrorCodes.JOB_NOT_FOUND, `'${id}'`, 'purged');
    });
  });

  it('rejects with HW_HOST_STATE when the host stops (its store closes) during the wait', T, async () => {
    const { host, client } = jobHost({ jobs: [Echo], worker: false });
    await host.start();
    const { id } = await client.enqueue(Echo, { kind: 'nothing' });
    const waiting = client.waitFor(id);
    waiting.catch(() => {}); // awaited below, after the stop
    await host.stop();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      waiting.then(
        () => 'resolved',
        (error: unknown) => error,
      ),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5_000, 'still waiting 5 s after the store closed');
      }),
    ]);
    clearTimeout(timer);
    assert.ok(outcome instanceof Error, String(outcome));
    assert.equal((outcome as { code?: string }).code, ErrorCodes.HOST_STATE, outcome.message);
  });

  it('refuses bad options with HW_INVALID_OPTION', T, async () => {
    await withHost({ jobs: [Echo], worker: false }, async ({ client }) => {
      const bad = ErrorCodes.INVALID_OPTION;
      await expectRejection(
        client.waitFor('1', { timeout: -1 }),
        bad,
        'timeout must be a number of ms',
        '-1',
      );
      await expectRejection(client.waitFor('1', { timeout: 2 ** 31 }), bad, 'timeout must be a number of ms');
      await expectRejection(
        client.waitFor('1', { signal: {} as AbortSignal }),
        bad,
        'signal must be an AbortSignal',
      );
      await expectRejection(
        client.waitFor('1', { timout: 5 } as never),
        ErrorCodes.UNKNOWN_OPTION,
        "'timout'",
      );
    });
  });
});
