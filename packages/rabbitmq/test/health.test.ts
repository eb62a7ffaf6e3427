/**
 * The consumers' readiness check against the real broker: healthy while subscribed, unhealthy from the moment the
 * connection is lost (closed from the broker's side, as a broker restart would) until the transport has reconnected
 * and subscribed again, then healthy without a restart. The consumer lag check: the ready messages of the consumer's
 * queue, as the broker counts them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, it } from 'node:test';
import { rabbitmqTransport } from '@hostwork/rabbitmq';
import {
  addMessaging,
  createHostBuilder,
  defineConsumer,
  defineMessage,
  HealthCheckService,
  type HealthReport,
  MessagePublisher,
} from 'hostwork';
import { z } from 'zod';
import {
  deleteQueues,
  describeWithBroker,
  freshQueueName,
  killConnections,
  RABBITMQ_URL,
  waitFor,
} from './support/broker.ts';

await describeWithBroker('the consumers health check on RabbitMQ', () => {
  const queue = freshQueueName('health');
  const lagQueue = freshQueueName('lag');
  after(() => deleteQueues(queue, `${queue}.dead`, lagQueue, `${lagQueue}.dead`));

  it('reports the ready messages of a consumer’s queue as its lag, degraded past maxLag', {
    timeout: 30_000,
  }, async () => {
    const Tick = defineMessage({ name: 'tick', schema: z.object({ n: z.number() }) });
    const transport = rabbitmqTransport({ url: RABBITMQ_URL, declare: true });
    const source = { name: lagQueue };
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let started = 0;
    const builder = createHostBuilder({ env: {}, args: [], logging: { level: 'silent' } });
    addMessaging(builder, {
      transports: { rabbit: transport },
      consumers: [
        defineConsumer({
          name: 'ticks',
          transport: 'rabbit',
          source,
          message: Tick,
          concurrency: 1,
          async handle() {
            started++;
            await gate;
          },
        }),
      ],
      health: { maxLag: 3 },
    });
    const host = builder.build();
    await host.start();
    try {
      const health = host.services.get(HealthCheckService);
      const lag = async () => (await health.check({ tags: ['backlog'] })).entries['consumer-lag:ticks']!;
      assert.deepEqual((await lag()).data, { transport: 'rabbit', lag: 0, maxLag: 3 });
      await host.services.get(MessagePublisher).sendMany(
        Tick,
        [1, 2, 3, 4, 5, 6].map((n) => ({ payload: { n } })),
        { destination: source },
      );
      await waitFor('the first handler', () => started === 1);
      // Prefetch 1: one message is delivered and held, five are ready in the queue.
      await waitFor('the broker to count five ready', async () => (await lag()).data!.lag === 5);
      const entry = await lag();
      assert.equal(entry.status, 'degraded');
      assert.match(entry.description!, /5 messages wait for consumer 'ticks' \(more than 3\)/);
      assert.equal((await health.check({ probe: 'ready' })).entries['consumer-lag:ticks'], undefined);
      assert.deepEqual(await transport.lag({ name: freshQueueName('missing') }), undefined);
      open();
      await waitFor('every message handled', () => started === 6);
      await waitFor('no lag', async () => (await lag()).data!.lag === 0);
      assert.equal((await lag()).status, 'healthy');
    } finally {
      open();
      await host.stop();
    }
  });

  it('is unhealthy while a consumer has lost its broker, healthy again once it has reconnected', {
    timeout: 30_000,
  }, async () => {
    const connectionName = `hostwork-health-${randomUUID()}`;
    const Ping = defineMessage({ name: 'ping', schema: z.object({}) });
    const builder = createHostBuilder({ env: {}, args: [], logging: { level: 'silent' } });
    addMessaging(builder, {
      transports: {
        rabbit: rabbitmqTransport({
          url: RABBITMQ_URL,
          declare: true,
          connectionName,
          reconnectDelayMs: 1_000,
        }),
      },
      consumers: [
        defineConsumer({
          name: 'pings',
          transport: 'rabbit',
          source: { name: queue },
          message: Ping,
          handle() {},
        }),
      ],
    });
    const host = builder.build();
    await host.start();
    try {
      const health = host.services.get(HealthCheckService);
      const consumers = async () => (await health.check({ probe: 'ready' })).entries.consumers!;
      assert.equal((await consumers()).status, 'healthy');
      assert.deepEqual((await consumers()).data, { pings: { transport: 'rabbit', connected: true } });

      assert.equal(await killConnections(connectionName), 1);
      let down: HealthReport['entries'][string] | undefined;
      await waitFor('the check to see the loss', async () => {
        const entry = await consumers();
        if (entry.status === 'unhealthy') down = entry;
        return down !== undefined;
      });
      assert.match(down!.description!, /Not connected to the broker: 'pings' \(rabbit\)/);
      assert.equal((down!.data!.pings as { connected: boolean }).connected, false);
      await waitFor(
        'the check to see the reconnect',
        async () => (await consumers()).status === 'healthy',
        20_000,
      );
    } finally {
      await host.stop();
    }
  });
});
