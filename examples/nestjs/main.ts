/**
 * Hostwork in a NestJS app, run by the host. `node examples/nestjs/main.ts` (with
 * NODE_OPTIONS=--conditions=hostwork-source in this repository), then:
 *
 *   curl -X POST localhost:3000/jobs -H 'content-type: application/json' -d '{"label":"hello","ms":500}'
 *   curl localhost:3000/jobs/1
 *   curl localhost:3000/ops          (the consumer, its lag and the worker, read by a controller; the announcements)
 *   curl localhost:3000/healthz/ready
 *   open http://localhost:3000/admin/jobs   (DASHBOARD_USER / DASHBOARD_PASSWORD, default admin / admin-password)
 *
 * Ctrl+C or SIGTERM: the server stops accepting first, then the running jobs finish, then the process exits 0.
 *
 * Nest's decorators are plain functions: they are applied by hand here because Node runs this TypeScript by
 * stripping its types, without a decorator transform. With a compiler that supports them, write `@Controller('jobs')`,
 * `@Post()`, `@Inject(JobClient)` as usual.
 */
import 'reflect-metadata';
import type { ServerResponse } from 'node:http';
import { addNestServer, HostworkModule, nestProvider, useHostwork } from '@hostwork/frameworks/nestjs';
import {
  type ArgumentsHost,
  Body,
  Catch,
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Module,
  NotFoundException,
  Param,
  Post,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  addHealthEndpoint,
  addJobs,
  addMessaging,
  createHostBuilder,
  defineConsumer,
  defineJob,
  defineMessage,
  ErrorCodes,
  HostworkError,
  inMemoryTransport,
  JobClient,
  JobWorker,
  MessageConsumers,
  MessagePublisher,
} from 'hostwork';
import { z } from 'zod';

/** Published by each finished job. */
export const WorkDone = defineMessage({
  name: 'work-done',
  schema: z.object({ label: z.string() }),
  destination: { name: 'work-done' },
});

/** A job that takes `ms` to run: long enough, with a large `ms`, to watch a graceful shutdown wait for it. */
export const Work = defineJob({
  name: 'work',
  schema: z.object({ label: z.string().min(1), ms: z.number().int().min(0).max(60_000).default(100) }),
  async handle({ label, ms }, ctx) {
    ctx.logger.info({ label }, `Job ${label} started`);
    // Not aborted at shutdown: the host waits for it (within its shutdown timeout).
    await new Promise((resolve) => setTimeout(resolve, ms));
    await ctx.services.get(MessagePublisher).send(WorkDone, { label });
    ctx.logger.info({ label }, `Job ${label} done`);
  },
});

/** A Nest provider that Hostwork's consumer below writes to (`nestProvider`), and a controller reads. */
class Announcements {
  readonly done: string[] = [];
}
Injectable()(Announcements);

/** Announces finished jobs, through the Nest provider: a handler resolves Nest providers with `nestProvider`. */
const Announce = defineConsumer({
  name: 'announce',
  transport: 'memory',
  source: { name: 'work-done' },
  message: WorkDone,
  handle({ label }, ctx) {
    nestProvider(ctx.services, Announcements).done.push(label);
  },
});

/** POST /jobs, GET /jobs/:id, with the host's job client injected. */
class JobsController {
  readonly #jobs: JobClient;
  constructor(jobs: JobClient) {
    this.#jobs = jobs;
  }
  async enqueue(body: { label: string; ms?: number }): Promise<{ id: string; status: string }> {
    const { id } = await this.#jobs.enqueue(Work, body);
    return { id, status: `/jobs/${id}` };
  }
  async get(id: string): Promise<unknown> {
    const job = await this.#jobs.get(id);
    if (!job) throw new NotFoundException(`no job ${id}`);
    return job;
  }
}
// @Controller('jobs') with @Inject(JobClient) on the constructor, @Post() @HttpCode(202) enqueue(@Body() body),
// @Get(':id') get(@Param('id') id):
Controller('jobs')(JobsController);
Inject(JobClient)(JobsController, undefined, 0);
const method = (name: 'enqueue' | 'get') => Object.getOwnPropertyDescriptor(JobsController.prototype, name)!;
Post()(JobsController.prototype, 'enqueue', method('enqueue'));
HttpCode(202)(JobsController.prototype, 'enqueue', method('enqueue'));
Body()(JobsController.prototype, 'enqueue', 0);
Get(':id')(JobsController.prototype, 'get', method('get'));
Param('id')(JobsController.prototype, 'get', 0);

/** GET /ops: the host's consumers and worker, injected by class like any Nest provider. */
class OpsController {
  readonly #consumers: MessageConsumers;
  readonly #worker: JobWorker;
  readonly #announcements: Announcements;
  constructor(consumers: MessageConsumers, worker: JobWorker, announcements: Announcements) {
    this.#consumers = consumers;
    this.#worker = worker;
    this.#announcements = announcements;
  }
  async state(): Promise<unknown> {
    return {
      consumers: this.#consumers.connections,
      lag: await this.#consumers.lag('announce'),
      worker: { started: this.#worker.health.started, running: this.#worker.runningCount },
      announced: this.#announcements.done,
    };
  }
}
// @Controller('ops') with @Inject(MessageConsumers), @Inject(JobWorker), @Inject(Announcements), @Get() state():
Controller('ops')(OpsController);
Inject(MessageConsumers)(OpsController, undefined, 0);
Inject(JobWorker)(OpsController, undefined, 1);
Inject(Announcements)(OpsController, undefined, 2);
Get()(OpsController.prototype, 'state', Object.getOwnPropertyDescriptor(OpsController.prototype, 'state')!);

/** A payload the job's schema refuses is the client's mistake: 400 with the reason (`@Catch(HostworkError)`). */
class InvalidPayloadFilter {
  catch(error: HostworkError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const invalid = error.code === ErrorCodes.JOB_INVALID_PAYLOAD;
    res
      .writeHead(invalid ? 400 : 500, { 'content-type': 'application/json' })
      .end(
        JSON.stringify(invalid ? { error: error.message, code: error.code } : { error: 'internal error' }),
      );
  }
}
Catch(HostworkError)(InvalidPayloadFilter);

const builder = createHostBuilder({
  configuration: {
    Http: { Port: 3000, Host: '127.0.0.1' },
    Jobs: { Sqlite: { Path: '.data/nestjs-jobs.db' } },
  },
});
addJobs(builder, { jobs: [Work] });
// In memory for the example; a broker's transport (@hostwork/rabbitmq, ...) in production.
addMessaging(builder, { transports: { memory: inMemoryTransport() }, consumers: [Announce] });
addHealthEndpoint(builder, { listen: false }); // served by the Nest app, not a port of its own

addNestServer(builder, async (services) => {
  // @Module({ imports: [...], controllers: [...], providers: [Announcements] })
  class AppModule {}
  Module({
    imports: [HostworkModule.forRoot({ services })],
    controllers: [JobsController, OpsController],
    providers: [Announcements],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.useGlobalFilters(new InvalidPayloadFilter());
  useHostwork(app, {
    dashboard: {
      basePath: '/admin/jobs',
      auth: {
        kind: 'basic',
        username: process.env.DASHBOARD_USER ?? 'admin',
        password: process.env.DASHBOARD_PASSWORD ?? 'admin-password',
      },
    },
  });
  return app;
});

await builder.build().run();
