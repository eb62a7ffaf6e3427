/**
 * A consumer of the packed Hostwork packages, outside the repository: a host with a BackgroundService that enqueues
 * a durable job and waits for it, after a backlog enqueued by a client-only host. Run with Node (type stripping) and type-checked with tsc by packed-install.test.ts.
 * The store is SQLite in the working directory, or PostgreSQL when CONSUMER_STORE=postgres (DATABASE_URL, SCHEMA).
 * Erasable syntax and no `using` declarations, so the floor version of Node runs it as it is.
 */
import { join } from 'node:path';
import { postgresStore } from '@hostwork/postgres';
import type { JobContext, JobStore, Logger } from 'hostwork';
import {
  addJobs,
  BackgroundService,
  createHostBuilder,
  defineJob,
  HostworkError,
  JobClient,
  JobEvents,
  LoggerFactory,
  sqliteStore,
} from 'hostwork';
import { z } from 'zod';

const Greet = defineJob({
  name: 'greet',
  schema: z.object({ name: z.string() }),
  handle({ name }, ctx: JobContext) {
    console.log(`job ran: hello ${name} (attempt ${ctx.attempt} of ${ctx.maxAttempts})`);
  },
});

/** The Worker Service's Worker: a BackgroundService honouring its signal. */
class Announcer extends BackgroundService {
  static readonly inject = [JobClient, LoggerFactory] as const;
  readonly #jobs: JobClient;
  readonly #log: Logger;

  constructor(jobs: JobClient, loggers: LoggerFactory) {
    super();
    this.#jobs = jobs;
    this.#log = loggers.create('Announcer');
  }

  protected async execute(signal: AbortSignal): Promise<void> {
    const { id } = await this.#jobs.enqueue(Greet, { name: 'packed world' });
    console.log(`background service enqueued job ${String(id)}`);
    this.#log.info('enqueued');
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    console.log('background service saw its signal');
  }
}

/** Never called: what must not compile, so that types that degrade to `any` fail the type-check. */
export async function typeChecks(client: JobClient): Promise<void> {
  // @ts-expect-error the payload's type comes from the schema
  await client.enqueue(Greet, { name: 42 });
  // @ts-expect-error unknown payload keys are refused by the type
  await client.enqueue(Greet, { name: 'x', extra: true });
  const error: unknown = new Error('x');
  if (error instanceof HostworkError) {
    const code: string = error.code;
    void code;
  }
}

function store(): JobStore {
  if (process.env.CONSUMER_STORE === 'postgres') {
    return postgresStore({
      connectionString: process.env.DATABASE_URL,
      schema: process.env.SCHEMA ?? 'hostwork',
    });
  }
  return sqliteStore({ path: join(process.cwd(), 'jobs.db') });
}

// A backlog written by another process's client (here a client-only host on its own store instance): the worker
// below must claim these from the store, where the job its own process enqueues may be handed over directly.
const BACKLOG = 3;
const producer = createHostBuilder({ environmentName: 'Production', logging: { level: 'warn' } });
addJobs(producer, { jobs: [Greet], store: store(), worker: false });
const producerHost = producer.build();
await producerHost.start();
await producerHost.services.get(JobClient).enqueueMany(
  Greet,
  Array.from({ length: BACKLOG }, (_, i) => ({ payload: { name: `backlog ${i + 1}` } })),
);
await producerHost.stop();

const builder = createHostBuilder({ environmentName: 'Production', logging: { level: 'warn' } });
builder.services.addHostedService(Announcer);
const jobStore = store();
addJobs(builder, { jobs: [Greet], store: jobStore });
const host = builder.build();
const completed = new Promise<void>((resolve) => {
  let left = BACKLOG + 1;
  host.services.get(JobEvents).on('completed', ({ name }) => {
    if (name === 'greet' && --left === 0) resolve();
  });
});
await host.start();
const timeout = setTimeout(() => {
  console.error('the jobs did not complete within 20 s');
  process.exit(1);
}, 20_000);
await completed;
clearTimeout(timeout);
console.log(`job completed on ${jobStore.kind}`);
await host.stop();
console.log('host stopped cleanly');
