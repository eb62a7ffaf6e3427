import { defineOptions } from 'hostwork';
import { z } from 'zod';

const schema = z.object({
  /** The port the HTTP server listens on; 0 picks a free one (the tests use it). */
  Port: z.number().int().min(0).max(65_535).default(3000),
});

/** The HTTP server's options, as the schema gives them (defaults applied). */
export type HttpOptions = z.output<typeof schema>;

/**
 * Bound from the `Http` section of the configuration: hostwork.json, then hostwork.<Environment>.json, then
 * environment variables (HTTP__PORT=8080), then the command line (--Http:Port=8080).
 */
export const HttpOptions = defineOptions('Http', schema);
