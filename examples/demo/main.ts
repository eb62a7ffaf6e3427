/**
 * The Hostwork demo: the seed's examples as one real program.
 * Run it with `npm start`; stop it with Ctrl+C (SIGINT) or SIGTERM and watch the shutdown sequence. Jobs live in
 * SQLite by default, in PostgreSQL with `JOBS__POSTGRES__CONNECTIONSTRING=postgres://… npm start`.
 *
 *   curl -X POST localhost:3000/orders -d '{"orderId":"A1","amount":42,"failTimes":2}'
 *   curl localhost:3000/jobs/1
 */
import { postgresStore } from '@hostwork/postgres';
import { addJobs, addTaskQueue, createHostBuilder } from 'hostwork';
import { addCleanupWorker } from './cleanup.ts';
import { HttpServer } from './http-server.ts';
import { ProcessOrder, SendEmail } from './jobs.ts';
import { StartupTask } from './startup-task.ts';

const builder = createHostBuilder({
  // Defaults in code, the weakest configuration layer: override with DEMO__PORT=8080 or --Demo:Port=8080.
  configuration: {
    Demo: { Port: 3000, CleanupIntervalMs: 15_000 },
    Jobs: { Sqlite: { Path: '.data/demo-jobs.db' } },
  },
  host: { shutdownTimeout: 10_000 },
});

// Jobs:Postgres:ConnectionString (JOBS__POSTGRES__CONNECTIONSTRING=postgres://…) moves the jobs to PostgreSQL, in the
// schema Jobs:Postgres:Schema: start the demo twice on one database (two ports) and both serve and share the jobs.
const postgresUrl = builder.configuration.get('Jobs:Postgres:ConnectionString');
const postgresSchema = builder.configuration.get('Jobs:Postgres:Schema') ?? 'hostwork_demo';

builder.services.addHostedService(StartupTask);
addCleanupWorker(builder);
addTaskQueue(builder.services, { capacity: 100, fullMode: 'wait', concurrency: 2 });
addJobs(builder, {
  jobs: [SendEmail, ProcessOrder],
  ...(typeof postgresUrl === 'string' && postgresUrl !== ''
    ? { store: postgresStore({ connectionString: postgresUrl, schema: String(postgresSchema) }) }
    : {}),
  // Short leases so that a killed demo's jobs come back within seconds.
  worker: { queues: { default: { concurrency: 5 } }, leaseMs: 5_000, heartbeatMs: 1_500 },
});
builder.services.addHostedService(HttpServer);

await builder.build().run();
