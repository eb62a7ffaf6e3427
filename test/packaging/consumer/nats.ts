/**
 * A consumer of the packed @hostwork/nats, outside the repository: it loads, a transport is created (nothing connects
 * until used), and with NATS_URL and SUBJECT set it publishes a message to a subject whose stream it declares,
 * receives it, acks it, and deletes the stream. Run with Node and type-checked with tsc by packed-install.test.ts.
 */
import { natsTransport } from '@hostwork/nats';
import type { Delivery, Transport } from 'hostwork';

const servers = process.env.NATS_URL;
const subject = process.env.SUBJECT;
const nats = natsTransport({ servers: servers ?? '127.0.0.1:4222' });
const transport: Transport = nats;
console.log(`transport: ${transport.kind}`);

if (servers !== undefined && subject !== undefined) {
  let deliver: (delivery: Delivery) => void = () => {};
  const received = new Promise<Delivery>((resolve) => {
    deliver = resolve;
  });
  const subscription = await transport.subscribe(
    { name: subject },
    { prefetch: 1, onDelivery: (delivery) => deliver(delivery) },
  );
  await transport.publish({ name: subject }, [
    { id: 'packed-1', body: new TextEncoder().encode('hello nats'), headers: { from: 'packed' } },
  ]);
  const delivery = await received;
  await delivery.ack();
  console.log(
    `received ${delivery.id}: ${new TextDecoder().decode(delivery.body)} (attempt ${delivery.attempt})`,
  );
  await subscription.stop();
  await nats.deleteTopology({ name: subject }, { stream: true });
}
await transport.close();
console.log('transport closed');
