import { defineConsumer, defineMessage } from 'hostwork';
import { z } from 'zod';
import { OrderBook } from './order-book.ts';

/** The message the HTTP endpoint publishes, through the outbox, when it takes an order. */
export const OrderPlaced = defineMessage({
  name: 'order-placed',
  schema: z.object({ orderId: z.string().min(1), amount: z.number().positive() }),
});

/**
 * The warehouse's consumer of OrderPlaced: it notes the order as notified. With the inbox and `completeWithin`, its
 * work commits once per message, however often the broker (or the outbox, after a relay crash) delivers it: a
 * redelivery finds the message recorded and runs nothing. `queue` is the broker queue (Demo:OrdersQueue).
 */
export function warehouseConsumer(queue: string) {
  return defineConsumer({
    name: 'notify-warehouse',
    transport: 'broker',
    source: { name: queue },
    message: OrderPlaced,
    concurrency: 5,
    maxAttempts: 5,
    backoff: { type: 'fixed', delay: 1_000 },
    inbox: true,
    async handle({ orderId }, ctx) {
      const orders = ctx.services.get(OrderBook);
      const done = await orders.transaction(async (tx) => {
        // Another delivery of this message committed first: nothing to do, nothing written.
        if (!(await ctx.completeWithin(tx.handle))) return false;
        await tx.run('notified', [orderId, new Date().toISOString()]);
        return true;
      });
      if (done) ctx.logger.info({ orderId }, `Warehouse notified of order ${orderId}`);
    },
  });
}
