/**
 * A message that kills its consumer process every time it is handled (process.exit, SIGKILL) is not delivered for
 * ever: each consumer that claims it after the dead one's lease ran out counts the attempt that died as failed, and
 * once `maxAttempts` are used up the message goes to the dead-letter stream, with an error saying the consumer died
 * while handling it. Real consumer processes (support/crashing-consumer.ts) on the shared server, one after another.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { redisTransport } from '@hostwork/redis';
import { ATTEMPT_HEADER, DEAD_LETTER_HEADERS, type DeliveryError } from 'hostwork';
import { publishItems } from '../../../hostwork/test/transport-conformance/harness.ts';
import type { CrashingConsumerSpec } from '../support/crashing-consumer.ts';
import {
  deleteStreamKeys,
  describeWithRedis,
  freshStream,
  pendingCount,
  REDIS_URL,
  readStream,
  scheduledCount,
  waitFor,
} from '../support/server.ts';

const LEASE_MS = 1_000;
const MAX_ATTEMPTS = 3;

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

/** Starts a consumer process; resolves to it and its exit (code, signal). */
function consumerProcess(spec: CrashingConsumerSpec): {
  child: ChildProcess;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  stderr: () => string;
} {
  const child = spawn(
    process.execPath,
    [
      '--conditions=hostwork-source',
      fileURLToPath(new URL('../support/crashing-consumer.ts', import.meta.url)),
      JSON.stringify(spec),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, stderr: () => stderr };
}

await describeWithRedis('a message that kills its consumer process (Redis)', () => {
  it(`is dead-lettered after ${MAX_ATTEMPTS} consumer deaths, not delivered for ever`, {
    timeout: 120_000,
  }, async () => {
    const stream = freshStream('hw-poison-crash');
    const dir = await mkdtemp(join(tmpdir(), 'hostwork-poison-'));
    const file = join(dir, 'consumers.log');
    await writeFile(file, '');
    const publisher = redisTransport({ url: REDIS_URL, onWarning: () => {} });
    try {
      // The killer first, then three ordinary messages.
      await publishItems(publisher, { name: stream }, [0, 1, 2, 3]);
      const lines = async () => (await readFile(file, 'utf8')).split('\n').filter(Boolean);
      const spec = (crash: CrashingConsumerSpec['crash']): CrashingConsumerSpec => ({
        url: REDIS_URL,
        stream,
        leaseMs: LEASE_MS,
        maxAttempts: MAX_ATTEMPTS,
        file,
        crash,
      });

      // Three processes, each dying while handling attempt 1, 2, 3 of the killer (the first by exit, the others by
      // SIGKILL). Each next one claims it once the dead one's lease ran out, counting the attempt that died.
      const deaths: Array<[number | null, NodeJS.Signals | null]> = [];
      for (const crash of ['exit', 'sigkill', 'sigkill'] as const) {
        const run = consumerProcess(spec(crash));
        const outcome = await Promise.race([
          run.exited,
          new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 30_000)),
        ]);
        assert.notEqual(
          outcome,
          'timeout',
          `a consumer process did not die within 30 s (stderr: ${run.stderr()})`,
        );
        deaths.push(outcome as [number | null, NodeJS.Signals | null]);
      }
      assert.deepEqual(deaths, [
        [1, null],
        [null, 'SIGKILL'],
        [null, 'SIGKILL'],
      ]);

      // A fourth process finds the killer with its attempts used up: dead-lettered without running it.
      const last = consumerProcess(spec('sigkill'));
      await waitFor('the dead letter', async () => (await readStream(`${stream}:dead`)).length === 1, 30_000);
      await waitFor(
        'the ordinary messages handled',
        async () => (await lines()).filter((l) => l.startsWith('done ')).length === 3,
      );
      // Two more leases: the killer does not come back.
      await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS + 500));
      assert.equal(
        last.child.exitCode,
        null,
        `the fourth consumer process is alive (stderr: ${last.stderr()})`,
      );
      assert.equal(last.child.signalCode, null);

      const log = await lines();
      assert.deepEqual(
        log.filter((l) => l.startsWith('start m-0 ')),
        ['start m-0 1', 'start m-0 2', 'start m-0 3'],
        'the killer ran once per attempt, never past the last',
      );
      assert.deepEqual(
        log.filter((l) => l.startsWith('done ')).sort(),
        ['done m-1 1', 'done m-2 1', 'done m-3 1'],
        'the other messages ran once each, their attempt not touched',
      );

      const [dead] = await readStream(`${stream}:dead`);
      assert.ok(dead);
      assert.equal(dead.id, 'm-0');
      assert.deepEqual(JSON.parse(Buffer.from(dead.body).toString()), { n: 0 });
      assert.equal(dead.headers[DEAD_LETTER_HEADERS.reason], 'attempts-exhausted');
      assert.match(
        dead.headers[DEAD_LETTER_HEADERS.error]!,
        /^The consumer died while handling it: consumer '.+' held it past its lease of 1000 ms/,
      );
      assert.equal(dead.headers[ATTEMPT_HEADER], String(MAX_ATTEMPTS));
      const history = JSON.parse(dead.headers[DEAD_LETTER_HEADERS.history]!) as DeliveryError[];
      assert.deepEqual(
        history.map((e) => [e.attempt, e.name]),
        [
          [1, 'ConsumerLost'],
          [2, 'ConsumerLost'],
          [3, 'ConsumerLost'],
        ],
      );
      // Each attempt died with a different consumer, each named.
      const owners = history.map((e) => /consumer '([^']+)'/.exec(e.message)?.[1]);
      assert.equal(new Set(owners).size, 3, `three consumers named: ${owners.join(', ')}`);

      assert.equal(await pendingCount(stream), 0, 'nothing left pending');
      assert.equal(await scheduledCount(`${stream}:scheduled`), 0);
      last.child.kill('SIGTERM');
      await last.exited;
    } finally {
      await publisher.close();
      await deleteStreamKeys(stream);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
