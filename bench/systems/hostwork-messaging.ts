/**
 * Hostwork's consumer engine and publisher over its RabbitMQ, SQS, Kafka, NATS, Redis and Azure Service Bus adapters
 * (`--transport`; Azure Service Bus on the local AMQP stand-in, not the service): the
 * adapters' defaults, the scenario's concurrency, a no-op handler, the messages validated with zod as users would.
 * Loaded only in the processes that measure Hostwork on a transport.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { azureServiceBusTransport } from '@hostwork/azure-service-bus';
import { kafkaTransport } from '@hostwork/kafka';
import { natsTransport } from '@hostwork/nats';
import { rabbitmqTransport } from '@hostwork/rabbitmq';
import { redisTransport } from '@hostwork/redis';
import { sqsTransport } from '@hostwork/sqs';
import type { Host, Transport } from 'hostwork';
import {
  addMessaging,
  createHostBuilder,
  defineConsumer,
  defineMessage,
  MessageEvents,
  MessagePublisher,
} from 'hostwork';
import { z } from 'zod';
import { sqsClient } from '../brokers.ts';
import type { MessageRunContext } from '../common.ts';
import {
  KAFKA_FETCH_MAX_WAIT_MS,
  MESSAGE_SIZES,
  PUBLISH_LOOPS,
  progress,
  SIZES,
  SQS_BATCH,
} from '../common.ts';
import { collectLatencies, detail, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, countDeletes, counter, type MessageScenarios } from './messaging-kit.ts';

const Noop = defineMessage({ name: 'noop', schema: z.object({ i: z.number() }) });
const Ping = defineMessage({ name: 'ping', schema: z.object({ i: z.number(), t: z.number() }) });

/** The adapter with its defaults; on SQS the emulator's client (passed in, so the bench can count its deletes). */
function transportOf(ctx: MessageRunContext, client: SQSClient | undefined): Transport {
  if (ctx.transport === 'rabbitmq') return rabbitmqTransport({ url: ctx.brokerUrl });
  // The run's topic, `.retry` and `.dead` exist (the runner created them on the mock cluster); default ordering.
  if (ctx.transport === 'kafka')
    return kafkaTransport({ brokers: [ctx.brokerUrl], fetchMaxWaitMs: KAFKA_FETCH_MAX_WAIT_MS });
  if (ctx.transport === 'nats') return natsTransport({ servers: ctx.brokerUrl });
  if (ctx.transport === 'redis') return redisTransport({ url: ctx.brokerUrl });
  if (ctx.transport === 'azure-service-bus')
    return azureServiceBusTransport({ connectionString: ctx.brokerUrl });
  // createQueues: the dead-letter queue `<queue>-dead` is created when missing (the run's queue is seeded already).
  return sqsTransport({ client, createQueues: true });
}

/** A quiet host (warnings only) with the transport and, if given, one consumer. */
function buildHost(
  ctx: MessageRunContext,
  transport: Transport,
  consumer: ReturnType<typeof defineConsumer> | undefined,
): Host {
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: ctx.dir,
    environmentName: 'Production',
    logging: { level: 'warn' },
  });
  addMessaging(builder, { transports: { bus: transport }, consumers: consumer ? [consumer] : [] });
  return builder.build();
}

/**
 * Consumes the pre-published messages with one consumer at `concurrency`. Timed from `host.start()` (connect,
 * subscribe) to the last ack: on RabbitMQ and NATS the `completed` event of the last message (emitted once its ack is
 * handed to the transport: on RabbitMQ written to the channel, as the plain loop's `channel.ack`; on NATS written to
 * the ack subject, as the plain loop's `msg.ack()`, its confirmation (a flush) following), on SQS the answer to the
 * DeleteMessageBatch that deleted the last one.
 */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES[ctx.transport].consume;
  const acked = counter(n);
  const client = ctx.transport === 'sqs' ? await sqsClient(ctx.brokerUrl) : undefined;
  if (client) countDeletes(client, acked.add);
  const consumer = defineConsumer({
    name: 'bench',
    transport: 'bus',
    source: { name: ctx.queue },
    message: Noop,
    concurrency,
    handle() {},
  });
  const host = buildHost(ctx, transportOf(ctx, client), consumer);
  if (!client) host.services.get(MessageEvents).on('completed', () => acked.add(1));
  const t0 = performance.now();
  await host.start();
  const started = performance.now() - t0;
  progress(`consume-c${concurrency} (hostwork): started in ${started.toFixed(0)} ms`);
  await acked.all;
  const seconds = (performance.now() - t0) / 1000;
  // The two parts of the timed section, reported apart (on Kafka the start is mostly the mock's group join).
  detail(`consume-c${concurrency}-start-ms`, started);
  detail(`consume-c${concurrency}-past-start-ms`, seconds * 1000 - started);
  await host.stop();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/**
 * Publishes N messages through `MessagePublisher` from 10 concurrent loops: RabbitMQ, NATS and Redis one `send` per
 * call (each resolves on the broker's confirm, the stream's acknowledgement, or XADD's reply), SQS one `sendMany` of 10
 * per call (one SendMessageBatch).
 */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES[ctx.transport].publish;
  const client = ctx.transport === 'sqs' ? await sqsClient(ctx.brokerUrl) : undefined;
  const host = buildHost(ctx, transportOf(ctx, client), undefined);
  await host.start();
  const publisher = host.services.get(MessagePublisher);
  const destination = { name: ctx.queue };
  // One message outside the timing: connects and resolves the queue, as a running application has.
  await publisher.send(Noop, { i: -1 }, { destination });
  let seconds: number;
  if (ctx.transport !== 'sqs') {
    seconds = await timeLoops(n, PUBLISH_LOOPS, (i) => publisher.send(Noop, { i }, { destination }));
  } else {
    seconds = await timeLoops(n / SQS_BATCH, PUBLISH_LOOPS, (b) =>
      publisher.sendMany(
        Noop,
        Array.from({ length: SQS_BATCH }, (_, k) => ({ payload: { i: b * SQS_BATCH + k } })),
        { destination },
      ),
    );
  }
  await host.stop();
  await assertDepth(ctx, n + 1);
  result('publish', n / seconds);
}

/** An idle consumer (concurrency 10) and, in the same process, one `send` every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES[ctx.transport].latency;
  const latencies = collectLatencies(count);
  const client = ctx.transport === 'sqs' ? await sqsClient(ctx.brokerUrl) : undefined;
  const consumer = defineConsumer({
    name: 'bench',
    transport: 'bus',
    source: { name: ctx.queue },
    message: Ping,
    concurrency: 10,
    handle(ping) {
      latencies.record(ping.i, ping.t);
    },
  });
  const host = buildHost(ctx, transportOf(ctx, client), consumer);
  await host.start();
  await sleep(SIZES.latencySettleMs);
  const publisher = host.services.get(MessagePublisher);
  const destination = { name: ctx.queue };
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => publisher.send(Ping, { i, t }, { destination }));
  await within(latencies.all, latencies.samples, 30_000);
  await host.stop();
  reportLatencies('latency', latencies.samples);
}

export const hostworkMessaging: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
