/**
 * What a handler hands to the engine, on a real PostgreSQL server: text PostgreSQL refuses (a NUL character, a lone
 * surrogate) in a thrown error is stored readable instead of making the outcome unwritable, and a progress value
 * with such text is stored as it is (escaped JSON).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { addJobs, createHostBuilder, defineJob, JobClient } from 'hostwork';
import { z } from 'zod';
import { describeWithDatabase } from './support/database.ts';
import { useSchemas, waitUntil } from './support/stores.ts';

describeWithDatabase('handler values on PostgreSQL', () => {
  const stores = useSchemas();

  it('settles an attempt whose error holds a NUL and a lone surrogate, and stores such a progress value', async () => {
    const refused: unknown[] = [];
    const Nasty = defineJob({
      name: 'nasty',
      schema: z.object({}),
      maxAttempts: 3,
      backoff: { type: 'fixed', delay: 60_000 },
      handle(_payload, ctx) {
        try {
          ctx.progress({ note: 'a\u0000b \ud800' });
        } catch (error) {
          refused.push(error);
        }
        throw new Error('bad\u0000byte \ud800');
      },
    });
    const builder = createHostBuilder({
      env: {},
      args: [],
      logging: {
        destination: new Writable({ write: (_c, _e, done) => done() }),
        level: 'error',
        pretty: false,
      },
    });
    addJobs(builder, {
      jobs: [Nasty],
      store: stores.fresh(),
      worker: { pollIntervalMs: 50, heartbeatMs: 200, maintenanceIntervalMs: 100 },
    });
    const host = builder.build();
    await host.start();
    try {
      const client = host.services.get(JobClient);
      const { id } = await client.enqueue(Nasty, {});
      const job = await waitUntil(async () => {
        const j = await client.get(id);
        return j && j.state !== 'running' && j.errors.length === 1 ? j : undefined;
      }, 'the failed attempt to be written');
      assert.equal(job.state, 'pending');
      assert.equal(job.errors[0]!.message, 'bad\uFFFDbyte \uFFFD');
      assert.deepEqual(refused, []);
      assert.deepEqual(job.progress, { note: 'a\u0000b \ud800' });
    } finally {
      await host.stop();
    }
  });
});
