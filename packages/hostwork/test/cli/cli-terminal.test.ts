/**
 * What the `hostwork` command does only on a terminal (a spawned child's stdin and stderr are pipes): the purge
 * confirmation and the progress bar of bulk actions. The command runs in this process with terminal stand-ins,
 * against a real SQLite file.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/output.ts';
import { runCli } from '../../src/cli/run-cli.ts';
import type { NewJob } from '../../src/jobs/job-record.ts';
import { sqliteTarget } from './support.ts';

/** A terminal that answers each question with the next of `answers`, recording everything written. */
function terminal(answers: string[] = []) {
  const recorded = { out: '', err: '', questions: [] as string[] };
  const io: CliIo = {
    out: (text) => {
      recorded.out += text;
    },
    err: (text) => {
      recorded.err += text;
    },
    interactive: true,
    errIsTerminal: true,
    ask: async (question) => {
      recorded.questions.push(question);
      return answers.shift() ?? '';
    },
  };
  return { io, recorded };
}

function job(overrides: Partial<NewJob> = {}): NewJob {
  return {
    name: 'tidy',
    queue: 'default',
    payload: '{}',
    priority: 0,
    runAt: Date.now() + 3_600_000,
    maxAttempts: 3,
    timeoutMs: 0,
    uniqueKey: null,
    backoff: null,
    ...overrides,
  };
}

describe('the hostwork command on a terminal', () => {
  it('jobs purge asks first: anything but y keeps the jobs (exit 1), y deletes them', async () => {
    const t = sqliteTarget();
    await using store = t.openStore();
    await store.insert([job(), job(), job({ queue: 'other' })]);

    const declined = terminal(['n']);
    assert.equal(
      await runCli(['jobs', 'purge', '--state', 'pending', '--queue', 'default', ...t.args], {}, declined.io),
      1,
    );
    assert.deepEqual(declined.recorded.questions, ['Purge 2 pending jobs of queue default? [y/N] ']);
    assert.match(declined.recorded.err, /Nothing done\./);
    assert.equal((await store.list({ limit: 10 })).length, 3);

    const accepted = terminal(['y']);
    assert.equal(
      await runCli(['jobs', 'purge', '--state', 'pending', '--queue', 'default', ...t.args], {}, accepted.io),
      0,
    );
    assert.equal(accepted.recorded.out, 'Purged 2 jobs.\n');
    assert.deepEqual(
      (await store.list({ limit: 10 })).map((j) => j.queue),
      ['other'],
    );

    // --yes asks nothing.
    const yes = terminal();
    assert.equal(await runCli(['jobs', 'purge', '--state', 'pending', '--yes', ...t.args], {}, yes.io), 0);
    assert.deepEqual(yes.recorded.questions, []);
  });

  it('jobs cancel of many ids draws a progress bar on stderr, then clears it', async () => {
    const t = sqliteTarget();
    await using store = t.openStore();
    const ids = (await store.insert(Array.from({ length: 25 }, () => job()))).map((r) => r.id);
    const { io, recorded } = terminal();
    assert.equal(await runCli(['jobs', 'cancel', ...ids, ...t.args], {}, io), 0);
    assert.match(recorded.err, /\rCancelling \[#\.{29}\] 1\/25/);
    assert.ok(
      recorded.err.endsWith(`\rCancelling [${'#'.repeat(30)}] 25/25\r\u001b[2K`),
      JSON.stringify(recorded.err),
    );
    assert.equal(
      recorded.out.split('\n').filter((l) => l.endsWith('cancelled (it will not run)')).length,
      25,
    );
    // By filter: asks first, then draws its bar and prints a summary.
    const retry = terminal(['y']);
    assert.equal(await runCli(['jobs', 'retry', '--state', 'cancelled', ...t.args], {}, retry.io), 0);
    assert.deepEqual(retry.recorded.questions, ['Retry 25 cancelled jobs? [y/N] ']);
    assert.match(retry.recorded.err, /\rRetrying \[#{30}\] 25\/25/);
    assert.equal(retry.recorded.out, 'Retried 25 of 25 jobs.\n');
    // --json draws no bar.
    const quiet = terminal();
    await runCli(['jobs', 'cancel', ...ids, ...t.args, '--json'], {}, quiet.io);
    assert.equal(quiet.recorded.err, '');
    assert.equal(JSON.parse(quiet.recorded.out).results.length, 25);
  });
});
