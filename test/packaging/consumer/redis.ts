/**
 * A consumer of the packed @hostwork/redis, outside the repository: it loads, a transport is created (nothing
 * connects until used), and with REDIS_URL and STREAM set it publishes a message to a stream, receives it through a
 * consumer group, acks it, and deletes the stream's keys. Run with Node and type-checked with tsc by
 * packed-install.test.ts.
 */
import { redisTransport } from '@hostwork/redis';
import type { Delivery, Transport } from 'hostwork';

const url = process.env.REDIS_URL;
const stream = process.env.STREAM;
const redis = redisTransport({ url: url ?? 'redis://127.0.0.1:6379', leaseMs: 10_000 });
const transport: Transport = redis;
console.log(`transport: ${transport.kind}`);

if (url !== undefined && stream !== undefined) {
  let deliver: (delivery: Delivery) => void = () => {};
  const received = new Promise<Delivery>((resolve) => {
    deliver = resolve;
  });
  const subscription = await transport.subscribe(
    { name: stream, options: { group: 'packed' } },
    { prefetch: 1, onDelivery: (delivery) => deliver(delivery) },
  );
  await transport.publish({ name: stream }, [
    { id: 'packed-1', body: new TextEncoder().encode('hello redis'), headers: { from: 'packed' } },
  ]);
  const delivery = await received;
  await delivery.ack();
  console.log(
    `received ${delivery.id}: ${new TextDecoder().decode(delivery.body)} (attempt ${delivery.attempt})`,
  );
  await subscription.stop();
  await redis.deleteKeys({ name: stream });
}
await transport.close();
console.log('transport closed');
