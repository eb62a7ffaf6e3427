/**
 * The plain @platformatic/kafka loop Hostwork's Kafka consumer is compared with: the same client library doing the
 * same work by hand. Consuming: the client's streaming consumer in the run's group (committed offsets, else the
 * earliest), at most `concurrency` messages in flight (the stream paused at the bound), per message `JSON.parse`, the
 * no-op handler awaited, and the highest handled offset of each partition committed every 5 ms (what a hand-written
 * loop does; it is not the lowest unfinished offset Hostwork commits). Publishing: a producer, each send awaited
 * until the broker has it (acks=all). Never loads Hostwork or zod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, type Message, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaGroup } from '../brokers.ts';
import type { MessageRunContext } from '../common.ts';
import { KAFKA_FETCH_MAX_WAIT_MS, MESSAGE_SIZES, PUBLISH_LOOPS, progress, SIZES } from '../common.ts';
import { collectLatencies, detail, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, counter, type MessageScenarios } from './messaging-kit.ts';

/** The handler: does nothing, asynchronously, as an application's async handler would. */
async function handle(_message: unknown): Promise<void> {}

/**
 * A streaming consumer of the run's topic handling at most `concurrency` messages at once; `onMessage` gets each
 * parsed body once handled. Returns a function that commits what is left and closes the consumer.
 */
async function startConsumer(
  ctx: MessageRunContext,
  concurrency: number,
  onMessage: (body: unknown) => void,
): Promise<() => Promise<void>> {
  const consumer = new Consumer({
    clientId: 'bench-plain',
    groupId: kafkaGroup(ctx.queue),
    bootstrapBrokers: [ctx.brokerUrl],
  });
  const stream = await consumer.consume({
    topics: [ctx.queue],
    mode: 'committed',
    fallbackMode: 'earliest',
    autocommit: false,
    maxWaitTime: KAFKA_FETCH_MAX_WAIT_MS,
  });
  const done = new Map<string, { topic: string; partition: number; offset: bigint }>();
  let dirty = false;
  const commit = async () => {
    if (!dirty) return;
    dirty = false;
    const offsets = [...done.values()].map((o) => ({ ...o, leaderEpoch: -1 }));
    await consumer.commit({ offsets });
  };
  const timer = setInterval(() => void commit().catch(() => {}), 5);
  let inFlight = 0;
  stream.on('data', (message: Message) => {
    inFlight++;
    if (inFlight >= concurrency) stream.pause();
    void (async () => {
      const body: unknown = JSON.parse(message.value.toString('utf8'));
      await handle(body);
      const key = `${message.topic}:${message.partition}`;
      const next = message.offset + 1n;
      if ((done.get(key)?.offset ?? -1n) < next)
        done.set(key, { topic: message.topic, partition: message.partition, offset: next });
      dirty = true;
      onMessage(body);
      inFlight--;
      if (inFlight < concurrency && stream.isPaused()) stream.resume();
    })();
  });
  return async () => {
    clearInterval(timer);
    await stream.close();
    dirty = true;
    await commit();
    await consumer.close();
  };
}

/** Consumes the pre-published messages; timed from `consume` (join) to the last handler's end. */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES.kafka.consume;
  const handled = counter(n);
  const t0 = performance.now();
  const close = await startConsumer(ctx, concurrency, () => handled.add(1));
  const started = performance.now() - t0;
  progress(`consume-c${concurrency} (platformatic-kafka): joined in ${started.toFixed(0)} ms`);
  await handled.all;
  const seconds = (performance.now() - t0) / 1000;
  detail(`consume-c${concurrency}-start-ms`, started);
  detail(`consume-c${concurrency}-past-start-ms`, seconds * 1000 - started);
  await close();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/** A producer; `send` resolves once the broker has the message (acks=all). */
function publisher(ctx: MessageRunContext) {
  const producer = new Producer({ clientId: 'bench-plain', bootstrapBrokers: [ctx.brokerUrl] });
  const send = async (body: unknown, type: string) => {
    await producer.send({
      messages: [
        {
          topic: ctx.queue,
          value: Buffer.from(JSON.stringify(body)),
          headers: new Map([
            [Buffer.from('hostwork-type'), Buffer.from(type)],
            [Buffer.from('hostwork-id'), Buffer.from(crypto.randomUUID())],
          ]),
        },
      ],
      acks: ProduceAcks.ALL,
    });
  };
  return { producer, send };
}

/** Publishes N messages from 10 concurrent loops, each send awaited until the broker has it. */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES.kafka.publish;
  const { producer, send } = publisher(ctx);
  await send({ i: -1 }, 'noop');
  const seconds = await timeLoops(n, PUBLISH_LOOPS, (i) => send({ i }, 'noop'));
  await producer.close();
  await assertDepth(ctx, n + 1);
  result('publish', n / seconds);
}

/** An idle consumer (concurrency 10) and, in the same process, one send every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES.kafka.latency;
  const latencies = collectLatencies(count);
  const close = await startConsumer(ctx, 10, (body) => {
    const ping = body as { i: number; t: number };
    latencies.record(ping.i, ping.t);
  });
  const { producer, send } = publisher(ctx);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => send({ i, t }, 'ping'));
  await within(latencies.all, latencies.samples, 30_000);
  await producer.close();
  await close();
  reportLatencies('latency', latencies.samples);
}

export const platformaticKafkaScenarios: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
