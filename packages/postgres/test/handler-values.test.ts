/**
 * What a handler hands to the engine, on a real PostgreSQL server: text PostgreSQL refuses (a NUL character, a lone
 * surrogate) in a thrown error is stored readable instead of making the outcome unwritable, and a progress value
 * with such text is refused in the handler.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { addJobs, createHostBuilder, defineJob, ErrorCodes, HostworkError, JobClient } from 'hostwork';
import { z } from 'zod';
import { describeWithDatabase } from './support/database.ts';
import { useSchemas, waitUntil } from './support/stores.ts';

describeWithDatabase('handler values on PostgreSQL', () => {
  const stores = useSchemas();

  it('settles an attempt whose error holds a NUL and a lone surrogate, and refuses such a progress value', async () => {
    const refused: unknown[] = [];
    const Nasty = defineJob({
      name: 'nasty',
      schema: z.object({}),
      maxAttempts: 3,
      backoff: { type: 'fixed', delay: 60_000 },
      handle(_payload, ctx) {
        try {
          ctx.progress({ note: 'a\u0000b' });
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
      assert.equal((refused[0] as HostworkError).code, ErrorCodes.JOB_INVALID_HANDLER_VALUE);
      assert.ok(refused[0] instanceof HostworkError);
    } finally {
      await host.stop();
    }
  });
});
