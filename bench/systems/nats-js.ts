/**
 * The plain nats.js loop Hostwork's NATS JetStream consumer is compared with: the same client library doing the same
 * work by hand. Consuming: the run's durable pull consumer through `consume({ max_messages: concurrency })` (the
 * library keeps that many requested), per message `JSON.parse`, the no-op handler awaited, `ack()` (not confirmed:
 * the loop flushes once at the end). Publishing: `js.publish`, each awaited until the stream acknowledged it. Never
 * loads Hostwork or zod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { MessageRunContext } from '../common.ts';
import { MESSAGE_SIZES, PUBLISH_LOOPS, progress, SIZES } from '../common.ts';
import { collectLatencies, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, counter, type MessageScenarios } from './messaging-kit.ts';

/** The handler: does nothing, asynchronously, as an application's async handler would. */
async function handle(_message: unknown): Promise<void> {}

/**
 * A consumer of the run's durable consumer keeping `concurrency` messages requested; `onBody` gets each parsed body
 * as the handler's first line, `onAcked` is called after its ack. Returns a function that flushes (the server then
 * has every ack), stops and closes.
 */
async function startConsumer(
  ctx: MessageRunContext,
  concurrency: number,
  onAcked: () => void,
  onBody: (body: unknown) => void = () => {},
): Promise<() => Promise<void>> {
  const nc = await connect({ servers: ctx.brokerUrl });
  const consumer = await jetstream(nc).consumers.get(ctx.queue, ctx.queue);
  const messages = await consumer.consume({
    max_messages: concurrency,
    callback: (message) => {
      void (async () => {
        const body: unknown = JSON.parse(message.string());
        onBody(body);
        await handle(body);
        message.ack();
        onAcked();
      })();
    },
  });
  return async () => {
    await nc.flush();
    await messages.close();
    await nc.close();
  };
}

/** Consumes the pre-published messages; timed from `connect` to the last `ack`. */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES.nats.consume;
  const acked = counter(n);
  const t0 = performance.now();
  const close = await startConsumer(ctx, concurrency, () => acked.add(1));
  progress(`consume-c${concurrency} (nats.js): started in ${(performance.now() - t0).toFixed(0)} ms`);
  await acked.all;
  const seconds = (performance.now() - t0) / 1000;
  await close();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/** A JetStream client on the run's stream; `send` resolves once the stream acknowledged the message. */
async function publisher(ctx: MessageRunContext) {
  const nc = await connect({ servers: ctx.brokerUrl });
  const js = jetstream(nc);
  const send = async (body: unknown, type: string) => {
    const h = headers();
    h.set('hostwork-type', type);
    await js.publish(ctx.queue, JSON.stringify(body), { msgID: crypto.randomUUID(), headers: h });
  };
  return { nc, send };
}

/** Publishes N messages from 10 concurrent loops, each publish awaited until the stream acknowledged it. */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES.nats.publish;
  const { nc, send } = await publisher(ctx);
  await send({ i: -1 }, 'noop');
  const seconds = await timeLoops(n, PUBLISH_LOOPS, (i) => send({ i }, 'noop'));
  await nc.close();
  await assertDepth(ctx, n + 1);
  result('publish', n / seconds);
}

/** An idle consumer (10 requested) and, in the same process, one acknowledged publish every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES.nats.latency;
  const latencies = collectLatencies(count);
  const close = await startConsumer(
    ctx,
    10,
    () => {},
    (body) => {
      const ping = body as { i: number; t: number };
      latencies.record(ping.i, ping.t); // the handler's first line
    },
  );
  const { nc: out, send } = await publisher(ctx);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => send({ i, t }, 'ping'));
  await within(latencies.all, latencies.samples, 30_000);
  await out.close();
  await close();
  reportLatencies('latency', latencies.samples);
}

export const natsJsScenarios: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
