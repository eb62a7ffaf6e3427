/**
 * Job contracts: a producer enqueues a contract (name, schema, defaults) without the handler's code; a worker
 * implements it with defineJob(contract, handle). The `@ts-expect-error` lines are checked by `tsc -p tsconfig.json`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { defineJobContract, type JobContract } from '../../src/jobs/job-contract.ts';
import { defineJob, type JobDefinition } from '../../src/jobs/job-definition.ts';
import { defineSchedule } from '../../src/jobs/schedule.ts';
import { Welcome } from './fixtures/contracts.ts';
import { received, WelcomeJob } from './fixtures/welcome-handler.ts';
import {
  expectRejection,
  expectThrow,
  jobHost,
  T,
  tempDb,
  waitFor,
  waitForState,
  withHosts,
} from './helpers.ts';

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(_proof?: T): void => {};

// The contract is typed by its schema: input for producers, output for the handler.
assertType<
  Equal<
    typeof Welcome,
    JobContract<{ to: string; subject?: string | undefined }, { to: string; subject: string }>
  >
>();
assertType<
  Equal<
    typeof WelcomeJob,
    JobDefinition<{ to: string; subject?: string | undefined }, { to: string; subject: string }>
  >
>();
defineJob(Welcome, (payload) => {
  const subject: string = payload.subject;
  // @ts-expect-error: the payload has no such field
  void payload.body;
  return subject;
});

describe('job contracts', () => {
  it(
    'a producer-only host enqueues a contract; a worker host implementing it runs the stored output',
    T,
    async () => {
      received.length = 0;
      const path = tempDb();
      await withHosts(
        [
          { path, jobs: [Welcome], worker: false },
          { path, jobs: [WelcomeJob], worker: { queues: { emails: { concurrency: 2 } } } },
        ],
        async ([producer, worker]) => {
          const { id } = await producer!.client.enqueue(Welcome, { to: '  a@example.com ' });
          const many = await producer!.client.enqueueMany(Welcome, [
            { payload: { to: 'b@example.com', subject: 'Hi' } },
          ]);
          await expectRejection(
            // @ts-expect-error: `to` must be a string
            producer!.client.enqueue(Welcome, { to: 42 }),
            ErrorCodes.JOB_INVALID_PAYLOAD,
            'to',
          );
          const done = await waitForState(producer!.client, id, 'completed');
          await waitForState(producer!.client, many[0]!.id, 'completed');
          assert.equal(done.queue, 'emails', "the contract's default queue");
          assert.equal(done.maxAttempts, 3, "the contract's default attempts");
          // The schema's output was stored (trimmed, default filled in), and that is what the handler received.
          assert.deepEqual(done.payload, { to: 'a@example.com', subject: 'Welcome' });
          assert.deepEqual(
            [...received].sort((a, b) => a.to.localeCompare(b.to)),
            [
              { to: 'a@example.com', subject: 'Welcome' },
              { to: 'b@example.com', subject: 'Hi' },
            ],
          );
          assert.ok(worker!.logs.find('welcome sent'));
        },
      );
    },
  );

  it('one process may register a contract with its implementation, and enqueue either', T, async () => {
    await withHosts(
      [{ jobs: [Welcome, WelcomeJob], worker: { queues: { emails: { concurrency: 1 } } } }],
      async ([h]) => {
        const a = await h!.client.enqueue(Welcome, { to: 'c@example.com' });
        const b = await h!.client.enqueue(WelcomeJob, { to: 'd@example.com' });
        await waitForState(h!.client, a.id, 'completed');
        await waitForState(h!.client, b.id, 'completed');
      },
    );
  });

  it('schedules may reference a contract whose handler is registered', () => {
    const daily = defineSchedule({
      name: 'daily-welcome',
      cron: '0 9 * * *',
      job: Welcome,
      payload: { to: 'e@example.com' },
    });
    const { client } = jobHost({
      jobs: [WelcomeJob],
      schedules: [daily],
      worker: { queues: { emails: { concurrency: 1 } } },
    });
    assert.ok(client);
    // @ts-expect-error: the payload must match the contract's schema input
    defineSchedule({ name: 'bad', cron: '0 9 * * *', job: Welcome, payload: { to: 1 } });
  });

  it('refuses a worker consuming the queue of a job it has only the contract of, naming both fixes', () => {
    const builder = () => createHostBuilder({ env: {}, args: [], logging: { level: 'silent' } });
    expectThrow(
      () => addJobs(builder(), { jobs: [Welcome], worker: { queues: { emails: { concurrency: 1 } } } }),
      ErrorCodes.JOB_HANDLER_MISSING,
      'defineJob(contract, handle)',
    );
    // A worker of other queues may enqueue it for the workers of 'emails'.
    addJobs(builder(), { jobs: [Welcome], worker: { queues: { default: { concurrency: 1 } } } });
  });

  it(
    'a claimed job with only a contract here ends dead with the reason, logged, never looping',
    T,
    async () => {
      await withHosts(
        [{ jobs: [Welcome], worker: { queues: { default: { concurrency: 1 } } } }],
        async ([h]) => {
          // Sent to a queue this worker consumes, against the contract's default: nothing here can run it.
          const { id } = await h!.client.enqueue(Welcome, { to: 'f@example.com' }, { queue: 'default' });
          const dead = await waitForState(h!.client, id, 'dead');
          assert.equal(dead.attempt, 1);
          assert.match(dead.errors[0]!.message, /only a contract in this worker/);
          await waitFor(() => h!.logs.find('only a contract'), 'the error line');
        },
      );
    },
  );

  it('refuses misuse, naming the fix', async () => {
    const Other = defineJobContract({ name: 'welcome', schema: z.object({ to: z.string() }) });
    const builder = () => createHostBuilder({ env: {}, args: [], logging: { level: 'silent' } });
    expectThrow(
      () => addJobs(builder(), { jobs: [Welcome, Other], worker: false }),
      ErrorCodes.JOB_NOT_REGISTERED,
      "'welcome'",
    );
    const Second = defineJob(Welcome, () => {});
    expectThrow(
      () => addJobs(builder(), { jobs: [WelcomeJob, Second] }),
      ErrorCodes.JOB_NOT_REGISTERED,
      'Two handlers',
    );
    expectThrow(() => defineJob({ ...Welcome, handle() {} }), ErrorCodes.INVALID_OPTION, 'second argument');
    expectThrow(() => defineJob(WelcomeJob, () => {}), ErrorCodes.INVALID_OPTION, 'already a job definition');
    expectThrow(
      // @ts-expect-error: a contract has no handler
      () => defineJobContract({ name: 'x', schema: z.object({}), handle() {} }),
      ErrorCodes.INVALID_OPTION,
      'no handler',
    );
    expectThrow(
      // @ts-expect-error: not an option of a contract
      () => defineJobContract({ name: 'x', schema: z.object({}), retries: 1 }),
      ErrorCodes.UNKNOWN_OPTION,
      'retries',
    );
    expectThrow(
      () => defineJobContract({ name: 'x', schema: z.object({}), maxAttempts: 0 }),
      ErrorCodes.INVALID_OPTION,
      'maxAttempts',
    );
    // A producer enqueueing a contract of the same name that is not the registered one is refused.
    const { client } = jobHost({ jobs: [Welcome], worker: false });
    await expectRejection(client.enqueue(Other, { to: 'x' }), ErrorCodes.JOB_NOT_REGISTERED, 'different');
  });
});
