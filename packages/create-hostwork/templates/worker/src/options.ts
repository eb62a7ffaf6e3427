import { defineOptions } from 'hostwork';
import { z } from 'zod';

const schema = z.object({
  /** How often the worker looks for new files, in ms. */
  IntervalMs: z.number().int().positive().default(5_000),
  /** Where the files come from (a folder, a bucket...). */
  Source: z.string().min(1).default('inbox'),
});

/** The worker's options, as the schema gives them (defaults applied). */
export type ImportOptions = z.output<typeof schema>;

/**
 * The worker's options, bound from the `Import` section of the configuration: hostwork.json, then
 * hostwork.<Environment>.json, then environment variables (IMPORT__INTERVALMS=1000), then the command line
 * (--Import:IntervalMs=1000). Invalid values stop the host at start, naming the key and where the value came from.
 */
export const ImportOptions = defineOptions('Import', schema);
