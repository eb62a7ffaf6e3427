/**
 * Queues no worker consumes: a worker warns at start of each definition whose queue it does not consume, and a
 * client warns once per queue when it enqueues to a queue no live worker (in any process) consumes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { HostBuilder } from '../../src/hosting/index.ts';
import { defineJobContract } from '../../src/jobs/job-contract.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { JobStore } from '../../src/jobs/job-store.ts';
import { QueueConsumers } from '../../src/jobs/queue-consumers.ts';
import { LoggerFactory } from '../../src/logging/logger-factory.ts';
import { type LogCapture, T, tempDb, waitFor, waitForState, withHosts } from './helpers.ts';

const Email = defineJob({ name: 'email', schema: z.object({}), queue: 'emails', handle() {} });
const Report = defineJobContract({ name: 'report', schema: z.object({}), queue: 'reports' });
const Ping = defineJob({ name: 'ping', schema: z.object({}), handle() {} });

/** Replaces the client's check with one whose grace period suits a test. */
function shortGrace(local: readonly string[] = []): (builder: HostBuilder) => void {
  return (builder) => {
    builder.services.addSingleton(QueueConsumers, {
      factory: (p) =>
        new QueueConsumers(p.get(JobStore), p.get(LoggerFactory).create('Hostwork.Jobs.Client'), local, {
          graceMs: 150,
        }),
      deps: [JobStore, LoggerFactory],
    });
  };
}

const warningsOf = (logs: LogCapture, fragment: string) =>
  logs.lines.filter((l) => l.level === 40 && l.msg.includes(fragment));

describe('queues no worker consumes', () => {
  it('a worker warns once at start of each definition whose queue it does not consume', T, async () => {
    await withHosts([{ jobs: [Email, Report, Ping] }], async ([h]) => {
      const warnings = h!.logs.lines.filter((l) => l.level === 40 && l.category === 'Hostwork.Jobs.Worker');
      assert.deepEqual(
        warnings.map((l) => l.msg),
        [
          "Job 'email' goes to queue 'emails', which this worker does not consume (it consumes: default). Its jobs wait for a worker of 'emails'. Fix: add 'emails' to worker.queues, or run a worker for it.",
        ],
        'the contract of report is for another process: no warning',
      );
      assert.equal(warnings[0]!.queue, 'emails');
    });
  });

  it('a client warns once per queue that no live worker of any process consumes', T, async () => {
    const path = tempDb();
    await withHosts(
      [
        { path, jobs: [Email], worker: { queues: { emails: { concurrency: 1 } } } },
        { path, jobs: [Email, Report, Ping], worker: false, configure: shortGrace() },
      ],
      async ([worker, producer]) => {
        const client = producer!.client;
        // The worker has announced itself (in the background of its start), so 'emails' has a consumer.
        await waitFor(
          async () => (await client.store.liveQueues!(Date.now())).includes('emails'),
          'the announcement',
        );
        const email = await client.enqueue(Email, {});
        await client.enqueue(Report, {});
        await client.enqueue(Report, {});
        const reports = await waitFor(
          () => warningsOf(producer!.logs, "queue 'reports'")[0],
          'the warning about reports',
        );
        assert.equal(reports.category, 'Hostwork.Jobs.Client');
        assert.equal(reports.queue, 'reports');
        assert.deepEqual(reports.liveQueues, ['emails']);
        assert.match(reports.msg, /add 'reports' to worker\.queues/);
        await waitForState(client, email.id, 'completed');
        // Once per queue: more enqueues to it do not warn again; a third queue does warn (after the same grace).
        await client.enqueue(Report, {});
        await client.enqueue(Ping, {});
        await waitFor(() => warningsOf(producer!.logs, "queue 'default'")[0], 'the warning about default');
        assert.equal(warningsOf(producer!.logs, "queue 'reports'").length, 1);
        assert.equal(warningsOf(producer!.logs, "queue 'emails'").length, 0, 'emails has a worker');
        assert.equal(worker!.logs.lines.filter((l) => l.msg.includes('no running worker')).length, 0);
        // A worker that stops withdraws its announcement at once, not when it expires.
        await worker!.host.stop();
        assert.deepEqual(await client.store.liveQueues!(Date.now()), []);
      },
    );
  });

  it("a queue the process's own worker consumes is never checked", T, async () => {
    let asked = 0;
    await withHosts(
      [
        {
          jobs: [Email],
          worker: { queues: { emails: { concurrency: 1 } } },
          wrapStore: (store) =>
            new Proxy(store, {
              get(target, key) {
                if (key === 'liveQueues') {
                  return (now: number) => {
                    asked++;
                    return target.liveQueues!(now);
                  };
                }
                const value = Reflect.get(target, key, target);
                return typeof value === 'function' ? value.bind(target) : value;
              },
            }),
        },
      ],
      async ([h]) => {
        const { id } = await h!.client.enqueue(Email, {});
        await waitForState(h!.client, id, 'completed');
        assert.equal(asked, 0);
      },
    );
  });
});
