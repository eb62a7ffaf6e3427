/**
 * The demo's order messages on RabbitMQ (Messaging:RabbitMQ:Url): an order placed over HTTP publishes OrderPlaced
 * through the transactional outbox, the warehouse consumer receives it from the real broker, and a second delivery of
 * the same message (as a broker redelivery or an outbox relay crash would give) is acknowledged by the inbox without
 * running the handler. Needs RabbitMQ; without it the test is skipped with the reason (a failure in CI).
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { rabbitmqTransport } from '@hostwork/rabbitmq';
import {
  deleteQueues,
  describeWithBroker,
  freshQueueName,
  RABBITMQ_URL,
} from '../../../packages/rabbitmq/test/support/broker.ts';
import { DemoProcess, request, tempDatabase, waitForJob } from './demo-process.ts';
import { type OrderView, waitForOrder } from './orders.ts';

await describeWithBroker('the demo with RabbitMQ', () => {
  const queue = freshQueueName('demo-orders');
  after(() => deleteQueues(queue, `${queue}.dead`));

  it('publishes an order through the outbox to RabbitMQ, and the inbox runs the warehouse once per message', {
    timeout: 60_000,
  }, async () => {
    const demo = new DemoProcess(tempDatabase(), [
      `--Messaging:RabbitMQ:Url=${RABBITMQ_URL}`,
      `--Demo:OrdersQueue=${queue}`,
      '--Logging:Level=debug',
    ]);
    try {
      const base = await demo.baseUrl();
      await demo.waitFor(
        (l) => l.msg === `Consumer 'notify-warehouse' started on rabbitmq '${queue}' (concurrency 5)`,
        'the consumer on RabbitMQ',
      );
      const accepted = await request(`${base}/orders`, 'POST', { orderId: 'R-1', amount: 12.5, workMs: 20 });
      assert.equal(accepted.status, 202);
      const { id, messageId } = accepted.body as { id: string; messageId: string };
      const order = await waitForOrder(base, 'R-1', (o) => o.notifications > 0);
      assert.equal(order.messageId, messageId);
      assert.equal(order.jobId, id);
      await waitForJob(base, id, 'completed');

      // The same message once more, as the broker would redeliver it: acknowledged, the handler not run again.
      const publisher = rabbitmqTransport({ url: RABBITMQ_URL });
      try {
        await publisher.publish({ name: queue }, [
          {
            id: messageId,
            body: new TextEncoder().encode(JSON.stringify({ orderId: 'R-1', amount: 12.5 })),
            headers: { 'hostwork-type': 'order-placed' },
          },
        ]);
      } finally {
        await publisher.close();
      }
      await demo.waitFor(
        (l) => l.messageId === messageId && /already processed by consumer 'notify-warehouse'/.test(l.msg),
        'the inbox to acknowledge the second delivery',
      );
      const again = (await request(`${base}/orders/R-1`)).body as OrderView;
      assert.equal(again.notifications, 1, 'the warehouse ran once for two deliveries of one message');
    } finally {
      await demo.kill();
    }
  });
});
