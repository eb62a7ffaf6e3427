/**
 * The `consumer-lag:<consumer>` checks on a real host with the in-memory transport: what waits for a consumer that it
 * has not received, degraded past the count or age threshold, never unhealthy and in no probe; transports that do not
 * tell or cannot be asked; the thresholds' validation. Each broker's adapter tests its own `lag` against the broker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { HealthCheckService } from '../../src/health/health-check-service.ts';
import { createHostBuilder } from '../../src/hosting/host-builder.ts';
import { addMessaging } from '../../src/messaging/add-messaging.ts';
import { type ConsumerHealthOptions, defineConsumer } from '../../src/messaging/consumer-definition.ts';
import { inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { messagingHealthDefaults } from '../../src/messaging/lag-thresholds.ts';
import { MessageConsumers } from '../../src/messaging/message-consumers.ts';
import { defineMessage } from '../../src/messaging/message-definition.ts';
import type { Transport } from '../../src/messaging/transport.ts';
import { Telemetry } from '../../src/telemetry/telemetry.ts';
import { T, waitFor, withMessagingHost } from '../messaging/helpers.ts';
import { expectRejection, expectThrow } from '../support/errors.ts';

const Tick = defineMessage({
  name: 'tick',
  schema: z.object({ n: z.number() }),
  destination: { name: 'ticks' },
});

/** A consumer of `source` ('ticks') whose handlers wait until `open()` is called. */
function gatedConsumer(
  name = 'ticker',
  options: { readonly source?: string; readonly health?: ConsumerHealthOptions } = {},
) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let started = 0;
  const consumer = defineConsumer({
    name,
    transport: 'memory',
    source: { name: options.source ?? 'ticks' },
    message: Tick,
    concurrency: 1,
    ...(options.health ? { health: options.health } : {}),
    async handle() {
      started++;
      await gate;
    },
  });
  return { consumer, open: () => open(), started: () => started };
}

async function lagEntry(health: HealthCheckService, consumer: string) {
  const report = await health.check({ tags: ['backlog'] });
  const entry = report.entries[`consumer-lag:${consumer}`];
  assert.ok(entry, `consumer-lag:${consumer} is registered with the tag 'backlog'`);
  return entry;
}

describe('the consumer lag checks', () => {
  it('count what waits for a consumer, degraded past maxLag, healthy again once consumed', T, async () => {
    const memory = inMemoryTransport();
    const { consumer, open, started } = gatedConsumer();
    await withMessagingHost(
      { transports: { memory }, consumers: [consumer], health: { maxLag: 2 } },
      async ({ host, publisher }) => {
        const health = host.services.get(HealthCheckService);
        let entry = await lagEntry(health, 'ticker');
        assert.equal(entry.status, 'healthy');
        assert.deepEqual(entry.data, { transport: 'memory', lag: 0, maxLag: 2 });

        await publisher.sendMany(
          Tick,
          [1, 2, 3, 4, 5].map((n) => ({ payload: { n } })),
        );
        await waitFor(() => started() === 1, 'the first handler');
        entry = await lagEntry(health, 'ticker');
        // One is being handled (received), four wait: the consumer's prefetch is its concurrency, 1.
        assert.equal(entry.status, 'degraded');
        assert.equal(entry.data!.lag, 4);
        assert.equal(entry.data!.maxLag, 2);
        assert.equal(typeof entry.data!.oldestAgeMs, 'number');
        assert.match(entry.description!, /4 messages wait for consumer 'ticker' \(more than 2\)/);
        assert.deepEqual(entry.tags, ['backlog']);
        // The same read as a gauge, labelled with the consumer (as its group), the system and the source.
        const metrics = await host.services.get(Telemetry).prometheus();
        assert.match(metrics, /# TYPE messaging_consumer_lag gauge/);
        const line = metrics.split('\n').find((l) => l.startsWith('messaging_consumer_lag{'));
        assert.ok(line, metrics);
        assert.match(line, /messaging_consumer_group_name="ticker"/);
        assert.match(line, /messaging_destination_name="ticks"/);
        assert.match(line, / 4$/);

        const ready = await health.check({ probe: 'ready' });
        const live = await health.check({ probe: 'live' });
        assert.equal(ready.entries['consumer-lag:ticker'], undefined, 'in no probe');
        assert.equal(live.entries['consumer-lag:ticker'], undefined, 'in no probe');
        assert.equal(ready.status, 'healthy');

        open();
        await waitFor(() => started() === 5, 'every handler');
        await waitFor(async () => (await lagEntry(health, 'ticker')).data!.lag === 0, 'no lag');
        assert.equal((await lagEntry(health, 'ticker')).status, 'healthy');
      },
    );
  });

  it('turn degraded when the oldest waiting message is older than maxLagAgeMs', T, async () => {
    const memory = inMemoryTransport();
    const { consumer, open, started } = gatedConsumer();
    await withMessagingHost(
      { transports: { memory }, consumers: [consumer], health: { maxLag: 100, maxLagAgeMs: 150 } },
      async ({ host, publisher }) => {
        const health = host.services.get(HealthCheckService);
        await publisher.sendMany(Tick, [{ payload: { n: 1 } }, { payload: { n: 2 } }]);
        await waitFor(() => started() === 1, 'the first handler');
        const young = await lagEntry(health, 'ticker');
        assert.equal(young.status, 'healthy', 'one message waits, not for long yet');
        assert.equal(young.data!.lag, 1);
        await sleep(200);
        const old = await lagEntry(health, 'ticker');
        assert.equal(old.status, 'degraded');
        assert.ok((old.data!.oldestAgeMs as number) >= 150);
        assert.equal(old.data!.maxLagAgeMs, 150);
        assert.match(old.description!, /has waited \d+ ms \(longer than 150 ms\)/);
        open();
      },
    );
  });

  it(
    'are healthy, saying so, when the transport does not report a lag, and degraded (never unhealthy) when asking fails',
    T,
    async () => {
      // A transport without the optional method, and one whose broker cannot be asked.
      const silent = inMemoryTransport();
      const failing = inMemoryTransport();
      const withoutLag: Transport = {
        kind: 'silent',
        connect: () => silent.connect(),
        subscribe: (s, o) => silent.subscribe(s, o),
        publish: (d, m) => silent.publish(d, m),
        close: () => silent.close(),
        [Symbol.asyncDispose]: () => silent.close(),
      };
      Object.assign(failing, {
        lag: async () => {
          throw new Error('the broker does not answer');
        },
      });
      const consumer = (name: string, transport: string) =>
        defineConsumer({ name, transport, source: { name: 'ticks' }, message: Tick, handle() {} });
      await withMessagingHost(
        {
          transports: { silent: withoutLag, failing },
          consumers: [consumer('quiet', 'silent'), consumer('broken', 'failing')],
        },
        async ({ host }) => {
          const health = host.services.get(HealthCheckService);
          const quiet = await lagEntry(health, 'quiet');
          assert.equal(quiet.status, 'healthy');
          assert.match(quiet.description!, /Transport 'silent' does not report a lag for consumer 'quiet'/);
          const broken = await lagEntry(health, 'broken');
          assert.equal(broken.status, 'degraded');
          assert.match(broken.error!, /the broker does not answer/);
        },
      );
    },
  );

  it('report a consumer that is not running as healthy, and MessageConsumers.lag names unknown consumers', async () => {
    const memory = inMemoryTransport();
    const { consumer } = gatedConsumer();
    const builder = createHostBuilder({ env: {}, args: [] });
    addMessaging(builder, { transports: { memory }, consumers: [consumer] });
    const host = builder.build();
    const entry = await lagEntry(host.services.get(HealthCheckService), 'ticker');
    assert.equal(entry.status, 'healthy');
    assert.match(entry.description!, /'ticker' is not running/);
    await expectRejection(
      host.services.get(MessageConsumers).lag('nobody'),
      ErrorCodes.INVALID_OPTION,
      "no consumer is named 'nobody'",
      'registered: ticker',
    );
  });

  it(
    'take a consumer’s own thresholds first, key by key, then addMessaging’s, then the defaults',
    T,
    async () => {
      const memory = inMemoryTransport();
      // 'strict' sets maxLag only; 'slow' sets maxLagAgeMs only; 'plain' sets nothing.
      const strict = gatedConsumer('strict', { source: 'a', health: { maxLag: 2 } });
      const slow = gatedConsumer('slow', { source: 'b', health: { maxLagAgeMs: 100 } });
      const plain = gatedConsumer('plain', { source: 'c' });
      await withMessagingHost(
        {
          transports: { memory },
          consumers: [strict.consumer, slow.consumer, plain.consumer],
          health: { maxLagAgeMs: 60_000 },
        },
        async ({ host, publisher }) => {
          const health = host.services.get(HealthCheckService);
          const five = [1, 2, 3, 4, 5].map((n) => ({ payload: { n } }));
          await publisher.sendMany(Tick, five, { destination: { name: 'a' } });
          await publisher.sendMany(Tick, five.slice(0, 2), { destination: { name: 'b' } });
          await publisher.sendMany(Tick, five, { destination: { name: 'c' } });
          await waitFor(
            () => strict.started() === 1 && slow.started() === 1 && plain.started() === 1,
            'the first handler of each',
          );
          await sleep(150);

          const a = await lagEntry(health, 'strict');
          assert.equal(a.status, 'degraded', 'four wait, more than its own maxLag');
          assert.equal(a.data!.maxLag, 2, 'its own');
          assert.equal(a.data!.maxLagAgeMs, 60_000, 'addMessaging’s, which it did not set');
          assert.match(a.description!, /4 messages wait for consumer 'strict' \(more than 2\)/);

          const b = await lagEntry(health, 'slow');
          assert.equal(b.status, 'degraded', 'one waits, for longer than its own maxLagAgeMs');
          assert.equal(b.data!.lag, 1);
          assert.equal(b.data!.maxLagAgeMs, 100, 'its own, over addMessaging’s');
          assert.equal(b.data!.maxLag, messagingHealthDefaults.maxLag, 'set nowhere: the default');
          assert.match(b.description!, /consumer 'slow' has waited \d+ ms \(longer than 100 ms\)/);

          const c = await lagEntry(health, 'plain');
          assert.equal(c.status, 'healthy', 'four wait: under the default, younger than addMessaging’s age');
          assert.equal(c.data!.lag, 4);
          assert.equal(c.data!.maxLag, messagingHealthDefaults.maxLag);
          assert.equal(c.data!.maxLagAgeMs, 60_000);

          for (const g of [strict, slow, plain]) g.open();
        },
      );
    },
  );

  it('refuse a consumer’s bad thresholds and unknown keys, naming the consumer and the key', () => {
    const consumer = (health: unknown) => () =>
      defineConsumer({
        name: 'ticker',
        transport: 'memory',
        source: { name: 'ticks' },
        message: Tick,
        health: health as ConsumerHealthOptions,
        handle() {},
      });
    expectThrow(
      consumer({ maxLag: -1 }),
      ErrorCodes.INVALID_OPTION,
      "defineConsumer('ticker') health.maxLag must be a whole number of messages >= 0",
      '-1',
    );
    expectThrow(
      consumer({ maxLag: 2.5 }),
      ErrorCodes.INVALID_OPTION,
      "defineConsumer('ticker') health.maxLag",
    );
    expectThrow(
      consumer({ maxLagAgeMs: 0 }),
      ErrorCodes.INVALID_OPTION,
      "defineConsumer('ticker') health.maxLagAgeMs must be a positive number of ms",
    );
    expectThrow(
      consumer({ maxLagAgeMs: Number.POSITIVE_INFINITY }),
      ErrorCodes.INVALID_OPTION,
      'health.maxLagAgeMs',
    );
    expectThrow(
      consumer({ maxLagAge: 5 }),
      ErrorCodes.UNKNOWN_OPTION,
      "'maxLagAge'",
      "defineConsumer('ticker') health",
      "Did you mean 'maxLagAgeMs'?",
    );
    expectThrow(
      consumer(500),
      ErrorCodes.INVALID_OPTION,
      "defineConsumer('ticker') health must be an object of thresholds",
    );
    const ok = defineConsumer({
      name: 'ticker',
      transport: 'memory',
      source: { name: 'ticks' },
      message: Tick,
      health: { maxLag: 0 },
      handle() {},
    });
    assert.deepEqual(ok.health, { maxLag: 0 }, 'only the keys given: the others come from addMessaging');
  });

  it('refuse bad thresholds and unknown keys, naming them', () => {
    const memory = inMemoryTransport();
    const builder = () => createHostBuilder({ env: {}, args: [] });
    expectThrow(
      () => addMessaging(builder(), { transports: { memory }, health: { maxLag: -1 } }),
      ErrorCodes.INVALID_OPTION,
      'health.maxLag must be a whole number of messages >= 0',
      '-1',
    );
    expectThrow(
      () => addMessaging(builder(), { transports: { memory }, health: { maxLag: 1.5 } }),
      ErrorCodes.INVALID_OPTION,
      'health.maxLag',
    );
    expectThrow(
      () => addMessaging(builder(), { transports: { memory }, health: { maxLagAgeMs: 0 } }),
      ErrorCodes.INVALID_OPTION,
      'health.maxLagAgeMs must be a positive number of ms',
    );
    expectThrow(
      // @ts-expect-error: a typo
      () => addMessaging(builder(), { transports: { memory }, health: { maxlag: 5 } }),
      ErrorCodes.UNKNOWN_OPTION,
      "'maxlag'",
    );
  });
});

describe('the in-memory transport’s lag', () => {
  it(
    'counts ready messages only: not delayed ones, not those handed over; released ones again',
    T,
    async () => {
      const memory = inMemoryTransport();
      await memory.connect();
      const body = new Uint8Array([1]);
      await memory.publish({ name: 'q' }, [
        { id: 'a', body, headers: {} },
        { id: 'b', body, headers: {} },
        { id: 'later', body, headers: {}, delayMs: 60_000 },
      ]);
      let lag = await memory.lag({ name: 'q' });
      assert.equal(lag.messages, 2, 'the delayed message does not wait for the consumer yet');
      assert.ok(lag.oldestAgeMs !== undefined && lag.oldestAgeMs >= 0);
      const received: Array<{ release(): Promise<void> }> = [];
      const subscription = await memory.subscribe(
        { name: 'q' },
        { prefetch: 1, onDelivery: (d) => received.push(d) },
      );
      await waitFor(() => received.length === 1, 'one delivery');
      assert.equal((await memory.lag({ name: 'q' })).messages, 1);
      await subscription.stop();
      await received[0]!.release();
      lag = await memory.lag({ name: 'q' });
      assert.equal(lag.messages, 2);
      assert.deepEqual(await memory.lag({ name: 'empty' }), { messages: 0 });
      await memory.close();
    },
  );
});
