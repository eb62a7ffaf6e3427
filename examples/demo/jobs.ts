import { setTimeout as sleep } from 'node:timers/promises';
import { defineJob } from 'hostwork';
import { z } from 'zod';

/** A durable email job. Any Standard Schema validator types the payload from enqueue to handler. */
export const SendEmail = defineJob({
  name: 'send-email',
  schema: z.object({ to: z.email(), subject: z.string().min(1), body: z.string().default('') }),
  maxAttempts: 5,
  backoff: { type: 'fixed', delay: 1_000 },
  async handle({ to, subject }, ctx) {
    await sleep(50, undefined, { signal: ctx.signal });
    ctx.logger.info({ to, subject }, `Email sent to ${to}`);
  },
});

/**
 * A durable order job. `failTimes` makes the first attempts fail, to show retries and the attempt history;
 * `workMs` makes it long enough to kill the process in the middle and watch it resume after a restart.
 */
export const ProcessOrder = defineJob({
  name: 'process-order',
  schema: z.object({
    orderId: z.string().min(1),
    amount: z.number().positive(),
    failTimes: z.number().int().min(0).default(0),
    workMs: z.number().int().min(0).max(600_000).default(200),
  }),
  maxAttempts: 5,
  backoff: { type: 'fixed', delay: 1_000 },
  async handle({ orderId, amount, failTimes, workMs }, ctx) {
    if (ctx.attempt <= failTimes)
      throw new Error(`Payment provider unavailable (simulated failure ${ctx.attempt}/${failTimes})`);
    const steps = 10;
    for (let step = 1; step <= steps; step++) {
      await sleep(workMs / steps, undefined, { signal: ctx.signal });
      ctx.progress({ step, of: steps });
    }
    ctx.logger.info({ orderId, amount }, `Order ${orderId} processed`);
  },
});
