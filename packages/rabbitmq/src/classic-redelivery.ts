/**
 * Counting redeliveries on a classic queue. A classic queue flags a redelivery (`redelivered`) but keeps no count, so
 * a message that kills every consumer process handling it would come back for ever. Instead of handing such a
 * redelivery over, the subscription publishes a copy of it to the tail of the same queue, with
 * `hostwork-redeliveries` one more than the message carried, and acks the original once the broker confirmed the
 * copy. The copy is a first delivery whose `Delivery.redeliveries` is that header, so the consumer engine dead-letters
 * it once the count passes `maxRedeliveries`.
 *
 * Never a loss: a crash or a channel loss between the confirm and the ack leaves both the copy and the original (a
 * duplicate, counted one lower). A copy the broker refuses leaves the original to be handed over without a count.
 */

import type { Outstanding } from './ack-coalescer.ts';
import { redeliveryCopyHeaders } from './headers.ts';
import type { DeliveryChannel, DeliveryServices } from './rabbitmq-delivery.ts';

/**
 * What became of a redelivery: `replaced` (its counted copy is in the queue and it is acked, or its channel closed
 * and the broker delivers it again), or `uncounted` (the copy could not be published; hand it over without a count).
 */
export type RedeliveryOutcome = 'replaced' | 'uncounted';

/** Publishes the counted copy of a classic-queue redelivery, confirmed, then acks the original; see the module. */
export async function replaceRedelivery(
  entry: Outstanding,
  channel: DeliveryChannel,
  services: DeliveryServices,
  id: string,
): Promise<RedeliveryOutcome> {
  const message = entry.message;
  const details = { queue: services.queue, messageId: id };
  try {
    await services.publishCopy(message, id, redeliveryCopyHeaders(message.properties.headers), {
      queue: services.queue,
    });
  } catch (error) {
    // Its channel is gone: the broker delivers the original again (and counts it then).
    if (!channel.open) return 'replaced';
    services.warn(
      `RabbitMQ: message '${id}' was redelivered from classic queue '${services.queue}', but its counted copy could not be published; it is handled without a redelivery count, so maxRedeliveries does not apply to it this time.`,
      error,
      { warning: 'redelivery-uncounted', ...details },
    );
    return 'uncounted';
  }
  let lost: unknown;
  if (channel.open) {
    try {
      await channel.ack(entry);
      return 'replaced';
    } catch (error) {
      lost = error;
    }
  }
  services.warn(
    `RabbitMQ: the counted copy of redelivered message '${id}' from classic queue '${services.queue}' was published, but the original could not be acked because its channel closed; the broker delivers the original again (a duplicate).`,
    lost,
    { warning: 'settle-after-channel-loss', ...details, settle: 'redelivery' },
  );
  return 'replaced';
}
