/**
 * Hostwork in a Hono app. `node examples/hono/main.ts` (with NODE_OPTIONS=--conditions=hostwork-source in this
 * repository), then:
 *
 *   curl -X POST localhost:3000/jobs -H 'content-type: application/json' -d '{"label":"hello","ms":500}'
 *   curl localhost:3000/jobs/1
 *   curl localhost:3000/healthz/ready
 *   open http://localhost:3000/admin/jobs   (DASHBOARD_USER / DASHBOARD_PASSWORD, default admin / admin-password)
 *
 * Ctrl+C or SIGTERM: the server stops accepting first, then the running jobs finish, then the process exits 0.
 */
import { addHonoServer, type HostworkEnv, hostwork } from '@hostwork/frameworks/hono';
import { Hono } from 'hono';
import {
  addHealthEndpoint,
  addJobs,
  createHostBuilder,
  defineJob,
  ErrorCodes,
  HostworkError,
} from 'hostwork';
import { z } from 'zod';

/** A job that takes `ms` to run: long enough, with a large `ms`, to watch a graceful shutdown wait for it. */
export const Work = defineJob({
  name: 'work',
  schema: z.object({ label: z.string().min(1), ms: z.number().int().min(0).max(60_000).default(100) }),
  async handle({ label, ms }, ctx) {
    ctx.logger.info({ label }, `Job ${label} started`);
    // Not aborted at shutdown: the host waits for it (within its shutdown timeout).
    await new Promise((resolve) => setTimeout(resolve, ms));
    ctx.logger.info({ label }, `Job ${label} done`);
  },
});

const builder = createHostBuilder({
  configuration: {
    Http: { Port: 3000, Host: '127.0.0.1' },
    Jobs: { Sqlite: { Path: '.data/hono-jobs.db' } },
  },
});
addJobs(builder, { jobs: [Work] });
addHealthEndpoint(builder, { listen: false }); // served by the Hono app, not a port of its own

addHonoServer(builder, (services) => {
  const app = new Hono<HostworkEnv>();
  app.use(
    hostwork(services, {
      dashboard: {
        basePath: '/admin/jobs',
        auth: {
          kind: 'basic',
          username: process.env.DASHBOARD_USER ?? 'admin',
          password: process.env.DASHBOARD_PASSWORD ?? 'admin-password',
        },
      },
    }),
  );
  app.post('/jobs', async (c) => {
    const { id } = await c.var.jobs.enqueue(Work, await c.req.json());
    return c.json({ id, status: `/jobs/${id}` }, 202);
  });
  app.get('/jobs/:id', async (c) => {
    const job = await c.var.hostwork.jobs.get(c.req.param('id'));
    return job ? c.json(job) : c.json({ error: `no job ${c.req.param('id')}` }, 404);
  });
  // A payload the job's schema refuses is the client's mistake: 400 with the reason.
  app.onError((error, c) => {
    if (error instanceof HostworkError && error.code === ErrorCodes.JOB_INVALID_PAYLOAD)
      return c.json({ error: error.message, code: error.code }, 400);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
});

await builder.build().run();
