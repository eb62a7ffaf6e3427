/**
 * The plain node-redis loop Hostwork's Redis Streams consumer is compared with: the same client library sending the
 * same commands by hand (raw `sendCommand`, bulk strings as Buffers, RESP2, as the transport does), so the difference
 * is Hostwork's engine. Consuming: one connection blocking in XREADGROUP with COUNT = the room left (concurrency minus
 * messages in hand), another for the acks; per message `JSON.parse`, the no-op handler awaited, XACK (node-redis
 * writes the XACKs of one tick together, but each is a command of its own; Hostwork's transport sends the acks of one
 * turn as one XACK with all their ids, as the RabbitMQ transport coalesces its acks against amqplib's per-message
 * ones). Publishing: one XADD per call, awaited. Never loads Hostwork or zod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RESP_TYPES } from 'redis';
import { NOOP_TYPE, REDIS_GROUP, redisClient, TYPE_HEADER } from '../brokers.ts';
import type { MessageRunContext } from '../common.ts';
import { MESSAGE_SIZES, PUBLISH_LOOPS, progress, SIZES } from '../common.ts';
import { collectLatencies, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, counter, type MessageScenarios } from './messaging-kit.ts';

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

type Client = Awaited<ReturnType<typeof redisClient>>;
type Entry = [Buffer, Buffer[]];

/** The handler: does nothing, asynchronously, as an application's async handler would. */
async function handle(_message: unknown): Promise<void> {}

/** The `body` field of an entry's fields. */
function bodyOf(fields: readonly Buffer[]): Buffer {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === 'body') return fields[i + 1]!;
  throw new Error('an entry without a body');
}

/**
 * A consumer of the run's stream in the group, `concurrency` messages in hand at most: `handler` runs with each parsed
 * body, `onAcked` once its XACK is sent. Returns a function that stops it, waits for every ack's reply, and closes
 * both clients.
 */
async function startConsumer(
  ctx: MessageRunContext,
  concurrency: number,
  handler: (body: unknown) => Promise<void> | void,
  onAcked: () => void = () => {},
): Promise<() => Promise<void>> {
  const reader: Client = await redisClient(ctx.brokerUrl);
  const acker: Client = await redisClient(ctx.brokerUrl);
  await acker.sendCommand(['XGROUP', 'CREATE', ctx.queue, REDIS_GROUP, '0', 'MKSTREAM']).catch(() => {});
  let inHand = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const acks = new Set<Promise<unknown>>();
  const loop = (async () => {
    while (!stopped) {
      const room = concurrency - inHand;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const reply = (await reader.sendCommand(
        [
          'XREADGROUP',
          'GROUP',
          REDIS_GROUP,
          'plain',
          'COUNT',
          String(room),
          'BLOCK',
          '200',
          'STREAMS',
          ctx.queue,
          '>',
        ],
        BUFFERS,
      )) as [Buffer, Entry[]][] | null;
      // Each message on its own: parsed, handled, acknowledged (XACK), as the Redis documentation's consumer does.
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        inHand++;
        void (async () => {
          const body: unknown = JSON.parse(bodyOf(fields).toString('utf8'));
          await handler(body);
          const ack = acker.sendCommand(['XACK', ctx.queue, REDIS_GROUP, id]);
          acks.add(ack);
          void ack.finally(() => acks.delete(ack));
          inHand--;
          wake?.();
          wake = undefined;
          onAcked();
        })();
      }
    }
  })();
  return async () => {
    stopped = true;
    wake?.();
    await loop;
    await Promise.all(acks);
    reader.destroy();
    acker.destroy();
  };
}

/** Consumes the pre-published messages; timed from connecting to the last XACK sent. */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES.redis.consume;
  const acked = counter(n);
  const t0 = performance.now();
  const stop = await startConsumer(ctx, concurrency, handle, () => acked.add(1));
  progress(`consume-c${concurrency} (node-redis): started in ${(performance.now() - t0).toFixed(0)} ms`);
  await acked.all;
  const seconds = (performance.now() - t0) / 1000;
  await stop();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/** XADD of one message with the fields Hostwork's transport writes; resolves on the reply. */
function xadd(client: Client, ctx: MessageRunContext, body: unknown, type: string): Promise<unknown> {
  return client.sendCommand([
    'XADD',
    ctx.queue,
    '*',
    'id',
    crypto.randomUUID(),
    'body',
    JSON.stringify(body),
    TYPE_HEADER,
    type,
  ]);
}

/** Publishes N messages from 10 concurrent loops, each XADD awaited. */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES.redis.publish;
  const client = await redisClient(ctx.brokerUrl);
  await xadd(client, ctx, { i: -1 }, NOOP_TYPE);
  const seconds = await timeLoops(n, PUBLISH_LOOPS, (i) => xadd(client, ctx, { i }, NOOP_TYPE));
  client.destroy();
  await assertDepth(ctx, n + 1);
  result('publish', n / seconds);
}

/** An idle consumer (10 in hand at most) and, in the same process, one XADD every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES.redis.latency;
  const latencies = collectLatencies(count);
  const stop = await startConsumer(ctx, 10, (body) => {
    const ping = body as { i: number; t: number };
    latencies.record(ping.i, ping.t); // the handler's first line
  });
  const client = await redisClient(ctx.brokerUrl);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => xadd(client, ctx, { i, t }, 'ping'));
  await within(latencies.all, latencies.samples, 30_000);
  client.destroy();
  await stop();
  reportLatencies('latency', latencies.samples);
}

export const nodeRedisScenarios: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
