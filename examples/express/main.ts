/**
 * Hostwork in an Express app. `node examples/express/main.ts` (with NODE_OPTIONS=--conditions=hostwork-source in
 * this repository), then:
 *
 *   curl -X POST localhost:3000/jobs -H 'content-type: application/json' -d '{"label":"hello","ms":500}'
 *   curl localhost:3000/jobs/1
 *   curl localhost:3000/healthz/ready
 *   open http://localhost:3000/admin/jobs   (DASHBOARD_USER / DASHBOARD_PASSWORD, default admin / admin-password)
 *
 * Ctrl+C or SIGTERM: the server stops accepting first, then the running jobs finish, then the process exits 0.
 */

import { addExpressServer, hostwork, hostworkOf, jobs } from '@hostwork/frameworks/express';
import express from 'express';
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
    Jobs: { Sqlite: { Path: '.data/express-jobs.db' } },
  },
});
addJobs(builder, { jobs: [Work] });
addHealthEndpoint(builder, { listen: false }); // served by the Express app, not a port of its own

addExpressServer(builder, (services) => {
  const app = express();
  app.use(express.json());
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
  app.post('/jobs', async (req, res) => {
    const { id } = await jobs(req).enqueue(Work, req.body);
    res.status(202).json({ id, status: `/jobs/${id}` });
  });
  app.get('/jobs/:id', async (req, res) => {
    const job = await hostworkOf(req).jobs.get(req.params.id);
    if (job) res.json(job);
    else res.status(404).json({ error: `no job ${req.params.id}` });
  });
  // A payload the job's schema refuses is the client's mistake: 400 with the reason.
  app.use((error: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (error instanceof HostworkError && error.code === ErrorCodes.JOB_INVALID_PAYLOAD)
      res.status(400).json({ error: error.message, code: error.code });
    else next(error);
  });
  return app;
});

await builder.build().run();
