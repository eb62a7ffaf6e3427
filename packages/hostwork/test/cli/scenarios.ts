/**
 * The `hostwork` command's behaviour on a store, registered once per store (SQLite and PostgreSQL): each test runs
 * the real binary against jobs and schedules that a real host with a worker wrote, or checks what a worker does
 * with what the command wrote.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import type { JobInfo } from '../../src/jobs/job-record.ts';
import { defineSchedule } from '../../src/jobs/schedule.ts';
import { assertExit, type CliTarget, hostwork, hostworkJson, startHost, waitFor } from './support.ts';

/** A job as `--json` prints it: times are ISO strings. */
type JobJson = Omit<JobInfo, 'runAt' | 'createdAt' | 'finishedAt' | 'errors'> & {
  runAt: string;
  createdAt: string;
  finishedAt: string | null;
  errors: { attempt: number; at: string; message: string; stack?: string; kind: string }[];
};

const T = { timeout: 90_000 };

const Succeed = defineJob({ name: 'succeed', schema: z.object({ n: z.number() }), handle: () => {} });
const Fail = defineJob({
  name: 'fail',
  schema: z.object({ n: z.number() }),
  maxAttempts: 2,
  backoff: { type: 'fixed', delay: 10 },
  handle: ({ n }) => {
    throw new Error(`boom ${n}`);
  },
});

/** Registers the scenarios; `target()` gives each test a store of its own, not migrated yet. */
export function cliScenarios(target: () => Promise<CliTarget>): void {
  it(
    'migrate status exits 1 on a fresh store without creating it; migrate applies; status then exits 0',
    T,
    async () => {
      const t = await target();
      const pending = await hostwork(['migrate', 'status', ...t.args]);
      assertExit(pending, 1);
      assert.match(pending.out, /Schema version 0, this Hostwork writes \d+: migrations are pending/);
      const pendingJson = JSON.parse((await hostwork(['migrate', 'status', ...t.args, '--json'])).out);
      assert.equal(pendingJson.current, 0);
      assert.equal(pendingJson.state, 'pending');
      // Nothing was created by the status checks: every other command still finds no store.
      const list = await hostwork(['jobs', 'list', ...t.args]);
      assertExit(list, 1);
      assert.match(list.err, t.kind === 'sqlite' ? /No job database at/ : /holds no job store/);

      const migrated = await hostworkJson(['migrate', ...t.args]);
      assert.deepEqual(migrated, { from: 0, to: pendingJson.latest, applied: true });
      const again = await hostwork(['migrate', ...t.args]);
      assertExit(again, 0);
      assert.match(again.out, /Already at schema version \d+; nothing to apply/);
      const current = await hostwork(['migrate', 'status', ...t.args]);
      assertExit(current, 0);
      assert.match(current.out, /up to date/);
      assert.match(current.err, t.kind === 'sqlite' ? /^store: SQLite / : /^store: PostgreSQL /);
      assert.deepEqual(await hostworkJson(['migrate', 'status', ...t.args]), {
        current: pendingJson.latest,
        latest: pendingJson.latest,
        state: 'current',
      });
    },
  );

  it('jobs list, show, retry, cancel, purge and queues on jobs a real worker ran', T, async () => {
    const t = await target();
    const { host, client } = await startHost(t, { jobs: [Succeed, Fail] });
    const done = await Promise.all([1, 2, 3].map((n) => client.enqueue(Succeed, { n })));
    const dead = await client.enqueue(Fail, { n: 7 });
    const later = await Promise.all(
      [1, 2].map((n) => client.enqueue(Succeed, { n }, { queue: 'later', delay: 3_600_000 })),
    );
    await waitFor(async () => (await client.get(dead.id))?.state === 'dead', 'the failing job to go dead');
    await waitFor(
      async () => (await client.list({ state: 'completed' })).length === 3,
      'the three jobs to complete',
    );
    await host.stop();

    // Read-only runs, started together (each is a process of its own).
    const [all, deadOnly, laterOnly, table, shown, text, missing, queues, queueTable] = await Promise.all([
      hostworkJson<{ jobs: JobJson[]; next: string | null }>(['jobs', 'list', ...t.args]),
      hostworkJson<{ jobs: JobJson[] }>(['jobs', 'list', ...t.args, '--state', 'dead']),
      hostworkJson<{ jobs: JobJson[] }>(['jobs', 'list', ...t.args, '--queue', 'later', '--name', 'succeed']),
      hostwork(['jobs', 'list', ...t.args, '--limit', '2']),
      hostworkJson<JobJson>(['jobs', 'show', dead.id, ...t.args]),
      hostwork(['jobs', 'show', dead.id, ...t.args]),
      hostwork(['jobs', 'show', '987654', ...t.args]),
      hostworkJson<{ queues: Record<string, unknown>[] }>(['queues', ...t.args]),
      hostwork(['queues', ...t.args]),
    ]);

    // list: newest first, filters, and paging by --before through every job.
    const ids = [...done, dead, ...later].map((r) => r.id).reverse();
    assert.deepEqual(
      all.jobs.map((j) => j.id),
      ids,
    );
    assert.equal(all.next, null);
    const paged: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 10; page++) {
      const result: { jobs: JobJson[]; next: string | null } = await hostworkJson([
        'jobs',
        'list',
        ...t.args,
        '--limit',
        '4',
        ...(before === null ? [] : ['--before', before]),
      ]);
      paged.push(...result.jobs.map((j) => j.id));
      before = result.next;
      if (before === null) break;
    }
    assert.deepEqual(paged, ids);
    assert.deepEqual(
      deadOnly.jobs.map((j) => [j.id, j.name, j.state]),
      [[dead.id, 'fail', 'dead']],
    );
    assert.deepEqual(laterOnly.jobs.map((j) => j.id).sort(), later.map((r) => r.id).sort());
    assertExit(table, 0);
    const lines = table.out.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      /^ID\s+NAME\s+QUEUE\s+STATE\s+ATTEMPTS\s+PRIORITY\s+RUN AT\s+FINISHED AT\s+LAST ERROR$/,
    );
    assert.equal(lines.length, 4, table.out);
    assert.match(lines[3]!, new RegExp(`^More: add --before ${ids[1]} for the next page\\.$`));

    // show: the dead job with both attempts, their errors and stacks.
    assert.equal(shown.state, 'dead');
    assert.deepEqual(shown.payload, { n: 7 });
    assert.deepEqual(
      shown.errors.map((e) => [e.attempt, e.message, e.kind]),
      [
        [1, 'boom 7', 'error'],
        [2, 'boom 7', 'error'],
      ],
    );
    assert.match(shown.errors[0]!.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(shown.errors[0]!.stack ?? '', /at Object.handle \(.*scenarios.ts/);
    assertExit(text, 0);
    assert.match(text.out, /^state:\s+dead$/m);
    assert.match(text.out, /^attempts:\s+2 of 2$/m);
    assert.match(text.out, /Payload:\n {2}\{\n {4}"n": 7\n {2}\}/);
    assert.match(text.out, /attempt 1 at \S+Z \(error\): boom 7\n\s+at Object.handle \(.*scenarios.ts/);
    assert.match(text.out, /attempt 2 at \S+Z \(error\): boom 7/);
    assertExit(missing, 1);
    assert.match(missing.err, /No job with id 987654/);

    // queues: counts per queue and state.
    assert.deepEqual(queues.queues, [
      { queue: 'default', pending: 0, running: 0, completed: 3, dead: 1, cancelled: 0, total: 4 },
      { queue: 'later', pending: 2, running: 0, completed: 0, dead: 0, cancelled: 0, total: 2 },
    ]);
    assert.match(
      queueTable.out,
      /^QUEUE\s+PENDING\s+RUNNING\s+COMPLETED\s+DEAD\s+CANCELLED\s+TOTAL\ndefault\s+0\s+0\s+3\s+1\s+0\s+4\nlater\s+2\s+0\s+0\s+0\s+0\s+2\n$/,
    );

    // retry: the dead job goes back to pending; a completed one and an unknown id are refused (exit 1).
    const retried = await hostwork(['jobs', 'retry', dead.id, ...t.args]);
    assertExit(retried, 0);
    assert.equal(retried.out, `${dead.id}: retried\n`);
    assert.equal((await hostworkJson<JobJson>(['jobs', 'show', dead.id, ...t.args])).state, 'pending');
    const refused = await hostwork(['jobs', 'retry', done[0]!.id, '987654', ...t.args, '--json']);
    assertExit(refused, 1);
    assert.deepEqual(JSON.parse(refused.out), {
      results: [
        { id: done[0]!.id, outcome: 'not-retryable' },
        { id: '987654', outcome: 'not-found' },
      ],
    });
    const refusedText = await hostwork(['jobs', 'retry', done[0]!.id, ...t.args]);
    assert.match(refusedText.out, /not retried: it is completed \(only dead or cancelled jobs are retried\)/);

    // cancel: a pending job is cancelled; a finished one is reported and exits 1.
    const cancelled = await hostworkJson(['jobs', 'cancel', later[0]!.id, ...t.args]);
    assert.deepEqual(cancelled, { results: [{ id: later[0]!.id, outcome: 'cancelled' }] });
    const finished = await hostwork(['jobs', 'cancel', done[1]!.id, ...t.args]);
    assertExit(finished, 1);
    assert.match(finished.out, /not cancelled: it had already finished/);

    // purge: refused without --yes when stdin is no terminal, and for running jobs; then deletes by filter.
    const [unconfirmed, running, noState] = await Promise.all([
      hostwork(['jobs', 'purge', '--state', 'completed', ...t.args]),
      hostwork(['jobs', 'purge', '--state', 'running', '--yes', ...t.args]),
      hostwork(['jobs', 'purge', '--yes', ...t.args]),
    ]);
    assertExit(unconfirmed, 2);
    assert.match(unconfirmed.err, /add --yes/);
    assertExit(running, 2);
    assert.match(running.err, /--state must be one of pending, completed, dead, cancelled/);
    assertExit(noState, 2);
    assert.match(noState.err, /needs --state/);
    assert.equal(
      (await hostworkJson<{ jobs: unknown[] }>(['jobs', 'list', ...t.args, '--state', 'completed'])).jobs
        .length,
      3,
    );
    assert.deepEqual(await hostworkJson(['jobs', 'purge', '--state', 'completed', '--yes', ...t.args]), {
      purged: 3,
    });
    const purgedText = await hostwork([
      'jobs',
      'purge',
      '--state',
      'cancelled',
      '--queue',
      'later',
      '--yes',
      ...t.args,
    ]);
    assertExit(purgedText, 0);
    assert.equal(purgedText.out, 'Purged 1 job.\n');
    const nothing = await hostwork(['jobs', 'purge', '--state', 'dead', '--yes', ...t.args]);
    assert.equal(nothing.out, 'Nothing to purge: no dead jobs.\n');
    const left = await hostworkJson<{ jobs: JobJson[] }>(['jobs', 'list', ...t.args]);
    assert.deepEqual(left.jobs.map((j) => j.id).sort(), [dead.id, later[1]!.id].sort());

    // retry and cancel by filter: every matching job, with --yes when there is no terminal.
    const [unconfirmedCancel, both, wrongState] = await Promise.all([
      hostwork(['jobs', 'cancel', '--state', 'pending', '--queue', 'later', ...t.args]),
      hostwork(['jobs', 'retry', dead.id, '--state', 'dead', ...t.args]),
      hostwork(['jobs', 'retry', '--state', 'pending', '--yes', ...t.args]),
    ]);
    assertExit(unconfirmedCancel, 2);
    assert.match(unconfirmedCancel.err, /acts on every matching job: add --yes/);
    assertExit(both, 2);
    assert.match(both.err, /takes job ids or --state \(with --queue, --name\), not both/);
    assertExit(wrongState, 2);
    assert.match(wrongState.err, /--state must be one of dead, cancelled/);
    const cancelledAll = await hostwork(['jobs', 'cancel', '--state', 'pending', '--yes', ...t.args]);
    assertExit(cancelledAll, 0);
    assert.equal(cancelledAll.out, 'Cancelled 2 of 2 jobs.\n');
    assert.deepEqual(
      await hostworkJson(['jobs', 'retry', '--state', 'cancelled', '--queue', 'later', '--yes', ...t.args]),
      { results: [{ id: later[1]!.id, outcome: 'retried' }] },
    );
    const states = await hostworkJson<{ jobs: JobJson[] }>(['jobs', 'list', ...t.args]);
    assert.deepEqual(Object.fromEntries(states.jobs.map((j) => [j.id, j.state])), {
      [dead.id]: 'cancelled',
      [later[1]!.id]: 'pending',
    });
  });

  it('schedules list, pause and resume the schedules a host stored', T, async () => {
    const t = await target();
    const Report = defineJob({ name: 'report', schema: z.object({}), handle: () => {} });
    const { host } = await startHost(t, {
      jobs: [Report],
      schedules: [
        defineSchedule({
          name: 'yearly-report',
          cron: '0 0 1 1 *',
          timezone: 'Europe/Paris',
          job: Report,
          payload: {},
        }),
        defineSchedule({ name: 'daily-report', cron: '0 3 * * *', job: Report, payload: {} }),
      ],
    });
    await host.stop();
    type Schedules = {
      schedules: {
        name: string;
        cron: string;
        timezone: string | null;
        paused: boolean;
        nextRunAt: string | null;
      }[];
    };
    const listed = await hostworkJson<Schedules>(['schedules', 'list', ...t.args]);
    assert.deepEqual(
      listed.schedules.map((s) => [s.name, s.cron, s.timezone, s.paused]),
      [
        ['daily-report', '0 3 * * *', null, false],
        ['yearly-report', '0 0 1 1 *', 'Europe/Paris', false],
      ],
    );
    assert.ok(Date.parse(listed.schedules[1]!.nextRunAt!) > Date.now());

    const paused = await hostwork(['schedules', 'pause', 'yearly-report', ...t.args]);
    assertExit(paused, 0);
    assert.equal(paused.out, 'yearly-report: paused\n');
    const table = await hostwork(['schedules', 'list', ...t.args]);
    assert.match(table.out, /^NAME\s+CRON\s+TIMEZONE\s+STATE\s+NEXT RUN\s+LAST RUN$/m);
    assert.match(table.out, /^yearly-report\s+0 0 1 1 \*\s+Europe\/Paris\s+paused\s+-\s+-$/m);
    assert.match(table.out, /^daily-report\s+0 3 \* \* \*\s+-\s+active\s+\S+Z\s+-$/m);

    const resumed = await hostworkJson<{ results: { name: string; outcome: string; nextRunAt: string }[] }>([
      'schedules',
      'resume',
      'yearly-report',
      ...t.args,
    ]);
    assert.equal(resumed.results[0]!.outcome, 'resumed');
    // The next 1 January, midnight in Paris (23:00 or 22:00 UTC the day before).
    assert.match(resumed.results[0]!.nextRunAt, /^\d{4}-12-31T2[23]:00:00\.000Z$/);
    const after = await hostworkJson<Schedules>(['schedules', 'list', ...t.args]);
    assert.equal(after.schedules[1]!.paused, false);
    assert.equal(after.schedules[1]!.nextRunAt, resumed.results[0]!.nextRunAt);

    const unknown = await hostwork(['schedules', 'pause', 'nope', ...t.args]);
    assertExit(unknown, 1);
    assert.match(unknown.out, /nope: not found \(stored schedules: daily-report, yearly-report\)/);
  });

  it(
    'enqueue stores a job a real worker runs; a payload the schema refuses ends dead; a unique key dedupes',
    T,
    async () => {
      const t = await target();
      assertExit(await hostwork(['migrate', ...t.args]), 0);
      const seen: unknown[] = [];
      const Echo = defineJob({
        name: 'echo',
        schema: z.object({ text: z.string() }),
        handle: (payload) => {
          seen.push(payload);
        },
      });
      const enqueued = await hostworkJson<{ id: string; outcome: string; queue: string }>([
        'enqueue',
        'echo',
        '--payload',
        '{"text":"from the command line"}',
        '--queue',
        'cli',
        '--priority',
        '5',
        '--max-attempts',
        '3',
        '--unique-key',
        'echo-1',
        ...t.args,
      ]);
      assert.equal(enqueued.outcome, 'inserted');
      assert.equal(enqueued.queue, 'cli');
      const duplicate = await hostwork([
        'enqueue',
        'echo',
        '--payload',
        '{"text":"again"}',
        '--queue',
        'cli',
        '--unique-key',
        'echo-1',
        ...t.args,
      ]);
      assertExit(duplicate, 0);
      assert.equal(
        duplicate.out,
        `Not enqueued: job ${enqueued.id} is pending or running with unique key "echo-1".\n`,
      );
      const bad = await hostwork([
        'enqueue',
        'echo',
        '--payload',
        '{"text":5}',
        '--queue',
        'cli',
        '--max-attempts',
        '1',
        ...t.args,
      ]);
      assertExit(bad, 0);
      const badId = /^Enqueued job (\d+) \(echo\) in queue cli, to run at \S+Z\.$/m.exec(bad.out)?.[1];
      assert.ok(badId, bad.out);
      const stored = await hostworkJson<JobJson>(['jobs', 'show', enqueued.id, ...t.args]);
      assert.deepEqual(
        [stored.state, stored.priority, stored.maxAttempts, stored.uniqueKey, stored.payload],
        ['pending', 5, 3, 'echo-1', { text: 'from the command line' }],
      );

      const { host, client } = await startHost(t, { jobs: [Echo], queues: ['cli'] });
      await waitFor(
        async () => (await client.get(enqueued.id))?.state === 'completed',
        'the enqueued job to complete',
      );
      assert.deepEqual(seen, [{ text: 'from the command line' }]);
      const refused = await waitFor(async () => {
        const job = await client.get(badId);
        return job?.state === 'dead' ? job : undefined;
      }, 'the job with a bad payload to go dead');
      assert.match(refused.errors[0]!.message, /text/);
      await host.stop();
    },
  );

  it(
    'dashboard index-payloads creates and drops the payload index on PostgreSQL, and explains SQLite',
    T,
    async () => {
      const t = await target();
      assertExit(await hostwork(['migrate', ...t.args]), 0);
      if (t.kind === 'sqlite') {
        const refused = await hostwork(['dashboard', 'index-payloads', ...t.args]);
        assertExit(refused, 2);
        assert.match(refused.err, /sqlite store has no index for every payload field/);
        return;
      }
      const created = await hostworkJson<{ indexed: boolean }>(['dashboard', 'index-payloads', ...t.args]);
      assert.equal(created.indexed, true);
      const store = t.openStore();
      try {
        assert.equal(await store.payloadFilterIndexed?.(), true);
        const again = await hostwork(['dashboard', 'index-payloads', ...t.args]);
        assertExit(again, 0);
        assert.match(again.out, /The payload index is in place/);
        const dropped = await hostworkJson<{ indexed: boolean }>([
          'dashboard',
          'index-payloads',
          '--drop',
          ...t.args,
        ]);
        assert.equal(dropped.indexed, false);
        assert.equal(await store.payloadFilterIndexed?.(), false);
      } finally {
        await store.close();
      }
    },
  );
}
