/**
 * Hostwork in a Fastify app. `node examples/fastify/main.ts` (with NODE_OPTIONS=--conditions=hostwork-source in
 * this repository), then:
 *
 *   curl -X POST localhost:3000/jobs -H 'content-type: application/json' -d '{"label":"hello","ms":500}'
 *   curl localhost:3000/jobs/1
 *   curl localhost:3000/healthz/ready
 *   open http://localhost:3000/admin/jobs   (DASHBOARD_USER / DASHBOARD_PASSWORD, default admin / admin-password)
 *
 * Ctrl+C or SIGTERM: the server stops accepting first, then the running jobs finish, then the process exits 0.
 */
import { addFastifyServer, hostwork } from '@hostwork/frameworks/fastify';
import Fastify from 'fastify';
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
    Jobs: { Sqlite: { Path: '.data/fastify-jobs.db' } },
  },
});
addJobs(builder, { jobs: [Work] });
addHealthEndpoint(builder, { listen: false }); // served by the Fastify app, not a port of its own

addFastifyServer(builder, async (services) => {
  const app = Fastify();
  await app.register(
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
  // The body's type is what the job's schema validates at enqueue (a bad one is refused there).
  app.post<{ Body: { label: string; ms?: number } }>('/jobs', async (request, reply) => {
    const { id } = await request.jobs.enqueue(Work, request.body);
    return reply.code(202).send({ id, status: `/jobs/${id}` });
  });
  app.get<{ Params: { id: string } }>('/jobs/:id', async (request, reply) => {
    const job = await app.hostwork.jobs.get(request.params.id);
    return job ? job : reply.code(404).send({ error: `no job ${request.params.id}` });
  });
  // A payload the job's schema refuses is the client's mistake: 400 with the reason.
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof HostworkError && error.code === ErrorCodes.JOB_INVALID_PAYLOAD)
      return reply.code(400).send({ error: error.message, code: error.code });
    return reply.send(error);
  });
  return app;
});

await builder.build().run();
