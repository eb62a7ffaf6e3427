/**
 * The plain amqplib loop Hostwork's RabbitMQ consumer is compared with: the same client library doing the same work by
 * hand. Consuming: one channel with prefetch = concurrency, `consume`, per message `JSON.parse`, the no-op handler
 * awaited, `ack`. Publishing: a confirm channel, each publish awaited until the broker confirms it. Never loads
 * Hostwork or zod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import type { MessageRunContext } from '../common.ts';
import { MESSAGE_SIZES, PUBLISH_LOOPS, progress, SIZES } from '../common.ts';
import { collectLatencies, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, counter, type MessageScenarios } from './messaging-kit.ts';

/**
 * Socket options of every connection: Nagle's algorithm off, as Hostwork's transport sets it (amqplib turns it on
 * by default), so the comparison measures the consumer engine, not the socket setting.
 */
const SOCKET = { noDelay: true };

/** The handler: does nothing, asynchronously, as an application's async handler would. */
async function handle(_message: unknown): Promise<void> {}

/**
 * A consumer on the run's queue with prefetch = `concurrency`; `onMessage` gets each parsed body after its ack.
 * Returns a function that waits for the broker to have applied every ack, then closes the channel and the connection
 * (closing them right after the last ack dropped a few acks: the broker then delivers those messages again).
 */
async function startConsumer(
  ctx: MessageRunContext,
  concurrency: number,
  onMessage: (body: unknown) => void,
): Promise<() => Promise<void>> {
  const connection = await amqp.connect(ctx.brokerUrl, SOCKET);
  const channel = await connection.createChannel();
  await channel.prefetch(concurrency);
  await channel.consume(
    ctx.queue,
    (message) => {
      if (message === null) return; // cancelled by the broker
      void (async () => {
        const body: unknown = JSON.parse(message.content.toString('utf8'));
        await handle(body);
        channel.ack(message);
        onMessage(body);
      })();
    },
    { noAck: false },
  );
  return async () => {
    // A round trip on the same channel first: the broker handles a channel's frames in order, so once it answers,
    // every ack before it is applied. Closing right after the last ack lost a few of them now and then.
    await channel.checkQueue(ctx.queue);
    await channel.close();
    await connection.close();
  };
}

/** Consumes the pre-published messages; timed from `connect` to the last `ack`. */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES.rabbitmq.consume;
  const acked = counter(n);
  const t0 = performance.now();
  const close = await startConsumer(ctx, concurrency, () => acked.add(1));
  progress(`consume-c${concurrency} (amqplib): started in ${(performance.now() - t0).toFixed(0)} ms`);
  await acked.all;
  const seconds = (performance.now() - t0) / 1000;
  await close();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/** A confirm channel and the run's queue; `send` resolves once the broker confirmed the message. */
async function publisher(ctx: MessageRunContext) {
  const connection = await amqp.connect(ctx.brokerUrl, SOCKET);
  const channel = await connection.createConfirmChannel();
  const send = (body: unknown, type: string) =>
    new Promise<void>((resolve, reject) => {
      channel.sendToQueue(
        ctx.queue,
        Buffer.from(JSON.stringify(body)),
        {
          persistent: true,
          contentType: 'application/json',
          messageId: crypto.randomUUID(),
          headers: { 'hostwork-type': type },
        },
        (error: unknown) => (error ? reject(error) : resolve()),
      );
    });
  return { connection, send };
}

/** Publishes N messages from 10 concurrent loops, each publish awaited until confirmed. */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES.rabbitmq.publish;
  const { connection, send } = await publisher(ctx);
  await send({ i: -1 }, 'noop');
  const seconds = await timeLoops(n, PUBLISH_LOOPS, (i) => send({ i }, 'noop'));
  await connection.close();
  await assertDepth(ctx, n + 1);
  result('publish', n / seconds);
}

/** An idle consumer (prefetch 10) and, in the same process, one confirmed publish every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES.rabbitmq.latency;
  const latencies = collectLatencies(count);
  const connection = await amqp.connect(ctx.brokerUrl, SOCKET);
  const channel = await connection.createChannel();
  await channel.prefetch(10);
  await channel.consume(
    ctx.queue,
    (message) => {
      if (message === null) return;
      void (async () => {
        const ping = JSON.parse(message.content.toString('utf8')) as { i: number; t: number };
        latencies.record(ping.i, ping.t); // the handler's first line
        channel.ack(message);
      })();
    },
    { noAck: false },
  );
  const { connection: out, send } = await publisher(ctx);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => send({ i, t }, 'ping'));
  await within(latencies.all, latencies.samples, 30_000);
  await out.close();
  await channel.close();
  await connection.close();
  reportLatencies('latency', latencies.samples);
}

export const amqplibScenarios: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
