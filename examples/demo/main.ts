/**
 * The Hostwork demo: the seed's examples as one real program.
 * Run it with `npm start`; stop it with Ctrl+C (SIGINT) or SIGTERM and watch the shutdown sequence. Jobs live in
 * SQLite by default, in PostgreSQL with `JOBS__POSTGRES__CONNECTIONSTRING=postgres://… npm start`.
 *
 *   curl -X POST localhost:3000/orders -d '{"orderId":"A1","amount":42,"failTimes":2}'
 *   curl localhost:3000/jobs/1
 *   curl localhost:3000/orders/A1
 *
 * An order also publishes an OrderPlaced message through the transactional outbox, which the warehouse consumer
 * handles: on RabbitMQ with `MESSAGING__RABBITMQ__URL=amqp://guest:guest@127.0.0.1:5672 npm start`, otherwise on the
 * in-memory transport (messages kept in this process only).
 */
import { postgresStore } from '@hostwork/postgres';
import { rabbitmqTransport } from '@hostwork/rabbitmq';
import {
  addHealthEndpoint,
  addJobs,
  addMessaging,
  addTaskQueue,
  createHostBuilder,
  inMemoryTransport,
} from 'hostwork';
import { addCleanupWorker } from './cleanup.ts';
import { HttpServer } from './http-server.ts';
import { ProcessOrder, SendEmail } from './jobs.ts';
import { OrderBook } from './order-book.ts';
import { warehouseConsumer } from './order-messages.ts';
import { StartupTask } from './startup-task.ts';

const builder = createHostBuilder({
  // Defaults in code, the weakest configuration layer: override with DEMO__PORT=8080 or --Demo:Port=8080.
  configuration: {
    Demo: { Port: 3000, CleanupIntervalMs: 15_000, OrdersQueue: 'demo.orders' },
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
// Messaging:RabbitMQ:Url (MESSAGING__RABBITMQ__URL=amqp://…) carries the order messages through RabbitMQ; without it
// they stay in this process (the in-memory transport), which is enough to watch the outbox and the inbox at work.
const rabbitUrl = builder.configuration.get('Messaging:RabbitMQ:Url');
addMessaging(builder, {
  transports: {
    broker:
      typeof rabbitUrl === 'string' && rabbitUrl !== ''
        ? rabbitmqTransport({ url: rabbitUrl, declare: true, connectionName: 'hostwork-demo' })
        : inMemoryTransport(),
  },
  consumers: [warehouseConsumer(String(builder.configuration.get('Demo:OrdersQueue')))],
});
builder.services.addSingleton(OrderBook);
// /healthz, /healthz/live, /ready, /startup, served by the demo's own HTTP server (no second port).
addHealthEndpoint(builder, { listen: false });
builder.services.addHostedService(HttpServer);

await builder.build().run();
