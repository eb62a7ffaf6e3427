/**
 * A consumer of the packed @hostwork/rabbitmq, outside the repository: it loads, a transport is created (nothing
 * connects until used), and with RABBITMQ_URL and QUEUE set it publishes a message to a queue it declares, receives
 * it, acks it, and deletes the queue. Run with Node and type-checked with tsc by packed-install.test.ts.
 */
import { rabbitmqTransport } from '@hostwork/rabbitmq';
import type { Delivery, Transport } from 'hostwork';

const url = process.env.RABBITMQ_URL;
const queue = process.env.QUEUE;
const rabbit = rabbitmqTransport({ url: url ?? 'amqp://guest:guest@127.0.0.1:5672', declare: true });
const transport: Transport = rabbit;
console.log(`transport: ${transport.kind}`);

if (url !== undefined && queue !== undefined) {
  let deliver: (delivery: Delivery) => void = () => {};
  const received = new Promise<Delivery>((resolve) => {
    deliver = resolve;
  });
  const subscription = await transport.subscribe(
    { name: queue, options: { queueType: 'classic' } },
    { prefetch: 1, onDelivery: (delivery) => deliver(delivery) },
  );
  await transport.publish({ name: queue }, [
    { id: 'packed-1', body: new TextEncoder().encode('hello rabbit'), headers: { from: 'packed' } },
  ]);
  const delivery = await received;
  await delivery.ack();
  console.log(
    `received ${delivery.id}: ${new TextDecoder().decode(delivery.body)} (attempt ${delivery.attempt})`,
  );
  await subscription.stop();
  await rabbit.deleteTopology({ name: queue }, { queue: true });
}
await transport.close();
console.log('transport closed');
