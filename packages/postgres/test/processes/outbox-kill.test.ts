/**
 * The outbox relay SIGKILLed mid-batch (a real child process): a relay in another process takes over once the dead
 * one's lease runs out; nothing is lost, each key's messages are first published in append order, and the duplicates
 * (the dead relay's unconfirmed part of one batch) carry the same ids and number at most one batch.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { addJobs, addMessaging, createHostBuilder, type OutboxMessage } from 'hostwork';
import { DATABASE_URL, describeWithDatabase, dropSchema, freshSchemaName } from '../support/database.ts';
import { testStore } from '../support/factory.ts';
import { waitUntil } from '../support/stores.ts';
import { fileTransport } from './fixtures/file-transport.ts';

interface Line {
  readonly id: string;
  readonly key: string | null;
  readonly by: string;
}

async function lines(path: string): Promise<Line[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

await describeWithDatabase('the outbox relay killed mid-batch (PostgreSQL)', () => {
  it('another relay takes over: nothing lost, each key in order, duplicates bounded with the same ids', {
    timeout: 60_000,
  }, async () => {
    const schema = freshSchemaName();
    const dir = await mkdtemp(join(tmpdir(), 'hostwork-outbox-kill-'));
    const file = join(dir, 'broker.jsonl');
    const store = testStore(schema);
    const BATCH = 20;
    let child: ReturnType<typeof spawn> | undefined;
    try {
      await store.migrate();
      const appended: OutboxMessage[] = Array.from({ length: 120 }, (_, i) => ({
        id: `m-${String(i).padStart(3, '0')}`,
        transport: 'file',
        destination: '{"name":"orders"}',
        key: `k${i % 5}`,
        headers: '{}',
        body: new TextEncoder().encode('{}'),
        delayMs: 0,
        createdAt: Date.now(),
      }));
      await store.appendOutbox(appended);

      child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'outbox-relay.ts')], {
        env: {
          ...process.env,
          NODE_OPTIONS: '--conditions=hostwork-source',
          DATABASE_URL,
          HW_SCHEMA: schema,
          HW_FILE: file,
          HW_BATCH: String(BATCH),
          HW_LEASE_MS: '1000',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      // Kill it in the middle of a batch: after 30 messages (the second batch has started), mid-publish.
      await waitUntil(
        async () => (await lines(file)).length >= 30,
        'the child relay to publish 30 messages',
        30_000,
      );
      child.kill('SIGKILL');
      await new Promise((resolve) => child!.once('exit', resolve));
      const byChild = (await lines(file)).length;
      assert.ok(byChild < appended.length, 'killed before it finished');

      const builder = createHostBuilder({ args: [], env: {}, logging: { level: 'warn', pretty: false } });
      addJobs(builder, { jobs: [], store: testStore(schema), worker: false });
      addMessaging(builder, {
        transports: { file: fileTransport(file, 'taker', 0) },
        outbox: { batchSize: BATCH, leaseMs: 1_000, pollIntervalMs: 50 },
      });
      const host = builder.build();
      await host.start();
      try {
        await waitUntil(async () => (await store.countOutbox()).unsent === 0, 'every message sent', 30_000);
      } finally {
        await host.stop();
      }

      const published = await lines(file);
      assert.deepEqual(
        new Set(published.map((l) => l.id)),
        new Set(appended.map((m) => m.id)),
        'nothing lost',
      );
      for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) {
        const firsts = [...new Set(published.filter((l) => l.key === key).map((l) => l.id))];
        assert.deepEqual(
          firsts,
          appended.filter((m) => m.key === key).map((m) => m.id),
          `${key} in order`,
        );
      }
      const duplicates = published.length - appended.length;
      assert.ok(duplicates >= 1, 'the killed relay left an unconfirmed part of a batch, published again');
      assert.ok(duplicates <= BATCH, `at most one batch published twice, got ${duplicates}`);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await store.close();
      await dropSchema(schema);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
