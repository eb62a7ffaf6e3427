import { defineJob } from 'hostwork';
import { z } from 'zod';

/**
 * The work the API accepts and answers 202 for: stored before the response is sent, run by the worker outside the
 * request, retried with backoff when it throws, moved to 'dead' with its errors after its last attempt.
 */
export const GenerateReport = defineJob({
  name: 'generate-report',
  schema: z.object({ customerId: z.string().min(1), month: z.string().regex(/^\d{4}-\d{2}$/) }),
  maxAttempts: 5,
  async handle({ customerId, month }, ctx) {
    ctx.signal.throwIfAborted(); // long work passes ctx.signal on, so a shutdown or a timeout stops it
    ctx.progress({ step: 'rendering' });
    ctx.logger.info({ customerId, month }, `Report ${month} for ${customerId} generated`);
  },
});
