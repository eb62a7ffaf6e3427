/**
 * The plain @azure/service-bus loop Hostwork's Azure Service Bus consumer is compared with, on the local AMQP
 * stand-in (not the service): the SDK's own receiver doing the same work by hand. Consuming: `receiver.subscribe()`
 * in peek-lock mode with `maxConcurrentCalls` = the concurrency, per message `JSON.parse` of the body, the no-op
 * handler awaited, `completeMessage` awaited (the service's confirmation), the SDK's automatic lock renewal off as in
 * Hostwork's (which renews only while a handler outlives the lock). Publishing: `sendMessages` of one message, each
 * awaited. Never loads Hostwork or zod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceBusClient } from '@azure/service-bus';
import type { MessageRunContext } from '../common.ts';
import { MESSAGE_SIZES, PUBLISH_LOOPS, progress, SIZES } from '../common.ts';
import { collectLatencies, reportLatencies, result, sendPings, timeLoops, within } from '../kit.ts';
import { assertDepth, counter, type MessageScenarios } from './messaging-kit.ts';

/** The handler: does nothing, asynchronously, as an application's async handler would. */
async function handle(_message: unknown): Promise<void> {}

/**
 * A receiver on the run's queue handling `concurrency` messages at once; `onBody` gets each parsed body as the
 * handler's first line, `onCompleted` is called once its completion is confirmed. Returns a function that closes.
 */
async function startConsumer(
  ctx: MessageRunContext,
  concurrency: number,
  onCompleted: () => void,
  onBody: (body: unknown) => void = () => {},
): Promise<() => Promise<void>> {
  const client = new ServiceBusClient(ctx.brokerUrl);
  const receiver = client.createReceiver(ctx.queue, {
    receiveMode: 'peekLock',
    maxAutoLockRenewalDurationInMs: 0,
    skipParsingBodyAsJson: true,
  });
  const subscription = receiver.subscribe(
    {
      async processMessage(message) {
        const body: unknown = JSON.parse(String(message.body));
        onBody(body);
        await handle(body);
        await receiver.completeMessage(message);
        onCompleted();
      },
      async processError() {},
    },
    { autoCompleteMessages: false, maxConcurrentCalls: concurrency },
  );
  return async () => {
    await subscription.close();
    await receiver.close();
    await client.close();
  };
}

/** Consumes the pre-published messages; timed from creating the client to the last confirmed completion. */
async function consume(ctx: MessageRunContext, concurrency: number): Promise<void> {
  const n = MESSAGE_SIZES['azure-service-bus'].consume;
  const completed = counter(n);
  const t0 = performance.now();
  const close = await startConsumer(ctx, concurrency, () => completed.add(1));
  progress(
    `consume-c${concurrency} (@azure/service-bus): started in ${(performance.now() - t0).toFixed(0)} ms`,
  );
  await completed.all;
  const seconds = (performance.now() - t0) / 1000;
  await close();
  await assertDepth(ctx, 0);
  result(`consume-c${concurrency}`, n / seconds);
}

/** A sender on the run's queue; `send` resolves once the peer accepted the message. */
function publisher(ctx: MessageRunContext) {
  const client = new ServiceBusClient(ctx.brokerUrl);
  const sender = client.createSender(ctx.queue);
  const send = (body: unknown, type: string) =>
    sender.sendMessages({
      body: Buffer.from(JSON.stringify(body)),
      messageId: crypto.randomUUID(),
      applicationProperties: { 'hostwork-type': type },
    });
  return { close: () => client.close(), send };
}

/** Publishes N messages from 10 concurrent loops, each send awaited until accepted. */
async function publish(ctx: MessageRunContext): Promise<void> {
  const n = MESSAGE_SIZES['azure-service-bus'].publish;
  const { close, send } = publisher(ctx);
  await send({ i: -1 }, 'noop');
  const seconds = await timeLoops(n, PUBLISH_LOOPS, (i) => send({ i }, 'noop'));
  await close();
  await assertDepth(ctx, n + 1);
  result('publish', n / seconds);
}

/** An idle receiver (10 at once) and, in the same process, one accepted send every 20 ms. */
async function latency(ctx: MessageRunContext): Promise<void> {
  const count = MESSAGE_SIZES['azure-service-bus'].latency;
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
  const out = publisher(ctx);
  await sleep(SIZES.latencySettleMs);
  await sendPings(count, SIZES.latencyIntervalMs, (i, t) => out.send({ i, t }, 'ping'));
  await within(latencies.all, latencies.samples, 30_000);
  await out.close();
  await close();
  reportLatencies('latency', latencies.samples);
}

export const azureSdkScenarios: MessageScenarios = {
  'consume-c10': (ctx) => consume(ctx, 10),
  'consume-c50': (ctx) => consume(ctx, 50),
  publish,
  latency,
};
