import { defineJob } from 'hostwork';
import { z } from 'zod';

/**
 * A durable job: stored before `enqueue` returns, retried with backoff when it throws, moved to 'dead' with its errors
 * after its last attempt, and run again if the process dies mid-way. Its payload is validated at enqueue.
 */
export const ImportFile = defineJob({
  name: 'import-file',
  schema: z.object({ file: z.string().min(1), source: z.string().min(1) }),
  maxAttempts: 5,
  async handle({ file, source }, ctx) {
    ctx.signal.throwIfAborted(); // long work passes ctx.signal on, so a shutdown or a timeout stops it
    ctx.logger.info({ file, source }, `Imported ${file} from ${source}`);
  },
});
