/**
 * Delayed delivery on RabbitMQ 3.x without plugins: a message waits in a delay queue whose queue-wide TTL
 * (`x-message-ttl`) is the delay, and whose dead-letter exchange routes it back to its queue when the TTL expires.
 *
 * Why a queue per delay and not a per-message `expiration` in one queue: RabbitMQ expires messages only at the head
 * of a queue, so a message with a long delay would hold back every shorter one behind it. With one TTL per queue
 * every message in it expires in the order it arrived. To keep the set of queues small, a delay is rounded UP to the
 * next step of a geometric scale of 20 steps per decade (1, 1.12, 1.25, 1.4, 1.6, 1.8, 2, 2.24, 2.5, 2.8, 3.15, 3.55,
 * 4, 4.5, 5, 5.6, 6.3, 7.1, 8, 9 times a power of ten ms, from 10 ms, whole ms): a message comes back no earlier than asked and
 * at most about 14% later, and a source uses at most 20 queues per decade of delays it actually uses. Each delay
 * queue deletes itself (`x-expires`) once unused for {@link delayQueueExpiresMs}, which is longer than any message
 * in it can wait.
 */

/** The steps of one decade, in hundredths (R20 preferred numbers, rounded). */
const STEPS = [
  100, 112, 125, 140, 160, 180, 200, 224, 250, 280, 315, 355, 400, 450, 500, 560, 630, 710, 800, 900,
];

/** The shortest delay queue's TTL, in ms: a delay below 1 ms is no delay (published straight to the queue). */
export const MIN_DELAY_MS = 10;
/** The longest delay RabbitMQ's TTL takes (2^31 - 1 ms, about 24.8 days). */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * The TTL of the delay queue for `delayMs`: the smallest step >= `delayMs` (at least {@link MIN_DELAY_MS}), or 0
 * when `delayMs` is below 1 ms (deliver now). Throws a RangeError above {@link MAX_DELAY_MS}.
 */
export function delayBucketMs(delayMs: number): number {
  if (!(delayMs >= 1)) return 0;
  if (delayMs > MAX_DELAY_MS) {
    throw new RangeError(
      `a delay of ${delayMs} ms is longer than RabbitMQ's longest TTL (${MAX_DELAY_MS} ms)`,
    );
  }
  for (let decade = 10; ; decade *= 10) {
    for (const step of STEPS) {
      const bucket = Math.ceil((step * decade) / 100);
      if (bucket >= delayMs) return Math.min(bucket, MAX_DELAY_MS);
    }
  }
}

/** The name of `queue`'s delay queue for a TTL of `bucketMs`: `<queue>.delay.<ms>`. */
export function delayQueueName(queue: string, bucketMs: number): string {
  return `${queue}.delay.${bucketMs}`;
}

/** How long a delay queue stays after its last declaration: its TTL plus 10 minutes. */
export function delayQueueExpiresMs(bucketMs: number): number {
  return bucketMs + 10 * 60_000;
}

/**
 * How long a process may publish into a delay queue it declared without declaring it again: 5 minutes. A message
 * published then expires (TTL) at most 5 minutes + TTL after that declaration, before the queue can (TTL + 10 minutes).
 */
export const DELAY_QUEUE_REDECLARE_MS = 5 * 60_000;
