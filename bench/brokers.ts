/**
 * The brokers of the transport benchmarks (`--transport rabbitmq|sqs|kafka|nats|redis|azure-service-bus`), without
 * Hostwork: the SQS emulator (fauxqs, in a process of its own bound to 127.0.0.1), the local AMQP stand-in for Azure
 * Service Bus (a stand-in, not the service; in a process of its own), SDK clients for them, seeding a run's queue (or Redis
 * stream) with no-op messages and deleting a run's queues afterwards. Seeding and clean-up are the same for both
 * systems of a transport, so neither measured process does them. amqplib, the AWS SDK, @platformatic/kafka, nats.js
 * and node-redis are loaded only by the processes that use them.
 */
import { randomBytes } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { MessageRunContext, TransportKind } from './common.ts';
import { SQS_BATCH } from './common.ts';

/** The RabbitMQ broker the benchmark uses unless AMQP_URL says otherwise. */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
/** The NATS server (with JetStream) the benchmark uses unless NATS_URL says otherwise. */
export const DEFAULT_NATS_URL = '127.0.0.1:4222';
/** The Redis server the benchmark uses unless REDIS_URL says otherwise. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The consumer group both systems read a Redis stream through (Hostwork's default group). */
export const REDIS_GROUP = 'hostwork';
/** The emulator's region and credentials: any pass. */
export const SQS_REGION = 'us-east-1';
export const SQS_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** The header Hostwork routes a message by; the seed sets it as Hostwork's publisher does. */
export const TYPE_HEADER = 'hostwork-type';
/** The message type of the no-op messages (Hostwork's definition has this name). */
export const NOOP_TYPE = 'noop';

/** A queue name no other run uses. */
export function freshQueue(): string {
  return `bench-${randomBytes(6).toString('hex')}`;
}

/** The queues a run may leave behind: its queue and the dead-letter queue Hostwork declares for it. */
function queuesOf(transport: TransportKind, queue: string): string[] {
  if (transport === 'kafka') return [queue, `${queue}.retry`, `${queue}.dead`];
  if (transport === 'nats') return [queue, natsDeadStream(queue)];
  if (transport === 'redis') return [queue, `${queue}:dead`, `${queue}:scheduled`];
  return transport === 'rabbitmq' ? [queue, `${queue}.dead`] : [queue, `${queue}-dead`];
}

/** The body of no-op message `i`. */
export function noopBody(i: number): string {
  return JSON.stringify({ i });
}

// ---------------------------------------------------------------------------------------------------------------
// RabbitMQ

/**
 * Declares a RabbitMQ queue as Hostwork's transport does by default (durable, quorum), so Hostwork's own declaration
 * finds it as it would declare it, and the plain loop consumes from the same kind of queue.
 */
export async function declareRabbitQueue(
  channel: { assertQueue(q: string, o: object): Promise<unknown> },
  queue: string,
) {
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
}

async function seedRabbit(ctx: MessageRunContext, count: number): Promise<void> {
  const amqp = await import('amqplib');
  const connection = await amqp.connect(ctx.brokerUrl);
  try {
    const channel = await connection.createConfirmChannel();
    // Both queues a deployment has before its consumer starts: creating a quorum queue (a Raft group) takes a while,
    // which a consumer's start must not pay in the timed section.
    await declareRabbitQueue(channel, ctx.queue);
    await declareRabbitQueue(channel, `${ctx.queue}.dead`);
    const headers = { [TYPE_HEADER]: NOOP_TYPE };
    for (let i = 0; i < count; i += 1_000) {
      for (let k = i; k < Math.min(count, i + 1_000); k++) {
        const sent = channel.sendToQueue(ctx.queue, Buffer.from(noopBody(k)), {
          persistent: true,
          contentType: 'application/json',
          messageId: `seed-${k}`,
          headers,
        });
        if (!sent) await new Promise((resolve) => channel.once('drain', resolve));
      }
      await channel.waitForConfirms();
    }
    const { messageCount } = await channel.checkQueue(ctx.queue);
    if (messageCount !== count)
      throw new Error(`seeding ${ctx.queue}: expected ${count} messages, found ${messageCount}.`);
  } finally {
    await connection.close();
  }
}

async function deleteRabbitQueues(url: string, queues: readonly string[]): Promise<void> {
  const amqp = await import('amqplib');
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const q of queues) await channel.deleteQueue(q);
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SQS

/** An SQS client for the emulator. */
export async function sqsClient(endpoint: string): Promise<SQSClient> {
  const { SQSClient } = await import('@aws-sdk/client-sqs');
  return new SQSClient({ region: SQS_REGION, endpoint, credentials: SQS_CREDENTIALS });
}

/** The run's queue URL, creating the queue (a standard queue, the emulator's default attributes). */
export async function createSqsQueue(client: SQSClient, queue: string): Promise<string> {
  const { CreateQueueCommand } = await import('@aws-sdk/client-sqs');
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: queue }));
  return QueueUrl!;
}

async function seedSqs(ctx: MessageRunContext, count: number): Promise<void> {
  const { SendMessageBatchCommand, GetQueueAttributesCommand } = await import('@aws-sdk/client-sqs');
  const client = await sqsClient(ctx.brokerUrl);
  try {
    const url = await createSqsQueue(client, ctx.queue);
    await createSqsQueue(client, `${ctx.queue}-dead`); // the dead-letter queue Hostwork would create at start
    const attributes = { [TYPE_HEADER]: { DataType: 'String', StringValue: NOOP_TYPE } };
    const batches: number[] = [];
    for (let i = 0; i < count; i += SQS_BATCH) batches.push(i);
    // 10 batches in flight at once: seeding is not measured, only waited for.
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let from = batches.shift(); from !== undefined; from = batches.shift()) {
          const entries = [];
          for (let k = from; k < Math.min(count, from + SQS_BATCH); k++)
            entries.push({ Id: String(k - from), MessageBody: noopBody(k), MessageAttributes: attributes });
          const out = await client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
          if (out.Failed?.length) throw new Error(`seeding ${ctx.queue}: ${out.Failed[0]!.Message}`);
        }
      }),
    );
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    const found = Number(Attributes?.ApproximateNumberOfMessages);
    if (found !== count) throw new Error(`seeding ${ctx.queue}: expected ${count} messages, found ${found}.`);
  } finally {
    client.destroy();
  }
}

async function deleteSqsQueues(endpoint: string, queues: readonly string[]): Promise<void> {
  const { DeleteQueueCommand, GetQueueUrlCommand } = await import('@aws-sdk/client-sqs');
  const client = await sqsClient(endpoint);
  try {
    for (const q of queues) {
      let url: string | undefined;
      try {
        url = (await client.send(new GetQueueUrlCommand({ QueueName: q }))).QueueUrl;
      } catch {
        continue; // never created
      }
      await client.send(new DeleteQueueCommand({ QueueUrl: url }));
    }
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// NATS JetStream

/** The dead-letter stream Hostwork's NATS transport declares for a run's stream. */
const natsDeadStream = (queue: string) => `${queue}_dead`;

/**
 * The run's stream, its durable consumer and its dead-letter stream, as Hostwork's transport declares them by default
 * for a source named `queue` (a work-queue file stream capturing the subject `queue`, a pull consumer of the same
 * name with explicit acks), so Hostwork's declaration finds them as it would make them, and the plain loop consumes
 * from the same.
 */
export async function declareNatsStream(
  jsm: import('@nats-io/jetstream').JetStreamManager,
  queue: string,
): Promise<void> {
  const { AckPolicy, RetentionPolicy, StorageType } = await import('@nats-io/jetstream');
  await jsm.streams.add({
    name: queue,
    subjects: [queue],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add(queue, {
    durable_name: queue,
    ack_policy: AckPolicy.Explicit,
    filter_subject: queue,
    ack_wait: 30_000_000_000,
    max_deliver: -1,
    max_ack_pending: 1_000,
  });
  await jsm.streams.add({
    name: natsDeadStream(queue),
    subjects: [`hostwork.dead.${queue}.${queue}`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
  });
}

async function seedNats(ctx: MessageRunContext, count: number): Promise<void> {
  const { connect, headers } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: ctx.brokerUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await declareNatsStream(jsm, ctx.queue);
    const js = jetstream(nc);
    const h = headers();
    h.set(TYPE_HEADER, NOOP_TYPE);
    for (let i = 0; i < count; i += 1_000) {
      const acks = [];
      for (let k = i; k < Math.min(count, i + 1_000); k++)
        acks.push(js.publish(ctx.queue, noopBody(k), { msgID: `seed-${k}`, headers: h }));
      await Promise.all(acks);
    }
    const { messages } = (await jsm.streams.info(ctx.queue)).state;
    if (messages !== count)
      throw new Error(`seeding ${ctx.queue}: expected ${count} messages, found ${messages}.`);
  } finally {
    await nc.close();
  }
}

async function deleteNatsStreams(url: string, streams: readonly string[]): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for (const s of streams) await jsm.streams.delete(s).catch(() => {});
  } finally {
    await nc.close();
  }
}

/** The messages in a run's stream (a work-queue stream: those not yet acknowledged). */
export async function natsDepth(url: string, queue: string): Promise<number> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  try {
    return (await (await jetstreamManager(nc)).streams.info(queue)).state.messages;
  } finally {
    await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Redis

/** A node-redis client on `url`, connected; RESP2, as the Hostwork transport speaks it. */
export async function redisClient(url: string) {
  const { createClient } = await import('redis');
  const client = createClient({ url, RESP: 2, socket: { noDelay: true, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * Seeds the run's stream: `count` entries with the fields Hostwork's transport writes (`id`, `body`, the type header),
 * and the consumer group both systems read it through, created at the start of the stream, as a deployment has it
 * before its consumer starts.
 */
async function seedRedis(ctx: MessageRunContext, count: number): Promise<void> {
  const client = await redisClient(ctx.brokerUrl);
  try {
    for (let i = 0; i < count; i += 1_000) {
      const replies: Promise<unknown>[] = [];
      for (let k = i; k < Math.min(count, i + 1_000); k++)
        replies.push(
          client.sendCommand([
            'XADD',
            ctx.queue,
            '*',
            'id',
            `seed-${k}`,
            'body',
            noopBody(k),
            TYPE_HEADER,
            NOOP_TYPE,
          ]),
        );
      await Promise.all(replies);
    }
    if (count > 0) await client.sendCommand(['XGROUP', 'CREATE', ctx.queue, REDIS_GROUP, '0', 'MKSTREAM']);
    const length = Number(await client.sendCommand(['XLEN', ctx.queue]));
    if (length !== count)
      throw new Error(`seeding ${ctx.queue}: expected ${count} entries, found ${length}.`);
  } finally {
    client.destroy();
  }
}

/**
 * The entries of the run's stream not yet done: with the group, those not yet read (its lag) and those read and not
 * acknowledged (pending); without it (a publish run), every entry.
 */
export async function redisDepth(ctx: MessageRunContext): Promise<number> {
  const client = await redisClient(ctx.brokerUrl);
  try {
    const groups = (await client.sendCommand(['XINFO', 'GROUPS', ctx.queue]).catch(() => [])) as unknown[][];
    const group = groups
      .map((row) => {
        const fields = new Map<string, unknown>();
        for (let i = 0; i + 1 < row.length; i += 2) fields.set(String(row[i]), row[i + 1]);
        return fields;
      })
      .find((f) => f.get('name') === REDIS_GROUP);
    if (!group) return Number(await client.sendCommand(['XLEN', ctx.queue]));
    return Number(group.get('lag') ?? 0) + Number(group.get('pending') ?? 0);
  } finally {
    client.destroy();
  }
}

async function deleteRedisKeys(url: string, keys: readonly string[]): Promise<void> {
  const client = await redisClient(url);
  try {
    await client.sendCommand(['DEL', ...keys]);
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka (librdkafka's mock cluster: the runner creates a run's topics through it before seeding)

/** The consumer group of a Kafka run: Hostwork's default for the topic, used by the plain loop too. */
export function kafkaGroup(topic: string): string {
  return `hostwork.${topic}`;
}

async function seedKafka(ctx: MessageRunContext, count: number): Promise<void> {
  const { Producer, ProduceAcks } = await import('@platformatic/kafka');
  const producer = new Producer({ clientId: 'bench-seed', bootstrapBrokers: [ctx.brokerUrl] });
  try {
    for (let i = 0; i < count; i += 1_000) {
      const messages = [];
      for (let k = i; k < Math.min(count, i + 1_000); k++) {
        const headers = new Map([
          [Buffer.from(TYPE_HEADER), Buffer.from(NOOP_TYPE)],
          [Buffer.from('hostwork-id'), Buffer.from(`seed-${k}`)],
        ]);
        messages.push({ topic: ctx.queue, value: Buffer.from(noopBody(k)), headers });
      }
      await producer.send({ messages, acks: ProduceAcks.ALL });
    }
  } finally {
    await producer.close();
  }
}

/** The messages of `topic` not yet committed by the run's group: Σ (end offset − committed offset). */
export async function kafkaDepth(bootstrap: string, topic: string): Promise<number> {
  const { Consumer } = await import('@platformatic/kafka');
  const consumer = new Consumer({
    clientId: 'bench-depth',
    groupId: kafkaGroup(topic),
    bootstrapBrokers: [bootstrap],
  });
  try {
    const metadata = await consumer.metadata({ topics: [topic] });
    const partitions = Array.from({ length: metadata.topics.get(topic)!.partitionsCount }, (_, i) => i);
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
    const committed =
      (await consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })).get(topic) ?? [];
    let depth = 0n;
    for (const p of partitions) depth += (ends[p] ?? 0n) - ((committed[p] ?? -1n) < 0n ? 0n : committed[p]!);
    return Number(depth);
  } finally {
    await consumer.close(true);
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** Pre-publishes `count` no-op messages to the run's fresh queue (the `seed` role of a transport run). */
export function seedQueue(ctx: MessageRunContext, count: number): Promise<void> {
  if (ctx.transport === 'kafka') return seedKafka(ctx, count);
  if (ctx.transport === 'nats') return seedNats(ctx, count);
  if (ctx.transport === 'redis') return seedRedis(ctx, count);
  if (ctx.transport === 'azure-service-bus') return seedAzure(ctx, count);
  return ctx.transport === 'rabbitmq' ? seedRabbit(ctx, count) : seedSqs(ctx, count);
}

/** Deletes the run's queue and its dead-letter queue (the runner, after each run, whatever its outcome). */
export async function deleteQueues(
  transport: TransportKind,
  brokerUrl: string,
  queue: string,
): Promise<void> {
  // The mock cluster deletes no topics, nor the stand-in queues (it serves no management API); they live as long as
  // the runner.
  if (transport === 'kafka' || transport === 'azure-service-bus') return;
  const queues = queuesOf(transport, queue);
  if (transport === 'nats') return deleteNatsStreams(brokerUrl, queues);
  if (transport === 'redis') return deleteRedisKeys(brokerUrl, queues);
  return transport === 'rabbitmq'
    ? deleteRabbitQueues(brokerUrl, queues)
    : deleteSqsQueues(brokerUrl, queues);
}

/** What the broker is, for the first line of the run. */
export async function describeBroker(transport: TransportKind, brokerUrl: string): Promise<string> {
  if (transport === 'redis') {
    const client = await redisClient(brokerUrl);
    try {
      const info = String(await client.sendCommand(['INFO', 'server']));
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
      const persistence = String(await client.sendCommand(['CONFIG', 'GET', 'appendonly']).catch(() => ''));
      return `Redis ${version} at ${brokerUrl.replace(/\/\/[^@/]*@/, '//…@')} (${persistence.replace(',', ' ')})`;
    } finally {
      client.destroy();
    }
  }
  if (transport === 'kafka') {
    const { Admin } = await import('@platformatic/kafka');
    const admin = new Admin({ clientId: 'bench-describe', bootstrapBrokers: [brokerUrl] });
    try {
      const metadata = await admin.metadata({ topics: [] });
      return `librdkafka's mock cluster (Debian librdkafka-dev, ${metadata.brokers.size} broker) at ${brokerUrl} (its own process)`;
    } finally {
      await admin.close();
    }
  }
  if (transport === 'nats') {
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: brokerUrl });
    try {
      return `nats-server ${nc.info?.version ?? '?'} with JetStream at ${brokerUrl}`;
    } finally {
      await nc.close();
    }
  }
  if (transport === 'azure-service-bus') {
    const { readFileSync } = await import('node:fs');
    const file = new URL('../node_modules/@azure/service-bus/package.json', import.meta.url);
    const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
    const port = /:(\d+)\//.exec(brokerUrl)?.[1];
    return `a LOCAL AMQP STAND-IN for Azure Service Bus (rhea; NOT the service) on 127.0.0.1:${port} (its own process), @azure/service-bus ${version}`;
  }
  if (transport === 'sqs') {
    const { readFileSync } = await import('node:fs');
    // Its package.json is not exported: read it next to the entry point's directory.
    const file = new URL('../package.json', import.meta.resolve('fauxqs'));
    const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
    return `the fauxqs ${version} SQS emulator at ${brokerUrl} (its own process)`;
  }
  const amqp = await import('amqplib');
  const connection = await amqp.connect(brokerUrl);
  try {
    const props = (connection.connection as unknown as { serverProperties?: Record<string, unknown> })
      .serverProperties;
    return `RabbitMQ ${String(props?.version ?? '?')} at ${brokerUrl.replace(/\/\/[^@/]*@/, '//…@')}`;
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The SQS emulator

interface Listening {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}
type StoreClass = new () => object;

/**
 * The `emulator` role: fauxqs embedded in this process, its HTTP server bound to 127.0.0.1 on a free port (never
 * 0.0.0.0; fauxqs's own `startFauxqs()` listens on every interface, so this builds its app and listens itself, as
 * packages/sqs/test/support/emulator.ts does). Sends `{ endpoint }` to the runner over IPC and runs until killed.
 */
export async function runEmulator(): Promise<void> {
  const main = import.meta.resolve('fauxqs');
  const app = (await import(main)) as { buildApp(o: { logger: boolean; stores: object }): Listening };
  // The stores are not exported; they are loaded from fauxqs's files next to its entry point.
  const sqs = (await import(new URL('./sqs/sqsStore.js', main).href)) as { SqsStore: StoreClass };
  const sns = (await import(new URL('./sns/snsStore.js', main).href)) as { SnsStore: StoreClass };
  const s3 = (await import(new URL('./s3/s3Store.js', main).href)) as { S3Store: StoreClass };
  const stores = { sqsStore: new sqs.SqsStore(), snsStore: new sns.SnsStore(), s3Store: new s3.S3Store() };
  const server = app.buildApp({ logger: false, stores });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ endpoint: `http://127.0.0.1:${new URL(address).port}` });
}

// ---------------------------------------------------------------------------------------------------------------
// Azure Service Bus (the local AMQP stand-in: not the service)

/**
 * The `standin` role: the local AMQP stand-in for Azure Service Bus (packages/azure-service-bus/test/support, a
 * stand-in, not the service) on 127.0.0.1, creating a queue on first use. Sends `{ endpoint }` (its connection
 * string) to the runner over IPC and runs until killed.
 */
export async function runStandin(): Promise<void> {
  const { StandinBroker } = await import('../packages/azure-service-bus/test/support/standin-broker.ts');
  const broker = await StandinBroker.start(0, { autoCreateQueues: true });
  process.send?.({ endpoint: broker.connectionString });
}

async function seedAzure(ctx: MessageRunContext, count: number): Promise<void> {
  const { ServiceBusClient } = await import('@azure/service-bus');
  const client = new ServiceBusClient(ctx.brokerUrl);
  try {
    const sender = client.createSender(ctx.queue);
    let batch = await sender.createMessageBatch();
    for (let i = 0; i < count; i++) {
      const message = {
        body: Buffer.from(noopBody(i)),
        messageId: `seed-${i}`,
        applicationProperties: { [TYPE_HEADER]: NOOP_TYPE },
      };
      if (batch.tryAddMessage(message)) continue;
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      batch.tryAddMessage(message);
    }
    if (batch.count > 0) await sender.sendMessages(batch);
    // Opens the queue on the stand-in even when nothing is seeded (the dead-letter sub-queue comes with it).
    if (count === 0) await client.createReceiver(ctx.queue).peekMessages(1);
    const found = await azureDepth(ctx.brokerUrl, ctx.queue);
    if (found !== count) throw new Error(`seeding ${ctx.queue}: expected ${count} messages, found ${found}.`);
  } finally {
    await client.close();
  }
}

/** The messages in a stand-in queue (available and locked), counted by peeking. */
export async function azureDepth(connectionString: string, queue: string): Promise<number> {
  const { ServiceBusClient } = await import('@azure/service-bus');
  const client = new ServiceBusClient(connectionString);
  try {
    const receiver = client.createReceiver(queue);
    let found = 0;
    for (;;) {
      const batch = await receiver.peekMessages(5_000);
      if (batch.length === 0) return found;
      found += batch.length;
    }
  } finally {
    await client.close();
  }
}
