/**
 * The store's warnings in a host go through the host's logger: one structured line per warning, category
 * `Hostwork.Postgres`, with the warning's fields. Outside a host, with no onWarning, they still reach
 * process.emitWarning.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { addJobs, createHostBuilder, defineJob, JobClient } from 'hostwork';
import { z } from 'zod';
import { describeWithDatabase } from './support/database.ts';
import { useSchemas, waitUntil } from './support/stores.ts';

const Noop = defineJob({ name: 'noop', schema: z.object({}), handle() {} });

/** Keeps every JSON line pino writes, parsed. */
function capture(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      const parts = (partial + String(chunk)).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Record<string, unknown>);
      done();
    },
  });
  return { stream, lines };
}

await describeWithDatabase('store warnings through the logger (PostgreSQL)', () => {
  const stores = useSchemas();

  it("a query waiting for a connection is one structured line of the host's logger", async () => {
    const logs = capture();
    const builder = createHostBuilder({
      env: {},
      args: [],
      logging: { destination: logs.stream, level: 'info', pretty: false },
    });
    // No onWarning: the host's logger receives the warnings.
    const store = stores.fresh({ onWarning: undefined, poolSize: 1, slowQueryWarningMs: 100 });
    addJobs(builder, { jobs: [Noop], store, worker: false });
    const host = builder.build();
    await host.start();
    try {
      const client = host.services.get(JobClient);
      await client.counts(); // migrated
      const held = await store.pool.connect();
      let counting: Promise<unknown>;
      try {
        counting = client.counts();
        const line = await waitUntil(
          () => logs.lines.find((l) => l.warning === 'pool-wait'),
          'the pool-wait warning in the logs',
        );
        assert.equal(line.category, 'Hostwork.Postgres');
        assert.equal(line.level, 40, 'warn');
        assert.equal(line.schema, store.schema);
        assert.equal(line.query, 'counts');
        assert.equal(line.poolMax, 1);
        assert.equal(line.poolWaiting, 1);
        assert.equal(typeof line.waitedMs, 'number');
        assert.match(String(line.msg), /counts has waited \d+\.\d s for a pool connection/);
      } finally {
        held.release();
      }
      await counting;
    } finally {
      await host.stop();
    }
  });

  it('outside a host, with no onWarning, a warning reaches process.emitWarning', async () => {
    const seen: Error[] = [];
    const listener = (warning: Error) => {
      if (warning.name === 'HostworkPostgresWarning') seen.push(warning);
    };
    process.on('warning', listener);
    try {
      const store = stores.fresh({ onWarning: undefined, poolSize: 1, slowQueryWarningMs: 100 });
      await store.migrate();
      const held = await store.pool.connect();
      let counting: Promise<unknown>;
      try {
        counting = store.counts();
        await waitUntil(
          () => seen.find((w) => w.message.includes('counts has waited')),
          'the process warning',
        );
      } finally {
        held.release();
      }
      await counting;
    } finally {
      process.off('warning', listener);
    }
  });
});
