/**
 * The consumers' readiness check against the real broker: healthy while subscribed, unhealthy from the moment the
 * connection is lost (closed from the broker's side, as a broker restart would) until the transport has reconnected
 * and subscribed again, then healthy without a restart.
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
  after(() => deleteQueues(queue, `${queue}.dead`));

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
